//! Procedure B, second round (issue 13): the Court's own acts (urgent decisions, deadline
//! extensions, hearings), the ways out of every state (declining to refer after a deferral,
//! closing as moot), and legal time.

use super::tests::{event_name, pc, reach, run, sample};
use super::*;
use crate::domain::{Role, case::CaseEvent, testkit::*};
use chrono::Duration;

use CommandKind as K;

fn names(events: &[CaseEvent]) -> Vec<String> {
    events.iter().map(event_name).collect()
}

fn case_of(events: &[CaseEvent]) -> PreventiveCase {
    match state_after(crate::domain::ProcedureKind::Preventive, events) {
        crate::domain::case::CaseState::Preventive(State::Open(c)) => *c,
        other => panic!("not an open preventive case: {other:?}"),
    }
}

#[test]
fn the_court_may_decline_to_refer_after_deferring() {
    let (events, at) = reach(DEFERRED);
    let out = given_when_then(
        &events,
        &pc(
            at,
            Action::RecordCourtDetermination {
                determination: Determination::FindingWithoutReferral,
                decision_symbol: "ICC-01/11-01/17-20".into(),
            },
        ),
        &ctx(Role::CourtLiaison, at),
        CLOSED_NO_REFERRAL,
    );
    assert_eq!(names(&out), vec!["FindingMadeWithoutReferral"]);
    // "No finding" is not possible once the finding was made.
    given_when_rejected(
        &events,
        &pc(
            at,
            Action::RecordCourtDetermination {
                determination: Determination::NoFinding,
                decision_symbol: "ICC-01/11-01/17-20".into(),
            },
        ),
        &ctx(Role::CourtLiaison, at),
        "InvalidField",
    );
}

#[test]
fn a_case_closes_as_moot_from_any_open_state() {
    for state in OPEN {
        let (events, at) = reach(state);
        let out = given_when_then(
            &events,
            &pc(at, sample(K::RecordMatterMoot, at)),
            &ctx(Role::CourtLiaison, at),
            CLOSED_MOOT,
        );
        assert_eq!(names(&out), vec!["MatterBecameMoot"]);
        let mut all = events.clone();
        all.extend(out);
        assert_eq!(
            case_of(&all).phase,
            Phase::ClosedMoot(MootBasis::NoCourtProceedings)
        );
        // Closed: nothing more but a refusal naming the closed state.
        given_when_rejected(
            &all,
            &pc(at, sample(K::InformBureau, at)),
            &ctx(Role::President, at),
            "ProcedureClosed",
        );
    }
}

#[test]
fn the_courts_urgent_decision_is_recorded_before_proceedings_open() {
    let (events, at) = reach(ONGOING);
    let out = given_when_then(
        &events,
        &pc(at, sample(K::RecordUrgentDecision, at)),
        &ctx(Role::CourtLiaison, at),
        ONGOING,
    );
    assert_eq!(names(&out), vec!["UrgentDecisionIssued"]);
    let mut all = events.clone();
    all.extend(out);
    assert_eq!(case_of(&all).urgent_decisions, vec!["ICC-02/05-01/09-157"]);
    // Once proceedings are open, the Court's acts are those of the proceedings.
    let (events, at) = reach(AWAITING_COURT);
    given_when_rejected(
        &events,
        &pc(at, sample(K::RecordUrgentDecision, at)),
        &ctx(Role::CourtLiaison, at),
        "NotAllowedInState",
    );
}

#[test]
fn the_court_may_extend_its_deadline_to_a_date_or_until_an_event() {
    let (events, at) = reach(AWAITING_COURT);
    let due = match case_of(&events).phase {
        Phase::AwaitingCourtDetermination { views_due_on } => views_due_on,
        other => panic!("{other:?}"),
    };
    let later = at + Duration::days(5);
    let new_date = later.date_naive() + Duration::days(60);
    let out = given_when_then(
        &events,
        &pc(later, sample(K::RecordCourtDeadlineExtended, later)),
        &ctx(Role::CourtLiaison, later),
        AWAITING_COURT,
    );
    match &out[0] {
        CaseEvent::Preventive(e) => assert_eq!(
            e.body,
            Body::CourtDeadlineExtended {
                order_symbol: "ICC-02/05-01/09-250".into(),
                previous_due_on: due,
                views_due_on: Some(new_date),
                until: None,
            }
        ),
        other => panic!("{other:?}"),
    }
    let mut all = events.clone();
    all.extend(out);
    let watched = state_after(crate::domain::ProcedureKind::Preventive, &all).deadlines();
    assert_eq!(watched[0].due, new_date);
    // Until an event (South Africa, 15 Oct 2015: until the end of domestic proceedings).
    given_when_then(
        &all,
        &pc(
            later,
            Action::RecordCourtDeadlineExtended {
                order_symbol: "order".into(),
                views_due_on: None,
                until: Some("the end of domestic proceedings".into()),
            },
        ),
        &ctx(Role::CourtLiaison, later),
        AWAITING_COURT,
    );
    for (views_due_on, until) in [
        (None, None),
        (Some(later.date_naive() - Duration::days(1)), None),
        (Some(new_date), None),
    ] {
        given_when_rejected(
            &all,
            &pc(
                later,
                Action::RecordCourtDeadlineExtended {
                    order_symbol: "order".into(),
                    views_due_on,
                    until,
                },
            ),
            &ctx(Role::CourtLiaison, later),
            "InvalidField",
        );
    }
}

#[test]
fn the_court_may_hold_a_hearing_in_its_proceedings() {
    let (events, at) = reach(AWAITING_COURT);
    let out = given_when_then(
        &events,
        &pc(at, sample(K::RecordCourtHearing, at)),
        &ctx(Role::CourtLiaison, at),
        AWAITING_COURT,
    );
    assert_eq!(names(&out), vec!["CourtHearingHeld"]);
    given_when_rejected(
        &events,
        &pc(at, sample(K::RecordCourtHearing, at)),
        &ctx(Role::President, at),
        "NotPermitted",
    );
}

#[test]
fn legal_time_steps_follow_the_act_they_answer() {
    // The assessment cannot precede the alert.
    let (events, at) = run(&[K::OpenPreventiveCase]);
    let before = at - Duration::days(2);
    given_when_rejected(
        &events,
        &pc(before, sample(K::AssessSituation, before)),
        &ctx(Role::President, at),
        "LegalTimeBeforeAnsweredAct",
    );
    // Proceedings cannot open before the person left.
    let (events, at) = reach(OCCURRED);
    let before = at - Duration::days(1);
    given_when_rejected(
        &events,
        &pc(before, sample(K::RecordCourtProceedingsOpened, before)),
        &ctx(Role::CourtLiaison, at),
        "LegalTimeBeforeAnsweredAct",
    );
    // Facts on the ground follow the world: an arrival may predate good offices.
    let (events, at) = reach(ACTIVE);
    let before = at - Duration::days(1);
    given_when_then(
        &events,
        &pc(before, sample(K::RecordPersonArrived, before)),
        &ctx(Role::Secretariat, at),
        ONGOING,
    );
    // Nothing is dated in the future beyond the tolerance, the alert included.
    let tomorrow_and_more = at + Duration::hours(30);
    given_when_rejected(
        &events,
        &pc(tomorrow_and_more, sample(K::IssuePublicStatement, at)),
        &ctx(Role::President, at),
        "LegalTimeInFuture",
    );
    given_when_rejected(
        &[],
        &pc(tomorrow_and_more, sample(K::OpenPreventiveCase, at)),
        &ctx(Role::CourtLiaison, at),
        "LegalTimeInFuture",
    );
}
