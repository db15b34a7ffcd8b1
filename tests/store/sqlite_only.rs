//! SQLite-only: what one process wrote, another process reads and verifies after the first has
//! ended (durability of the file, WAL included).

use std::process::Command;

use aspflow::{
    clock::SystemClock,
    store::{EventStore, ExpectedVersion, SqliteStore, StreamId, chain},
};
use uuid::Uuid;

use crate::util::write;

const CHILD_DB: &str = "ASPFLOW_TEST_CHILD_DB";
const STREAM: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0abc);

/// Runs only when started by `events_survive_the_writing_process` as a child process: appends
/// to the file named in the environment, then the process exits without any clean shutdown.
#[tokio::test]
async fn child_writer() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let store = SqliteStore::open(path.as_ref(), std::sync::Arc::new(SystemClock))
        .await
        .unwrap();
    store
        .append(write(
            "child-1",
            StreamId(STREAM),
            ExpectedVersion::NoStream,
            0..5,
        ))
        .await
        .unwrap();
    store
        .append(write(
            "child-2",
            StreamId(STREAM),
            ExpectedVersion::Exact(5),
            5..7,
        ))
        .await
        .unwrap();
    // Acknowledged means durable: leave without closing the pool or checkpointing the WAL.
    std::process::exit(0);
}

#[tokio::test]
async fn events_survive_the_writing_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.db");
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "store::sqlite_only::child_writer", "--nocapture"])
        .env(CHILD_DB, &path)
        .status()
        .expect("start the child process");
    assert!(status.success(), "the child writer failed: {status}");

    let store = SqliteStore::open(&path, std::sync::Arc::new(SystemClock))
        .await
        .unwrap();
    let events = store.read_stream(StreamId(STREAM), 1, None).await.unwrap();
    assert_eq!(events.len(), 7);
    assert_eq!(events[6].request_id, "child-2");
    assert!(chain::verify_log(&store).await.unwrap().is_intact());
    // The reopened file accepts the next write in the same chain.
    let r = store
        .append(write(
            "parent",
            StreamId(STREAM),
            ExpectedVersion::Exact(7),
            7..8,
        ))
        .await
        .unwrap();
    assert_eq!(r.last_position, 8);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
}

/// The whole-log check hashes the columns as stored: a case id or a time rewritten into another
/// spelling of the same value breaks the chain there, although it reads back as the same value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_spelling_of_a_stored_value_breaks_the_hash() {
    let s = crate::util::TestStore::sqlite().await;
    let st = &s.store;
    let a = crate::util::new_stream();
    st.append(write("spell-1", a, ExpectedVersion::NoStream, 1..7))
        .await
        .unwrap();
    assert!(chain::verify_log(st).await.unwrap().is_intact());
    let stored = st.read_stream(a, 1, None).await.unwrap();
    for (version, column, change) in [
        (3, "case_id", "upper(case_id)"),
        (5, "recorded_at", "replace(recorded_at, 'Z', '+00:00')"),
    ] {
        s.tamper(&format!(
            "UPDATE events SET {column} = {change} WHERE case_id = {} AND version = {version}",
            s.case_literal(a)
        ))
        .await;
        // Read as values, the rows are what they were.
        let reread: Vec<_> = st
            .read_all(1, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.stream, e.recorded_at))
            .collect();
        let before: Vec<_> = stored.iter().map(|e| (e.stream, e.recorded_at)).collect();
        assert_eq!(reread, before);
        let brk = chain::verify_log(st).await.unwrap().first_break.unwrap();
        assert_eq!((brk.stream, brk.version), (a, 3), "{column}: {brk:?}");
        assert!(
            matches!(brk.kind, chain::ChainBreakKind::HashMismatch { .. }),
            "{brk:?}"
        );
    }
}
