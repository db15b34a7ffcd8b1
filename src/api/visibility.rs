//! Need to know: who may see a confidential act, applied the same way in every read path.
//!
//! An act marked `confidential` (its `act.confidentiality`) is seen in full by the roles that
//! run the procedures or keep the record (court liaison, President, Bureau, Secretariat,
//! auditors) and by a focal point whose region is the case's (the requested State's) region.
//! Everyone else (observers, focal points of other regions) receives such an event redacted:
//! its envelope, position and hashes (so the chain still verifies and nothing seems missing),
//! with `redacted = true` and no payload. A case's state for such a caller is folded from the
//! events they may see only ([`visible_case`]), so no read path leaks a confidential fact
//! through the state either.
//!
//! Called by `api::cases` (GetCase, GetHistory, WatchCase, AvailableActions, Execute replies) and
//! `api::eventlog` (Subscribe). `Audit.ExportCase` is open only to roles with need to know.

use crate::{
    domain::{Confidentiality, Principal, Region, Role, case, case::CaseEvent, codec},
    engine::LoadedCase,
    pb,
    store::RecordedEvent,
};

/// Whether `p` sees the confidential acts of a case in `case_region`.
pub fn needs_to_know(p: &Principal, case_region: Option<Region>) -> bool {
    match p.role {
        Role::CourtLiaison
        | Role::President
        | Role::Bureau
        | Role::Secretariat
        | Role::Auditor
        | Role::System => true,
        Role::FocalPoint => case_region.is_some() && p.region == case_region,
        Role::Observer => false,
    }
}

/// Whether a stored event records a confidential act. An event this build cannot decode is
/// treated as confidential (withheld rather than leaked).
pub fn is_confidential(r: &RecordedEvent) -> bool {
    match codec::decode(&r.event_type, r.schema_version, &r.payload) {
        Ok(e) => e.meta().confidentiality == Confidentiality::Confidential,
        Err(_) => true,
    }
}

/// The region of the case an event belongs to is needed only for focal points.
pub fn may_see(p: &Principal, case_region: Option<Region>, r: &RecordedEvent) -> bool {
    needs_to_know(p, case_region) || !is_confidential(r)
}

/// The event as `p` may receive it: whole, or redacted (envelope and hashes kept).
pub fn event_for(
    p: &Principal,
    case_region: Option<Region>,
    r: &RecordedEvent,
) -> pb::RecordedEvent {
    let mut e = super::convert::event(r);
    if !may_see(p, case_region, r) {
        e.payload_json = String::new();
        e.redacted = true;
    }
    e
}

/// The requested State's region of a loaded case.
pub fn region_of(c: &LoadedCase) -> Option<Region> {
    c.state
        .describe()
        .and_then(|d| d.facts.map(|f| f.requested_state.region))
}

/// The case as `p` may see it: unchanged for a caller with need to know; otherwise folded from
/// the events they may see only.
pub fn visible_case(p: &Principal, c: LoadedCase) -> LoadedCase {
    let region = region_of(&c);
    // The loaded events are decoded already: no need to decode them again to ask.
    let confidential = |e: &CaseEvent| e.meta().confidentiality == Confidentiality::Confidential;
    if needs_to_know(p, region) || c.events.iter().all(|(_, e)| !confidential(e)) {
        return c;
    }
    let kind = c.state.procedure();
    let events: Vec<_> = c
        .events
        .into_iter()
        .filter(|(_, e)| !confidential(e))
        .collect();
    let state = events
        .iter()
        .fold(case::CaseState::new(kind), |s, (_, e)| case::evolve(s, e));
    LoadedCase {
        id: c.id,
        state: std::sync::Arc::new(state),
        version: c.version,
        events,
    }
}
