//! r8 property: arbitrary field values sent through the gRPC API are either refused with a
//! status that names a client error (and change nothing), or committed and readable back with
//! every chain intact. Never a third outcome (INTERNAL, UNAVAILABLE, a broken log).

use aspflow::{
    pb::{self, execute_request::Command as C},
    store::{EventStore, chain},
};
use proptest::{prelude::*, test_runner::TestRunner};
use tonic::Code;

use crate::{
    e2e::{TestServer, as_role, facts, open_jordan, referral},
    util::TestStore,
};

#[derive(Debug, Clone)]
enum Input {
    Seize {
        meeting_no: String,
    },
    Letter {
        letter_ref: String,
        signatory: String,
        recalled: Vec<String>,
    },
    Views {
        document_ref: String,
        summary: String,
    },
    Meeting {
        date: String,
        venue: String,
    },
    Open {
        decision_date: String,
        transmitted_on: String,
        iso: String,
        name: String,
    },
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9 /.-]{1,24}",
        ".{0,40}",
        "[a-z]{190,230}",
        "\\PC{0,8}",
    ]
}

fn date() -> impl Strategy<Value = String> {
    prop_oneof![
        "(19|20|21|00|99)[0-9]{2}-(0[0-9]|1[0-3])-([0-3][0-9])",
        "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}",
        ".{0,12}",
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        text().prop_map(|meeting_no| Input::Seize { meeting_no }),
        (text(), text(), prop::collection::vec(text(), 0..3)).prop_map(
            |(letter_ref, signatory, recalled)| Input::Letter {
                letter_ref,
                signatory,
                recalled
            }
        ),
        (text(), text()).prop_map(|(document_ref, summary)| Input::Views {
            document_ref,
            summary
        }),
        (date(), text()).prop_map(|(date, venue)| Input::Meeting { date, venue }),
        (date(), date(), "[A-Z]{0,4}", text()).prop_map(
            |(decision_date, transmitted_on, iso, name)| Input::Open {
                decision_date,
                transmitted_on,
                iso,
                name
            }
        ),
    ]
}

fn seconds() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -62_200_000_000_i64..-62_100_000_000,
        253_402_000_000_i64..253_403_000_000,
        -2_300_000_000_i64..7_300_000_000,
        1_500_000_000_i64..1_600_000_000,
        // After the case's opening (12 Dec 2017) and before the server's clock: legal times
        // the legal-time rules accept, so that enough requests are committed to check.
        1_513_100_000_i64..1_760_000_000,
        1_513_100_000_i64..1_760_000_000,
    ]
}

fn nanos() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0), 0..1_000_000_000, any::<i32>()]
}

async fn one(server: &TestServer, n: u64, input: Input, seconds: i64, nanos: i32) {
    let mut c = server.cases().await;
    let at = Some(pb::Act {
        occurred_at: Some(prost_types::Timestamp { seconds, nanos }),
        ..Default::default()
    });
    let head = server.engine.store().head_position().await.unwrap();
    let (result, role) = match input {
        Input::Open {
            decision_date,
            transmitted_on,
            iso,
            name,
        } => {
            let mut r = open_jordan(&format!("p-{n}"));
            r.act = at;
            r.facts = facts(&iso, &name, "asia_pacific");
            r.referral = referral(&format!("ICC-P-{n}"), &decision_date, &["asp"]);
            if let Some(rf) = &mut r.referral {
                rf.transmitted_on = transmitted_on;
            }
            (
                c.open_formal_case(as_role(r, "court_liaison")).await,
                "court_liaison",
            )
        }
        other => {
            let (cmd, role) = match other {
                Input::Seize { meeting_no } => (
                    C::SeizeBureau(pb::SeizeBureau {
                        meeting_no,
                        quorum_present: true,
                    }),
                    "bureau",
                ),
                Input::Letter {
                    letter_ref,
                    signatory,
                    recalled,
                } => (
                    C::SendOpenLetter(pb::SendOpenLetter {
                        letter_ref,
                        signatory,
                        addressee: "Minister".into(),
                        obligations_recalled: recalled,
                        ..Default::default()
                    }),
                    "president",
                ),
                Input::Views {
                    document_ref,
                    summary,
                } => (
                    C::RecordViews(pb::RecordViews {
                        document_ref,
                        summary,
                        asserted_grounds: vec![],
                    }),
                    "secretariat",
                ),
                Input::Meeting { date, venue } => (
                    C::SchedulePublicMeeting(pb::SchedulePublicMeeting {
                        date,
                        venue,
                        invitation_ref: "INV/1".into(),
                    }),
                    "bureau",
                ),
                Input::Open { .. } => unreachable!(),
            };
            let req = pb::ExecuteRequest {
                case_id: "NC-2017-0001".into(),
                expected_version: None,
                request_id: format!("p-{n}"),
                act: at,
                command: Some(cmd),
                reply: 0,
            };
            (c.execute(as_role(req, role)).await, role)
        }
    };
    match result {
        Ok(o) => {
            // Committed: readable back through every read path.
            let case = o.into_inner().case.expect("a case view");
            let view = c
                .get_case(as_role(
                    pb::GetCaseRequest {
                        case_id: case.case_id.clone(),
                        ..Default::default()
                    },
                    role,
                ))
                .await
                .expect("a committed case reads back");
            assert_eq!(view.into_inner().version, case.version);
            c.get_history(as_role(
                pb::GetHistoryRequest {
                    case_id: case.case_id,
                    ..Default::default()
                },
                role,
            ))
            .await
            .expect("its history reads back");
        }
        Err(e) => {
            assert!(
                matches!(
                    e.code(),
                    Code::InvalidArgument
                        | Code::FailedPrecondition
                        | Code::PermissionDenied
                        | Code::ResourceExhausted
                ),
                "a third outcome: {e:?}"
            );
            assert_eq!(
                server.engine.store().head_position().await.unwrap(),
                head,
                "a refused request changed the log"
            );
        }
    }
}

#[test]
fn r8_api_input_is_refused_or_committed_and_readable() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, store) = rt.block_on(async {
        let s = TestStore::sqlite().await;
        // No scheduler: a refused request must leave the log head exactly as it was.
        let server = TestServer::start_with(s.store.clone(), s.clock.clone(), None).await;
        server
            .cases()
            .await
            .open_formal_case(as_role(open_jordan("p-open"), "court_liaison"))
            .await
            .unwrap();
        (server, s)
    });
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 160,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let n = std::sync::atomic::AtomicU64::new(0);
    runner
        .run(&(input(), seconds(), nanos()), |(input, s, ns)| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.block_on(one(&server, i, input, s, ns));
            Ok(())
        })
        .unwrap();
    rt.block_on(async {
        assert!(chain::verify_log(&store.store).await.unwrap().is_intact());
        // The log these arbitrary requests generated matches the published event schemas.
        let log = store.store.read_all(1, 100_000).await.unwrap();
        assert!(log.len() > 1);
        crate::contract::schemas::assert_stored_valid(&log);
        server.stop().await;
    });
}
