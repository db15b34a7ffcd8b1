//! Issue 8 (hardening) regressions, over real gRPC on both backends: the log accepts only what
//! it can read back, text is bounded, identical requests in flight get one outcome, duplicate
//! referrals are one case, references have no ceiling, and the scheduler cannot be blocked.

use std::time::Duration;

use aspflow::{
    pb::{self, execute_request::Command as C},
    store::{EventStore, chain},
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::{
    e2e::{TestServer, act, as_role, exec, open_jordan, reason, referral},
    util::TestStore,
};

mod property;

crate::util::on_both_backends!(
    r8_times_outside_the_calendar_are_refused_and_change_nothing,
    r8_text_is_bounded_and_errors_do_not_echo_it,
    r8_identical_requests_in_flight_get_one_outcome,
    r8_identical_requests_on_two_nodes_get_one_outcome,
    r8_duplicate_referrals_are_one_case_whatever_the_spelling,
    r8_references_have_no_ceiling,
    r8_scheduler_ids_are_reserved_and_a_stuck_case_is_set_aside,
);

fn field_of(s: &tonic::Status) -> String {
    s.get_error_details()
        .bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .unwrap_or_default()
}

fn seize(case: &str, rid: &str) -> pb::ExecuteRequest {
    exec(
        case,
        rid,
        act(2018, 1, 10),
        C::SeizeBureau(pb::SeizeBureau {
            meeting_no: "B/2018/1".into(),
            quorum_present: true,
        }),
    )
}

/// The log head and the case's version: what a refused request must leave as it was.
async fn marks(server: &TestServer, case: &str) -> (u64, u64) {
    let head = server.engine.store().head_position().await.unwrap();
    let v = server
        .cases()
        .await
        .get_case(as_role(
            pb::GetCaseRequest {
                case_id: case.into(),
                ..Default::default()
            },
            "secretariat",
        ))
        .await
        .unwrap()
        .into_inner()
        .version;
    (head, v)
}

async fn r8_times_outside_the_calendar_are_refused_and_change_nothing(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    c.open_formal_case(as_role(open_jordan("t-1"), "court_liaison"))
        .await
        .unwrap();
    let before = marks(&server, "NC-2017-0001").await;
    // Year 10000, year 0, nanos out of range, and a legal date far outside the window.
    for (seconds, nanos) in [
        (253_402_300_800_i64, 0),
        (-62_167_219_200, 0),
        (1_515_585_600, -1),
        (1_515_585_600, 1_000_000_000),
        (32_503_680_000, 0), // 3000-01-01
    ] {
        let mut req = seize("NC-2017-0001", &format!("t-{seconds}-{nanos}"));
        req.act = Some(pb::Act {
            occurred_at: Some(prost_types::Timestamp { seconds, nanos }),
            ..Default::default()
        });
        let e = c
            .execute(as_role(req, "bureau"))
            .await
            .expect_err("refused");
        assert_eq!(e.code(), Code::InvalidArgument, "{seconds}: {e:?}");
        assert_eq!(field_of(&e), "act.occurred_at", "{e:?}");
    }
    let mut open = open_jordan("t-2");
    open.referral = referral("ICC-02/05-01/09-999", "0000-01-01", &["asp"]);
    let e = c
        .open_formal_case(as_role(open, "court_liaison"))
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(field_of(&e), "referral.decision_date");
    let mut open = open_jordan("t-3");
    open.referral = referral("ICC-02/05-01/09-999", "2999-12-31", &["asp"]);
    let e = c
        .open_formal_case(as_role(open, "court_liaison"))
        .await
        .expect_err("refused");
    assert_eq!(field_of(&e), "referral.decision_date", "{e:?}");
    assert_eq!(marks(&server, "NC-2017-0001").await, before);
    // The log still reads back and verifies; another referral on the same State still works.
    assert!(chain::verify_log(&s.store).await.unwrap().is_intact());
    let mut open = open_jordan("t-4");
    open.referral = referral("ICC-02/05-01/09-310", "2017-12-11", &["asp"]);
    c.open_formal_case(as_role(open, "court_liaison"))
        .await
        .unwrap();
    server.stop().await;
}

async fn r8_text_is_bounded_and_errors_do_not_echo_it(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    c.open_formal_case(as_role(open_jordan("x-1"), "court_liaison"))
        .await
        .unwrap();
    let before = marks(&server, "NC-2017-0001").await;

    let mut req = seize("NC-2017-0001", "x-2");
    req.act.as_mut().unwrap().note = "n".repeat(64 * 1024 + 1);
    let e = c.execute(as_role(req, "bureau")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(field_of(&e), "act.note");
    assert!(e.message().contains("65536"), "{}", e.message());

    let mut req = seize("NC-2017-0001", "x-3");
    if let Some(C::SeizeBureau(m)) = &mut req.command {
        m.meeting_no = "B".repeat(201);
    }
    let e = c.execute(as_role(req, "bureau")).await.unwrap_err();
    assert_eq!(field_of(&e), "seize_bureau.meeting_no");
    assert!(e.message().contains("200"), "{}", e.message());

    let mut req = seize("NC-2017-0001", "x-4");
    req.act.as_mut().unwrap().documents = (0..101)
        .map(|i| pb::DocumentRef {
            symbol: format!("D{i}"),
            ..Default::default()
        })
        .collect();
    let e = c.execute(as_role(req, "bureau")).await.unwrap_err();
    assert_eq!(field_of(&e), "act.documents");

    // A message over the server's 1 MiB limit.
    let mut req = seize("NC-2017-0001", "x-5");
    req.act.as_mut().unwrap().note = "n".repeat(2 * 1024 * 1024);
    let e = c.execute(as_role(req, "bureau")).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");

    // A 100 KB case id is not echoed back.
    let e = c
        .execute(as_role(seize(&"Z".repeat(100_000), "x-6"), "bureau"))
        .await
        .unwrap_err();
    assert!(e.message().len() < 400, "{} bytes", e.message().len());
    let e = c
        .get_case(as_role(
            pb::GetCaseRequest {
                case_id: "Q".repeat(150),
                ..Default::default()
            },
            "secretariat",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().len() < 400, "{}", e.message());
    assert_eq!(marks(&server, "NC-2017-0001").await, before);
    server.stop().await;
}

async fn identical_burst(servers: &[&TestServer], n: usize) -> Vec<pb::ExecuteResponse> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut c = servers[i % servers.len()].cases().await;
        tasks.push(tokio::spawn(async move {
            c.execute(as_role(seize("NC-2017-0001", "same-request"), "bureau"))
                .await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            t.await
                .unwrap()
                .expect("every identical request gets the outcome")
                .into_inner(),
        );
    }
    out
}

fn assert_one_outcome(out: &[pb::ExecuteResponse]) {
    let first: Vec<u64> = out[0].recorded.iter().map(|e| e.global_position).collect();
    assert_eq!(first.len(), 1);
    for o in out {
        let got: Vec<u64> = o.recorded.iter().map(|e| e.global_position).collect();
        assert_eq!(got, first, "every answer names the one recorded event");
    }
    assert_eq!(out.iter().filter(|o| !o.replayed).count(), 1);
}

async fn r8_identical_requests_in_flight_get_one_outcome(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    c.open_formal_case(as_role(open_jordan("i-1"), "court_liaison"))
        .await
        .unwrap();
    let out = identical_burst(&[&server], 40).await;
    assert_one_outcome(&out);
    assert_eq!(marks(&server, "NC-2017-0001").await.1, 2);
    server.stop().await;
}

async fn r8_identical_requests_on_two_nodes_get_one_outcome(s: TestStore) {
    let a = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let b = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = a.cases().await;
    c.open_formal_case(as_role(open_jordan("n-1"), "court_liaison"))
        .await
        .unwrap();
    let out = identical_burst(&[&a, &b], 40).await;
    assert_one_outcome(&out);
    assert_eq!(marks(&b, "NC-2017-0001").await.1, 2);
    a.stop().await;
    b.stop().await;
}

async fn r8_duplicate_referrals_are_one_case_whatever_the_spelling(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    c.open_formal_case(as_role(open_jordan("d-1"), "court_liaison"))
        .await
        .unwrap();
    let mut again = open_jordan("d-2");
    again.referral = referral(" icc-02/05-01/09-309 ", "2017-12-11", &["asp"]);
    let e = c
        .open_formal_case(as_role(again, "court_liaison"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(reason(&e), "DuplicateReferral");

    // 16 simultaneous referrals of one new decision: one case, 15 refusals naming it.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let mut c = server.cases().await;
        tasks.push(tokio::spawn(async move {
            let mut r = open_jordan(&format!("race-{i}"));
            r.referral = referral("ICC-02/05-01/09-400", "2017-12-11", &["asp"]);
            c.open_formal_case(as_role(r, "court_liaison")).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(reason(&e), "DuplicateReferral", "{e:?}"),
        }
    }
    assert_eq!(ok, 1);
    let list = c
        .list_cases(as_role(
            pb::ListCasesRequest {
                procedure: "formal".into(),
                ..Default::default()
            },
            "secretariat",
        ))
        .await
        .unwrap()
        .into_inner();
    let mut refs: Vec<String> = list.cases.iter().map(|c| c.reference.clone()).collect();
    refs.sort();
    assert_eq!(refs, ["NC-2017-0001", "NC-2017-0002"], "no number used up");
    server.stop().await;
}

async fn r8_references_have_no_ceiling(s: TestStore) {
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    c.open_formal_case(as_role(open_jordan("c-1"), "court_liaison"))
        .await
        .unwrap();
    s.exec("UPDATE reference_counters SET last_number = 9998 WHERE prefix = 'NC-2017-'")
        .await
        .unwrap();
    for (i, expected) in [
        (1, "NC-2017-9999"),
        (2, "NC-2017-10000"),
        (3, "NC-2017-10001"),
    ] {
        let mut r = open_jordan(&format!("c-next-{i}"));
        r.referral = referral(&format!("ICC-02/05-01/09-5{i}"), "2017-12-11", &["asp"]);
        let o = c
            .open_formal_case(as_role(r, "court_liaison"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(o.case.unwrap().reference, expected);
    }
    server.stop().await;
}

async fn r8_scheduler_ids_are_reserved_and_a_stuck_case_is_set_aside(s: TestStore) {
    // 150 read-model rows whose deadline cannot fire (no such case in the log) sort before the
    // real case: the scheduler must log and pass them, not stop at them.
    for i in 0..150 {
        let id = uuid::Uuid::from_u128(i + 1);
        s.exec(&format!(
            "INSERT INTO case_summaries (case_id, reference, procedure, state, closed, \
             requested_state, requested_state_name, region, person_sought, next_deadline, \
             fires_after, version, updated_at) VALUES ('{id}', 'NC-1999-{i:04}', 'formal', \
             'AwaitingViews', false, 'XX', 'Nowhere', 'african', 'nobody', '2000-01-01', \
             '2000-01-01', 3, '2020-01-01T00:00:00.000000Z')"
        ))
        .await
        .unwrap();
    }
    let server = TestServer::start(s.store.clone(), s.clock.clone()).await;
    let mut c = server.cases().await;
    c.open_formal_case(as_role(open_jordan("s-1"), "court_liaison"))
        .await
        .unwrap();
    let e = c
        .execute(as_role(seize("NC-2017-0001", "deadline:mine"), "bureau"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(field_of(&e), "request_id");
    c.execute(as_role(seize("NC-2017-0001", "s-2"), "bureau"))
        .await
        .unwrap();
    c.execute(as_role(
        exec(
            "NC-2017-0001",
            "s-3",
            act(2018, 1, 12),
            C::SendOpenLetter(pb::SendOpenLetter {
                letter_ref: "ASP/2018/L1".into(),
                signatory: "O-Gon Kwon".into(),
                addressee: "Minister for Foreign Affairs".into(),
                ..Default::default()
            }),
        ),
        "president",
    ))
    .await
    .unwrap();
    // The reply window (2018) lies in the test clock's past: the scheduler records the lapse.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = c
            .get_case(as_role(
                pb::GetCaseRequest {
                    case_id: "NC-2017-0001".into(),
                    ..Default::default()
                },
                "secretariat",
            ))
            .await
            .unwrap()
            .into_inner();
        if v.state == "NoResponse" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduler did not reach the real case (state {})",
            v.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}
