//! The SQLite writer: one thread that owns the one connection every append runs on
//! (rusqlite), and runs each batch's whole transaction there.
//!
//! Through sqlx's driver a batch crossed threads at every statement: the async side sent each
//! statement to the connection's worker thread and waited to be woken with its answer, about
//! ten times a batch (begin, two look-ups, the last position, three inserts, the new last
//! position, commit). Under load the waiting side sat in the async runtime's queue behind the
//! gRPC work between statements: a batch took 6.6 ms on average at 64 clients, most of it
//! waiting, and the next batch could not start before it ended. Here the batch crosses once
//! each way: [`Writer::append_batch`] hands the writes to the thread, which runs
//! [`append_batch_fast`] (and, when the database refuses it, [`append_in_tx`]) to the commit
//! without yielding, and answers. Each look-up and insert is a single-row statement prepared
//! once and kept ([`Connection::prepare_cached`]): with no crossing per statement, a batch of
//! single-row statements costs no more than multi-row ones, and each is parsed once for the
//! life of the connection, where a multi-row statement was parsed again for each batch size.
//!
//! Both drivers link the one bundled SQLite (`libsqlite3-sys`, which `cargo tree -d` shows
//! once). The schema is migrated through sqlx before the thread opens its connection.

use std::{
    future::Future,
    path::Path,
    sync::{Mutex, mpsc},
    task::{Context, Poll, Waker},
    thread::JoinHandle,
    time::Duration,
};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{
    AppendError, AppendReceipt, CaseSummary, RecordedEvent, StoreError, StreamId, SummaryUpdate,
    Write,
    append::{BatchReads, BatchRows, TxOps, append_batch_fast, append_in_tx},
    canonical_time,
    chain::Hash,
    sqlite::i64_of,
};
use crate::clock::Clock;

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
const WRITER_CACHE_KIB: i64 = -8192;

/// How long a write waits for the write lock another connection holds (a backup's or a
/// checkpoint's) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Statements kept prepared: the fifteen the appends use, with room to spare.
const KEPT_STATEMENTS: usize = 32;

type Batch = Result<Vec<Result<AppendReceipt, AppendError>>, StoreError>;

enum Job {
    Append(Vec<Write>, oneshot::Sender<Batch>),
    ReplaceSummaries(Vec<CaseSummary>, oneshot::Sender<Result<(), StoreError>>),
}

/// The handle on the writer thread; appends on a closed writer fail with
/// [`StoreError::Unavailable`].
pub(super) struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("SQLite writer: {e}"))
}

fn closed() -> StoreError {
    StoreError::Unavailable("the SQLite writer is closed".into())
}

impl Writer {
    /// Opens the writer connection to `path` (which exists and is migrated) on a new thread.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the connection cannot be opened or set up.
    pub(super) async fn start(
        path: &Path,
        clock: std::sync::Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready, opened) = oneshot::channel();
        let path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || match open(&path) {
                Ok(mut conn) => {
                    let _ = ready.send(Ok(()));
                    run(&mut conn, &inbox, clock.as_ref());
                }
                Err(e) => {
                    let _ = ready.send(Err(failed(format!("opening {}: {e}", path.display()))));
                }
            })
            .map_err(failed)?;
        opened.await.map_err(|_| closed())??;
        Ok(Writer {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.as_ref()
            .ok_or_else(closed)?
            .send(job)
            .map_err(|_| closed())
    }

    /// Appends `writes` in one transaction on the writer thread (see the module's
    /// documentation).
    pub(super) async fn append_batch(&self, writes: Vec<Write>) -> Batch {
        let (answer, answered) = oneshot::channel();
        self.send(Job::Append(writes, answer))?;
        answered.await.map_err(|_| closed())?
    }

    /// Replaces the whole read model with `rows` in one transaction.
    pub(super) async fn replace_summaries(&self, rows: Vec<CaseSummary>) -> Result<(), StoreError> {
        let (answer, answered) = oneshot::channel();
        self.send(Job::ReplaceSummaries(rows, answer))?;
        answered.await.map_err(|_| closed())?
    }

    /// Lets the thread finish the jobs it holds, then closes its connection and waits for it.
    pub(super) async fn close(&self) {
        drop(self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// A connection to `path` set up as the writer's (also the raw baseline's of `aspflow bench`).
///
/// # Errors
/// What SQLite said, if it cannot be opened or is not in WAL mode.
pub(crate) fn open(path: &Path) -> Result<Connection, String> {
    open_connection(path)
        .map_err(|e| e.to_string())
        .and_then(|(conn, mode)| {
            if mode.eq_ignore_ascii_case("wal") {
                Ok(conn)
            } else {
                Err(format!(
                    "the database stays in journal mode {mode:?}, not WAL"
                ))
            }
        })
}

/// The connection, and the journal mode it is in.
fn open_connection(path: &Path) -> rusqlite::Result<(Connection, String)> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The journal mode is stored in the file (set when the pool opened it); the rest is the
    // connection's own: every commit synced, the statement journals (a statement that may
    // have to be undone alone inside the batch's transaction keeps one) in memory since they
    // are never needed after a crash, and the page cache and mapping above.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "mmap_size", super::sqlite_reader::MMAP_BYTES)?;
    conn.set_prepared_statement_cache_capacity(KEPT_STATEMENTS);
    Ok((conn, mode))
}

/// The thread's loop: one job at a time until every handle is gone.
fn run(conn: &mut Connection, inbox: &mpsc::Receiver<Job>, clock: &dyn Clock) {
    while let Ok(job) = inbox.recv() {
        match job {
            Job::Append(writes, answer) => {
                let done = in_transaction(conn, |c| append(&mut WriterTx(c), &writes, clock));
                let _ = answer.send(done);
            }
            Job::ReplaceSummaries(rows, answer) => {
                let _ = answer.send(in_transaction(conn, |c| replace(&WriterTx(c), &rows)));
            }
        }
    }
}

/// `f` inside `BEGIN IMMEDIATE` (the write lock, which is the log lock) and `COMMIT`; rolled
/// back if `f` or the commit fails. Also the raw baseline's transaction (`aspflow bench`).
pub(crate) fn in_transaction<R, E: From<rusqlite::Error>>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> Result<R, E>,
) -> Result<R, E> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = f(conn);
    let result = result.and_then(|r| {
        conn.execute_batch("COMMIT")?;
        Ok(r)
    });
    if result.is_err() && !conn.is_autocommit() {
        // A failed rollback leaves nothing to undo that the next BEGIN would not refuse.
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

fn append(tx: &mut WriterTx<'_>, writes: &[Write], clock: &dyn Clock) -> Batch {
    if let Some(results) = now(append_batch_fast(tx, writes, clock))?? {
        return Ok(results);
    }
    // The database refused a batch statement (a unique index): start again, each write in its
    // own savepoint.
    tx.0.execute_batch("ROLLBACK; BEGIN IMMEDIATE")?;
    now(append_in_tx(tx, writes, clock))?
}

fn replace(tx: &WriterTx<'_>, rows: &[CaseSummary]) -> Result<(), StoreError> {
    tx.0.execute_batch("DELETE FROM case_summaries")?;
    // Every row is new: no stored row to compare with.
    for r in rows {
        tx.insert_summary(&r.row, r.version, r.updated_at)?;
    }
    Ok(())
}

/// The output of `f`, which never waits: the [`TxOps`] of [`WriterTx`] answer at once, so the
/// append algorithm, written once for both backends as `async`, runs to its end in one poll.
fn now<F: Future>(f: F) -> Result<F::Output, StoreError> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => Err(failed("an append waited on something other than SQLite")),
    }
}

/// A rusqlite error as the `sqlx::Error` the append algorithm reads: a refusal by the
/// database (a constraint, a lock, I/O) is `sqlx::Error::Database`, with its kind, so that a
/// unique index's refusal reads as one whichever driver met it.
fn to_sqlx(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => sqlx::Error::Database(Box::new(Refusal {
            message: message.unwrap_or_else(|| code.to_string()),
            code,
        })),
        other => sqlx::Error::Decode(Box::new(other)),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(to_sqlx(e))
    }
}

/// An error SQLite returned, as sqlx's drivers describe one.
#[derive(Debug)]
struct Refusal {
    code: rusqlite::ffi::Error,
    message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

impl sqlx::error::DatabaseError for Refusal {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.code.extended_code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.code.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

const UPSERT_SUMMARY: &str = concat!(
    summary_insert!(),
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ",
    summary_on_conflict!()
);

/// The read-model columns an index holds, in the order of [`indexed_values`].
const INDEXED: [&str; 8] = [
    "reference",
    "procedure",
    "state",
    "requested_state",
    "region",
    "next_deadline",
    "fires_after",
    "duplicate_key",
];

/// `row`'s values of the [`INDEXED`] columns, in that order.
fn indexed_values(row: &SummaryUpdate) -> [Option<&str>; 8] {
    [
        Some(&row.reference),
        Some(&row.procedure),
        Some(&row.state),
        Some(&row.requested_state),
        Some(&row.region),
        row.next_deadline.as_deref(),
        row.fires_after.as_deref(),
        row.duplicate_key.as_deref(),
    ]
}

/// A stored read-model row's [`INDEXED`] columns.
static SELECT_INDEXED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {} FROM case_summaries WHERE case_id = ?1",
        INDEXED.join(", ")
    )
});

const INSERT_EVENT: &str = concat!(
    "INSERT INTO events (",
    event_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
);

const INSERT_REQUEST: &str =
    "INSERT INTO requests (request_id, fingerprint, receipt, recorded_at) VALUES (?1, ?2, ?3, ?4)";

const FIND_REQUEST: &str = "SELECT fingerprint, receipt FROM requests WHERE request_id = ?1";

/// One probe of the (case_id, version) index from its end, whatever the case's length.
const STREAM_HEAD: &str =
    "SELECT version, hash FROM events WHERE case_id = ?1 ORDER BY version DESC LIMIT 1";

/// The writer's connection inside a write transaction, for [`TxOps`].
struct WriterTx<'c>(&'c mut Connection);

impl WriterTx<'_> {
    fn request(&self, request_id: &str) -> rusqlite::Result<Option<(Vec<u8>, String)>> {
        self.0
            .prepare_cached(FIND_REQUEST)?
            .query_row([request_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    }

    fn head(&self, stream: StreamId) -> rusqlite::Result<Option<(u64, Vec<u8>)>> {
        self.0
            .prepare_cached(STREAM_HEAD)?
            .query_row([stream.to_string()], |r| {
                Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?))
            })
            .optional()
    }

    fn event(&self, e: &RecordedEvent) -> rusqlite::Result<()> {
        self.0.prepare_cached(INSERT_EVENT)?.execute(params![
            i64_of(e.global_position),
            e.stream.to_string(),
            i64_of(e.version),
            e.event_type,
            i64::from(e.schema_version),
            e.payload,
            canonical_time(e.occurred_at),
            canonical_time(e.recorded_at),
            e.actor,
            e.role,
            e.request_id,
            e.correlation_id.map(|c| c.hyphenated().to_string()),
            e.prev_hash.0.as_slice(),
            e.hash.0.as_slice(),
        ])?;
        Ok(())
    }

    /// Writes a case's read-model row. A new case's row is inserted. An existing row is
    /// updated in place, and an indexed column is set only when its value changed: SQLite
    /// rewrites an index's entry for every column an `UPDATE` sets, changed or not, and the
    /// row has eight indexed columns (the list filters and orders, the unique reference and
    /// duplicate key, the scheduler's), each entry on a page of its own. Most acts change none
    /// of them (see docs/architecture.md).
    fn summary(
        &self,
        row: &SummaryUpdate,
        version: u64,
        recorded_at: DateTime<Utc>,
    ) -> rusqlite::Result<()> {
        let case_id = row.stream.to_string();
        let stored = self
            .0
            .prepare_cached(&SELECT_INDEXED)?
            .query_row([&case_id], |r| {
                let mut stored: [Option<String>; 8] = Default::default();
                for (i, value) in stored.iter_mut().enumerate() {
                    *value = r.get(i)?;
                }
                Ok(stored)
            })
            .optional()?;
        let Some(stored) = stored else {
            return self.insert_summary(row, version, recorded_at);
        };
        let version = i64_of(version);
        let updated_at = canonical_time(recorded_at);
        // The columns no index holds are always set; they cost only the row's own page.
        let mut sql = String::from(
            "UPDATE case_summaries SET closed = ?2, requested_state_name = ?3, \
             person_sought = ?4, version = ?5, updated_at = ?6",
        );
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![
            &case_id,
            &row.closed,
            &row.requested_state_name,
            &row.person_sought,
            &version,
            &updated_at,
        ];
        let new = indexed_values(row);
        for ((column, value), old) in INDEXED.iter().zip(&new).zip(&stored) {
            if *value != old.as_deref() {
                values.push(value);
                sql.push_str(&format!(", {column} = ?{}", values.len()));
            }
        }
        sql.push_str(" WHERE case_id = ?1");
        self.0
            .prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(values))?;
        Ok(())
    }

    /// Writes a case's read-model row whole (inserted, or replacing a row of the same case).
    fn insert_summary(
        &self,
        row: &SummaryUpdate,
        version: u64,
        recorded_at: DateTime<Utc>,
    ) -> rusqlite::Result<()> {
        self.0.prepare_cached(UPSERT_SUMMARY)?.execute(params![
            row.stream.to_string(),
            row.reference,
            row.procedure,
            row.state,
            row.closed,
            row.requested_state,
            row.requested_state_name,
            row.region,
            row.person_sought,
            row.next_deadline,
            row.fires_after,
            i64_of(version),
            canonical_time(recorded_at),
            row.duplicate_key,
        ])?;
        Ok(())
    }

    fn request_row(
        &self,
        request_id: &str,
        fingerprint: &Hash,
        receipt_json: &str,
        at: &str,
    ) -> rusqlite::Result<()> {
        self.0.prepare_cached(INSERT_REQUEST)?.execute(params![
            request_id,
            fingerprint.0.as_slice(),
            receipt_json,
            at
        ])?;
        Ok(())
    }

    fn holder(
        &self,
        sql: &str,
        value: &str,
        stream: StreamId,
    ) -> rusqlite::Result<Option<StreamId>> {
        let holder: Option<String> = self
            .0
            .prepare_cached(sql)?
            .query_row(params![value, stream.to_string()], |r| r.get(0))
            .optional()?;
        Ok(holder.and_then(|h| Uuid::parse_str(&h).ok()).map(StreamId))
    }
}

impl TxOps for WriterTx<'_> {
    async fn last_position(&mut self) -> Result<u64, sqlx::Error> {
        let v: i64 = self
            .0
            .prepare_cached("SELECT last_position FROM log_head WHERE id = 1")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(to_sqlx)?;
        Ok(v.max(0) as u64)
    }

    async fn set_last_position(&mut self, position: u64) -> Result<(), sqlx::Error> {
        self.0
            .prepare_cached("UPDATE log_head SET last_position = ?1 WHERE id = 1")
            .and_then(|mut s| s.execute([i64_of(position)]))
            .map_err(to_sqlx)?;
        Ok(())
    }

    async fn savepoint(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        self.0.execute_batch(sql).map_err(to_sqlx)
    }

    async fn find_request(
        &mut self,
        request_id: &str,
    ) -> Result<Option<(Vec<u8>, String)>, sqlx::Error> {
        self.request(request_id).map_err(to_sqlx)
    }

    async fn stream_head(
        &mut self,
        stream: StreamId,
    ) -> Result<Option<(u64, Vec<u8>)>, sqlx::Error> {
        self.head(stream).map_err(to_sqlx)
    }

    async fn insert_event(&mut self, event: &RecordedEvent) -> Result<(), sqlx::Error> {
        self.event(event).map_err(to_sqlx)
    }

    async fn reference_holder(
        &mut self,
        reference: &str,
        stream: StreamId,
    ) -> Result<Option<StreamId>, sqlx::Error> {
        self.holder(
            "SELECT case_id FROM case_summaries WHERE reference = ?1 AND case_id <> ?2",
            reference,
            stream,
        )
        .map_err(to_sqlx)
    }

    async fn next_reference_number(&mut self, prefix: &str) -> Result<u64, sqlx::Error> {
        let n: i64 = self
            .0
            .prepare_cached(
                "INSERT INTO reference_counters (prefix, last_number) VALUES (?1, 1) \
                 ON CONFLICT (prefix) DO UPDATE SET last_number = last_number + 1 \
                 RETURNING last_number",
            )
            .and_then(|mut s| s.query_row([prefix], |r| r.get(0)))
            .map_err(to_sqlx)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn key_holder(
        &mut self,
        key: &str,
        stream: StreamId,
    ) -> Result<Option<StreamId>, sqlx::Error> {
        self.holder(
            "SELECT case_id FROM case_summaries WHERE duplicate_key = ?1 AND case_id <> ?2",
            key,
            stream,
        )
        .map_err(to_sqlx)
    }

    async fn upsert_summary(
        &mut self,
        row: &SummaryUpdate,
        version: u64,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        self.summary(row, version, recorded_at).map_err(to_sqlx)
    }

    async fn insert_request(
        &mut self,
        request_id: &str,
        fingerprint: &Hash,
        receipt_json: &str,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        self.request_row(
            request_id,
            fingerprint,
            receipt_json,
            &canonical_time(recorded_at),
        )
        .map_err(to_sqlx)
    }

    // The batch statements: one prepared single-row statement per row. Nothing crosses a
    // thread between them, so rows cost what SQLite's step costs (module documentation).

    async fn batch_reads(
        &mut self,
        request_ids: &[&str],
        streams: &[StreamId],
    ) -> Result<BatchReads, sqlx::Error> {
        let last_position = self.last_position().await?;
        let mut requests = Vec::new();
        for id in request_ids {
            if let Some((fp, receipt)) = self.request(id).map_err(to_sqlx)? {
                requests.push(((*id).to_owned(), fp, receipt));
            }
        }
        let mut heads = Vec::with_capacity(streams.len());
        for s in streams {
            if let Some((version, hash)) = self.head(*s).map_err(to_sqlx)? {
                heads.push((*s, version, hash));
            }
        }
        Ok(BatchReads {
            last_position,
            requests,
            heads,
        })
    }

    async fn batch_writes(&mut self, rows: &BatchRows<'_>) -> Result<(), sqlx::Error> {
        for e in &rows.events {
            self.event(e).map_err(to_sqlx)?;
        }
        for (row, version) in &rows.summaries {
            self.summary(row, *version, rows.recorded_at)
                .map_err(to_sqlx)?;
        }
        let at = canonical_time(rows.recorded_at);
        for (id, fingerprint, receipt) in &rows.requests {
            self.request_row(id, fingerprint, receipt, &at)
                .map_err(to_sqlx)?;
        }
        self.set_last_position(rows.position).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unique index's refusal through rusqlite reads as sqlx's unique violation: the append
    /// algorithm gives up its fast way on it, and answers a conflict in the slow way.
    #[test]
    fn a_unique_refusal_reads_as_a_unique_violation() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY); INSERT INTO t VALUES ('a');")
            .unwrap();
        let e = conn.execute("INSERT INTO t VALUES ('a')", []).unwrap_err();
        match to_sqlx(e) {
            sqlx::Error::Database(db) => {
                assert!(db.is_unique_violation(), "{db}");
                assert!(db.message().contains("UNIQUE"), "{}", db.message());
            }
            other => panic!("not a database error: {other}"),
        }
    }

    /// A read-model row updated with only its changed indexed columns set ends as the full
    /// row written whole would: every column, after changes of none, some and all of the
    /// indexed ones; a reference another case holds is still refused by its unique index.
    #[test]
    fn a_summary_update_sets_what_changed_and_keeps_the_rest() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in [
            include_str!("../../migrations/sqlite/0001_event_log.sql"),
            include_str!("../../migrations/sqlite/0002_case_summaries.sql"),
            include_str!("../../migrations/sqlite/0003_references_and_duplicates.sql"),
            include_str!("../../migrations/sqlite/0005_list_filters.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .to_utc();
        let first = SummaryUpdate {
            stream: StreamId(Uuid::from_u128(1)),
            reference: "NC-2026-0001".into(),
            procedure: "formal".into(),
            state: "Referred".into(),
            closed: false,
            requested_state: "SD".into(),
            requested_state_name: "Sudan".into(),
            region: "african".into(),
            person_sought: "A".into(),
            next_deadline: None,
            fires_after: None,
            duplicate_key: Some("SD|ICC-1".into()),
        };
        let row_of = |conn: &Connection, id: u128| -> Vec<rusqlite::types::Value> {
            conn.query_row(
                "SELECT reference, procedure, state, closed, requested_state, \
                 requested_state_name, region, person_sought, next_deadline, fires_after, \
                 version, updated_at, duplicate_key FROM case_summaries WHERE case_id = ?1",
                [Uuid::from_u128(id).to_string()],
                |r| (0..13).map(|i| r.get(i)).collect(),
            )
            .unwrap()
        };
        let expected = |row: &SummaryUpdate, version: i64| -> Vec<rusqlite::types::Value> {
            use rusqlite::types::Value::{Integer, Null, Text};
            let opt = |v: &Option<String>| v.clone().map_or(Null, Text);
            vec![
                Text(row.reference.clone()),
                Text(row.procedure.clone()),
                Text(row.state.clone()),
                Integer(i64::from(row.closed)),
                Text(row.requested_state.clone()),
                Text(row.requested_state_name.clone()),
                Text(row.region.clone()),
                Text(row.person_sought.clone()),
                opt(&row.next_deadline),
                opt(&row.fires_after),
                Integer(version),
                Text(canonical_time(at)),
                opt(&row.duplicate_key),
            ]
        };
        let tx = WriterTx(&mut conn);
        tx.summary(&first, 1, at).unwrap();
        assert_eq!(row_of(tx.0, 1), expected(&first, 1));
        // No indexed column changes.
        let mut next = first.clone();
        next.person_sought = "B".into();
        next.closed = true;
        tx.summary(&next, 2, at).unwrap();
        assert_eq!(row_of(tx.0, 1), expected(&next, 2));
        // Some change, one of them to NULL.
        next.state = "LetterSent".into();
        next.next_deadline = Some("2026-02-01".into());
        next.fires_after = Some("2026-02-01".into());
        next.duplicate_key = None;
        tx.summary(&next, 3, at).unwrap();
        assert_eq!(row_of(tx.0, 1), expected(&next, 3));
        // All change.
        let all = SummaryUpdate {
            stream: next.stream,
            reference: "NC-2026-0009".into(),
            procedure: "preventive".into(),
            state: "Closed".into(),
            closed: false,
            requested_state: "KE".into(),
            requested_state_name: "Kenya".into(),
            region: "asia-pacific".into(),
            person_sought: "C".into(),
            next_deadline: None,
            fires_after: None,
            duplicate_key: Some("KE|ICC-2".into()),
        };
        tx.summary(&all, 4, at).unwrap();
        assert_eq!(row_of(tx.0, 1), expected(&all, 4));
        // Another case cannot take that reference.
        let mut other = first.clone();
        other.stream = StreamId(Uuid::from_u128(2));
        other.reference = "NC-2026-0002".into();
        tx.summary(&other, 1, at).unwrap();
        other.reference = all.reference.clone();
        let refused = tx.summary(&other, 2, at).unwrap_err();
        assert!(refused.to_string().contains("UNIQUE"), "{refused}");
        assert_eq!(
            row_of(tx.0, 2)[0],
            rusqlite::types::Value::Text("NC-2026-0002".into())
        );
    }

    /// The writer's connection commits durably (`synchronous=FULL` in WAL mode), checks
    /// foreign keys, keeps statement journals in memory and maps the file.
    #[test]
    fn the_writer_connection_is_set_up_for_durable_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER);")
            .unwrap();
        let conn = open(&path).unwrap();
        let pragma = |name: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(pragma("synchronous"), 2, "FULL");
        assert_eq!(pragma("foreign_keys"), 1);
        assert_eq!(pragma("temp_store"), 2, "MEMORY");
        assert_eq!(pragma("cache_size"), WRITER_CACHE_KIB);
        // Asked for 2 GiB; the bundled SQLite's ceiling (SQLITE_MAX_MMAP_SIZE) is 64 KiB less.
        assert_eq!(super::super::sqlite_reader::MMAP_BYTES, 1 << 31);
        assert_eq!(pragma("mmap_size"), 0x7fff_0000);
        assert_eq!(pragma("busy_timeout"), 30_000);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_future_that_waits_is_an_error_not_a_hang() {
        let pending = std::future::pending::<()>();
        assert!(matches!(now(pending), Err(StoreError::Unavailable(_))));
        assert_eq!(now(async { 7 }).unwrap(), 7);
    }
}
