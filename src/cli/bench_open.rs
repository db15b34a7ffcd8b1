//! `aspflow bench-open`: the cost of the common operations as the log grows. Fills a database
//! with formal cases through the engine's own write path and, at each size, measures one after
//! the other: opening one more case (and 16 at once), executing a command on a case chosen at
//! random among all (so, past the state cache's size, mostly on cases not in memory), listing
//! a page of cases (the console's first page: all cases by next deadline; and a filter by a
//! State no case has), beside a raw one-row commit
//! on the same database; and the process's resident memory. Prints figures; asserts nothing.

use std::{sync::Arc, time::Instant};

use clap::Args;

use super::bench::{bench_store, consultation_request, open_request, percentile};
use crate::{
    api::convert,
    clock::{SystemClock, V7Ids},
    domain::{CaseId, Principal, ProcedureRules, Role},
    engine::Engine,
    store::{AnyStore, EventStore, SummaryFilter},
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

async fn open_one(engine: &Engine, i: usize) -> anyhow::Result<(f64, CaseId)> {
    let cmd = convert::open_formal(&open_request(i)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let who = Principal::new("bench", Role::CourtLiaison);
    let started = Instant::now();
    let o = engine
        .open(&who, &format!("bench-open-{i}"), cmd)
        .await
        .map_err(|e| anyhow::anyhow!("open {i}: {e}"))?;
    Ok((started.elapsed().as_secs_f64() * 1000.0, o.case.id))
}

/// Records an art. 97 consultation request on `case`.
async fn execute_one(engine: &Engine, case: CaseId, k: usize) -> anyhow::Result<f64> {
    let req = consultation_request(&case.to_string(), format!("x-{k}"), format!("c-{k}"));
    let act = convert::act(req.act.as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cmd = convert::command(req.command.as_ref(), engine.default_rules())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let who = Principal::new("bench", Role::CourtLiaison);
    let started = Instant::now();
    engine
        .execute(&who, case, None, &req.request_id, act, cmd)
        .await
        .map_err(|e| anyhow::anyhow!("execute on {case}: {e}"))?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Reads a page of 25 summaries with `filter`.
async fn list_one(store: &AnyStore, filter: &SummaryFilter) -> anyhow::Result<f64> {
    let started = Instant::now();
    store.list_summaries(filter).await?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// The process's resident memory in MiB (Linux), or 0.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
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

pub(super) fn load_average() -> String {
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
        "{:>7} | {:>8} {:>8} | {:>8} {:>8} | {:>8} {:>8} | {:>8} {:>8} | {:>8} {:>8} | {:>8} {:>8} | {:>7}",
        "cases",
        "open p50",
        "p99",
        "burst16",
        "p99",
        "exec p50",
        "p99",
        "list p50",
        "p99",
        "scan p50",
        "p99",
        "raw p50",
        "p99",
        "RSS MiB"
    );
    let mut next = 0_usize;
    let mut ids: Vec<CaseId> = Vec::new();
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    // The console's first page: every case, by next deadline.
    let first_page = SummaryFilter {
        procedure: Some("cases".into()),
        order: crate::store::SummaryOrder::NextDeadline,
        limit: 25,
        ..SummaryFilter::default()
    };
    let no_match = SummaryFilter {
        procedure: Some("formal".into()),
        requested_state: Some("XX".into()),
        limit: 25,
        ..SummaryFilter::default()
    };
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
                ids.push(t.await??.1);
            }
            next += n;
        }
        let (mut one, mut raw, mut exec, mut list, mut scan) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for k in 0..a.samples {
            let (ms, id) = open_one(&engine, 10_000_000 + target * 10 + k).await?;
            one.push(ms);
            ids.push(id);
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let pick = ids[usize::try_from(seed % ids.len() as u64).unwrap_or(0)];
            exec.push(execute_one(&engine, pick, target * 10 + k).await?);
            list.push(list_one(&store, &first_page).await?);
            scan.push(list_one(&store, &no_match).await?);
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
            let (ms, id) = t.await??;
            burst.push(ms);
            ids.push(id);
        }
        for v in [
            &mut one, &mut raw, &mut burst, &mut exec, &mut list, &mut scan,
        ] {
            v.sort_by(f64::total_cmp);
        }
        let p = |v: &[f64]| (percentile(v, 0.5), percentile(v, 0.99));
        let cells: Vec<String> = [p(&one), p(&burst), p(&exec), p(&list), p(&scan), p(&raw)]
            .iter()
            .map(|(a, b)| format!("{a:>6.2}ms {b:>6.2}ms"))
            .collect();
        println!("{target:>7} | {} | {:>7.0}", cells.join(" | "), rss_mib());
        next += a.samples + 16;
    }
    println!("load average at end: {}", load_average());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
