//! Issue 13 item 7: the Bureau owns the rules. A new case pins the rules the Bureau adopted
//! (Roster.AdoptProcedureRules), never the opener's (refused, nothing written); a case's rules
//! change only by the Bureau's amend_rules, naming its decision. A partial `ProcedureRules`
//! (with `set_fields`) changes only the fields it names, in an adoption and in an amendment;
//! an unknown name is refused with the field; a message without `set_fields` is read whole.

use aspflow::pb::{self, execute_request::Command as C, roster_client::RosterClient};
use tonic::Code;

use super::{TestServer, act, as_role, exec, facts, open_jordan, reason, referral};
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
    let mut roster = RosterClient::new(server.channel().await);
    // Before any adoption, the built-in defaults (version 1) are in force.
    let in_force = roster
        .get_rules_in_force(as_role(pb::GetRulesInForceRequest {}, "observer"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((in_force.version, in_force.term.as_str()), (1, ""));
    // The opener cannot choose the rules: refused with the field, nothing written.
    let mut open = open_jordan("rules-open-own");
    open.rules = Some(pb::ProcedureRules {
        e1_warned_measures: true,
        set_fields: vec!["e1_warned_measures".into()],
        ..Default::default()
    });
    let e = c
        .open_formal_case(as_role(open, "court_liaison"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("Bureau"), "{}", e.message());
    let listed = c
        .list_cases(as_role(pb::ListCasesRequest::default(), "observer"))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.cases.is_empty(), "{listed:?}");
    // The Bureau adopts rules switching E1 on; only the Bureau may.
    let adopt = |rid: &str| pb::AdoptProcedureRulesRequest {
        request_id: rid.to_owned(),
        act: act(2018, 1, 2),
        term: "2017-2020".into(),
        president_region: "asia_pacific".into(),
        rules: Some(pb::ProcedureRules {
            e1_warned_measures: true,
            set_fields: vec!["e1_warned_measures".into()],
            ..Default::default()
        }),
        decision_ref: "Bureau, 2nd meeting, 2 Jan 2018".into(),
    };
    let e = roster
        .adopt_procedure_rules(as_role(adopt("rules-adopt-sec"), "secretariat"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let view = roster
        .adopt_procedure_rules(as_role(adopt("rules-adopt"), "bureau"))
        .await
        .unwrap()
        .into_inner();
    let adopted = view.adopted_rules.expect("the term's adopted rules");
    assert_eq!(
        (adopted.version, adopted.decision_ref.as_str()),
        (2, "Bureau, 2nd meeting, 2 Jan 2018")
    );
    let in_force = roster
        .get_rules_in_force(as_role(pb::GetRulesInForceRequest {}, "observer"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((in_force.version, in_force.term.as_str()), (2, "2017-2020"));
    let opened = c
        .open_formal_case(as_role(open_jordan("rules-open"), "court_liaison"))
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
    assert_eq!(rules["version"], 3);
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

    // The same term adopts again: the rules in force follow at once (the engine keeps them
    // while the terms' streams are unchanged), and the next case pins them.
    let mut again = adopt("rules-adopt-2");
    again.rules = Some(pb::ProcedureRules {
        reply_window_days: 30,
        set_fields: vec!["reply_window_days".into()],
        ..Default::default()
    });
    roster
        .adopt_procedure_rules(as_role(again, "bureau"))
        .await
        .unwrap();
    let in_force = roster
        .get_rules_in_force(as_role(pb::GetRulesInForceRequest {}, "observer"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(in_force.rules.unwrap().reply_window_days, 30);
    let mut other = open_jordan("rules-open-2");
    other.referral = referral("ICC-02/05-01/09-310", "2017-12-11", &["asp"]);
    let second = c
        .open_formal_case(as_role(other, "court_liaison"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .case_id;
    let pinned = rules_of(&server, &second).await;
    assert_eq!(pinned["reply_window_days"], 30, "{pinned}");
    assert_eq!(pinned["extensions"]["e1_warned_measures"], true, "{pinned}");
    server.stop().await;
}

/// The Bureau adopts rules switching `set` on (a partial message), as of 2 Jan 2018.
async fn bureau_adopts(
    roster: &mut RosterClient<tonic::transport::Channel>,
    rid: &str,
    set: &[&str],
) {
    let mut rules = pb::ProcedureRules {
        set_fields: set.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    };
    for f in set {
        match *f {
            "e5_interpretative_resolutions" => rules.e5_interpretative_resolutions = true,
            "e7_standing_channel" => rules.e7_standing_channel = true,
            other => panic!("{other}"),
        }
    }
    roster
        .adopt_procedure_rules(as_role(
            pb::AdoptProcedureRulesRequest {
                request_id: rid.to_owned(),
                act: act(2018, 1, 2),
                term: "2017-2020".into(),
                president_region: "asia_pacific".into(),
                rules: Some(rules),
                decision_ref: format!("Bureau decision {rid}"),
            },
            "bureau",
        ))
        .await
        .unwrap();
}

/// E5 over gRPC: proposed by the Bureau when the rules in force switch E5 on, adopted by the
/// Assembly (registered by the Secretariat), never binding on the Court; E7 over gRPC: an
/// alert goes out on the standing channel.
async fn interpretative_resolutions_and_the_standing_channel(s: TestStore) {
    let server = TestServer::start_with(s.store.clone(), s.clock.clone(), None).await;
    let mut c = server.cases().await;
    let mut roster = RosterClient::new(server.channel().await);
    let jordan = c
        .open_formal_case(as_role(open_jordan("ir-jordan"), "court_liaison"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let propose = |rid: &str| pb::ProposeInterpretativeResolutionRequest {
        request_id: rid.to_owned(),
        act: act(2018, 2, 1),
        provision: "Rome Statute art. 27 and art. 98(1)".into(),
        issue: "immunity of a sitting Head of State".into(),
        text: "The States Parties understand that ...".into(),
        linked_case_ids: vec![jordan.reference.clone()],
    };
    // E5 off in the rules in force: refused by name.
    let e = c
        .propose_interpretative_resolution(as_role(propose("ir-1"), "bureau"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (Code::FailedPrecondition, "ExtensionDisabled")
    );
    bureau_adopts(&mut roster, "adopt-e5", &["e5_interpretative_resolutions"]).await;
    // Only the Bureau proposes.
    let e = c
        .propose_interpretative_resolution(as_role(propose("ir-2"), "president"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let proposed = c
        .propose_interpretative_resolution(as_role(propose("ir-3"), "bureau"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(
        (proposed.reference.as_str(), proposed.state.as_str()),
        ("IR-2018-0001", "Proposed")
    );
    assert!(
        proposed.state_json.contains(&jordan.case_id),
        "{}",
        proposed.state_json
    );
    // A formal command on it is refused with the field.
    let e = c
        .execute(as_role(
            exec(
                &proposed.case_id,
                "ir-wrong",
                act(2018, 2, 2),
                C::SeizeBureau(pb::SeizeBureau {
                    meeting_no: "B/1".into(),
                    quorum_present: true,
                }),
            ),
            "bureau",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let adopted = c
        .execute(as_role(
            exec(
                &proposed.reference,
                "ir-adopt",
                act(2018, 12, 12),
                C::AdoptInterpretativeResolution(pb::AdoptInterpretativeResolution {
                    resolution_symbol: "ICC-ASP/17/Res.7".into(),
                    all_parties_agreed: true,
                }),
            ),
            "secretariat",
        ))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(adopted.state, "Adopted");
    let history = c
        .get_history(as_role(
            pb::GetHistoryRequest {
                case_id: proposed.case_id.clone(),
                ..Default::default()
            },
            "observer",
        ))
        .await
        .unwrap()
        .into_inner();
    let last = history.events.last().unwrap();
    assert_eq!(
        last.event_type,
        "interpretative.interpretative_resolution_adopted"
    );
    let payload: serde_json::Value = serde_json::from_str(&last.payload_json).unwrap();
    assert_eq!(payload["body"]["binding_on_court"], false, "{payload}");
    assert_eq!(payload["body"]["subsequent_agreement"], true, "{payload}");
    // Once adopted it cannot be withdrawn.
    let e = c
        .execute(as_role(
            exec(
                &proposed.case_id,
                "ir-withdraw",
                act(2018, 12, 13),
                C::WithdrawInterpretativeResolution(pb::WithdrawInterpretativeResolution {
                    reason: "superseded".into(),
                }),
            ),
            "bureau",
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "ProcedureClosed", "{e:?}");

    // E7: with the standing channel on, an alert also goes to the Assembly's roles.
    bureau_adopts(&mut roster, "adopt-e7", &["e7_standing_channel"]).await;
    let alert = c
        .open_preventive_case(as_role(
            pb::OpenPreventiveCaseRequest {
                request_id: "e7-alert".into(),
                act: act(2018, 3, 20),
                facts: facts("JO", "Jordan", "asia_pacific"),
                alert: Some(pb::Alert {
                    source_type: "otp".into(),
                    expected_arrival: "2018-03-29".into(),
                    event_name: "Arab League summit".into(),
                    ..Default::default()
                }),
                rules: None,
            },
            "court_liaison",
        ))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let history = c
        .get_history(as_role(
            pb::GetHistoryRequest {
                case_id: alert.case_id.clone(),
                ..Default::default()
            },
            "observer",
        ))
        .await
        .unwrap()
        .into_inner();
    let types: Vec<&str> = history
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        vec![
            "preventive.imminent_non_cooperation_alerted",
            "preventive.alert_sent_on_standing_channel"
        ]
    );
    let payload: serde_json::Value = serde_json::from_str(&history.events[1].payload_json).unwrap();
    assert_eq!(
        payload["body"]["recipients"][2],
        serde_json::json!({"role": "focal_point", "region": "asia_pacific"})
    );
    server.stop().await;
}

crate::util::on_both_backends!(
    partial_rules_change_only_the_named_fields,
    interpretative_resolutions_and_the_standing_channel
);
