//! Item 6: SIGTERM stops the server within `--shutdown-grace-ms` even when clients stopped
//! reading their streams (the grace is the backstop), and a second signal exits at once.

use std::time::{Duration, Instant};

use super::{
    aspflow,
    server::{Server, open_case, stall_streams},
    sqlite_url, verified_events,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i8_sigterm_stops_the_server_within_its_grace_when_streams_are_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_millis(2_000);
    let mut server = Server::start(dir.path(), grace.as_millis() as u64).await;
    let case = open_case(server.channel().await).await;
    let (subscription, watch, recorded) = stall_streams(&server, &case, 400).await;

    let signalled = Instant::now();
    server.signal("TERM");
    let status = server
        .wait_exit(grace + Duration::from_secs(6))
        .unwrap_or_else(|| panic!("no exit within the grace + 6 s: {}", server.log()));
    let took = signalled.elapsed();
    assert!(status.success(), "{status}: {}", server.log());
    drop((subscription, watch));

    let out = aspflow(&[
        "audit",
        "verify",
        "--db",
        &sqlite_url(&dir.path().join("aspflow.db")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(verified_events(&out), 1 + recorded);
    eprintln!("stopped {took:?} after SIGTERM (grace {grace:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i8_a_second_signal_during_the_grace_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 60_000).await;
    let case = open_case(server.channel().await).await;
    let (subscription, watch, recorded) = stall_streams(&server, &case, 400).await;

    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server should still be in its 60 s grace period (its streams cannot drain): {}",
        server.log()
    );
    let signalled = Instant::now();
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(3))
        .unwrap_or_else(|| panic!("no exit 3 s after a second SIGTERM: {}", server.log()));
    assert_eq!(status.code(), Some(143), "{status}: {}", server.log());
    assert!(signalled.elapsed() < Duration::from_secs(3));
    assert!(
        server.log().contains("second stop signal"),
        "{}",
        server.log()
    );
    drop((subscription, watch));

    // Nothing acknowledged is lost (the -wal file beside the database holds the tail).
    let out = aspflow(&[
        "audit",
        "verify",
        "--db",
        &sqlite_url(&dir.path().join("aspflow.db")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(verified_events(&out), 1 + recorded);
}
