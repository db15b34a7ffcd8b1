//! Golden histories: recorded logs of the historical scenarios (domain.md §6.1) in
//! tests/fixtures, exported in the audit format, with the state each must replay to. Every test
//! run verifies their chains and replays them: a change that alters what an old history means
//! fails here. `UPDATE_FIXTURES=1 cargo test golden` re-records them (review the diff!).

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use aspflow::{
    audit::export,
    clock::{IdSource, ManualClock},
    domain::{
        ActMeta, CaseFacts, CooperationRequest, PersonSought, Principal, ProcedureKind,
        ProcedureRules, Region, RequestKind, RequestedState, Role, Situation, StateStatus,
        TriggerMechanism,
        case::{self},
        codec, formal, preventive,
    },
    engine::{ApiCommand, Engine, OpenCommand},
    store::{AnyStore, SqliteStore, StreamId},
};
use chrono::{NaiveDate, TimeZone, Utc};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Replays every golden history and compares with its recorded final state.
#[test]
fn golden_histories_replay_to_their_recorded_states() {
    if std::env::var("UPDATE_FIXTURES").is_ok() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(record());
    }
    let mut checked = 0;
    let mut upcast = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir())
        .expect("tests/fixtures exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let report = export::verify_export(std::io::Cursor::new(text.clone()), None).unwrap();
        assert!(report.is_intact(), "{}: {report:?}", path.display());
        let mut events = Vec::new();
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let e: aspflow::store::RecordedEvent = serde_json::from_str(line).unwrap();
            if e.schema_version < codec::schema_version(&e.event_type) {
                upcast += 1;
            }
            events.push(
                codec::decode(&e.event_type, e.schema_version, &e.payload)
                    .unwrap_or_else(|err| panic!("{}: {err}", path.display())),
            );
        }
        let kind = events[0].procedure();
        let state = case::replay(kind, &events);
        let expected_path = path.with_extension("state.json");
        // The state is derived: when the state's shape changes (a new field), its expected
        // file is rewritten from the unchanged log with UPDATE_FIXTURE_STATES=1 (review the
        // diff: only the new fields may change).
        if std::env::var("UPDATE_FIXTURE_STATES").is_ok() {
            let pretty = serde_json::to_string_pretty(&state).unwrap();
            std::fs::write(&expected_path, pretty + "\n").unwrap();
        }
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
        let actual = serde_json::to_value(&state).unwrap();
        assert_eq!(
            actual,
            expected,
            "{} no longer replays to {}",
            path.display(),
            expected_path.display()
        );
        // Replaying twice gives the same state.
        assert_eq!(case::replay(kind, &events), state);
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} golden histories");
    // The DR Congo formal case's open letter was recorded at schema version 1.
    assert!(upcast >= 1, "no golden event exercises an upcast");
}

struct SeqIds(AtomicU64);

impl IdSource for SeqIds {
    fn new_id(&self) -> uuid::Uuid {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n))
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at(y: i32, m: u32, d: u32) -> ActMeta {
    ActMeta::at(Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap())
}

fn facts(iso: &str, name: &str, region: Region) -> CaseFacts {
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

fn who(role: Role) -> Principal {
    Principal::new(format!("{}-office", role.as_str()), role)
}

fn referral(symbol: &str, decided: NaiveDate, transmitted: NaiveDate) -> formal::Referral {
    formal::Referral {
        legal_basis: formal::ReferralBasis::Art87_7,
        chamber: "Pre-Trial Chamber II".into(),
        decision_symbol: symbol.into(),
        decision_date: decided,
        transmitted_on: transmitted,
        targets: vec![formal::ReferralTarget::Asp, formal::ReferralTarget::Unsc],
        incident_from: None,
        incident_to: None,
        incident_location: None,
    }
}

fn alert(arrival: NaiveDate, departure: NaiveDate, event: &str) -> preventive::Alert {
    preventive::Alert {
        source_type: preventive::SourceType::Otp,
        expected_arrival: Some(arrival),
        expected_departure: Some(departure),
        event_name: event.into(),
        confidence: "notification of travel".into(),
    }
}

/// Runs the scenarios through the real engine on a fresh SQLite file and writes each case's
/// export and final state.
async fn record() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 29, 9, 0, 0).unwrap(),
    ));
    let store = AnyStore::Sqlite(
        SqliteStore::open(&tmp.path().join("golden.db"), clock.clone())
            .await
            .unwrap(),
    );
    let engine = Engine::new(
        store.clone(),
        clock.clone(),
        Arc::new(SeqIds(AtomicU64::new(1))),
        ProcedureRules::default(),
    );
    let mut n = 0;
    let mut rid = || {
        n += 1;
        format!("golden-{n}")
    };
    let mut cases: Vec<(&str, aspflow::domain::CaseId)> = Vec::new();

    // Nigeria 2013 (B, closed without referral).
    let ng = engine
        .open(
            &who(Role::CourtLiaison),
            &rid(),
            OpenCommand::Preventive {
                act: at(2013, 7, 12),
                facts: facts("NG", "Nigeria", Region::African),
                alert: alert(
                    date(2013, 7, 14),
                    date(2013, 7, 16),
                    "AU special summit, Abuja",
                ),
            },
        )
        .await
        .unwrap()
        .case
        .id;
    use preventive::Action as P;
    let assess = P::AssessSituation {
        assessment: preventive::Assessment {
            specific: true,
            serious: true,
            imminent: true,
            ongoing: false,
        },
        consulted_focal_points: vec![],
    };
    for (role, act, action) in [
        (Role::President, at(2013, 7, 13), assess.clone()),
        (Role::President, at(2013, 7, 13), P::InitiateGoodOffices),
        (
            Role::Secretariat,
            at(2013, 7, 14),
            P::RecordPersonArrived {
                location: "Abuja".into(),
                evidence_ref: None,
            },
        ),
        (
            Role::President,
            at(2013, 7, 15),
            P::SendLetterToHostState {
                reference: "PR933".into(),
                addressee: "Olugbenga Ashiru, Minister of Foreign Affairs".into(),
                text_ref: None,
            },
        ),
        (
            Role::Secretariat,
            at(2013, 7, 16),
            P::RecordDepartureWithoutArrest {
                location: "Abuja".into(),
                evidence_ref: None,
            },
        ),
        (
            Role::CourtLiaison,
            at(2013, 7, 18),
            P::RecordCourtProceedingsOpened {
                order_symbol: "ICC-02/05-01/09-157".into(),
                views_due_on: None,
            },
        ),
        (
            Role::CourtLiaison,
            at(2013, 9, 5),
            P::RecordCourtDetermination {
                determination: preventive::Determination::NoFinding,
                decision_symbol: "ICC-02/05-01/09-159".into(),
            },
        ),
    ] {
        engine
            .execute(
                &who(role),
                ng,
                None,
                &rid(),
                act,
                ApiCommand::Preventive(action),
            )
            .await
            .unwrap();
    }
    cases.push(("nigeria-2013-preventive", ng));

    // DR Congo 2014 (B -> A).
    let cd = engine
        .open(
            &who(Role::CourtLiaison),
            &rid(),
            OpenCommand::Preventive {
                act: at(2014, 2, 20),
                facts: facts("CD", "Democratic Republic of the Congo", Region::African),
                alert: alert(
                    date(2014, 2, 26),
                    date(2014, 2, 27),
                    "COMESA summit, Kinshasa",
                ),
            },
        )
        .await
        .unwrap()
        .case
        .id;
    for (role, act, action) in [
        (Role::President, at(2014, 2, 21), assess.clone()),
        (Role::President, at(2014, 2, 21), P::InitiateGoodOffices),
        (
            Role::Secretariat,
            at(2014, 2, 26),
            P::RecordPersonArrived {
                location: "Kinshasa".into(),
                evidence_ref: None,
            },
        ),
        (
            Role::President,
            at(2014, 2, 26),
            P::SendLetterToHostState {
                reference: "PR984".into(),
                addressee: "Raymond Tshibanda, Minister of Foreign Affairs".into(),
                text_ref: None,
            },
        ),
        (
            Role::Secretariat,
            at(2014, 2, 27),
            P::RecordDepartureWithoutArrest {
                location: "Kinshasa".into(),
                evidence_ref: None,
            },
        ),
        (
            Role::CourtLiaison,
            at(2014, 3, 1),
            P::RecordCourtProceedingsOpened {
                order_symbol: "ICC-02/05-01/09-186".into(),
                views_due_on: Some(date(2014, 3, 17)),
            },
        ),
    ] {
        engine
            .execute(
                &who(role),
                cd,
                None,
                &rid(),
                act,
                ApiCommand::Preventive(action),
            )
            .await
            .unwrap();
    }
    let esc = engine
        .execute(
            &who(Role::CourtLiaison),
            cd,
            None,
            &rid(),
            at(2014, 4, 9),
            ApiCommand::CourtReferral(referral(
                "ICC-02/05-01/09-195",
                date(2014, 4, 9),
                date(2014, 4, 9),
            )),
        )
        .await
        .unwrap();
    let cd_formal = esc.opened.unwrap();
    use formal::Action as F;
    for (role, act, cmd) in [
        (
            Role::Bureau,
            at(2014, 4, 20),
            ApiCommand::Formal(F::SeizeBureau {
                meeting_no: "B/2014/5".into(),
                quorum_present: true,
            }),
        ),
        (
            Role::President,
            at(2014, 4, 25),
            ApiCommand::Formal(F::SendOpenLetter {
                letter_ref: "ASP/2014/L1".into(),
                signatory: "Tiina Intelmann".into(),
                addressee: "Minister of Foreign Affairs".into(),
                obligations_recalled: vec![],
                warned_measures: vec![],
                published_channels: vec![],
            }),
        ),
    ] {
        engine
            .execute(&who(role), cd_formal, None, &rid(), act, cmd)
            .await
            .unwrap();
    }
    clock.set(Utc.with_ymd_and_hms(2014, 5, 12, 0, 0, 0).unwrap());
    assert_eq!(engine.fire_due_deadlines().await.unwrap(), vec![cd_formal]);
    clock.set(Utc.with_ymd_and_hms(2026, 11, 29, 9, 0, 0).unwrap());
    engine
        .execute(
            &who(Role::Bureau),
            cd_formal,
            None,
            &rid(),
            at(2014, 5, 20),
            ApiCommand::Formal(F::SchedulePublicMeeting {
                date: date(2014, 6, 10),
                venue: "New York".into(),
                invitation_ref: "ASP/2014/INV".into(),
            }),
        )
        .await
        .unwrap();
    cases.push(("drc-2014-preventive", cd));
    cases.push(("drc-2014-formal", cd_formal));

    // Jordan 2017 (A with appeal).
    let jo = engine
        .open(
            &who(Role::CourtLiaison),
            &rid(),
            OpenCommand::Formal {
                act: at(2017, 12, 12),
                facts: facts("JO", "Jordan", Region::AsiaPacific),
                referral: referral(
                    "ICC-02/05-01/09-309",
                    date(2017, 12, 11),
                    date(2017, 12, 12),
                ),
                previous_case: None,
            },
        )
        .await
        .unwrap()
        .case
        .id;
    for (act, action) in [
        (
            at(2017, 12, 18),
            F::RecordFindingAppealed {
                appeal_symbol: "ICC-02/05-01/09 OA2".into(),
            },
        ),
        (
            at(2019, 5, 6),
            F::RecordAppealJudgment {
                appeal_symbol: "ICC-02/05-01/09 OA2".into(),
                outcome: formal::AppealOutcome::ReferralReversed,
            },
        ),
    ] {
        engine
            .execute(
                &who(Role::CourtLiaison),
                jo,
                None,
                &rid(),
                act,
                ApiCommand::Formal(action),
            )
            .await
            .unwrap();
    }
    cases.push(("jordan-2017-formal", jo));

    // South Africa 2015 (B, finding without referral).
    let za = engine
        .open(
            &who(Role::CourtLiaison),
            &rid(),
            OpenCommand::Preventive {
                act: at(2015, 6, 10),
                facts: facts("ZA", "South Africa", Region::African),
                alert: alert(
                    date(2015, 6, 13),
                    date(2015, 6, 15),
                    "AU summit, Johannesburg",
                ),
            },
        )
        .await
        .unwrap()
        .case
        .id;
    for (role, act, action) in [
        (Role::President, at(2015, 6, 11), assess.clone()),
        (Role::President, at(2015, 6, 11), P::InitiateGoodOffices),
        (
            Role::President,
            at(2015, 6, 12),
            P::IssuePublicStatement {
                reference: "PR1117".into(),
                text_ref: None,
            },
        ),
        (
            Role::Secretariat,
            at(2015, 6, 13),
            P::RecordPersonArrived {
                location: "Johannesburg".into(),
                evidence_ref: None,
            },
        ),
        (
            Role::Secretariat,
            at(2015, 6, 15),
            P::RecordDepartureWithoutArrest {
                location: "Waterkloof Air Force Base".into(),
                evidence_ref: None,
            },
        ),
        (
            Role::CourtLiaison,
            at(2015, 9, 4),
            P::RecordCourtProceedingsOpened {
                order_symbol: "ICC-02/05-01/09-242".into(),
                views_due_on: Some(date(2015, 10, 5)),
            },
        ),
        (
            Role::CourtLiaison,
            at(2017, 7, 6),
            P::RecordCourtDetermination {
                determination: preventive::Determination::FindingWithoutReferral,
                decision_symbol: "ICC-02/05-01/09-302".into(),
            },
        ),
    ] {
        engine
            .execute(
                &who(role),
                za,
                None,
                &rid(),
                act,
                ApiCommand::Preventive(action),
            )
            .await
            .unwrap();
    }
    cases.push(("south-africa-2015-preventive", za));

    std::fs::create_dir_all(dir()).unwrap();
    for (name, id) in cases {
        let lines = export::export_lines(&store, StreamId(id.0), clock.now_for_fixture(), None)
            .await
            .unwrap();
        std::fs::write(dir().join(format!("{name}.jsonl")), lines.join("\n") + "\n").unwrap();
        let loaded = engine
            .load(id, aspflow::engine::AsOf::Latest)
            .await
            .unwrap();
        assert_ne!(loaded.state.procedure(), ProcedureKind::Roster);
        std::fs::write(
            dir().join(format!("{name}.state.json")),
            serde_json::to_string_pretty(&loaded.state).unwrap() + "\n",
        )
        .unwrap();
    }
}

trait FixtureTime {
    fn now_for_fixture(&self) -> chrono::DateTime<Utc>;
}

impl FixtureTime for ManualClock {
    fn now_for_fixture(&self) -> chrono::DateTime<Utc> {
        use aspflow::clock::Clock;
        self.now()
    }
}
