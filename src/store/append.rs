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
//! (and one fsync), each in its own savepoint so that a conflict fails only that write.

use std::{collections::HashSet, future::Future};

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

/// Appends every write in `writes` inside the caller's transaction; the caller commits.
pub(super) async fn append_in_tx<T: TxOps>(
    tx: &mut T,
    writes: Vec<Write>,
    clock: &dyn Clock,
) -> Result<Vec<Result<AppendReceipt, AppendError>>, StoreError> {
    // Under the log lock first, then the clock: `recorded_at` follows commit order on a node.
    let start = tx.last_position().await?;
    let recorded_at = to_micros(clock.now());
    let mut head = start;
    let mut results = Vec::with_capacity(writes.len());
    for w in &writes {
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
        if stored_fp.as_slice() != fingerprint.0.as_slice() {
            return Err(AppendError::DuplicateRequest {
                request_id: w.request_id.clone(),
            });
        }
        let mut receipt: AppendReceipt = serde_json::from_str(&receipt_json).map_err(|e| {
            AppendError::Backend(StoreError::Corrupt(format!(
                "stored receipt of request {:?}: {e}",
                w.request_id
            )))
        })?;
        receipt.replayed = true;
        return Ok(receipt);
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
    let fill = |bytes: &[u8]| -> Vec<u8> {
        match &numbered {
            Some((placeholder, reference)) => {
                replace_bytes(bytes, placeholder.as_bytes(), reference.as_bytes())
            }
            None => bytes.to_vec(),
        }
    };
    let mut position = head;
    let mut receipts = Vec::with_capacity(w.streams.len());
    for s in &w.streams {
        let current = tx.stream_head(s.stream).await.map_err(sql)?;
        let actual = current.as_ref().map(|(v, _)| *v);
        let matches = match s.expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual.is_none(),
            ExpectedVersion::Exact(v) => actual == Some(v),
        };
        if !matches {
            return Err(AppendError::Conflict {
                stream: s.stream,
                expected: s.expected,
                actual,
            });
        }
        let (mut version, mut prev_hash) = match current {
            Some((v, h)) => (
                v,
                Hash::from_slice(&h).map_err(|m| {
                    AppendError::Backend(StoreError::Corrupt(format!(
                        "stream {} head hash: {m}",
                        s.stream
                    )))
                })?,
            ),
            None => (0, GENESIS),
        };
        let first_version = version + 1;
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
            tx.insert_event(&recorded).await.map_err(|e| match &e {
                // Cannot happen under the log lock; kept as a typed answer should it ever.
                sqlx::Error::Database(db) if db.is_unique_violation() => AppendError::Conflict {
                    stream: s.stream,
                    expected: s.expected,
                    actual,
                },
                _ => sql(e),
            })?;
        }
        receipts.push(StreamReceipt {
            stream: s.stream,
            first_version,
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
    };
    for row in &w.summaries {
        let mut row = row.clone();
        if let Some((placeholder, reference)) = &numbered {
            row.reference = row.reference.replace(placeholder, reference);
        }
        let row = &row;
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
