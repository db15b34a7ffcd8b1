//! The one append algorithm, written once for both backends.
//!
//! A backend opens a transaction that holds the log's write lock (SQLite `BEGIN IMMEDIATE`,
//! PostgreSQL `SELECT ... FOR UPDATE` on the single `log_head` row) and hands it to
//! [`append_in_tx`] through the small [`TxOps`] trait; only SQL lives in the backends.
//!
//! Why one lock for the whole log: global positions are then assigned in commit order and are
//! gapless (a rolled-back write gives its positions back), so a subscriber reading
//! `global_position > p` can never miss an event that commits late, and an auditor can detect a
//! deleted event as a gap. Throughput comes from group commit: many writes share one transaction
//! (and one fsync).
//!
//! Two ways through a batch:
//! - [`append_batch_fast`], first: a constant number of round trips per **batch**, whatever
//!   its size: one read (the last position, every request id's stored answer, every stream's
//!   head), then one write of every row ([`TxOps::batch_reads`], [`TxOps::batch_writes`]).
//!   PostgreSQL answers each in one statement (multi-row, from arrays), so a batch costs four
//!   round trips with its `BEGIN` (which takes the lock) and `COMMIT`; SQLite, where nothing
//!   crosses a thread between statements on the writer's thread, runs one prepared single-row
//!   statement per row. Conflicts, replays and duplicate request ids are decided in memory
//!   from that read, under the lock. Only a row the database refuses (a reference or
//!   duplicate key another case holds: unique indexes) makes it give up.
//! - [`append_in_tx`], when the fast way gave up (the caller rolls back and starts again): each
//!   write in its own savepoint, with the reference and key checks before the writes, so that a
//!   write that fails fails alone, with a precise answer.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
};

use chrono::{DateTime, Utc};

use crate::clock::Clock;

use super::{
    AppendError, AppendReceipt, ExpectedVersion, RecordedEvent, StoreError, StreamReceipt, Write,
    chain::{self, GENESIS, Hash},
    to_micros,
};

/// Longest accepted request id, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 420;

/// The statements the algorithm needs from an open, write-locked transaction.
pub(super) trait TxOps: Send {
    /// The last global position (under the lock).
    fn last_position(&mut self) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
    /// Stores the new last global position.
    fn set_last_position(
        &mut self,
        position: u64,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Runs a savepoint statement (`SAVEPOINT w`, `ROLLBACK TO SAVEPOINT w`, `RELEASE SAVEPOINT w`).
    fn savepoint(
        &mut self,
        sql: &'static str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// A stored request: (fingerprint bytes, receipt JSON).
    fn find_request(
        &mut self,
        request_id: &str,
    ) -> impl Future<Output = Result<Option<(Vec<u8>, String)>, sqlx::Error>> + Send;
    /// The stream's head: (version, hash bytes).
    fn stream_head(
        &mut self,
        stream: super::StreamId,
    ) -> impl Future<Output = Result<Option<(u64, Vec<u8>)>, sqlx::Error>> + Send;
    /// Inserts one event row.
    fn insert_event(
        &mut self,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// The case that holds `reference`, if another than `stream`.
    fn reference_holder(
        &mut self,
        reference: &str,
        stream: super::StreamId,
    ) -> impl Future<Output = Result<Option<super::StreamId>, sqlx::Error>> + Send;
    /// The next number of the reference counter `prefix` (1 for a new prefix).
    fn next_reference_number(
        &mut self,
        prefix: &str,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
    /// The case that holds the duplicate key `key`, if another than `stream`.
    fn key_holder(
        &mut self,
        key: &str,
        stream: super::StreamId,
    ) -> impl Future<Output = Result<Option<super::StreamId>, sqlx::Error>> + Send;
    /// Inserts or replaces a case's read-model row.
    fn upsert_summary(
        &mut self,
        row: &super::SummaryUpdate,
        version: u64,
        recorded_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Inserts the idempotency row of a write.
    fn insert_request(
        &mut self,
        request_id: &str,
        fingerprint: &Hash,
        receipt_json: &str,
        recorded_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    // The fast way's two steps, each the fewest round trips the backend allows, whatever the
    // number of rows (PostgreSQL: one statement each).

    /// What a batch is decided on, read under the lock: the last global position, the stored
    /// requests among `request_ids` and the heads of those of `streams` that exist.
    fn batch_reads(
        &mut self,
        request_ids: &[&str],
        streams: &[super::StreamId],
    ) -> impl Future<Output = Result<BatchReads, sqlx::Error>> + Send;
    /// Writes a batch's rows: the events, the read-model rows (one per case, each with the
    /// case's version), the idempotency rows, and `position` as the new last global position.
    /// A database error means the batch cannot be written this way (e.g. a unique index
    /// refused a row); the caller rolls back.
    fn batch_writes(
        &mut self,
        rows: &BatchRows<'_>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// What the fast way reads before it decides a batch.
pub(super) struct BatchReads {
    /// The last global position.
    pub last_position: u64,
    /// Stored requests: (request id, fingerprint bytes, receipt JSON).
    pub requests: Vec<(String, Vec<u8>, String)>,
    /// Stream heads: (stream, version, hash bytes).
    pub heads: Vec<(super::StreamId, u64, Vec<u8>)>,
}

/// What the fast way writes for a batch.
pub(super) struct BatchRows<'a> {
    pub events: Vec<RecordedEvent>,
    /// One read-model row per case, with the case's version.
    pub summaries: Vec<(&'a super::SummaryUpdate, u64)>,
    /// Idempotency rows: (request id, fingerprint, receipt JSON).
    pub requests: Vec<(&'a str, Hash, String)>,
    pub recorded_at: DateTime<Utc>,
    /// The new last global position.
    pub position: u64,
}

/// Checks the shape of a write before it touches the database.
fn validate(w: &Write) -> Result<(), AppendError> {
    if w.request_id.trim().is_empty() {
        return Err(AppendError::Invalid("request_id must not be empty".into()));
    }
    if w.request_id.len() > MAX_REQUEST_ID_LEN {
        return Err(AppendError::Invalid(format!(
            "request_id is {} bytes long; at most {MAX_REQUEST_ID_LEN} are allowed",
            w.request_id.len()
        )));
    }
    if w.streams.is_empty() {
        return Err(AppendError::Invalid(
            "a write must append to at least one stream".into(),
        ));
    }
    let mut seen = HashSet::new();
    for s in &w.streams {
        if !seen.insert(s.stream) {
            return Err(AppendError::Invalid(format!(
                "stream {} appears twice in one write",
                s.stream
            )));
        }
        if s.events.is_empty() {
            return Err(AppendError::Invalid(format!(
                "the append to stream {} has no events",
                s.stream
            )));
        }
        if let ExpectedVersion::Exact(0) = s.expected {
            return Err(AppendError::Invalid(format!(
                "expected version 0 for stream {} is not a version: use NoStream",
                s.stream
            )));
        }
        if let Some(e) = s.events.iter().find(|e| !time_round_trips(e.occurred_at)) {
            return Err(AppendError::Invalid(format!(
                "an event for stream {} has an occurred_at ({}) that the log cannot store and \
                 read back: legal times lie between years 1 and 9999",
                s.stream, e.occurred_at
            )));
        }
        if let Some(e) = s.events.iter().find(|e| e.event_type.trim().is_empty()) {
            return Err(AppendError::Invalid(format!(
                "an event for stream {} has an empty event_type (role {:?})",
                s.stream, e.role
            )));
        }
    }
    Ok(())
}

/// `bytes` with every occurrence of `from` replaced by `to`.
fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len() + to.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Whether `t`, stored as the log stores times, reads back as the same instant.
fn time_round_trips(t: DateTime<Utc>) -> bool {
    use chrono::Datelike;
    let t = to_micros(t);
    (1..=9999).contains(&t.year())
        && super::parse_canonical_time(&super::canonical_time(t)).is_ok_and(|back| back == t)
}

fn sql(e: sqlx::Error) -> AppendError {
    AppendError::Backend(StoreError::Database(e))
}

/// The answer of a batch: one result per write, in order.
pub(super) type BatchResults = Vec<Result<AppendReceipt, AppendError>>;

/// A stored receipt, answered again (marked replayed), or `DuplicateRequest` when the stored
/// request had other content.
fn stored_answer(
    w: &Write,
    fingerprint: &Hash,
    stored_fp: &[u8],
    receipt_json: &str,
) -> Result<AppendReceipt, AppendError> {
    if stored_fp != fingerprint.0.as_slice() {
        return Err(AppendError::DuplicateRequest {
            request_id: w.request_id.clone(),
        });
    }
    let mut receipt: AppendReceipt = serde_json::from_str(receipt_json).map_err(|e| {
        AppendError::Backend(StoreError::Corrupt(format!(
            "stored receipt of request {:?}: {e}",
            w.request_id
        )))
    })?;
    receipt.replayed = true;
    Ok(receipt)
}

/// Whether the expected version of an append holds against the stream's version.
fn expectation_holds(expected: ExpectedVersion, actual: Option<u64>) -> bool {
    match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual.is_none(),
        ExpectedVersion::Exact(v) => actual == Some(v),
    }
}

fn head_hash(stream: super::StreamId, bytes: &[u8]) -> Result<Hash, AppendError> {
    Hash::from_slice(bytes).map_err(|m| {
        AppendError::Backend(StoreError::Corrupt(format!(
            "stream {stream} head hash: {m}"
        )))
    })
}

/// The fast way through a batch (see the module's documentation), inside the caller's
/// write-locked transaction. `Ok(None)`: the database refused one of the batch statements
/// (a unique index); the caller rolls the transaction back and uses [`append_in_tx`].
pub(super) async fn append_batch_fast<T: TxOps>(
    tx: &mut T,
    writes: &[Write],
    clock: &dyn Clock,
) -> Result<Option<BatchResults>, StoreError> {
    let recorded_at = to_micros(clock.now());
    let checked: Vec<Result<(), AppendError>> = writes.iter().map(validate).collect();
    let valid = || {
        writes
            .iter()
            .zip(&checked)
            .filter(|(_, c)| c.is_ok())
            .map(|(w, _)| w)
    };
    let mut ids: Vec<&str> = valid().map(|w| w.request_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut streams: Vec<super::StreamId> = valid()
        .flat_map(|w| w.streams.iter().map(|s| s.stream))
        .collect();
    streams.sort_unstable();
    streams.dedup();
    let read = tx.batch_reads(&ids, &streams).await?;
    let start = read.last_position;
    let stored: HashMap<String, (Vec<u8>, String)> = read
        .requests
        .into_iter()
        .map(|(id, fp, json)| (id, (fp, json)))
        .collect();
    let mut heads: HashMap<super::StreamId, (u64, Vec<u8>)> = read
        .heads
        .into_iter()
        .map(|(s, v, h)| (s, (v, h)))
        .collect();

    let mut position = start;
    let mut results = Vec::with_capacity(writes.len());
    let mut events = Vec::new();
    // One read-model row per case: the last write's (with its numbered reference).
    let mut summaries: HashMap<super::StreamId, (super::SummaryUpdate, u64)> = HashMap::new();
    let mut requests: Vec<(&str, Hash, String)> = Vec::new();
    // Requests written earlier in this batch: (fingerprint, receipt).
    let mut written: HashMap<&str, (Hash, AppendReceipt)> = HashMap::new();
    for (w, check) in writes.iter().zip(checked) {
        if let Err(e) = check {
            results.push(Err(e));
            continue;
        }
        let fingerprint = w.effective_fingerprint();
        if let Some((fp, json)) = stored.get(&w.request_id) {
            results.push(stored_answer(w, &fingerprint, fp, json));
            continue;
        }
        if let Some((fp, receipt)) = written.get(w.request_id.as_str()) {
            results.push(if *fp == fingerprint {
                let mut again = receipt.clone();
                again.replayed = true;
                again.events.clear();
                Ok(again)
            } else {
                Err(AppendError::DuplicateRequest {
                    request_id: w.request_id.clone(),
                })
            });
            continue;
        }
        match fast_one(tx, w, &mut heads, position, recorded_at).await? {
            Ok((receipt, recorded, rows)) => {
                position = receipt.last_position;
                events.extend(recorded);
                for (row, version) in rows {
                    summaries.insert(row.stream, (row, version));
                }
                let json = serde_json::to_string(&receipt).map_err(|e| {
                    StoreError::Corrupt(format!("receipt of {:?}: {e}", w.request_id))
                })?;
                requests.push((w.request_id.as_str(), fingerprint, json));
                written.insert(w.request_id.as_str(), (fingerprint, receipt.clone()));
                results.push(Ok(receipt));
            }
            Err(e) => results.push(Err(e)),
        }
    }
    if position == start {
        return Ok(Some(results));
    }
    let rows = BatchRows {
        events,
        summaries: summaries.values().map(|(row, v)| (row, *v)).collect(),
        requests,
        recorded_at,
        position,
    };
    match tx.batch_writes(&rows).await {
        Ok(()) => Ok(Some(results)),
        // A row the database refused (a reference or duplicate key another case holds): the
        // slow way finds which write it was.
        Err(sqlx::Error::Database(_)) => Ok(None),
        Err(other) => Err(StoreError::Database(other)),
    }
}

/// One write of the fast way: checked against the stream heads in memory (which it advances),
/// its reference numbered, its events hashed. The outer error fails the batch.
#[allow(clippy::type_complexity)]
async fn fast_one<T: TxOps>(
    tx: &mut T,
    w: &Write,
    heads: &mut HashMap<super::StreamId, (u64, Vec<u8>)>,
    position: u64,
    recorded_at: DateTime<Utc>,
) -> Result<
    Result<
        (
            AppendReceipt,
            Vec<RecordedEvent>,
            Vec<(super::SummaryUpdate, u64)>,
        ),
        AppendError,
    >,
    StoreError,
> {
    let mut starts = Vec::with_capacity(w.streams.len());
    for s in &w.streams {
        let current = heads.get(&s.stream);
        let actual = current.map(|(v, _)| *v);
        if !expectation_holds(s.expected, actual) {
            return Ok(Err(AppendError::Conflict {
                stream: s.stream,
                expected: s.expected,
                actual,
            }));
        }
        let start = match current {
            Some((v, h)) => match head_hash(s.stream, h) {
                Ok(h) => (*v, h),
                Err(e) => return Ok(Err(e)),
            },
            None => (0, GENESIS),
        };
        starts.push(start);
    }
    if let Some(row) = w
        .summaries
        .iter()
        .find(|r| !w.streams.iter().any(|s| s.stream == r.stream))
    {
        return Ok(Err(AppendError::Invalid(format!(
            "a summary for stream {} that the write does not append to",
            row.stream
        ))));
    }
    let numbered = match &w.reference {
        Some(slot) => {
            let n = tx.next_reference_number(&slot.prefix).await?;
            Some((slot.placeholder.as_str(), slot.reference(n)))
        }
        None => None,
    };
    let (receipt, recorded) = hash_events(w, &starts, position, recorded_at, numbered.as_ref());
    for r in &receipt.streams {
        heads.insert(r.stream, (r.last_version, r.last_hash.0.to_vec()));
    }
    let rows = w
        .summaries
        .iter()
        .map(|row| {
            let version = receipt
                .streams
                .iter()
                .find(|r| r.stream == row.stream)
                .map_or(0, |r| r.last_version);
            (numbered_row(row, numbered.as_ref()), version)
        })
        .collect();
    Ok(Ok((receipt, recorded, rows)))
}

/// A read-model row with the write's numbered reference in place of its placeholder.
fn numbered_row(
    row: &super::SummaryUpdate,
    numbered: Option<&(&str, String)>,
) -> super::SummaryUpdate {
    let mut row = row.clone();
    if let Some((placeholder, reference)) = numbered {
        row.reference = row.reference.replace(placeholder, reference);
    }
    row
}

/// The events of `w`, numbered from `position` and chained from each stream's `starts`
/// (version, hash), with the placeholder of a numbered reference filled in before hashing.
fn hash_events(
    w: &Write,
    starts: &[(u64, Hash)],
    position: u64,
    recorded_at: DateTime<Utc>,
    numbered: Option<&(&str, String)>,
) -> (AppendReceipt, Vec<RecordedEvent>) {
    let fill = |bytes: &[u8]| -> Vec<u8> {
        match numbered {
            Some((placeholder, reference)) => {
                replace_bytes(bytes, placeholder.as_bytes(), reference.as_bytes())
            }
            None => bytes.to_vec(),
        }
    };
    let head = position;
    let mut position = position;
    let mut receipts = Vec::with_capacity(w.streams.len());
    let mut all = Vec::new();
    for (s, &(start_version, start_hash)) in w.streams.iter().zip(starts) {
        let (mut version, mut prev_hash) = (start_version, start_hash);
        for e in &s.events {
            position += 1;
            version += 1;
            let mut recorded = RecordedEvent {
                global_position: position,
                stream: s.stream,
                version,
                event_type: e.event_type.clone(),
                schema_version: e.schema_version,
                payload: fill(&e.payload),
                occurred_at: to_micros(e.occurred_at),
                recorded_at,
                actor: e.actor.clone(),
                role: e.role.clone(),
                request_id: w.request_id.clone(),
                correlation_id: w.correlation_id,
                prev_hash,
                hash: GENESIS,
            };
            recorded.hash = chain::event_hash(&recorded);
            prev_hash = recorded.hash;
            all.push(recorded);
        }
        receipts.push(StreamReceipt {
            stream: s.stream,
            first_version: start_version + 1,
            last_version: version,
            last_hash: prev_hash,
        });
    }
    let receipt = AppendReceipt {
        request_id: w.request_id.clone(),
        streams: receipts,
        first_position: head + 1,
        last_position: position,
        recorded_at,
        replayed: false,
        events: all.clone(),
    };
    (receipt, all)
}

/// Appends every write in `writes` inside the caller's transaction, each in its own
/// savepoint; the caller commits.
pub(super) async fn append_in_tx<T: TxOps>(
    tx: &mut T,
    writes: &[Write],
    clock: &dyn Clock,
) -> Result<BatchResults, StoreError> {
    // Under the log lock first, then the clock: `recorded_at` follows commit order on a node.
    let start = tx.last_position().await?;
    let recorded_at = to_micros(clock.now());
    let mut head = start;
    let mut results = Vec::with_capacity(writes.len());
    for w in writes {
        if let Err(e) = validate(w) {
            results.push(Err(e));
            continue;
        }
        tx.savepoint("SAVEPOINT aspflow_write").await?;
        match append_one(tx, w, head, recorded_at).await {
            Ok(receipt) => {
                tx.savepoint("RELEASE SAVEPOINT aspflow_write").await?;
                if !receipt.replayed {
                    head = receipt.last_position;
                }
                results.push(Ok(receipt));
            }
            Err(e) => {
                // If even the rollback fails the connection is gone: fail the whole batch.
                tx.savepoint("ROLLBACK TO SAVEPOINT aspflow_write").await?;
                tx.savepoint("RELEASE SAVEPOINT aspflow_write").await?;
                results.push(Err(e));
            }
        }
    }
    if head != start {
        tx.set_last_position(head).await?;
    }
    Ok(results)
}

async fn append_one<T: TxOps>(
    tx: &mut T,
    w: &Write,
    head: u64,
    recorded_at: DateTime<Utc>,
) -> Result<AppendReceipt, AppendError> {
    let fingerprint = w.effective_fingerprint();
    if let Some((stored_fp, receipt_json)) = tx.find_request(&w.request_id).await.map_err(sql)? {
        return stored_answer(w, &fingerprint, &stored_fp, &receipt_json);
    }

    // Number the write's reference first (inside its savepoint: a failed write gives the
    // number back), and put it in place of the placeholder before anything is hashed.
    let numbered = match &w.reference {
        Some(slot) => {
            let n = tx.next_reference_number(&slot.prefix).await.map_err(sql)?;
            Some((slot.placeholder.as_str(), slot.reference(n)))
        }
        None => None,
    };
    let mut starts = Vec::with_capacity(w.streams.len());
    for s in &w.streams {
        let current = tx.stream_head(s.stream).await.map_err(sql)?;
        let actual = current.as_ref().map(|(v, _)| *v);
        if !expectation_holds(s.expected, actual) {
            return Err(AppendError::Conflict {
                stream: s.stream,
                expected: s.expected,
                actual,
            });
        }
        starts.push(match current {
            Some((v, h)) => (v, head_hash(s.stream, &h)?),
            None => (0, GENESIS),
        });
    }
    let (receipt, recorded) = hash_events(w, &starts, head, recorded_at, numbered.as_ref());
    for e in &recorded {
        tx.insert_event(e).await.map_err(|err| match &err {
            // Cannot happen under the log lock; kept as a typed answer should it ever.
            sqlx::Error::Database(db) if db.is_unique_violation() => AppendError::Conflict {
                stream: e.stream,
                expected: w
                    .streams
                    .iter()
                    .find(|s| s.stream == e.stream)
                    .map_or(ExpectedVersion::Any, |s| s.expected),
                actual: Some(e.version - 1),
            },
            _ => sql(err),
        })?;
    }
    for row in &w.summaries {
        let row = &numbered_row(row, numbered.as_ref());
        let Some(r) = receipt.streams.iter().find(|r| r.stream == row.stream) else {
            return Err(AppendError::Invalid(format!(
                "a summary for stream {} that the write does not append to",
                row.stream
            )));
        };
        if let Some(existing) = tx
            .reference_holder(&row.reference, row.stream)
            .await
            .map_err(sql)?
        {
            return Err(AppendError::ReferenceTaken {
                reference: row.reference.clone(),
                existing,
            });
        }
        if let Some(key) = &row.duplicate_key
            && let Some(existing) = tx.key_holder(key, row.stream).await.map_err(sql)?
        {
            return Err(AppendError::KeyTaken {
                key: key.clone(),
                existing,
            });
        }
        tx.upsert_summary(row, r.last_version, recorded_at)
            .await
            .map_err(sql)?;
    }
    let json = serde_json::to_string(&receipt)
        .map_err(|e| AppendError::Backend(StoreError::Corrupt(format!("receipt: {e}"))))?;
    tx.insert_request(&w.request_id, &fingerprint, &json, recorded_at)
        .await
        .map_err(sql)?;
    Ok(receipt)
}
