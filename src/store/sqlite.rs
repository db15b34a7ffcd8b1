//! The embedded SQLite backend: one file, WAL journal, `synchronous=FULL`.
//!
//! Writes take the database's write lock at `BEGIN IMMEDIATE`, which is the log lock of
//! [`super::append`]; readers are never blocked (WAL). Case ids are stored as lowercase
//! hyphenated text, times as [`super::canonical_time`] text (which sorts chronologically),
//! payloads and hashes as BLOBs. Schema: `migrations/sqlite`.
//!
//! A copy of the file is the whole log when no `-wal` file is beside it: [`SqliteStore::close`]
//! checkpoints the WAL into the file at shutdown, and [`SqliteStore::backup_to`] writes a
//! consistent single-file copy (`VACUUM INTO`) while the server runs.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, Utc};
use sqlx::{
    QueryBuilder, Row, Sqlite, SqlitePool, Transaction,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};
use uuid::Uuid;

use super::{
    AppendError, AppendReceipt, BackupError, CaseSummary, CheckpointQuery, DueCase, EventStore,
    OpenReadOnlyError, RecordedEvent, StoreError, StoredCheckpoint, StoredRequest, StreamId,
    SummaryFilter, SummaryUpdate, Write,
    append::{TxOps, append_batch_fast, append_in_tx},
    canonical_time,
    chain::Hash,
    parse_canonical_time,
};
use crate::clock::Clock;

/// The embedded migrations for SQLite.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The SQLite event store. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection appends run on. SQLite has one writer at a time anyway; keeping the
    /// writes on one connection keeps its page cache warm (a connection drops its whole cache
    /// when another connection has written since its last transaction).
    writer: SqlitePool,
    /// Reads of events (rusqlite, one thread hop per answer: `sqlite_reader`).
    reader: Arc<super::sqlite_reader::Reader>,
    clock: Arc<dyn Clock>,
    /// Opened by [`SqliteStore::open_read_only`]: [`SqliteStore::close`] then has nothing to
    /// checkpoint (and could not).
    read_only: bool,
}

/// How long the shutdown checkpoint waits for a writer or a reader still holding the WAL: it
/// must not hold up shutdown for the 30 s writers wait.
const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// The writer connection's page cache (`PRAGMA cache_size`, negative: KiB): 2,048 pages of
/// 4 KiB, beside the database file mapped into memory (`mmap_size`,
/// [`MMAP_BYTES`](super::sqlite_reader::MMAP_BYTES)). Pages read from the mapped file take
/// no room in the cache and no copy, so the indexes' pages stay at hand however large the log
/// grows; the cache holds the pages this connection wrote and those read from the WAL. It is
/// kept small because a commit can cost a walk over the whole cache: when a B-tree rebalance
/// swaps two pages' numbers it parks one at the lock-byte page's number (page 262,145, past
/// the end of any log under 1 GiB), and the commit then drops pages past the database's end
/// by visiting every page the cache holds. With 32 MiB and no mapping that walk took 1.4-2.9%
/// of a loaded server's CPU (perf, 64 clients) and executing a command at 100,000 cases took
/// 1.26-1.51 ms (p50, bench-open); with 8 MiB and the mapping, 0.6-1.0% and 1.24-1.25 ms.
const WRITER_CACHE_KIB: &str = "-8192";

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
        // Statement journals (a multi-row insert inside the batch's transaction keeps one, to
        // undo just that statement) go to memory rather than to a temporary file: they are
        // never needed after a crash. The file is mapped, beside a page cache of 8 MiB
        // ([`WRITER_CACHE_KIB`]).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                options
                    .pragma("temp_store", "memory")
                    .pragma("cache_size", WRITER_CACHE_KIB)
                    .pragma("mmap_size", super::sqlite_reader::MMAP_BYTES.to_string()),
            )
            .await?;
        Ok(SqliteStore {
            pool,
            writer,
            reader: super::sqlite_reader::Reader::new(path.to_owned()),
            clock,
            read_only: false,
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
    pub async fn open_read_only(
        path: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpenReadOnlyError> {
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
            writer: pool.clone(),
            pool,
            reader: super::sqlite_reader::Reader::new(path.to_owned()),
            clock,
            read_only: true,
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
        if !self.read_only {
            self.writer.close().await;
        }
        let checkpoint = if self.read_only {
            Ok(())
        } else {
            self.checkpoint().await
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

struct SqliteTx(Transaction<'static, Sqlite>);

fn u64_col(row: &SqliteRow, name: &str) -> Result<u64, StoreError> {
    let v: i64 = row.try_get(name)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{name} is negative: {v}")))
}

fn uuid_text(text: &str, what: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("{what} {text:?}: {e}")))
}

const UPSERT_SUMMARY: &str = concat!(
    summary_insert!(),
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ",
    summary_on_conflict!()
);

fn summary_from_row(row: &SqliteRow) -> Result<CaseSummary, StoreError> {
    Ok(CaseSummary {
        row: SummaryUpdate {
            stream: StreamId(uuid_text(&row.try_get::<String, _>("case_id")?, "case_id")?),
            reference: row.try_get("reference")?,
            procedure: row.try_get("procedure")?,
            state: row.try_get("state")?,
            closed: row.try_get::<i64, _>("closed")? != 0,
            requested_state: row.try_get("requested_state")?,
            requested_state_name: row.try_get("requested_state_name")?,
            region: row.try_get("region")?,
            person_sought: row.try_get("person_sought")?,
            next_deadline: row.try_get("next_deadline")?,
            fires_after: row.try_get("fires_after")?,
            duplicate_key: row.try_get("duplicate_key")?,
        },
        version: u64_col(row, "version")?,
        updated_at: parse_canonical_time(&row.try_get::<String, _>("updated_at")?)?,
    })
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Most rows in one multi-row statement (SQLite allows 32,766 bound values).
const ROWS_PER_STATEMENT: usize = 1_000;

impl SqliteTx {
    /// Runs `build` once per chunk of `items` (at most [`ROWS_PER_STATEMENT`] each).
    async fn chunked<T>(
        &mut self,
        items: &[T],
        mut build: impl FnMut(&[T]) -> QueryBuilder<Sqlite>,
    ) -> Result<Vec<SqliteRow>, sqlx::Error> {
        let mut rows = Vec::new();
        for chunk in items.chunks(ROWS_PER_STATEMENT) {
            let mut q = build(chunk);
            rows.extend(q.build().fetch_all(&mut *self.0).await?);
        }
        Ok(rows)
    }
}

impl TxOps for SqliteTx {
    async fn find_requests(
        &mut self,
        request_ids: &[&str],
    ) -> Result<Vec<(String, Vec<u8>, String)>, sqlx::Error> {
        let rows = self
            .chunked(request_ids, |ids| {
                let mut q = QueryBuilder::new(
                    "SELECT request_id, fingerprint, receipt FROM requests WHERE request_id IN (",
                );
                let mut list = q.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                q.push(")");
                q
            })
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    async fn stream_heads(
        &mut self,
        streams: &[StreamId],
    ) -> Result<Vec<(StreamId, u64, Vec<u8>)>, sqlx::Error> {
        // Each head is one probe of the (case_id, version) index from its end, whatever the
        // case's length (a GROUP BY with max() read every event of every case in the batch).
        let rows = self
            .chunked(streams, |streams| {
                let mut q = QueryBuilder::new(
                    "SELECT case_id, version, hash FROM events WHERE global_position IN \
                     (SELECT (SELECT e.global_position FROM events e WHERE e.case_id = v.column1 \
                     ORDER BY e.version DESC LIMIT 1) FROM (VALUES ",
                );
                let mut list = q.separated(", ");
                for s in streams {
                    list.push("(")
                        .push_bind_unseparated(s.to_string())
                        .push_unseparated(")");
                }
                q.push(") AS v)");
                q
            })
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                let version: i64 = r.try_get(1)?;
                let stream = Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                Ok((StreamId(stream), version.max(0) as u64, r.try_get(2)?))
            })
            .collect()
    }

    async fn insert_events(&mut self, events: &[RecordedEvent]) -> Result<(), sqlx::Error> {
        self.chunked(events, |events| {
            let mut q = QueryBuilder::new(concat!("INSERT INTO events (", event_columns!(), ") "));
            q.push_values(events, |mut b, e| {
                b.push_bind(i64_of(e.global_position))
                    .push_bind(e.stream.to_string())
                    .push_bind(i64_of(e.version))
                    .push_bind(e.event_type.clone())
                    .push_bind(i64::from(e.schema_version))
                    .push_bind(e.payload.clone())
                    .push_bind(canonical_time(e.occurred_at))
                    .push_bind(canonical_time(e.recorded_at))
                    .push_bind(e.actor.clone())
                    .push_bind(e.role.clone())
                    .push_bind(e.request_id.clone())
                    .push_bind(e.correlation_id.map(|c| c.hyphenated().to_string()))
                    .push_bind(e.prev_hash.0.to_vec())
                    .push_bind(e.hash.0.to_vec());
            });
            q
        })
        .await?;
        Ok(())
    }

    async fn upsert_summaries(
        &mut self,
        rows: &[(&SummaryUpdate, u64)],
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let at = canonical_time(recorded_at);
        self.chunked(rows, |rows| {
            let mut q = QueryBuilder::new(summary_insert!());
            q.push_values(rows, |mut b, (row, version)| {
                b.push_bind(row.stream.to_string())
                    .push_bind(row.reference.clone())
                    .push_bind(row.procedure.clone())
                    .push_bind(row.state.clone())
                    .push_bind(row.closed)
                    .push_bind(row.requested_state.clone())
                    .push_bind(row.requested_state_name.clone())
                    .push_bind(row.region.clone())
                    .push_bind(row.person_sought.clone())
                    .push_bind(row.next_deadline.clone())
                    .push_bind(row.fires_after.clone())
                    .push_bind(i64_of(*version))
                    .push_bind(at.clone())
                    .push_bind(row.duplicate_key.clone());
            });
            q.push(concat!(" ", summary_on_conflict!()));
            q
        })
        .await?;
        Ok(())
    }

    async fn insert_requests(
        &mut self,
        rows: &[(&str, Hash, String)],
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let at = canonical_time(recorded_at);
        self.chunked(rows, |rows| {
            let mut q = QueryBuilder::new(
                "INSERT INTO requests (request_id, fingerprint, receipt, recorded_at) ",
            );
            q.push_values(rows, |mut b, (id, fp, receipt)| {
                b.push_bind(id.to_string())
                    .push_bind(fp.0.to_vec())
                    .push_bind(receipt.clone())
                    .push_bind(at.clone());
            });
            q
        })
        .await?;
        Ok(())
    }

    async fn last_position(&mut self) -> Result<u64, sqlx::Error> {
        let v: i64 = sqlx::query_scalar("SELECT last_position FROM log_head WHERE id = 1")
            .fetch_one(&mut *self.0)
            .await?;
        Ok(v.max(0) as u64)
    }

    async fn set_last_position(&mut self, position: u64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE log_head SET last_position = $1 WHERE id = 1")
            .bind(i64_of(position))
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn savepoint(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(&mut *self.0).await?;
        Ok(())
    }

    async fn find_request(
        &mut self,
        request_id: &str,
    ) -> Result<Option<(Vec<u8>, String)>, sqlx::Error> {
        sqlx::query_as("SELECT fingerprint, receipt FROM requests WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(&mut *self.0)
            .await
    }

    async fn stream_head(
        &mut self,
        stream: StreamId,
    ) -> Result<Option<(u64, Vec<u8>)>, sqlx::Error> {
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, hash FROM events WHERE case_id = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(stream.to_string())
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(row.map(|(v, h)| (v.max(0) as u64, h)))
    }

    async fn insert_event(&mut self, e: &RecordedEvent) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO events (global_position, case_id, version, event_type, schema_version, \
             payload, occurred_at, recorded_at, actor, role, request_id, correlation_id, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(i64_of(e.global_position))
        .bind(e.stream.to_string())
        .bind(i64_of(e.version))
        .bind(&e.event_type)
        .bind(i64::from(e.schema_version))
        .bind(&e.payload)
        .bind(canonical_time(e.occurred_at))
        .bind(canonical_time(e.recorded_at))
        .bind(&e.actor)
        .bind(&e.role)
        .bind(&e.request_id)
        .bind(e.correlation_id.map(|c| c.hyphenated().to_string()))
        .bind(e.prev_hash.0.as_slice())
        .bind(e.hash.0.as_slice())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn reference_holder(
        &mut self,
        reference: &str,
        stream: StreamId,
    ) -> Result<Option<StreamId>, sqlx::Error> {
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT case_id FROM case_summaries WHERE reference = $1 AND case_id <> $2",
        )
        .bind(reference)
        .bind(stream.to_string())
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(holder.and_then(|h| Uuid::parse_str(&h).ok()).map(StreamId))
    }

    async fn next_reference_number(&mut self, prefix: &str) -> Result<u64, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO reference_counters (prefix, last_number) VALUES ($1, 1) \
             ON CONFLICT (prefix) DO UPDATE SET last_number = last_number + 1 \
             RETURNING last_number",
        )
        .bind(prefix)
        .fetch_one(&mut *self.0)
        .await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn key_holder(
        &mut self,
        key: &str,
        stream: StreamId,
    ) -> Result<Option<StreamId>, sqlx::Error> {
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT case_id FROM case_summaries WHERE duplicate_key = $1 AND case_id <> $2",
        )
        .bind(key)
        .bind(stream.to_string())
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(holder.and_then(|h| Uuid::parse_str(&h).ok()).map(StreamId))
    }

    async fn upsert_summary(
        &mut self,
        row: &SummaryUpdate,
        version: u64,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let stream = row.stream;
        sqlx::query(UPSERT_SUMMARY)
            .bind(stream.to_string())
            .bind(&row.reference)
            .bind(&row.procedure)
            .bind(&row.state)
            .bind(row.closed)
            .bind(&row.requested_state)
            .bind(&row.requested_state_name)
            .bind(&row.region)
            .bind(&row.person_sought)
            .bind(&row.next_deadline)
            .bind(&row.fires_after)
            .bind(i64_of(version))
            .bind(canonical_time(recorded_at))
            .bind(&row.duplicate_key)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn insert_request(
        &mut self,
        request_id: &str,
        fingerprint: &Hash,
        receipt_json: &str,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO requests (request_id, fingerprint, receipt, recorded_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(request_id)
        .bind(fingerprint.0.as_slice())
        .bind(receipt_json)
        .bind(canonical_time(recorded_at))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }
}

impl EventStore for SqliteStore {
    async fn append_batch(
        &self,
        writes: Vec<Write>,
    ) -> Result<Vec<Result<AppendReceipt, AppendError>>, StoreError> {
        // IMMEDIATE takes the write lock now: positions and stream heads are read under it.
        let mut tx = SqliteTx(self.writer.begin_with("BEGIN IMMEDIATE").await?);
        let results = match append_batch_fast(&mut tx, &writes, self.clock.as_ref()).await? {
            Some(results) => results,
            None => {
                tx.0.rollback().await?;
                tx = SqliteTx(self.writer.begin_with("BEGIN IMMEDIATE").await?);
                append_in_tx(&mut tx, &writes, self.clock.as_ref()).await?
            }
        };
        tx.0.commit().await?;
        Ok(results)
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
        let row: Option<(Vec<u8>, String)> =
            sqlx::query_as("SELECT fingerprint, receipt FROM requests WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&self.pool)
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
        let mut q = super::list_query(f, |q, id| {
            q.push_bind(id.to_string());
        });
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn summaries_of_procedure(
        &self,
        procedure: &str,
        limit: u32,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM case_summaries WHERE procedure = $1 ORDER BY case_id LIMIT $2",
        )
        .bind(procedure)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn find_by_reference(&self, reference: &str) -> Result<Option<StreamId>, StoreError> {
        let id: Option<String> =
            sqlx::query_scalar("SELECT case_id FROM case_summaries WHERE reference = $1")
                .bind(reference)
                .fetch_optional(&self.pool)
                .await?;
        id.map(|t| uuid_text(&t, "case_id").map(StreamId))
            .transpose()
    }

    async fn find_by_duplicate_key(&self, key: &str) -> Result<Option<StreamId>, StoreError> {
        let id: Option<String> =
            sqlx::query_scalar("SELECT case_id FROM case_summaries WHERE duplicate_key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        id.map(|t| uuid_text(&t, "case_id").map(StreamId))
            .transpose()
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
        let mut tx = SqliteTx(self.pool.begin().await?);
        sqlx::query("DELETE FROM case_summaries")
            .execute(&mut *tx.0)
            .await?;
        for r in &rows {
            tx.upsert_summary(&r.row, r.version, r.updated_at).await?;
        }
        tx.0.commit().await?;
        Ok(())
    }
}
