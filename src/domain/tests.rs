//! Cross-procedure tests: roster, interpretative resolutions, every named rejection produced,
//! the envelope codec, available actions, and property tests over random command sequences.
//!
//! Over 800 lines: the tests that span procedures (rejections produced, random runs, codec,
//! dead ends, roster, E5) with their shared helpers.

#![allow(clippy::field_reassign_with_default)]

use chrono::Duration;
use proptest::prelude::*;

use super::{
    ActMeta, Context, Principal, ProcedureKind, ProcedureRules, Region, Role,
    case::{self, CaseCommand, CaseEvent, CaseState},
    codec, formal, interpretative,
    permissions::CommandKind,
    preventive, roster, schemas,
    testkit::*,
};

fn member(state: &str, region: Region) -> roster::Member {
    roster::Member {
        state: state.into(),
        name: state.into(),
        region,
        subjects: vec![],
    }
}

fn rc(at: chrono::DateTime<chrono::Utc>, action: roster::Action) -> CaseCommand {
    CaseCommand::Roster(roster::Command {
        act: ActMeta::at(at),
        action,
    })
}

/// The 6 March 2024 appointments (Mexico, Sierra Leone, Vanuatu; the source is cut after
/// them: the fourth, for Eastern Europe, is [A]), under a President from WEOG.
fn appoint_2024(members: Vec<roster::Member>) -> CaseCommand {
    rc(
        day(2024, 3, 6),
        roster::Action::AppointFocalPoints {
            roster_id: id(500),
            term: "2023-2026".into(),
            president_region: Region::WesternEuropeanOther,
            members,
        },
    )
}

fn four() -> Vec<roster::Member> {
    vec![
        member("MX", Region::LatinAmericanCaribbean),
        member("SL", Region::African),
        member("VU", Region::AsiaPacific),
        member("LT", Region::EasternEuropean),
    ]
}

#[test]
fn roster_appointment_of_four_covers_every_other_region() {
    let bureau = ctx(Role::Bureau, day(2024, 3, 6));
    let log = given_when_then(&[], &appoint_2024(four()), &bureau, "Appointed");
    let CaseState::Roster(s) = case::replay(ProcedureKind::Roster, &log) else {
        panic!()
    };
    assert_eq!(s.focal_points_for(Region::African)[0].state, "SL");
    assert!(s.focal_points_for(Region::WesternEuropeanOther).is_empty());
    // Replacement within the region, not across.
    let replace = |state: &str, region| {
        rc(
            day(2025, 1, 10),
            roster::Action::ReplaceFocalPoint {
                replaced: "SL".into(),
                replacement: member(state, region),
            },
        )
    };
    given_when_then(&log, &replace("GH", Region::African), &bureau, "Appointed");
    let r = given_when_rejected(
        &log,
        &replace("FR", Region::WesternEuropeanOther),
        &bureau,
        "ReplacementRegionMismatch",
    );
    assert_eq!(r.fields()["replaced"], "african");
    let not_member = rc(
        day(2025, 1, 10),
        roster::Action::ReplaceFocalPoint {
            replaced: "BR".into(),
            replacement: member("AR", Region::LatinAmericanCaribbean),
        },
    );
    given_when_rejected(&log, &not_member, &bureau, "NotAFocalPoint");
}

#[test]
fn roster_guards_count_and_representation() {
    let bureau = ctx(Role::Bureau, day(2024, 3, 6));
    let mut three = four();
    three.pop();
    given_when_rejected(&[], &appoint_2024(three), &bureau, "FocalPointCountInvalid");
    let mut five = four();
    five.push(member("NG", Region::African));
    // Five only at the President's request.
    given_when_rejected(
        &[],
        &appoint_2024(five.clone()),
        &bureau,
        "FocalPointCountInvalid",
    );
    let mut two_african = four();
    two_african[3] = member("NG", Region::African);
    let r = given_when_rejected(
        &[],
        &appoint_2024(two_african),
        &bureau,
        "InequitableRepresentation",
    );
    assert!(r.to_string().contains("the African States have 2"), "{r}");
    let request = rc(
        day(2024, 2, 1),
        roster::Action::RequestFifthFocalPoint {
            roster_id: id(500),
            term: "2023-2026".into(),
            president_region: Region::WesternEuropeanOther,
        },
    );
    let log = given_when_then(
        &[],
        &request,
        &ctx(Role::President, day(2024, 2, 1)),
        "AwaitingAppointment",
    );
    given_when_then(&log, &appoint_2024(five), &bureau, "Appointed");
    // Only the Bureau appoints.
    given_when_rejected(
        &[],
        &appoint_2024(four()),
        &ctx(Role::President, day(2024, 3, 6)),
        "NotPermitted",
    );
}

fn ic(at: chrono::DateTime<chrono::Utc>, action: interpretative::Action) -> CaseCommand {
    CaseCommand::Interpretative(interpretative::Command {
        act: ActMeta::at(at),
        action,
    })
}

fn propose(rules: ProcedureRules) -> CaseCommand {
    ic(
        day(2026, 12, 1),
        interpretative::Action::Propose {
            case_id: id(700),
            reference: "IR-2026-0001".into(),
            provision: "Rome Statute art. 98(1)".into(),
            issue: "head-of-state immunity".into(),
            text: "Understanding: art. 27(2) applies in relations among States Parties".into(),
            linked_cases: vec![id(1)],
            rules,
        },
    )
}

#[test]
fn interpretative_resolutions_need_e5_and_never_bind_the_court() {
    let bureau = ctx(Role::Bureau, day(2026, 12, 1));
    given_when_rejected(
        &[],
        &propose(ProcedureRules::default()),
        &bureau,
        "ExtensionDisabled",
    );
    let log = given_when_then(
        &[],
        &propose(ProcedureRules::with_all_extensions()),
        &bureau,
        "Proposed",
    );
    let adopt = ic(
        day(2026, 12, 10),
        interpretative::Action::Adopt {
            resolution_symbol: "ICC-ASP/25/Res.9".into(),
            all_parties_agreed: true,
        },
    );
    let out = given_when_then(
        &log,
        &adopt,
        &ctx(Role::Secretariat, day(2026, 12, 10)),
        "Adopted",
    );
    let CaseEvent::Interpretative(e) = &out[0] else {
        panic!()
    };
    assert!(matches!(
        e.body,
        interpretative::Body::InterpretativeResolutionAdopted {
            binding_on_court: false,
            subsequent_agreement: true,
            ..
        }
    ));
    let mut all = log.clone();
    all.extend(out);
    given_when_rejected(
        &all,
        &adopt,
        &ctx(Role::Secretariat, day(2026, 12, 11)),
        "ProcedureClosed",
    );
    given_when_rejected(
        &all,
        &propose(ProcedureRules::with_all_extensions()),
        &bureau,
        "CaseAlreadyOpened",
    );
    let withdraw = ic(
        day(2026, 12, 2),
        interpretative::Action::Withdraw { reason: "".into() },
    );
    given_when_rejected(&log, &withdraw, &bureau, "InvalidField");
}

/// Every variant of `Rejection` is produced by some command here (the list of variants is
/// read from the source, so a new rejection without a test fails this test).
#[test]
fn every_named_rejection_is_produced() {
    use formal::tests as f;
    use preventive::tests as p;
    let mut produced = std::collections::BTreeSet::new();
    let mut note = |r: Result<case::Decision, super::Rejection>| {
        if let Err(r) = r {
            // The code read from the tag alone is the one the whole rejection serialises with.
            assert_eq!(Some(&r.code()), r.fields().get("code"), "{r:?}");
            produced.insert(r.code());
        }
    };
    let t = day(2018, 1, 1);
    let decide =
        |events: &[CaseEvent], cmd: CaseCommand, c: &Context| decide_after(events, &cmd, c);
    // Formal.
    note(decide(
        &[],
        f::fc(t, f::sample(CommandKind::SeizeBureau, t)),
        &ctx(Role::Bureau, t),
    ));
    let (opened, at) = f::run(&[CommandKind::OpenFormalCase]);
    note(decide(
        &opened,
        f::fc(at, f::open_action(ProcedureRules::default())),
        &ctx(Role::CourtLiaison, at),
    ));
    note(decide(
        &opened,
        f::fc(at, f::sample(CommandKind::SeizeBureau, at)),
        &ctx(Role::Observer, at),
    ));
    note(decide(
        &opened,
        f::fc(at, f::sample(CommandKind::SendOpenLetter, at)),
        &ctx(Role::President, at),
    ));
    note(decide(
        &opened,
        f::fc(at, formal::Action::RecordDeadlineElapsed),
        &ctx(Role::System, at),
    ));
    let (views, at) = f::run(&f::path(formal::names::VIEWS_ON_FILE));
    note(decide(
        &views,
        f::fc(at, f::sample(CommandKind::RecordPublicMeeting, at)),
        &ctx(Role::Bureau, at),
    ));
    note(decide(
        &views,
        f::fc(at, f::sample(CommandKind::SendOpenLetter, at)),
        &ctx(Role::President, at),
    ));
    let (awaiting, at) = f::run(&f::path(formal::names::AWAITING_VIEWS));
    note(decide(
        &awaiting,
        f::fc(at, formal::Action::RecordDeadlineElapsed),
        &ctx(Role::System, at),
    ));
    let (suspended, at) = f::run(&f::path(formal::names::SUSPENDED));
    note(decide(
        &suspended,
        f::fc(at, f::sample(CommandKind::SeizeBureau, at)),
        &ctx(Role::Bureau, at),
    ));
    let (closed, at) = f::run(&f::path(formal::names::CLOSED_MOOT));
    note(decide(
        &closed,
        f::fc(at, f::sample(CommandKind::SeizeBureau, at)),
        &ctx(Role::Bureau, at),
    ));
    let (reported, at) = f::run(&f::path(formal::names::REPORTED));
    note(decide(
        &reported,
        f::fc(
            at,
            formal::Action::PlaceOnAssemblyAgenda {
                session_no: 1,
                session_opening: at.date_naive(),
                agenda_item: "x".into(),
            },
        ),
        &ctx(Role::Bureau, at),
    ));
    let mut no_warning = f::sample(CommandKind::SendOpenLetter, at);
    if let formal::Action::SendOpenLetter {
        warned_measures, ..
    } = &mut no_warning
    {
        warned_measures.clear();
    }
    let (regular, at) = f::run(&f::path(formal::names::REGULAR));
    note(decide(
        &regular,
        f::fc(at, no_warning),
        &ctx(Role::President, at),
    ));
    note(decide(
        &regular,
        f::fc(at, formal::Action::RecordDeadlineElapsed),
        &ctx(Role::System, at),
    ));
    let mut bad_rules = ProcedureRules::default();
    bad_rules.focal_point_count = 7;
    note(decide(
        &regular,
        f::fc(
            at,
            formal::Action::AmendRules {
                rules: bad_rules,
                decision_ref: "Bureau decision".into(),
            },
        ),
        &ctx(Role::Bureau, at),
    ));
    let (letter, at) = f::run(&[
        CommandKind::OpenFormalCase,
        CommandKind::SeizeBureau,
        CommandKind::SendOpenLetter,
        CommandKind::CirculateOpenLetter,
    ]);
    note(decide(
        &letter,
        f::fc(at, f::sample(CommandKind::CirculateOpenLetter, at)),
        &ctx(Role::President, at),
    ));
    let mut unsc = f::open_action(ProcedureRules::default());
    let mut dup = f::open_action(ProcedureRules::default());
    if let formal::Action::Open { referral, .. } = &mut unsc {
        referral.targets = vec![formal::ReferralTarget::Unsc];
    }
    if let formal::Action::Open {
        existing_case_for_decision,
        ..
    } = &mut dup
    {
        *existing_case_for_decision = Some(id(3));
    }
    note(decide(&[], f::fc(t, unsc), &ctx(Role::CourtLiaison, t)));
    note(decide(&[], f::fc(t, dup), &ctx(Role::CourtLiaison, t)));
    let (default_rules, at) = (
        decide_after(
            &[],
            &f::fc(t, f::open_action(ProcedureRules::default())),
            &ctx(Role::CourtLiaison, t),
        )
        .expect("open")
        .events,
        t,
    );
    note(decide(
        &default_rules,
        f::fc(at, f::sample(CommandKind::ReferToSecurityCouncil, at)),
        &ctx(Role::President, at),
    ));
    let (with_c1, at) = f::run(&[
        CommandKind::OpenFormalCase,
        CommandKind::RecordConsultationRequested,
    ]);
    note(decide(
        &with_c1,
        f::fc(at, f::sample(CommandKind::RecordConsultationRequested, at)),
        &ctx(Role::CourtLiaison, at),
    ));
    note(decide(
        &with_c1,
        f::fc(
            at,
            formal::Action::Consultation(super::consultation::Action::Hold {
                reference: "zz".into(),
            }),
        ),
        &ctx(Role::CourtLiaison, at),
    ));
    let (answered, at) = f::run(&[
        CommandKind::OpenFormalCase,
        CommandKind::RecordConsultationRequested,
        CommandKind::RecordConsultationAnswered,
    ]);
    note(decide(
        &answered,
        f::fc(at, f::sample(CommandKind::RecordConsultationHeld, at)),
        &ctx(Role::CourtLiaison, at),
    ));
    let fp_elsewhere = Context {
        now: at,
        principal: Principal::new("fp", Role::FocalPoint).in_region(Region::African),
    };
    note(decide(
        &with_c1,
        f::fc(at, f::sample(CommandKind::JoinConsultation, at)),
        &fp_elsewhere,
    ));
    // Preventive.
    let mut no_request =
        p::open_action("NG", "Nigeria", Region::African, ProcedureRules::default());
    let mut not_bound = no_request.clone();
    if let preventive::Action::Open { facts, .. } = &mut no_request {
        facts.request.outstanding = false;
    }
    if let preventive::Action::Open { facts, .. } = &mut not_bound {
        facts.requested_state.status = super::StateStatus::NotBound;
    }
    note(decide(
        &[],
        p::pc(t, no_request),
        &ctx(Role::CourtLiaison, t),
    ));
    note(decide(
        &[],
        p::pc(t, not_bound),
        &ctx(Role::CourtLiaison, t),
    ));
    let (assessed, at) = p::run(&[
        CommandKind::OpenPreventiveCase,
        CommandKind::AssessSituation,
    ]);
    note(decide(
        &assessed,
        p::pc(at, p::sample(CommandKind::DismissAlert, at)),
        &ctx(Role::President, at),
    ));
    let (alerted, at) = p::run(&[CommandKind::OpenPreventiveCase]);
    let weak = preventive::Action::AssessSituation {
        assessment: preventive::Assessment {
            specific: false,
            serious: false,
            imminent: false,
            ongoing: false,
        },
        consulted_focal_points: vec![],
    };
    let mut weak_log = alerted.clone();
    weak_log.extend(
        decide(&alerted, p::pc(at, weak), &ctx(Role::President, at))
            .expect("assess")
            .events,
    );
    note(decide(
        &weak_log,
        p::pc(at, preventive::Action::InitiateGoodOffices),
        &ctx(Role::President, at),
    ));
    let (escalated, at) = p::run(&p::path(preventive::names::ESCALATED));
    note(decide(
        &escalated,
        p::pc(at, p::sample(CommandKind::RecordCourtReferral, at)),
        &ctx(Role::CourtLiaison, at),
    ));
    // Roster.
    let bureau = ctx(Role::Bureau, day(2024, 3, 6));
    let mut three = four();
    three.pop();
    note(decide(&[], appoint_2024(three), &bureau));
    let mut dup_region = four();
    dup_region[3] = member("NG", Region::African);
    note(decide(&[], appoint_2024(dup_region), &bureau));
    let appointed = decide(&[], appoint_2024(four()), &bureau)
        .expect("appoint")
        .events;
    note(decide(
        &appointed,
        rc(
            t,
            roster::Action::ReplaceFocalPoint {
                replaced: "BR".into(),
                replacement: member("AR", Region::LatinAmericanCaribbean),
            },
        ),
        &bureau,
    ));
    note(decide(
        &appointed,
        rc(
            t,
            roster::Action::ReplaceFocalPoint {
                replaced: "SL".into(),
                replacement: member("FR", Region::WesternEuropeanOther),
            },
        ),
        &bureau,
    ));

    // Legal time and the second round (issue 13).
    let (opened, at) = f::run(&[CommandKind::OpenFormalCase]);
    note(decide(
        &opened,
        f::fc(
            at + Duration::days(3),
            f::sample(CommandKind::SeizeBureau, at),
        ),
        &ctx(Role::Bureau, at),
    ));
    note(decide(
        &opened,
        f::fc(
            at - Duration::days(3),
            f::sample(CommandKind::SeizeBureau, at),
        ),
        &ctx(Role::Bureau, at),
    ));
    let (letter, at) = f::run(&[
        CommandKind::OpenFormalCase,
        CommandKind::SeizeBureau,
        CommandKind::SendOpenLetter,
    ]);
    let last_day = at + Duration::days(14);
    note(decide(
        &letter,
        f::fc(
            last_day + Duration::days(1),
            f::sample(CommandKind::RecordViews, at),
        ),
        &ctx(Role::Secretariat, last_day),
    ));
    let (meeting, at) = f::run(&f::path(formal::names::AWAITING_MEETING));
    note(decide(
        &meeting,
        f::fc(at, f::sample(CommandKind::SchedulePublicMeeting, at)),
        &ctx(Role::Bureau, at),
    ));

    let source = include_str!("rejection.rs");
    let body = &source[source.find("pub enum Rejection {").expect("enum")..];
    let body = &body[..body.find("\n}\n").expect("end")];
    let variants: std::collections::BTreeSet<String> = body
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("    ")?;
            let name: String = l
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            (name.chars().next()?.is_ascii_uppercase()
                && (l[name.len()..].starts_with(" {") || l[name.len()..].starts_with(',')))
            .then_some(name)
        })
        .collect();
    assert!(variants.len() >= 30, "{variants:?}");
    let missing: Vec<_> = variants.difference(&produced).collect();
    assert!(missing.is_empty(), "rejections never produced: {missing:?}");
}

#[test]
fn codec_round_trips_and_refuses_what_it_cannot_read() {
    let (log, _) = formal::tests::run(&formal::tests::path(formal::names::FOLLOW_UP));
    let (plog, _) = preventive::tests::run(&preventive::tests::path(preventive::names::ESCALATED));
    for e in log.iter().chain(plog.iter()) {
        let env = codec::encode(e);
        assert!(env.event_type.contains('.'));
        schemas::check::assert_valid(&env);
        let back =
            codec::decode(&env.event_type, env.schema_version, &env.payload).expect("decode");
        assert_eq!(&back, e);
    }
    let env = codec::encode(&log[0]);
    assert_eq!(env.event_type, "formal.non_cooperation_finding_referred");
    assert!(matches!(
        codec::decode(&env.event_type, 4, &env.payload),
        Err(codec::CodecError::UnsupportedVersion { version: 4, .. })
    ));
    assert!(matches!(
        codec::decode("formal.open_letter_sent", 1, &env.payload),
        Err(codec::CodecError::BadPayload { .. })
    ));
    assert!(matches!(
        codec::decode("other.x", 1, b"{}"),
        Err(codec::CodecError::UnknownType(_))
    ));
}

/// The direct decoder (the body read as the variant the event type names) reads every event
/// of every state's path as serde's own internally tagged reading does, and refuses a body
/// whose `type` is missing, repeated or another variant's.
#[test]
fn direct_decoding_agrees_with_the_tagged_reading_and_checks_the_type() {
    let mut seen = std::collections::BTreeSet::new();
    let mut check = |e: &CaseEvent| {
        let env = codec::encode(e);
        let direct =
            codec::decode(&env.event_type, env.schema_version, &env.payload).expect("decode");
        let tagged = match e {
            CaseEvent::Formal(_) => {
                CaseEvent::Formal(serde_json::from_slice(&env.payload).unwrap())
            }
            CaseEvent::Preventive(_) => {
                CaseEvent::Preventive(serde_json::from_slice(&env.payload).unwrap())
            }
            CaseEvent::Interpretative(_) => {
                CaseEvent::Interpretative(serde_json::from_slice(&env.payload).unwrap())
            }
            CaseEvent::Roster(_) => {
                CaseEvent::Roster(serde_json::from_slice(&env.payload).unwrap())
            }
        };
        assert_eq!(direct, tagged, "{}", env.event_type);
        assert_eq!(&direct, e, "{}", env.event_type);
        seen.insert(env.event_type);
    };
    for state in formal::STATES {
        formal::tests::run(&formal::tests::path(state))
            .0
            .iter()
            .for_each(&mut check);
    }
    for state in preventive::STATES {
        preventive::tests::run(&preventive::tests::path(state))
            .0
            .iter()
            .for_each(&mut check);
    }
    assert!(seen.len() >= 30, "{seen:?}");

    let (log, _) = formal::tests::run(&formal::tests::path(formal::names::FOLLOW_UP));
    let env = codec::encode(&log[1]);
    let text = String::from_utf8(env.payload.clone()).unwrap();
    let tag = format!("\"type\":\"{}\"", env.event_type.split_once('.').unwrap().1);
    assert!(text.contains(&tag), "{text}");
    let refused = |payload: String| match codec::decode(
        &env.event_type,
        env.schema_version,
        payload.as_bytes(),
    ) {
        Err(codec::CodecError::BadPayload { message, .. }) => message,
        other => panic!("{payload}: {other:?}"),
    };
    let other = refused(text.replace(&tag, "\"type\":\"bureau_seized\""));
    assert!(other.contains("does not match the event type"), "{other}");
    let missing = refused(
        text.replace(&format!(",{tag}"), "")
            .replace(&format!("{tag},"), ""),
    );
    assert!(
        missing.contains("does not match the event type"),
        "{missing}"
    );
    let twice = refused(text.replace(&tag, &format!("{tag},{tag}")));
    assert!(twice.contains("duplicate field `type`"), "{twice}");
    let not_json = refused(format!("{text} x"));
    assert!(not_json.contains("trailing characters"), "{not_json}");
    // A field the body does not know is passed over, as before.
    let extra = text.replace(&tag, &format!("{tag},\"later_field\":[1,{{}}]"));
    assert_eq!(
        codec::decode(&env.event_type, env.schema_version, extra.as_bytes()).expect("decode"),
        log[1]
    );
}

#[test]
fn available_actions_say_what_and_why_not() {
    let (log, at) = formal::tests::run(&formal::tests::path(formal::names::AWAITING_VIEWS));
    let state = case::replay(ProcedureKind::Formal, &log);
    let secretariat = ctx(Role::Secretariat, at);
    let actions = case::available_actions(&state, &secretariat);
    let views = actions
        .iter()
        .find(|a| a.command == CommandKind::RecordViews)
        .expect("listed");
    assert!(views.denied.is_none());
    let letter = actions
        .iter()
        .find(|a| a.command == CommandKind::SendOpenLetter)
        .expect("listed");
    assert_eq!(
        letter.denied.as_ref().map(|r| r.code()),
        Some("NotPermitted".into())
    );
    let president = ctx(Role::President, at);
    let actions = case::available_actions(&state, &president);
    let letter = actions
        .iter()
        .find(|a| a.command == CommandKind::SendOpenLetter)
        .expect("listed");
    assert_eq!(
        letter.denied.as_ref().map(|r| r.code()),
        Some("LetterAlreadySent".into())
    );
    // The system may fire the reply deadline only after it has passed.
    let fire = |now| {
        case::available_actions(&state, &ctx(Role::System, now))
            .into_iter()
            .find(|a| a.command == CommandKind::RecordDeadlineElapsed)
            .expect("listed")
            .denied
    };
    assert_eq!(
        fire(at).map(|r| r.code()),
        Some("DeadlineNotReached".into())
    );
    assert!(fire(at + Duration::days(30)).is_none());
}

/// domain.md §6.1 scenario 5: UNSC-only referrals (Sudan 2015, Libya 2014) open no ASP case.
#[test]
fn scenario_unsc_only_referrals_open_no_case() {
    for (iso, name, decided) in [
        ("SD", "Sudan", day(2015, 3, 9)),
        ("LY", "Libya", day(2014, 12, 10)),
    ] {
        let mut open = formal::tests::open_action(ProcedureRules::default());
        if let formal::Action::Open {
            referral, facts, ..
        } = &mut open
        {
            referral.targets = vec![formal::ReferralTarget::Unsc];
            referral.decision_date = decided.date_naive();
            referral.transmitted_on = decided.date_naive();
            facts.requested_state.iso_code = iso.into();
            facts.requested_state.name = name.into();
            facts.requested_state.status = super::StateStatus::BoundByUnscResolution;
        }
        given_when_rejected(
            &[],
            &formal::tests::fc(decided, open),
            &ctx(Role::CourtLiaison, decided),
            "NotReferredToAssembly",
        );
    }
}

/// Random command sequences: decide never panics, every emitted event evolves, replaying the
/// emitted events rebuilds the same state, and every event survives the codec.
fn check_random_run(kind: ProcedureKind, steps: &[(usize, usize, i64)]) -> (usize, &'static str) {
    let commands: Vec<CommandKind> = match kind {
        ProcedureKind::Formal => formal::TRANSITIONS.iter().map(|t| t.command).collect(),
        _ => preventive::TRANSITIONS.iter().map(|t| t.command).collect(),
    };
    // Formal samples answer a referral transmitted on 2017-12-12; preventive ones a 2013 alert.
    let mut at = if kind == ProcedureKind::Formal {
        day(2017, 12, 12)
    } else {
        day(2013, 7, 1)
    };
    let mut state = CaseState::new(kind);
    let mut log: Vec<CaseEvent> = Vec::new();
    // Every run starts with the opening (first row of the table), then random commands; most
    // are issued in a role that may issue them, some in any role, so runs go deep.
    let opening = (0usize, 1usize, 0i64);
    for (ci, ri, gap) in std::iter::once(&opening).chain(steps) {
        at += Duration::days(*gap);
        let command = commands[ci % commands.len()];
        let allowed = super::permissions::allowed_roles(command);
        let role = if ri % 5 == 4 {
            Role::ALL[ri % Role::ALL.len()]
        } else {
            allowed[ri % allowed.len()]
        };
        // The hosts are African (preventive samples) or Asia-Pacific (formal samples).
        let region = if ri % 7 == 6 {
            Region::ALL[ri % Region::ALL.len()]
        } else if kind == ProcedureKind::Formal {
            Region::AsiaPacific
        } else {
            Region::African
        };
        let principal = Principal::new("p", role).in_region(region);
        let c = Context {
            now: at + Duration::days(*gap),
            principal,
        };
        let cmd = match kind {
            ProcedureKind::Formal => formal::tests::fc(at, formal::tests::sample(command, at)),
            _ => preventive::tests::pc(at, preventive::tests::sample(command, at)),
        };
        if let Ok(d) = case::decide(&state, &cmd, &c) {
            for e in &d.events {
                state = case::evolve(state, e);
                let env = codec::encode(e);
                schemas::check::assert_valid(&env);
                let back = codec::decode(&env.event_type, env.schema_version, &env.payload)
                    .expect("codec");
                assert_eq!(&back, e);
            }
            log.extend(d.events);
            if let Some((_, opened)) = d.opened {
                let f = case::replay(ProcedureKind::Formal, &opened);
                assert_eq!(f.name(), formal::names::REFERRED);
            }
        }
        assert_eq!(
            case::replay(kind, &log),
            state,
            "replay differs after {command:?}"
        );
    }
    (log.len(), state.name())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn formal_random_sequences_replay_identically(steps in prop::collection::vec((0usize..64, 0usize..16, 0i64..40), 1..60)) {
        prop_assert!(check_random_run(ProcedureKind::Formal, &steps).0 >= 1);
    }

    #[test]
    fn preventive_random_sequences_replay_identically(steps in prop::collection::vec((0usize..64, 0usize..16, 0i64..10), 1..60)) {
        prop_assert!(check_random_run(ProcedureKind::Preventive, &steps).0 >= 1);
    }
}

/// The random runs are not trivially shallow: over a fixed set of generated runs they end in
/// at least half of each procedure's states.
#[test]
fn random_runs_reach_most_states() {
    use proptest::{
        strategy::ValueTree,
        test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
    };
    for (kind, states) in [
        (ProcedureKind::Formal, formal::STATES),
        (ProcedureKind::Preventive, preventive::STATES),
    ] {
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
        );
        let strategy = prop::collection::vec((0usize..64, 0usize..16, 0i64..20), 1..80);
        let mut reached = std::collections::BTreeSet::new();
        for _ in 0..400 {
            let steps = strategy.new_tree(&mut runner).expect("value").current();
            reached.insert(check_random_run(kind, &steps).1);
        }
        eprintln!(
            "{kind:?} random runs ended in {} states: {reached:?}",
            reached.len()
        );
        assert!(
            reached.len() * 2 >= states.len(),
            "{kind:?}: only {reached:?} of {states:?}"
        );
    }
}

/// Schema evolution: `formal.open_letter_sent` is at version 3 (v2: published_channels; v3:
/// EventMeta.time_zone); a version-1 payload (as kept in the log and in the golden histories)
/// is upcast on read, never rewritten.
#[test]
fn version_1_open_letters_are_upcast() {
    let (log, _) = formal::tests::run(&formal::tests::path(formal::names::AWAITING_VIEWS));
    let letter = log.last().expect("letter");
    let env = codec::encode(letter);
    assert_eq!(
        (env.event_type.as_str(), env.schema_version),
        ("formal.open_letter_sent", 3)
    );
    // The v1 shape: no published_channels.
    let mut v1: serde_json::Value = serde_json::from_slice(&env.payload).unwrap();
    v1["body"]
        .as_object_mut()
        .unwrap()
        .remove("published_channels");
    let v1_bytes = serde_json::to_vec(&v1).unwrap();
    // Read as version 2 it does not decode (the field is required)...
    assert!(codec::decode(&env.event_type, 2, &v1_bytes).is_err());
    // ...read as what it is, it is upcast.
    let back = codec::decode(&env.event_type, 1, &v1_bytes).expect("upcast");
    let CaseEvent::Formal(e) = back else { panic!() };
    let formal::Body::OpenLetterSent {
        published_channels, ..
    } = &e.body
    else {
        panic!()
    };
    assert!(published_channels.is_empty());
    assert!(matches!(
        codec::decode(&env.event_type, 4, &env.payload),
        Err(codec::CodecError::UnsupportedVersion { version: 4, .. })
    ));
}

/// Issue 13 item 4: no dead ends. Walks each procedure's transition table: every state that is
/// not final has a way forward of its own (a row that leaves it for another state and is not
/// one of the rows open to every state, such as mootness) and reaches a final state.
#[test]
fn no_open_state_is_a_dead_end() {
    use super::table::Transition;
    fn check(procedure: &str, table: &[Transition], states: &[&str], closed: &[&str]) {
        let open: Vec<&str> = states
            .iter()
            .copied()
            .filter(|s| !closed.contains(s))
            .collect();
        let leaves = |s: &str| -> Vec<&Transition> {
            table
                .iter()
                .filter(|t| t.from.contains(&s) && t.targets().iter().any(|to| *to != s))
                .collect()
        };
        for s in &open {
            let own: Vec<&str> = leaves(s)
                .into_iter()
                .filter(|t| t.from.len() + 1 < open.len())
                .map(|t| t.id)
                .collect();
            assert!(
                !own.is_empty(),
                "{procedure}: {s} has no way forward of its own (only rows open to every state)"
            );
            let mut seen = vec![*s];
            let mut frontier = vec![*s];
            while let Some(at) = frontier.pop() {
                for t in leaves(at) {
                    for to in t.targets() {
                        if !seen.contains(&to) {
                            seen.push(to);
                            frontier.push(to);
                        }
                    }
                }
            }
            assert!(
                seen.iter().any(|x| closed.contains(x)),
                "{procedure}: no final state is reachable from {s}"
            );
        }
        // A dead end would also show as a state no row leaves: name them all.
        let stuck: Vec<&&str> = open.iter().filter(|s| leaves(s).is_empty()).collect();
        assert!(stuck.is_empty(), "{procedure}: dead ends {stuck:?}");
    }
    check(
        "formal",
        formal::TRANSITIONS,
        formal::STATES,
        formal::CLOSED,
    );
    check(
        "preventive",
        preventive::TRANSITIONS,
        preventive::STATES,
        preventive::CLOSED,
    );
    // And the ways out the ASP uses are rows of the tables.
    for (table, event) in [
        (formal::TRANSITIONS, "PublicMeetingRescheduled"),
        (formal::TRANSITIONS, "PublicMeetingCancelled"),
        (formal::TRANSITIONS, "MatterDeferredToLaterSession"),
        (formal::TRANSITIONS, "CourtWithdrewReferral"),
        (preventive::TRANSITIONS, "MatterBecameMoot"),
    ] {
        assert!(table.iter().any(|t| t.event == event), "{event}");
    }
    assert!(
        formal::TRANSITIONS
            .iter()
            .any(|t| t.command == CommandKind::AdoptBureauReport
                && t.from.contains(&formal::names::FOLLOW_UP)),
        "the annual follow-up cycle"
    );
    assert!(
        preventive::TRANSITIONS
            .iter()
            .any(|t| t.command == CommandKind::RecordCourtDetermination
                && t.from.contains(&preventive::names::DEFERRED)),
        "declining to refer after a deferral"
    );
}
