//! The node's observer: every [`ServeOptions::observe_every`](super::ServeOptions) it asks the
//! database for the log head and the deadlines that are due, sets the gauges of
//! [`crate::metrics`], and sets readiness (`grpc.health.v1`): every aspflow service and the
//! server as a whole (`""`) are `NOT_SERVING` while the database does not answer, and
//! `SERVING` again as soon as it does. Writes and reads fail with `UNAVAILABLE` meanwhile
//! anyway; readiness lets a load balancer or orchestrator send callers elsewhere first.

use std::time::Duration;

use chrono::NaiveDate;
use tokio::sync::watch;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    engine::Engine,
    metrics,
    store::{CheckpointQuery, EventStore, StoreError},
};

/// The services whose readiness follows the database (full gRPC names), and `""`.
pub const SERVICES: [&str; 6] = [
    "",
    "aspflow.v1.Cases",
    "aspflow.v1.EventLog",
    "aspflow.v1.Roster",
    "aspflow.v1.Audit",
    "aspflow.v1.Server",
];

/// Most due cases counted per look (the gauge saturates there).
const DUE_LIMIT: u32 = 1000;

async fn set_all(health: &HealthReporter, status: ServingStatus) {
    for s in SERVICES {
        health.set_service_status(s, status).await;
    }
}

/// One look: the head and the due deadlines. An error means the database did not answer.
async fn look(engine: &Engine) -> Result<(), StoreError> {
    let store = engine.store();
    let head = store.head_position().await?;
    metrics::set(metrics::HEAD, head);
    let now = engine.clock().now();
    let today = now.date_naive().to_string();
    let due = store.due_deadlines(&today, None, DUE_LIMIT).await?;
    metrics::set(metrics::DEADLINES_DUE, due.len() as u64);
    // A deadline "fires after" its last day: it is due from the next midnight (UTC).
    let overdue = due
        .first()
        .and_then(|d| NaiveDate::parse_from_str(&d.fires_after, "%Y-%m-%d").ok())
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| (now - t.and_utc()).num_milliseconds().max(0))
        .unwrap_or(0);
    #[allow(clippy::cast_precision_loss)] // milliseconds of lateness
    metrics::set_seconds(metrics::DEADLINE_OLDEST_OVERDUE, overdue as f64 / 1000.0);
    let latest = store
        .stored_checkpoints(&CheckpointQuery {
            limit: 1,
            ..CheckpointQuery::default()
        })
        .await?;
    if let Some(at) = latest
        .first()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c.created_at).ok())
    {
        let age = (now - at.with_timezone(&chrono::Utc))
            .num_milliseconds()
            .max(0);
        #[allow(clippy::cast_precision_loss)]
        metrics::set_seconds(metrics::CHECKPOINT_AGE, age as f64 / 1000.0);
    }
    Ok(())
}

/// Runs until `stop` turns true.
pub async fn run(
    engine: Engine,
    health: HealthReporter,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut serving = true;
    loop {
        match look(&engine).await {
            Ok(()) => {
                metrics::set(metrics::DATABASE_UP, 1);
                if !serving {
                    tracing::info!("the database answers again: serving");
                    set_all(&health, ServingStatus::Serving).await;
                    serving = true;
                }
            }
            Err(e) => {
                metrics::set(metrics::DATABASE_UP, 0);
                if serving {
                    tracing::warn!(error = %e, "the database does not answer: not serving");
                    set_all(&health, ServingStatus::NotServing).await;
                    serving = false;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
