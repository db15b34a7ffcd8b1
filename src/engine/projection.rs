//! The read model: the summary row each write stores with its events (in the same
//! transaction), and its rebuild from the log.

#[allow(unused_imports)]
use super::*;

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
        let mut states: std::collections::BTreeMap<StreamId, (CaseState, u64, DateTime<Utc>)> =
            std::collections::BTreeMap::new();
        let failed = crate::store::scan_log(&self.store, 1, None, |r| {
            let e = match decode(r) {
                Ok(e) => e,
                Err(err) => return std::ops::ControlFlow::Break(err),
            };
            let entry = states
                .entry(r.stream)
                .or_insert_with(|| (CaseState::new(e.procedure()), 0, r.recorded_at));
            let state = std::mem::replace(&mut entry.0, CaseState::new(e.procedure()));
            entry.0 = case::evolve(state, &e);
            entry.1 = r.version;
            entry.2 = r.recorded_at;
            std::ops::ControlFlow::Continue(())
        })
        .await?;
        if let Some(err) = failed {
            return Err(err);
        }
        let rows: Vec<CaseSummary> = states
            .iter()
            .filter_map(|(stream, (state, version, at))| {
                self.summary(CaseId(stream.0), state)
                    .map(|row| CaseSummary {
                        row,
                        version: *version,
                        updated_at: *at,
                    })
            })
            .collect();
        let n = rows.len();
        self.store.replace_summaries(rows).await?;
        Ok(n)
    }
}
