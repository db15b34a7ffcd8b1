//! Item 5: `aspflow backup` writes a consistent single-file copy while the server writes, and
//! after a clean stop the database file alone is the whole log.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use aspflow::pb::cases_client::CasesClient;

use super::{
    aspflow, files_in,
    server::{Server, consult, open_case},
    sqlite_url, stderr, stdout, verified_events,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i8_backup_while_the_server_writes_and_the_file_alone_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 2_000).await;
    let ch = server.channel().await;
    let case = open_case(ch.clone()).await;
    let written = Arc::new(AtomicU64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (written, stop, case) = (written.clone(), stop.clone(), case.clone());
        let mut client = CasesClient::new(ch);
        tokio::spawn(async move {
            let mut k = 0;
            while !stop.load(Ordering::SeqCst) {
                written.fetch_add(consult(&mut client, &case, k).await, Ordering::SeqCst);
                k += 1;
            }
        })
    };
    while written.load(Ordering::SeqCst) < 30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // While the server writes: a consistent single-file copy.
    let db = dir.path().join("aspflow.db");
    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("it's a copy.db");
    let at_start = written.load(Ordering::SeqCst);
    let out = aspflow(&[
        "backup",
        "--db",
        &sqlite_url(&db),
        "-o",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout(&out).contains("backed up"), "{out:?}");
    let after_backup = written.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let total = written.load(Ordering::SeqCst);
    assert_eq!(files_in(backups.path()), vec!["it's a copy.db"]);
    let out = aspflow(&["audit", "verify", "--db", &sqlite_url(&copy)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let in_copy = verified_events(&out);
    assert!(
        (at_start..=after_backup + 1).contains(&in_copy),
        "{in_copy} events in the copy, {at_start}..={after_backup} acknowledged around it"
    );
    // Never over an existing file.
    let before = std::fs::read(&copy).unwrap();
    let out = aspflow(&[
        "backup",
        "--db",
        &sqlite_url(&db),
        "-o",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("already exists"), "{out:?}");
    assert_eq!(std::fs::read(&copy).unwrap(), before);

    // SIGTERM: the server stops cleanly and leaves the whole log in aspflow.db alone.
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no exit 10 s after SIGTERM: {}", server.log()));
    assert!(status.success(), "{status}: {}", server.log());
    let elsewhere = tempfile::tempdir().unwrap();
    let alone = elsewhere.path().join("aspflow.db");
    std::fs::copy(&db, &alone).unwrap();
    let out = aspflow(&["audit", "verify", "--db", &sqlite_url(&alone)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(verified_events(&out), total, "{out:?}");
}

#[test]
fn i8_backup_of_postgres_names_pg_dump_without_the_password() {
    let out = aspflow(&[
        "backup",
        "--db",
        "postgres://aspflow:s3cret@db.example:5432/asp",
        "-o",
        "asp.dump",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stderr(&out);
    assert!(
        text.contains(
            "pg_dump --format=custom --file='asp.dump' \
             --dbname='postgres://aspflow:***@db.example:5432/asp'"
        ),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    assert!(!Path::new("asp.dump").exists());
}
