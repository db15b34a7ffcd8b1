//! `aspflow bench-open`: opening a case as the log grows. Fills a database with formal cases
//! through the engine's own write path and, at each size, measures opening one more (one at a
//! time, and 16 at once), beside a raw one-row commit on the same database. Prints figures;
//! asserts nothing.

use std::{sync::Arc, time::Instant};

use clap::Args;

use super::bench::{bench_store, open_request, percentile};
use crate::{
    api::convert,
    clock::{SystemClock, V7Ids},
    domain::{Principal, ProcedureRules, Role},
    engine::Engine,
    store::{AnyStore, EventStore},
};

/// `aspflow bench-open` options.
#[derive(Debug, Args)]
pub struct OpenBenchArgs {
    /// Database URL (default: a new SQLite file in a temporary directory).
    #[arg(long)]
    pub db: Option<String>,
    /// Case counts at which to measure (comma-separated, increasing).
    #[arg(long, default_value = "100,1000,10000,100000", value_delimiter = ',')]
    pub at: Vec<usize>,
    /// Opens measured one after the other at each size.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
}

async fn open_one(engine: &Engine, i: usize) -> anyhow::Result<f64> {
    let cmd = convert::open_formal(&open_request(i)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let who = Principal::new("bench", Role::CourtLiaison);
    let started = Instant::now();
    engine
        .open(&who, &format!("bench-open-{i}"), cmd)
        .await
        .map_err(|e| anyhow::anyhow!("open {i}: {e}"))?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

async fn raw_commit(store: &AnyStore, i: usize) -> anyhow::Result<f64> {
    let body = vec![0_u8; 300];
    let started = Instant::now();
    match store {
        AnyStore::Sqlite(s) => {
            sqlx::query("INSERT INTO bench_raw (n, body) VALUES ($1, $2)")
                .bind(i64::try_from(i)?)
                .bind(&body)
                .execute(s.pool())
                .await?;
        }
        AnyStore::Postgres(s) => {
            sqlx::query("INSERT INTO bench_raw (n, body) VALUES ($1, $2)")
                .bind(i64::try_from(i)?)
                .bind(&body)
                .execute(s.pool())
                .await?;
        }
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs the benchmark.
///
/// # Errors
/// Set-up failures.
pub async fn run(a: OpenBenchArgs) -> anyhow::Result<()> {
    let (dir, _, store) = bench_store(a.db.as_deref(), "bench-open.db").await?;
    match &store {
        AnyStore::Sqlite(s) => {
            sqlx::query("CREATE TABLE IF NOT EXISTS bench_raw (n BIGINT, body BLOB)")
                .execute(s.pool())
                .await?;
        }
        AnyStore::Postgres(s) => {
            sqlx::query("CREATE TABLE IF NOT EXISTS bench_raw (n BIGINT, body BYTEA)")
                .execute(s.pool())
                .await?;
        }
    }
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(V7Ids),
        ProcedureRules::default(),
    );
    println!(
        "bench-open on {} (load average at start: {})",
        store.backend(),
        load_average()
    );
    println!(
        "{:>8} | {:>9} {:>9} | {:>13} {:>13} | {:>9} {:>9}",
        "cases", "open p50", "open p99", "16-burst p50", "16-burst p99", "raw p50", "raw p99"
    );
    let mut next = 0_usize;
    for &target in &a.at {
        // Fill to `target` with 32 openers at a time through the engine.
        while next < target {
            let n = (target - next).min(32);
            let mut tasks = Vec::with_capacity(n);
            for i in next..next + n {
                let e = engine.clone();
                tasks.push(tokio::spawn(async move { open_one(&e, i).await }));
            }
            for t in tasks {
                t.await??;
            }
            next += n;
        }
        let mut one = Vec::with_capacity(a.samples);
        let mut raw = Vec::with_capacity(a.samples);
        for k in 0..a.samples {
            one.push(open_one(&engine, 10_000_000 + target * 10 + k).await?);
            raw.push(raw_commit(&store, k).await?);
        }
        let mut burst = Vec::new();
        let mut tasks = Vec::new();
        for k in 0..16 {
            let e = engine.clone();
            tasks.push(tokio::spawn(async move {
                open_one(&e, 20_000_000 + target * 10 + k).await
            }));
        }
        for t in tasks {
            burst.push(t.await??);
        }
        for v in [&mut one, &mut raw, &mut burst] {
            v.sort_by(f64::total_cmp);
        }
        println!(
            "{:>8} | {:>7.2}ms {:>7.2}ms | {:>11.2}ms {:>11.2}ms | {:>7.2}ms {:>7.2}ms",
            target,
            percentile(&one, 0.5),
            percentile(&one, 0.99),
            percentile(&burst, 0.5),
            percentile(&burst, 0.99),
            percentile(&raw, 0.5),
            percentile(&raw, 0.99),
        );
        next += a.samples + 16;
    }
    println!("load average at end: {}", load_average());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
