//! The event log: append-only, hash-chained streams of envelopes, one stream per case.
//!
//! # What it is
//! The store keeps *envelopes*: an event type name, a schema version, the exact payload bytes,
//! the legal time (`occurred_at`), the time of recording, the actor and role, the request id of
//! the write that produced it, and the hash chain (`prev_hash`, `hash`). It knows nothing of the
//! procedures' types: `domain` turns its events into envelopes and back.
//!
//! # What it guarantees (both backends, see the conformance suite in `tests/store/`)
//! - One write ([`Write`]) is one transaction, across one or several streams: all or nothing.
//! - Optimistic concurrency per stream ([`ExpectedVersion`]); a mismatch is
//!   [`AppendError::Conflict`]; `UNIQUE(case_id, version)` backs it up in the schema.
//! - Idempotency: a write's `request_id` is stored in the same transaction; a retry with the
//!   same content returns the original [`AppendReceipt`] and writes nothing, other content is
//!   [`AppendError::DuplicateRequest`].
//! - Global positions are assigned under one lock held until commit, so they are gapless and
//!   in commit order: a reader following `global_position` never skips a late commit.
//! - Database triggers reject `UPDATE` and `DELETE` on `events` (and on `requests`).
//! - Every event is chained: see [`chain`] and docs/audit.md for the exact byte layout.
//! - Group commit: [`EventStore::append_batch`] commits many writes in one transaction; a write
//!   that fails is rolled back to its savepoint and fails alone.
//!
//! # Layout
//! - `chain`: hashing, fingerprints and verification (pure, shared by both backends);
//! - `append`: the one append algorithm, written once over a small transaction trait;
//! - `sqlite`, `postgres`: the backends (connection set-up, SQL, row mapping);
//! - this file: the value types, errors, the [`EventStore`] trait and [`AnyStore`].
//!
//! Called by the engine (writes, reads), the CLI (`migrate`, `verify`, `backup`) and the audit
//! tools, which open the log with [`AnyStore::open_read_only`]: no file is created, no
//! migration runs and every connection refuses writes.
#![deny(missing_docs)]

/// The envelope columns of `events`, in the order both backends select them.
macro_rules! event_columns {
    () => {
        "global_position, case_id, version, event_type, schema_version, payload, occurred_at, \
         recorded_at, actor, role, request_id, correlation_id, prev_hash, hash"
    };
}

/// The columns of a read-model row, in the order the backends' upserts bind them.
macro_rules! summary_insert {
    () => {
        "INSERT INTO case_summaries (case_id, reference, procedure, state, closed, \
         requested_state, requested_state_name, region, person_sought, next_deadline, fires_after, \
         version, updated_at, duplicate_key) "
    };
}

/// What an upsert of a read-model row replaces.
macro_rules! summary_on_conflict {
    () => {
        "ON CONFLICT (case_id) DO UPDATE SET reference = excluded.reference, procedure = excluded.procedure, \
     state = excluded.state, closed = excluded.closed, requested_state = excluded.requested_state, \
     requested_state_name = excluded.requested_state_name, region = excluded.region, \
     person_sought = excluded.person_sought, next_deadline = excluded.next_deadline, \
     fires_after = excluded.fires_after, version = excluded.version, updated_at = excluded.updated_at, \
     duplicate_key = excluded.duplicate_key"
    };
}

mod append;
pub mod chain;
pub mod pg_hosts;
pub mod postgres;
pub mod scan;
pub mod sqlite;
mod sqlite_reader;
mod sqlite_writer;
pub(crate) use sqlite_writer::{in_transaction as sqlite_transaction, open as open_sqlite_writer};

use std::{
    fmt,
    future::Future,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::Clock;

pub use chain::{ChainBreak, ChainBreakKind, Hash, VerifyReport};
pub use postgres::PgStore;
pub use scan::{AllColumns, Columns, EventColumns, RangeReader, scan_log_parallel};
pub use sqlite::SqliteStore;
pub use sqlite_reader::MMAP_BYTES as SQLITE_MMAP_BYTES;

/// Identifies one stream of the log. A stream is one case; its id is the case id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(pub Uuid);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// What the writer believes the stream's current version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check: append after whatever is there (the stream may or may not exist).
    Any,
    /// The stream must not exist yet (opening a case).
    NoStream,
    /// The stream's last event must have exactly this version (1-based).
    Exact(u64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// One event to be appended, before the store has given it a position, version and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Stable, versioned type name, e.g. `formal.open_letter_sent`. Part of the stored contract.
    pub event_type: String,
    /// Schema version of the payload for this type (upcast on read when old).
    pub schema_version: u32,
    /// The exact payload bytes (UTF-8 JSON by convention). Stored and hashed as given.
    pub payload: Vec<u8>,
    /// The legally relevant time of the fact, given by the command. Truncated to microseconds.
    pub occurred_at: DateTime<Utc>,
    /// Who acted (the principal's subject).
    pub actor: String,
    /// In which role they acted.
    pub role: String,
}

/// Events to append to one stream within a [`Write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAppend {
    /// The stream (case) to append to.
    pub stream: StreamId,
    /// The concurrency check for this stream.
    pub expected: ExpectedVersion,
    /// At least one event, in order.
    pub events: Vec<NewEvent>,
}

/// One atomic write: one or several streams, committed together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The client's idempotency key. Non-empty, at most 200 bytes.
    pub request_id: String,
    /// Ties together the events of one business operation (e.g. an escalation across streams).
    pub correlation_id: Option<Uuid>,
    /// The streams written, each at most once.
    pub streams: Vec<StreamAppend>,
    /// What makes a retry "the same request". `None`: computed from the content
    /// ([`chain::write_fingerprint`]); the engine may give the fingerprint of the command instead.
    pub fingerprint: Option<Hash>,
    /// Read-model rows of the cases written, stored in the same transaction (not hashed, not
    /// part of the fingerprint: derived data, rebuildable from the log).
    pub summaries: Vec<SummaryUpdate>,
    /// A human reference to number inside the write's transaction (see [`ReferenceSlot`]).
    pub reference: Option<ReferenceSlot>,
}

/// A reference numbered by the store when the write commits: the next number of `prefix`'s
/// counter (at least four digits, e.g. `NC-2017-0003`, then `NC-2017-10000` after
/// `NC-2017-9999`) replaces every occurrence of `placeholder` in the write's event payloads and
/// read-model references, before the events are hashed. Being taken under the log lock, in the
/// write's own savepoint, a number is never given twice and never skipped: a write that fails
/// gives its number back. `placeholder` must be unguessable (the engine puts a fresh UUID in
/// it), so that no client text can contain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceSlot {
    /// E.g. `NC-2017-`.
    pub prefix: String,
    /// The token the payloads carry in place of the reference.
    pub placeholder: String,
}

impl ReferenceSlot {
    /// The reference numbered `n`.
    pub fn reference(&self, n: u64) -> String {
        format!("{}{n:04}", self.prefix)
    }
}

impl Write {
    /// A write to a single stream.
    pub fn single(
        request_id: impl Into<String>,
        stream: StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Self {
        Write {
            request_id: request_id.into(),
            correlation_id: None,
            streams: vec![StreamAppend {
                stream,
                expected,
                events,
            }],
            fingerprint: None,
            summaries: Vec::new(),
            reference: None,
        }
    }

    /// The fingerprint that identifies this write's content for idempotency.
    pub fn effective_fingerprint(&self) -> Hash {
        self.fingerprint
            .unwrap_or_else(|| chain::write_fingerprint(self))
    }
}

/// What one stream got from a committed write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamReceipt {
    /// The stream.
    pub stream: StreamId,
    /// Version of the first event appended.
    pub first_version: u64,
    /// Version of the last event appended: the stream's version after the write.
    pub last_version: u64,
    /// Hash of the last event appended: the stream's new chain head.
    pub last_hash: Hash,
}

/// The result of a committed write, stored with its request id and returned again on retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendReceipt {
    /// The write's request id.
    pub request_id: String,
    /// One entry per stream, in the order of the write.
    pub streams: Vec<StreamReceipt>,
    /// Global position of the first event written.
    pub first_position: u64,
    /// Global position of the last event written.
    pub last_position: u64,
    /// When the store recorded it (microsecond precision, UTC).
    pub recorded_at: DateTime<Utc>,
    /// `true` when this receipt is the stored answer to an earlier identical request.
    #[serde(skip)]
    pub replayed: bool,
    /// The events as written, in the order of [`AppendReceipt::streams`], so that the writer
    /// can answer without reading them back. Empty on a replayed receipt (they are not stored
    /// with the request: read them from the log).
    #[serde(skip)]
    pub events: Vec<RecordedEvent>,
}

/// An event as stored: the envelope with its position, version and chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Position in the whole log, 1-based, gapless, in commit order.
    pub global_position: u64,
    /// The stream (case).
    pub stream: StreamId,
    /// Version within the stream, 1-based and gapless.
    pub version: u64,
    /// Stable type name.
    pub event_type: String,
    /// Payload schema version.
    pub schema_version: u32,
    /// Exact payload bytes, as hashed.
    #[serde(with = "hex_bytes")]
    pub payload: Vec<u8>,
    /// Legal time of the fact.
    pub occurred_at: DateTime<Utc>,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Who acted.
    pub actor: String,
    /// In which role.
    pub role: String,
    /// The request id of the write that appended it.
    pub request_id: String,
    /// Correlation id of that write, if any.
    pub correlation_id: Option<Uuid>,
    /// Hash of the previous event of the stream (the genesis value for version 1).
    pub prev_hash: Hash,
    /// This event's hash (see [`chain::event_hash`]).
    pub hash: Hash,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

/// A stored request: what the store remembers of a committed write for idempotency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    /// The fingerprint the write was committed with.
    pub fingerprint: Hash,
    /// The receipt returned at the time.
    pub receipt: AppendReceipt,
}

/// Why a write was not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The stream was not at the expected version.
    #[error("concurrent update on stream {stream}: expected {expected}, found {}", match .actual { Some(v) => format!("version {v}"), None => "no stream".to_owned() })]
    Conflict {
        /// The stream that did not match.
        stream: StreamId,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// The stream's actual version (`None`: no such stream).
        actual: Option<u64>,
    },
    /// The request id was used before for a write with other content.
    #[error("request id {request_id:?} was already used for a different write")]
    DuplicateRequest {
        /// The reused request id.
        request_id: String,
    },
    /// The write itself is malformed (no events, a stream twice, a bad request id).
    #[error("invalid write: {0}")]
    Invalid(String),
    /// A case's human reference is already used by another case.
    #[error("reference {reference} is already used by case {existing}")]
    ReferenceTaken {
        /// The reference.
        reference: String,
        /// The case that has it.
        existing: StreamId,
    },
    /// The case's duplicate key (e.g. the same State and Court decision) is held by another case.
    #[error("case {existing} already holds the key {key}")]
    KeyTaken {
        /// The key.
        key: String,
        /// The case that has it.
        existing: StreamId,
    },
    /// The database failed.
    #[error(transparent)]
    Backend(#[from] StoreError),
}

/// An operational failure of the store (I/O, database, corrupt row).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be read back into an envelope.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The store cannot take writes right now (e.g. a failed group commit).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database URL is not one aspflow understands.
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://...")]
    BadUrl(String),
}

/// Why [`AnyStore::open_read_only`] did not open the log. Read-only tools never create a
/// database and never migrate one, so each of these is reported instead of "0 events".
#[derive(Debug, thiserror::Error)]
pub enum OpenReadOnlyError {
    /// The SQLite file does not exist (a read-only open never creates it).
    #[error("no database file at {}", .0.display())]
    NoFile(PathBuf),
    /// The database has no `events` table: it is not an aspflow log, or was never migrated.
    #[error("the database has no aspflow schema (no events table)")]
    NoSchema,
    /// The schema is older than this aspflow expects; read-only tools do not migrate.
    #[error(
        "the database's schema is at migration {found}, this aspflow needs {expected}: run \
         `aspflow migrate` first"
    )]
    OutdatedSchema {
        /// The newest migration applied to the database (0: none recorded).
        found: i64,
        /// The newest migration embedded in this aspflow.
        expected: i64,
    },
    /// The database could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for OpenReadOnlyError {
    fn from(e: sqlx::Error) -> Self {
        OpenReadOnlyError::Store(StoreError::Database(e))
    }
}

/// Checks a read-only database's newest applied migration against the embedded ones.
fn check_schema_version(
    found: i64,
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), OpenReadOnlyError> {
    let expected = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    if found < expected {
        return Err(OpenReadOnlyError::OutdatedSchema { found, expected });
    }
    Ok(())
}

/// Why [`SqliteStore::backup_to`] did not write a copy.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target file already exists; a backup never overwrites anything.
    #[error("{} already exists: a backup never overwrites a file", .0.display())]
    TargetExists(PathBuf),
    /// The target's folder could not be resolved, or the copy could not be synced to disk.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database failed while copying.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BackupError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
        move |source| BackupError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The event log's contract, implemented by [`SqliteStore`], [`PgStore`] and [`AnyStore`].
///
/// Methods return `impl Future + Send` (not `async fn`) so that callers such as tonic handlers,
/// which need `Send` futures, can use them through a generic `S: EventStore`.
pub trait EventStore: Send + Sync {
    /// Commits each write in its own savepoint inside **one** transaction (group commit).
    /// The result at index `i` belongs to `writes[i]`; a failed write changes nothing and does
    /// not affect the others.
    ///
    /// # Errors
    /// The outer `Err` is a failure of the whole transaction (nothing committed). Per-write
    /// errors are [`AppendError::Conflict`], [`AppendError::DuplicateRequest`] and
    /// [`AppendError::Invalid`].
    fn append_batch(
        &self,
        writes: Vec<Write>,
    ) -> impl Future<Output = Result<Vec<Result<AppendReceipt, AppendError>>, StoreError>> + Send;

    /// Appends one write atomically.
    ///
    /// # Errors
    /// As [`EventStore::append_batch`] for a single write.
    fn append(
        &self,
        write: Write,
    ) -> impl Future<Output = Result<AppendReceipt, AppendError>> + Send
    where
        Self: Sized,
    {
        async move {
            let mut results = self.append_batch(vec![write]).await?;
            results
                .pop()
                .unwrap_or_else(|| Err(AppendError::Invalid("no result for the write".into())))
        }
    }

    /// Reads a stream from `from_version` (1-based, inclusive), at most `limit` events.
    ///
    /// # Errors
    /// [`StoreError`] on database failure or a corrupt row.
    fn read_stream(
        &self,
        stream: StreamId,
        from_version: u64,
        limit: Option<u32>,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Reads the whole log in global order from `from_position` (1-based, inclusive).
    ///
    /// # Errors
    /// [`StoreError`] on database failure or a corrupt row.
    fn read_all(
        &self,
        from_position: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The stream's current version, `None` if it does not exist.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn stream_version(
        &self,
        stream: StreamId,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// The global position of the last committed event (0 for an empty log).
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn head_position(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Looks up a committed write by its request id.
    ///
    /// # Errors
    /// [`StoreError`] on database failure or a corrupt stored receipt.
    fn lookup_request(
        &self,
        request_id: &str,
    ) -> impl Future<Output = Result<Option<StoredRequest>, StoreError>> + Send;

    /// The backend's name: `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// A reader of ranges of the log on plain threads, if the backend has one (SQLite: a
    /// read-only connection per thread): [`scan_log_parallel`] then reads on every core.
    fn range_reader(&self) -> Option<std::sync::Arc<dyn RangeReader>> {
        None
    }

    /// Read model: cases matching `filter`, ordered by id.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn list_summaries(
        &self,
        filter: &SummaryFilter,
    ) -> impl Future<Output = Result<Vec<CaseSummary>, StoreError>> + Send;

    /// Read model: every stream of one procedure (e.g. the Bureau terms' rosters), in the
    /// order opened, at most `limit`: one look-up in the (procedure, state) index, whatever the
    /// number of cases (`list_summaries`' optional filters cannot use it).
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn summaries_of_procedure(
        &self,
        procedure: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<CaseSummary>, StoreError>> + Send;

    /// Read model: the case with this human reference.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn find_by_reference(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<StreamId>, StoreError>> + Send;

    /// Read model: the case holding a duplicate key (see [`SummaryUpdate::duplicate_key`]).
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn find_by_duplicate_key(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<StreamId>, StoreError>> + Send;

    /// Stores a signed checkpoint in its slot; `false` (and nothing written) when the slot
    /// is taken already (another node was first).
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn store_checkpoint(
        &self,
        checkpoint: &StoredCheckpoint,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stored checkpoints, newest first.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn stored_checkpoints(
        &self,
        query: &CheckpointQuery,
    ) -> impl Future<Output = Result<Vec<StoredCheckpoint>, StoreError>> + Send;

    /// Read model: cases whose firing deadline (`fires_after`) is before `today` (YYYY-MM-DD),
    /// in (`fires_after`, case) order, after the cursor `after` (the last row of the previous
    /// page), at most `limit`.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn due_deadlines(
        &self,
        today: &str,
        after: Option<&DueCase>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<DueCase>, StoreError>> + Send;

    /// Read model: replaces every row (rebuild from the log), in one transaction.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn replace_summaries(
        &self,
        rows: Vec<CaseSummary>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The read-model row of one case as the engine computes it after a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryUpdate {
    /// The case.
    pub stream: StreamId,
    /// Human reference (unique).
    pub reference: String,
    /// Procedure name.
    pub procedure: String,
    /// State name.
    pub state: String,
    /// Terminal state reached.
    pub closed: bool,
    /// ISO code of the requested State ("" when none).
    pub requested_state: String,
    /// Its name.
    pub requested_state_name: String,
    /// Its region.
    pub region: String,
    /// Person sought.
    pub person_sought: String,
    /// Next deadline shown (YYYY-MM-DD).
    pub next_deadline: Option<String>,
    /// Next deadline the scheduler fires once passed (YYYY-MM-DD).
    pub fires_after: Option<String>,
    /// A key no other case may hold (unique index), e.g. a formal case's normalized
    /// `<ISO code>|<decision symbol>`; `None` when the procedure has none.
    #[serde(default)]
    pub duplicate_key: Option<String>,
}

/// A case with a firing deadline that has passed (the scheduler's work list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCase {
    /// The case.
    pub stream: StreamId,
    /// Its firing deadline (YYYY-MM-DD).
    pub fires_after: String,
    /// Its version when the row was written.
    pub version: u64,
}

/// A signed checkpoint the servers stored (table `checkpoints`, append-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Its row number (1, 2, ... in the order stored; 0 before it is stored).
    pub id: u64,
    /// The schedule slot it fills, unique (e.g. `every:3600:493850`, `events:1000:12`).
    pub period: String,
    /// Hex Ed25519 public key that signed it.
    pub public_key: String,
    /// The log position it covers.
    pub head_position: u64,
    /// When it was taken (RFC 3339, as in the checkpoint).
    pub created_at: String,
    /// The checkpoint (format `aspflow.checkpoint.v1`).
    pub checkpoint_json: String,
}

/// Which stored checkpoints to read: newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointQuery {
    /// Only those signed by this key (hex); `None`: any.
    pub public_key: Option<String>,
    /// Only the one filling this slot.
    pub period: Option<String>,
    /// Only rows before this id (paging); `None`: from the newest.
    pub before_id: Option<u64>,
    /// At most this many (1-1000).
    pub limit: u32,
}

/// A read-model row as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// What the engine computed.
    #[serde(flatten)]
    pub row: SummaryUpdate,
    /// The case's version after the write.
    pub version: u64,
    /// When the write was recorded.
    pub updated_at: DateTime<Utc>,
}

/// The order of [`EventStore::list_summaries`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SummaryOrder {
    /// In the order the cases were opened (their ids are time-ordered).
    #[default]
    Opened,
    /// The soonest next deadline first, cases without one last; then as opened.
    NextDeadline,
}

/// How a case without a next deadline sorts by deadline: after every date.
pub const NO_DEADLINE: &str = "9999-12-31";

/// Filters for [`EventStore::list_summaries`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryFilter {
    /// Procedure name, or `cases`: formal and preventive cases (not rosters or resolutions).
    pub procedure: Option<String>,
    /// State name.
    pub state: Option<String>,
    /// Open (`false`) or closed (`true`).
    pub closed: Option<bool>,
    /// ISO code of the requested State.
    pub requested_state: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Case-insensitive substring of the person sought.
    pub person_sought: Option<String>,
    /// Next deadline on or before (YYYY-MM-DD).
    pub deadline_before: Option<String>,
    /// Page: cases after this id (ids are time-ordered UUIDv7); with
    /// [`SummaryOrder::NextDeadline`], after this (next deadline, id).
    pub after: Option<StreamId>,
    /// With [`SummaryOrder::NextDeadline`]: the next deadline of the page's last case
    /// ([`NO_DEADLINE`] when it had none).
    pub after_deadline: Option<String>,
    /// The order of the rows.
    pub order: SummaryOrder,
    /// Page size.
    pub limit: u32,
}

/// Where the log lives, decided once from the URL's scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// An SQLite file (created if missing, except by [`AnyStore::open_read_only`]).
    Sqlite {
        /// Path of the database file.
        path: std::path::PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// The full connection URL.
        url: String,
        /// Pool size.
        max_connections: u32,
    },
}

impl FromStr for StoreConfig {
    type Err = StoreError;

    /// Accepts `sqlite://PATH`, `sqlite:PATH`, `postgres://...` and `postgresql://...`.
    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(StoreError::BadUrl(url.to_owned()));
            }
            Ok(StoreConfig::Sqlite { path: path.into() })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(StoreConfig::Postgres {
                url: url.to_owned(),
                max_connections: 16,
            })
        } else {
            Err(StoreError::BadUrl(url.to_owned()))
        }
    }
}

/// Either backend behind one type, chosen at run time from a [`StoreConfig`].
#[derive(Clone)]
pub enum AnyStore {
    /// The embedded SQLite backend.
    Sqlite(SqliteStore),
    /// The PostgreSQL backend.
    Postgres(PgStore),
}

impl AnyStore {
    /// Connects and applies the embedded migrations.
    ///
    /// # Errors
    /// [`StoreError`] if the database cannot be opened or migrated.
    pub async fn open(config: &StoreConfig, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Ok(match config {
            StoreConfig::Sqlite { path } => AnyStore::Sqlite(SqliteStore::open(path, clock).await?),
            StoreConfig::Postgres {
                url,
                max_connections,
            } => AnyStore::Postgres(PgStore::connect(url, *max_connections, clock).await?),
        })
    }

    /// Opens an existing log for reading only, for the audit tools: never creates the database,
    /// never migrates it, and every connection refuses writes (SQLite `SQLITE_OPEN_READONLY`;
    /// PostgreSQL `default_transaction_read_only=on`). Checks that the aspflow schema is there.
    ///
    /// # Errors
    /// [`OpenReadOnlyError::NoFile`] for a missing SQLite file, [`OpenReadOnlyError::NoSchema`]
    /// for a database without the `events` table, [`OpenReadOnlyError::OutdatedSchema`] for one
    /// that needs `aspflow migrate`, [`OpenReadOnlyError::Store`] if it cannot be reached.
    pub async fn open_read_only(
        config: &StoreConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpenReadOnlyError> {
        Ok(match config {
            StoreConfig::Sqlite { path } => {
                AnyStore::Sqlite(SqliteStore::open_read_only(path).await?)
            }
            StoreConfig::Postgres {
                url,
                max_connections,
            } => AnyStore::Postgres(
                PgStore::connect_read_only(url, (*max_connections).min(4), clock).await?,
            ),
        })
    }

    /// Closes the store at shutdown: on SQLite, checkpoints the WAL into the main file
    /// (`wal_checkpoint(TRUNCATE)`) so that the file alone holds the whole log, then closes the
    /// pool; on PostgreSQL, closes the pool. Every clone shares the pool: call it once, last.
    ///
    /// # Errors
    /// [`StoreError`] if the checkpoint failed (the pool is closed all the same, and the log is
    /// still complete in the file and its `-wal`).
    pub async fn close(&self) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.close().await,
            AnyStore::Postgres(s) => {
                s.close().await;
                Ok(())
            }
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $e,
            AnyStore::Postgres($s) => $e,
        }
    };
}

/// Awaits a backend's future in a box of its own. The backends' futures are large (sqlx's state
/// machines), and an `AnyStore` future holding both inline made every engine and API future
/// above it as large: tens of kilobytes, copied whole whenever one was created or moved (a
/// quarter of a loaded server's instructions were `memcpy`). A box costs one allocation a call.
macro_rules! boxed {
    ($self:ident, $s:ident => $e:expr) => {
        dispatch!($self, $s => Box::pin($e).await)
    };
}

impl EventStore for AnyStore {
    async fn append_batch(
        &self,
        writes: Vec<Write>,
    ) -> Result<Vec<Result<AppendReceipt, AppendError>>, StoreError> {
        boxed!(self, s => s.append_batch(writes))
    }

    async fn read_stream(
        &self,
        stream: StreamId,
        from_version: u64,
        limit: Option<u32>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        boxed!(self, s => s.read_stream(stream, from_version, limit))
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        boxed!(self, s => s.read_all(from_position, limit))
    }

    async fn stream_version(&self, stream: StreamId) -> Result<Option<u64>, StoreError> {
        boxed!(self, s => s.stream_version(stream))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        boxed!(self, s => s.head_position())
    }

    async fn lookup_request(&self, request_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        boxed!(self, s => s.lookup_request(request_id))
    }

    fn backend(&self) -> &'static str {
        dispatch!(self, s => s.backend())
    }

    fn range_reader(&self) -> Option<std::sync::Arc<dyn RangeReader>> {
        dispatch!(self, s => s.range_reader())
    }

    async fn list_summaries(&self, filter: &SummaryFilter) -> Result<Vec<CaseSummary>, StoreError> {
        boxed!(self, s => s.list_summaries(filter))
    }

    async fn summaries_of_procedure(
        &self,
        procedure: &str,
        limit: u32,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        boxed!(self, s => s.summaries_of_procedure(procedure, limit))
    }

    async fn find_by_reference(&self, reference: &str) -> Result<Option<StreamId>, StoreError> {
        boxed!(self, s => s.find_by_reference(reference))
    }

    async fn find_by_duplicate_key(&self, key: &str) -> Result<Option<StreamId>, StoreError> {
        boxed!(self, s => s.find_by_duplicate_key(key))
    }

    async fn store_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<bool, StoreError> {
        boxed!(self, s => s.store_checkpoint(checkpoint))
    }

    async fn stored_checkpoints(
        &self,
        query: &CheckpointQuery,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        boxed!(self, s => s.stored_checkpoints(query))
    }

    async fn due_deadlines(
        &self,
        today: &str,
        after: Option<&DueCase>,
        limit: u32,
    ) -> Result<Vec<DueCase>, StoreError> {
        boxed!(self, s => s.due_deadlines(today, after, limit))
    }

    async fn replace_summaries(&self, rows: Vec<CaseSummary>) -> Result<(), StoreError> {
        boxed!(self, s => s.replace_summaries(rows))
    }
}

/// Where [`list_query`] writes a query: its SQL text and, in order, the values bound to it.
/// PostgreSQL's sink is a sqlx query builder; SQLite's is SQL text with numbered parameters
/// and rusqlite values, read on the store's own read-only connections (`sqlite_reader.rs`).
pub(crate) trait QuerySink {
    /// Whether the SQL is SQLite's (its planner needs a hint PostgreSQL's does not).
    const SQLITE: bool;
    /// Appends SQL text.
    fn sql(&mut self, text: &str);
    /// Appends a placeholder bound to `value`.
    fn text(&mut self, value: String);
    /// Appends a placeholder bound to `value`.
    fn flag(&mut self, value: bool);
    /// Appends a placeholder bound to a case id, the way the backend stores it.
    fn case_id(&mut self, id: StreamId);
}

/// Writes the read model's list query for `f` into `q`, with only the filters `f` sets: a
/// filter left out is not in the SQL, so the planner can use the indexes of those that are
/// (`$1 IS NULL OR ...` made SQLite scan every row, and PostgreSQL's generic plans scan and
/// sort).
pub(crate) fn list_query<Q: QuerySink>(f: &SummaryFilter, q: &mut Q) {
    q.sql("SELECT * FROM case_summaries WHERE TRUE");
    match f.procedure.as_deref() {
        // Nearly every row is a case: walking the list's order and skipping the rest beats
        // reading two index ranges and sorting them (SQLite's unary `+` keeps it off the
        // procedure indexes; PostgreSQL's planner weighs this from its statistics).
        Some("cases") if Q::SQLITE => q.sql(" AND +procedure IN ('formal', 'preventive')"),
        Some("cases") => q.sql(" AND procedure IN ('formal', 'preventive')"),
        Some(p) => {
            q.sql(" AND procedure = ");
            q.text(p.to_owned());
        }
        None => {}
    }
    let texts = [
        (" AND state = ", &f.state),
        (" AND requested_state = ", &f.requested_state),
        (" AND region = ", &f.region),
    ];
    for (sql, value) in texts {
        if let Some(v) = value {
            q.sql(sql);
            q.text(v.clone());
        }
    }
    if let Some(closed) = f.closed {
        q.sql(" AND closed = ");
        q.flag(closed);
    }
    if let Some(p) = &f.person_sought {
        q.sql(" AND lower(person_sought) LIKE '%' || lower(");
        q.text(p.clone());
        q.sql(") || '%'");
    }
    if let Some(d) = &f.deadline_before {
        q.sql(" AND next_deadline IS NOT NULL AND next_deadline <= ");
        q.text(d.clone());
    }
    const DEADLINE: &str = "COALESCE(next_deadline, '9999-12-31')";
    match f.order {
        SummaryOrder::Opened => {
            if let Some(after) = f.after {
                q.sql(" AND case_id > ");
                q.case_id(after);
            }
            q.sql(" ORDER BY case_id");
        }
        SummaryOrder::NextDeadline => {
            if let Some(after) = f.after {
                q.sql(&format!(" AND ({DEADLINE}, case_id) > ("));
                q.text(
                    f.after_deadline
                        .clone()
                        .unwrap_or_else(|| NO_DEADLINE.to_owned()),
                );
                q.sql(", ");
                q.case_id(after);
                q.sql(")");
            }
            q.sql(&format!(" ORDER BY {DEADLINE}, case_id"));
        }
    }
    // The limit is written into the SQL, not bound: SQLite compiles a statement again whenever
    // a value bound to its LIMIT changes (it plans with the value), and page sizes are few.
    q.sql(&format!(" LIMIT {}", f.limit.max(1)));
}

/// Truncates a time to the microsecond: the precision both backends keep, and the precision
/// that is hashed, so that a chain computed before the write verifies after the read.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The canonical text of a time in the hash and in SQLite: RFC 3339, UTC, six fractional digits,
/// e.g. `2013-07-15T09:30:00.000000Z`.
pub fn canonical_time(t: DateTime<Utc>) -> String {
    match CanonicalTime::of(t) {
        CanonicalTime::Fixed(b) => String::from_utf8_lossy(&b).into_owned(),
        CanonicalTime::Other(s) => s,
    }
}

/// [`canonical_time`] without an allocation in the common case (years 1 to 9999, no leap
/// second): the hash of every event takes two.
pub enum CanonicalTime {
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, written out digit by digit.
    Fixed([u8; 27]),
    /// Anything else, through chrono's formatter.
    Other(String),
}

impl CanonicalTime {
    /// The canonical text of `t` (truncated to the microsecond).
    pub fn of(t: DateTime<Utc>) -> Self {
        use chrono::{Datelike, Timelike};
        let t = to_micros(t);
        let year = t.year();
        if !(1..=9999).contains(&year) || t.nanosecond() >= 1_000_000_000 {
            return CanonicalTime::Other(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
        }
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut n: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, year.unsigned_abs());
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 6, t.nanosecond() / 1_000);
        CanonicalTime::Fixed(b)
    }

    /// The text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            // Digits and separators written above: ASCII.
            CanonicalTime::Fixed(b) => std::str::from_utf8(b).unwrap_or_default(),
            CanonicalTime::Other(s) => s,
        }
    }
}

/// Parses [`canonical_time`] text back.
///
/// # Errors
/// [`StoreError::Corrupt`] if the text is not such a time.
pub fn parse_canonical_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    if let Some(t) = crate::clock::parse_utc_fast(text.as_bytes()) {
        return Ok(t);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp {text:?}: {e}")))
}

/// Decodes a `requests` row.
fn stored_request(
    request_id: &str,
    fingerprint: &[u8],
    receipt: &str,
) -> Result<StoredRequest, StoreError> {
    let fingerprint = Hash::from_slice(fingerprint)
        .map_err(|m| StoreError::Corrupt(format!("fingerprint of request {request_id:?}: {m}")))?;
    let receipt = serde_json::from_str(receipt)
        .map_err(|e| StoreError::Corrupt(format!("receipt of request {request_id:?}: {e}")))?;
    Ok(StoredRequest {
        fingerprint,
        receipt,
    })
}

/// Reads the log in global order from `from` to `to` (inclusive; `None`: to the current end),
/// in pages, handing each event to `f` until it breaks. Returns the break value, if any.
///
/// # Errors
/// As [`EventStore::read_all`].
pub async fn scan_log<B>(
    store: &impl EventStore,
    from: u64,
    to: Option<u64>,
    mut f: impl FnMut(&RecordedEvent) -> std::ops::ControlFlow<B>,
) -> Result<Option<B>, StoreError> {
    scan_log_pages(store, from, to, |page| page.iter().try_for_each(&mut f)).await
}

/// [`scan_log`] a page at a time (up to 5,000 events in global order): for work that is done
/// on a page in parallel ([`par_map`]) before it is folded in order.
///
/// # Errors
/// As [`EventStore::read_all`].
pub async fn scan_log_pages<B>(
    store: &impl EventStore,
    from: u64,
    to: Option<u64>,
    mut f: impl FnMut(&[RecordedEvent]) -> std::ops::ControlFlow<B>,
) -> Result<Option<B>, StoreError> {
    const PAGE: u64 = 5_000;
    let limit_from = |next: u64| -> Option<u32> {
        let limit = match to {
            Some(t) if next > t => return None,
            Some(t) => (t - next + 1).min(PAGE),
            None => PAGE,
        };
        Some(u32::try_from(limit).unwrap_or(u32::MAX))
    };
    let first = from.max(1);
    let Some(limit) = limit_from(first) else {
        return Ok(None);
    };
    let mut page = store.read_all(first, limit).await?;
    loop {
        let Some(last) = page.last() else {
            return Ok(None);
        };
        let next = last.global_position + 1;
        // The next page is read while this one is worked through: `join` starts the read
        // first (on SQLite a blocking thread of its own), then runs `f` over the page.
        let read_next = async {
            match limit_from(next) {
                Some(limit) => store.read_all(next, limit).await.map(Some),
                None => Ok(None),
            }
        };
        let work = async {
            match f(&page) {
                std::ops::ControlFlow::Break(b) => Some(b),
                std::ops::ControlFlow::Continue(()) => None,
            }
        };
        let (next_page, stopped) = futures_util::future::join(read_next, work).await;
        if let Some(b) = stopped {
            return Ok(Some(b));
        }
        match next_page? {
            Some(p) => page = p,
            None => return Ok(None),
        }
    }
}

/// `f` of every item, in order, computed on up to as many threads as the machine has cores
/// when there are enough items to share (scoped threads: nothing outlives the call). For
/// pure per-event work on a page of the log: hashing, decoding.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    /// Fewer items than this per thread are not worth a thread.
    const MIN_PER_THREAD: usize = 256;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(items.len() / MIN_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    on_threads(items.chunks(chunk).collect(), |c| {
        c.iter().map(&f).collect::<Vec<R>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// `f` of every job, in order: the first job on this thread, each other one on a scoped thread
/// of its own (nothing outlives the call; a panic in one is resumed here).
pub fn on_threads<J: Send, R: Send>(jobs: Vec<J>, f: impl Fn(J) -> R + Sync) -> Vec<R> {
    let f = &f;
    let mut jobs = jobs.into_iter();
    let Some(first) = jobs.next() else {
        return Vec::new();
    };
    std::thread::scope(|s| {
        let others: Vec<_> = jobs.map(|j| s.spawn(move || f(j))).collect();
        let mut out = Vec::with_capacity(others.len() + 1);
        out.push(f(first));
        for h in others {
            match h.join() {
                Ok(r) => out.push(r),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

#[cfg(test)]
mod canonical_time_tests {
    use super::*;

    /// The written-out format and parser agree with chrono's general ones on times across the
    /// whole range the log accepts.
    #[test]
    fn fast_paths_agree_with_chrono() {
        let mut x: i64 = 0x2545_F491_4F6C_DD1D;
        let (lo, hi) = (-62_135_596_800_i64, 253_402_300_799_i64); // years 1 and 9999
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = lo + x.rem_euclid(hi - lo);
            let micros = u32::try_from(x.rem_euclid(1_000_000)).unwrap_or(0);
            let t = DateTime::from_timestamp(secs, micros * 1_000).unwrap_or_default();
            let text = canonical_time(t);
            assert_eq!(text, t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
            let back = parse_canonical_time(&text).unwrap_or_default();
            assert_eq!(back, t);
            assert_eq!(
                Some(back),
                DateTime::parse_from_rfc3339(&text)
                    .ok()
                    .map(|p| p.with_timezone(&Utc))
            );
        }
        // Not the exact shape: the general parser decides.
        assert!(parse_canonical_time("2013-07-15T09:30:00Z").is_ok());
        assert!(parse_canonical_time("2013-02-30T09:30:00.000000Z").is_err());
        assert!(parse_canonical_time("2013-07-15T09:30:00.00000xZ").is_err());
    }
}
