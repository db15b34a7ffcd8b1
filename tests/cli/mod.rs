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
    assert_eq!(report["first_break"]["kind"], "hash_mismatch");
    assert_eq!(report["first_break"]["version"], 2);

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
