//! The hash chain: how an event's hash is computed, and how a stream or the whole log is checked.
//!
//! Pure code, shared by both backends, the CLI and (later) offline export verification. The byte
//! layout is specified in docs/audit.md; the test `hash_layout_is_the_documented_one` pins it.
//!
//! ```text
//! hash = SHA-256( prev_hash (32 raw bytes)
//!                 || field("aspflow.event.v1")
//!                 || field(global_position) || field(case_id) || field(version)
//!                 || field(event_type) || field(schema_version)
//!                 || field(occurred_at) || field(recorded_at)
//!                 || field(actor) || field(role) || field(request_id) || field(correlation_id)
//!                 || field(payload) )
//! field(x) = u64 big-endian byte length of x || x
//! ```
//! Integers are decimal ASCII, the case id is the lowercase hyphenated UUID, times are
//! [`super::canonical_time`], an absent correlation id is the empty string, and the payload is
//! the stored bytes exactly. Version 1 chains from [`GENESIS`] (32 zero bytes).

use std::{collections::HashMap, fmt};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::{
    CanonicalTime, EventStore, ExpectedVersion, RecordedEvent, StoreError, StreamId, Write,
};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

/// The `prev_hash` of every stream's first event.
pub const GENESIS: Hash = Hash([0; 32]);

impl Hash {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    ///
    /// # Errors
    /// A message naming what was wrong.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let bytes = hex::decode(text).map_err(|e| format!("bad hash {text:?}: {e}"))?;
        Self::from_slice(&bytes)
    }

    /// Takes exactly 32 bytes.
    ///
    /// # Errors
    /// A message naming the length found.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, String> {
        <[u8; 32]>::try_from(bytes)
            .map(Hash)
            .map_err(|_| format!("a hash has 32 bytes, found {}", bytes.len()))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Hash::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Feeds length-prefixed fields into a SHA-256.
struct Fields(Sha256);

impl Fields {
    fn new(prefix: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(prefix);
        Fields(h)
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
        self
    }

    fn finish(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

/// Tag of the hashed layout; a new layout would get a new tag.
pub const LAYOUT_TAG: &str = "aspflow.event.v1";

/// Computes an event's hash from its envelope and `prev_hash` (its own `hash` field is ignored).
pub fn event_hash(e: &RecordedEvent) -> Hash {
    e.with_stored_row(stored_hash)
}

/// An event's columns as the database stores them, borrowed from the row being read: what a
/// scan of the whole log reads, without copying a column ([`super::scan_log_parallel`]).
/// Texts are the stored texts: the case id and correlation id lowercase hyphenated, times
/// [`super::canonical_time`].
#[derive(Debug, Clone, Copy)]
pub struct StoredRow<'a> {
    /// The columns decoding the event needs (position, case, version, type, schema version,
    /// payload, time of recording).
    pub event: EventRow<'a>,
    /// The legal time's text.
    pub occurred_at: &'a str,
    /// Who acted.
    pub actor: &'a str,
    /// In which role.
    pub role: &'a str,
    /// The request id of the write.
    pub request_id: &'a str,
    /// The correlation id's text, if any (hashed as the empty string when there is none).
    pub correlation_id: Option<&'a str>,
    /// Stored `prev_hash`.
    pub prev_hash: Hash,
    /// Stored `hash`.
    pub hash: Hash,
}

/// The columns of a stored event that decoding and placing it need, borrowed from the row
/// being read: what replay reads ([`super::scan::EventColumns`]), half of [`StoredRow`]'s
/// columns (each column read costs a SQLite row about 40 ns).
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    /// Position in the whole log.
    pub global_position: u64,
    /// The case id's text.
    pub case_id: &'a str,
    /// Version within the stream.
    pub version: u64,
    /// Stable type name.
    pub event_type: &'a str,
    /// Payload schema version.
    pub schema_version: u32,
    /// Exact payload bytes.
    pub payload: &'a [u8],
    /// The time of recording's text.
    pub recorded_at: &'a str,
}

impl EventRow<'_> {
    /// The case, its id parsed.
    ///
    /// # Errors
    /// `Corrupt` if the stored text is not a UUID.
    pub fn stream(&self) -> Result<StreamId, StoreError> {
        uuid::Uuid::parse_str(self.case_id)
            .map(StreamId)
            .map_err(|e| StoreError::Corrupt(format!("case_id {:?}: {e}", self.case_id)))
    }

    /// The time of recording, parsed.
    ///
    /// # Errors
    /// `Corrupt` if the stored text is not a time.
    pub fn recorded_at(&self) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        super::parse_canonical_time(self.recorded_at)
    }
}

impl RecordedEvent {
    /// `f` of this event's [`StoredRow`]: its case id, times and correlation id written out
    /// as they are stored (on the stack).
    pub fn with_stored_row<R>(&self, f: impl FnOnce(&StoredRow<'_>) -> R) -> R {
        let (mut stream, mut correlation) = ([0; 36], [0; 36]);
        let (occurred_at, recorded_at) = (
            CanonicalTime::of(self.occurred_at),
            CanonicalTime::of(self.recorded_at),
        );
        f(&StoredRow {
            event: EventRow {
                global_position: self.global_position,
                case_id: self.stream.0.hyphenated().encode_lower(&mut stream),
                version: self.version,
                event_type: &self.event_type,
                schema_version: self.schema_version,
                payload: &self.payload,
                recorded_at: recorded_at.as_str(),
            },
            occurred_at: occurred_at.as_str(),
            actor: &self.actor,
            role: &self.role,
            request_id: &self.request_id,
            correlation_id: self
                .correlation_id
                .map(|c| &*c.hyphenated().encode_lower(&mut correlation)),
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// An event's hash from its stored columns and `prev_hash` (its own `hash` is ignored): the
/// layout of docs/audit.md, over the bytes as stored.
pub fn stored_hash(r: &StoredRow<'_>) -> Hash {
    // Every number is written out on the stack: this runs for every event verified.
    let (mut position, mut version, mut schema) = ([0; 20], [0; 20], [0; 20]);
    let e = &r.event;
    let mut f = Fields::new(&r.prev_hash.0);
    f.field(LAYOUT_TAG.as_bytes())
        .field(decimal(e.global_position, &mut position))
        .field(e.case_id.as_bytes())
        .field(decimal(e.version, &mut version))
        .field(e.event_type.as_bytes())
        .field(decimal(u64::from(e.schema_version), &mut schema))
        .field(r.occurred_at.as_bytes())
        .field(e.recorded_at.as_bytes())
        .field(r.actor.as_bytes())
        .field(r.role.as_bytes())
        .field(r.request_id.as_bytes())
        .field(r.correlation_id.unwrap_or_default().as_bytes())
        .field(e.payload);
    f.finish()
}

/// The decimal ASCII digits of `n`, written into `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// The content fingerprint of a write, for idempotency: everything the caller supplied except
/// the request id itself (and nothing the store adds, such as `recorded_at`).
pub fn write_fingerprint(w: &Write) -> Hash {
    let mut f = Fields::new(b"aspflow.write.v1");
    let correlation = w
        .correlation_id
        .map(|c| c.hyphenated().to_string())
        .unwrap_or_default();
    f.field(correlation.as_bytes());
    for s in &w.streams {
        let expected = match s.expected {
            ExpectedVersion::Any => "any".to_owned(),
            ExpectedVersion::NoStream => "no-stream".to_owned(),
            ExpectedVersion::Exact(v) => format!("exact:{v}"),
        };
        f.field(s.stream.to_string().as_bytes())
            .field(expected.as_bytes());
        for e in &s.events {
            f.field(e.event_type.as_bytes())
                .field(e.schema_version.to_string().as_bytes())
                .field(CanonicalTime::of(e.occurred_at).as_bytes())
                .field(e.actor.as_bytes())
                .field(e.role.as_bytes())
                .field(&e.payload);
        }
    }
    f.finish()
}

/// What is wrong at the first broken link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainBreakKind {
    /// The stored hash is not the hash of the stored envelope: a field or the payload changed.
    HashMismatch {
        /// Recomputed from the stored envelope.
        expected: Hash,
        /// Stored in the `hash` column.
        found: Hash,
    },
    /// The stored `prev_hash` is not the previous event's hash: an event was removed, replaced
    /// or reordered.
    PrevHashMismatch {
        /// The previous event's hash (or the genesis value).
        expected: Hash,
        /// Stored in the `prev_hash` column.
        found: Hash,
    },
    /// Versions of the stream are not 1, 2, 3, ...: an event is missing or moved.
    VersionGap {
        /// The version that should come next.
        expected: u64,
        /// The version found.
        found: u64,
    },
    /// Global positions are not 1, 2, 3, ...: an event is missing from the log.
    PositionGap {
        /// The position that should come next.
        expected: u64,
        /// The position found.
        found: u64,
    },
}

/// The first broken link found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The case (stream) where the chain breaks.
    pub stream: StreamId,
    /// The version of the event at which it breaks.
    pub version: u64,
    /// Its global position.
    pub global_position: u64,
    /// What is wrong.
    #[serde(flatten)]
    pub kind: ChainBreakKind,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "case {} version {} (position {}): ",
            self.stream, self.version, self.global_position
        )?;
        match &self.kind {
            ChainBreakKind::HashMismatch { expected, found } => write!(
                f,
                "hash mismatch: envelope hashes to {expected}, stored hash is {found}"
            ),
            ChainBreakKind::PrevHashMismatch { expected, found } => write!(
                f,
                "prev_hash mismatch: previous event's hash is {expected}, stored prev_hash is {found}"
            ),
            ChainBreakKind::VersionGap { expected, found } => {
                write!(f, "version gap: expected version {expected}, found {found}")
            }
            ChainBreakKind::PositionGap { expected, found } => write!(
                f,
                "position gap: expected global position {expected}, found {found}"
            ),
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Events read.
    pub events_checked: u64,
    /// Distinct streams seen.
    pub streams_checked: u64,
    /// `None` when every link holds.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    /// `true` when no link is broken.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// What checking an event's place in its chain needs: where it is, its stored links, and its
/// hash as recomputed from its stored fields (the costly part, done on any thread).
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Its global position.
    pub global_position: u64,
    /// Its stream.
    pub stream: StreamId,
    /// Its version in the stream.
    pub version: u64,
    /// Its stored `prev_hash`.
    pub prev_hash: Hash,
    /// Its stored `hash`.
    pub hash: Hash,
    /// [`event_hash`] of its stored fields.
    pub recomputed: Hash,
}

impl Link {
    /// The link of an event, its hash recomputed.
    pub fn of(e: &RecordedEvent) -> Self {
        Link {
            global_position: e.global_position,
            stream: e.stream,
            version: e.version,
            prev_hash: e.prev_hash,
            hash: e.hash,
            recomputed: event_hash(e),
        }
    }

    /// The link of a stored row, its hash recomputed from the bytes as stored.
    ///
    /// # Errors
    /// `Corrupt` if the stored case id is not a UUID.
    pub fn of_row(r: &StoredRow<'_>) -> Result<Self, StoreError> {
        Ok(Link {
            global_position: r.event.global_position,
            stream: r.event.stream()?,
            version: r.event.version,
            prev_hash: r.prev_hash,
            hash: r.hash,
            recomputed: stored_hash(r),
        })
    }
}

/// Checks events one at a time, in global order (whole log) or version order (one stream).
#[derive(Debug, Default)]
pub struct ChainVerifier {
    heads: HashMap<StreamId, (u64, Hash)>,
    next_position: Option<u64>,
    events: u64,
    first_break: Option<ChainBreak>,
}

impl ChainVerifier {
    /// A verifier that also checks that global positions run 1, 2, 3, ... (whole-log checks).
    pub fn for_log() -> Self {
        ChainVerifier {
            next_position: Some(1),
            ..Self::default()
        }
    }

    /// A verifier for a single stream (or a subset of the log) that does not check positions.
    pub fn for_streams() -> Self {
        Self::default()
    }

    /// Checks the next event. Returns `false` once a break was found (later events are not
    /// checked: the first break is the one reported).
    pub fn push(&mut self, e: &RecordedEvent) -> bool {
        self.push_link(&Link::of(e))
    }

    /// [`ChainVerifier::push`] for a page of events in order, their hashes computed in
    /// parallel ([`super::par_map`]): each event's hash depends only on its own stored fields
    /// and `prev_hash`, so only the links are checked in order.
    pub fn push_page(&mut self, page: &[RecordedEvent]) -> bool {
        super::par_map(page, Link::of)
            .iter()
            .all(|link| self.push_link(link))
    }

    /// Checks the next event from its [`Link`] (its hash recomputed already, on any thread).
    pub fn push_link(&mut self, e: &Link) -> bool {
        if self.first_break.is_some() {
            return false;
        }
        self.events += 1;
        let brk = |kind| ChainBreak {
            stream: e.stream,
            version: e.version,
            global_position: e.global_position,
            kind,
        };
        if let Some(next) = self.next_position {
            if e.global_position != next {
                self.first_break = Some(brk(ChainBreakKind::PositionGap {
                    expected: next,
                    found: e.global_position,
                }));
                return false;
            }
            self.next_position = Some(next + 1);
        }
        let (expected_version, expected_prev) = match self.heads.get(&e.stream) {
            Some((v, h)) => (v + 1, *h),
            None => (1, GENESIS),
        };
        let kind = if e.version != expected_version {
            Some(ChainBreakKind::VersionGap {
                expected: expected_version,
                found: e.version,
            })
        } else if e.prev_hash != expected_prev {
            Some(ChainBreakKind::PrevHashMismatch {
                expected: expected_prev,
                found: e.prev_hash,
            })
        } else if e.recomputed != e.hash {
            Some(ChainBreakKind::HashMismatch {
                expected: e.recomputed,
                found: e.hash,
            })
        } else {
            None
        };
        if let Some(kind) = kind {
            self.first_break = Some(brk(kind));
            return false;
        }
        self.heads.insert(e.stream, (e.version, e.hash));
        true
    }

    /// The chain head (version, hash) reached for a stream.
    pub fn head(&self, stream: &StreamId) -> Option<(u64, Hash)> {
        self.heads.get(stream).copied()
    }

    /// Ends the check.
    pub fn finish(self) -> VerifyReport {
        VerifyReport {
            events_checked: self.events,
            streams_checked: self.heads.len() as u64,
            first_break: self.first_break,
        }
    }
}

/// Verifies one stream's chain from version 1.
///
/// # Errors
/// [`StoreError`] if the stream cannot be read.
pub async fn verify_stream(
    store: &impl EventStore,
    stream: StreamId,
) -> Result<VerifyReport, StoreError> {
    let mut v = ChainVerifier::for_streams();
    let mut from = 1;
    loop {
        let page = store.read_stream(stream, from, Some(PAGE)).await?;
        let Some(last) = page.last() else { break };
        from = last.version + 1;
        for e in &page {
            if !v.push(e) {
                return Ok(v.finish());
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    Ok(v.finish())
}

const PAGE: u32 = 5_000;

/// Verifies every stream's chain and the gapless global order of the whole log.
///
/// # Errors
/// [`StoreError`] if the log cannot be read.
pub async fn verify_log(store: &impl EventStore) -> Result<VerifyReport, StoreError> {
    let mut v = ChainVerifier::for_log();
    // Hashes are recomputed from the stored bytes on every core as the rows are read; the
    // links are checked in order.
    let failed = super::scan_log_parallel(store, super::AllColumns, Link::of_row, |links| {
        for link in links.drain(..) {
            match link {
                Ok(link) if v.push_link(&link) => {}
                Ok(_) => return std::ops::ControlFlow::Break(None),
                Err(e) => return std::ops::ControlFlow::Break(Some(e)),
            }
        }
        std::ops::ControlFlow::Continue(())
    })
    .await?;
    match failed {
        Some(Some(e)) => Err(e),
        _ => Ok(v.finish()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    fn sample() -> RecordedEvent {
        RecordedEvent {
            global_position: 7,
            stream: StreamId(Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0001)),
            version: 1,
            event_type: "formal.referred".into(),
            schema_version: 1,
            payload: br#"{"a":1}"#.to_vec(),
            occurred_at: Utc.with_ymd_and_hms(2017, 12, 11, 0, 0, 0).unwrap(),
            recorded_at: Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap(),
            actor: "court-liaison".into(),
            role: "court_liaison".into(),
            request_id: "r-1".into(),
            correlation_id: None,
            prev_hash: GENESIS,
            hash: GENESIS,
        }
    }

    /// Pins the layout of docs/audit.md: the same bytes built by hand give the same digest.
    #[test]
    fn hash_layout_is_the_documented_one() {
        let e = sample();
        let mut bytes = vec![0u8; 32];
        for field in [
            "aspflow.event.v1",
            "7",
            "01920000-0000-7000-8000-000000000001",
            "1",
            "formal.referred",
            "1",
            "2017-12-11T00:00:00.000000Z",
            "2026-11-28T12:00:00.000000Z",
            "court-liaison",
            "court_liaison",
            "r-1",
            "",
            r#"{"a":1}"#,
        ] {
            bytes.extend_from_slice(&(field.len() as u64).to_be_bytes());
            bytes.extend_from_slice(field.as_bytes());
        }
        let manual = Hash(Sha256::digest(&bytes).into());
        assert_eq!(event_hash(&e), manual);
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = event_hash(&sample());
        type Change = Box<dyn Fn(&mut RecordedEvent)>;
        let variants: Vec<Change> = vec![
            Box::new(|e| e.global_position += 1),
            Box::new(|e| e.version += 1),
            Box::new(|e| e.event_type.push('x')),
            Box::new(|e| e.schema_version += 1),
            Box::new(|e| e.occurred_at += chrono::Duration::microseconds(1)),
            Box::new(|e| e.recorded_at += chrono::Duration::microseconds(1)),
            Box::new(|e| e.actor.push('x')),
            Box::new(|e| e.role.push('x')),
            Box::new(|e| e.request_id.push('x')),
            Box::new(|e| e.correlation_id = Some(Uuid::nil())),
            Box::new(|e| e.payload.push(b' ')),
            Box::new(|e| e.prev_hash = Hash([1; 32])),
            Box::new(|e| e.stream = StreamId(Uuid::from_u128(1))),
        ];
        for change in variants {
            let mut e = sample();
            change(&mut e);
            assert_ne!(event_hash(&e), base);
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = sample();
        a.actor = "ab".into();
        a.role = "c".into();
        let mut b = sample();
        b.actor = "a".into();
        b.role = "bc".into();
        assert_ne!(event_hash(&a), event_hash(&b));
    }

    #[test]
    fn verifier_reports_first_break() {
        let mut e1 = sample();
        e1.global_position = 1;
        e1.hash = event_hash(&e1);
        let mut e2 = sample();
        e2.global_position = 2;
        e2.version = 2;
        e2.prev_hash = e1.hash;
        e2.hash = event_hash(&e2);
        let mut v = ChainVerifier::for_log();
        assert!(v.push(&e1) && v.push(&e2));
        assert!(v.finish().is_intact());

        let mut tampered = e2.clone();
        tampered.payload = b"{}".to_vec();
        let mut v = ChainVerifier::for_log();
        v.push(&e1);
        v.push(&tampered);
        let brk = v.finish().first_break.expect("break");
        assert_eq!(brk.version, 2);
        assert!(matches!(brk.kind, ChainBreakKind::HashMismatch { found, .. } if found == e2.hash));
    }
}
