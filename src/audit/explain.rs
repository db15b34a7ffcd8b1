//! Explained history: every step of a case with its legal and recorded times, actor and role,
//! the rules version in force, the legal basis, the documents, and the state before and after.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    domain::case::{self, CaseState},
    engine::LoadedCase,
};

/// One step of a case's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Version in the case.
    pub version: u64,
    /// Position in the log.
    pub global_position: u64,
    /// Stored event type.
    pub event_type: String,
    /// Legal time.
    pub occurred_at: DateTime<Utc>,
    /// Recorded time.
    pub recorded_at: DateTime<Utc>,
    /// Who acted.
    pub actor: String,
    /// In which role.
    pub role: String,
    /// Rules version in force.
    pub rules_version: u32,
    /// Legal basis cited.
    pub legal_basis: Vec<String>,
    /// Documents referenced.
    pub documents: Vec<String>,
    /// Confidentiality.
    pub confidentiality: String,
    /// State before.
    pub state_before: String,
    /// State after.
    pub state_after: String,
    /// The request that recorded it.
    pub request_id: String,
}

/// Explains every step of a loaded case.
pub fn explain(case: &LoadedCase) -> Vec<Step> {
    let Some((_, first)) = case.events.first() else {
        return Vec::new();
    };
    let mut state = CaseState::new(first.procedure());
    let mut steps = Vec::with_capacity(case.events.len());
    for (r, e) in &case.events {
        let before = state.name();
        state = case::evolve(state, e);
        let meta = e.meta();
        steps.push(Step {
            version: r.version,
            global_position: r.global_position,
            event_type: r.event_type.clone(),
            occurred_at: r.occurred_at,
            recorded_at: r.recorded_at,
            actor: r.actor.clone(),
            role: r.role.clone(),
            rules_version: meta.rules_version,
            legal_basis: meta.legal_basis.iter().map(|c| c.display()).collect(),
            documents: meta
                .documents
                .iter()
                .map(|d| match d.date {
                    Some(date) => format!("{} ({date})", d.symbol),
                    None => d.symbol.clone(),
                })
                .collect(),
            confidentiality: serde_json::to_value(meta.confidentiality)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            state_before: before.to_owned(),
            state_after: state.name().to_owned(),
            request_id: r.request_id.clone(),
        });
    }
    steps
}
