//! Checkpoints that sign themselves (issue 11 item 3): stored append-only, one per schedule
//! slot even with two nodes on one PostgreSQL, listed by the Audit service, and used by
//! `aspflow audit verify` without a file.

use std::{sync::Arc, time::Duration};

use aspflow::{
    api::{ServeOptions, checkpoints::Schedule},
    audit::{self, CheckpointCheck},
    clock::ManualClock,
    pb::{self, audit_client::AuditClient},
    store::{AnyStore, CheckpointQuery, EventStore, PgStore, StoredCheckpoint},
};
use tonic::Request;

use super::server::{consult, open_case};
use crate::{
    e2e::TestServer,
    util::{PgDatabase, TestStore, on_both_backends, postgres_url, t0},
};

fn key() -> Arc<ed25519_dalek::SigningKey> {
    Arc::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]))
}

fn options(every: Duration) -> ServeOptions {
    ServeOptions {
        scheduler_tick: None,
        signing_key: Some(key()),
        checkpoints: Schedule {
            every: Some(every),
            events: None,
            look_every: Duration::from_millis(20),
        },
        ..ServeOptions::default()
    }
}

async fn stored(store: &AnyStore) -> Vec<StoredCheckpoint> {
    store
        .stored_checkpoints(&CheckpointQuery {
            limit: 1000,
            ..CheckpointQuery::default()
        })
        .await
        .unwrap()
}

async fn wait_for_count(store: &AnyStore, n: usize) -> Vec<StoredCheckpoint> {
    let mut rows = stored(store).await;
    for _ in 0..250 {
        if rows.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        rows = stored(store).await;
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(aspflow_pg), ignore = "PostgreSQL: set DATABASE_URL to run")]
async fn two_nodes_store_exactly_one_checkpoint_per_period() {
    let Some(url) = postgres_url() else { return };
    let db = PgDatabase::create(&url).await;
    let clock = Arc::new(ManualClock::new(t0()));
    let node = |clock: Arc<ManualClock>| {
        let options = db.options.clone();
        async move {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .unwrap();
            AnyStore::Postgres(PgStore::from_pool(pool, clock).await.unwrap())
        }
    };
    let (store_a, store_b) = (node(clock.clone()).await, node(clock.clone()).await);
    let every = Duration::from_secs(3600);
    let a = TestServer::start_opts(store_a.clone(), clock.clone(), options(every)).await;
    let b = TestServer::start_opts(store_b.clone(), clock.clone(), options(every)).await;
    // An empty log is not signed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(stored(&store_a).await.is_empty());

    let case = open_case(a.channel().await).await;
    let mut on_b = pb::cases_client::CasesClient::new(b.channel().await);
    let mut seen = 1;
    let rows = wait_for_count(&store_a, seen).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    // Four more periods, with a write on the other node in each: one checkpoint per period.
    for period in 1..=4 {
        consult(&mut on_b, &case, u64::try_from(period).unwrap()).await;
        clock.set(t0() + chrono::Duration::hours(period));
        seen += 1;
        let rows = wait_for_count(&store_b, seen).await;
        assert_eq!(rows.len(), seen, "{rows:?}");
        // Both nodes looked at least a few times in this period: still one row.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(stored(&store_a).await.len(), seen);
    }
    let rows = stored(&store_a).await;
    let mut periods: Vec<&str> = rows.iter().map(|r| r.period.as_str()).collect();
    periods.dedup();
    assert_eq!(periods.len(), 5, "{periods:?}");
    // Each one is a valid, signed checkpoint of the log as it was.
    for r in &rows {
        let cp: audit::Checkpoint = serde_json::from_str(&r.checkpoint_json).unwrap();
        cp.verify_signature(Some(&key().verifying_key())).unwrap();
        assert_eq!(cp.head_position, r.head_position);
        assert!(matches!(
            audit::check_against(&store_a, &cp).await.unwrap(),
            CheckpointCheck::Holds { .. }
        ));
    }

    // The Audit service lists them, newest first, in pages.
    let mut client = AuditClient::new(a.channel().await);
    let mut req = Request::new(pb::ListCheckpointsRequest {
        page_size: 3,
        ..Default::default()
    });
    req.metadata_mut()
        .insert(aspflow::api::auth::ROLE, "auditor".parse().unwrap());
    let page = client.list_checkpoints(req).await.unwrap().into_inner();
    assert_eq!(page.checkpoints.len(), 3);
    assert_eq!(page.checkpoints[0].id, rows[0].id);
    assert!(page.checkpoints[0].id > page.checkpoints[2].id);
    let mut req = Request::new(pb::ListCheckpointsRequest {
        page_size: 3,
        before_id: page.next_before_id,
        public_key: hex::encode(key().verifying_key().as_bytes()),
    });
    req.metadata_mut()
        .insert(aspflow::api::auth::ROLE, "auditor".parse().unwrap());
    let rest = client.list_checkpoints(req).await.unwrap().into_inner();
    assert_eq!(rest.checkpoints.len(), 2);
    assert_eq!(rest.next_before_id, 0);

    // `aspflow audit verify` with the public key and no file: the latest stored checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let pub_file = dir.path().join("k.pub");
    std::fs::write(&pub_file, hex::encode(key().verifying_key().as_bytes())).unwrap();
    let db_url = format!(
        "{}/{}",
        url.split('?').next().unwrap().rsplit_once('/').unwrap().0,
        db.name
    );
    a.stop().await;
    b.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aspflow"))
        .args(["audit", "verify", "--db", &db_url, "--public-key"])
        .arg(&pub_file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("using stored checkpoint #{}", rows[0].id)),
        "{text}"
    );
}

/// The table is append-only and a slot holds one checkpoint, on both backends.
async fn stored_checkpoints_are_append_only_one_per_slot(s: TestStore) {
    let row = StoredCheckpoint {
        id: 0,
        period: "every:3600:1".into(),
        public_key: "ab".repeat(32),
        head_position: 1,
        created_at: "2026-11-28T09:00:00.000000Z".into(),
        checkpoint_json: "{}".into(),
    };
    assert!(s.store.store_checkpoint(&row).await.unwrap());
    assert!(
        !s.store.store_checkpoint(&row).await.unwrap(),
        "a slot holds one"
    );
    let e = s
        .exec("UPDATE checkpoints SET head_position = 2")
        .await
        .unwrap_err();
    assert!(e.contains("append-only"), "{e}");
    let e = s.exec("DELETE FROM checkpoints").await.unwrap_err();
    assert!(e.contains("append-only"), "{e}");
    assert_eq!(stored(&s.store).await.len(), 1);
}

on_both_backends!(stored_checkpoints_are_append_only_one_per_slot);
