//! The store conformance suite: every test below runs on SQLite and on PostgreSQL
//! (`conformance!` generates one `#[tokio::test]` per backend). Backend-only tests follow.

use std::{collections::HashSet, sync::Arc, time::Duration};

use aspflow::store::{
    AppendError, ChainBreakKind, EventStore, ExpectedVersion, NO_DEADLINE, NewEvent, StreamAppend,
    StreamId, SummaryFilter, SummaryOrder, SummaryUpdate, Write,
    chain::{self, GENESIS},
};
use chrono::{TimeZone, Utc};
use uuid::Uuid;

use crate::util::{Backend, TestStore, event, new_stream, write};

mod postgres_only;
mod sqlite_only;

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let s = crate::util::TestStore::sqlite().await;
                    super::$name(&s).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[cfg_attr(not(aspflow_pg), ignore = "PostgreSQL: set DATABASE_URL to run")]
                async fn $name() {
                    let Some(s) = crate::util::TestStore::postgres().await else { return };
                    super::$name(&s).await;
                }
            )*
        }
    };
}

conformance!(
    append_then_read_in_order,
    read_stream_pages_by_version_and_limit,
    expected_version_conflicts_are_typed_and_write_nothing,
    concurrent_writers_one_winner_per_version,
    concurrent_appenders_build_one_gapless_chain,
    multi_stream_append_is_all_or_nothing,
    idempotent_retry_returns_the_original_receipt,
    request_id_reused_with_other_content_is_rejected,
    group_commit_fails_only_the_conflicting_write,
    invalid_writes_are_rejected_and_write_nothing,
    payload_bytes_and_times_round_trip_exactly,
    triggers_reject_update_and_delete,
    tampered_payload_is_detected,
    deleted_event_is_detected,
    reordered_events_are_detected,
    rechained_case_passes_the_chain_but_not_the_receipt,
    follower_never_skips_an_event,
    batch_with_a_taken_key_fails_only_that_write,
    batch_of_writes_on_one_stream_chains_them,
    long_log_is_verified_in_parallel_and_the_first_break_reported,
    log_read_on_every_core_is_folded_in_order_once,
    read_model_lists_filter_order_and_page_alike,
);

async fn append_then_read_in_order(s: &TestStore) {
    let st = &s.store;
    let (a, b) = (new_stream(), new_stream());
    assert_eq!(st.head_position().await.unwrap(), 0);
    let r1 = st
        .append(write("r1", a, ExpectedVersion::NoStream, 1..4))
        .await
        .unwrap();
    assert_eq!((r1.first_position, r1.last_position), (1, 3));
    assert_eq!(
        (r1.streams[0].first_version, r1.streams[0].last_version),
        (1, 3)
    );
    let r2 = st
        .append(write("r2", b, ExpectedVersion::NoStream, 10..12))
        .await
        .unwrap();
    assert_eq!((r2.first_position, r2.last_position), (4, 5));
    let r3 = st
        .append(write("r3", a, ExpectedVersion::Exact(3), 4..5))
        .await
        .unwrap();
    assert_eq!(r3.streams[0].last_version, 4);

    let ea = st.read_stream(a, 1, None).await.unwrap();
    assert_eq!(
        ea.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        ea.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        vec![1, 2, 3, 6]
    );
    assert_eq!(ea[0].payload, event(1).payload);
    assert_eq!(ea[3].payload, event(4).payload);
    assert_eq!(ea[0].prev_hash, GENESIS);
    assert_eq!(ea[1].prev_hash, ea[0].hash);
    assert_eq!(ea[3].hash, r3.streams[0].last_hash);
    assert!(ea.iter().all(|e| e.recorded_at == crate::util::t0()));

    let all = st.read_all(1, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<_>>()
    );
    assert_eq!(st.read_all(5, 1).await.unwrap()[0].stream, b);
    assert_eq!(st.stream_version(a).await.unwrap(), Some(4));
    assert_eq!(st.stream_version(new_stream()).await.unwrap(), None);
    assert_eq!(st.head_position().await.unwrap(), 6);
    let report = chain::verify_log(st).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.events_checked, report.streams_checked), (6, 2));
}

async fn read_stream_pages_by_version_and_limit(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    st.append(write("p", a, ExpectedVersion::NoStream, 1..11))
        .await
        .unwrap();
    let page = st.read_stream(a, 4, Some(3)).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![4, 5, 6]
    );
    assert!(st.read_stream(a, 11, None).await.unwrap().is_empty());
    assert!(st.read_all(11, 10).await.unwrap().is_empty());
    assert_eq!(st.read_all(3, 2).await.unwrap().len(), 2);
}

async fn expected_version_conflicts_are_typed_and_write_nothing(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    st.append(write("c0", a, ExpectedVersion::NoStream, 1..3))
        .await
        .unwrap();
    let cases = [
        (ExpectedVersion::NoStream, a, Some(2)),
        (ExpectedVersion::Exact(1), a, Some(2)),
        (ExpectedVersion::Exact(3), a, Some(2)),
    ];
    for (i, (expected, stream, actual_found)) in cases.into_iter().enumerate() {
        let err = st
            .append(write(&format!("c{}", i + 1), stream, expected, 5..6))
            .await
            .unwrap_err();
        match err {
            AppendError::Conflict {
                stream: s2,
                expected: e2,
                actual,
            } => {
                assert_eq!((s2, e2, actual), (stream, expected, actual_found));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    let missing = new_stream();
    let err = st
        .append(write("c9", missing, ExpectedVersion::Exact(1), 5..6))
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::Conflict { actual: None, .. }));
    assert!(err.to_string().contains("no stream"), "{err}");
    assert_eq!(st.head_position().await.unwrap(), 2);
    assert_eq!(st.stream_version(missing).await.unwrap(), None);
    // A conflicting write leaves no request behind: the id can be used again.
    assert!(st.lookup_request("c1").await.unwrap().is_none());
    st.append(write("c1", a, ExpectedVersion::Any, 5..6))
        .await
        .unwrap();
    assert_eq!(st.stream_version(a).await.unwrap(), Some(3));
}

async fn concurrent_writers_one_winner_per_version(s: &TestStore) {
    let st = Arc::new(s.store.clone());
    let a = new_stream();
    st.append(write("seed", a, ExpectedVersion::NoStream, 0..1))
        .await
        .unwrap();
    // 16 writers race for each of versions 2..=6, all expecting the same current version.
    for round in 1..=5u64 {
        let mut tasks = Vec::new();
        for w in 0..16u64 {
            let st = st.clone();
            tasks.push(tokio::spawn(async move {
                st.append(write(
                    &format!("race-{round}-{w}"),
                    a,
                    ExpectedVersion::Exact(round),
                    100 * round + w..100 * round + w + 1,
                ))
                .await
            }));
        }
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(r) => {
                    wins += 1;
                    assert_eq!(r.streams[0].last_version, round + 1);
                }
                Err(AppendError::Conflict { actual, .. }) => assert_eq!(actual, Some(round + 1)),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert_eq!(wins, 1, "exactly one writer wins version {}", round + 1);
    }
    assert_eq!(st.stream_version(a).await.unwrap(), Some(6));
    assert!(chain::verify_log(st.as_ref()).await.unwrap().is_intact());
}

async fn concurrent_appenders_build_one_gapless_chain(s: &TestStore) {
    let st = Arc::new(s.store.clone());
    let a = new_stream();
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let st = st.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10u64 {
                // Read-modify-write with retry, as the engine does with an implicit version.
                loop {
                    let v = st.stream_version(a).await.unwrap();
                    let expected = v.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                    match st
                        .append(write(&format!("w{w}-{i}"), a, expected, i..i + 1))
                        .await
                    {
                        Ok(_) => break,
                        Err(AppendError::Conflict { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = st.read_stream(a, 1, None).await.unwrap();
    assert_eq!(events.len(), 80);
    let ids: HashSet<_> = events.iter().map(|e| e.request_id.clone()).collect();
    assert_eq!(ids.len(), 80, "each request appended exactly once");
    assert!(
        chain::verify_stream(st.as_ref(), a)
            .await
            .unwrap()
            .is_intact()
    );
    assert!(chain::verify_log(st.as_ref()).await.unwrap().is_intact());
}

fn two_stream_write(
    id: &str,
    a: StreamId,
    ea: ExpectedVersion,
    b: StreamId,
    eb: ExpectedVersion,
) -> Write {
    Write {
        request_id: id.into(),
        correlation_id: Some(Uuid::from_u128(42)),
        streams: vec![
            StreamAppend {
                stream: a,
                expected: ea,
                events: vec![event(1)],
            },
            StreamAppend {
                stream: b,
                expected: eb,
                events: vec![event(2), event(3)],
            },
        ],
        fingerprint: None,
        summaries: Vec::new(),
        reference: None,
    }
}

async fn multi_stream_append_is_all_or_nothing(s: &TestStore) {
    let st = &s.store;
    let (a, b) = (new_stream(), new_stream());
    st.append(write("b0", b, ExpectedVersion::NoStream, 0..1))
        .await
        .unwrap();
    // B is at version 1; expecting 5 fails the whole write, so A is not created either.
    let err = st
        .append(two_stream_write(
            "esc-1",
            a,
            ExpectedVersion::NoStream,
            b,
            ExpectedVersion::Exact(5),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::Conflict { stream, .. } if stream == b));
    assert_eq!(st.stream_version(a).await.unwrap(), None);
    assert_eq!(st.head_position().await.unwrap(), 1);

    let r = st
        .append(two_stream_write(
            "esc-2",
            a,
            ExpectedVersion::NoStream,
            b,
            ExpectedVersion::Exact(1),
        ))
        .await
        .unwrap();
    assert_eq!((r.first_position, r.last_position), (2, 4));
    assert_eq!(r.streams.len(), 2);
    assert_eq!(
        (r.streams[1].first_version, r.streams[1].last_version),
        (2, 3)
    );
    let all = st.read_all(2, 10).await.unwrap();
    assert!(all.iter().all(|e| e.request_id == "esc-2"));
    assert!(
        all.iter()
            .all(|e| e.correlation_id == Some(Uuid::from_u128(42)))
    );
    assert!(chain::verify_log(st).await.unwrap().is_intact());
}

async fn idempotent_retry_returns_the_original_receipt(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    let w = write("idem-1", a, ExpectedVersion::NoStream, 1..3);
    let first = st.append(w.clone()).await.unwrap();
    assert!(!first.replayed);
    s.clock.advance(chrono::Duration::hours(1));
    // The retry would conflict (NoStream) if it were executed again: it is not.
    let again = st.append(w.clone()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (
            again.first_position,
            again.last_position,
            &again.streams,
            again.recorded_at
        ),
        (
            first.first_position,
            first.last_position,
            &first.streams,
            first.recorded_at
        )
    );
    assert_eq!(st.head_position().await.unwrap(), 2);
    let stored = st.lookup_request("idem-1").await.unwrap().expect("stored");
    assert_eq!(stored.fingerprint, w.effective_fingerprint());
    assert_eq!(stored.receipt.last_position, 2);
    assert!(st.lookup_request("never-used").await.unwrap().is_none());
    // In a batch, the same write twice: written once, answered twice.
    let b = new_stream();
    let w2 = write("idem-2", b, ExpectedVersion::NoStream, 1..2);
    let results = st.append_batch(vec![w2.clone(), w2]).await.unwrap();
    let r0 = results[0].as_ref().unwrap();
    let r1 = results[1].as_ref().unwrap();
    assert!(!r0.replayed && r1.replayed);
    assert_eq!(r0.last_position, r1.last_position);
    assert_eq!(st.head_position().await.unwrap(), 3);
}

async fn request_id_reused_with_other_content_is_rejected(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    st.append(write("dup", a, ExpectedVersion::NoStream, 1..2))
        .await
        .unwrap();
    let err = st
        .append(write("dup", a, ExpectedVersion::Exact(1), 2..3))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppendError::DuplicateRequest { request_id } if request_id == "dup"),
        "{err:?}"
    );
    let mut other_payload = write("dup", a, ExpectedVersion::NoStream, 1..2);
    other_payload.streams[0].events[0].payload = b"{}".to_vec();
    assert!(matches!(
        st.append(other_payload).await,
        Err(AppendError::DuplicateRequest { .. })
    ));
    assert_eq!(st.head_position().await.unwrap(), 1);
}

async fn group_commit_fails_only_the_conflicting_write(s: &TestStore) {
    let st = &s.store;
    let (a, b, c) = (new_stream(), new_stream(), new_stream());
    st.append(write("g0", b, ExpectedVersion::NoStream, 0..1))
        .await
        .unwrap();
    let results = st
        .append_batch(vec![
            write("g1", a, ExpectedVersion::NoStream, 1..3),
            write("g2", b, ExpectedVersion::NoStream, 3..4), // b exists: conflict
            write("g3", c, ExpectedVersion::NoStream, 4..6),
            write("", c, ExpectedVersion::Any, 6..7), // invalid: empty request id
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 4);
    let r1 = results[0].as_ref().unwrap();
    assert!(matches!(results[1], Err(AppendError::Conflict { .. })));
    let r3 = results[2].as_ref().unwrap();
    assert!(matches!(results[3], Err(AppendError::Invalid(_))));
    // Positions stay gapless: the failed write gave its positions back.
    assert_eq!((r1.first_position, r1.last_position), (2, 3));
    assert_eq!((r3.first_position, r3.last_position), (4, 5));
    assert_eq!(st.head_position().await.unwrap(), 5);
    assert!(st.lookup_request("g2").await.unwrap().is_none());
    assert_eq!(st.stream_version(b).await.unwrap(), Some(1));
    assert!(chain::verify_log(st).await.unwrap().is_intact());
}

async fn invalid_writes_are_rejected_and_write_nothing(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    let mut bad = vec![
        write("", a, ExpectedVersion::NoStream, 1..2),
        write(&"x".repeat(421), a, ExpectedVersion::NoStream, 1..2),
        write("no-events", a, ExpectedVersion::NoStream, 1..1),
        write("zero", a, ExpectedVersion::Exact(0), 1..2),
        Write {
            request_id: "no-streams".into(),
            correlation_id: None,
            streams: vec![],
            fingerprint: None,
            summaries: Vec::new(),
            reference: None,
        },
        two_stream_write(
            "twice",
            a,
            ExpectedVersion::NoStream,
            a,
            ExpectedVersion::Any,
        ),
    ];
    let mut empty_type = write("empty-type", a, ExpectedVersion::NoStream, 1..2);
    empty_type.streams[0].events[0].event_type = " ".into();
    bad.push(empty_type);
    for w in bad {
        let id = w.request_id.clone();
        match st.append(w).await {
            Err(AppendError::Invalid(msg)) => assert!(!msg.is_empty()),
            other => panic!("write {id:?} should be invalid, got {other:?}"),
        }
    }
    assert_eq!(st.head_position().await.unwrap(), 0);
}

async fn payload_bytes_and_times_round_trip_exactly(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    // Key order, spacing, escapes and non-ASCII must survive byte for byte (no JSONB).
    let payload = "{\"z\":1,  \"a\" : [\"Côte d’Ivoire\", \"\\u00e9\"], \"n\":1.50}"
        .as_bytes()
        .to_vec();
    let nanos = Utc.with_ymd_and_hms(2015, 6, 13, 14, 30, 5).unwrap()
        + chrono::Duration::nanoseconds(123_456_789);
    s.clock.set(nanos + chrono::Duration::days(4000));
    let ev = NewEvent {
        event_type: "preventive.person_arrived".into(),
        schema_version: 2,
        payload: payload.clone(),
        occurred_at: nanos,
        actor: "Focal point ñ".into(),
        role: "focal_point".into(),
    };
    st.append(Write::single("rt", a, ExpectedVersion::NoStream, vec![ev]))
        .await
        .unwrap();
    let got = &st.read_stream(a, 1, None).await.unwrap()[0];
    assert_eq!(got.payload, payload);
    assert_eq!(got.schema_version, 2);
    assert_eq!(got.actor, "Focal point ñ");
    assert_eq!(got.occurred_at, aspflow::store::to_micros(nanos));
    assert_eq!(got.occurred_at.timestamp_subsec_nanos(), 123_456_000);
    assert_eq!(
        got.recorded_at,
        aspflow::store::to_micros(nanos + chrono::Duration::days(4000))
    );
    assert_eq!(
        chain::event_hash(got),
        got.hash,
        "the chain verifies after the read"
    );
}

async fn triggers_reject_update_and_delete(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    st.append(write("t1", a, ExpectedVersion::NoStream, 1..3))
        .await
        .unwrap();
    for sql in [
        "UPDATE events SET actor = 'mallory' WHERE version = 1",
        "UPDATE events SET payload = payload",
        "DELETE FROM events WHERE version = 2",
        "DELETE FROM events",
        "UPDATE requests SET receipt = '{}'",
        "DELETE FROM requests",
    ] {
        let err = s
            .exec(sql)
            .await
            .expect_err(&format!("{sql} must be rejected"));
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if s.backend == Backend::Postgres {
        for sql in ["TRUNCATE events", "TRUNCATE requests"] {
            let err = s.exec(sql).await.expect_err("TRUNCATE must be rejected");
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
    }
    let events = st.read_stream(a, 1, None).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].actor, "secretariat-1");
    assert!(st.lookup_request("t1").await.unwrap().is_some());
    assert!(chain::verify_log(st).await.unwrap().is_intact());
}

async fn tampered_payload_is_detected(s: &TestStore) {
    let st = &s.store;
    let (a, b) = (new_stream(), new_stream());
    st.append(write("x1", a, ExpectedVersion::NoStream, 1..4))
        .await
        .unwrap();
    st.append(write("x2", b, ExpectedVersion::NoStream, 1..4))
        .await
        .unwrap();
    let original = st.read_stream(b, 2, Some(1)).await.unwrap().remove(0);
    s.tamper(&format!(
        "UPDATE events SET payload = {} WHERE case_id = {} AND version = 2",
        hex_literal(s, br#"{"n": 99}"#),
        s.case_literal(b)
    ))
    .await;
    for report in [
        chain::verify_log(st).await.unwrap(),
        chain::verify_stream(st, b).await.unwrap(),
    ] {
        let brk = report.first_break.expect("tampering must be detected");
        assert_eq!((brk.stream, brk.version, brk.global_position), (b, 2, 5));
        match brk.kind {
            ChainBreakKind::HashMismatch { expected, found } => {
                assert_eq!(found, original.hash);
                assert_ne!(expected, found);
            }
            other => panic!("expected a hash mismatch, got {other:?}"),
        }
    }
    assert!(chain::verify_stream(st, a).await.unwrap().is_intact());
}

/// A log of `streams` new streams written in `rounds` batches, each batch appending `per_round`
/// events to every stream (so the streams interleave in log order). Returns the streams.
async fn interleaved_log(
    st: &impl EventStore,
    prefix: &str,
    streams: usize,
    rounds: u64,
    per_round: u64,
) -> Vec<StreamId> {
    let ids: Vec<StreamId> = (0..streams).map(|_| new_stream()).collect();
    for round in 0..rounds {
        let writes = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let expected = match round {
                    0 => ExpectedVersion::NoStream,
                    r => ExpectedVersion::Exact(r * per_round),
                };
                let first = round * per_round + 1;
                write(
                    &format!("{prefix}-{round}-{i}"),
                    id,
                    expected,
                    first..first + per_round,
                )
            })
            .collect();
        for r in st.append_batch(writes).await.unwrap() {
            r.unwrap();
        }
    }
    ids
}

/// Pages of the log long enough for the verifier to hash on several threads: the break it
/// reports is still the first in log order, even when a later one sits in another thread's
/// share of the page.
async fn long_log_is_verified_in_parallel_and_the_first_break_reported(s: &TestStore) {
    let st = &s.store;
    let streams = interleaved_log(st, "long", 12, 10, 10).await;
    let report = chain::verify_log(st).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.events_checked, report.streams_checked), (1200, 12));
    // Two payloads changed: one early in the log, one late (another thread's share).
    for (stream, version) in [(streams[7], 95), (streams[2], 31)] {
        s.tamper(&format!(
            "UPDATE events SET payload = {} WHERE case_id = {} AND version = {version}",
            hex_literal(s, br#"{"n": -1}"#),
            s.case_literal(stream)
        ))
        .await;
    }
    let early = st
        .read_stream(streams[2], 31, Some(1))
        .await
        .unwrap()
        .remove(0);
    let brk = chain::verify_log(st)
        .await
        .unwrap()
        .first_break
        .expect("tampering must be detected");
    assert_eq!(
        (brk.stream, brk.version, brk.global_position),
        (streams[2], 31, early.global_position)
    );
    assert!(
        matches!(brk.kind, ChainBreakKind::HashMismatch { .. }),
        "{brk:?}"
    );
}

/// The whole log read on every core (`scan_log_parallel`: SQLite in chunks, a thread a
/// core; PostgreSQL in pages) reaches the fold in log order, every event once, with the
/// columns as stored (their hash recomputed from them is the stored one); a fold that breaks
/// stops the scan there.
async fn log_read_on_every_core_is_folded_in_order_once(s: &TestStore) {
    use std::ops::ControlFlow;
    let st = &s.store;
    interleaved_log(st, "scan", 8, 5, 40).await;
    let mut seen = Vec::new();
    let stopped = aspflow::store::scan_log_parallel(
        st,
        aspflow::store::AllColumns,
        |r| {
            (
                r.event.global_position,
                r.event.stream().unwrap(),
                r.event.version,
                chain::stored_hash(r) == r.hash,
            )
        },
        |chunk| {
            seen.append(chunk);
            ControlFlow::<()>::Continue(())
        },
    )
    .await
    .unwrap();
    assert_eq!(stopped, None);
    let mut expected = Vec::new();
    let mut from = 1;
    loop {
        let page = st.read_all(from, 500).await.unwrap();
        let Some(last) = page.last() else { break };
        from = last.global_position + 1;
        expected.extend(page.iter().map(|e| {
            (
                (e.global_position, e.stream, e.version, true),
                (
                    e.global_position,
                    e.stream,
                    e.version,
                    e.event_type.clone(),
                    e.schema_version,
                    e.payload.clone(),
                    e.recorded_at,
                ),
            )
        }));
    }
    assert_eq!(expected.len(), 1_600);
    assert_eq!(seen, expected.iter().map(|e| e.0).collect::<Vec<_>>());
    // The columns replay reads are those of the whole row, as stored.
    let mut seen = Vec::new();
    aspflow::store::scan_log_parallel(
        st,
        aspflow::store::EventColumns,
        |r| {
            (
                r.global_position,
                r.stream().unwrap(),
                r.version,
                r.event_type.to_owned(),
                r.schema_version,
                r.payload.to_vec(),
                r.recorded_at().unwrap(),
            )
        },
        |chunk| {
            seen.append(chunk);
            ControlFlow::<()>::Continue(())
        },
    )
    .await
    .unwrap();
    assert_eq!(
        seen,
        expected.iter().map(|e| e.1.clone()).collect::<Vec<_>>()
    );
    // A break at position 777 ends the scan with its value; nothing after it is folded.
    let mut last = 0;
    let stopped = aspflow::store::scan_log_parallel(
        st,
        aspflow::store::EventColumns,
        |r| r.global_position,
        |chunk| {
            for p in chunk.drain(..) {
                assert_eq!(p, last + 1, "in order, once");
                last = p;
                if p == 777 {
                    return ControlFlow::Break(p);
                }
            }
            ControlFlow::Continue(())
        },
    )
    .await
    .unwrap();
    assert_eq!((stopped, last), (Some(777), 777));
    // A gap of 400 positions (more than a whole chunk: at most 200 here) is read past, and
    // the rest of the log reaches the fold in order, once; verification names the gap.
    s.tamper("DELETE FROM events WHERE global_position BETWEEN 201 AND 600")
        .await;
    // (The replay's columns here; verification below reads every column past the gap.)
    let mut positions = Vec::new();
    let stopped = aspflow::store::scan_log_parallel(
        st,
        aspflow::store::EventColumns,
        |r| r.global_position,
        |chunk| {
            positions.append(chunk);
            ControlFlow::<()>::Continue(())
        },
    )
    .await
    .unwrap();
    assert_eq!(stopped, None);
    let expected: Vec<u64> = (1..=200).chain(601..=1_600).collect();
    assert_eq!(positions, expected);
    let brk = chain::verify_log(st).await.unwrap().first_break.unwrap();
    assert_eq!(
        (brk.global_position, brk.kind),
        (
            601,
            ChainBreakKind::PositionGap {
                expected: 201,
                found: 601
            }
        )
    );
}

fn hex_literal(s: &TestStore, bytes: &[u8]) -> String {
    match s.backend {
        Backend::Sqlite => format!("X'{}'", hex::encode(bytes)),
        Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(bytes)),
    }
}

async fn deleted_event_is_detected(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    st.append(write("d1", a, ExpectedVersion::NoStream, 1..5))
        .await
        .unwrap();
    s.tamper(&format!(
        "DELETE FROM events WHERE case_id = {} AND version = 3",
        s.case_literal(a)
    ))
    .await;
    let brk = chain::verify_log(st).await.unwrap().first_break.unwrap();
    assert_eq!(brk.global_position, 4);
    assert_eq!(
        brk.kind,
        ChainBreakKind::PositionGap {
            expected: 3,
            found: 4
        }
    );
    let brk = chain::verify_stream(st, a)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(brk.version, 4);
    assert_eq!(
        brk.kind,
        ChainBreakKind::VersionGap {
            expected: 3,
            found: 4
        }
    );
    // Deleting the newest event leaves no gap inside the chain: only a checkpoint taken before
    // can show it (audit issue). The chain itself still verifies.
}

async fn reordered_events_are_detected(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    st.append(write("o1", a, ExpectedVersion::NoStream, 1..4))
        .await
        .unwrap();
    // Swap the payloads of versions 1 and 2 (same row positions, contents exchanged).
    let events = st.read_stream(a, 1, None).await.unwrap();
    let (p1, p2) = (events[0].payload.clone(), events[1].payload.clone());
    s.tamper(&format!(
        "UPDATE events SET payload = CASE version WHEN 1 THEN {} ELSE {} END \
         WHERE case_id = {} AND version IN (1, 2)",
        hex_literal(s, &p2),
        hex_literal(s, &p1),
        s.case_literal(a)
    ))
    .await;
    let brk = chain::verify_stream(st, a)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(brk.version, 1);
    assert!(matches!(brk.kind, ChainBreakKind::HashMismatch { .. }));
}

async fn rechained_case_passes_the_chain_but_not_the_receipt(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    st.append(write("k1", a, ExpectedVersion::NoStream, 1..4))
        .await
        .unwrap();
    // An attacker rewrites version 2's payload AND recomputes its hash and the chain after it.
    let mut events = st.read_stream(a, 1, None).await.unwrap();
    events[1].payload = br#"{"n": 2, "note": "forged"}"#.to_vec();
    for i in 1..events.len() {
        events[i].prev_hash = events[i - 1].hash;
        events[i].hash = chain::event_hash(&events[i]);
    }
    for e in &events[1..] {
        s.tamper(&format!(
            "UPDATE events SET payload = {}, prev_hash = {}, hash = {} WHERE global_position = {}",
            hex_literal(s, &e.payload),
            hex_literal(s, &e.prev_hash.0),
            hex_literal(s, &e.hash.0),
            e.global_position
        ))
        .await;
    }
    // The per-case chain is self-consistent again: this is exactly what signed checkpoints
    // (audit issue) exist to catch. Here we prove the chain alone cannot, and that the forged
    // head differs from the head a client was given at write time.
    let report = chain::verify_stream(st, a).await.unwrap();
    assert!(report.is_intact());
    let head = st.read_stream(a, 3, None).await.unwrap().remove(0).hash;
    let receipt = st.lookup_request("k1").await.unwrap().unwrap().receipt;
    assert_ne!(
        head, receipt.streams[0].last_hash,
        "the receipt pins the old head"
    );
}

async fn follower_never_skips_an_event(s: &TestStore) {
    let st = Arc::new(s.store.clone());
    let total = 200u64;
    let follower = {
        let st = st.clone();
        tokio::spawn(async move {
            let mut next = 1u64;
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while next <= total && tokio::time::Instant::now() < deadline {
                let page = st.read_all(next, 17).await.unwrap();
                for e in page {
                    assert_eq!(e.global_position, next, "the follower skipped a position");
                    seen.push(e.request_id.clone());
                    next += 1;
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let mut writers = Vec::new();
    for w in 0..10u64 {
        let st = st.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..(total / 10) {
                st.append(write(
                    &format!("f{w}-{i}"),
                    new_stream(),
                    ExpectedVersion::NoStream,
                    i..i + 1,
                ))
                .await
                .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let seen = follower.await.unwrap();
    assert_eq!(seen.len() as u64, total);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len() as u64, total);
}

fn summary(stream: StreamId, reference: &str, key: Option<&str>, state: &str) -> SummaryUpdate {
    SummaryUpdate {
        stream,
        reference: reference.into(),
        procedure: "formal".into(),
        state: state.into(),
        closed: false,
        requested_state: "JO".into(),
        requested_state_name: "Jordan".into(),
        region: "asia_pacific".into(),
        person_sought: "Person".into(),
        next_deadline: None,
        fires_after: None,
        duplicate_key: key.map(str::to_owned),
    }
}

/// The batch statements meet a unique index (a duplicate key another case of the same batch
/// holds, a reference one already stored holds): the batch is written again write by write,
/// and only the offending writes fail, with the holder named; the rest commit, gapless.
async fn batch_with_a_taken_key_fails_only_that_write(s: &TestStore) {
    let st = &s.store;
    let (held, a, b, c, d) = (
        new_stream(),
        new_stream(),
        new_stream(),
        new_stream(),
        new_stream(),
    );
    let mut w = write("k0", held, ExpectedVersion::NoStream, 0..1);
    w.summaries = vec![summary(held, "NC-1", Some("JO|X"), "Referred")];
    st.append(w).await.unwrap();
    let with = |id: &str, stream, reference: &str, key: Option<&str>, range| {
        let mut w = write(id, stream, ExpectedVersion::NoStream, range);
        w.summaries = vec![summary(stream, reference, key, "Referred")];
        w
    };
    let results = st
        .append_batch(vec![
            with("k1", a, "NC-2", Some("JO|Y"), 1..3),
            with("k2", b, "NC-3", Some("JO|X"), 3..4), // the key `held` has
            with("k3", c, "NC-1", None, 4..5),         // the reference `held` has
            with("k4", d, "NC-4", Some("JO|Y"), 5..6), // the key k1 takes in this batch
        ])
        .await
        .unwrap();
    let r1 = results[0].as_ref().unwrap();
    assert!(
        matches!(&results[1], Err(AppendError::KeyTaken { existing, .. }) if *existing == held),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(&results[2], Err(AppendError::ReferenceTaken { existing, .. }) if *existing == held),
        "{:?}",
        results[2]
    );
    assert!(
        matches!(&results[3], Err(AppendError::KeyTaken { existing, .. }) if *existing == a),
        "{:?}",
        results[3]
    );
    assert_eq!((r1.first_position, r1.last_position), (2, 3));
    assert_eq!(r1.events.len(), 2, "the receipt carries the events written");
    assert_eq!(st.head_position().await.unwrap(), 3);
    for (id, stream) in [("k2", b), ("k3", c), ("k4", d)] {
        assert!(st.lookup_request(id).await.unwrap().is_none(), "{id}");
        assert_eq!(st.stream_version(stream).await.unwrap(), None, "{id}");
    }
    let rows = st
        .list_summaries(&SummaryFilter {
            limit: 100,
            ..SummaryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(chain::verify_log(st).await.unwrap().is_intact());
}

/// Several writes on one stream in one batch (expected Any, then an exact version the batch
/// itself reaches, then a stale one): chained in order, the stale one refused; the read-model
/// row is the last write's, at the stream's last version.
async fn batch_of_writes_on_one_stream_chains_them(s: &TestStore) {
    let st = &s.store;
    let a = new_stream();
    let step = |id: &str, expected, range, state: &str| {
        let mut w = write(id, a, expected, range);
        w.summaries = vec![summary(a, "NC-9", None, state)];
        w
    };
    let results = st
        .append_batch(vec![
            step("s1", ExpectedVersion::NoStream, 0..2, "One"),
            step("s2", ExpectedVersion::Any, 2..3, "Two"),
            step("s3", ExpectedVersion::Exact(3), 3..4, "Three"),
            step("s4", ExpectedVersion::Exact(3), 4..5, "Stale"),
        ])
        .await
        .unwrap();
    assert!(results[..3].iter().all(Result::is_ok), "{results:?}");
    assert!(
        matches!(
            results[3],
            Err(AppendError::Conflict {
                actual: Some(4),
                ..
            })
        ),
        "{:?}",
        results[3]
    );
    let events = st.read_stream(a, 1, None).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let r3 = results[2].as_ref().unwrap();
    assert_eq!(
        r3.events,
        events[3..].to_vec(),
        "the receipt carries what was stored"
    );
    let rows = st
        .list_summaries(&SummaryFilter {
            limit: 10,
            ..SummaryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.row.state.as_str(), r.version))
            .collect::<Vec<_>>(),
        [("Three", 4)]
    );
    assert!(chain::verify_log(st).await.unwrap().is_intact());
}

/// The read model's list: every filter (alone), both orders, and pages that continue where
/// the last one ended, give the same rows on both backends.
async fn read_model_lists_filter_order_and_page_alike(s: &TestStore) {
    let st = &s.store;
    // (procedure, state, closed, requested State, region, person sought, next deadline)
    let cases = [
        (
            "formal",
            "Referred",
            false,
            "JO",
            "asia_pacific",
            "Omar Al Bashir",
            Some("2018-01-10"),
        ),
        (
            "preventive",
            "Alerted",
            false,
            "ZA",
            "african",
            "Someone Else",
            Some("2018-01-05"),
        ),
        (
            "formal",
            "Closed",
            true,
            "ZA",
            "african",
            "Omar al-BASHIR",
            None,
        ),
        ("roster", "Active", false, "NL", "weog", "", None),
        (
            "formal",
            "Referred",
            false,
            "KE",
            "african",
            "Uhuru",
            Some("2018-02-01"),
        ),
    ];
    let mut ids = Vec::new();
    for (i, (procedure, state, closed, iso, region, person, deadline)) in cases.iter().enumerate() {
        let id = new_stream();
        let mut w = write(&format!("l{i}"), id, ExpectedVersion::NoStream, 0..1);
        w.summaries = vec![SummaryUpdate {
            procedure: (*procedure).into(),
            closed: *closed,
            requested_state: (*iso).into(),
            region: (*region).into(),
            person_sought: (*person).into(),
            next_deadline: deadline.map(str::to_owned),
            ..summary(id, &format!("REF-{i}"), None, state)
        }];
        st.append(w).await.unwrap();
        ids.push(id);
    }
    let ids = &ids;
    let list = |f: SummaryFilter| async move {
        let rows = st
            .list_summaries(&SummaryFilter { limit: 100, ..f })
            .await
            .unwrap();
        rows.iter()
            .map(|r| ids.iter().position(|id| *id == r.row.stream).unwrap())
            .collect::<Vec<_>>()
    };
    // Ids are time-ordered: as opened is as written.
    let by = |sorted: &[usize]| {
        let mut v = sorted.to_vec();
        v.sort_by_key(|i| ids[*i]);
        v
    };
    let text = |v: &str| Some(v.to_owned());
    let checks = [
        (SummaryFilter::default(), by(&[0, 1, 2, 3, 4])),
        (
            SummaryFilter {
                procedure: text("cases"),
                ..SummaryFilter::default()
            },
            by(&[0, 1, 2, 4]),
        ),
        (
            SummaryFilter {
                procedure: text("formal"),
                ..SummaryFilter::default()
            },
            by(&[0, 2, 4]),
        ),
        (
            SummaryFilter {
                state: text("Referred"),
                ..SummaryFilter::default()
            },
            by(&[0, 4]),
        ),
        (
            SummaryFilter {
                closed: Some(true),
                ..SummaryFilter::default()
            },
            vec![2],
        ),
        (
            SummaryFilter {
                closed: Some(false),
                ..SummaryFilter::default()
            },
            by(&[0, 1, 3, 4]),
        ),
        (
            SummaryFilter {
                requested_state: text("ZA"),
                ..SummaryFilter::default()
            },
            by(&[1, 2]),
        ),
        (
            SummaryFilter {
                region: text("african"),
                ..SummaryFilter::default()
            },
            by(&[1, 2, 4]),
        ),
        (
            SummaryFilter {
                person_sought: text("bashir"),
                ..SummaryFilter::default()
            },
            by(&[0, 2]),
        ),
        (
            SummaryFilter {
                deadline_before: text("2018-01-10"),
                ..SummaryFilter::default()
            },
            by(&[0, 1]),
        ),
        (
            SummaryFilter {
                region: text("african"),
                closed: Some(false),
                ..SummaryFilter::default()
            },
            by(&[1, 4]),
        ),
        (
            SummaryFilter {
                order: SummaryOrder::NextDeadline,
                ..SummaryFilter::default()
            },
            [vec![1, 0, 4], by(&[2, 3])].concat(),
        ),
    ];
    for (filter, expected) in checks {
        let shown = format!("{filter:?}");
        assert_eq!(list(filter).await, expected, "{shown}");
    }
    // Page after page, two rows at a time, in both orders.
    for order in [SummaryOrder::Opened, SummaryOrder::NextDeadline] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = st
                .list_summaries(&SummaryFilter {
                    order,
                    limit: 2,
                    after: after.as_ref().map(|(id, _): &(StreamId, String)| *id),
                    after_deadline: after.as_ref().map(|(_, d)| d.clone()),
                    ..SummaryFilter::default()
                })
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some((
                last.row.stream,
                last.row
                    .next_deadline
                    .clone()
                    .unwrap_or_else(|| NO_DEADLINE.to_owned()),
            ));
            seen.extend(
                page.iter()
                    .map(|r| ids.iter().position(|id| *id == r.row.stream).unwrap()),
            );
        }
        let all = list(SummaryFilter {
            order,
            ..SummaryFilter::default()
        })
        .await;
        assert_eq!(seen, all, "{order:?}");
    }
    assert_eq!(
        st.summaries_of_procedure("formal", 2)
            .await
            .unwrap()
            .iter()
            .map(|r| r.row.stream)
            .collect::<Vec<_>>(),
        by(&[0, 2, 4])[..2]
            .iter()
            .map(|i| ids[*i])
            .collect::<Vec<_>>()
    );
}
