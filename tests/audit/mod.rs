//! Audit: signed checkpoints catch what hash chains alone cannot (a re-chained history, a
//! removed newest event), exports verify with no database, and every tampering is reported
//! precisely. Runs on both backends; tampering disables the append-only triggers for real.

use std::io::Cursor;

use aspflow::{
    audit::{self, CheckpointCheck, export},
    store::{EventStore, ExpectedVersion, StreamId, chain},
};
use ed25519_dalek::SigningKey;

use crate::util::{Backend, TestStore, new_stream, write};

mod fixtures;

macro_rules! audit_tests {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let s = crate::util::TestStore::sqlite().await;
                    super::$name(&s).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(aspflow_pg), ignore = "PostgreSQL: set DATABASE_URL to run")]
                async fn $name() {
                    let Some(s) = crate::util::TestStore::postgres().await else { return };
                    super::$name(&s).await;
                }
            )*
        }
    };
}

audit_tests!(
    checkpoint_holds_on_an_untouched_log_and_after_appends,
    checkpoint_catches_a_rechained_case_at_its_first_position,
    checkpoint_catches_removal_of_the_newest_event,
    checkpoint_signature_is_checked,
    exports_verify_offline_and_expose_tampering,
    broken_log_is_not_signed,
);

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

async fn seeded(s: &TestStore) -> (StreamId, StreamId) {
    let (a, b) = (new_stream(), new_stream());
    s.store
        .append(write("a1", a, ExpectedVersion::NoStream, 1..4))
        .await
        .unwrap();
    s.store
        .append(write("b1", b, ExpectedVersion::NoStream, 1..3))
        .await
        .unwrap();
    s.store
        .append(write("a2", a, ExpectedVersion::Exact(3), 4..6))
        .await
        .unwrap();
    (a, b)
}

fn hexlit(s: &TestStore, bytes: &[u8]) -> String {
    match s.backend {
        Backend::Sqlite => format!("X'{}'", hex::encode(bytes)),
        Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(bytes)),
    }
}

async fn checkpoint_holds_on_an_untouched_log_and_after_appends(s: &TestStore) {
    let (a, _) = seeded(s).await;
    let cp = audit::take_checkpoint(&s.store, &key(), crate::util::t0())
        .await
        .unwrap();
    assert_eq!(cp.head_position, 7);
    assert_eq!(cp.case_heads.len(), 2);
    cp.verify_signature(Some(&key().verifying_key())).unwrap();
    assert_eq!(
        audit::check_against(&s.store, &cp).await.unwrap(),
        CheckpointCheck::Holds { head_position: 7 }
    );
    // Later appends do not disturb what the checkpoint covered.
    s.store
        .append(write("a3", a, ExpectedVersion::Exact(5), 6..8))
        .await
        .unwrap();
    assert!(matches!(
        audit::check_against(&s.store, &cp).await.unwrap(),
        CheckpointCheck::Holds { .. }
    ));
    // The checkpoint survives a JSON round trip (it is kept in a file).
    let text = serde_json::to_string(&cp).unwrap();
    let back: audit::Checkpoint = serde_json::from_str(&text).unwrap();
    back.verify_signature(Some(&key().verifying_key())).unwrap();
}

async fn checkpoint_catches_a_rechained_case_at_its_first_position(s: &TestStore) {
    let (a, _) = seeded(s).await;
    let cp = audit::take_checkpoint(&s.store, &key(), crate::util::t0())
        .await
        .unwrap();
    // Rewrite case a's version 2 (position 2) and recompute every hash after it.
    let mut events = s.store.read_stream(a, 1, None).await.unwrap();
    events[1].payload = br#"{"n": 2, "note": "forged"}"#.to_vec();
    for i in 1..events.len() {
        events[i].prev_hash = events[i - 1].hash;
        events[i].hash = chain::event_hash(&events[i]);
    }
    for e in &events[1..] {
        s.tamper(&format!(
            "UPDATE events SET payload = {}, prev_hash = {}, hash = {} WHERE global_position = {}",
            hexlit(s, &e.payload),
            hexlit(s, &e.prev_hash.0),
            hexlit(s, &e.hash.0),
            e.global_position
        ))
        .await;
    }
    // The chains alone are consistent again...
    assert!(chain::verify_log(&s.store).await.unwrap().is_intact());
    // ...but not with the checkpoint taken before, which names the first rewritten position.
    match audit::check_against(&s.store, &cp).await.unwrap() {
        CheckpointCheck::Differs {
            first_position,
            last_position,
            ..
        } => assert_eq!((first_position, last_position), (2, 2)),
        other => panic!("rewriting went unnoticed: {other:?}"),
    }
}

async fn checkpoint_catches_removal_of_the_newest_event(s: &TestStore) {
    let (a, _) = seeded(s).await;
    let cp = audit::take_checkpoint(&s.store, &key(), crate::util::t0())
        .await
        .unwrap();
    s.tamper(&format!(
        "DELETE FROM events WHERE case_id = {} AND version = 5",
        s.case_literal(a)
    ))
    .await;
    // Removing the newest event leaves every chain intact.
    assert!(chain::verify_log(&s.store).await.unwrap().is_intact());
    match audit::check_against(&s.store, &cp).await.unwrap() {
        CheckpointCheck::Differs {
            first_position,
            detail,
            ..
        } => {
            assert_eq!(first_position, 7, "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

async fn checkpoint_signature_is_checked(s: &TestStore) {
    seeded(s).await;
    let cp = audit::take_checkpoint(&s.store, &key(), crate::util::t0())
        .await
        .unwrap();
    let mut forged = cp.clone();
    forged.head_position = 6;
    assert!(
        forged
            .verify_signature(None)
            .unwrap_err()
            .contains("signature")
    );
    let other = SigningKey::from_bytes(&[1; 32]).verifying_key();
    assert!(
        cp.verify_signature(Some(&other))
            .unwrap_err()
            .contains("signed by key")
    );
    // A checkpoint re-signed by someone else's key is refused when the server's key is pinned.
    let mut resigned = audit::take_checkpoint(
        &s.store,
        &SigningKey::from_bytes(&[9; 32]),
        crate::util::t0(),
    )
    .await
    .unwrap();
    resigned.created_at = cp.created_at;
    assert!(
        resigned
            .verify_signature(Some(&key().verifying_key()))
            .is_err()
    );
}

async fn exports_verify_offline_and_expose_tampering(s: &TestStore) {
    let (a, _) = seeded(s).await;
    let cp = audit::take_checkpoint(&s.store, &key(), crate::util::t0())
        .await
        .unwrap();
    let lines = export::export_lines(&s.store, a, crate::util::t0(), Some(cp))
        .await
        .unwrap();
    assert_eq!(lines.len(), 6);
    let file = lines.join("\n");
    let pinned = key().verifying_key();
    let ok = export::verify_export(Cursor::new(file.clone()), Some(&pinned)).unwrap();
    assert!(ok.is_intact(), "{ok:?}");
    assert_eq!(ok.events, 5);
    // A changed payload byte breaks the chain at that version.
    let mut ev: aspflow::store::RecordedEvent = serde_json::from_str(&lines[3]).unwrap();
    ev.payload[2] ^= 1;
    let mut altered = lines.clone();
    altered[3] = serde_json::to_string(&ev).unwrap();
    let r = export::verify_export(Cursor::new(altered.join("\n")), Some(&pinned)).unwrap();
    assert!(!r.is_intact());
    assert_eq!(r.first_break.unwrap().version, 3);
    // Re-chaining the file consistently is caught by the signed checkpoint in its header.
    let mut events: Vec<aspflow::store::RecordedEvent> = lines[1..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    events[2].payload = b"{}".to_vec();
    for i in 2..events.len() {
        events[i].prev_hash = events[i - 1].hash;
        events[i].hash = chain::event_hash(&events[i]);
    }
    let mut rechained = vec![lines[0].clone()];
    rechained.extend(events.iter().map(|e| serde_json::to_string(e).unwrap()));
    let r = export::verify_export(Cursor::new(rechained.join("\n")), Some(&pinned)).unwrap();
    assert!(r.first_break.is_none());
    assert!(
        matches!(&r.checkpoint, Some(Err(m)) if m.contains("signed checkpoint says")),
        "{r:?}"
    );
    // A missing line is a version gap.
    let mut gap = lines.clone();
    gap.remove(2);
    let r = export::verify_export(Cursor::new(gap.join("\n")), None).unwrap();
    assert!(!r.is_intact());
    // Not an export at all: an error, not a verdict.
    assert!(export::verify_export(Cursor::new("hello".to_owned()), None).is_err());
}

async fn broken_log_is_not_signed(s: &TestStore) {
    let (a, _) = seeded(s).await;
    s.tamper(&format!(
        "UPDATE events SET actor = 'mallory' WHERE case_id = {} AND version = 1",
        s.case_literal(a)
    ))
    .await;
    assert!(matches!(
        audit::take_checkpoint(&s.store, &key(), crate::util::t0()).await,
        Err(audit::CheckpointError::Broken(_))
    ));
}
