//! The engine: the one write path for every command, user or system, and the reads.
//!
//! Rooms: this file (the engine, its errors and answers), `write` (the write path: open,
//! execute, idempotency, commit, retries), `reads` (current state, resolve, a case as of a
//! point in its history), `committer` (group commit), `cache` (folded states, LRU),
//! `projection` (the read model's rows and their rebuild, whole-log replay), `references`
//! (case references, duplicate referrals), `scheduler` (deadlines), `roster` (Bureau terms),
//! `identity` (regions and the rules in force from the roster), `tail` (the node's follower of
//! the log), `commands` (API commands to domain ones).
//!
//! Write path: idempotency check by request id → load the case (fold its events) → decide
//! (authorization is part of the domain's decision) → append events **and** the read-model row
//! in one transaction, with the case's loaded version as expected version → wake watchers.
//! A conflict on an implicit expected version is retried a bounded number of times; on an
//! explicit one it goes back to the caller.
//!
//! Reads: cases as of any version, recorded time or legal time (from the log), lists (from the
//! read model), history. The deadline scheduler ([`Engine::fire_due_deadlines`]) is just another
//! caller of the write path, with deterministic request ids so that several nodes sharing one
//! database never double-fire.

mod cache;
pub mod commands;
mod committer;
pub mod identity;
mod projection;
pub use projection::{Folded, replay_log};
mod reads;
mod references;
mod roster;
mod scheduler;

/// The Bureau terms' (stream, version) and the rules in force they gave.
type RulesCacheEntry = (Vec<(CaseId, u64)>, identity::RulesInForce);
pub mod tail;
mod write;

use std::{future::Future, sync::Arc};

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    clock::{Clock, IdSource},
    domain::{
        ActMeta, CaseId, Context, Principal, ProcedureKind, ProcedureRules, Rejection,
        case::{self, CaseEvent, CaseState},
        codec, formal, preventive,
    },
    store::{
        AnyStore, AppendError, CaseSummary, EventStore, ExpectedVersion, NewEvent, RecordedEvent,
        ReferenceSlot, StoreError, StreamAppend, StreamId, SummaryUpdate, Write, chain::Hash,
    },
};

pub use commands::{ApiCommand, OpenCommand, SharedAction};
pub use committer::MAX_BATCH;
use committer::{Pending, group_committer};
use projection::procedure_name;

/// How many times a write is retried after a concurrent update when the caller gave no
/// expected version.
const MAX_ATTEMPTS: usize = 16;

/// Why the engine did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A field of the request is missing or malformed.
    #[error("invalid {field}: expected {expected}")]
    Invalid {
        /// Field path.
        field: String,
        /// What was expected.
        expected: String,
    },
    /// No such case.
    #[error("case {0} not found")]
    NotFound(String),
    /// The domain refused the command.
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// The case was not at the expected version.
    #[error("concurrent update: the case is at version {actual}, the request expected {expected}")]
    Conflict {
        /// The version the caller expected.
        expected: u64,
        /// The case's version.
        actual: u64,
    },
    /// The case kept changing under an implicit expected version; the bounded retries ran out.
    #[error("the case changed {attempts} times while the command was being applied")]
    Contention {
        /// Attempts made.
        attempts: usize,
    },
    /// The request id was used before with other content.
    #[error("request id {0:?} was already used for a different request")]
    DuplicateRequest(String),
    /// A stored event could not be read (a bug or a newer schema).
    #[error("stored event cannot be read: {0}")]
    Corrupt(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Rejection> for EngineError {
    fn from(r: Rejection) -> Self {
        EngineError::Rejected(r)
    }
}

/// A case loaded from the log.
#[derive(Debug, Clone)]
pub struct LoadedCase {
    /// Its id.
    pub id: CaseId,
    /// Its state (shared with the engine's cache when it is the latest).
    pub state: Arc<CaseState>,
    /// Its version (number of events folded).
    pub version: u64,
    /// The events folded, as stored and as decoded.
    pub events: Vec<(RecordedEvent, CaseEvent)>,
}

/// What a write returns.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The case after the write.
    pub case: LoadedCase,
    /// The events this request recorded on it.
    pub recorded: Vec<RecordedEvent>,
    /// A second case opened by the same decision (escalation).
    pub opened: Option<CaseId>,
    /// `true` when this is the stored answer to an earlier identical request.
    pub replayed: bool,
}

/// A point in a case's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Now.
    Latest,
    /// After this version.
    Version(u64),
    /// After the events recorded up to this time.
    Recorded(DateTime<Utc>),
    /// After the events whose legal time is up to this time.
    Legal(DateTime<Utc>),
}

/// Request ids that start with this are the deadline scheduler's own; clients may not use them.
pub const SCHEDULER_REQUEST_PREFIX: &str = "deadline:";

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: AnyStore,
    /// Where reads that may lag go (`serve --read-db`, a standby); `None`: [`Engine::store`].
    reads: Option<AnyStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    defaults: ProcedureRules,
    head: watch::Sender<u64>,
    committer: Option<tokio::sync::mpsc::Sender<Pending>>,
    cache: Arc<std::sync::Mutex<cache::StateCache>>,
    /// The rules in force, with the versions of the Bureau terms they were read from
    /// ([`Engine::rules_in_force`]).
    rules_cache: Arc<std::sync::Mutex<Option<RulesCacheEntry>>>,
    /// Cases whose deadline could not be recorded, with the version at which it failed.
    set_aside: Arc<std::sync::Mutex<std::collections::HashMap<CaseId, u64>>>,
    /// The node's follower of the log, for streams.
    tail: tail::Tail,
    /// Request ids being worked on by this node (see [`Engine::once`]).
    inflight: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

fn fingerprint(parts: &impl Serialize) -> Hash {
    let bytes = serde_json::to_vec(parts).unwrap_or_default();
    Hash(Sha256::digest(&bytes).into())
}

impl Engine {
    /// An engine over `store`, with the default rules pinned into new cases.
    pub fn new(
        store: AnyStore,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        defaults: ProcedureRules,
    ) -> Self {
        let (head, _) = watch::channel(0);
        // Inside a runtime (the server, tests, tools) writes go through the group committer.
        let committer = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let (tx, rx) = tokio::sync::mpsc::channel(1024);
            rt.spawn(group_committer(store.clone(), rx));
            tx
        });
        Engine {
            store,
            reads: None,
            clock,
            ids,
            defaults,
            head,
            committer,
            cache: Arc::default(),
            rules_cache: Arc::default(),
            inflight: Arc::default(),
            set_aside: Arc::default(),
            tail: tail::Tail::default(),
        }
    }

    /// Serves the reads that may lag ([`Engine::load`], and through the API `ListCases`,
    /// `GetHistory` and `EventLog.Subscribe`) from `reads`, e.g. a PostgreSQL standby. Writes,
    /// and the reads that decide a write, always go to the primary store.
    #[must_use]
    pub fn with_read_store(mut self, reads: AnyStore) -> Self {
        self.reads = Some(reads);
        self
    }

    /// The store for reads that may lag: the read store if there is one, else the store.
    pub fn read_store(&self) -> &AnyStore {
        self.reads.as_ref().unwrap_or(&self.store)
    }

    /// Whether reads go to a separate store ([`Engine::with_read_store`]).
    pub fn reads_elsewhere(&self) -> bool {
        self.reads.is_some()
    }

    /// The node's follower of the log (run by the server; streams register with it).
    pub fn tail(&self) -> &tail::Tail {
        &self.tail
    }

    /// The store.
    pub fn store(&self) -> &AnyStore {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The default rules for new cases.
    pub fn default_rules(&self) -> &ProcedureRules {
        &self.defaults
    }

    /// Wakes when this node commits (the value is the last position written). Readers must
    /// still read the log: other nodes' writes arrive only there.
    pub fn subscribe_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}

/// Decodes a stored event (upcasting old schema versions); a failure names where it is.
fn decode(r: &RecordedEvent) -> Result<CaseEvent, EngineError> {
    decode_at(
        &r.event_type,
        r.schema_version,
        &r.payload,
        (r.stream, r.version, r.global_position),
    )
}

/// [`decode`] from the stored columns; a failure names the case, version and position.
fn decode_at(
    event_type: &str,
    schema_version: u32,
    payload: &[u8],
    (case, version, position): (impl std::fmt::Display, u64, u64),
) -> Result<CaseEvent, EngineError> {
    codec::decode(event_type, schema_version, payload).map_err(|e| {
        EngineError::Corrupt(format!(
            "case {case} version {version} (position {position}): {e}"
        ))
    })
}

/// A request id as stored: scoped to the caller, so that one caller can neither replay nor
/// squat another's ids. `<length of subject>:<subject>:<request id>` is unambiguous whatever
/// the subject contains.
pub fn scoped_request_id(principal: &Principal, request_id: &str) -> String {
    format!(
        "{}:{}:{request_id}",
        principal.subject.len(),
        principal.subject
    )
}

/// The duplicate-referral key of a formal case: the State's ISO code and the Court decision's
/// symbol, upper-cased and without white space (`icc-02/05-01/09-309` and
/// `ICC-02/05-01/09-309` are one decision).
pub fn duplicate_key(iso: &str, decision_symbol: &str) -> String {
    let norm = |v: &str| -> String {
        v.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect()
    };
    format!("{}|{}", norm(iso), norm(decision_symbol))
}

fn kind_of(event_type: &str) -> Result<ProcedureKind, EngineError> {
    match event_type.split('.').next() {
        Some("formal") => Ok(ProcedureKind::Formal),
        Some("preventive") => Ok(ProcedureKind::Preventive),
        Some("interpretative") => Ok(ProcedureKind::Interpretative),
        Some("roster") => Ok(ProcedureKind::Roster),
        _ => Err(EngineError::Corrupt(format!(
            "unknown event type {event_type:?}"
        ))),
    }
}

fn append_error(e: AppendError, expected: Option<u64>) -> EngineError {
    match e {
        AppendError::Conflict { actual, .. } => EngineError::Conflict {
            expected: expected.unwrap_or_default(),
            actual: actual.unwrap_or_default(),
        },
        AppendError::DuplicateRequest { request_id } => EngineError::DuplicateRequest(request_id),
        AppendError::Invalid(m) => EngineError::Invalid {
            field: "request_id".into(),
            expected: m,
        },
        AppendError::ReferenceTaken { reference, .. } => {
            EngineError::Corrupt(format!("reference {reference} is taken"))
        }
        AppendError::KeyTaken { key, existing } => {
            EngineError::Corrupt(format!("key {key} is held by case {existing}"))
        }
        AppendError::Backend(s) => EngineError::Store(s),
    }
}
