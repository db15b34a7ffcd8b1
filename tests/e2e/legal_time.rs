//! Issue 13 over gRPC: where and when an act happens (its time zone, the legal-time rules) and
//! a State's withdrawal (art. 127), on both backends. Bad input is refused with the field and
//! changes nothing.

use aspflow::pb::{self, execute_request::Command as C};
use tonic::Code;

use super::{TestServer, act, as_role, exec, open_jordan, reason};
use crate::util::TestStore;

async fn acts_carry_their_place_and_time(s: TestStore) {
    let server = TestServer::start_with(s.store.clone(), s.clock.clone(), None).await;
    let mut c = server.cases().await;
    let id = c
        .open_formal_case(as_role(open_jordan("lt-open"), "court_liaison"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .case_id;
    let version = |v: &pb::ExecuteResponse| v.case.as_ref().map_or(0, |c| c.version);
    // An unknown zone: INVALID_ARGUMENT naming act.time_zone; nothing written.
    let mut in_nowhere = act(2018, 1, 10);
    if let Some(a) = in_nowhere.as_mut() {
        a.time_zone = "Mars/Olympus".into();
    }
    let seize = |rid: &str, at: Option<pb::Act>| {
        exec(
            &id,
            rid,
            at,
            C::SeizeBureau(pb::SeizeBureau {
                meeting_no: "B/1".into(),
                quorum_present: true,
            }),
        )
    };
    let e = c
        .execute(as_role(seize("lt-1", in_nowhere), "bureau"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("act.time_zone"), "{}", e.message());
    // Before the referral was transmitted (12 Dec 2017): refused by name.
    let e = c
        .execute(as_role(seize("lt-2", act(2017, 12, 1)), "bureau"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (Code::FailedPrecondition, "LegalTimeBeforeAnsweredAct")
    );
    // Years ahead of the server's clock: refused by name.
    let e = c
        .execute(as_role(seize("lt-3", act(2190, 1, 1)), "bureau"))
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "LegalTimeInFuture", "{e:?}");
    // A Bureau meeting in New York, recorded with its zone: kept with the event.
    let mut in_new_york = act(2018, 1, 10);
    if let Some(a) = in_new_york.as_mut() {
        a.time_zone = "America/New_York".into();
    }
    let done = c
        .execute(as_role(seize("lt-4", in_new_york), "bureau"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version(&done), 2);
    let payload: serde_json::Value = serde_json::from_str(&done.recorded[0].payload_json).unwrap();
    assert_eq!(
        payload["meta"]["time_zone"], "America/New_York",
        "{payload}"
    );
    assert_eq!(payload["body"]["meeting_date"], "2018-01-10", "{payload}");

    // Art. 127 over gRPC: notified, then refused twice, then in effect a year later.
    let notify = |rid: &str| {
        exec(
            &id,
            rid,
            act(2018, 2, 1),
            C::RecordWithdrawalNotified(pb::RecordWithdrawalNotified {
                notification_ref: "C.N.1.2018.TREATIES-XVIII.10".into(),
                effective_on: String::new(),
            }),
        )
    };
    let e = c
        .execute(as_role(notify("w-0"), "bureau"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    c.execute(as_role(notify("w-1"), "secretariat"))
        .await
        .unwrap();
    let e = c
        .execute(as_role(notify("w-2"), "secretariat"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let took = |rid: &str, at| {
        exec(
            &id,
            rid,
            at,
            C::RecordWithdrawalTookEffect(pb::RecordWithdrawalTookEffect {}),
        )
    };
    let e = c
        .execute(as_role(took("w-3", act(2018, 6, 1)), "secretariat"))
        .await
        .unwrap_err();
    assert!(e.message().contains("2019-02-01"), "{}", e.message());
    let done = c
        .execute(as_role(took("w-4", act(2019, 2, 1)), "secretariat"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.recorded[0].event_type, "formal.withdrawal_took_effect");
    let state: serde_json::Value = serde_json::from_str(&done.case.unwrap().state_json).unwrap();
    assert_eq!(state["withdrawal"]["took_effect"], true, "{state}");
    server.stop().await;
}

crate::util::on_both_backends!(acts_carry_their_place_and_time);
