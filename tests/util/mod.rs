//! Test support: fresh real databases for each test (a temporary SQLite file, or a new
//! PostgreSQL database created from `DATABASE_URL` and dropped afterwards), a manual clock,
//! and raw SQL access for tests that must reach below the store API (triggers, tampering).

use std::{str::FromStr, sync::Arc};

use aspflow::{
    clock::ManualClock,
    store::{AnyStore, ExpectedVersion, NewEvent, PgStore, SqliteStore, StreamId, Write},
};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::{ConnectOptions, Connection, postgres::PgConnectOptions};
use uuid::Uuid;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `DATABASE_URL` if PostgreSQL tests should run; `None` to skip them (never in CI). Without
/// `DATABASE_URL` at build time the tests are `#[ignore]`d already (build.rs, `aspflow_pg`);
/// this covers `--include-ignored` and a variable unset between build and run.
pub fn postgres_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but DATABASE_URL is not set: the PostgreSQL tests must run in CI")
        }
        _ => {
            eprintln!("skipping PostgreSQL test: DATABASE_URL is not set");
            None
        }
    }
}

/// A fresh PostgreSQL database, dropped when this guard is dropped (even after a panic).
pub struct PgDatabase {
    admin: PgConnectOptions,
    pub name: String,
    pub options: PgConnectOptions,
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> Self {
        let admin = PgConnectOptions::from_str(admin_url).expect("DATABASE_URL is a valid URL");
        let name = format!("aspflow_t_{}", Uuid::now_v7().simple());
        let mut conn = admin
            .connect()
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at DATABASE_URL: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let options = admin.clone().database(&name);
        PgDatabase {
            admin,
            name,
            options,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime we may block: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = admin.connect().await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Pg(#[allow(dead_code)] Box<PgDatabase>),
}

/// A store on a fresh database, with its clock and a way to run raw SQL.
pub struct TestStore {
    pub store: AnyStore,
    pub clock: Arc<ManualClock>,
    pub backend: Backend,
    _guard: Guard,
}

/// The time the test clock starts at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap()
}

impl TestStore {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("aspflow.db");
        let clock = Arc::new(ManualClock::new(t0()));
        let store = SqliteStore::open(&path, clock.clone())
            .await
            .expect("open sqlite");
        TestStore {
            store: AnyStore::Sqlite(store),
            clock,
            backend: Backend::Sqlite,
            _guard: Guard::Dir(dir),
        }
    }

    pub async fn postgres() -> Option<Self> {
        let url = postgres_url()?;
        let db = PgDatabase::create(&url).await;
        let clock = Arc::new(ManualClock::new(t0()));
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect_with(db.options.clone())
            .await
            .expect("connect to the test database");
        let store = PgStore::from_pool(pool, clock.clone())
            .await
            .expect("migrate postgres");
        Some(TestStore {
            store: AnyStore::Postgres(store),
            clock,
            backend: Backend::Postgres,
            _guard: Guard::Pg(Box::new(db)),
        })
    }

    /// Runs one raw statement; returns rows affected or the database's message.
    pub async fn exec(&self, sql: &str) -> Result<u64, String> {
        let q = || sqlx::AssertSqlSafe(sql.to_owned());
        let r = match &self.store {
            AnyStore::Sqlite(s) => sqlx::query(q())
                .execute(s.pool())
                .await
                .map(|r| r.rows_affected()),
            AnyStore::Postgres(s) => sqlx::query(q())
                .execute(s.pool())
                .await
                .map(|r| r.rows_affected()),
        };
        r.map_err(|e| e.to_string())
    }

    /// Runs `sql` with the append-only triggers disabled, as an attacker with database access
    /// would, then restores them.
    pub async fn tamper(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                // One connection for the whole sequence, so that every statement sees the
                // schema the previous one left.
                let AnyStore::Sqlite(st) = &self.store else {
                    unreachable!()
                };
                let mut conn = st.pool().acquire().await.expect("a connection");
                for sql in [
                    "DROP TRIGGER IF EXISTS events_no_update",
                    "DROP TRIGGER IF EXISTS events_no_delete",
                    sql,
                    "CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events BEGIN \
                     SELECT RAISE(ABORT, 'aspflow: events is append-only; UPDATE is not allowed'); END",
                    "CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events BEGIN \
                     SELECT RAISE(ABORT, 'aspflow: events is append-only; DELETE is not allowed'); END",
                ] {
                    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                        .execute(&mut *conn)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                }
            }
            Backend::Postgres => {
                self.exec("ALTER TABLE events DISABLE TRIGGER USER")
                    .await
                    .unwrap();
                self.exec(sql).await.expect("tampering statement");
                self.exec("ALTER TABLE events ENABLE TRIGGER USER")
                    .await
                    .unwrap();
            }
        }
    }

    /// The SQL literal of a stream id as stored by this backend.
    pub fn case_literal(&self, stream: StreamId) -> String {
        match self.backend {
            Backend::Sqlite => format!("'{stream}'"),
            Backend::Postgres => format!("'{stream}'::uuid"),
        }
    }
}

/// A new stream id.
pub fn new_stream() -> StreamId {
    StreamId(Uuid::now_v7())
}

/// A test event with a JSON payload naming `n`.
pub fn event(n: u64) -> NewEvent {
    NewEvent {
        event_type: "test.happened".into(),
        schema_version: 1,
        payload: format!(r#"{{"n": {n},  "note":"kept exactly"}}"#).into_bytes(),
        occurred_at: Utc.with_ymd_and_hms(2013, 7, 14, 10, 0, 0).unwrap()
            + chrono::Duration::seconds(n as i64),
        actor: "secretariat-1".into(),
        role: "secretariat".into(),
    }
}

/// A single-stream write of events `range`.
pub fn write(
    request_id: &str,
    stream: StreamId,
    expected: ExpectedVersion,
    range: std::ops::Range<u64>,
) -> Write {
    Write::single(request_id, stream, expected, range.map(event).collect())
}

/// One `#[tokio::test]` per backend for each named `async fn(TestStore)` of the calling module:
/// `on_sqlite::<name>` always, `on_postgres::<name>` with `DATABASE_URL` (reported as ignored
/// without it, and failing in CI).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let s = crate::util::TestStore::sqlite().await;
                    super::$name(s).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[cfg_attr(not(aspflow_pg), ignore = "PostgreSQL: set DATABASE_URL to run")]
                async fn $name() {
                    let Some(s) = crate::util::TestStore::postgres().await else { return };
                    super::$name(s).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;
