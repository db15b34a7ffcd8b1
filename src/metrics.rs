//! Prometheus metrics (`aspflow serve --metrics ADDR`): what an operator watches.
//!
//! Recorded with the `metrics` facade everywhere; exported in Prometheus text format by
//! `metrics-exporter-prometheus` on `http://ADDR/metrics` when [`install`] ran. Without it
//! every call here is a no-op (tests, tools). The names, labels and meanings are listed in
//! docs/monitoring/README.md, with a Grafana dashboard and alert rules that use them; change
//! them together.

use std::{net::SocketAddr, time::Duration};

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Commands by procedure, command, outcome and code.
pub const COMMANDS: &str = "aspflow_commands_total";
/// Latency of the write RPCs.
pub const EXECUTE_SECONDS: &str = "aspflow_execute_duration_seconds";
/// Events per group commit.
pub const BATCH_SIZE: &str = "aspflow_commit_batch_size";
/// Latency of one group commit.
pub const COMMIT_SECONDS: &str = "aspflow_commit_duration_seconds";
/// The log's head position.
pub const HEAD: &str = "aspflow_log_head_position";
/// Events committed that a subscription has not been sent yet, per subscription.
pub const SUBSCRIPTION_LAG: &str = "aspflow_subscription_lag_events";
/// The largest [`SUBSCRIPTION_LAG`].
pub const SUBSCRIPTION_LAG_MAX: &str = "aspflow_subscription_lag_max_events";
/// Server streams open, by kind.
pub const OPEN_STREAMS: &str = "aspflow_open_streams";
/// Deadlines whose time has come and that are not recorded yet.
pub const DEADLINES_DUE: &str = "aspflow_deadlines_due";
/// How late the oldest due deadline is.
pub const DEADLINE_OLDEST_OVERDUE: &str = "aspflow_deadline_oldest_overdue_seconds";
/// Deadlines the scheduler recorded.
pub const DEADLINES_FIRED: &str = "aspflow_deadlines_fired_total";
/// Case states served from the engine's cache.
pub const CACHE_HITS: &str = "aspflow_case_cache_hits_total";
/// Case states folded from the log.
pub const CACHE_MISSES: &str = "aspflow_case_cache_misses_total";
/// Seconds since the newest signed checkpoint stored in the database.
pub const CHECKPOINT_AGE: &str = "aspflow_checkpoint_age_seconds";
/// Checkpoints this node signed and stored.
pub const CHECKPOINTS: &str = "aspflow_checkpoints_total";
/// 1 when the database answers, 0 when not.
pub const DATABASE_UP: &str = "aspflow_database_up";
/// Always 1, with the version and backend as labels.
pub const BUILD_INFO: &str = "aspflow_build_info";

/// Latency buckets (seconds): from 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];
/// Batch-size buckets (events).
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {message}")]
pub struct MetricsError {
    addr: SocketAddr,
    message: String,
}

/// Installs the process-wide recorder and serves `/metrics` on `addr` (plain HTTP; keep it on
/// loopback or a monitoring network). Call once, inside the runtime.
///
/// # Errors
/// [`MetricsError`] if the address cannot be bound or a recorder is already installed.
pub fn install(addr: SocketAddr, backend: &str) -> Result<(), MetricsError> {
    let err = |e: &dyn std::fmt::Display| MetricsError {
        addr,
        message: e.to_string(),
    };
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), &BATCH_BUCKETS))
        .map_err(|e| err(&e))?
        .install()
        .map_err(|e| err(&e))?;
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "backend" => backend.to_owned())
        .set(1.0);
    Ok(())
}

/// What became of a write, as a label: `ok`, `rejected` (the domain refused; `code` is the
/// rejection code), `conflict`, `invalid`, `denied`, `unavailable` or `error`.
pub fn outcome<T>(result: &Result<T, Status>) -> (&'static str, String) {
    let Err(status) = result else {
        return ("ok", String::new());
    };
    let code = format!("{:?}", status.code());
    match status.code() {
        Code::FailedPrecondition => (
            "rejected",
            status
                .get_details_error_info()
                .map(|i| i.reason)
                .unwrap_or(code),
        ),
        Code::Aborted | Code::AlreadyExists => ("conflict", code),
        Code::InvalidArgument | Code::NotFound | Code::OutOfRange => ("invalid", code),
        Code::PermissionDenied | Code::Unauthenticated => ("denied", code),
        Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded => {
            ("unavailable", code)
        }
        _ => ("error", code),
    }
}

/// Records one write RPC: its outcome and how long it took. Returns the outcome and code
/// ([`outcome`]) for the caller's log line.
pub fn command<T>(
    rpc: &'static str,
    procedure: &str,
    command: &str,
    took: Duration,
    result: &Result<T, Status>,
) -> (&'static str, String) {
    let (outcome, code) = outcome(result);
    counter!(
        COMMANDS,
        "procedure" => procedure.to_owned(),
        "command" => command.to_owned(),
        "outcome" => outcome,
        "code" => code.clone()
    )
    .increment(1);
    histogram!(EXECUTE_SECONDS, "rpc" => rpc).record(took.as_secs_f64());
    (outcome, code)
}

/// Records one group commit of `events` events.
pub fn commit(events: usize, took: Duration) {
    #[allow(clippy::cast_precision_loss)] // a batch holds at most a few hundred events
    histogram!(BATCH_SIZE).record(events as f64);
    histogram!(COMMIT_SECONDS).record(took.as_secs_f64());
}

/// A case state from the cache (`true`) or folded from the log.
pub fn cache(hit: bool) {
    if hit {
        counter!(CACHE_HITS).increment(1);
    } else {
        counter!(CACHE_MISSES).increment(1);
    }
}

/// A gauge of open server streams of one kind, decremented when the guard drops.
pub struct OpenStream(&'static str);

impl OpenStream {
    /// Counts a stream of `kind` (`watch_case`, `subscribe`, `export_case`) as open.
    pub fn new(kind: &'static str) -> Self {
        gauge!(OPEN_STREAMS, "kind" => kind).increment(1.0);
        OpenStream(kind)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        gauge!(OPEN_STREAMS, "kind" => self.0).decrement(1.0);
    }
}

/// Sets a gauge from an integer count or position.
#[allow(clippy::cast_precision_loss)] // exact below 2^53 events
pub fn set(name: &'static str, value: u64) {
    gauge!(name).set(value as f64);
}

/// Sets a gauge from seconds.
pub fn set_seconds(name: &'static str, value: f64) {
    gauge!(name).set(value);
}

/// Counts something that happened `n` times.
pub fn add(name: &'static str, n: u64) {
    counter!(name).increment(n);
}

/// Open subscriptions' lags, by label, for [`SUBSCRIPTION_LAG_MAX`].
static LAGS: std::sync::Mutex<std::collections::BTreeMap<String, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// One open `EventLog.Subscribe` stream's lag gauge. Its label is the caller's subject and the
/// lowest number free for that subject (`alice@asp.example.org#0`), so that the number of
/// series stays bounded by callers times their open streams; a closed stream's series reads 0.
pub struct SubscriptionLag {
    label: String,
}

impl SubscriptionLag {
    /// Registers a new subscription of `subject`.
    pub fn open(subject: &str) -> Self {
        let mut lags = LAGS.lock().unwrap_or_else(|p| p.into_inner());
        let label = (0..)
            .map(|n| format!("{subject}#{n}"))
            .find(|l| !lags.contains_key(l))
            .unwrap_or_default();
        lags.insert(label.clone(), 0);
        SubscriptionLag { label }
    }

    /// Events committed and not yet sent to this subscription.
    pub fn set(&self, lag: u64) {
        let mut lags = LAGS.lock().unwrap_or_else(|p| p.into_inner());
        lags.insert(self.label.clone(), lag);
        publish(&lags, &self.label, lag);
    }
}

impl Drop for SubscriptionLag {
    fn drop(&mut self) {
        let mut lags = LAGS.lock().unwrap_or_else(|p| p.into_inner());
        lags.remove(&self.label);
        publish(&lags, &self.label, 0);
    }
}

#[allow(clippy::cast_precision_loss)] // exact below 2^53 events
fn publish(lags: &std::collections::BTreeMap<String, u64>, label: &str, lag: u64) {
    gauge!(SUBSCRIPTION_LAG, "subscription" => label.to_owned()).set(lag as f64);
    let max = lags.values().copied().max().unwrap_or(0);
    gauge!(SUBSCRIPTION_LAG_MAX).set(max as f64);
}
