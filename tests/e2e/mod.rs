//! End to end over a real socket: the server on 127.0.0.1:0 with a real database (SQLite and
//! PostgreSQL), driven by the generated gRPC clients. `e2e!` runs each test on both backends.

use std::{collections::HashSet, net::SocketAddr, sync::Arc, time::Duration};

use aspflow::{
    api::{self, ServeOptions},
    clock::{ManualClock, V7Ids},
    domain::ProcedureRules,
    engine::Engine,
    pb::{
        self, audit_client::AuditClient, cases_client::CasesClient,
        event_log_client::EventLogClient, execute_request::Command as C,
        roster_client::RosterClient, subscribe_response::Message,
    },
    store::{AnyStore, EventStore, SummaryFilter},
};
use chrono::{DateTime, TimeZone, Utc};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::StatusExt;

use crate::util::TestStore;

mod legal_time;
mod rules;

pub struct TestServer {
    pub addr: SocketAddr,
    pub engine: Engine,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(store: AnyStore, clock: Arc<ManualClock>) -> Self {
        Self::start_with(store, clock, Some(Duration::from_millis(50))).await
    }

    /// A server whose deadline scheduler ticks every `scheduler_tick` (`None`: never).
    pub async fn start_with(
        store: AnyStore,
        clock: Arc<ManualClock>,
        scheduler_tick: Option<Duration>,
    ) -> Self {
        let options = ServeOptions {
            scheduler_tick,
            signing_key: Some(Arc::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]))),
            ..ServeOptions::default()
        };
        Self::start_opts(store, clock, options).await
    }

    /// A server with these options.
    pub async fn start_opts(
        store: AnyStore,
        clock: Arc<ManualClock>,
        options: ServeOptions,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let engine = Engine::new(store, clock, Arc::new(V7Ids), ProcedureRules::default());
        let (tx, rx) = oneshot::channel::<()>();
        let e = engine.clone();
        let handle = tokio::spawn(async move {
            api::run(listener, e, options, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            addr,
            engine,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn cases(&self) -> CasesClient<Channel> {
        CasesClient::new(self.channel().await)
    }

    /// Graceful shutdown: streams end, in-flight calls finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(20), h)
                .await
                .expect("the server stops within 20 s")
                .unwrap();
        }
    }
}

pub(crate) fn as_role<T>(msg: T, role: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("x-aspflow-role", role.parse().unwrap());
    r
}

pub(crate) fn with_region<T>(mut r: Request<T>, region: &str) -> Request<T> {
    r.metadata_mut()
        .insert("x-aspflow-region", region.parse().unwrap());
    r
}

pub(crate) fn ts(y: i32, m: u32, d: u32) -> prost_types::Timestamp {
    let t: DateTime<Utc> = Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap();
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

pub(crate) fn act(y: i32, m: u32, d: u32) -> Option<pb::Act> {
    Some(pb::Act {
        occurred_at: Some(ts(y, m, d)),
        ..Default::default()
    })
}

pub(crate) fn facts(iso: &str, name: &str, region: &str) -> Option<pb::CaseFacts> {
    Some(pb::CaseFacts {
        requested_state: Some(pb::RequestedState {
            iso_code: iso.into(),
            name: name.into(),
            status: "state_party".into(),
            region: region.into(),
        }),
        person_sought: Some(pb::PersonSought {
            name: "Omar Hassan Ahmad Al Bashir".into(),
            case_number: "ICC-02/05-01/09".into(),
            warrant_dates: vec!["2009-03-04".into(), "2010-07-12".into()],
        }),
        situation: Some(pb::Situation {
            name: "Darfur, Sudan".into(),
            trigger_mechanism: "unsc_referral".into(),
            unsc_resolution: "S/RES/1593 (2005)".into(),
        }),
        request: Some(pb::CooperationRequest {
            kind: "arrest_and_surrender".into(),
            transmitted_on: "2009-03-06".into(),
            outstanding: true,
        }),
    })
}

pub(crate) fn referral(symbol: &str, date: &str, targets: &[&str]) -> Option<pb::Referral> {
    Some(pb::Referral {
        legal_basis: "art_87_7".into(),
        chamber: "Pre-Trial Chamber II".into(),
        decision_symbol: symbol.into(),
        decision_date: date.into(),
        transmitted_on: date.into(),
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        ..Default::default()
    })
}

pub(crate) fn open_jordan(request_id: &str) -> pb::OpenFormalCaseRequest {
    pb::OpenFormalCaseRequest {
        request_id: request_id.into(),
        act: act(2017, 12, 12),
        facts: facts("JO", "Jordan", "asia_pacific"),
        referral: referral("ICC-02/05-01/09-309", "2017-12-11", &["asp", "unsc"]),
        rules: None,
        previous_case_id: String::new(),
    }
}

pub(crate) fn exec(case: &str, rid: &str, at: Option<pb::Act>, cmd: C) -> pb::ExecuteRequest {
    pb::ExecuteRequest {
        case_id: case.into(),
        expected_version: None,
        request_id: rid.into(),
        act: at,
        command: Some(cmd),
        reply: 0,
    }
}

pub(crate) fn reason(s: &Status) -> String {
    s.get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

crate::util::on_both_backends!(
    jordan_2017_over_grpc,
    drc_2014_escalation_over_grpc,
    every_error_code,
    idempotent_retry_and_reuse,
    concurrent_clients_race_on_one_case,
    deadline_fires_when_the_clock_passes_it,
    watch_and_subscribe_deliver_every_event_once_across_a_restart,
    list_filters_pages_and_rebuild,
    replay_of_a_long_log_folds_every_case_as_written,
    roster_over_grpc,
    audit_service_over_grpc,
    two_nodes_share_one_log,
);

async fn jordan_2017_over_grpc(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let opened = c
        .open_formal_case(as_role(open_jordan("j-1"), "court_liaison"))
        .await
        .unwrap()
        .into_inner();
    let case = opened.case.unwrap();
    assert_eq!(case.reference, "NC-2017-0001");
    assert_eq!(case.state, "Referred");
    assert_eq!(
        opened.recorded[0].event_type,
        "formal.non_cooperation_finding_referred"
    );
    let appeal = c
        .execute(as_role(
            exec(
                "NC-2017-0001",
                "j-2",
                act(2017, 12, 18),
                C::RecordFindingAppealed(pb::RecordFindingAppealed {
                    appeal_symbol: "ICC-02/05-01/09 OA2".into(),
                }),
            ),
            "court_liaison",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(appeal.case.unwrap().state, "Suspended");
    // OpenLetterSent while suspended: CaseSuspended.
    let err = c
        .execute(as_role(
            exec(
                &case.case_id,
                "j-3",
                act(2018, 1, 10),
                C::SendOpenLetter(pb::SendOpenLetter {
                    letter_ref: "L".into(),
                    signatory: "O-Gon Kwon".into(),
                    addressee: "FM".into(),
                    ..Default::default()
                }),
            ),
            "president",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "CaseSuspended");
    let closed = c
        .execute(as_role(
            exec(
                &case.case_id,
                "j-4",
                act(2019, 5, 6),
                C::RecordAppealJudgment(pb::RecordAppealJudgment {
                    appeal_symbol: "ICC-02/05-01/09 OA2".into(),
                    outcome: "referral_reversed".into(),
                }),
            ),
            "court_liaison",
        ))
        .await
        .unwrap()
        .into_inner();
    let view = closed.case.unwrap();
    assert_eq!(view.state, "ClosedReferralWithdrawn");
    assert!(view.closed);
    // As of version 2 (and as of a legal time in 2018) the case was suspended.
    let v2 = c
        .get_case(Request::new(pb::GetCaseRequest {
            case_id: "NC-2017-0001".into(),
            as_of_version: Some(2),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.state, "Suspended");
    let legal = c
        .get_case(Request::new(pb::GetCaseRequest {
            case_id: "NC-2017-0001".into(),
            as_of_legal: Some(ts(2018, 6, 1)),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((legal.state.as_str(), legal.version), ("Suspended", 2));
    let history = c
        .get_history(Request::new(pb::GetHistoryRequest {
            case_id: case.case_id.clone(),
            from_version: 0,
            limit: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.events.len(), 3);
    assert_eq!(history.events[2].prev_hash, history.events[1].hash);
    server.stop().await;
}

async fn drc_2014_escalation_over_grpc(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let opened = c
        .open_preventive_case(as_role(
            pb::OpenPreventiveCaseRequest {
                request_id: "drc-1".into(),
                act: act(2014, 2, 20),
                facts: facts("CD", "Democratic Republic of the Congo", "african"),
                alert: Some(pb::Alert {
                    source_type: "otp".into(),
                    expected_arrival: "2014-02-26".into(),
                    expected_departure: "2014-02-27".into(),
                    event_name: "COMESA summit, Kinshasa".into(),
                    confidence: "notification of travel".into(),
                }),
                rules: None,
            },
            "court_liaison",
        ))
        .await
        .unwrap()
        .into_inner();
    let case = opened.case.unwrap();
    assert_eq!(case.reference, "GO-2014-0001");
    let id = case.case_id.clone();
    let steps: Vec<(&str, Option<pb::Act>, C)> = vec![
        (
            "president",
            act(2014, 2, 21),
            C::AssessSituation(pb::AssessSituation {
                specific: true,
                serious: true,
                imminent: true,
                ..Default::default()
            }),
        ),
        (
            "president",
            act(2014, 2, 21),
            C::InitiateGoodOffices(pb::InitiateGoodOffices {}),
        ),
        (
            "secretariat",
            act(2014, 2, 26),
            C::RecordPersonArrived(pb::RecordPersonArrived {
                location: "Kinshasa".into(),
                ..Default::default()
            }),
        ),
        (
            "president",
            act(2014, 2, 26),
            C::SendLetterToHostState(pb::SendLetterToHostState {
                reference: "PR984".into(),
                addressee: "Raymond Tshibanda".into(),
                ..Default::default()
            }),
        ),
        (
            "secretariat",
            act(2014, 2, 27),
            C::RecordDepartureWithoutArrest(pb::RecordDepartureWithoutArrest {
                location: "Kinshasa".into(),
                ..Default::default()
            }),
        ),
        (
            "court_liaison",
            act(2014, 3, 1),
            C::RecordCourtProceedingsOpened(pb::RecordCourtProceedingsOpened {
                order_symbol: "ICC-02/05-01/09-186".into(),
                views_due_on: "2014-03-17".into(),
            }),
        ),
    ];
    for (i, (role, at, cmd)) in steps.into_iter().enumerate() {
        c.execute(as_role(exec(&id, &format!("drc-s{i}"), at, cmd), role))
            .await
            .unwrap_or_else(|e| panic!("step {i}: {e:?}"));
    }
    // A focal point of another region may not make the démarche; the African one may.
    let demarche = || {
        C::MakeFocalPointDemarche(pb::MakeFocalPointDemarche {
            focal_point_state: "SL".into(),
            level: "capital".into(),
        })
    };
    let out = c
        .execute(with_region(
            as_role(
                exec(&id, "drc-fp", act(2014, 3, 2), demarche()),
                "focal_point",
            ),
            "western_european_other",
        ))
        .await
        .unwrap_err();
    assert_eq!(out.code(), Code::PermissionDenied);
    assert_eq!(reason(&out), "FocalPointRegionMismatch");
    let esc = c
        .execute(as_role(
            exec(
                &id,
                "drc-ref",
                act(2014, 4, 9),
                C::RecordCourtReferral(pb::RecordCourtReferral {
                    referral: referral("ICC-02/05-01/09-195", "2014-04-09", &["unsc", "asp"]),
                }),
            ),
            "court_liaison",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(esc.case.as_ref().unwrap().state, "EscalatedToFormal");
    let formal_id = esc.opened_case_id.clone();
    assert!(!formal_id.is_empty());
    let formal = c
        .get_case(Request::new(pb::GetCaseRequest {
            case_id: formal_id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (formal.state.as_str(), formal.reference.as_str()),
        ("Referred", "NC-2014-0001")
    );
    assert_eq!(formal.linked_case_id, id);
    assert_eq!(esc.case.unwrap().linked_case_id, formal_id);
    // Both streams written by one request, with one correlation id.
    let f_hist = c
        .get_history(Request::new(pb::GetHistoryRequest {
            case_id: formal_id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    // Request ids are recorded scoped to the caller: `<len>:<subject>:<id>`.
    assert!(f_hist.events[0].request_id.ends_with(":drc-ref"));
    assert_eq!(
        f_hist.events[0].correlation_id,
        esc.recorded[0].correlation_id
    );
    assert!(!esc.recorded[0].correlation_id.is_empty());
    // A second referral of the same decision: AlreadyEscalated on B.
    let again = c
        .execute(as_role(
            exec(
                &id,
                "drc-ref-2",
                act(2014, 4, 10),
                C::RecordCourtReferral(pb::RecordCourtReferral {
                    referral: referral("ICC-02/05-01/09-195", "2014-04-09", &["asp"]),
                }),
            ),
            "court_liaison",
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&again), "AlreadyEscalated");
    // And opening a formal case directly on the same decision: DuplicateReferral.
    let mut dup = open_jordan("drc-dup");
    dup.facts = facts("CD", "Democratic Republic of the Congo", "african");
    dup.referral = referral("ICC-02/05-01/09-195", "2014-04-09", &["asp"]);
    let err = c
        .open_formal_case(as_role(dup, "court_liaison"))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "DuplicateReferral");
    server.stop().await;
}

async fn every_error_code(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let case = c
        .open_formal_case(as_role(open_jordan("e-1"), "court_liaison"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let seize = || {
        C::SeizeBureau(pb::SeizeBureau {
            meeting_no: "B/1".into(),
            quorum_present: true,
        })
    };
    // INVALID_ARGUMENT: missing legal time, named.
    let err = c
        .execute(as_role(exec(&case.case_id, "e-2", None, seize()), "bureau"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let br = err.get_error_details();
    assert_eq!(br.bad_request().unwrap().field_violations[0].field, "act");
    // INVALID_ARGUMENT: a malformed date, named with its path.
    let mut bad = open_jordan("e-3");
    bad.referral.as_mut().unwrap().decision_date = "11/12/2017".into();
    let err = c
        .open_formal_case(as_role(bad, "court_liaison"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("referral.decision_date"),
        "{}",
        err.message()
    );
    // INVALID_ARGUMENT: no command.
    let mut none = exec(&case.case_id, "e-4", act(2018, 1, 1), seize());
    none.command = None;
    assert_eq!(
        c.execute(as_role(none, "bureau")).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    // INVALID_ARGUMENT: a preventive command on a formal case.
    let err = c
        .execute(as_role(
            exec(
                &case.case_id,
                "e-5",
                act(2018, 1, 1),
                C::InitiateGoodOffices(pb::InitiateGoodOffices {}),
            ),
            "president",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    // FAILED_PRECONDITION with ErrorInfo: a letter before the Bureau took the matter up.
    let err = c
        .execute(as_role(
            exec(
                &case.case_id,
                "e-6",
                act(2018, 1, 1),
                C::SendOpenLetter(pb::SendOpenLetter {
                    letter_ref: "L".into(),
                    signatory: "P".into(),
                    addressee: "FM".into(),
                    ..Default::default()
                }),
            ),
            "president",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let info = err.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "NotAllowedInState");
    assert_eq!(info.domain, "aspflow");
    assert_eq!(info.metadata["state"], "Referred");
    // PERMISSION_DENIED: an observer writing (the RPC table), a role the domain does not let
    // issue this command.
    let err = c
        .execute(as_role(
            exec(&case.case_id, "e-7", act(2018, 1, 1), seize()),
            "observer",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err), "RpcNotPermitted");
    let err = c
        .execute(as_role(
            exec(&case.case_id, "e-7b", act(2018, 1, 1), seize()),
            "court_liaison",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err), "NotPermitted");
    // UNAUTHENTICATED: no caller, or an unknown role.
    let err = c
        .execute(Request::new(exec(
            &case.case_id,
            "e-8",
            act(2018, 1, 1),
            seize(),
        )))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = c
        .execute(as_role(
            exec(&case.case_id, "e-8", act(2018, 1, 1), seize()),
            "king",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // NOT_FOUND.
    let err = c
        .get_case(Request::new(pb::GetCaseRequest {
            case_id: "NC-1999-0001".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // ABORTED: a stale explicit expected version.
    let mut stale = exec(&case.case_id, "e-9", act(2018, 1, 1), seize());
    stale.expected_version = Some(7);
    let err = c.execute(as_role(stale, "bureau")).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    // It names the version to retry with.
    let info = err.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "VersionConflict");
    assert_eq!(info.metadata["expected"], "7");
    // The case holds its opening only (it ends at version 2 after the one write below).
    assert_eq!(info.metadata["actual"], "1");
    // ALREADY_EXISTS: a request id reused for other content.
    c.execute(as_role(
        exec(&case.case_id, "e-10", act(2018, 1, 2), seize()),
        "bureau",
    ))
    .await
    .unwrap();
    let err = c
        .execute(as_role(
            exec(
                &case.case_id,
                "e-10",
                act(2018, 1, 3),
                C::ConcludeConsideration(pb::ConcludeConsideration {}),
            ),
            "bureau",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    // Nothing of the refused requests was written: the case is at version 2.
    let view = c
        .get_case(Request::new(pb::GetCaseRequest {
            case_id: case.case_id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.version, 2);
    server.stop().await;
}

async fn idempotent_retry_and_reuse(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let first = c
        .open_formal_case(as_role(open_jordan("i-1"), "court_liaison"))
        .await
        .unwrap()
        .into_inner();
    let again = c
        .open_formal_case(as_role(open_jordan("i-1"), "court_liaison"))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.case.unwrap().case_id, again.case.unwrap().case_id);
    assert_eq!(first.recorded[0].hash, again.recorded[0].hash);
    assert_eq!(s.store.head_position().await.unwrap(), 1);
    server.stop().await;
}

async fn concurrent_clients_race_on_one_case(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let case = c
        .open_formal_case(as_role(open_jordan("r-1"), "court_liaison"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    // 8 clients, same expected version: exactly one wins, the others are ABORTED.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut c = server.cases().await;
        let id = case.case_id.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = exec(
                &id,
                &format!("race-{i}"),
                act(2018, 1, 10),
                C::SeizeBureau(pb::SeizeBureau {
                    meeting_no: format!("B/{i}"),
                    quorum_present: true,
                }),
            );
            r.expected_version = Some(1);
            c.execute(as_role(r, "bureau")).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(e) => assert!(
                matches!(e.code(), Code::Aborted | Code::FailedPrecondition),
                "{e:?}"
            ),
        }
    }
    assert_eq!(wins, 1);
    // Without expected versions, 8 clients recording different consultations all succeed.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut c = server.cases().await;
        let id = case.case_id.clone();
        tasks.push(tokio::spawn(async move {
            c.execute(as_role(
                exec(
                    &id,
                    &format!("c-{i}"),
                    act(2018, 1, 11),
                    C::RecordConsultationRequested(pb::RecordConsultationRequested {
                        reference: format!("art97-{i}"),
                        problems: vec!["other".into()],
                    }),
                ),
                "court_liaison",
            ))
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let view = c
        .get_case(Request::new(pb::GetCaseRequest {
            case_id: case.case_id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.version, 10);
    let report = aspflow::store::chain::verify_log(&s.store).await.unwrap();
    assert!(report.is_intact());
    server.stop().await;
}

async fn deadline_fires_when_the_clock_passes_it(s: TestStore) {
    s.clock
        .set(Utc.with_ymd_and_hms(2018, 1, 10, 9, 0, 0).unwrap());
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let id = c
        .open_formal_case(as_role(open_jordan("d-1"), "court_liaison"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .case_id;
    c.execute(as_role(
        exec(
            &id,
            "d-2",
            act(2018, 1, 10),
            C::SeizeBureau(pb::SeizeBureau {
                meeting_no: "B/1".into(),
                quorum_present: true,
            }),
        ),
        "bureau",
    ))
    .await
    .unwrap();
    s.clock
        .set(Utc.with_ymd_and_hms(2018, 1, 12, 12, 0, 0).unwrap());
    let sent = c
        .execute(as_role(
            exec(
                &id,
                "d-3",
                act(2018, 1, 12),
                C::SendOpenLetter(pb::SendOpenLetter {
                    letter_ref: "L1".into(),
                    signatory: "O-Gon Kwon".into(),
                    addressee: "FM".into(),
                    ..Default::default()
                }),
            ),
            "president",
        ))
        .await
        .unwrap()
        .into_inner();
    let deadline = sent.case.unwrap().next_deadline.unwrap();
    assert_eq!(
        (deadline.kind.as_str(), deadline.due.as_str()),
        ("reply_window", "2018-01-26")
    );
    // The due day is The Hague's (the rules' seat): it ends at midnight there, 23:00 UTC.
    assert_eq!(deadline.time_zone, "Europe/Amsterdam");
    assert_eq!(
        deadline.ends_at.as_ref().map(|t| t.seconds),
        Some(
            Utc.with_ymd_and_hms(2018, 1, 26, 23, 0, 0)
                .unwrap()
                .timestamp()
        )
    );
    let mut watch = c
        .watch_case(Request::new(pb::WatchCaseRequest {
            case_id: id.clone(),
            from_version: 4,
        }))
        .await
        .unwrap()
        .into_inner();
    // On the last day (23:59 in The Hague) nothing fires.
    s.clock
        .set(Utc.with_ymd_and_hms(2018, 1, 26, 22, 59, 0).unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.store
            .stream_version(aspflow::store::StreamId(
                uuid::Uuid::parse_str(&id).unwrap()
            ))
            .await
            .unwrap(),
        Some(3)
    );
    // The next day there (00:00:01 in The Hague) it does, by itself, once; its legal time is
    // the first instant after the due day.
    s.clock
        .set(Utc.with_ymd_and_hms(2018, 1, 26, 23, 0, 1).unwrap());
    let e = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("the deadline fires within 10 s")
        .unwrap()
        .unwrap();
    assert_eq!(e.event_type, "formal.response_deadline_elapsed");
    assert_eq!(e.role, "system");
    assert_eq!(
        e.occurred_at.as_ref().map(|t| t.seconds),
        Some(
            Utc.with_ymd_and_hms(2018, 1, 26, 23, 0, 0)
                .unwrap()
                .timestamp()
        )
    );
    assert_eq!(
        e.request_id,
        format!("17:aspflow-scheduler:deadline:{id}:reply_window:2018-01-26")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let view = c
        .get_case(Request::new(pb::GetCaseRequest {
            case_id: id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((view.state.as_str(), view.version), ("NoResponse", 4));
    // A second node on the same database firing the same deadline changes nothing.
    let other = Engine::new(
        s.store.clone(),
        s.clock.clone(),
        Arc::new(V7Ids),
        ProcedureRules::default(),
    );
    assert!(other.fire_due_deadlines().await.unwrap().is_empty());
    server.stop().await;
}

async fn collect_subscription(channel: Channel, from: u64, until: u64) -> (Vec<u64>, u64) {
    let mut log = EventLogClient::new(channel);
    let mut stream = log
        .subscribe(Request::new(pb::SubscribeRequest {
            from_position: from,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let mut positions = Vec::new();
    let mut checkpoint = 0;
    while checkpoint < until {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the subscription progresses")
            .unwrap()
            .expect("the stream stays open");
        match msg.message.unwrap() {
            Message::Event(e) => positions.push(e.global_position),
            Message::Checkpoint(c) => checkpoint = c.position,
        }
    }
    (positions, checkpoint)
}

async fn watch_and_subscribe_deliver_every_event_once_across_a_restart(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let id = c
        .open_formal_case(as_role(open_jordan("w-1"), "court_liaison"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .case_id;
    let follower = tokio::spawn(collect_subscription(server.channel().await, 1, 21));
    let mut watch = c
        .watch_case(Request::new(pb::WatchCaseRequest {
            case_id: id.clone(),
            from_version: 1,
        }))
        .await
        .unwrap()
        .into_inner();
    for i in 0..20 {
        c.execute(as_role(
            exec(
                &id,
                &format!("w-c{i}"),
                act(2018, 1, 11),
                C::RecordConsultationRequested(pb::RecordConsultationRequested {
                    reference: format!("art97-{i}"),
                    problems: vec!["other".into()],
                }),
            ),
            "court_liaison",
        ))
        .await
        .unwrap();
    }
    let (positions, checkpoint) = follower.await.unwrap();
    assert_eq!(positions, (1..=21).collect::<Vec<_>>());
    let mut versions = Vec::new();
    while versions.len() < 21 {
        versions.push(watch.message().await.unwrap().unwrap().version);
    }
    assert_eq!(versions, (1..=21).collect::<Vec<_>>());
    // Restart: the streams end with the old server; a new server on the same database resumes
    // from the last position received.
    server.stop().await;
    assert!(watch.message().await.is_err() || watch.message().await.unwrap().is_none());
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let follower = tokio::spawn(collect_subscription(
        server.channel().await,
        checkpoint + 1,
        26,
    ));
    for i in 20..25 {
        c.execute(as_role(
            exec(
                &id,
                &format!("w-c{i}"),
                act(2018, 1, 12),
                C::RecordConsultationRequested(pb::RecordConsultationRequested {
                    reference: format!("art97-{i}"),
                    problems: vec!["other".into()],
                }),
            ),
            "court_liaison",
        ))
        .await
        .unwrap();
    }
    let (positions, _) = follower.await.unwrap();
    assert_eq!(positions, (22..=26).collect::<Vec<_>>());
    server.stop().await;
}

async fn list_filters_pages_and_rebuild(s: TestStore) {
    // No scheduler: the reply windows of 2018 stay open on the 2026 clock.
    let server = TestServer::start_with(s.store.clone(), s.clock.clone(), None).await;
    let mut c = server.cases().await;
    let mut ids = Vec::new();
    for (i, (iso, name, region)) in [
        ("JO", "Jordan", "asia_pacific"),
        ("MW", "Malawi", "african"),
        ("TD", "Chad", "african"),
    ]
    .iter()
    .enumerate()
    {
        let mut r = open_jordan(&format!("l-{i}"));
        r.facts = facts(iso, name, region);
        r.referral = referral(&format!("DEC-{i}"), "2017-12-11", &["asp"]);
        let opened = c
            .open_formal_case(as_role(r, "court_liaison"))
            .await
            .unwrap()
            .into_inner();
        ids.push(opened.case.unwrap().case_id);
    }
    // Letters: Chad's reply is due first (19 Jan), then Jordan's (26 Jan); Malawi has none.
    for (id, day) in [(&ids[2], 5), (&ids[0], 12)] {
        c.execute(as_role(
            exec(
                id,
                &format!("seize-{id}"),
                act(2018, 1, 3),
                C::SeizeBureau(pb::SeizeBureau {
                    meeting_no: "B/2018/1".into(),
                    ..Default::default()
                }),
            ),
            "bureau",
        ))
        .await
        .unwrap();
        c.execute(as_role(
            exec(
                id,
                &format!("letter-{id}"),
                act(2018, 1, day),
                C::SendOpenLetter(pb::SendOpenLetter {
                    letter_ref: format!("ASP/2018/L{day}"),
                    signatory: "O-Gon Kwon".into(),
                    addressee: "Minister for Foreign Affairs".into(),
                    ..Default::default()
                }),
            ),
            "president",
        ))
        .await
        .unwrap();
    }
    // By next deadline, one to a page: the soonest first, the case without one last.
    let mut order = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_cases(Request::new(pb::ListCasesRequest {
                page_size: 1,
                page_token: token.clone(),
                order_by: "next_deadline".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        order.extend(page.cases.iter().map(|c| c.requested_state.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(order, ["TD", "JO", "MW"]);
    for (order_by, token) in [("soonest", ""), ("next_deadline", ids[0].as_str())] {
        let err = c
            .list_cases(Request::new(pb::ListCasesRequest {
                order_by: order_by.into(),
                page_token: token.into(),
                ..Default::default()
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{order_by} {token}");
    }
    let list = |f: pb::ListCasesRequest| {
        let mut c = c.clone();
        async move { c.list_cases(Request::new(f)).await.unwrap().into_inner() }
    };
    let african = list(pb::ListCasesRequest {
        region: "african".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(african.cases.len(), 2);
    let page1 = list(pb::ListCasesRequest {
        page_size: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(page1.cases.len(), 2);
    let page2 = list(pb::ListCasesRequest {
        page_size: 2,
        page_token: page1.next_page_token.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(page2.cases.len(), 1);
    assert!(page2.next_page_token.is_empty());
    let refs: HashSet<String> = page1
        .cases
        .iter()
        .chain(page2.cases.iter())
        .map(|c| c.reference.clone())
        .collect();
    assert_eq!(refs.len(), 3);
    let by_person = list(pb::ListCasesRequest {
        person_sought: "bashir".into(),
        status: "open".into(),
        procedure: "formal".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(by_person.cases.len(), 3);
    // Each filter alone and together (the SQL holds only the filters given).
    let count = |f: pb::ListCasesRequest| async move { list(f).await.cases.len() };
    let by_state = |iso: &str| pb::ListCasesRequest {
        requested_state: iso.into(),
        ..Default::default()
    };
    assert_eq!(count(by_state("JO")).await, 1);
    assert_eq!(count(by_state("XX")).await, 0);
    let all_cases = pb::ListCasesRequest {
        procedure: "cases".into(),
        order_by: "next_deadline".into(),
        ..Default::default()
    };
    assert_eq!(count(all_cases.clone()).await, 3);
    let due_soon = pb::ListCasesRequest {
        deadline_before: "2018-01-20".into(),
        ..all_cases.clone()
    };
    assert_eq!(
        count(due_soon).await,
        1,
        "only Chad's deadline (19 Jan) is before"
    );
    let african_jordan = pb::ListCasesRequest {
        region: "african".into(),
        ..by_state("JO")
    };
    assert_eq!(
        count(african_jordan).await,
        0,
        "Jordan is not in the African group"
    );
    let err = c
        .list_cases(Request::new(pb::ListCasesRequest {
            status: "half-open".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    // The read model rebuilt from the log equals the one written with the events.
    let before = s
        .store
        .list_summaries(&SummaryFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let n = server.engine.rebuild_projections().await.unwrap();
    let after = s
        .store
        .list_summaries(&SummaryFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(before, after);
    server.stop().await;
}

/// A log long enough for the replay to share its pages among threads (cases interleaved in
/// log order) folds every case to the state and version the writes left.
async fn replay_of_a_long_log_folds_every_case_as_written(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let mut ids = Vec::new();
    for k in 0..4 {
        let mut open = open_jordan(&format!("long-open-{k}"));
        open.referral = referral(&format!("ICC-02/05-01/09-{k}"), "2017-12-11", &["asp"]);
        let view = c
            .open_formal_case(as_role(open, "court_liaison"))
            .await
            .unwrap()
            .into_inner();
        ids.push(view.case.unwrap().case_id);
    }
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let mut c = server.cases().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..160 {
                let mut req = exec(
                    &id,
                    &format!("long-{id}-{i}"),
                    act(2018, 1, 11),
                    C::RecordConsultationRequested(pb::RecordConsultationRequested {
                        reference: format!("art97-{i}"),
                        problems: vec!["other".into()],
                    }),
                );
                req.reply = pb::ReplyView::Compact as i32;
                c.execute(as_role(req, "court_liaison")).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let folded = aspflow::engine::replay_log(&s.store).await.unwrap();
    assert_eq!(folded.len(), 4);
    for id in &ids {
        let id = aspflow::domain::CaseId(uuid::Uuid::parse_str(id).unwrap());
        // The one-case fold (a stream read in version order) is the reference.
        let one = server
            .engine
            .load(id, aspflow::engine::AsOf::Latest)
            .await
            .unwrap();
        let f = &folded[&aspflow::store::StreamId(id.0)];
        assert_eq!((f.version, one.version), (161, 161));
        assert_eq!(f.state, *one.state, "case {id}");
    }
    // An event that does not decode (here: of no procedure) ends the replay with an error
    // naming it, whichever thread decoded it; nothing is folded past it.
    let id = uuid::Uuid::parse_str(&ids[1]).unwrap();
    let receipt = s
        .store
        .append(crate::util::write(
            "undecodable",
            aspflow::store::StreamId(id),
            aspflow::store::ExpectedVersion::Exact(161),
            1..2,
        ))
        .await
        .unwrap();
    match aspflow::engine::replay_log(&s.store).await {
        Err(aspflow::engine::EngineError::Corrupt(m)) => assert_eq!(
            m,
            format!(
                "case {id} version 162 (position {}): unknown event type \"test.happened\"",
                receipt.last_position
            )
        ),
        other => panic!("expected Corrupt, got {:?}", other.map(|f| f.len())),
    }
    server.stop().await;
}

async fn roster_over_grpc(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut r = RosterClient::new(server.channel().await);
    let fp = |state: &str, region: &str| pb::FocalPoint {
        state: state.into(),
        name: state.into(),
        region: region.into(),
        subjects: vec![],
    };
    let appointed = r
        .appoint_focal_points(as_role(
            pb::AppointFocalPointsRequest {
                request_id: "fp-1".into(),
                act: act(2024, 3, 6),
                term: "2023-2026".into(),
                president_region: "western_european_other".into(),
                members: vec![
                    fp("MX", "latin_american_caribbean"),
                    fp("SL", "african"),
                    fp("VU", "asia_pacific"),
                    fp("LT", "eastern_european"),
                ],
            },
            "bureau",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(appointed.members.len(), 4);
    let err = r
        .replace_focal_point(as_role(
            pb::ReplaceFocalPointRequest {
                request_id: "fp-2".into(),
                act: act(2025, 1, 10),
                term: "2023-2026".into(),
                replaced: "SL".into(),
                replacement: Some(fp("FR", "western_european_other")),
            },
            "bureau",
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "ReplacementRegionMismatch");
    let got = r
        .get_roster(Request::new(pb::GetRosterRequest {
            term: "2023-2026".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.version, 1);
    // Without a term: the term current on the server's clock (28 Nov 2026).
    let current = r
        .get_roster(Request::new(pb::GetRosterRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.term, "2023-2026");
    server.stop().await;
}

async fn audit_service_over_grpc(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let id = c
        .open_formal_case(as_role(open_jordan("a-1"), "court_liaison"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .case_id;
    let mut audit = AuditClient::new(server.channel().await);
    let log = audit
        .verify_log(as_role(pb::VerifyLogRequest {}, "auditor"))
        .await
        .unwrap()
        .into_inner();
    assert!(log.intact && log.events_checked == 1);
    let case = audit
        .verify_case(as_role(
            pb::VerifyCaseRequest {
                case_id: "NC-2017-0001".into(),
            },
            "auditor",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(case.intact);
    let key = audit
        .get_public_key(as_role(pb::GetPublicKeyRequest {}, "auditor"))
        .await
        .unwrap()
        .into_inner()
        .hex;
    let cp = audit
        .get_checkpoint(as_role(pb::GetCheckpointRequest {}, "auditor"))
        .await
        .unwrap()
        .into_inner();
    let checkpoint: aspflow::audit::Checkpoint = serde_json::from_str(&cp.checkpoint_json).unwrap();
    let pinned = aspflow::audit::keys::parse_public_key(&key).unwrap();
    checkpoint.verify_signature(Some(&pinned)).unwrap();
    let mut stream = audit
        .export_case(as_role(
            pb::ExportCaseRequest {
                case_id: id.clone(),
            },
            "auditor",
        ))
        .await
        .unwrap()
        .into_inner();
    let mut lines = Vec::new();
    while let Some(l) = stream.message().await.unwrap() {
        lines.push(l.json);
    }
    assert_eq!(lines.len(), 2);
    let report = aspflow::audit::export::verify_export(
        std::io::Cursor::new(lines.join("\n")),
        Some(&pinned),
    )
    .unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert!(matches!(report.checkpoint, Some(Ok(_))));
    let err = audit
        .verify_case(as_role(
            pb::VerifyCaseRequest {
                case_id: uuid::Uuid::nil().to_string(),
            },
            "auditor",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

/// Generic clients work: health reports the services serving, and both reflection versions
/// list the aspflow services (grpcurl 1.8 and Python use v1alpha).
#[tokio::test]
async fn health_and_reflection_answer_generic_clients() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let s = crate::util::TestStore::sqlite().await;
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in [
        "aspflow.v1.Cases",
        "aspflow.v1.EventLog",
        "aspflow.v1.Audit",
        "aspflow.v1.Roster",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    {
        use tonic_reflection::pb::v1::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new(server.channel().await);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = client
            .server_reflection_info(futures_util::stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("{resp:?}")
        };
        let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"aspflow.v1.Cases"), "{names:?}");
    }
    {
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new(server.channel().await);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "aspflow.v1.Cases".into(),
            )),
        };
        let mut stream = client
            .server_reflection_info(futures_util::stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        assert!(
            matches!(
                resp.message_response,
                Some(MessageResponse::FileDescriptorResponse(_))
            ),
            "{resp:?}"
        );
    }
    server.stop().await;
}

/// Two engines (nodes) on one database: each sees the other's writes, whatever it has cached.
async fn two_nodes_share_one_log(s: TestStore) {
    use aspflow::{
        domain::{ActMeta, Principal, Role, formal},
        engine::ApiCommand,
    };
    let node = || {
        Engine::new(
            s.store.clone(),
            s.clock.clone(),
            Arc::new(V7Ids),
            ProcedureRules::default(),
        )
    };
    let (a, b) = (node(), node());
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    let id = c
        .open_formal_case(as_role(open_jordan("n-1"), "court_liaison"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .case_id;
    let id = aspflow::domain::CaseId(uuid::Uuid::parse_str(&id).unwrap());
    let at = |d| ActMeta::at(Utc.with_ymd_and_hms(2018, 1, d, 12, 0, 0).unwrap());
    // Node A folds the case (version 1) and keeps it.
    assert_eq!(a.current(id).await.unwrap().1, 1);
    // Node B moves it on.
    b.execute(
        &Principal::new("b", Role::Bureau),
        id,
        Some(1),
        "n-2",
        at(10),
        ApiCommand::Formal(formal::Action::SeizeBureau {
            meeting_no: "B/1".into(),
            quorum_present: true,
        }),
    )
    .await
    .unwrap();
    // Node A sees version 2 and continues from there.
    let o = a
        .execute(
            &Principal::new("p", Role::President),
            id,
            Some(2),
            "n-3",
            at(12),
            ApiCommand::Formal(formal::Action::SendOpenLetter {
                letter_ref: "L1".into(),
                signatory: "P".into(),
                addressee: "FM".into(),
                obligations_recalled: vec![],
                warned_measures: vec![],
                published_channels: vec![],
            }),
        )
        .await
        .unwrap();
    assert_eq!((o.case.version, o.case.state.name()), (3, "AwaitingViews"));
    assert_eq!(b.current(id).await.unwrap().1, 3);
    server.stop().await;
}
