//! The write path: the idempotency check by request id, the decision on the current state,
//! the append (through the group committer) with the case's version as the expected version,
//! bounded retries on a concurrent write, and the answer built from what was written.

#[allow(unused_imports)]
use super::*;

impl Engine {
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
    pub(super) fn single_write(
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
    /// expects): `decided` are the first stream's events, `after` their fold onto `before`.
    /// `Ok(None)` when the attempt lost a race it may retry (a taken reference, or a version
    /// conflict when `retry_conflicts`).
    pub(super) async fn commit(
        &self,
        write: Write,
        before: &CaseState,
        decided: &[CaseEvent],
        after: CaseState,
        retry_conflicts: bool,
        expected: Option<u64>,
    ) -> Result<Option<Outcome>, EngineError> {
        let first = write.streams.first().map(|s| CaseId(s.stream.0));
        // Without a reference to number, the stored payloads are the decided events' own
        // encoding (checked to read back unchanged): no need to decode or fold them again.
        let decided = match write.reference {
            None => Some((decided, after)),
            Some(_) => None,
        };
        match self.append(write).await {
            Ok(receipt) if receipt.replayed => {
                self.committed(receipt.last_position);
                Box::pin(self.outcome_of(&receipt, true)).await.map(Some)
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
                    match Box::pin(self.state_for(id, true)).await {
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
    /// stored (with their numbered reference) folded onto `before`; `decided`, when given, are
    /// those events already decoded and their fold. The new state goes into the cache.
    fn written_outcome(
        &self,
        mut receipt: crate::store::AppendReceipt,
        before: &CaseState,
        decided: Option<(&[CaseEvent], CaseState)>,
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
        let (state, events) = match decided {
            Some((decided, after)) if decided.len() == recorded.len() => {
                let events = recorded.iter().cloned().zip(decided.iter().cloned());
                (after, events.collect())
            }
            _ => {
                let mut state = before.clone();
                let mut events = Vec::with_capacity(recorded.len());
                for r in &recorded {
                    let e = decode(r)?;
                    state = case::evolve(state, &e);
                    events.push((r.clone(), e));
                }
                (state, events)
            }
        };
        let state = Arc::new(state);
        let version = first.last_version;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(id, Arc::clone(&state), version);
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
        let work = self.open_new(principal, request_id, fp, cmd);
        self.once(request_id, fp, Box::pin(work)).await
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
                .commit(write, &state, &decision.events, new_state, false, None)
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
    ///
    /// `work` comes boxed: a future holds the futures it awaits inline and is copied whole
    /// each time it is created or moved, and a command's work is the largest part of a
    /// request's (see the store's `boxed!`).
    pub(super) async fn once(
        &self,
        request_id: &str,
        fp: Hash,
        work: std::pin::Pin<Box<impl Future<Output = Result<Outcome, EngineError>>>>,
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
                ) => match Box::pin(self.replay_request(request_id, fp)).await? {
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
        let work = self.execute_new(principal, case_id, expected, request_id, fp, act, cmd);
        self.once(request_id, fp, Box::pin(work)).await
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
            let escalation = match (&cmd, &*state) {
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
            let new_state = decision
                .events
                .iter()
                .fold(CaseState::clone(&state), case::evolve);
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
                    new_state,
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
