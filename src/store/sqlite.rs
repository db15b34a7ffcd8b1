//! The embedded SQLite backend: one file, WAL journal, `synchronous=FULL`.
//!
//! Appends run on the writer's thread (`sqlite_writer.rs`) and take the database's write lock
//! at `BEGIN IMMEDIATE`, which is the log lock of [`super::append`]; readers are never blocked
//! (WAL). Case ids are stored as lowercase hyphenated text, times as
//! [`super::canonical_time`] text (which sorts chronologically), payloads and hashes as BLOBs.
//! Schema: `migrations/sqlite`.
//!
//! A copy of the file is the whole log when no `-wal` file is beside it: [`SqliteStore::close`]
//! checkpoints the WAL into the file at shutdown, and [`SqliteStore::backup_to`] writes a
//! consistent single-file copy (`VACUUM INTO`) while the server runs.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use sqlx::{
    Row, SqlitePool,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};
use uuid::Uuid;

use super::{
    AppendError, AppendReceipt, BackupError, CaseSummary, CheckpointQuery, DueCase, EventStore,
    OpenReadOnlyError, RecordedEvent, StoreError, StoredCheckpoint, StoredRequest, StreamId,
    SummaryFilter, SummaryUpdate, Write, parse_canonical_time, sqlite_writer::Writer,
};
use crate::clock::Clock;

/// The embedded migrations for SQLite.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The SQLite event store. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection appends run on, on its own thread (`sqlite_writer`). SQLite has one
    /// writer at a time anyway; keeping the writes on one connection keeps its page cache warm
    /// (a connection drops its whole cache when another connection has written since its last
    /// transaction). `None` when opened read-only.
    writer: Option<Arc<Writer>>,
    /// Reads of events (rusqlite, one thread hop per answer: `sqlite_reader`).
    reader: Arc<super::sqlite_reader::Reader>,
}

/// How long the shutdown checkpoint waits for a writer or a reader still holding the WAL: it
/// must not hold up shutdown for the 30 s writers wait.
const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

impl SqliteStore {
    /// Opens (creating if missing) the database file and applies the migrations.
    ///
    /// # Errors
    /// [`StoreError`] if the file cannot be opened or migrated.
    pub async fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Writers queue on the write lock; group commit keeps the queue short.
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore {
            pool,
            writer: Some(Arc::new(Writer::start(path, clock).await?)),
            reader: super::sqlite_reader::Reader::new(path.to_owned()),
        })
    }

    /// Opens an existing database file for reading only: `SQLITE_OPEN_READONLY`, never created,
    /// never migrated. The journal mode is left as it is (setting it would write), and sqlx's
    /// other defaults only set per-connection pragmas (`foreign_keys`), which write nothing.
    ///
    /// # Errors
    /// [`OpenReadOnlyError::NoFile`] if the file does not exist, [`OpenReadOnlyError::NoSchema`]
    /// if it has no `events` table, [`OpenReadOnlyError::OutdatedSchema`] if it needs
    /// `aspflow migrate`, [`OpenReadOnlyError::Store`] if it cannot be read (e.g. not SQLite).
    pub async fn open_read_only(path: &Path) -> Result<Self, OpenReadOnlyError> {
        // `create_if_missing(false)` alone would already refuse to create it; checking first
        // gives the operator "no database file" rather than SQLite's "unable to open".
        if let Err(e) = std::fs::metadata(path)
            && e.kind() == std::io::ErrorKind::NotFound
        {
            return Err(OpenReadOnlyError::NoFile(path.to_owned()));
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name IN ('events', '_sqlx_migrations')",
        )
        .fetch_all(&pool)
        .await?;
        if !tables.iter().any(|t| t == "events") {
            pool.close().await;
            return Err(OpenReadOnlyError::NoSchema);
        }
        let applied: i64 = if tables.iter().any(|t| t == "_sqlx_migrations") {
            sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
            )
            .fetch_one(&pool)
            .await?
        } else {
            0
        };
        if let Err(e) = super::check_schema_version(applied, &MIGRATOR) {
            pool.close().await;
            return Err(e);
        }
        Ok(SqliteStore {
            pool,
            writer: None,
            reader: super::sqlite_reader::Reader::new(path.to_owned()),
        })
    }

    /// Checkpoints the WAL into the main file and truncates it (`wal_checkpoint(TRUNCATE)`),
    /// then closes the pool: afterwards the database file alone holds the whole log. The
    /// checkpoint waits at most 2 s for another connection to let go of the WAL; closing
    /// the pool waits for connections in use to come back, so callers bound it with a timeout.
    ///
    /// # Errors
    /// [`StoreError`] if the checkpoint failed or could not finish because a connection still
    /// held the WAL; the pool is closed all the same and nothing is lost (the `-wal` file still
    /// holds what the main file does not).
    pub async fn close(&self) -> Result<(), StoreError> {
        // The event readers' idle connections go first: the last connection to close removes
        // the WAL file.
        self.reader.close_idle();
        let checkpoint = match &self.writer {
            Some(writer) => {
                writer.close().await;
                self.checkpoint().await
            }
            None => Ok(()),
        };
        self.pool.close().await;
        checkpoint
    }

    async fn checkpoint(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        // This connection is closed right after: its shorter busy timeout does not leak.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {}",
            CHECKPOINT_BUSY_TIMEOUT.as_millis()
        )))
        .execute(&mut *conn)
        .await?;
        // (busy, frames in the WAL, frames checkpointed); busy = 1: not everything was copied.
        let (busy, log, done): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut *conn)
            .await?;
        if busy != 0 {
            return Err(StoreError::Unavailable(format!(
                "WAL checkpoint incomplete ({done} of {log} frames): a connection still holds \
                 the WAL; the -wal file must stay with the database"
            )));
        }
        Ok(())
    }

    /// Writes a consistent copy of the whole database to `target`, a new file, with
    /// `VACUUM INTO` (safe while the server writes: the copy is one read transaction's
    /// snapshot, WAL content included), then syncs it to disk. Never overwrites a file.
    ///
    /// # Errors
    /// [`BackupError::TargetExists`] if `target` exists, [`BackupError::Io`] if its folder
    /// cannot be resolved or the copy cannot be synced, [`BackupError::Store`] if the copy fails.
    pub async fn backup_to(&self, target: &Path) -> Result<PathBuf, BackupError> {
        let target = absolute_new_file(target)?;
        // The file name is bound as a parameter, not spliced into the SQL: `VACUUM INTO` takes
        // any expression, so no quoting is needed for names with quotes. The name is absolute
        // so that it is never read as a `file:` URI (connections are opened with SQLITE_OPEN_URI).
        let name = target.to_str().ok_or_else(|| BackupError::Io {
            path: target.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the backup file name must be valid UTF-8",
            ),
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        std::fs::File::open(&target)
            .and_then(|f| f.sync_all())
            .map_err(BackupError::io(&target))?;
        if let Some(dir) = target.parent() {
            // The new directory entry must survive a crash too.
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(BackupError::io(dir))?;
        }
        Ok(target)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.reader.path()
    }

    fn writer(&self) -> Result<&Writer, StoreError> {
        self.writer
            .as_deref()
            .ok_or_else(|| StoreError::Unavailable("the SQLite database is open read-only".into()))
    }

    /// The connection pool (for the read model and for tests that must reach below the API).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// `target` made absolute (relative to the working directory), checked not to exist yet.
fn absolute_new_file(target: &Path) -> Result<PathBuf, BackupError> {
    let target = std::path::absolute(target).map_err(BackupError::io(target))?;
    match std::fs::symlink_metadata(&target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(target),
        Err(e) => Err(BackupError::io(&target)(e)),
        Ok(_) => Err(BackupError::TargetExists(target)),
    }
}

fn u64_col(row: &SqliteRow, name: &str) -> Result<u64, StoreError> {
    let v: i64 = row.try_get(name)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{name} is negative: {v}")))
}

fn uuid_text(text: &str, what: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("{what} {text:?}: {e}")))
}

/// A read-model row (`SELECT *` of `case_summaries`), its columns read by name.
fn summary_from_row(row: &rusqlite::Row<'_>) -> Result<CaseSummary, StoreError> {
    let version: i64 = row.get("version")?;
    Ok(CaseSummary {
        row: SummaryUpdate {
            stream: StreamId(uuid_text(&row.get::<_, String>("case_id")?, "case_id")?),
            reference: row.get("reference")?,
            procedure: row.get("procedure")?,
            state: row.get("state")?,
            closed: row.get::<_, i64>("closed")? != 0,
            requested_state: row.get("requested_state")?,
            requested_state_name: row.get("requested_state_name")?,
            region: row.get("region")?,
            person_sought: row.get("person_sought")?,
            next_deadline: row.get("next_deadline")?,
            fires_after: row.get("fires_after")?,
            duplicate_key: row.get("duplicate_key")?,
        },
        version: u64::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("version is negative: {version}")))?,
        updated_at: parse_canonical_time(&row.get::<_, String>("updated_at")?)?,
    })
}

/// The list query as SQL text with numbered parameters (`?1`, `?2`, ...) and their values,
/// for the store's read-only connections.
#[derive(Default)]
struct ListQuery {
    sql: String,
    params: Vec<rusqlite::types::Value>,
}

impl ListQuery {
    fn bind(&mut self, value: rusqlite::types::Value) {
        self.params.push(value);
        self.sql.push('?');
        self.sql.push_str(&self.params.len().to_string());
    }
}

impl super::QuerySink for ListQuery {
    const SQLITE: bool = true;

    fn sql(&mut self, text: &str) {
        self.sql.push_str(text);
    }

    fn text(&mut self, value: String) {
        self.bind(rusqlite::types::Value::Text(value));
    }

    fn flag(&mut self, value: bool) {
        self.bind(rusqlite::types::Value::Integer(i64::from(value)));
    }

    fn case_id(&mut self, id: StreamId) {
        self.bind(rusqlite::types::Value::Text(id.to_string()));
    }
}

impl SqliteStore {
    /// The case `sql` (which selects one `case_id` by a unique column, `?1`) finds, if any.
    async fn case_where(
        &self,
        sql: &'static str,
        value: &str,
    ) -> Result<Option<StreamId>, StoreError> {
        let id = self
            .reader
            .one_row(sql, value.to_owned(), |r| r.get::<_, String>(0))
            .await?;
        id.map(|t| uuid_text(&t, "case_id").map(StreamId))
            .transpose()
    }
}

pub(super) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl EventStore for SqliteStore {
    async fn append_batch(
        &self,
        writes: Vec<Write>,
    ) -> Result<Vec<Result<AppendReceipt, AppendError>>, StoreError> {
        self.writer()?.append_batch(writes).await
    }

    async fn read_stream(
        &self,
        stream: StreamId,
        from_version: u64,
        limit: Option<u32>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        use rusqlite::types::Value;
        self.reader
            .events(
                concat!(
                    "SELECT ",
                    event_columns!(),
                    " FROM events WHERE case_id = ?1 AND version >= ?2 ORDER BY version LIMIT ?3"
                ),
                vec![
                    Value::Text(stream.to_string()),
                    Value::Integer(i64_of(from_version)),
                    Value::Integer(limit.map_or(i64::MAX, i64::from)),
                ],
                limit.map_or(64, |l| l as usize),
            )
            .await
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        use rusqlite::types::Value;
        self.reader
            .events(
                concat!(
                    "SELECT ",
                    event_columns!(),
                    " FROM events WHERE global_position >= ?1 ORDER BY global_position LIMIT ?2"
                ),
                vec![
                    Value::Integer(i64_of(from_position)),
                    Value::Integer(i64::from(limit)),
                ],
                limit as usize,
            )
            .await
    }

    async fn stream_version(&self, stream: StreamId) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM events WHERE case_id = $1")
                .bind(stream.to_string())
                .fetch_one(&self.pool)
                .await?;
        Ok(v.map(|v| v.max(0) as u64))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(global_position) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0).max(0) as u64)
    }

    async fn lookup_request(&self, request_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let row = self
            .reader
            .one_row(
                "SELECT fingerprint, receipt FROM requests WHERE request_id = ?1",
                request_id.to_owned(),
                |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?)),
            )
            .await?;
        row.map(|(fp, json)| super::stored_request(request_id, &fp, &json))
            .transpose()
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn range_reader(&self) -> Option<Arc<dyn super::RangeReader>> {
        Some(self.reader.clone())
    }

    async fn list_summaries(&self, f: &SummaryFilter) -> Result<Vec<CaseSummary>, StoreError> {
        let mut q = ListQuery::default();
        super::list_query(f, &mut q);
        self.reader.rows(q.sql, q.params, summary_from_row).await
    }

    async fn summaries_of_procedure(
        &self,
        procedure: &str,
        limit: u32,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        use rusqlite::types::Value;
        self.reader
            .rows(
                "SELECT * FROM case_summaries WHERE procedure = ?1 ORDER BY case_id LIMIT ?2"
                    .into(),
                vec![
                    Value::Text(procedure.to_owned()),
                    Value::Integer(i64::from(limit.max(1))),
                ],
                summary_from_row,
            )
            .await
    }

    async fn find_by_reference(&self, reference: &str) -> Result<Option<StreamId>, StoreError> {
        self.case_where(
            "SELECT case_id FROM case_summaries WHERE reference = ?1",
            reference,
        )
        .await
    }

    async fn find_by_duplicate_key(&self, key: &str) -> Result<Option<StreamId>, StoreError> {
        self.case_where(
            "SELECT case_id FROM case_summaries WHERE duplicate_key = ?1",
            key,
        )
        .await
    }

    async fn store_checkpoint(&self, c: &StoredCheckpoint) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO checkpoints (period, public_key, head_position, created_at, checkpoint_json) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (period) DO NOTHING",
        )
        .bind(&c.period)
        .bind(&c.public_key)
        .bind(i64_of(c.head_position))
        .bind(&c.created_at)
        .bind(&c.checkpoint_json)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn stored_checkpoints(
        &self,
        q: &CheckpointQuery,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows: Vec<(i64, String, String, i64, String, String)> = sqlx::query_as(
            "SELECT id, period, public_key, head_position, created_at, checkpoint_json \
             FROM checkpoints \
             WHERE ($1 IS NULL OR public_key = $1) AND ($2 IS NULL OR period = $2) \
               AND ($3 IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(q.public_key.as_deref())
        .bind(q.period.as_deref())
        .bind(q.before_id.map(i64_of))
        .bind(i64::from(q.limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, period, public_key, head, created_at, checkpoint_json)| StoredCheckpoint {
                    id: id.max(0).unsigned_abs(),
                    period,
                    public_key,
                    head_position: head.max(0).unsigned_abs(),
                    created_at,
                    checkpoint_json,
                },
            )
            .collect())
    }

    async fn due_deadlines(
        &self,
        today: &str,
        after: Option<&DueCase>,
        limit: u32,
    ) -> Result<Vec<DueCase>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, fires_after, version FROM case_summaries \
             WHERE fires_after IS NOT NULL AND fires_after < $1 \
             AND ($2 IS NULL OR fires_after > $2 OR (fires_after = $2 AND case_id > $3)) \
             ORDER BY fires_after, case_id LIMIT $4",
        )
        .bind(today)
        .bind(after.map(|a| a.fires_after.clone()))
        .bind(after.map(|a| a.stream.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueCase {
                    stream: StreamId(uuid_text(&r.try_get::<String, _>("case_id")?, "case_id")?),
                    fires_after: r.try_get("fires_after")?,
                    version: u64_col(r, "version")?,
                })
            })
            .collect()
    }

    async fn replace_summaries(&self, rows: Vec<CaseSummary>) -> Result<(), StoreError> {
        self.writer()?.replace_summaries(rows).await
    }
}
