//! Issue 9 (identity, access and confidentiality), over real gRPC with verified bearer tokens:
//! the whole role x RPC and role x command matrix from the one access table, focal points'
//! regions from the roster, confidential acts withheld, the verified actor recorded, and the
//! per-caller limits. Runs on SQLite (the access rules do not depend on the backend; the store
//! suites cover both backends).

use std::{sync::Arc, time::Duration};

use aspflow::{
    api::{
        ServeOptions, access,
        token::{self, Claims, KeySource, MintKey, Verifier},
    },
    domain::{Role, permissions::allowed_roles},
    pb::{
        self, audit_client::AuditClient, cases_client::CasesClient,
        event_log_client::EventLogClient, execute_request::Command as C,
        roster_client::RosterClient, server_client::ServerClient, subscribe_response::Message,
    },
};
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::{Code, Request, Status, transport::Channel};

use crate::{
    e2e::{TestServer, act, facts, open_jordan, reason},
    util::TestStore,
};

const SECRET: &[u8] = b"an-hs256-secret-of-at-least-32-bytes!!";

const PEOPLE: [Role; 7] = Role::PEOPLE;

fn now() -> u64 {
    std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn mint(sub: &str, roles: &[Role], exp: u64) -> String {
    token::mint(
        &MintKey::Hs256(SECRET.to_vec()),
        None,
        &Claims {
            sub: sub.into(),
            name: Some(format!("Test {sub}")),
            role: None,
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            exp,
            nbf: None,
            iat: Some(now()),
            iss: Some("aspflow-tests".into()),
            aud: Some("aspflow".into()),
        },
    )
    .unwrap()
}

fn token_for(role: Role) -> String {
    mint(&format!("u-{}", role.as_str()), &[role], now() + 3600)
}

fn bearer<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

async fn start(s: &TestStore) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let verifier = Verifier::load(
        &KeySource::Hs256SecretFile(secret),
        Some("aspflow-tests".into()),
        Some("aspflow".into()),
    )
    .unwrap();
    let options = ServeOptions {
        scheduler_tick: None,
        signing_key: Some(Arc::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]))),
        verifier: Some(Arc::new(verifier)),
        ..ServeOptions::default()
    };
    let server = TestServer::start_opts(s.store.clone(), s.clock.clone(), options).await;
    (server, dir)
}

fn fp(state: &str, region: &str, subjects: &[&str]) -> pb::FocalPoint {
    pb::FocalPoint {
        state: state.into(),
        name: state.into(),
        region: region.into(),
        subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The Bureau appoints the 2025-2027 focal points; `fp-ap` acts for Vanuatu (Asia-Pacific),
/// `fp-af` for Sierra Leone (African).
async fn appoint(ch: &Channel) {
    let bureau = token_for(Role::Bureau);
    RosterClient::new(ch.clone())
        .appoint_focal_points(bearer(
            pb::AppointFocalPointsRequest {
                request_id: "appoint".into(),
                act: act(2025, 3, 6),
                term: "2025-2027".into(),
                president_region: "western_european_other".into(),
                members: vec![
                    fp("MX", "latin_american_caribbean", &["fp-lac"]),
                    fp("SL", "african", &["fp-af"]),
                    fp("VU", "asia_pacific", &["fp-ap"]),
                    fp("LT", "eastern_european", &["fp-ee"]),
                ],
            },
            &bureau,
        ))
        .await
        .unwrap();
}

fn preventive_jordan(rid: &str) -> pb::OpenPreventiveCaseRequest {
    pb::OpenPreventiveCaseRequest {
        request_id: rid.into(),
        act: act(2017, 3, 20),
        facts: facts("JO", "Jordan", "asia_pacific"),
        alert: Some(pb::Alert {
            source_type: "focal_point".into(),
            expected_arrival: "2017-03-29".into(),
            expected_departure: "2017-03-30".into(),
            event_name: "Arab League summit, Dead Sea".into(),
            confidence: "announced".into(),
        }),
        rules: None,
    }
}

/// Calls `rpc` with a minimal request; the outcome's code is what the matrix checks.
async fn call(ch: &Channel, rpc: &str, t: &str, case: &str) -> Result<(), Status> {
    let mut cases = CasesClient::new(ch.clone());
    let mut audit = AuditClient::new(ch.clone());
    let mut roster = RosterClient::new(ch.clone());
    let id = case.to_owned();
    match rpc {
        "/aspflow.v1.Cases/OpenFormalCase" => cases
            .open_formal_case(bearer(open_jordan(&format!("m-{t}")), t))
            .await
            .map(drop),
        "/aspflow.v1.Cases/OpenPreventiveCase" => cases
            .open_preventive_case(bearer(preventive_jordan(&format!("m-{t}")), t))
            .await
            .map(drop),
        "/aspflow.v1.Cases/Execute" => cases
            .execute(bearer(pb::ExecuteRequest::default(), t))
            .await
            .map(drop),
        "/aspflow.v1.Cases/GetCase" => cases
            .get_case(bearer(
                pb::GetCaseRequest {
                    case_id: id,
                    ..Default::default()
                },
                t,
            ))
            .await
            .map(drop),
        "/aspflow.v1.Cases/ListCases" => cases
            .list_cases(bearer(pb::ListCasesRequest::default(), t))
            .await
            .map(drop),
        "/aspflow.v1.Cases/GetHistory" => cases
            .get_history(bearer(
                pb::GetHistoryRequest {
                    case_id: id,
                    ..Default::default()
                },
                t,
            ))
            .await
            .map(drop),
        "/aspflow.v1.Cases/WatchCase" => cases
            .watch_case(bearer(
                pb::WatchCaseRequest {
                    case_id: id,
                    from_version: 1,
                },
                t,
            ))
            .await
            .map(drop),
        "/aspflow.v1.Cases/AvailableActions" => cases
            .available_actions(bearer(pb::AvailableActionsRequest { case_id: id }, t))
            .await
            .map(drop),
        "/aspflow.v1.EventLog/Subscribe" => EventLogClient::new(ch.clone())
            .subscribe(bearer(pb::SubscribeRequest::default(), t))
            .await
            .map(drop),
        "/aspflow.v1.Roster/RequestFifthFocalPoint" => roster
            .request_fifth_focal_point(bearer(pb::RequestFifthFocalPointRequest::default(), t))
            .await
            .map(drop),
        "/aspflow.v1.Roster/AppointFocalPoints" => roster
            .appoint_focal_points(bearer(pb::AppointFocalPointsRequest::default(), t))
            .await
            .map(drop),
        "/aspflow.v1.Roster/ReplaceFocalPoint" => roster
            .replace_focal_point(bearer(pb::ReplaceFocalPointRequest::default(), t))
            .await
            .map(drop),
        "/aspflow.v1.Cases/ProposeInterpretativeResolution" => cases
            .propose_interpretative_resolution(bearer(
                pb::ProposeInterpretativeResolutionRequest::default(),
                t,
            ))
            .await
            .map(drop),
        "/aspflow.v1.Roster/AdoptProcedureRules" => roster
            .adopt_procedure_rules(bearer(pb::AdoptProcedureRulesRequest::default(), t))
            .await
            .map(drop),
        "/aspflow.v1.Roster/GetRulesInForce" => roster
            .get_rules_in_force(bearer(pb::GetRulesInForceRequest {}, t))
            .await
            .map(drop),
        "/aspflow.v1.Roster/GetRoster" => roster
            .get_roster(bearer(
                pb::GetRosterRequest {
                    term: "2025-2027".into(),
                },
                t,
            ))
            .await
            .map(drop),
        "/aspflow.v1.Audit/GetCheckpoint" => audit
            .get_checkpoint(bearer(pb::GetCheckpointRequest {}, t))
            .await
            .map(drop),
        "/aspflow.v1.Audit/GetPublicKey" => audit
            .get_public_key(bearer(pb::GetPublicKeyRequest {}, t))
            .await
            .map(drop),
        "/aspflow.v1.Audit/VerifyCase" => audit
            .verify_case(bearer(pb::VerifyCaseRequest { case_id: id }, t))
            .await
            .map(drop),
        "/aspflow.v1.Audit/VerifyLog" => audit
            .verify_log(bearer(pb::VerifyLogRequest {}, t))
            .await
            .map(drop),
        "/aspflow.v1.Audit/ExportCase" => audit
            .export_case(bearer(pb::ExportCaseRequest { case_id: id }, t))
            .await
            .map(drop),
        "/aspflow.v1.Audit/ListCheckpoints" => audit
            .list_checkpoints(bearer(pb::ListCheckpointsRequest::default(), t))
            .await
            .map(drop),
        "/aspflow.v1.Server/GetServerInfo" => ServerClient::new(ch.clone())
            .get_server_info(bearer(pb::GetServerInfoRequest {}, t))
            .await
            .map(drop),
        other => panic!("the access matrix test has no call for {other}: add one"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r9_every_role_and_rpc_as_the_access_table_says() {
    let s = TestStore::sqlite().await;
    let (server, _dir) = start(&s).await;
    let ch = server.channel().await;
    appoint(&ch).await;
    let case = CasesClient::new(ch.clone())
        .open_formal_case(bearer(
            open_jordan("matrix-case"),
            &token_for(Role::CourtLiaison),
        ))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .case_id;
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    let mut cells = 0;
    for service in pool.services() {
        for method in service.methods() {
            let rpc = format!("/{}/{}", service.full_name(), method.name());
            let allowed = access::allowed(&rpc).expect("every RPC has a row");
            for role in PEOPLE {
                let t = token_for(role);
                let got = call(&ch, &rpc, &t, &case).await;
                let denied = matches!(&got, Err(e) if e.code() == Code::PermissionDenied
                    && reason(e) == "RpcNotPermitted");
                assert_eq!(
                    denied,
                    !allowed.contains(&role),
                    "{rpc} as {}: {got:?}",
                    role.as_str()
                );
                cells += 1;
            }
        }
    }
    assert!(cells >= 7 * access::RPCS.len());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r9_every_role_and_command_as_the_domain_says() {
    let s = TestStore::sqlite().await;
    let (server, _dir) = start(&s).await;
    let ch = server.channel().await;
    let case = CasesClient::new(ch.clone())
        .open_formal_case(bearer(
            open_jordan("cmd-case"),
            &token_for(Role::CourtLiaison),
        ))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .case_id;
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    let desc = pool
        .get_message_by_name("aspflow.v1.ExecuteRequest")
        .unwrap();
    let oneof = desc.oneofs().find(|o| o.name() == "command").unwrap();
    let mut c = CasesClient::new(ch.clone());
    for field in oneof.fields() {
        // An ExecuteRequest carrying this command with empty fields.
        let mut msg = DynamicMessage::new(desc.clone());
        msg.set_field_by_name("case_id", prost_reflect::Value::String(case.clone()));
        msg.set_field_by_name("request_id", prost_reflect::Value::String("r".into()));
        let inner = DynamicMessage::new(field.kind().as_message().unwrap().clone());
        msg.set_field(&field, prost_reflect::Value::Message(inner));
        let req: pb::ExecuteRequest =
            prost::Message::decode(prost::Message::encode_to_vec(&msg).as_slice()).unwrap();
        let kind = access::command_of(&req)
            .unwrap_or_else(|| panic!("the command field {} is no domain command", field.name()));
        for role in PEOPLE {
            let got = c.execute(bearer(req.clone(), &token_for(role))).await;
            let denied = matches!(&got, Err(e) if e.code() == Code::PermissionDenied);
            assert_eq!(
                denied,
                !allowed_roles(kind).contains(&role),
                "{} as {}: {got:?}",
                field.name(),
                role.as_str()
            );
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r9_tokens_are_checked() {
    let s = TestStore::sqlite().await;
    let (server, _dir) = start(&s).await;
    let ch = server.channel().await;
    let mut c = CasesClient::new(ch.clone());
    let list = || pb::ListCasesRequest::default();
    // No token, a malformed one, a forged one, an expired one.
    let e = c.list_cases(Request::new(list())).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = c.list_cases(bearer(list(), "not-a-jwt")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let forged = token::mint(
        &MintKey::Hs256(b"another-secret-another-secret-another".to_vec()),
        None,
        &Claims {
            sub: "mallory".into(),
            name: None,
            role: Some("president".into()),
            roles: vec![],
            exp: now() + 3600,
            nbf: None,
            iat: None,
            iss: Some("aspflow-tests".into()),
            aud: Some("aspflow".into()),
        },
    )
    .unwrap();
    let e = c.list_cases(bearer(list(), &forged)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let expired = mint("old", &[Role::Observer], now() - 3600);
    let e = c.list_cases(bearer(list(), &expired)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("xpired"), "{}", e.message());
    // A role the token does not grant; several roles without a choice.
    let mut r = bearer(list(), &token_for(Role::Observer));
    r.metadata_mut()
        .insert("x-aspflow-role", "president".parse().unwrap());
    let e = c.list_cases(r).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(reason(&e), "RoleNotGranted");
    let both = mint("two-hats", &[Role::Bureau, Role::Secretariat], now() + 3600);
    let e = c.list_cases(bearer(list(), &both)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let mut r = bearer(list(), &both);
    r.metadata_mut()
        .insert("x-aspflow-role", "secretariat".parse().unwrap());
    c.list_cases(r).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r9_the_recorded_actor_is_the_verified_subject() {
    let s = TestStore::sqlite().await;
    let (server, _dir) = start(&s).await;
    let ch = server.channel().await;
    let mut r = bearer(
        open_jordan("actor-1"),
        &mint("alice", &[Role::CourtLiaison], now() + 60),
    );
    // Metadata that development mode would believe is ignored with tokens.
    r.metadata_mut()
        .insert("x-aspflow-subject", "mallory".parse().unwrap());
    let o = CasesClient::new(ch.clone())
        .open_formal_case(r)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(o.recorded[0].actor, "alice");
    assert_eq!(o.recorded[0].role, "court_liaison");
    server.stop().await;
}

async fn open_preventive(ch: &Channel, t: &str, rid: &str) -> Result<String, Status> {
    CasesClient::new(ch.clone())
        .open_preventive_case(bearer(preventive_jordan(rid), t))
        .await
        .map(|o| o.into_inner().case.unwrap().case_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r9_focal_points_are_who_the_roster_says() {
    let s = TestStore::sqlite().await;
    let (server, _dir) = start(&s).await;
    let ch = server.channel().await;
    appoint(&ch).await;
    let fp = |sub: &str| mint(sub, &[Role::FocalPoint], now() + 600);
    // The Asia-Pacific focal point acts for Jordan; the African one and a stranger may not.
    open_preventive(&ch, &fp("fp-ap"), "fp-1").await.unwrap();
    for who in ["fp-af", "nobody"] {
        let e = open_preventive(&ch, &fp(who), &format!("fp-{who}"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{who}");
        assert_eq!(reason(&e), "FocalPointRegionMismatch", "{who}");
    }
    // The Bureau replaces Vanuatu: fp-ap's appointment ends.
    RosterClient::new(ch.clone())
        .replace_focal_point(bearer(
            pb::ReplaceFocalPointRequest {
                request_id: "replace".into(),
                act: act(2026, 1, 15),
                term: "2025-2027".into(),
                replaced: "VU".into(),
                replacement: Some(fp_member("JP", "asia_pacific", &["fp-jp"])),
            },
            &token_for(Role::Bureau),
        ))
        .await
        .unwrap();
    let e = open_preventive(&ch, &fp("fp-ap"), "fp-2")
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "FocalPointRegionMismatch");
    let case = open_preventive(&ch, &fp("fp-jp"), "fp-3").await.unwrap();
    // The President's own region is the roster's (Western European and Other): a démarche as
    // focal point for Jordan (Asia-Pacific) is outside it; the region's focal point may.
    let president = token_for(Role::President);
    let mut c = CasesClient::new(ch.clone());
    for (rid, cmd) in [
        (
            "p-1",
            C::AssessSituation(pb::AssessSituation {
                specific: true,
                serious: true,
                imminent: true,
                ongoing: false,
                consulted_focal_points: vec![],
            }),
        ),
        ("p-2", C::InitiateGoodOffices(pb::InitiateGoodOffices {})),
    ] {
        c.execute(bearer(
            pb::ExecuteRequest {
                case_id: case.clone(),
                expected_version: None,
                request_id: rid.into(),
                act: act(2017, 3, 21),
                command: Some(cmd),
                reply: 0,
            },
            &president,
        ))
        .await
        .unwrap();
    }
    let demarche = |t: &str, rid: &str| {
        bearer(
            pb::ExecuteRequest {
                case_id: case.clone(),
                expected_version: None,
                request_id: rid.into(),
                act: act(2017, 3, 22),
                command: Some(C::MakeFocalPointDemarche(pb::MakeFocalPointDemarche {
                    focal_point_state: "JP".into(),
                    level: "capital".into(),
                })),
                reply: 0,
            },
            t,
        )
    };
    let e = c.execute(demarche(&president, "p-3")).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(reason(&e), "FocalPointRegionMismatch");
    c.execute(demarche(&fp("fp-jp"), "p-4")).await.unwrap();
    server.stop().await;
}

fn fp_member(state: &str, region: &str, subjects: &[&str]) -> pb::FocalPoint {
    fp(state, region, subjects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r9_confidential_acts_reach_only_those_who_need_to_know() {
    let s = TestStore::sqlite().await;
    let (server, _dir) = start(&s).await;
    let ch = server.channel().await;
    appoint(&ch).await;
    let court = token_for(Role::CourtLiaison);
    let case = CasesClient::new(ch.clone())
        .open_formal_case(bearer(open_jordan("conf-open"), &court))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .case_id;
    // Streams opened before the confidential act.
    let observer = token_for(Role::Observer);
    let other_fp = mint("fp-af", &[Role::FocalPoint], now() + 600);
    let own_fp = mint("fp-ap", &[Role::FocalPoint], now() + 600);
    let mut watch_observer = CasesClient::new(ch.clone())
        .watch_case(bearer(
            pb::WatchCaseRequest {
                case_id: case.clone(),
                from_version: 1,
            },
            &observer,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut sub_other = EventLogClient::new(ch.clone())
        .subscribe(bearer(pb::SubscribeRequest::default(), &other_fp))
        .await
        .unwrap()
        .into_inner();
    const SECRET_TEXT: &str = "ICC-CONFIDENTIAL-ART97-NOTE";
    let mut a = act(2018, 1, 5).unwrap();
    a.confidentiality = "confidential".into();
    a.note = SECRET_TEXT.into();
    CasesClient::new(ch.clone())
        .execute(bearer(
            pb::ExecuteRequest {
                case_id: case.clone(),
                expected_version: None,
                request_id: "conf-1".into(),
                act: Some(a),
                command: Some(C::RecordConsultationRequested(
                    pb::RecordConsultationRequested {
                        reference: SECRET_TEXT.into(),
                        problems: vec!["other".into()],
                    },
                )),
                reply: 0,
            },
            &court,
        ))
        .await
        .unwrap();
    let leaks = |text: &str| text.contains(SECRET_TEXT);
    for (who, t, sees) in [
        ("observer", &observer, false),
        ("fp of another region", &other_fp, false),
        ("fp of the region", &own_fp, true),
        ("secretariat", &token_for(Role::Secretariat), true),
    ] {
        let mut c = CasesClient::new(ch.clone());
        let h = c
            .get_history(bearer(
                pb::GetHistoryRequest {
                    case_id: case.clone(),
                    ..Default::default()
                },
                t,
            ))
            .await
            .unwrap()
            .into_inner();
        let last = h.events.last().unwrap();
        assert_eq!(last.redacted, !sees, "{who}");
        assert_eq!(leaks(&last.payload_json), sees, "{who}");
        assert!(!last.hash.is_empty() && !last.prev_hash.is_empty(), "{who}");
        let v = c
            .get_case(bearer(
                pb::GetCaseRequest {
                    case_id: case.clone(),
                    ..Default::default()
                },
                t,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(leaks(&v.state_json), sees, "{who}: {}", v.state_json);
        let actions = c
            .available_actions(bearer(
                pb::AvailableActionsRequest {
                    case_id: case.clone(),
                },
                t,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(actions.actions.iter().all(|a| !leaks(&a.reason)), "{who}");
    }
    // Streams: the watcher and the other region's subscriber get the event redacted.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let e = tokio::time::timeout(Duration::from_secs(10), watch_observer.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(e);
    }
    assert!(seen[1].redacted && !leaks(&seen[1].payload_json));
    let mut got = None;
    while got.is_none() {
        let m = tokio::time::timeout(Duration::from_secs(10), sub_other.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(Message::Event(e)) = m.message
            && e.event_type.ends_with("consultation_requested")
        {
            got = Some(e);
        }
    }
    let e = got.unwrap();
    assert!(e.redacted && !leaks(&e.payload_json));
    // Exports are for those with need to know only.
    let err = AuditClient::new(ch.clone())
        .export_case(bearer(pb::ExportCaseRequest { case_id: case }, &observer))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r9_limits_per_caller() {
    let s = TestStore::sqlite().await;
    let (server, _dir) = start(&s).await;
    let ch = server.channel().await;
    let t = token_for(Role::Observer);
    let mut held = Vec::new();
    for _ in 0..aspflow::api::auth::MAX_STREAMS_PER_CALLER {
        held.push(
            EventLogClient::new(ch.clone())
                .subscribe(bearer(pb::SubscribeRequest::default(), &t))
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let e = EventLogClient::new(ch.clone())
        .subscribe(bearer(pb::SubscribeRequest::default(), &t))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    // Another caller is not affected; a closed stream gives its slot back.
    EventLogClient::new(ch.clone())
        .subscribe(bearer(
            pb::SubscribeRequest::default(),
            &token_for(Role::Bureau),
        ))
        .await
        .unwrap();
    drop(held.pop());
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if EventLogClient::new(ch.clone())
            .subscribe(bearer(pb::SubscribeRequest::default(), &t))
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "a closed stream gives its slot back");
    // Whole-log scans: a burst, then RESOURCE_EXHAUSTED with a retry hint.
    let auditor = token_for(Role::Auditor);
    let mut a = AuditClient::new(ch.clone());
    let mut refused = None;
    for _ in 0..10 {
        if let Err(e) = a
            .verify_log(bearer(pb::VerifyLogRequest {}, &auditor))
            .await
        {
            refused = Some(e);
            break;
        }
    }
    let e = refused.expect("the scan allowance runs out");
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("retry in"), "{}", e.message());
    // Pages: GetHistory never returns more than 1000 events at once.
    let e = CasesClient::new(ch.clone())
        .get_history(bearer(
            pb::GetHistoryRequest {
                case_id: "NC-2017-0001".into(),
                from_version: 1,
                limit: 5000,
            },
            &t,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    server.stop().await;
}
