//! Audit: signed checkpoints of the whole log, verification against them, case exports that
//! can be verified with no database and no server, and explained histories.
//!
//! A checkpoint pins the log as it was: the number of events, a running hash over every
//! event's hash in global order (anchored at regular positions), and every case's chain head,
//! signed with the server's Ed25519 key. Whoever keeps a checkpoint can later prove that the
//! current log still contains, unchanged, everything it covered, even against someone with
//! database access who rewrote history and recomputed every hash. docs/audit.md specifies the
//! formats byte for byte.

pub mod explain;
pub mod export;
pub mod keys;

use std::{collections::BTreeMap, ops::ControlFlow};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{
    EventStore, StoreError, StreamId, canonical_time,
    chain::{ChainBreak, ChainVerifier, Hash},
    scan_log, scan_log_pages,
};

/// Format tag of checkpoints.
pub const CHECKPOINT_FORMAT: &str = "aspflow.checkpoint.v1";

/// Most anchors a checkpoint carries; the anchor interval grows with the log to stay under it.
pub const MAX_ANCHORS: u64 = 16_384;

/// A case's chain head at checkpoint time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseHead {
    /// The case.
    pub case_id: StreamId,
    /// Its version.
    pub version: u64,
    /// The hash of that version.
    pub hash: Hash,
}

/// A signed statement of what the log contained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// Events covered: positions 1 to `head_position`.
    pub head_position: u64,
    /// The running log hash at `head_position` (see [`running_hash`]).
    pub log_root: Hash,
    /// Anchors are the running hash at positions `k * anchor_interval` (and at the head).
    pub anchor_interval: u64,
    /// The running hash at each anchor, in order.
    pub anchors: Vec<Hash>,
    /// Every case's head, sorted by case id.
    pub case_heads: Vec<CaseHead>,
    /// When it was taken.
    pub created_at: DateTime<Utc>,
    /// The signer's public key (hex).
    pub public_key: String,
    /// Ed25519 signature (hex) over [`Checkpoint::signed_bytes`].
    pub signature: String,
}

/// The running log hash: `R0 = SHA-256("aspflow.log.v1")`, `Rn = SHA-256(Rn-1 || hash_n)`.
pub fn running_hash(prev: &Hash, event_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev.0);
    h.update(event_hash.0);
    Hash(h.finalize().into())
}

/// The running hash of the empty log.
pub fn log_genesis() -> Hash {
    Hash(Sha256::digest(b"aspflow.log.v1").into())
}

fn anchor_interval(head: u64) -> u64 {
    head.div_ceil(MAX_ANCHORS).max(1)
}

impl Checkpoint {
    /// The exact bytes that are signed (UTF-8 text, one `key=value` per line).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let anchors: Vec<String> = self.anchors.iter().map(Hash::to_hex).collect();
        let heads: Vec<String> = self
            .case_heads
            .iter()
            .map(|h| format!("{}:{}:{}", h.case_id, h.version, h.hash))
            .collect();
        format!(
            "{}\nhead_position={}\nlog_root={}\nanchor_interval={}\nanchors={}\ncase_heads={}\ncreated_at={}\npublic_key={}\n",
            self.format,
            self.head_position,
            self.log_root,
            self.anchor_interval,
            anchors.join(","),
            heads.join(","),
            canonical_time(self.created_at),
            self.public_key
        )
        .into_bytes()
    }

    /// Checks the signature against `key` (or, without one, against the key the checkpoint
    /// names, which only proves integrity, not origin).
    ///
    /// # Errors
    /// A message saying what does not hold.
    pub fn verify_signature(&self, key: Option<&VerifyingKey>) -> Result<(), String> {
        if self.format != CHECKPOINT_FORMAT {
            return Err(format!("unknown checkpoint format {:?}", self.format));
        }
        let named = keys::parse_public_key(&self.public_key)?;
        let key = match key {
            Some(k) if k.as_bytes() != named.as_bytes() => {
                return Err(format!(
                    "the checkpoint was signed by key {}, not by the key given ({})",
                    self.public_key,
                    hex::encode(k.as_bytes())
                ));
            }
            Some(k) => *k,
            None => named,
        };
        let sig_bytes = hex::decode(&self.signature).map_err(|e| format!("signature: {e}"))?;
        let sig = Signature::from_slice(&sig_bytes).map_err(|e| format!("signature: {e}"))?;
        key.verify(&self.signed_bytes(), &sig)
            .map_err(|_| "the signature does not match the checkpoint's content".to_owned())
    }
}

/// Why a checkpoint cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The log's own chains are broken: the server refuses to sign it.
    #[error("the log is not intact, refusing to sign: {0}")]
    Broken(ChainBreak),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the whole log, verifies it, and signs a checkpoint of it.
///
/// # Errors
/// [`CheckpointError`].
pub async fn take_checkpoint(
    store: &impl EventStore,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<Checkpoint, CheckpointError> {
    let head = store.head_position().await?;
    let interval = anchor_interval(head);
    let mut verifier = ChainVerifier::for_log();
    let mut root = log_genesis();
    let mut anchors = Vec::new();
    let mut heads: BTreeMap<StreamId, (u64, Hash)> = BTreeMap::new();
    let broken = scan_log_pages(store, 1, Some(head), |page| {
        // The page's hashes are checked in parallel first; then it is folded in order.
        if !verifier.push_page(page) {
            return ControlFlow::Break(());
        }
        for e in page {
            root = running_hash(&root, &e.hash);
            if e.global_position % interval == 0 || e.global_position == head {
                anchors.push(root);
            }
            heads.insert(e.stream, (e.version, e.hash));
        }
        ControlFlow::Continue(())
    })
    .await?;
    if broken.is_some() {
        let report = verifier.finish();
        return Err(CheckpointError::Broken(
            report.first_break.expect("a break was found"),
        ));
    }
    let mut cp = Checkpoint {
        format: CHECKPOINT_FORMAT.to_owned(),
        head_position: head,
        log_root: root,
        anchor_interval: interval,
        anchors,
        case_heads: heads
            .into_iter()
            .map(|(case_id, (version, hash))| CaseHead {
                case_id,
                version,
                hash,
            })
            .collect(),
        created_at: crate::store::to_micros(now),
        public_key: hex::encode(key.verifying_key().as_bytes()),
        signature: String::new(),
    };
    cp.signature = hex::encode(key.sign(&cp.signed_bytes()).to_bytes());
    Ok(cp)
}

/// What a verification against a checkpoint found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CheckpointCheck {
    /// Every event the checkpoint covered is still there, unchanged and in place.
    Holds {
        /// Events covered.
        head_position: u64,
    },
    /// The log no longer matches.
    Differs {
        /// The first position that differs, exactly when `first_position == last_position`,
        /// otherwise somewhere in `first_position..=last_position` (one anchor interval).
        first_position: u64,
        /// See `first_position`.
        last_position: u64,
        /// What differs, in words.
        detail: String,
    },
}

/// Checks the current log against a checkpoint (whose signature the caller checked).
///
/// # Errors
/// [`StoreError`] if the log cannot be read.
pub async fn check_against(
    store: &impl EventStore,
    cp: &Checkpoint,
) -> Result<CheckpointCheck, StoreError> {
    let mut root = log_genesis();
    let mut anchor = 0usize;
    let mut last_good = 0u64;
    let mut current_heads: BTreeMap<StreamId, (u64, Hash)> = BTreeMap::new();
    let mut expected_position = 1;
    let differs = scan_log(store, 1, Some(cp.head_position), |e| {
        if e.global_position != expected_position {
            return ControlFlow::Break(CheckpointCheck::Differs {
                first_position: expected_position,
                last_position: expected_position,
                detail: format!(
                    "position {expected_position} is missing from the log (next found: {})",
                    e.global_position
                ),
            });
        }
        expected_position += 1;
        root = running_hash(&root, &e.hash);
        current_heads.insert(e.stream, (e.version, e.hash));
        let is_anchor =
            e.global_position % cp.anchor_interval == 0 || e.global_position == cp.head_position;
        if is_anchor {
            match cp.anchors.get(anchor) {
                Some(a) if *a == root => last_good = e.global_position,
                None => {}
                Some(_) => {
                    return ControlFlow::Break(CheckpointCheck::Differs {
                        first_position: last_good + 1,
                        last_position: e.global_position,
                        detail: format!(
                            "the log's running hash differs from the checkpoint's anchor at position {} (everything up to position {last_good} matches)",
                            e.global_position
                        ),
                    });
                }
            }
            anchor += 1;
        }
        ControlFlow::Continue(())
    })
    .await?;
    if let Some(d) = differs {
        return Ok(d);
    }
    if expected_position <= cp.head_position {
        return Ok(CheckpointCheck::Differs {
            first_position: expected_position,
            last_position: expected_position,
            detail: format!(
                "the log ends at position {}, the checkpoint covered {}",
                expected_position - 1,
                cp.head_position
            ),
        });
    }
    for h in &cp.case_heads {
        match current_heads.get(&h.case_id) {
            Some((v, hash)) if *v == h.version && *hash == h.hash => {}
            other => {
                let found = other.map_or("nothing".to_owned(), |(v, hash)| {
                    format!("version {v} with hash {hash}")
                });
                return Ok(CheckpointCheck::Differs {
                    first_position: last_good + 1,
                    last_position: cp.head_position,
                    detail: format!(
                        "case {} had head version {} with hash {} at the checkpoint; the log now has {found}",
                        h.case_id, h.version, h.hash
                    ),
                });
            }
        }
    }
    Ok(CheckpointCheck::Holds {
        head_position: cp.head_position,
    })
}
