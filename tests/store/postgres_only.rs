//! PostgreSQL-only: a reader following the log by global position never skips an event whose
//! transaction commits late.

use std::{sync::Arc, time::Duration};

use aspflow::store::{AnyStore, EventStore, ExpectedVersion, chain, postgres::PgStore};

use crate::util::{TestStore, new_stream, write};

/// One store write is held open mid-transaction (its events inserted, not committed) while
/// other writers try to commit and a follower polls. The follower must see nothing past the
/// held write until it commits, then every event exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(aspflow_pg), ignore = "PostgreSQL: set DATABASE_URL to run")]
async fn late_commit_is_never_skipped_by_a_follower() {
    let Some(s) = TestStore::postgres().await else {
        return;
    };
    let AnyStore::Postgres(pg) = &s.store else {
        unreachable!()
    };
    let st = Arc::new(s.store.clone());
    st.append(write(
        "before",
        new_stream(),
        ExpectedVersion::NoStream,
        0..1,
    ))
    .await
    .unwrap();

    // An outside transaction inserts (uncommitted) the idempotency row "held". The store's
    // write with that request id takes the log lock, inserts its events, then blocks on the
    // unique index of `requests` until the outside transaction ends: a real store transaction,
    // held open in the middle.
    let mut blocker = pg.pool().begin().await.unwrap();
    sqlx::query(
        "INSERT INTO requests (request_id, fingerprint, receipt, recorded_at) \
         VALUES ('held', decode(repeat('00', 32), 'hex'), '{}', now())",
    )
    .execute(&mut *blocker)
    .await
    .unwrap();

    let held = {
        let st = st.clone();
        tokio::spawn(async move {
            st.append(write("held", new_stream(), ExpectedVersion::NoStream, 0..3))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut others = Vec::new();
    for i in 0..5 {
        let st = st.clone();
        others.push(tokio::spawn(async move {
            st.append(write(
                &format!("later-{i}"),
                new_stream(),
                ExpectedVersion::NoStream,
                0..2,
            ))
            .await
            .unwrap()
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // While the held write is open: nothing past position 1 is visible, nothing was committed
    // behind it, and the held write's events (positions 2..=4) are not readable.
    assert_eq!(st.read_all(2, 100).await.unwrap().len(), 0);
    assert_eq!(st.head_position().await.unwrap(), 1);
    assert!(others.iter().all(|t| !t.is_finished()));

    // End the outside transaction; the held write completes and commits, then the others.
    blocker.rollback().await.unwrap();
    let held_receipt = held.await.unwrap().unwrap();
    assert_eq!(
        (held_receipt.first_position, held_receipt.last_position),
        (2, 4)
    );
    for t in others {
        t.await.unwrap();
    }
    let all = st.read_all(1, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        (1..=14).collect::<Vec<_>>()
    );
    assert!(chain::verify_log(st.as_ref()).await.unwrap().is_intact());
}

/// A follower polling throughout the scenario above sees each event exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(aspflow_pg), ignore = "PostgreSQL: set DATABASE_URL to run")]
async fn follower_sees_every_event_once_across_a_held_transaction() {
    let Some(s) = TestStore::postgres().await else {
        return;
    };
    let AnyStore::Postgres(pg) = &s.store else {
        unreachable!()
    };
    let st = Arc::new(s.store.clone());
    let follower = {
        let st = st.clone();
        tokio::spawn(async move {
            let mut next = 1u64;
            let mut positions = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while next <= 13 && tokio::time::Instant::now() < deadline {
                for e in st.read_all(next, 100).await.unwrap() {
                    assert_eq!(e.global_position, next, "skipped or repeated a position");
                    positions.push(e.global_position);
                    next += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            positions
        })
    };
    let mut blocker = pg.pool().begin().await.unwrap();
    sqlx::query(
        "INSERT INTO requests (request_id, fingerprint, receipt, recorded_at) \
         VALUES ('held', decode(repeat('00', 32), 'hex'), '{}', now())",
    )
    .execute(&mut *blocker)
    .await
    .unwrap();
    let held = {
        let st = st.clone();
        tokio::spawn(async move {
            st.append(write("held", new_stream(), ExpectedVersion::NoStream, 0..3))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut others = Vec::new();
    for i in 0..5 {
        let st = st.clone();
        others.push(tokio::spawn(async move {
            st.append(write(
                &format!("o-{i}"),
                new_stream(),
                ExpectedVersion::NoStream,
                0..2,
            ))
            .await
            .unwrap()
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.rollback().await.unwrap();
    held.await.unwrap().unwrap();
    for t in others {
        t.await.unwrap();
    }
    assert_eq!(follower.await.unwrap(), (1..=13).collect::<Vec<_>>());
}

/// Appends take the log lock and read in READ COMMITTED whatever the database's default: on
/// connections that default to SERIALIZABLE, writers racing for the lock all commit, gap-free
/// and chained (a transaction at that level that waited for the lock would be refused, its
/// snapshot older than the row it locked).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(aspflow_pg), ignore = "PostgreSQL: set DATABASE_URL to run")]
async fn appends_commit_when_the_default_isolation_is_serializable() {
    let Some(s) = TestStore::postgres().await else {
        return;
    };
    let AnyStore::Postgres(pg) = &s.store else {
        unreachable!()
    };
    let options = (*pg.pool().connect_options())
        .clone()
        .options([("default_transaction_isolation", "serializable")]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    let level: String = sqlx::query_scalar("SHOW transaction_isolation")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(level, "serializable");
    let st = Arc::new(AnyStore::Postgres(
        PgStore::from_pool(pool, s.clock.clone()).await.unwrap(),
    ));
    let mut writers = Vec::new();
    for i in 0..8 {
        let st = st.clone();
        writers.push(tokio::spawn(async move {
            for j in 0..10 {
                st.append(write(
                    &format!("w-{i}-{j}"),
                    new_stream(),
                    ExpectedVersion::NoStream,
                    0..2,
                ))
                .await
                .unwrap_or_else(|e| panic!("writer {i}, write {j}: {e}"));
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let all = st.read_all(1, 1000).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        (1..=160).collect::<Vec<_>>()
    );
    assert!(chain::verify_log(st.as_ref()).await.unwrap().is_intact());
}
