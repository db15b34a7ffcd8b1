//! Item 4: the audit tools (`verify`, `replay`, `explain`, `export`) open the log read-only;
//! a missing file, a database without the aspflow schema and an empty log are exit code 2,
//! never "verified: 0 events", and nothing is created, migrated or written.

use std::{
    path::Path,
    process::{Command, Output},
    sync::Arc,
};

use aspflow::{
    clock::SystemClock,
    store::{AnyStore, EventStore, ExpectedVersion, OpenReadOnlyError, StoreConfig},
};

use super::{aspflow, files_in, sqlite_log, sqlite_url, stderr, verified_events};
use crate::util::{new_stream, write};

/// Every read-only tool, as arguments before `--db URL`.
fn read_only_tools(out_file: &Path) -> Vec<Vec<String>> {
    let out_file = out_file.display().to_string();
    [
        vec!["audit", "verify"],
        vec!["audit", "replay", "NC-2017-0001"],
        vec!["audit", "explain", "NC-2017-0001"],
        vec!["audit", "export", "NC-2017-0001", "-o", &out_file],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(str::to_owned).collect())
    .collect()
}

fn run_tool(tool: &[String], db: &str) -> Output {
    let mut args: Vec<&str> = tool.iter().map(String::as_str).collect();
    args.extend(["--db", db]);
    aspflow(&args)
}

#[test]
fn i8_audit_tools_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.db");
    for tool in read_only_tools(&dir.path().join("case.jsonl")) {
        let out = run_tool(&tool, &sqlite_url(&typo));
        assert_eq!(out.status.code(), Some(2), "{tool:?}: {out:?}");
        assert!(
            stderr(&out).contains(&format!("no database file at {}", typo.display())),
            "{tool:?}: {out:?}"
        );
        assert_eq!(files_in(dir.path()), Vec::<String>::new(), "{tool:?}");
    }
    // A relative path, as typed.
    let out = Command::new(env!("CARGO_BIN_EXE_aspflow"))
        .args(["audit", "verify", "--db", "sqlite://typo.db"])
        .current_dir(dir.path())
        .env_remove("ASPFLOW_DB")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr(&out).contains("no database file at typo.db"),
        "{out:?}"
    );
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn i8_audit_tools_refuse_a_database_without_the_aspflow_schema() {
    let dir = tempfile::tempdir().unwrap();
    // An empty file, and an SQLite database of something else.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let other = dir.path().join("other.db");
    {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&other)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let before = std::fs::read(&other).unwrap();
    for db in [&empty, &other] {
        for tool in read_only_tools(&dir.path().join("case.jsonl")) {
            let out = run_tool(&tool, &sqlite_url(db));
            assert_eq!(out.status.code(), Some(2), "{tool:?} {db:?}: {out:?}");
            assert!(
                stderr(&out).contains("has no aspflow schema (no events table)"),
                "{tool:?} {db:?}: {out:?}"
            );
        }
    }
    assert_eq!(std::fs::read(&empty).unwrap(), b"", "never migrated");
    assert_eq!(std::fs::read(&other).unwrap(), before, "never migrated");
    assert!(!dir.path().join("case.jsonl").exists());
}

#[tokio::test]
async fn i8_audit_tools_refuse_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aspflow.db");
    sqlite_log(&path, 0).await;
    let url = sqlite_url(&path);
    for (tool, act) in read_only_tools(&dir.path().join("case.jsonl"))
        .into_iter()
        .zip(["verify", "replay", "explain", "export"])
    {
        let out = run_tool(&tool, &url);
        assert_eq!(out.status.code(), Some(2), "{tool:?}: {out:?}");
        assert!(
            stderr(&out).contains(&format!("the log at {url} is empty: nothing to {act}")),
            "{tool:?}: {out:?}"
        );
    }
    assert!(!dir.path().join("case.jsonl").exists());
}

#[tokio::test]
async fn i8_verify_reads_a_log_without_writing_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aspflow.db");
    sqlite_log(&path, 3).await;
    let before = std::fs::read(&path).unwrap();
    let url = sqlite_url(&path);

    let out = aspflow(&["audit", "verify", "--db", &url]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(verified_events(&out), 3);
    // One case that is not in the log: nothing to verify, not "verified: 0 events".
    let missing = uuid::Uuid::now_v7().to_string();
    let out = aspflow(&["audit", "verify", "--db", &url, "--case", &missing]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr(&out).contains(&format!("case {missing} is not in the log")),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the database file changed"
    );

    // The library: a read-only store refuses writes, and the file stays as it was.
    let config: StoreConfig = url.parse().unwrap();
    let ro = AnyStore::open_read_only(&config, Arc::new(SystemClock))
        .await
        .unwrap();
    assert_eq!(ro.head_position().await.unwrap(), 3);
    let refused = ro
        .append(write("w", new_stream(), ExpectedVersion::NoStream, 0..1))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    ro.close().await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the database file changed"
    );

    let missing = dir.path().join("missing.db");
    let r = AnyStore::open_read_only(
        &sqlite_url(&missing).parse().unwrap(),
        Arc::new(SystemClock),
    )
    .await;
    assert!(
        matches!(&r, Err(OpenReadOnlyError::NoFile(p)) if *p == missing),
        "{:?}",
        r.err()
    );
    assert!(!missing.exists());
}

/// A fresh PostgreSQL database: the tools neither migrate it nor pass it, and a read-only
/// store cannot write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(aspflow_pg), ignore = "PostgreSQL: set DATABASE_URL to run")]
async fn i8_postgres_audit_tools_are_read_only() {
    use sqlx::{ConnectOptions, Connection};

    let Some(admin) = crate::util::postgres_url() else {
        return;
    };
    let db = crate::util::PgDatabase::create(&admin).await;
    let url = {
        let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let base = &base[..base.rfind('/').unwrap()];
        if query.is_empty() {
            format!("{base}/{}", db.name)
        } else {
            format!("{base}/{}?{query}", db.name)
        }
    };
    let tables = || async {
        let mut conn = db.options.connect().await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        n
    };

    let out = aspflow(&["audit", "verify", "--db", &url]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("no aspflow schema"), "{out:?}");
    assert_eq!(tables().await, 0, "a read-only tool migrated the database");

    let store = aspflow::store::PgStore::connect(&url, 2, Arc::new(SystemClock))
        .await
        .unwrap();
    let out = aspflow(&["audit", "verify", "--db", &url]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr(&out).contains("is empty: nothing to verify"),
        "{out:?}"
    );

    store
        .append(write("seed", new_stream(), ExpectedVersion::NoStream, 0..2))
        .await
        .unwrap();
    let out = aspflow(&["audit", "verify", "--db", &url]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(verified_events(&out), 2);

    let ro = AnyStore::open_read_only(&url.parse().unwrap(), Arc::new(SystemClock))
        .await
        .unwrap();
    let refused = ro
        .append(write("w", new_stream(), ExpectedVersion::NoStream, 0..1))
        .await;
    assert!(
        format!("{:?}", refused.as_ref().err()).contains("read-only transaction"),
        "{refused:?}"
    );
    assert_eq!(ro.head_position().await.unwrap(), 2);
    ro.close().await.unwrap();
    store.close().await;
}
