//! Test helpers for the deciders: given / when / then (STYLE.md habit 9) and builders of the
//! historical cases' facts.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use super::{
    CaseFacts, CaseId, Context, CooperationRequest, PersonSought, Principal, Region, Rejection,
    RequestKind, RequestedState, Role, Situation, StateStatus, TriggerMechanism,
    case::{self, CaseCommand, CaseEvent, CaseState, Decision},
};

/// Midday UTC on a date.
pub fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
        .single()
        .expect("valid date")
}

/// A date.
pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// A fixed case id.
pub fn id(n: u128) -> CaseId {
    CaseId(Uuid::from_u128(n))
}

/// A context: `role` acting at `now`.
pub fn ctx(role: Role, now: DateTime<Utc>) -> Context {
    Context {
        now,
        principal: Principal::new(format!("{}-1", role.as_str()), role),
    }
}

/// Facts of the Al Bashir cases for a host State.
pub fn bashir_facts(iso: &str, name: &str, region: Region) -> CaseFacts {
    CaseFacts {
        requested_state: RequestedState {
            iso_code: iso.into(),
            name: name.into(),
            status: StateStatus::StateParty,
            region,
        },
        person_sought: PersonSought {
            name: "Omar Hassan Ahmad Al Bashir".into(),
            case_number: "ICC-02/05-01/09".into(),
            warrant_dates: vec![date(2009, 3, 4), date(2010, 7, 12)],
        },
        situation: Situation {
            name: "Darfur, Sudan".into(),
            trigger_mechanism: TriggerMechanism::UnscReferral,
            unsc_resolution: Some("S/RES/1593 (2005)".into()),
        },
        request: CooperationRequest {
            kind: RequestKind::ArrestAndSurrender,
            transmitted_on: date(2009, 3, 6),
            outstanding: true,
        },
    }
}

/// Replays `given` for a new stream of the command's procedure, decides `when` as `ctx`.
#[track_caller]
pub fn decide_after(
    given: &[CaseEvent],
    when: &CaseCommand,
    ctx: &Context,
) -> Result<Decision, Rejection> {
    let state = case::replay(when.procedure(), given);
    case::decide(&state, when, ctx)
}

/// Given events, when a command, then these events (compared by body, and by state after).
#[track_caller]
pub fn given_when_then(
    given: &[CaseEvent],
    when: &CaseCommand,
    ctx: &Context,
    then_state: &str,
) -> Vec<CaseEvent> {
    let decision = decide_after(given, when, ctx)
        .unwrap_or_else(|r| panic!("expected {when:?} to be accepted, got {r:?}"));
    let mut all = given.to_vec();
    all.extend(decision.events.iter().cloned());
    let state = case::replay(when.procedure(), &all);
    assert_eq!(state.name(), then_state, "state after {:?}", when.kind());
    // Every event a test produces is also checked against its published JSON Schema.
    for e in &decision.events {
        super::schemas::check::assert_valid(&super::codec::encode(e));
    }
    decision.events
}

/// Given events, when a command, then this rejection.
#[track_caller]
pub fn given_when_rejected(
    given: &[CaseEvent],
    when: &CaseCommand,
    ctx: &Context,
    code: &str,
) -> Rejection {
    match decide_after(given, when, ctx) {
        Ok(d) => panic!("expected {code}, got events {:?}", d.events),
        Err(r) => {
            assert_eq!(r.code(), code, "{r}");
            r
        }
    }
}

/// Replays and returns the state.
pub fn state_after(kind: super::ProcedureKind, events: &[CaseEvent]) -> CaseState {
    case::replay(kind, events)
}
