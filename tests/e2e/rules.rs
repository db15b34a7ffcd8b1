//! Issue 13 item 7 (in part): a partial `ProcedureRules` (with `set_fields`) changes only the
//! fields it names, when a case opens and when its rules are amended; an unknown name is
//! refused with the field; a message without `set_fields` is read whole, as before.

use aspflow::pb::{self, execute_request::Command as C};
use tonic::Code;

use super::{TestServer, act, as_role, open_jordan};
use crate::util::TestStore;

/// The case's pinned rules, from its state.
async fn rules_of(server: &TestServer, case_id: &str) -> serde_json::Value {
    let view = server
        .cases()
        .await
        .get_case(as_role(
            pb::GetCaseRequest {
                case_id: case_id.to_owned(),
                ..Default::default()
            },
            "observer",
        ))
        .await
        .unwrap()
        .into_inner();
    let state: serde_json::Value = serde_json::from_str(&view.state_json).unwrap();
    fn find(v: &serde_json::Value) -> Option<serde_json::Value> {
        match v {
            serde_json::Value::Object(m) => m
                .get("rules")
                .cloned()
                .or_else(|| m.values().find_map(find)),
            _ => None,
        }
    }
    find(&state).expect("the state carries its rules")
}

async fn partial_rules_change_only_the_named_fields(s: TestStore) {
    let server = TestServer::start_with(s.store.clone(), s.clock.clone(), None).await;
    let mut c = server.cases().await;
    let mut open = open_jordan("rules-open");
    open.rules = Some(pb::ProcedureRules {
        e1_warned_measures: true,
        set_fields: vec!["e1_warned_measures".into()],
        ..Default::default()
    });
    let opened = c
        .open_formal_case(as_role(open, "court_liaison"))
        .await
        .unwrap()
        .into_inner();
    let id = opened.case.unwrap().case_id;
    let rules = rules_of(&server, &id).await;
    assert_eq!(rules["extensions"]["e1_warned_measures"], true);
    // The two [A] items whose defaults are true stay true: they were not named.
    assert_eq!(rules["report_without_public_meeting"], true, "{rules}");
    assert_eq!(
        rules["extend_reply_window_after_suspension"], true,
        "{rules}"
    );
    assert_eq!(rules["reply_window_days"], 14);

    // Amending one number keeps everything else of the case's rules (E1 stays on).
    let amend = |rid: &str, r: pb::ProcedureRules| pb::ExecuteRequest {
        case_id: id.clone(),
        request_id: rid.to_owned(),
        act: act(2018, 1, 5),
        command: Some(C::AmendRules(pb::AmendRules {
            rules: Some(r),
            decision_ref: "Bureau decision of 2018-01-10".into(),
        })),
        ..Default::default()
    };
    c.execute(as_role(
        amend(
            "rules-amend",
            pb::ProcedureRules {
                reply_window_days: 21,
                set_fields: vec!["reply_window_days".into()],
                ..Default::default()
            },
        ),
        "bureau",
    ))
    .await
    .unwrap();
    let rules = rules_of(&server, &id).await;
    assert_eq!(rules["reply_window_days"], 21);
    assert_eq!(rules["version"], 2);
    assert_eq!(rules["extensions"]["e1_warned_measures"], true, "{rules}");
    assert_eq!(rules["report_without_public_meeting"], true, "{rules}");

    // An unknown name, or a named number left at 0, is refused with the field; nothing changes.
    for (r, field) in [
        (
            pb::ProcedureRules {
                set_fields: vec!["reply_window_days".into(), "e9_teleportation".into()],
                reply_window_days: 30,
                ..Default::default()
            },
            "rules.set_fields[1]",
        ),
        (
            pb::ProcedureRules {
                set_fields: vec!["agenda_gap_months".into()],
                ..Default::default()
            },
            "rules.agenda_gap_months",
        ),
    ] {
        let e = c
            .execute(as_role(amend(&format!("rules-bad-{field}"), r), "bureau"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains(field), "{}", e.message());
    }
    assert_eq!(rules_of(&server, &id).await, rules);
    server.stop().await;
}

crate::util::on_both_backends!(partial_rules_change_only_the_named_fields);
