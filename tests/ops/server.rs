//! A real `aspflow serve` process for the shutdown and backup tests, and the gRPC calls they
//! make: open a case, record consultation requests, and open streams that are never read.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use aspflow::pb::{self, cases_client::CasesClient, event_log_client::EventLogClient};
use tonic::{
    Request,
    transport::{Channel, Endpoint},
};

/// `aspflow serve` on a free loopback port, in `dir` (embedded SQLite `aspflow.db` unless
/// `--db` is given), its log in `dir/server.log`. Killed on drop if still running.
pub struct Server {
    pub child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    pub async fn start(dir: &Path, grace_ms: u64) -> Self {
        Self::start_with_args(dir, grace_ms, &[]).await
    }

    /// The same, with more `serve` arguments (e.g. `--auth-hs256-secret-file F`; the
    /// start-up probe accepts UNAUTHENTICATED as "up").
    pub async fn start_with_args(dir: &Path, grace_ms: u64, extra: &[&str]) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let listen = format!("127.0.0.1:{port}");
        let log = dir.join("server.log");
        // The scheduler is off unless `extra` sets it.
        let scheduler: &[&str] = if extra.contains(&"--scheduler-tick-ms") {
            &[]
        } else {
            &["--scheduler-tick-ms", "0"]
        };
        let child = Command::new(env!("CARGO_BIN_EXE_aspflow"))
            .args([
                "serve",
                "--listen",
                &listen,
                "--shutdown-grace-ms",
                &grace_ms.to_string(),
            ])
            .args(scheduler)
            .args(extra)
            .current_dir(dir)
            .env_remove("ASPFLOW_DB")
            .env_remove("ASPFLOW_SIGNING_KEY")
            .env_remove("ASPFLOW_SHUTDOWN_GRACE_MS")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            url: format!("http://{listen}"),
            log,
        };
        for _ in 0..200 {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited at start ({status}): {}", server.log());
            }
            if let Ok(ch) = Endpoint::from_shared(server.url.clone())
                .unwrap()
                .connect()
                .await
                && pb::server_client::ServerClient::new(ch)
                    .get_server_info(pb::GetServerInfoRequest {})
                    .await
                    .map_or_else(|s| s.code() == tonic::Code::Unauthenticated, |_| true)
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not come up: {}", server.log());
    }

    /// `host:port`, as other-language clients take it.
    pub fn address(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A connection whose client reads almost nothing before its flow-control windows are
    /// full: a stream on it that is never read soon blocks the server's sender.
    pub async fn stalled_channel(&self) -> Channel {
        Endpoint::from_shared(self.url.clone())
            .unwrap()
            .initial_stream_window_size(1024)
            .initial_connection_window_size(1024)
            .connect()
            .await
            .unwrap()
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// The exit status, if the process exits within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A request in development mode, acting in `role`.
pub fn as_role<T>(msg: T, role: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert(aspflow::api::auth::ROLE, role.parse().unwrap());
    r
}

/// Opens a formal case over gRPC; returns its id.
pub async fn open_case(ch: Channel) -> String {
    open_case_on(ch, "ICC-02/05-01/09-309").await
}

/// Opens a formal case on the Court decision `decision_symbol` (one case per decision).
pub async fn open_case_on(ch: Channel, decision_symbol: &str) -> String {
    let request = pb::OpenFormalCaseRequest {
        request_id: format!("open-{}", uuid::Uuid::now_v7()),
        act: Some(pb::Act {
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_513_080_000,
                nanos: 0,
            }),
            ..Default::default()
        }),
        facts: Some(pb::CaseFacts {
            requested_state: Some(pb::RequestedState {
                iso_code: "JO".into(),
                name: "Jordan".into(),
                status: "state_party".into(),
                region: "asia_pacific".into(),
            }),
            person_sought: Some(pb::PersonSought {
                name: "Omar Hassan Ahmad Al Bashir".into(),
                case_number: "ICC-02/05-01/09".into(),
                warrant_dates: vec![],
            }),
            situation: Some(pb::Situation {
                name: "Darfur, Sudan".into(),
                trigger_mechanism: "unsc_referral".into(),
                unsc_resolution: String::new(),
            }),
            request: Some(pb::CooperationRequest {
                kind: "arrest_and_surrender".into(),
                transmitted_on: "2009-03-06".into(),
                outstanding: true,
            }),
        }),
        referral: Some(pb::Referral {
            legal_basis: "art_87_7".into(),
            chamber: "Pre-Trial Chamber II".into(),
            decision_symbol: decision_symbol.into(),
            decision_date: "2017-12-11".into(),
            transmitted_on: "2017-12-12".into(),
            targets: vec!["asp".into()],
            ..Default::default()
        }),
        rules: None,
        previous_case_id: String::new(),
    };
    let r = CasesClient::new(ch)
        .open_formal_case(as_role(request, "court_liaison"))
        .await
        .unwrap()
        .into_inner();
    r.case.unwrap().case_id
}

/// Records one consultation request on `case`; returns the number of events recorded.
pub async fn consult(c: &mut CasesClient<Channel>, case: &str, k: u64) -> u64 {
    let request = consultation(case, &format!("consult-{k}-{}", uuid::Uuid::now_v7()), k);
    let r = c
        .execute(as_role(request, "court_liaison"))
        .await
        .unwrap()
        .into_inner();
    r.recorded.len() as u64
}

/// The `k`-th consultation request on `case` (a command that may repeat on one case).
pub fn consultation(case: &str, request_id: &str, k: u64) -> pb::ExecuteRequest {
    pb::ExecuteRequest {
        case_id: case.to_owned(),
        expected_version: None,
        request_id: request_id.to_owned(),
        act: Some(pb::Act {
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_515_000_000,
                nanos: 0,
            }),
            ..Default::default()
        }),
        command: Some(pb::execute_request::Command::RecordConsultationRequested(
            pb::RecordConsultationRequested {
                reference: format!("c-{k}"),
                problems: vec!["other".into()],
            },
        )),
        reply: 0,
    }
}

/// Opens an `EventLog.Subscribe` and a `Cases.WatchCase` on a connection that never reads
/// them, then records `n` events on `case` over another connection so that their buffers
/// fill. Returns the streams (to keep them open) and the events recorded.
pub async fn stall_streams(
    server: &Server,
    case: &str,
    n: u64,
) -> (
    tonic::Streaming<pb::SubscribeResponse>,
    tonic::Streaming<pb::RecordedEvent>,
    u64,
) {
    let stalled = server.stalled_channel().await;
    let subscription = EventLogClient::new(stalled.clone())
        .subscribe(as_role(
            pb::SubscribeRequest {
                from_position: 1,
                ..Default::default()
            },
            "auditor",
        ))
        .await
        .unwrap()
        .into_inner();
    let watch = CasesClient::new(stalled)
        .watch_case(as_role(
            pb::WatchCaseRequest {
                case_id: case.to_owned(),
                from_version: 1,
            },
            "auditor",
        ))
        .await
        .unwrap()
        .into_inner();
    let mut client = CasesClient::new(server.channel().await);
    let mut recorded = 0;
    for k in 0..n {
        recorded += consult(&mut client, case, k).await;
    }
    (subscription, watch, recorded)
}
