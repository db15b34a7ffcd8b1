//! The read model: the summary row each write stores with its events (in the same
//! transaction), and its rebuild from the log.

#[allow(unused_imports)]
use super::*;
use std::collections::HashMap;

use crate::store::chain::EventRow;

pub(super) fn procedure_name(kind: ProcedureKind) -> &'static str {
    match kind {
        ProcedureKind::Formal => "formal",
        ProcedureKind::Preventive => "preventive",
        ProcedureKind::Interpretative => "interpretative",
        ProcedureKind::Roster => "roster",
    }
}

impl Engine {
    pub(super) fn summary(&self, id: CaseId, state: &CaseState) -> Option<SummaryUpdate> {
        let d = state.describe()?;
        let deadlines = state.deadlines();
        let facts = d.facts;
        Some(SummaryUpdate {
            stream: StreamId(id.0),
            reference: d.reference,
            procedure: procedure_name(state.procedure()).to_owned(),
            state: state.name().to_owned(),
            closed: d.closed,
            requested_state: facts
                .map(|f| f.requested_state.iso_code.clone())
                .unwrap_or_default(),
            requested_state_name: facts
                .map(|f| f.requested_state.name.clone())
                .unwrap_or_default(),
            region: facts
                .map(|f| f.requested_state.region.as_str().to_owned())
                .unwrap_or_default(),
            person_sought: facts
                .map(|f| f.person_sought.name.clone())
                .unwrap_or_default(),
            next_deadline: deadlines.iter().map(|d| d.due).min().map(|d| d.to_string()),
            fires_after: state.next_deadline().map(|d| d.due.to_string()),
            duplicate_key: match state {
                CaseState::Formal(formal::State::Open(f)) => Some(duplicate_key(
                    &f.facts.requested_state.iso_code,
                    &f.referral.decision_symbol,
                )),
                _ => None,
            },
        })
    }

    /// Rebuilds the read model from the log. Returns the number of cases.
    ///
    /// # Errors
    /// `Store` or `Corrupt`.
    pub async fn rebuild_projections(&self) -> Result<usize, EngineError> {
        let states = replay_log(&self.store).await?;
        let rows: Vec<CaseSummary> = states
            .iter()
            .filter_map(|(stream, folded)| {
                self.summary(CaseId(stream.0), &folded.state)
                    .map(|row| CaseSummary {
                        row,
                        version: folded.version,
                        updated_at: folded.recorded_at,
                    })
            })
            .collect();
        let n = rows.len();
        self.store.replace_summaries(rows).await?;
        Ok(n)
    }
}

/// A case as the whole log folds it.
pub struct Folded {
    /// The state after its last event.
    pub state: CaseState,
    /// Its version (the last event's).
    pub version: u64,
    /// When its last event was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// Replays the whole log: every event decoded and every case folded, in log order. Events
/// are decoded on every core as they are read ([`crate::store::scan_log_parallel`]); the
/// cases are folded in log order as the decoded chunks come back.
///
/// # Errors
/// `Store` if the log cannot be read, `Corrupt` at the first event that cannot be decoded.
pub async fn replay_log(
    store: &impl EventStore,
) -> Result<std::collections::BTreeMap<StreamId, Folded>, EngineError> {
    let mut states: HashMap<StreamId, Folded> = HashMap::new();
    let failed =
        crate::store::scan_log_parallel(store, crate::store::EventColumns, Decoded::of, |chunk| {
            for d in chunk.drain(..) {
                let d = match d {
                    Ok(d) => d,
                    Err(err) => return std::ops::ControlFlow::Break(err),
                };
                let f = states.entry(d.stream).or_insert_with(|| Folded {
                    state: CaseState::new(d.event.procedure()),
                    version: 0,
                    recorded_at: d.recorded_at,
                });
                let state = std::mem::replace(&mut f.state, CaseState::new(d.event.procedure()));
                f.state = case::evolve(state, &d.event);
                f.version = d.version;
                f.recorded_at = d.recorded_at;
            }
            std::ops::ControlFlow::Continue(())
        })
        .await?;
    match failed {
        Some(err) => Err(err),
        None => Ok(states.into_iter().collect()),
    }
}

/// A stored event as replay folds it: decoded (on the thread that read it) and placed.
struct Decoded {
    stream: StreamId,
    version: u64,
    recorded_at: DateTime<Utc>,
    /// In place, not boxed: the chunks' vectors are recycled, so a decoded event costs no
    /// allocation of its own (an event is about 300 bytes; its large parts are boxed).
    event: CaseEvent,
}

impl Decoded {
    fn of(r: &EventRow<'_>) -> Result<Self, EngineError> {
        let event = decode_at(
            r.event_type,
            r.schema_version,
            r.payload,
            (r.case_id, r.version, r.global_position),
        )?;
        Ok(Decoded {
            stream: r.stream()?,
            version: r.version,
            recorded_at: r.recorded_at()?,
            event,
        })
    }
}
