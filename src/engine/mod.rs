//! The engine: the one write path for every command, user or system, and the reads.
//!
//! Rooms: this file (the write path: open, execute, idempotency, commit; the reads),
//! `committer` (group commit), `cache` (folded states, LRU), `projection` (the read model's
//! rows and their rebuild), `references` (case references, duplicate referrals), `scheduler`
//! (deadlines), `roster` (Bureau terms), `identity` (regions and the rules in force from the
//! roster), `tail` (the node's follower of the log), `commands` (API commands to domain ones).
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
mod references;
mod roster;
mod scheduler;

/// The Bureau terms' (stream, version) and the rules in force they gave.
type RulesCacheEntry = (Vec<(CaseId, u64)>, identity::RulesInForce);
pub mod tail;

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
    /// Its state.
    pub state: CaseState,
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

    /// The case's current state and version: the cached fold, brought up to date with the
    /// events recorded since (by any node). Correct without invalidation because the log is
    /// append-only: a cached state is always the fold of a prefix of the stream.
    ///
    /// # Errors
    /// `NotFound` for a case with no events; `Corrupt`; `Store`.
    pub async fn current(&self, id: CaseId) -> Result<(CaseState, u64), EngineError> {
        self.state_for(id, true).await
    }

    /// The case's state and version to decide a write on: the cached fold as it is when there
    /// is one and `catch_up` is false (no read: the append's version check catches a write by
    /// another node, and the write path then catches up and tries again), else
    /// [`Engine::current`].
    async fn state_for(&self, id: CaseId, catch_up: bool) -> Result<(CaseState, u64), EngineError> {
        let cached = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(id);
        crate::metrics::cache(cached.is_some());
        if !catch_up && let Some(hit) = cached {
            return Ok(hit);
        }
        let from = cached.as_ref().map_or(1, |(_, v)| v + 1);
        let newer = self.store.read_stream(StreamId(id.0), from, None).await?;
        let (mut state, mut version) = match cached {
            Some(c) => c,
            None => {
                let first = newer
                    .first()
                    .ok_or_else(|| EngineError::NotFound(id.to_string()))?;
                (CaseState::new(kind_of(&first.event_type)?), 0)
            }
        };
        if newer.is_empty() {
            return Ok((state, version));
        }
        for r in &newer {
            let e = decode(r)?;
            state = case::evolve(state, &e);
            version = r.version;
        }
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(id, state.clone(), version);
        Ok((state, version))
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

    /// Resolves a case id or human reference.
    ///
    /// # Errors
    /// `NotFound` when neither matches; `Store` on failure.
    pub async fn resolve(&self, id_or_reference: &str) -> Result<CaseId, EngineError> {
        if let Ok(id) = Uuid::parse_str(id_or_reference) {
            return Ok(CaseId(id));
        }
        match self.store.find_by_reference(id_or_reference).await? {
            Some(s) => Ok(CaseId(s.0)),
            None => Err(EngineError::NotFound(id_or_reference.to_owned())),
        }
    }

    /// Loads a case as of a point in its history.
    ///
    /// # Errors
    /// `NotFound` for a case with no events; `Corrupt` if an event cannot be decoded.
    pub async fn load(&self, id: CaseId, as_of: AsOf) -> Result<LoadedCase, EngineError> {
        let stored = self
            .read_store()
            .read_stream(StreamId(id.0), 1, None)
            .await?;
        let Some(first) = stored.first() else {
            return Err(EngineError::NotFound(id.to_string()));
        };
        let kind = kind_of(&first.event_type)?;
        let mut state = CaseState::new(kind);
        let mut events = Vec::with_capacity(stored.len());
        let mut version = 0;
        for r in stored {
            let include = match as_of {
                AsOf::Latest => true,
                AsOf::Version(v) => r.version <= v,
                AsOf::Recorded(t) => r.recorded_at <= t,
                AsOf::Legal(t) => r.occurred_at <= t,
            };
            if !include {
                continue;
            }
            let e = decode(&r)?;
            state = case::evolve(state, &e);
            version = r.version;
            events.push((r, e));
        }
        if events.is_empty() {
            return Err(EngineError::NotFound(format!(
                "{id} (nothing recorded at that point)"
            )));
        }
        Ok(LoadedCase {
            id,
            state,
            version,
            events,
        })
    }

    fn to_new_events(&self, events: &[CaseEvent]) -> Result<Vec<NewEvent>, EngineError> {
        events
            .iter()
            .map(|e| {
                let env = codec::encode(e);
                match codec::decode(&env.event_type, env.schema_version, &env.payload) {
                    Ok(back) if back == *e => {}
                    Ok(_) => {
                        return Err(EngineError::Invalid {
                            field: "command".into(),
                            expected: format!(
                                "values that the log can store and read back unchanged ({} does not round-trip)",
                                env.event_type
                            ),
                        });
                    }
                    Err(err) => {
                        return Err(EngineError::Invalid {
                            field: "command".into(),
                            expected: format!(
                                "values that the log can store and read back ({err})"
                            ),
                        });
                    }
                }
                let meta = e.meta();
                Ok(NewEvent {
                    event_type: env.event_type,
                    schema_version: env.schema_version,
                    payload: env.payload,
                    occurred_at: meta.occurred_at,
                    actor: meta.actor.clone(),
                    role: meta.role.as_str().to_owned(),
                })
            })
            .collect()
    }

    async fn replay_request(
        &self,
        request_id: &str,
        fp: Hash,
    ) -> Result<Option<Outcome>, EngineError> {
        let Some(stored) = self.store.lookup_request(request_id).await? else {
            return Ok(None);
        };
        if stored.fingerprint != fp {
            return Err(EngineError::DuplicateRequest(request_id.to_owned()));
        }
        self.outcome_of(&stored.receipt, true).await.map(Some)
    }

    async fn outcome_of(
        &self,
        receipt: &crate::store::AppendReceipt,
        replayed: bool,
    ) -> Result<Outcome, EngineError> {
        let first = receipt
            .streams
            .first()
            .ok_or_else(|| EngineError::Corrupt("a receipt without streams".into()))?;
        let id = CaseId(first.stream.0);
        let (state, version) = self.current(id).await?;
        let count = u32::try_from(first.last_version - first.first_version + 1).unwrap_or(u32::MAX);
        let recorded = self
            .store
            .read_stream(first.stream, first.first_version, Some(count))
            .await?;
        let events = recorded
            .iter()
            .map(|r| decode(r).map(|e| (r.clone(), e)))
            .collect::<Result<Vec<_>, _>>()?;
        // The case now, with the events this request recorded.
        Ok(answer(
            LoadedCase {
                id,
                state,
                version,
                events,
            },
            recorded,
            receipt,
            replayed,
        ))
    }

    /// A write of a decision's events to one case, with the case's new read-model row.
    fn single_write(
        &self,
        request_id: &str,
        fp: Hash,
        id: CaseId,
        expected: ExpectedVersion,
        events: &[CaseEvent],
        new_state: &CaseState,
    ) -> Result<Write, EngineError> {
        Ok(Write {
            request_id: request_id.to_owned(),
            correlation_id: None,
            streams: vec![StreamAppend {
                stream: StreamId(id.0),
                expected,
                events: self.to_new_events(events)?,
            }],
            fingerprint: Some(fp),
            summaries: self.summary(id, new_state).into_iter().collect(),
            reference: None,
        })
    }

    /// Appends `write`, decided on `before` (the first stream's state at the version the write
    /// expects); `Ok(None)` when the attempt lost a race it may retry (a taken reference, or a
    /// version conflict when `retry_conflicts`).
    async fn commit(
        &self,
        write: Write,
        before: &CaseState,
        decided: &[CaseEvent],
        retry_conflicts: bool,
        expected: Option<u64>,
    ) -> Result<Option<Outcome>, EngineError> {
        let first = write.streams.first().map(|s| CaseId(s.stream.0));
        // Without a reference to number, the stored payloads are the decided events' own
        // encoding (checked to read back unchanged): no need to decode them again.
        let decided = match write.reference {
            None => decided,
            Some(_) => &[],
        };
        match self.append(write).await {
            Ok(receipt) if receipt.replayed => {
                self.committed(receipt.last_position);
                self.outcome_of(&receipt, true).await.map(Some)
            }
            Ok(receipt) => {
                self.committed(receipt.last_position);
                self.written_outcome(receipt, before, decided).map(Some)
            }
            // Lost a race for a reference or a duplicate key: the next attempt sees the winner.
            Err(AppendError::ReferenceTaken { .. } | AppendError::KeyTaken { .. }) => Ok(None),
            Err(e @ AppendError::Conflict { .. }) => {
                // Another writer (maybe another node) got there first: bring the cached fold
                // up to date before anyone decides on it again.
                if let Some(id) = first {
                    match self.state_for(id, true).await {
                        Ok(_) | Err(EngineError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                if retry_conflicts {
                    Ok(None)
                } else {
                    Err(append_error(e, expected))
                }
            }
            Err(e) => Err(append_error(e, expected)),
        }
    }

    /// The outcome of a write, from what was written (no read): the first stream's events as
    /// stored (with their numbered reference) folded onto `before`; `decided`, when not empty,
    /// are those events already decoded. The new state goes into the cache.
    fn written_outcome(
        &self,
        mut receipt: crate::store::AppendReceipt,
        before: &CaseState,
        decided: &[CaseEvent],
    ) -> Result<Outcome, EngineError> {
        let written = std::mem::take(&mut receipt.events);
        let first = receipt
            .streams
            .first()
            .ok_or_else(|| EngineError::Corrupt("a receipt without streams".into()))?;
        let id = CaseId(first.stream.0);
        let recorded: Vec<RecordedEvent> = written
            .into_iter()
            .filter(|e| e.stream == first.stream)
            .collect();
        let mut state = before.clone();
        let mut events = Vec::with_capacity(recorded.len());
        let reuse = decided.len() == recorded.len();
        for (i, r) in recorded.iter().enumerate() {
            let e = match decided.get(i) {
                Some(e) if reuse => e.clone(),
                _ => decode(r)?,
            };
            state = case::evolve(state, &e);
            events.push((r.clone(), e));
        }
        let version = first.last_version;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(id, state.clone(), version);
        Ok(answer(
            LoadedCase {
                id,
                state,
                version,
                events,
            },
            recorded,
            &receipt,
            false,
        ))
    }

    fn committed(&self, position: u64) {
        self.head.send_if_modified(|h| {
            if position > *h {
                *h = position;
                true
            } else {
                false
            }
        });
    }

    /// Opens a case (A1 or B1).
    ///
    /// # Errors
    /// `Rejected` for a domain rejection, `DuplicateRequest`, `Store`.
    pub async fn open(
        &self,
        principal: &Principal,
        request_id: &str,
        cmd: OpenCommand,
    ) -> Result<Outcome, EngineError> {
        let scoped = scoped_request_id(principal, request_id);
        let request_id = scoped.as_str();
        let fp = fingerprint(&("open", &cmd, principal));
        self.once(
            request_id,
            fp,
            self.open_new(principal, request_id, fp, cmd),
        )
        .await
    }

    /// A formal opening's duplicate-referral look-up (`None` for other procedures).
    async fn existing_for_open(&self, cmd: &OpenCommand) -> Result<Option<CaseId>, EngineError> {
        match cmd {
            OpenCommand::Formal {
                facts, referral, ..
            } => {
                self.existing_case_for(&facts.requested_state.iso_code, &referral.decision_symbol)
                    .await
            }
            OpenCommand::Preventive { .. } | OpenCommand::Interpretative { .. } => Ok(None),
        }
    }

    async fn open_new(
        &self,
        principal: &Principal,
        request_id: &str,
        fp: Hash,
        cmd: OpenCommand,
    ) -> Result<Outcome, EngineError> {
        let (kind, act) = match &cmd {
            OpenCommand::Formal { act, .. } => (ProcedureKind::Formal, act.clone()),
            OpenCommand::Preventive { act, .. } => (ProcedureKind::Preventive, act.clone()),
            OpenCommand::Interpretative { act, .. } => (ProcedureKind::Interpretative, act.clone()),
        };
        let case_id = CaseId(self.ids.new_id());
        let ctx = Context {
            now: self.clock.now(),
            principal: principal.clone(),
        };
        let state = CaseState::new(kind);
        // The Bureau's rules in force, not the opener's (issue 13 item 7).
        let in_force = self.rules_in_force(ctx.now).await?.rules;
        for _ in 0..MAX_ATTEMPTS {
            // Looked up again on every attempt: a retry after a lost race sees the winner.
            let existing = self.existing_for_open(&cmd).await?;
            let slot = self.reference_slot(kind, act.occurred_at.year());
            let command = cmd.clone().into_case_command(
                case_id,
                slot.placeholder.clone(),
                existing,
                &in_force,
            );
            let decision = case::decide(&state, &command, &ctx)?;
            let new_state = decision.events.iter().fold(state.clone(), case::evolve);
            let mut write = self.single_write(
                request_id,
                fp,
                case_id,
                ExpectedVersion::NoStream,
                &decision.events,
                &new_state,
            )?;
            write.reference = Some(slot);
            if let Some(outcome) = self
                .commit(write, &state, &decision.events, false, None)
                .await?
            {
                return Ok(outcome);
            }
        }
        Err(EngineError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Runs `work` for `request_id` at most once at a time on this node, and gives every
    /// identical request the one outcome: a request whose id is already recorded gets the
    /// stored answer (after waiting for an identical request in flight here to finish); and
    /// one that loses to an identical request committed meanwhile (by this or another node),
    /// and so is refused or conflicts, gets the stored answer too.
    async fn once(
        &self,
        request_id: &str,
        fp: Hash,
        work: impl Future<Output = Result<Outcome, EngineError>>,
    ) -> Result<Outcome, EngineError> {
        let gate = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(request_id.to_owned())
            .or_default()
            .clone();
        let result = async {
            let _turn = gate.lock().await;
            // No look-up first: the append finds a recorded request id in the same
            // transaction (and answers with what it stored); a request refused because its
            // earlier self already moved the case is looked up below.
            match work.await {
                Err(
                    e @ (EngineError::Rejected(_)
                    | EngineError::Conflict { .. }
                    | EngineError::Contention { .. }),
                ) => match self.replay_request(request_id, fp).await? {
                    Some(o) => Ok(o),
                    None => Err(e),
                },
                other => other,
            }
        }
        .await;
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        // The map's handle and ours: nobody else waits, so the entry can go.
        if inflight
            .get(request_id)
            .is_some_and(|g| Arc::ptr_eq(g, &gate) && Arc::strong_count(g) == 2)
        {
            inflight.remove(request_id);
        }
        result
    }

    /// Executes a command on an open case.
    ///
    /// # Errors
    /// `NotFound`, `Rejected`, `Conflict` (explicit expected version), `DuplicateRequest`,
    /// `Invalid` (a command of the other procedure), `Store`.
    pub async fn execute(
        &self,
        principal: &Principal,
        case_id: CaseId,
        expected: Option<u64>,
        request_id: &str,
        act: ActMeta,
        cmd: ApiCommand,
    ) -> Result<Outcome, EngineError> {
        let scoped = scoped_request_id(principal, request_id);
        let request_id = scoped.as_str();
        let fp = fingerprint(&("execute", case_id, expected, &act, &cmd, principal));
        self.once(
            request_id,
            fp,
            self.execute_new(principal, case_id, expected, request_id, fp, act, cmd),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn execute_new(
        &self,
        principal: &Principal,
        case_id: CaseId,
        expected: Option<u64>,
        request_id: &str,
        fp: Hash,
        act: ActMeta,
        cmd: ApiCommand,
    ) -> Result<Outcome, EngineError> {
        for attempt in 0..MAX_ATTEMPTS {
            let (mut state, mut version) = self.state_for(case_id, false).await?;
            if let Some(e) = expected
                && e != version
            {
                // The cached fold may lag another node's writes: look before refusing.
                (state, version) = self.state_for(case_id, true).await?;
                if e != version {
                    return Err(EngineError::Conflict {
                        expected: e,
                        actual: version,
                    });
                }
            }
            let kind = state.procedure();
            let mut slot = None;
            let escalation = match (&cmd, &state) {
                (
                    ApiCommand::CourtReferral(referral),
                    CaseState::Preventive(preventive::State::Open(p)),
                ) => {
                    let id = CaseId(self.ids.new_id());
                    let s = self.reference_slot(ProcedureKind::Formal, act.occurred_at.year());
                    let reference = s.placeholder.clone();
                    slot = Some(s);
                    let existing = self
                        .existing_case_for(
                            &p.facts.requested_state.iso_code,
                            &referral.decision_symbol,
                        )
                        .await?;
                    Some((id, reference, existing))
                }
                _ => None,
            };
            let command = cmd
                .clone()
                .into_case_command(kind, act.clone(), escalation)?;
            let ctx = Context {
                now: self.clock.now(),
                principal: principal.clone(),
            };
            let decision = case::decide(&state, &command, &ctx)?;
            let new_state = decision.events.iter().fold(state.clone(), case::evolve);
            let mut write = self.single_write(
                request_id,
                fp,
                case_id,
                ExpectedVersion::Exact(version),
                &decision.events,
                &new_state,
            )?;
            if let Some((opened_id, opened_events)) = &decision.opened {
                // Escalation: the new formal case is written in the same transaction.
                let opened_state = case::replay(ProcedureKind::Formal, opened_events);
                write.streams.push(StreamAppend {
                    stream: StreamId(opened_id.0),
                    expected: ExpectedVersion::NoStream,
                    events: self.to_new_events(opened_events)?,
                });
                write
                    .summaries
                    .extend(self.summary(*opened_id, &opened_state));
                write.correlation_id = Some(self.ids.new_id());
                write.reference = slot;
            }
            match self
                .commit(
                    write,
                    &state,
                    &decision.events,
                    expected.is_none(),
                    expected,
                )
                .await?
            {
                Some(outcome) => return Ok(outcome),
                None => {
                    tracing::debug!(%case_id, attempt, "concurrent update; retrying");
                    // A short, growing pause lets the competing writers through.
                    tokio::time::sleep(std::time::Duration::from_millis(1 + attempt as u64 * 3))
                        .await;
                }
            }
        }
        Err(EngineError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}

/// The outcome of a write: `case` with the events `recorded` on it, and the second case the
/// receipt names, if any (escalation).
fn answer(
    case: LoadedCase,
    recorded: Vec<RecordedEvent>,
    receipt: &crate::store::AppendReceipt,
    replayed: bool,
) -> Outcome {
    Outcome {
        case,
        recorded,
        opened: receipt.streams.get(1).map(|s| CaseId(s.stream.0)),
        replayed,
    }
}

/// Decodes a stored event (upcasting old schema versions); a failure names where it is.
fn decode(r: &RecordedEvent) -> Result<CaseEvent, EngineError> {
    codec::decode(&r.event_type, r.schema_version, &r.payload).map_err(|e| {
        EngineError::Corrupt(format!(
            "case {} version {} (position {}): {e}",
            r.stream, r.version, r.global_position
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
