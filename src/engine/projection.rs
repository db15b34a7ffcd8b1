//! The read model: the summary row each write stores with its events (in the same
//! transaction), and its rebuild from the log.

#[allow(unused_imports)]
use super::*;
use std::collections::HashMap;

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

/// Replays the whole log: every event decoded and every case folded, in log order. The cases
/// are shared out among as many threads as the machine has cores (by case id: each case's
/// events are folded in order by one thread) and a page of the log is worked on by all of
/// them while the next page is read.
///
/// # Errors
/// `Store` if the log cannot be read, `Corrupt` at the first event that cannot be decoded.
pub async fn replay_log(
    store: &impl EventStore,
) -> Result<std::collections::BTreeMap<StreamId, Folded>, EngineError> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut shards: Vec<HashMap<StreamId, Folded>> = (0..threads).map(|_| HashMap::new()).collect();
    let failed = crate::store::scan_log_pages(store, 1, None, |page| {
        let fold = |(k, shard): (usize, &mut HashMap<StreamId, Folded>)| {
            fold_shard(page, |r| shard_of(r.stream, threads) == k, shard)
        };
        let errors: Vec<(u64, EngineError)> = if page.len() < 512 {
            // A short page is not worth threads: the shards are folded one after the other.
            shards.iter_mut().enumerate().filter_map(fold).collect()
        } else {
            crate::store::on_threads(shards.iter_mut().enumerate().collect(), fold)
                .into_iter()
                .flatten()
                .collect()
        };
        // The first undecodable event in log order, whichever thread met it.
        match errors.into_iter().min_by_key(|(position, _)| *position) {
            Some((_, err)) => std::ops::ControlFlow::Break(err),
            None => std::ops::ControlFlow::Continue(()),
        }
    })
    .await?;
    match failed {
        Some(err) => Err(err),
        None => Ok(shards.into_iter().flatten().collect()),
    }
}

/// Which of `threads` threads folds `stream` during a replay.
fn shard_of(stream: StreamId, threads: usize) -> usize {
    (stream.0.as_u128() % threads as u128) as usize
}

/// Decodes and folds the events of `page` that `mine` picks, in order, into `states`; stops at
/// the first event that cannot be decoded and returns it with its position.
fn fold_shard(
    page: &[RecordedEvent],
    mine: impl Fn(&RecordedEvent) -> bool,
    states: &mut HashMap<StreamId, Folded>,
) -> Option<(u64, EngineError)> {
    for r in page.iter().filter(|r| mine(r)) {
        let e = match decode(r) {
            Ok(e) => e,
            Err(err) => return Some((r.global_position, err)),
        };
        let f = states.entry(r.stream).or_insert_with(|| Folded {
            state: CaseState::new(e.procedure()),
            version: 0,
            recorded_at: r.recorded_at,
        });
        let state = std::mem::replace(&mut f.state, CaseState::new(e.procedure()));
        f.state = case::evolve(state, &e);
        f.version = r.version;
        f.recorded_at = r.recorded_at;
    }
    None
}
