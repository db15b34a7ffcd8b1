//! The `aspflow` binary as a user runs it: migrate, audit verify and its exit codes.

use std::process::Command;

use aspflow::{
    clock::SystemClock,
    store::{EventStore, ExpectedVersion, SqliteStore},
};

use crate::util::{new_stream, write};

fn aspflow(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aspflow"))
        .args(args)
        .env_remove("ASPFLOW_DB")
        .output()
        .expect("run aspflow")
}

#[tokio::test]
async fn audit_verify_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let url = format!("sqlite://{}", path.display());

    let out = aspflow(&["migrate", "--db", &url]);
    assert!(out.status.success(), "{out:?}");

    let store = SqliteStore::open(&path, std::sync::Arc::new(SystemClock))
        .await
        .unwrap();
    let a = new_stream();
    store
        .append(write("v1", a, ExpectedVersion::NoStream, 0..3))
        .await
        .unwrap();

    let out = aspflow(&["audit", "verify", "--db", &url]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified: 3 events in 1 case(s)"));

    sqlx::query("DROP TRIGGER events_no_update")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE events SET actor = 'mallory' WHERE version = 2")
        .execute(store.pool())
        .await
        .unwrap();
    let out = aspflow(&["audit", "verify", "--db", &url]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("case {a} version 2")), "{stdout}");

    let out = aspflow(&["audit", "verify", "--db", &url, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["chains"]["first_break"]["kind"], "hash_mismatch");
    assert_eq!(report["chains"]["first_break"]["version"], 2);

    let out = aspflow(&["audit", "verify", "--db", "mysql://nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite://PATH or postgres://"));
}

#[test]
fn serve_refuses_a_public_address_without_auth() {
    let out = aspflow(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--db",
        "sqlite::memory-not-used",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"));
}

/// The CLI client as a new user runs it, against a real server process on the embedded
/// SQLite default: open a formal case from a JSON file, advance it, show it, list, history.
#[tokio::test]
async fn case_client_drives_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let server_url = format!("http://{listen}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_aspflow"))
        .args(["serve", "--listen", &listen, "--scheduler-tick-ms", "0"])
        .current_dir(dir.path())
        .env_remove("ASPFLOW_DB")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = |args: &[&str]| {
        let mut all = vec!["case", "--server", &server_url];
        all.extend_from_slice(args);
        aspflow(&all)
    };
    // Wait for the server.
    let mut up = false;
    for _ in 0..100 {
        if client(&["list"]).status.success() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(up, "the server did not come up");
    let file = dir.path().join("malawi.json");
    std::fs::write(
        &file,
        r#"{"act": {"occurred_at": "2011-12-13T10:00:00Z"},
            "facts": {"requested_state": {"iso_code": "MW", "name": "Malawi", "status": "state_party", "region": "african"},
                      "person_sought": {"name": "Omar Hassan Ahmad Al Bashir", "case_number": "ICC-02/05-01/09"},
                      "situation": {"name": "Darfur, Sudan", "trigger_mechanism": "unsc_referral"},
                      "request": {"kind": "arrest_and_surrender", "transmitted_on": "2009-03-06", "outstanding": true}},
            "referral": {"legal_basis": "art_87_7", "chamber": "Pre-Trial Chamber I", "decision_symbol": "ICC-02/05-01/09-139",
                         "decision_date": "2011-12-12", "transmitted_on": "2011-12-13", "targets": ["asp", "unsc"]}}"#,
    )
    .unwrap();
    let at_file = format!("@{}", file.display());
    let out = client(&["open-formal", &at_file, "--as", "court_liaison"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("NC-2011-0001"), "{stdout}");
    let out = client(&[
        "exec",
        "NC-2011-0001",
        "seize_bureau",
        r#"{"meeting_no": "B/2012/1"}"#,
        "--at",
        "2012-01-10",
        "--as",
        "bureau",
    ]);
    assert!(out.status.success(), "{out:?}");
    // A refusal is explained: code, rejection and its fields; exit code 2.
    let out = client(&[
        "exec",
        "NC-2011-0001",
        "seize_bureau",
        r#"{"meeting_no": "B/2012/2"}"#,
        "--at",
        "2012-01-11",
        "--as",
        "bureau",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(stderr.contains("NotAllowedInState"), "{stderr}");
    let out = client(&["show", "NC-2011-0001", "--json"]);
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["state"], "UnderBureauConsideration");
    assert_eq!(view["version"], 2);
    let out = client(&["list", "--region", "african"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("NC-2011-0001"));
    let out = client(&["history", "NC-2011-0001"]);
    let history = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        history.contains("formal.bureau_seized") && history.contains("2012-01-10"),
        "{history}"
    );
    let out = client(&["actions", "NC-2011-0001", "--as", "president"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("send_open_letter"));
    // Ctrl-C (SIGINT): the server finishes in-flight calls and exits cleanly.
    let killed = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = server.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let Some(status) = exited else {
        server.kill().unwrap();
        panic!("the server did not stop within 10 s of SIGINT");
    };
    assert!(status.success(), "{status}");
    // Everything acknowledged is still there.
    let url = format!("sqlite://{}", dir.path().join("aspflow.db").display());
    let out = aspflow(&["audit", "verify", "--db", &url]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("verified: 2 events"),
        "{out:?}"
    );
}

/// A server process on a free loopback port, in `dir` (embedded SQLite `aspflow.db`).
struct ServerProcess {
    child: std::process::Child,
    url: String,
}

impl ServerProcess {
    fn start(dir: &std::path::Path) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_aspflow"))
            .args(["serve", "--listen", &listen, "--scheduler-tick-ms", "0"])
            .current_dir(dir)
            .env_remove("ASPFLOW_DB")
            .env_remove("ASPFLOW_SIGNING_KEY")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://{listen}");
        for _ in 0..100 {
            if aspflow(&["case", "--server", &url, "list"])
                .status
                .success()
            {
                return ServerProcess { child, url };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not come up");
    }

    fn case(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["case", "--server", &self.url];
        all.extend_from_slice(args);
        aspflow(&all)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The auditor's tools end to end: a checkpoint fetched from the server, offline verification
/// against it, replay, explain, export and verify-export, and their exit codes when the
/// database is rewritten behind the server's back.
#[tokio::test]
async fn audit_tools_detect_a_rewritten_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let file = dir.path().join("chad.json");
    std::fs::write(
        &file,
        r#"{"act": {"occurred_at": "2011-12-13T10:00:00Z", "documents": [{"symbol": "ICC-02/05-01/09-140", "date": "2011-12-13"}]},
            "facts": {"requested_state": {"iso_code": "TD", "name": "Chad", "status": "state_party", "region": "african"},
                      "person_sought": {"name": "Omar Hassan Ahmad Al Bashir", "case_number": "ICC-02/05-01/09"},
                      "situation": {"name": "Darfur, Sudan", "trigger_mechanism": "unsc_referral"},
                      "request": {"kind": "arrest_and_surrender", "transmitted_on": "2009-03-06", "outstanding": true}},
            "referral": {"legal_basis": "art_87_7", "chamber": "Pre-Trial Chamber I", "decision_symbol": "ICC-02/05-01/09-140",
                         "decision_date": "2011-12-13", "transmitted_on": "2011-12-13", "targets": ["asp", "unsc"]}}"#,
    )
    .unwrap();
    let at_file = format!("@{}", file.display());
    assert!(
        server
            .case(&["open-formal", &at_file, "--as", "court_liaison"])
            .status
            .success()
    );
    for (cmd, body, at, role) in [
        (
            "seize_bureau",
            r#"{"meeting_no": "B/2012/1"}"#,
            "2012-01-10",
            "bureau",
        ),
        (
            "send_open_letter",
            r#"{"letter_ref": "L1", "signatory": "Tiina Intelmann", "addressee": "FM"}"#,
            "2012-01-12",
            "president",
        ),
    ] {
        let out = server.case(&["exec", "NC-2011-0001", cmd, body, "--at", at, "--as", role]);
        assert!(out.status.success(), "{out:?}");
    }
    let cp = dir.path().join("cp.json");
    let out = aspflow(&[
        "audit",
        "checkpoint",
        "--server",
        &server.url,
        "-o",
        cp.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    server.stop();

    let db = format!("sqlite://{}", dir.path().join("aspflow.db").display());
    let pubkey = dir.path().join("aspflow-signing.key.pub");
    let key = dir.path().join("aspflow-signing.key");
    let verify = || {
        aspflow(&[
            "audit",
            "verify",
            "--db",
            &db,
            "--checkpoint",
            cp.to_str().unwrap(),
            "--public-key",
            pubkey.to_str().unwrap(),
        ])
    };
    let out = verify();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("checkpoint holds: positions 1-3"));

    let out = aspflow(&[
        "audit",
        "replay",
        "NC-2011-0001",
        "--db",
        &db,
        "--as-of-version",
        "2",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("UnderBureauConsideration") && text.contains("send_open_letter (president)"),
        "{text}"
    );
    let out = aspflow(&["audit", "explain", "NC-2011-0001", "--db", &db]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("Rome Statute art. 87(7)"), "{text}");
    assert!(text.contains("ICC-02/05-01/09-140 (2011-12-13)"), "{text}");
    assert!(
        text.contains("Referred -> UnderBureauConsideration"),
        "{text}"
    );

    let export = dir.path().join("case.jsonl");
    let out = aspflow(&[
        "audit",
        "export",
        "NC-2011-0001",
        "--db",
        &db,
        "--signing-key",
        key.to_str().unwrap(),
        "-o",
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let verify_export = |f: &std::path::Path| {
        aspflow(&[
            "audit",
            "verify-export",
            f.to_str().unwrap(),
            "--public-key",
            pubkey.to_str().unwrap(),
        ])
    };
    assert_eq!(verify_export(&export).status.code(), Some(0));
    // Edit one line of the export: exit 1, naming the version.
    let text = std::fs::read_to_string(&export).unwrap();
    let edited = dir.path().join("edited.jsonl");
    std::fs::write(&edited, text.replacen("dev-bureau", "dev-mallory", 1)).unwrap();
    let out = verify_export(&edited);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("version 2"),
        "{out:?}"
    );
    assert_eq!(
        verify_export(&dir.path().join("missing.jsonl"))
            .status
            .code(),
        Some(2)
    );

    // Rewrite history in the database and recompute every hash after the change: the chains
    // verify, the checkpoint does not.
    let store = SqliteStore::open(
        &dir.path().join("aspflow.db"),
        std::sync::Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let case = aspflow::store::EventStore::read_all(&store, 1, 10)
        .await
        .unwrap();
    let mut events = case.clone();
    events[1].actor = "dev-mallory".into();
    for i in 1..events.len() {
        events[i].prev_hash = events[i - 1].hash;
        events[i].hash = aspflow::store::chain::event_hash(&events[i]);
    }
    let mut conn = store.pool().acquire().await.unwrap();
    sqlx::query("DROP TRIGGER events_no_update")
        .execute(&mut *conn)
        .await
        .unwrap();
    for e in &events[1..] {
        sqlx::query(
            "UPDATE events SET actor = $1, prev_hash = $2, hash = $3 WHERE global_position = $4",
        )
        .bind(&e.actor)
        .bind(e.prev_hash.0.as_slice())
        .bind(e.hash.0.as_slice())
        .bind(e.global_position as i64)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    drop(conn);
    let out = aspflow(&["audit", "verify", "--db", &db]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the chains alone cannot see it: {out:?}"
    );
    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("differs from the checkpoint at position 2"),
        "{text}"
    );
    // A checkpoint checked against another key: tampering (exit 1), not a crash.
    let other = dir.path().join("other.pub");
    std::fs::write(&other, hex::encode([3u8; 32])).unwrap();
    let out = aspflow(&[
        "audit",
        "verify",
        "--db",
        &db,
        "--checkpoint",
        cp.to_str().unwrap(),
        "--public-key",
        other.to_str().unwrap(),
    ]);
    assert_ne!(out.status.code(), Some(0));
}

/// The Bureau's rules and interpretative resolutions from the CLI: `case rules` shows the rules
/// in force and where they come from, `case adopt-rules` is the Bureau's act (others are
/// refused), and `case propose-resolution` then `exec ... adopt_interpretative_resolution` run
/// extension E5.
#[test]
fn the_bureaus_rules_and_resolutions_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let out = server.case(&["rules"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains("rules version 1: the built-in defaults"),
        "{out:?}"
    );
    assert!(
        text.contains("E5 interpretative resolutions     off"),
        "{text}"
    );
    let adopt = r#"{"term": "2023-2026", "president_region": "western_european_other",
        "decision_ref": "Bureau, 5th meeting, 2024",
        "rules": {"set_fields": ["e5_interpretative_resolutions"], "e5_interpretative_resolutions": true}}"#;
    let out = server.case(&["adopt-rules", adopt, "--as", "secretariat"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = server.case(&["adopt-rules", adopt, "--as", "bureau"]);
    assert!(out.status.success(), "{out:?}");
    let out = server.case(&["rules"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("rules version 2: adopted by the Bureau of 2023-2026")
            && text.contains("Bureau, 5th meeting, 2024")
            && text.contains("E5 interpretative resolutions     on"),
        "{text}"
    );
    let propose = r#"{"provision": "Rome Statute art. 27 and art. 98(1)",
        "issue": "immunity of a sitting Head of State", "text": "The States Parties understand ..."}"#;
    let out = server.case(&["propose-resolution", propose, "--as", "bureau"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{out:?}");
    let reference = text
        .split_whitespace()
        .find(|w| w.starts_with("IR-"))
        .unwrap_or_else(|| panic!("no IR- reference in {text}"))
        .trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .to_owned();
    let out = server.case(&[
        "exec",
        &reference,
        "adopt_interpretative_resolution",
        r#"{"resolution_symbol": "ICC-ASP/24/Res.7", "all_parties_agreed": false}"#,
        "--as",
        "secretariat",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = server.case(&["show", &reference, "--json"]);
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["state"], "Adopted", "{view}");
    server.stop();
}

/// `aspflow bench --baseline --floor` in process on SQLite: the transport floor, the engine's
/// round and the raw baseline's (written on its own writer thread) all report figures, and
/// the baseline's scratch tables are gone afterwards.
#[test]
fn bench_with_a_baseline_reports_both_and_leaves_no_scratch_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.db");
    let url = format!("sqlite://{}", path.display());
    let out = aspflow(&[
        "bench",
        "--db",
        &url,
        "--clients",
        "4",
        "--seconds",
        "1",
        "--warmup",
        "0",
        "--baseline",
        "--floor",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("errors: 0"), "{text}");
    let floor = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("calls/s: "))
        .unwrap_or_else(|| panic!("no floor line in {text}"));
    let calls: f64 = floor.split(',').next().unwrap().parse().unwrap();
    assert!(calls > 0.0, "{floor}");
    assert!(
        text.contains("floor: 4 clients calling grpc.health.v1.Health/Check"),
        "{text}"
    );
    let raw = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("raw baseline on sqlite: "))
        .unwrap_or_else(|| panic!("no baseline line in {text}"));
    let rows: f64 = raw.split(' ').next().unwrap().parse().unwrap();
    assert!(rows > 0.0, "{raw}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let scratch: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'bench_raw_%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(scratch, 0);
}
