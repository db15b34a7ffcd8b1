//! Checkpoints that sign themselves: the server takes a signed checkpoint of the whole log on a
//! schedule (`serve --checkpoint-every 1h`, and `--checkpoint-events N` after every N events)
//! and stores it in the database (table `checkpoints`, append-only like the events), where the
//! Audit service (`ListCheckpoints`) and `aspflow audit verify` find it.
//!
//! Each checkpoint fills a named slot (`every:<seconds>:<n>` for the n-th period since 1970,
//! `events:<N>:<n>` once the log holds n·N events). The slot is unique in the database, so when
//! several nodes share one PostgreSQL exactly one checkpoint per slot is stored: each node looks
//! for the slot first, and if two take it at once, the second insert writes nothing.

use std::{sync::Arc, time::Duration};

use ed25519_dalek::SigningKey;
use tokio::sync::watch;

use crate::{
    audit,
    engine::Engine,
    metrics,
    store::{CheckpointQuery, EventStore, StoredCheckpoint, canonical_time},
};

/// When checkpoints are taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    /// One per period of this length (`None`: not by time).
    pub every: Option<Duration>,
    /// One each time the log has grown by this many events (`None`: not by count).
    pub events: Option<u64>,
    /// How often the node looks whether a slot is due.
    pub look_every: Duration,
}

impl Schedule {
    /// Whether anything is scheduled.
    pub fn is_on(&self) -> bool {
        self.every.is_some() || self.events.is_some()
    }
}

/// The slots due now, given the clock and the log head.
pub fn due_slots(schedule: &Schedule, now_secs: i64, head: u64) -> Vec<String> {
    let mut slots = Vec::new();
    if head == 0 {
        return slots; // nothing to sign yet
    }
    if let Some(every) = schedule.every {
        let secs = every.as_secs().max(1);
        let n = now_secs.div_euclid(i64::try_from(secs).unwrap_or(i64::MAX));
        slots.push(format!("every:{secs}:{n}"));
    }
    if let Some(n) = schedule.events.filter(|n| *n > 0)
        && head >= n
    {
        slots.push(format!("events:{n}:{}", head / n));
    }
    slots
}

/// Takes and stores the checkpoint of `period` unless it is stored already. `Ok(true)` when
/// this node stored it.
///
/// # Errors
/// A sentence for the log: the database failed, or the log is broken (never signed).
pub async fn sign_slot(engine: &Engine, key: &SigningKey, period: &str) -> Result<bool, String> {
    let store = engine.store();
    let taken = store
        .stored_checkpoints(&CheckpointQuery {
            period: Some(period.to_owned()),
            limit: 1,
            ..CheckpointQuery::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    if !taken.is_empty() {
        return Ok(false);
    }
    let cp = audit::take_checkpoint(store, key, engine.clock().now())
        .await
        .map_err(|e| match e {
            audit::CheckpointError::Broken(b) => format!("the log is not intact, not signing: {b}"),
            audit::CheckpointError::Store(s) => s.to_string(),
        })?;
    let row = StoredCheckpoint {
        id: 0,
        period: period.to_owned(),
        public_key: cp.public_key.clone(),
        head_position: cp.head_position,
        created_at: canonical_time(cp.created_at),
        checkpoint_json: serde_json::to_string(&cp).map_err(|e| e.to_string())?,
    };
    let stored = store
        .store_checkpoint(&row)
        .await
        .map_err(|e| e.to_string())?;
    if stored {
        metrics::add(metrics::CHECKPOINTS, 1);
        tracing::info!(period, head = cp.head_position, "signed checkpoint stored");
    }
    Ok(stored)
}

/// Runs the schedule until `stop` turns true.
pub async fn run(
    engine: Engine,
    key: Arc<SigningKey>,
    schedule: Schedule,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match engine.store().head_position().await {
            Ok(head) => {
                let now = engine.clock().now().timestamp();
                for period in due_slots(&schedule, now, head) {
                    if let Err(e) = sign_slot(&engine, &key, &period).await {
                        tracing::error!(period, error = %e, "scheduled checkpoint not taken");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "scheduled checkpoints: the log head cannot be read")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(schedule.look_every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// A period given on the command line; `None` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period(pub Option<Duration>);

/// [`parse_period`] for clap.
///
/// # Errors
/// As [`parse_period`].
pub fn parse_period_arg(text: &str) -> Result<Period, String> {
    parse_period(text).map(Period)
}

/// Parses a period such as `90s`, `15m`, `1h`, `1d` (a bare number is seconds; `0` is off).
///
/// # Errors
/// A sentence saying what was expected.
pub fn parse_period(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?}: expected a period such as 30s, 15m, 1h or 1d (0: off)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => {
            return Err(format!(
                "{text:?}: expected a period such as 30s, 15m, 1h or 1d (0: off)"
            ));
        }
    };
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Schedule, due_slots, parse_period};

    #[test]
    fn periods_parse() {
        assert_eq!(parse_period("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(parse_period("90"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_period("0"), Ok(None));
        assert!(parse_period("1 week").is_err());
        assert!(parse_period("h").is_err());
    }

    #[test]
    fn slots_follow_the_clock_and_the_count() {
        let s = Schedule {
            every: Some(Duration::from_secs(3600)),
            events: Some(1000),
            look_every: Duration::from_secs(1),
        };
        assert!(due_slots(&s, 7200, 0).is_empty());
        assert_eq!(due_slots(&s, 7200, 999), ["every:3600:2"]);
        assert_eq!(
            due_slots(&s, 10_799, 2500),
            ["every:3600:2", "events:1000:2"]
        );
        assert_eq!(
            due_slots(&s, 10_800, 3000),
            ["every:3600:3", "events:1000:3"]
        );
    }
}
