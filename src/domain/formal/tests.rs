//! Procedure A: every (state, command) pair checked against the transition table, each
//! variant transition and guard as given/when/then, and the Jordan 2017 scenario.
//!
//! Over 800 lines: one test per transition of domain.md §3.1 and the helpers every formal test
//! shares (`sample`, `path`, `run`). Tests of the second round (legal time, lapse corrections,
//! ways forward) live in `time_and_exits_tests.rs`.

#![allow(clippy::field_reassign_with_default)]

use super::*;
use crate::domain::{
    ActMeta, Context, Principal, Region, Role,
    case::{CaseCommand, CaseEvent, CaseState},
    consultation,
    permissions::allowed_roles,
    testkit::*,
    withdrawal,
};
use chrono::Duration;

pub(crate) fn referral(targets: Vec<ReferralTarget>) -> Referral {
    Referral {
        legal_basis: ReferralBasis::Art87_7,
        chamber: "Pre-Trial Chamber II".into(),
        decision_symbol: "ICC-02/05-01/09-309".into(),
        decision_date: date(2017, 12, 11),
        transmitted_on: date(2017, 12, 12),
        targets,
        incident_from: Some(date(2017, 3, 29)),
        incident_to: Some(date(2017, 3, 29)),
        incident_location: Some("Arab League summit, Dead Sea".into()),
    }
}

pub(crate) fn open_action(rules: ProcedureRules) -> Action {
    Action::Open {
        case_id: id(1),
        reference: "NC-2017-0001".into(),
        facts: bashir_facts("JO", "Jordan", Region::AsiaPacific),
        referral: referral(vec![ReferralTarget::Asp, ReferralTarget::Unsc]),
        rules,
        linked_preventive_case: None,
        previous_case: None,
        existing_case_for_decision: None,
    }
}

pub(crate) fn fc(at: chrono::DateTime<chrono::Utc>, action: Action) -> CaseCommand {
    CaseCommand::Formal(Command {
        act: ActMeta::at(at),
        action,
    })
}

/// A context for the first role allowed to issue `kind` (the President for region-bound acts).
pub(crate) fn ctx_for(kind: CommandKind, now: chrono::DateTime<chrono::Utc>) -> Context {
    let role = allowed_roles(kind)[0];
    let mut principal = Principal::new(format!("{}-1", role.as_str()), role);
    if role == Role::FocalPoint {
        principal = principal.in_region(Region::AsiaPacific);
    }
    Context { now, principal }
}

/// A valid example of each formal command, acting at `at`.
pub(crate) fn sample(kind: CommandKind, at: chrono::DateTime<chrono::Utc>) -> Action {
    let on = at.date_naive();
    use CommandKind as K;
    match kind {
        K::OpenFormalCase => open_action(ProcedureRules::with_all_extensions()),
        K::ConveneEmergencyBureauMeeting => Action::ConveneEmergencyBureauMeeting {
            meeting_no: "B/2017/12".into(),
            urgency_rationale: "the person may travel again shortly".into(),
            quorum_present: true,
        },
        K::SeizeBureau => Action::SeizeBureau {
            meeting_no: "B/2018/1".into(),
            quorum_present: true,
        },
        K::SendOpenLetter => Action::SendOpenLetter {
            letter_ref: "ASP/2018/L1".into(),
            signatory: "O-Gon Kwon".into(),
            addressee: "Minister for Foreign Affairs of Jordan".into(),
            obligations_recalled: vec!["art. 86".into(), "art. 89".into()],
            warned_measures: vec!["referral to the Security Council".into()],
            published_channels: vec!["ICC website".into()],
        },
        K::CirculateOpenLetter => Action::CirculateOpenLetter {
            distribution_list_ref: "ASP/2018/DL".into(),
        },
        K::PublishLetter => Action::PublishLetter {
            channels: vec!["ICC website".into()],
            url: None,
        },
        K::RecordViews => Action::RecordViews {
            document_ref: "JOR/NV/2018/1".into(),
            summary: "asserts head-of-state immunity".into(),
            asserted_grounds: vec!["immunity (art. 98)".into()],
        },
        K::RecordDeadlineElapsed => Action::RecordDeadlineElapsed,
        K::SchedulePublicMeeting => Action::SchedulePublicMeeting {
            date: on + Duration::days(10),
            venue: "New York".into(),
            invitation_ref: "ASP/2018/INV1".into(),
        },
        K::RecordPublicMeeting => Action::RecordPublicMeeting {
            attendance: Attendance::Attended,
            state_statement_ref: Some("JOR/ST/1".into()),
            record_ref: "ASP/2018/PM1".into(),
        },
        K::AdoptBureauReport => Action::AdoptBureauReport {
            report_symbol: "ICC-ASP/17/31".into(),
            recommendations: vec!["remain seized".into()],
            omnibus_language_ref: None,
        },
        K::PlaceOnAssemblyAgenda => Action::PlaceOnAssemblyAgenda {
            session_no: 17,
            session_opening: on + Duration::days(120),
            agenda_item: "Non-cooperation".into(),
        },
        K::RecordPlenaryDiscussion => Action::RecordPlenaryDiscussion {
            session_no: 17,
            speakers: vec!["Jordan".into()],
            record_ref: "ICC-ASP/17/SR.9".into(),
        },
        K::RecordAssemblyResolution => Action::RecordAssemblyResolution {
            resolution_symbol: "ICC-ASP/17/Res.5".into(),
            paragraphs: vec!["op. 2".into()],
            adoption: Adoption::Consensus,
        },
        K::RecordCooperationRestored => Action::RecordCooperationRestored {
            basis: "person surrendered".into(),
            court_notice_ref: None,
        },
        K::RecordFindingAppealed => Action::RecordFindingAppealed {
            appeal_symbol: "ICC-02/05-01/09 OA2".into(),
        },
        K::RecordAppealJudgment => Action::RecordAppealJudgment {
            appeal_symbol: "ICC-02/05-01/09 OA2".into(),
            outcome: AppealOutcome::ReferralReversed,
        },
        K::RecordMatterMoot => Action::RecordMatterMoot {
            basis: MootBasis::WarrantWithdrawn,
            court_notice_ref: None,
        },
        K::ConcludeConsideration => Action::ConcludeConsideration,
        K::CancelPublicMeeting => Action::CancelPublicMeeting {
            reason: "the State asked for a later date".into(),
        },
        K::RecordCourtWithdrawal => Action::RecordCourtWithdrawal {
            decision_symbol: "ICC-02/05-01/09-401".into(),
            withdrawal: CourtWithdrawal::ReferralWithdrawn,
        },
        K::RecordWithdrawalNotified => Action::Withdrawal(withdrawal::Action::Notify {
            notification_ref: "C.N.123.2025.TREATIES-XVIII.10".into(),
            effective_on: None,
        }),
        K::RecordWithdrawalRevoked => Action::Withdrawal(withdrawal::Action::Revoke {
            reference: "C.N.200.2025.TREATIES-XVIII.10".into(),
        }),
        K::RecordWithdrawalTookEffect => Action::Withdrawal(withdrawal::Action::TakeEffect),
        K::RecordRecurrence => Action::RecordRecurrence {
            new_case_id: id(99),
            decision_symbol: "ICC-02/05-01/09-400".into(),
        },
        K::ReferToSecurityCouncil => Action::ReferToSecurityCouncil {
            requested_measures: vec!["targeted sanctions".into()],
        },
        K::SendUngaRequest => Action::SendUngaRequest {
            request_ref: "ASP/UNGA/1".into(),
            requested_measures: vec!["appropriate measures".into()],
        },
        K::AmendRules => Action::AmendRules {
            rules: ProcedureRules::with_all_extensions(),
            decision_ref: "Bureau decision of 2018-01-10".into(),
        },
        K::RecordConsultationRequested => Action::Consultation(consultation::Action::Request {
            reference: "c-1".into(),
            problems: vec![consultation::Problem::Other],
        }),
        K::RecordConsultationHeld => Action::Consultation(consultation::Action::Hold {
            reference: "c-1".into(),
        }),
        K::RecordConsultationAnswered => Action::Consultation(consultation::Action::Answer {
            reference: "c-1".into(),
            summary: "consultations must be timely".into(),
        }),
        K::JoinConsultation => Action::Consultation(consultation::Action::Join {
            reference: "c-1".into(),
            representative: consultation::Representative::President,
            name: "O-Gon Kwon".into(),
        }),
        other => panic!("{other:?} is not a formal command"),
    }
}

/// Runs `kinds` from scratch, each 10 days after the previous (views 5 days after the letter,
/// a lapse 15 days after it; deadlines fired by the system 30 days later). Returns the events and the last act's time.
pub(crate) fn run(kinds: &[CommandKind]) -> (Vec<CaseEvent>, chrono::DateTime<chrono::Utc>) {
    let mut events = Vec::new();
    let mut at = day(2017, 12, 12);
    for (i, kind) in kinds.iter().enumerate() {
        if i > 0 {
            at += Duration::days(match *kind {
                CommandKind::RecordViews => 5,
                // The scheduler records a lapse once the reply window (14 days) has passed.
                CommandKind::RecordDeadlineElapsed => 15,
                _ => 10,
            });
        }
        let now = if *kind == CommandKind::RecordDeadlineElapsed {
            at + Duration::days(30)
        } else {
            at
        };
        let cmd = fc(at, sample(*kind, at));
        let decision = decide_after(&events, &cmd, &ctx_for(*kind, now))
            .unwrap_or_else(|r| panic!("path step {kind:?} after {kinds:?}: {r}"));
        events.extend(decision.events);
    }
    (events, at)
}

/// How to reach each state (after opening, an art. 97 consultation "c-1" is on record).
pub(crate) fn path(state: &str) -> Vec<CommandKind> {
    use CommandKind as K;
    let mut p = vec![K::OpenFormalCase, K::RecordConsultationRequested];
    let c = |p: &mut Vec<K>, more: &[K]| p.extend_from_slice(more);
    let to_views = [K::SeizeBureau, K::SendOpenLetter, K::RecordViews];
    let to_considered = [
        K::SchedulePublicMeeting,
        K::RecordPublicMeeting,
        K::AdoptBureauReport,
        K::PlaceOnAssemblyAgenda,
        K::RecordPlenaryDiscussion,
    ];
    match state {
        REFERRED => {}
        URGENT => c(&mut p, &[K::ConveneEmergencyBureauMeeting]),
        REGULAR => c(&mut p, &[K::SeizeBureau]),
        AWAITING_VIEWS => c(&mut p, &[K::SeizeBureau, K::SendOpenLetter]),
        VIEWS_ON_FILE => c(&mut p, &to_views),
        NO_RESPONSE => c(
            &mut p,
            &[K::SeizeBureau, K::SendOpenLetter, K::RecordDeadlineElapsed],
        ),
        AWAITING_MEETING => {
            c(&mut p, &to_views);
            c(&mut p, &to_considered[..1]);
        }
        MEETING_CONCLUDED => {
            c(&mut p, &to_views);
            c(&mut p, &to_considered[..2]);
        }
        REPORTED => {
            c(&mut p, &to_views);
            c(&mut p, &to_considered[..3]);
        }
        ON_AGENDA => {
            c(&mut p, &to_views);
            c(&mut p, &to_considered[..4]);
        }
        CONSIDERED => {
            c(&mut p, &to_views);
            c(&mut p, &to_considered);
        }
        FOLLOW_UP => {
            c(&mut p, &to_views);
            c(&mut p, &to_considered);
            c(&mut p, &[K::RecordAssemblyResolution]);
        }
        SUSPENDED => c(&mut p, &[K::RecordFindingAppealed]),
        CLOSED_RESTORED => c(&mut p, &[K::RecordCooperationRestored]),
        CLOSED_WITHDRAWN => c(&mut p, &[K::RecordFindingAppealed, K::RecordAppealJudgment]),
        CLOSED_MOOT => c(&mut p, &[K::RecordMatterMoot]),
        CLOSED_CONCLUDED => {
            c(&mut p, &to_views);
            c(&mut p, &to_considered);
            c(&mut p, &[K::ConcludeConsideration]);
        }
        other => panic!("no path to {other}"),
    }
    p
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

pub(crate) fn event_name(e: &CaseEvent) -> String {
    let env = crate::domain::codec::encode(e);
    pascal(env.event_type.split_once('.').map_or("", |(_, s)| s))
}

/// The table and `decide` agree on every (state, command) pair: a command is accepted exactly
/// from the states its rows list, produces a row's event and reaches the row's state; from any
/// other state it is refused with a named rejection.
#[test]
fn every_state_and_command_pair_matches_the_table() {
    let mut commands: Vec<CommandKind> = Vec::new();
    for t in TRANSITIONS
        .iter()
        .filter(|t| t.command != CommandKind::OpenFormalCase)
    {
        if !commands.contains(&t.command) {
            commands.push(t.command);
        }
    }
    // The withdrawal rows depend on the withdrawal's own record and dates, not the state:
    // checked by the tests in withdrawal.rs.
    commands.retain(|k| !k.as_str().starts_with("record_withdrawal"));
    let mut accepted_pairs = 0;
    for state in STATES {
        let (given, at) = run(&path(state));
        let before = state_after(crate::domain::ProcedureKind::Formal, &given);
        assert_eq!(before.name(), *state, "path to {state}");
        for kind in &commands {
            let at = at
                + Duration::days(if *kind == CommandKind::RecordViews {
                    5
                } else {
                    10
                });
            let now = if *kind == CommandKind::RecordDeadlineElapsed {
                at + Duration::days(30)
            } else {
                at
            };
            let action = match sample(*kind, at) {
                // "c-1" is on record already: a new request needs a new reference.
                Action::Consultation(consultation::Action::Request { problems, .. }) => {
                    Action::Consultation(consultation::Action::Request {
                        reference: "c-2".into(),
                        problems,
                    })
                }
                // Deferral and the annual cycle need a later session and a new report.
                Action::PlaceOnAssemblyAgenda {
                    session_opening,
                    agenda_item,
                    ..
                } if *state == ON_AGENDA => Action::PlaceOnAssemblyAgenda {
                    session_no: 18,
                    session_opening,
                    agenda_item,
                },
                Action::AdoptBureauReport {
                    recommendations,
                    omnibus_language_ref,
                    ..
                } if *state == FOLLOW_UP => Action::AdoptBureauReport {
                    report_symbol: "ICC-ASP/18/31".into(),
                    recommendations,
                    omnibus_language_ref,
                },
                other => other,
            };
            let cmd = fc(at, action);
            let allowed = table::states_for(TRANSITIONS, *kind).contains(state);
            match decide_after(&given, &cmd, &ctx_for(*kind, now)) {
                Ok(d) => {
                    assert!(
                        allowed,
                        "{kind:?} was accepted in {state}, the table says no"
                    );
                    let mut all = given.clone();
                    all.extend(d.events.iter().cloned());
                    let after = state_after(crate::domain::ProcedureKind::Formal, &all);
                    let last = event_name(d.events.last().expect("an event"));
                    let row = TRANSITIONS.iter().find(|t| {
                        t.command == *kind
                            && t.from.contains(state)
                            && t.event.contains(&last)
                            && (t.to == after.name()
                                || (t.to.starts_with('(') && after.name() == *state)
                                || (t.to.starts_with("(as before") && t.to.contains(after.name()))
                                || t.to == "(prior state)")
                    });
                    assert!(
                        row.is_some(),
                        "{kind:?} in {state}: event {last} to {} matches no row",
                        after.name()
                    );
                    accepted_pairs += 1;
                }
                Err(r) => {
                    assert!(
                        !allowed,
                        "{kind:?} in {state} is allowed by the table but refused: {r}"
                    );
                    assert!(!r.code().is_empty());
                }
            }
        }
    }
    // Every row's command is accepted somewhere (no dead rows).
    assert!(accepted_pairs > 100, "{accepted_pairs}");
}

fn given(kinds: &[CommandKind]) -> (Vec<CaseEvent>, chrono::DateTime<chrono::Utc>) {
    run(kinds)
}

use CommandKind as K;

#[test]
fn a1_opens_the_case_with_its_facts_and_citations() {
    let cmd = fc(day(2017, 12, 12), open_action(ProcedureRules::default()));
    let events = given_when_then(
        &[],
        &cmd,
        &ctx(Role::CourtLiaison, day(2017, 12, 12)),
        REFERRED,
    );
    let meta = events[0].meta();
    assert_eq!(meta.role, Role::CourtLiaison);
    let cites: Vec<String> = meta.legal_basis.iter().map(|c| c.display()).collect();
    assert_eq!(
        cites,
        vec![
            "Rome Statute art. 87(7)",
            "Rome Statute art. 112(2)(f)",
            "ICC-ASP/10/Res.5 annex"
        ]
    );
}

#[test]
fn a1_unsc_only_referral_is_not_for_the_assembly() {
    let mut action = open_action(ProcedureRules::default());
    if let Action::Open { referral, .. } = &mut action {
        referral.targets = vec![ReferralTarget::Unsc];
    }
    let r = given_when_rejected(
        &[],
        &fc(day(2015, 3, 9), action),
        &ctx(Role::CourtLiaison, day(2015, 3, 9)),
        "NotReferredToAssembly",
    );
    assert_eq!(r.fields()["targets"], r#"["UNSC"]"#);
}

#[test]
fn a1_duplicate_referral_names_the_existing_case() {
    let mut action = open_action(ProcedureRules::default());
    if let Action::Open {
        existing_case_for_decision,
        ..
    } = &mut action
    {
        *existing_case_for_decision = Some(id(7));
    }
    let r = given_when_rejected(
        &[],
        &fc(day(2017, 12, 12), action),
        &ctx(Role::CourtLiaison, day(2017, 12, 12)),
        "DuplicateReferral",
    );
    assert_eq!(r.fields()["existing_case"], id(7).to_string());
}

#[test]
fn a1_basis_must_fit_the_states_status() {
    let mut action = open_action(ProcedureRules::default());
    if let Action::Open { referral, .. } = &mut action {
        referral.legal_basis = ReferralBasis::Art87_5b;
    }
    let r = given_when_rejected(
        &[],
        &fc(day(2017, 12, 12), action),
        &ctx(Role::CourtLiaison, day(2017, 12, 12)),
        "InvalidField",
    );
    assert_eq!(r.fields()["field"], "referral.legal_basis");
}

#[test]
fn only_opening_is_possible_before_the_case_exists() {
    given_when_rejected(
        &[],
        &fc(day(2018, 1, 1), sample(K::SeizeBureau, day(2018, 1, 1))),
        &ctx(Role::Bureau, day(2018, 1, 1)),
        "CaseNotOpened",
    );
    let (events, at) = given(&[K::OpenFormalCase]);
    given_when_rejected(
        &events,
        &fc(at, open_action(ProcedureRules::default())),
        &ctx(Role::CourtLiaison, at),
        "CaseAlreadyOpened",
    );
}

#[test]
fn a4_sets_the_reply_deadline_from_the_rules() {
    let (events, at) = given(&[K::OpenFormalCase, K::SeizeBureau]);
    let at = at + Duration::days(3);
    let out = given_when_then(
        &events,
        &fc(at, sample(K::SendOpenLetter, at)),
        &ctx(Role::President, at),
        AWAITING_VIEWS,
    );
    let CaseEvent::Formal(e) = &out[0] else {
        panic!()
    };
    let Body::OpenLetterSent { reply_deadline, .. } = &e.body else {
        panic!()
    };
    assert_eq!(*reply_deadline, at.date_naive() + Duration::days(14));
}

#[test]
fn a4_e1_requires_warned_measures_and_the_letter_goes_once() {
    let (events, at) = given(&[K::OpenFormalCase, K::SeizeBureau]);
    let mut action = sample(K::SendOpenLetter, at);
    if let Action::SendOpenLetter {
        warned_measures, ..
    } = &mut action
    {
        warned_measures.clear();
    }
    given_when_rejected(
        &events,
        &fc(at, action),
        &ctx(Role::President, at),
        "WarnedMeasuresRequired",
    );
    let (events, at) = given(&[K::OpenFormalCase, K::SeizeBureau, K::SendOpenLetter]);
    given_when_rejected(
        &events,
        &fc(at, sample(K::SendOpenLetter, at)),
        &ctx(Role::President, at),
        "LetterAlreadySent",
    );
}

#[test]
fn a5_circulates_once() {
    let (events, at) = given(&[
        K::OpenFormalCase,
        K::SeizeBureau,
        K::SendOpenLetter,
        K::CirculateOpenLetter,
    ]);
    given_when_rejected(
        &events,
        &fc(at, sample(K::CirculateOpenLetter, at)),
        &ctx(Role::President, at),
        "AlreadyCirculated",
    );
}

#[test]
fn a6_views_after_the_deadline_record_the_lapse_then_the_late_views() {
    let (events, at) = given(&[K::OpenFormalCase, K::SeizeBureau, K::SendOpenLetter]);
    let late = at + Duration::days(15);
    let out = given_when_then(
        &events,
        &fc(late, sample(K::RecordViews, late)),
        &ctx(Role::Secretariat, late),
        NO_RESPONSE,
    );
    let names: Vec<String> = out.iter().map(event_name).collect();
    assert_eq!(names, vec!["ResponseDeadlineElapsed", "LateViewsReceived"]);
    // On the last day of the window they are on time.
    let last_day = at + Duration::days(14);
    given_when_then(
        &events,
        &fc(last_day, sample(K::RecordViews, last_day)),
        &ctx(Role::Secretariat, last_day),
        VIEWS_ON_FILE,
    );
}

#[test]
fn a7_the_deadline_fires_only_once_it_has_passed() {
    let (events, at) = given(&[K::OpenFormalCase, K::SeizeBureau, K::SendOpenLetter]);
    let state = state_after(crate::domain::ProcedureKind::Formal, &events);
    let d = state.next_deadline().expect("reply window");
    assert_eq!(d.kind, DeadlineKind::ReplyWindow);
    let on_last_day = ctx(Role::System, day(2018, 1, 1).with_date(d.due));
    let r = given_when_rejected(
        &events,
        &fc(at, Action::RecordDeadlineElapsed),
        &on_last_day,
        "DeadlineNotReached",
    );
    assert_eq!(r.fields()["due"], d.due.to_string());
    let next_day = ctx(
        Role::System,
        day(2018, 1, 1).with_date(d.due + Duration::days(1)),
    );
    given_when_then(
        &events,
        &fc(at, Action::RecordDeadlineElapsed),
        &next_day,
        NO_RESPONSE,
    );
    // Nobody but the system fires deadlines.
    given_when_rejected(
        &events,
        &fc(at, Action::RecordDeadlineElapsed),
        &ctx(Role::Secretariat, next_day.now),
        "NotPermitted",
    );
}

trait WithDate {
    fn with_date(self, d: chrono::NaiveDate) -> Self;
}
impl WithDate for chrono::DateTime<chrono::Utc> {
    fn with_date(self, d: chrono::NaiveDate) -> Self {
        d.and_hms_opt(12, 0, 0).expect("time").and_utc()
    }
}

#[test]
fn a7_no_deadline_pending_outside_the_reply_window() {
    let (events, at) = given(&[K::OpenFormalCase, K::SeizeBureau]);
    given_when_rejected(
        &events,
        &fc(at, Action::RecordDeadlineElapsed),
        &ctx(Role::System, at + Duration::days(400)),
        "NoDeadlinePending",
    );
}

#[test]
fn a8_late_views_keep_no_response() {
    let (events, at) = given(&[
        K::OpenFormalCase,
        K::SeizeBureau,
        K::SendOpenLetter,
        K::RecordDeadlineElapsed,
    ]);
    let out = given_when_then(
        &events,
        &fc(at, sample(K::RecordViews, at)),
        &ctx(Role::Secretariat, at),
        NO_RESPONSE,
    );
    assert_eq!(event_name(&out[0]), "LateViewsReceived");
}

#[test]
fn a10_without_an_invitation_is_refused() {
    let (events, at) = given(&[
        K::OpenFormalCase,
        K::SeizeBureau,
        K::SendOpenLetter,
        K::RecordViews,
    ]);
    given_when_rejected(
        &events,
        &fc(at, sample(K::RecordPublicMeeting, at)),
        &ctx(Role::Bureau, at),
        "NoInvitationIssued",
    );
}

#[test]
fn a11_skipping_the_public_meeting_follows_the_rules() {
    let (events, at) = given(&[
        K::OpenFormalCase,
        K::SeizeBureau,
        K::SendOpenLetter,
        K::RecordViews,
    ]);
    given_when_then(
        &events,
        &fc(at, sample(K::AdoptBureauReport, at)),
        &ctx(Role::Bureau, at),
        REPORTED,
    );
    let mut strict = ProcedureRules::with_all_extensions();
    strict.report_without_public_meeting = false;
    let (mut events, at) = given(&[K::OpenFormalCase]);
    let amend = fc(
        at,
        Action::AmendRules {
            rules: strict,
            decision_ref: "Bureau decision".into(),
        },
    );
    events.extend(
        decide_after(&events, &amend, &ctx(Role::Bureau, at))
            .expect("amend")
            .events,
    );
    for k in [K::SeizeBureau, K::SendOpenLetter, K::RecordViews] {
        let c = fc(at, sample(k, at));
        events.extend(
            decide_after(&events, &c, &ctx_for(k, at))
                .expect("step")
                .events,
        );
    }
    given_when_rejected(
        &events,
        &fc(at, sample(K::AdoptBureauReport, at)),
        &ctx(Role::Bureau, at),
        "NotAllowedInState",
    );
}

#[test]
fn a12_agenda_gap_of_three_months() {
    let (events, at) = given(&[
        K::OpenFormalCase,
        K::SeizeBureau,
        K::SendOpenLetter,
        K::RecordViews,
        K::SchedulePublicMeeting,
        K::RecordPublicMeeting,
        K::AdoptBureauReport,
    ]);
    let held = match state_after(crate::domain::ProcedureKind::Formal, &events) {
        CaseState::Formal(State::Open(c)) => c.public_meeting_held_on.expect("held"),
        other => panic!("{other:?}"),
    };
    let too_soon = Action::PlaceOnAssemblyAgenda {
        session_no: 17,
        session_opening: add_months(held, 3) - Duration::days(1),
        agenda_item: "Non-cooperation".into(),
    };
    let r = given_when_rejected(
        &events,
        &fc(at, too_soon),
        &ctx(Role::Bureau, at),
        "AgendaTooLate",
    );
    assert_eq!(
        r.fields()["earliest_allowed"],
        add_months(held, 3).to_string()
    );
    let just_in_time = Action::PlaceOnAssemblyAgenda {
        session_no: 17,
        session_opening: add_months(held, 3),
        agenda_item: "Non-cooperation".into(),
    };
    given_when_then(
        &events,
        &fc(at, just_in_time),
        &ctx(Role::Bureau, at),
        ON_AGENDA,
    );
}

#[test]
fn a13_discussion_must_be_at_the_agenda_session() {
    let (events, at) = given(&path(ON_AGENDA));
    let other_session = Action::RecordPlenaryDiscussion {
        session_no: 18,
        speakers: vec![],
        record_ref: "SR".into(),
    };
    let r = given_when_rejected(
        &events,
        &fc(at, other_session),
        &ctx(Role::Secretariat, at),
        "InvalidField",
    );
    assert_eq!(r.fields()["field"], "session_no");
}

#[test]
fn a16_a17_suspension_and_the_appeal_outcomes() {
    let (events, at) = given(&[K::OpenFormalCase, K::SeizeBureau, K::SendOpenLetter]);
    let filed = at + Duration::days(2);
    let mut all = events.clone();
    all.extend(given_when_then(
        &events,
        &fc(filed, sample(K::RecordFindingAppealed, filed)),
        &ctx(Role::CourtLiaison, filed),
        SUSPENDED,
    ));
    // While suspended, the procedure does not move (and the reply window does not run).
    let r = given_when_rejected(
        &all,
        &fc(filed, sample(K::RecordViews, filed)),
        &ctx(Role::Secretariat, filed),
        "CaseSuspended",
    );
    assert_eq!(
        r.fields()["suspended_since"],
        filed.date_naive().to_string()
    );
    assert!(
        state_after(crate::domain::ProcedureKind::Formal, &all)
            .next_deadline()
            .is_none()
    );
    // Confirmed 100 days later: back to AwaitingViews, deadline moved by 100 days.
    let judged = filed + Duration::days(100);
    let confirmed = Action::RecordAppealJudgment {
        appeal_symbol: "OA2".into(),
        outcome: AppealOutcome::FindingConfirmed,
    };
    let out = given_when_then(
        &all,
        &fc(judged, confirmed),
        &ctx(Role::CourtLiaison, judged),
        AWAITING_VIEWS,
    );
    let CaseEvent::Formal(Event {
        body:
            Body::FindingConfirmedOnAppeal {
                reply_deadline_extended_to: Some(new_deadline),
                ..
            },
        ..
    }) = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(*new_deadline, at.date_naive() + Duration::days(14 + 100));
    // Reversed instead: closed.
    let reversed = Action::RecordAppealJudgment {
        appeal_symbol: "OA2".into(),
        outcome: AppealOutcome::ReferralReversed,
    };
    given_when_then(
        &all,
        &fc(judged, reversed),
        &ctx(Role::CourtLiaison, judged),
        CLOSED_WITHDRAWN,
    );
}

#[test]
fn closed_cases_accept_only_a_recurrence() {
    let (events, at) = given(&path(CLOSED_MOOT));
    given_when_rejected(
        &events,
        &fc(at, sample(K::SeizeBureau, at)),
        &ctx(Role::Bureau, at),
        "ProcedureClosed",
    );
    let out = given_when_then(
        &events,
        &fc(at, sample(K::RecordRecurrence, at)),
        &ctx(Role::CourtLiaison, at),
        CLOSED_MOOT,
    );
    assert_eq!(event_name(&out[0]), "RecurrenceReferred");
}

#[test]
fn a20_the_new_case_links_back() {
    let mut action = open_action(ProcedureRules::default());
    if let Action::Open {
        previous_case,
        case_id,
        ..
    } = &mut action
    {
        *previous_case = Some(id(1));
        *case_id = id(2);
    }
    // Chad 2011 → 2013: the new finding is dated and transmitted in 2013.
    if let Action::Open { referral, .. } = &mut action {
        referral.decision_date = date(2013, 3, 26);
        referral.transmitted_on = date(2013, 3, 26);
    }
    let out = given_when_then(
        &[],
        &fc(day(2013, 3, 26), action),
        &ctx(Role::CourtLiaison, day(2013, 3, 26)),
        REFERRED,
    );
    let state = state_after(crate::domain::ProcedureKind::Formal, &out);
    let CaseState::Formal(State::Open(c)) = state else {
        panic!()
    };
    assert_eq!(c.previous_case, Some(id(1)));
}

#[test]
fn extensions_are_refused_when_switched_off() {
    let cmd = fc(day(2017, 12, 12), open_action(ProcedureRules::default()));
    let events = decide_after(&[], &cmd, &ctx(Role::CourtLiaison, day(2017, 12, 12)))
        .expect("open")
        .events;
    let at = day(2017, 12, 20);
    for (kind, role) in [
        (K::ReferToSecurityCouncil, Role::President),
        (K::SendUngaRequest, Role::President),
    ] {
        let r = given_when_rejected(
            &events,
            &fc(at, sample(kind, at)),
            &ctx(role, at),
            "ExtensionDisabled",
        );
        assert!(r.fields()["extension"].starts_with('E'));
    }
    // And E4's Bureau-action deadline does not exist without E4.
    assert!(
        state_after(crate::domain::ProcedureKind::Formal, &events)
            .next_deadline()
            .is_none()
    );
}

#[test]
fn e4_bureau_action_deadline_fires_once() {
    let (events, _) = given(&[K::OpenFormalCase]);
    let state = state_after(crate::domain::ProcedureKind::Formal, &events);
    let d = state.next_deadline().expect("E4 deadline");
    assert_eq!(d.kind, DeadlineKind::BureauActionDue);
    assert_eq!(d.due, date(2017, 12, 26));
    let now = day(2017, 12, 27);
    let out = given_when_then(
        &events,
        &fc(now, Action::RecordDeadlineElapsed),
        &ctx(Role::System, now),
        REFERRED,
    );
    assert_eq!(event_name(&out[0]), "BureauActionOverdue");
    let mut all = events.clone();
    all.extend(out);
    assert!(
        state_after(crate::domain::ProcedureKind::Formal, &all)
            .next_deadline()
            .is_none()
    );
}

#[test]
fn rules_amendments_bump_the_version_and_are_validated() {
    let (events, at) = given(&[K::OpenFormalCase]);
    let mut bad = ProcedureRules::default();
    bad.reply_window_days = 0;
    let r = given_when_rejected(
        &events,
        &fc(
            at,
            Action::AmendRules {
                rules: bad,
                decision_ref: "Bureau decision".into(),
            },
        ),
        &ctx(Role::Bureau, at),
        "InvalidField",
    );
    assert_eq!(r.fields()["field"], "rules.reply_window_days");
    let mut longer = ProcedureRules::with_all_extensions();
    longer.reply_window_days = 30;
    let mut all = events.clone();
    all.extend(given_when_then(
        &events,
        &fc(
            at,
            Action::AmendRules {
                rules: longer,
                decision_ref: "Bureau decision".into(),
            },
        ),
        &ctx(Role::Bureau, at),
        REFERRED,
    ));
    for k in [K::SeizeBureau, K::SendOpenLetter] {
        let c = fc(at, sample(k, at));
        let d = decide_after(&all, &c, &ctx_for(k, at)).expect("step");
        assert_eq!(d.events[0].meta().rules_version, 2);
        all.extend(d.events);
    }
    let CaseState::Formal(State::Open(c)) = state_after(crate::domain::ProcedureKind::Formal, &all)
    else {
        panic!()
    };
    assert_eq!(
        c.letter.expect("letter").reply_deadline,
        at.date_naive() + Duration::days(30)
    );
}

#[test]
fn consultations_follow_their_own_rules() {
    let (events, at) = given(&[K::OpenFormalCase, K::RecordConsultationRequested]);
    let dup = Action::Consultation(consultation::Action::Request {
        reference: "c-1".into(),
        problems: vec![consultation::Problem::WrongPerson],
    });
    given_when_rejected(
        &events,
        &fc(at, dup),
        &ctx(Role::CourtLiaison, at),
        "ConsultationAlreadyRecorded",
    );
    let unknown = Action::Consultation(consultation::Action::Hold {
        reference: "zz".into(),
    });
    given_when_rejected(
        &events,
        &fc(at, unknown),
        &ctx(Role::CourtLiaison, at),
        "UnknownConsultation",
    );
    let mut all = events.clone();
    all.extend(given_when_then(
        &events,
        &fc(at, sample(K::RecordConsultationAnswered, at)),
        &ctx(Role::CourtLiaison, at),
        REFERRED,
    ));
    let r = given_when_rejected(
        &all,
        &fc(at, sample(K::JoinConsultation, at)),
        &ctx(Role::President, at),
        "ConsultationAlreadyAnswered",
    );
    assert_eq!(r.fields()["reference"], "c-1");
}

#[test]
fn readers_and_wrong_roles_are_refused_by_name() {
    let (events, at) = given(&[K::OpenFormalCase]);
    for role in [Role::Auditor, Role::Observer, Role::FocalPoint] {
        let r = given_when_rejected(
            &events,
            &fc(at, sample(K::SeizeBureau, at)),
            &ctx(role, at),
            "NotPermitted",
        );
        assert_eq!(r.fields()["command"], "seize_bureau");
    }
    // A focal point from another region may not join for this (Asia-Pacific) State.
    let (events, at) = given(&[K::OpenFormalCase, K::RecordConsultationRequested]);
    let fp = Context {
        now: at,
        principal: Principal::new("mx", Role::FocalPoint).in_region(Region::LatinAmericanCaribbean),
    };
    given_when_rejected(
        &events,
        &fc(at, sample(K::JoinConsultation, at)),
        &fp,
        "FocalPointRegionMismatch",
    );
}

/// domain.md §6.1 scenario 3: Jordan 2017, referral reversed on appeal.
#[test]
fn scenario_jordan_2017_referral_reversed_on_appeal() {
    let court = |d| ctx(Role::CourtLiaison, d);
    let open = fc(day(2017, 12, 12), open_action(ProcedureRules::default()));
    let mut log = given_when_then(&[], &open, &court(day(2017, 12, 12)), REFERRED);
    log.extend(given_when_then(
        &log,
        &fc(
            day(2017, 12, 18),
            Action::RecordFindingAppealed {
                appeal_symbol: "ICC-02/05-01/09 OA2".into(),
            },
        ),
        &court(day(2017, 12, 18)),
        SUSPENDED,
    ));
    // Negative: OpenLetterSent while Suspended is refused with CaseSuspended.
    given_when_rejected(
        &log,
        &fc(
            day(2018, 1, 10),
            sample(K::SendOpenLetter, day(2018, 1, 10)),
        ),
        &ctx(Role::President, day(2018, 1, 10)),
        "CaseSuspended",
    );
    log.extend(given_when_then(
        &log,
        &fc(
            day(2019, 5, 6),
            Action::RecordAppealJudgment {
                appeal_symbol: "ICC-02/05-01/09 OA2".into(),
                outcome: AppealOutcome::ReferralReversed,
            },
        ),
        &court(day(2019, 5, 6)),
        CLOSED_WITHDRAWN,
    ));
    assert_eq!(log.len(), 3);
    assert_eq!(log[2].meta().occurred_at, day(2019, 5, 6));
}

/// Issue 13 item 8: the open letter recalls the obligations of the request concerned, not
/// art. 89 always: the source of the duty from the State's status, then the request's articles.
#[test]
fn a4_the_letter_cites_the_obligations_of_the_request_concerned() {
    use crate::domain::{RequestKind, StateStatus};
    let cases = [
        (
            StateStatus::StateParty,
            RequestKind::ArrestAndSurrender,
            vec!["art. 86", "art. 89", "art. 91"],
        ),
        (
            StateStatus::StateParty,
            RequestKind::ProvisionalArrest,
            vec!["art. 86", "art. 92"],
        ),
        (
            StateStatus::StateParty,
            RequestKind::OtherAssistance,
            vec!["art. 86", "art. 93"],
        ),
        (
            StateStatus::NonStatePartyAdHoc,
            RequestKind::OtherAssistance,
            vec!["art. 87(5)(a)", "art. 93"],
        ),
        (
            StateStatus::BoundByUnscResolution,
            RequestKind::ArrestAndSurrender,
            vec!["art. 86", "art. 89", "art. 91"],
        ),
    ];
    for (status, kind, expected) in cases {
        // The sample letter uses E1 and E2.
        let mut open = open_action(ProcedureRules::with_all_extensions());
        let Action::Open {
            facts, referral, ..
        } = &mut open
        else {
            unreachable!()
        };
        facts.requested_state.status = status;
        facts.request.kind = kind;
        if status == StateStatus::NonStatePartyAdHoc {
            referral.legal_basis = ReferralBasis::Art87_5b;
        }
        let at = day(2017, 12, 12);
        let mut log = decide_after(
            &[],
            &fc(at, open),
            &ctx_for(CommandKind::OpenFormalCase, at),
        )
        .expect("opens")
        .events;
        for k in [CommandKind::SeizeBureau, CommandKind::SendOpenLetter] {
            let at = day(2018, 1, 12);
            let mut action = sample(k, at);
            // No obligations named by the President's office: the server recalls them.
            if let Action::SendOpenLetter {
                obligations_recalled,
                ..
            } = &mut action
            {
                obligations_recalled.clear();
            }
            let d = decide_after(&log, &fc(at, action), &ctx_for(k, at))
                .unwrap_or_else(|r| panic!("{status:?}/{kind:?}: {k:?} refused: {r}"));
            log.extend(d.events);
        }
        let CaseEvent::Formal(letter) = log.last().expect("the letter") else {
            panic!()
        };
        let Body::OpenLetterSent {
            obligations_recalled,
            ..
        } = &letter.body
        else {
            panic!("{:?}", letter.body)
        };
        assert_eq!(obligations_recalled, &expected, "{status:?}/{kind:?}");
        let cited: Vec<&str> = letter
            .meta
            .legal_basis
            .iter()
            .filter(|c| c.instrument == "Rome Statute")
            .map(|c| c.provision.as_str())
            .collect();
        assert_eq!(cited, expected, "{status:?}/{kind:?}: legal basis");
        if kind != RequestKind::ArrestAndSurrender {
            assert!(
                !cited.contains(&"art. 89"),
                "{status:?}/{kind:?} cites art. 89"
            );
        }
        if status == StateStatus::BoundByUnscResolution {
            assert!(
                letter
                    .meta
                    .legal_basis
                    .iter()
                    .any(|c| c.instrument == "S/RES/1593 (2005)"),
                "the Security Council resolution is cited"
            );
        }
    }
}
