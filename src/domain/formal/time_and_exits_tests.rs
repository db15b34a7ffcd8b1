//! Procedure A, second round (issue 13): legal time (never in the future, never before the act
//! answered), lapses recorded by the scheduler and corrected by later-entered timely acts, and
//! the ways forward and out of every state (reschedule, cancel, defer, annual cycle, the Court
//! taking its referral back).

use super::tests::{fc, sample};
use super::*;
use crate::domain::{Role, case::CaseEvent, testkit::*};
use chrono::Duration;

use CommandKind as K;

fn given(kinds: &[CommandKind]) -> (Vec<CaseEvent>, chrono::DateTime<chrono::Utc>) {
    super::tests::run(kinds)
}

fn names(events: &[CaseEvent]) -> Vec<String> {
    events.iter().map(super::tests::event_name).collect()
}

fn case_of(events: &[CaseEvent]) -> FormalCase {
    match state_after(crate::domain::ProcedureKind::Formal, events) {
        crate::domain::case::CaseState::Formal(State::Open(c)) => *c,
        other => panic!("not an open formal case: {other:?}"),
    }
}

// ----- Legal time -------------------------------------------------------------------------

#[test]
fn an_act_may_not_lie_in_the_future_beyond_the_rules_tolerance() {
    let (events, at) = given(&[K::OpenFormalCase]);
    let now = at;
    // 23 hours ahead (a later time zone): accepted.
    given_when_then(
        &events,
        &fc(now + Duration::hours(23), sample(K::SeizeBureau, now)),
        &ctx(Role::Bureau, now),
        REGULAR,
    );
    // 25 hours ahead: refused, naming the latest time allowed.
    let r = given_when_rejected(
        &events,
        &fc(now + Duration::hours(25), sample(K::SeizeBureau, now)),
        &ctx(Role::Bureau, now),
        "LegalTimeInFuture",
    );
    assert_eq!(r.fields()["tolerance_hours"], "24");
    // A decision "in year 3000" is refused the same way, at opening too.
    let far = chrono::NaiveDate::from_ymd_opt(2199, 1, 1)
        .expect("date")
        .and_hms_opt(0, 0, 0)
        .expect("time")
        .and_utc();
    given_when_rejected(
        &events,
        &fc(far, sample(K::SeizeBureau, far)),
        &ctx(Role::Bureau, now),
        "LegalTimeInFuture",
    );
    given_when_rejected(
        &[],
        &fc(far, sample(K::OpenFormalCase, far)),
        &ctx(Role::CourtLiaison, now),
        "LegalTimeInFuture",
    );
}

#[test]
fn the_tolerance_is_a_rule_the_bureau_sets() {
    let (events, at) = given(&[K::OpenFormalCase]);
    let mut rules = ProcedureRules::with_all_extensions();
    rules.legal_time_tolerance_hours = 2;
    let amended = given_when_then(
        &events,
        &fc(
            at,
            Action::AmendRules {
                rules,
                decision_ref: "Bureau decision".into(),
            },
        ),
        &ctx(Role::Bureau, at),
        REFERRED,
    );
    let mut all = events.clone();
    all.extend(amended);
    given_when_rejected(
        &all,
        &fc(at + Duration::hours(3), sample(K::SeizeBureau, at)),
        &ctx(Role::Bureau, at),
        "LegalTimeInFuture",
    );
    let too_wide = ProcedureRules {
        legal_time_tolerance_hours: 169,
        ..ProcedureRules::default()
    };
    given_when_rejected(
        &all,
        &fc(
            at,
            Action::AmendRules {
                rules: too_wide,
                decision_ref: "Bureau decision".into(),
            },
        ),
        &ctx(Role::Bureau, at),
        "InvalidField",
    );
}

#[test]
fn the_registration_of_a_referral_is_not_before_its_transmission() {
    // The referral was transmitted on 2017-12-12.
    let before = day(2017, 12, 11);
    let r = given_when_rejected(
        &[],
        &fc(before, sample(K::OpenFormalCase, before)),
        &ctx(Role::CourtLiaison, day(2017, 12, 20)),
        "LegalTimeBeforeAnsweredAct",
    );
    assert_eq!(r.fields()["earliest_allowed"], "2017-12-12");
}

#[test]
fn the_bureau_cannot_be_seized_before_the_referral() {
    let (events, at) = given(&[K::OpenFormalCase]);
    let a_year_before = at - Duration::days(365);
    for kind in [K::SeizeBureau, K::ConveneEmergencyBureauMeeting] {
        let role = if kind == K::SeizeBureau {
            Role::Bureau
        } else {
            Role::President
        };
        let r = given_when_rejected(
            &events,
            &fc(a_year_before, sample(kind, a_year_before)),
            &ctx(role, at),
            "LegalTimeBeforeAnsweredAct",
        );
        assert_eq!(r.fields()["earliest_allowed"], at.date_naive().to_string());
        assert!(r.to_string().contains("Referred"), "{r}");
    }
}

#[test]
fn each_step_of_the_assembly_follows_the_one_before() {
    // The letter before the Bureau took the matter up; a meeting held before it was scheduled;
    // a report before the meeting; a plenary before the agenda; a resolution before the plenary.
    for (state, kind, role) in [
        (REGULAR, K::SendOpenLetter, Role::President),
        (AWAITING_MEETING, K::RecordPublicMeeting, Role::Secretariat),
        (MEETING_CONCLUDED, K::AdoptBureauReport, Role::Bureau),
        (ON_AGENDA, K::RecordPlenaryDiscussion, Role::Secretariat),
        (CONSIDERED, K::RecordAssemblyResolution, Role::Secretariat),
        (FOLLOW_UP, K::ConcludeConsideration, Role::Bureau),
    ] {
        let (events, at) = given(&super::tests::path(state));
        let day_before = at - Duration::days(1);
        given_when_rejected(
            &events,
            &fc(day_before, sample(kind, day_before)),
            &ctx(role, at),
            "LegalTimeBeforeAnsweredAct",
        );
        // The same day is fine.
        decide_after(&events, &fc(at, sample(kind, at)), &ctx(role, at))
            .unwrap_or_else(|r| panic!("{kind:?} on the day it became possible: {r}"));
    }
}

#[test]
fn the_courts_acts_follow_its_finding_not_the_assemblys_steps() {
    // An appeal filed before the finding is refused; one filed after it but before the
    // Bureau's latest step is recorded (the Court does not wait for the Assembly).
    let (events, at) = given(&[K::OpenFormalCase, K::SeizeBureau, K::SendOpenLetter]);
    let before_finding = day(2017, 12, 10);
    given_when_rejected(
        &events,
        &fc(
            before_finding,
            sample(K::RecordFindingAppealed, before_finding),
        ),
        &ctx(Role::CourtLiaison, at),
        "LegalTimeBeforeAnsweredAct",
    );
    let filed = day(2017, 12, 18);
    assert!(filed < at);
    given_when_then(
        &events,
        &fc(filed, sample(K::RecordFindingAppealed, filed)),
        &ctx(Role::CourtLiaison, at),
        SUSPENDED,
    );
}

#[test]
fn a_receipt_date_cannot_close_a_reply_window_still_open() {
    let (events, at) = given(&[K::OpenFormalCase, K::SeizeBureau, K::SendOpenLetter]);
    let deadline = at.date_naive() + Duration::days(14);
    // On the last day of the window, someone enters views dated the next day.
    let now = deadline.and_hms_opt(20, 0, 0).expect("time").and_utc();
    let next_day = now + Duration::hours(5);
    let r = given_when_rejected(
        &events,
        &fc(next_day, sample(K::RecordViews, next_day)),
        &ctx(Role::Secretariat, now),
        "ReplyWindowStillOpen",
    );
    assert_eq!(r.fields()["reply_deadline"], deadline.to_string());
    // Views before the letter are refused as before.
    given_when_rejected(
        &events,
        &fc(at - Duration::days(1), sample(K::RecordViews, at)),
        &ctx(Role::Secretariat, now),
        "InvalidField",
    );
}

// ----- Recorded late is not legally late --------------------------------------------------

#[test]
fn timely_views_entered_after_the_lapse_correct_it() {
    let (mut events, at) = given(&[K::OpenFormalCase, K::SeizeBureau, K::SendOpenLetter]);
    let deadline = at.date_naive() + Duration::days(14);
    // The scheduler records the lapse the day after the deadline.
    let lapse_at = (deadline + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("time")
        .and_utc();
    events.extend(given_when_then(
        &events,
        &fc(lapse_at, Action::RecordDeadlineElapsed),
        &ctx(Role::System, lapse_at + Duration::hours(1)),
        NO_RESPONSE,
    ));
    // A week later the Secretariat enters views received on the last day.
    let received = deadline.and_hms_opt(16, 0, 0).expect("time").and_utc();
    let out = given_when_then(
        &events,
        &fc(received, sample(K::RecordViews, received)),
        &ctx(Role::Secretariat, lapse_at + Duration::days(7)),
        VIEWS_ON_FILE,
    );
    assert_eq!(
        names(&out),
        vec!["DeadlineLapseCorrected", "ViewsReceived"],
        "the lapse is corrected by a new event, not rewritten"
    );
    if let CaseEvent::Formal(e) = &out[0]
        && let Body::DeadlineLapseCorrected {
            kind,
            deadline: d,
            met_on,
            reason,
        } = &e.body
    {
        assert_eq!(*kind, DeadlineKind::ReplyWindow);
        assert_eq!(*d, deadline);
        assert_eq!(*met_on, deadline);
        assert!(
            reason.contains("on or before the reply deadline"),
            "{reason}"
        );
    } else {
        panic!("first event: {:?}", out[0]);
    }
    events.extend(out);
    let c = case_of(&events);
    assert_eq!(c.views.len(), 1);
    assert!(!c.views[0].late);
    // The lapse itself stays in the log.
    assert!(names(&events).contains(&"ResponseDeadlineElapsed".to_owned()));
    // Views received after the deadline stay late.
    let (mut events2, _) = given(&[K::OpenFormalCase, K::SeizeBureau, K::SendOpenLetter]);
    events2.extend(given_when_then(
        &events2,
        &fc(lapse_at, Action::RecordDeadlineElapsed),
        &ctx(Role::System, lapse_at + Duration::hours(1)),
        NO_RESPONSE,
    ));
    let late = lapse_at + Duration::days(2);
    let out = given_when_then(
        &events2,
        &fc(late, sample(K::RecordViews, late)),
        &ctx(Role::Secretariat, late),
        NO_RESPONSE,
    );
    assert_eq!(names(&out), vec!["LateViewsReceived"]);
}

#[test]
fn bureau_action_dated_in_time_corrects_the_e4_overdue_record() {
    let open = fc(
        day(2017, 12, 12),
        super::tests::open_action(ProcedureRules::with_all_extensions()),
    );
    let mut events = decide_after(&[], &open, &ctx(Role::CourtLiaison, day(2017, 12, 12)))
        .expect("open")
        .events;
    // Due 14 days after transmission (2017-12-12): 2017-12-26; recorded overdue on the 27th.
    let fired = day(2017, 12, 27);
    events.extend(given_when_then(
        &events,
        &fc(fired, Action::RecordDeadlineElapsed),
        &ctx(Role::System, fired),
        REFERRED,
    ));
    assert!(case_of(&events).bureau_action_overdue);
    // The Bureau met on the 20th; its minutes are entered in January.
    let met = day(2017, 12, 20);
    let out = given_when_then(
        &events,
        &fc(met, sample(K::SeizeBureau, met)),
        &ctx(Role::Bureau, day(2018, 1, 8)),
        REGULAR,
    );
    assert_eq!(names(&out), vec!["DeadlineLapseCorrected", "BureauSeized"]);
    events.extend(out);
    assert!(!case_of(&events).bureau_action_overdue);
    // A meeting after the due day corrects nothing.
    let mut late_log = decide_after(&[], &open, &ctx(Role::CourtLiaison, day(2017, 12, 12)))
        .expect("open")
        .events;
    late_log.extend(
        decide_after(
            &late_log,
            &fc(fired, Action::RecordDeadlineElapsed),
            &ctx(Role::System, fired),
        )
        .expect("overdue")
        .events,
    );
    let out = given_when_then(
        &late_log,
        &fc(fired, sample(K::SeizeBureau, fired)),
        &ctx(Role::Bureau, fired),
        REGULAR,
    );
    assert_eq!(names(&out), vec!["BureauSeized"]);
}

// ----- Ways forward and out -----------------------------------------------------------------

#[test]
fn a_public_meeting_can_be_rescheduled_or_cancelled() {
    let (events, at) = given(&super::tests::path(AWAITING_MEETING));
    let scheduled = match &case_of(&events).phase {
        Phase::AwaitingPublicMeeting { scheduled_for } => *scheduled_for,
        other => panic!("{other:?}"),
    };
    // Rescheduled: same state, new date.
    let new_date = scheduled + Duration::days(21);
    let out = given_when_then(
        &events,
        &fc(
            at,
            Action::SchedulePublicMeeting {
                date: new_date,
                venue: "The Hague".into(),
                invitation_ref: "ASP/2018/INV2".into(),
            },
        ),
        &ctx(Role::Bureau, at),
        AWAITING_MEETING,
    );
    assert_eq!(names(&out), vec!["PublicMeetingRescheduled"]);
    let mut all = events.clone();
    all.extend(out);
    assert_eq!(
        case_of(&all).phase,
        Phase::AwaitingPublicMeeting {
            scheduled_for: new_date
        }
    );
    // The same date again is not a rescheduling.
    given_when_rejected(
        &all,
        &fc(
            at,
            Action::SchedulePublicMeeting {
                date: new_date,
                venue: "The Hague".into(),
                invitation_ref: "ASP/2018/INV3".into(),
            },
        ),
        &ctx(Role::Bureau, at),
        "MeetingAlreadyScheduledFor",
    );
    // Cancelled: back to where the case stood (views were on file), and the Bureau can report
    // without the meeting or schedule another.
    let out = given_when_then(
        &all,
        &fc(at, sample(K::CancelPublicMeeting, at)),
        &ctx(Role::Bureau, at),
        VIEWS_ON_FILE,
    );
    all.extend(out);
    given_when_then(
        &all,
        &fc(at, sample(K::SchedulePublicMeeting, at)),
        &ctx(Role::Bureau, at),
        AWAITING_MEETING,
    );
    given_when_then(
        &all,
        &fc(at, sample(K::AdoptBureauReport, at)),
        &ctx(Role::Bureau, at),
        REPORTED,
    );
    // A cancellation without a reason is refused.
    given_when_rejected(
        &events,
        &fc(
            at,
            Action::CancelPublicMeeting {
                reason: "  ".into(),
            },
        ),
        &ctx(Role::Bureau, at),
        "InvalidField",
    );
}

#[test]
fn a_cancelled_meeting_after_no_response_returns_to_no_response() {
    let (events, at) = given(&[
        K::OpenFormalCase,
        K::SeizeBureau,
        K::SendOpenLetter,
        K::RecordDeadlineElapsed,
        K::SchedulePublicMeeting,
    ]);
    given_when_then(
        &events,
        &fc(at, sample(K::CancelPublicMeeting, at)),
        &ctx(Role::Bureau, at),
        NO_RESPONSE,
    );
}

#[test]
fn a_matter_on_the_agenda_can_be_deferred_to_a_later_session() {
    let (events, at) = given(&super::tests::path(ON_AGENDA));
    let opening = at.date_naive() + Duration::days(365);
    let out = given_when_then(
        &events,
        &fc(
            at,
            Action::PlaceOnAssemblyAgenda {
                session_no: 18,
                session_opening: opening,
                agenda_item: "Non-cooperation".into(),
            },
        ),
        &ctx(Role::Bureau, at),
        ON_AGENDA,
    );
    assert_eq!(names(&out), vec!["MatterDeferredToLaterSession"]);
    let mut all = events.clone();
    all.extend(out);
    assert_eq!(
        case_of(&all).phase,
        Phase::OnAssemblyAgenda {
            session_no: 18,
            session_opening: opening
        }
    );
    // The plenary is now that of session 18.
    given_when_rejected(
        &all,
        &fc(at, sample(K::RecordPlenaryDiscussion, at)),
        &ctx(Role::Secretariat, at),
        "InvalidField",
    );
    // Deferring to the same or an earlier session is refused.
    given_when_rejected(
        &events,
        &fc(at, sample(K::PlaceOnAssemblyAgenda, at)),
        &ctx(Role::Bureau, at),
        "InvalidField",
    );
}

#[test]
fn the_follow_up_repeats_every_year_until_the_matter_is_closed() {
    let (mut events, mut at) = given(&super::tests::path(FOLLOW_UP));
    for year in 18..=19u32 {
        at += Duration::days(30);
        let report = format!("ICC-ASP/{year}/31");
        events.extend(given_when_then(
            &events,
            &fc(
                at,
                Action::AdoptBureauReport {
                    report_symbol: report.clone(),
                    recommendations: vec!["remain seized".into()],
                    omnibus_language_ref: None,
                },
            ),
            &ctx(Role::Bureau, at),
            REPORTED,
        ));
        at += Duration::days(10);
        events.extend(given_when_then(
            &events,
            &fc(
                at,
                Action::PlaceOnAssemblyAgenda {
                    session_no: year,
                    session_opening: at.date_naive() + Duration::days(120),
                    agenda_item: "Non-cooperation".into(),
                },
            ),
            &ctx(Role::Bureau, at),
            ON_AGENDA,
        ));
        at += Duration::days(10);
        events.extend(given_when_then(
            &events,
            &fc(
                at,
                Action::RecordPlenaryDiscussion {
                    session_no: year,
                    speakers: vec![],
                    record_ref: format!("ICC-ASP/{year}/SR.9"),
                },
            ),
            &ctx(Role::Secretariat, at),
            CONSIDERED,
        ));
        events.extend(given_when_then(
            &events,
            &fc(at, sample(K::RecordAssemblyResolution, at)),
            &ctx(Role::Secretariat, at),
            FOLLOW_UP,
        ));
        // The same report cannot open the next cycle.
        given_when_rejected(
            &events,
            &fc(
                at,
                Action::AdoptBureauReport {
                    report_symbol: report,
                    recommendations: vec![],
                    omnibus_language_ref: None,
                },
            ),
            &ctx(Role::Bureau, at),
            "InvalidField",
        );
    }
    given_when_then(
        &events,
        &fc(at, Action::ConcludeConsideration),
        &ctx(Role::Bureau, at),
        CLOSED_CONCLUDED,
    );
}

#[test]
fn the_court_can_withdraw_its_referral_or_revoke_its_finding_outside_an_appeal() {
    for (state, withdrawal) in [
        (AWAITING_VIEWS, CourtWithdrawal::ReferralWithdrawn),
        (FOLLOW_UP, CourtWithdrawal::FindingRevoked),
        (SUSPENDED, CourtWithdrawal::ReferralWithdrawn),
    ] {
        let (events, at) = given(&super::tests::path(state));
        let out = given_when_then(
            &events,
            &fc(
                at,
                Action::RecordCourtWithdrawal {
                    decision_symbol: "ICC-02/05-01/09-402".into(),
                    withdrawal,
                },
            ),
            &ctx(Role::CourtLiaison, at),
            CLOSED_WITHDRAWN,
        );
        assert_eq!(names(&out), vec!["CourtWithdrewReferral"]);
        // Only the Court's liaison records it.
        given_when_rejected(
            &events,
            &fc(at, sample(K::RecordCourtWithdrawal, at)),
            &ctx(Role::Bureau, at),
            "NotPermitted",
        );
    }
}

#[test]
fn no_court_proceedings_is_not_a_basis_for_a_formal_case() {
    let (events, at) = given(&[K::OpenFormalCase]);
    given_when_rejected(
        &events,
        &fc(
            at,
            Action::RecordMatterMoot {
                basis: MootBasis::NoCourtProceedings,
                court_notice_ref: None,
            },
        ),
        &ctx(Role::CourtLiaison, at),
        "InvalidField",
    );
}

// ----- Legal time has a place ---------------------------------------------------------------

#[test]
fn an_evening_letter_in_new_york_is_dated_that_day_and_its_window_ends_at_the_seat() {
    let (events, _) = given(&[K::OpenFormalCase, K::SeizeBureau]);
    // 20:30 in New York on 12 Jan 2018 is 01:30 UTC on the 13th.
    let at = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2018, 1, 13, 1, 30, 0).unwrap();
    let mut act = crate::domain::ActMeta::at(at);
    act.time_zone = Some("America/New_York".into());
    let cmd = crate::domain::case::CaseCommand::Formal(Command {
        act,
        action: sample(K::SendOpenLetter, at),
    });
    let out = given_when_then(&events, &cmd, &ctx(Role::President, at), AWAITING_VIEWS);
    let CaseEvent::Formal(e) = &out[0] else {
        panic!()
    };
    let Body::OpenLetterSent {
        sent_on,
        reply_deadline,
        ..
    } = &e.body
    else {
        panic!("{:?}", e.body)
    };
    assert_eq!(sent_on.to_string(), "2018-01-12");
    assert_eq!(reply_deadline.to_string(), "2018-01-26");
    assert_eq!(e.meta.time_zone.as_deref(), Some("America/New_York"));
    // The window ends at midnight in The Hague (the rules' seat), 23:00 UTC, not at midnight
    // UTC (19:00 in New York).
    let mut all = events.clone();
    all.extend(out);
    let d = state_after(crate::domain::ProcedureKind::Formal, &all)
        .next_deadline()
        .expect("reply window");
    assert_eq!(d.time_zone, "Europe/Amsterdam");
    assert_eq!(d.ends_at().to_rfc3339(), "2018-01-26T23:00:00+00:00");
    assert!(!d.has_elapsed(d.ends_at() - Duration::seconds(1)));
    assert!(d.has_elapsed(d.ends_at()));
}

#[test]
fn a_window_ending_on_a_weekend_rolls_forward_only_if_the_bureau_says_so() {
    let (events, at) = given(&[K::OpenFormalCase, K::SeizeBureau]);
    // Letter on Saturday 13 Jan 2018 (noon): 14 days end on Saturday 27 Jan.
    let saturday = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2018, 1, 13, 12, 0, 0).unwrap();
    let deadline_after = |events: &[CaseEvent]| {
        let out = given_when_then(
            events,
            &fc(saturday, sample(K::SendOpenLetter, saturday)),
            &ctx(Role::President, saturday),
            AWAITING_VIEWS,
        );
        let mut all = events.to_vec();
        all.extend(out);
        state_after(crate::domain::ProcedureKind::Formal, &all)
            .next_deadline()
            .expect("reply window")
            .due
            .to_string()
    };
    assert_eq!(deadline_after(&events), "2018-01-27");
    let rules = ProcedureRules {
        deadlines_roll_forward: true,
        holidays: vec![chrono::NaiveDate::from_ymd_opt(2018, 1, 29).unwrap()],
        ..ProcedureRules::with_all_extensions()
    };
    let mut amended = events.clone();
    amended.extend(given_when_then(
        &events,
        &fc(
            at,
            Action::AmendRules {
                rules,
                decision_ref: "Bureau decision".into(),
            },
        ),
        &ctx(Role::Bureau, at),
        REGULAR,
    ));
    // Saturday, Sunday and the listed holiday on Monday: Tuesday 30 Jan.
    assert_eq!(deadline_after(&amended), "2018-01-30");
    // An unknown zone is refused by name.
    let bad = ProcedureRules {
        seat_time_zone: "Mars/Olympus".into(),
        ..ProcedureRules::default()
    };
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
    assert_eq!(r.fields()["field"], "rules.seat_time_zone");
}
