//! What an operator watches (issue 11): the Prometheus endpoint of a real `aspflow serve`
//! process, scraped and parsed with a Prometheus text parser after a few commands, and
//! readiness (`grpc.health.v1`) following the database: NOT_SERVING while PostgreSQL refuses
//! connections, SERVING again when it is back.

use std::{sync::Arc, time::Duration};

use aspflow::{
    api::ServeOptions,
    pb::{self, event_log_client::EventLogClient, execute_request::Command as C},
    store::{AnyStore, PgStore},
};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use super::server::{Server, as_role, open_case};
use crate::{
    e2e::TestServer,
    util::{PgDatabase, postgres_url},
};

async fn execute(ch: Channel, case_id: &str, role: &str, command: C) -> Result<(), tonic::Status> {
    pb::cases_client::CasesClient::new(ch)
        .execute(as_role(
            pb::ExecuteRequest {
                case_id: case_id.to_owned(),
                request_id: format!("m-{}", uuid::Uuid::now_v7()),
                act: Some(pb::Act {
                    occurred_at: Some(prost_types::Timestamp {
                        seconds: 1_515_600_000, // 2018-01-10
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
                command: Some(command),
                ..Default::default()
            },
            role,
        ))
        .await
        .map(|_| ())
}

fn scrape(addr: &str) -> prometheus_parse::Scrape {
    let text = std::process::Command::new("curl")
        .args(["-sf", &format!("http://{addr}/metrics")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let text = if text.is_empty() {
        // No curl: a raw HTTP/1.0 request.
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nhost: metrics\r\n\r\n")
            .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        raw.split_once("\r\n\r\n").unwrap().1.to_owned()
    } else {
        text
    };
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).is_some_and(|x| x == *v))
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref h) => h.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_in_prometheus_format() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let server = Server::start_with_args(dir.path(), 2000, &["--metrics", &metrics]).await;
    let ch = server.channel().await;
    let case = open_case(ch.clone()).await;
    execute(
        ch.clone(),
        &case,
        "bureau",
        C::SeizeBureau(pb::SeizeBureau {
            meeting_no: "B/2018/1".into(),
            quorum_present: true,
        }),
    )
    .await
    .unwrap();
    // Refused by the domain: the Bureau is seized already.
    let refused = execute(
        ch.clone(),
        &case,
        "bureau",
        C::SeizeBureau(pb::SeizeBureau {
            meeting_no: "B/2018/2".into(),
            quorum_present: true,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    // A subscriber that stays open.
    let mut sub = EventLogClient::new(ch.clone())
        .subscribe(as_role(pb::SubscribeRequest::default(), "auditor"))
        .await
        .unwrap()
        .into_inner();
    sub.message().await.unwrap();

    // The observer refreshes its gauges every 2 s.
    let mut s = scrape(&metrics);
    for _ in 0..50 {
        if value(&s, "aspflow_log_head_position", &[]) == Some(2.0)
            && value(&s, "aspflow_open_streams", &[("kind", "subscribe")]) == Some(1.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        s = scrape(&metrics);
    }
    let ok = [("procedure", "formal"), ("outcome", "ok")];
    assert_eq!(
        value(
            &s,
            "aspflow_commands_total",
            &[&ok[..], &[("command", "open_formal_case")]].concat()
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "aspflow_commands_total",
            &[&ok[..], &[("command", "seize_bureau")]].concat()
        ),
        Some(1.0)
    );
    let rejected = [("command", "seize_bureau"), ("outcome", "rejected")];
    let code = s
        .samples
        .iter()
        .find(|x| {
            x.metric == "aspflow_commands_total"
                && rejected
                    .iter()
                    .all(|(k, v)| x.labels.get(k).is_some_and(|y| y == *v))
        })
        .and_then(|x| x.labels.get("code").map(str::to_owned))
        .expect("a rejected command is counted");
    assert!(!code.is_empty(), "the rejection code is a label");
    assert_eq!(
        value(
            &s,
            "aspflow_execute_duration_seconds_count",
            &[("rpc", "Execute")]
        )
        .or_else(|| value(
            &s,
            "aspflow_execute_duration_seconds",
            &[("rpc", "Execute")]
        )),
        Some(2.0)
    );
    assert_eq!(value(&s, "aspflow_log_head_position", &[]), Some(2.0));
    assert_eq!(value(&s, "aspflow_database_up", &[]), Some(1.0));
    assert_eq!(
        value(&s, "aspflow_open_streams", &[("kind", "subscribe")]),
        Some(1.0)
    );
    assert!(value(&s, "aspflow_subscription_lag_max_events", &[]).is_some());
    assert_eq!(value(&s, "aspflow_deadlines_due", &[]), Some(0.0));
    assert!(
        value(&s, "aspflow_commit_batch_size_count", &[])
            .or_else(|| value(&s, "aspflow_commit_batch_size", &[]))
            .is_some_and(|n| n >= 2.0)
    );
    assert!(value(&s, "aspflow_build_info", &[("backend", "sqlite")]).is_some());
    assert!(value(&s, "aspflow_case_cache_hits_total", &[]).is_some());
    drop(sub);
    // Its log goes to a file: no terminal colour codes in it.
    assert!(!server.log().contains('\x1b'), "{}", server.log());
}

/// `--log-format json`: one JSON object a line; a write's line carries the call's span (who,
/// in which role, which command, request id, case), and never the act's content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_call_and_no_payload() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_args(
        dir.path(),
        2000,
        &["--log-format", "json", "--log", "info,aspflow::api=debug"],
    )
    .await;
    let ch = server.channel().await;
    let case = open_case(ch.clone()).await;
    let secret = "note-that-must-not-reach-the-log";
    let mut request = as_role(
        pb::ExecuteRequest {
            case_id: case.clone(),
            request_id: "json-log-1".into(),
            act: Some(pb::Act {
                occurred_at: Some(prost_types::Timestamp {
                    seconds: 1_515_600_000,
                    nanos: 0,
                }),
                confidentiality: "confidential".into(),
                note: secret.into(),
                ..Default::default()
            }),
            command: Some(C::SeizeBureau(pb::SeizeBureau {
                meeting_no: "B/2018/1".into(),
                quorum_present: true,
            })),
            ..Default::default()
        },
        "bureau",
    );
    request
        .metadata_mut()
        .insert(aspflow::api::auth::SUBJECT, "ms-bureau".parse().unwrap());
    pb::cases_client::CasesClient::new(ch)
        .execute(request)
        .await
        .unwrap();
    let mut log = String::new();
    for _ in 0..50 {
        log = server.log();
        if log.contains("seize_bureau") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let write = lines
        .iter()
        .find(|l| l["fields"]["message"] == "write" && l["span"]["command"] == "seize_bureau")
        .unwrap_or_else(|| panic!("no write line: {log}"));
    assert_eq!(write["span"]["subject"], "ms-bureau");
    assert_eq!(write["span"]["role"], "bureau");
    assert_eq!(write["span"]["request_id"], "json-log-1");
    assert_eq!(write["span"]["case"], case.as_str());
    assert_eq!(write["span"]["rpc"], "/aspflow.v1.Cases/Execute");
    assert_eq!(write["fields"]["outcome"], "ok");
    assert!(!log.contains(secret), "a payload reached the log: {log}");
}

async fn status(ch: Channel, service: &str) -> Option<ServingStatus> {
    HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()
        .and_then(|r| ServingStatus::try_from(r.into_inner().status).ok())
}

async fn wait_for(ch: &Channel, want: ServingStatus) -> bool {
    for _ in 0..200 {
        if status(ch.clone(), "aspflow.v1.Cases").await == Some(want)
            && status(ch.clone(), "").await == Some(want)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(aspflow_pg), ignore = "PostgreSQL: set DATABASE_URL to run")]
async fn readiness_follows_the_database() {
    let Some(url) = postgres_url() else { return };
    let db = PgDatabase::create(&url).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(db.options.clone())
        .await
        .unwrap();
    let clock = Arc::new(aspflow::clock::ManualClock::new(crate::util::t0()));
    let store = AnyStore::Postgres(PgStore::from_pool(pool, clock.clone()).await.unwrap());
    let options = ServeOptions {
        scheduler_tick: None,
        observe_every: Duration::from_millis(100),
        ..ServeOptions::default()
    };
    let server = TestServer::start_opts(store, clock, options).await;
    let ch = server.channel().await;
    assert!(wait_for(&ch, ServingStatus::Serving).await);

    // The database refuses every connection, and the open ones are closed.
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let run = |sql: String| {
        let admin = admin.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&admin)
                .await
                .unwrap();
        }
    };
    run(format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
        db.name
    ))
    .await;
    run(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
        db.name
    ))
    .await;
    assert!(
        wait_for(&ch, ServingStatus::NotServing).await,
        "readiness did not turn NOT_SERVING while the database refused connections"
    );
    // Calls meanwhile are UNAVAILABLE, the code a client retries.
    let e = pb::server_client::ServerClient::new(ch.clone())
        .get_server_info(as_role(pb::GetServerInfoRequest {}, "observer"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");

    run(format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
        db.name
    ))
    .await;
    assert!(
        wait_for(&ch, ServingStatus::Serving).await,
        "readiness did not come back when the database did"
    );
    server.stop().await;
    admin.close().await;
}
