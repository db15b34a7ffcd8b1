//! `aspflow bench-streams`: what open streams cost the server. Runs an in-process server on a
//! fresh database and measures, without and then with N idle `WatchCase` streams plus one
//! `EventLog.Subscribe` stream whose client never reads: the process's CPU while idle, Execute
//! latency under a steady write load, and resident memory. Prints figures; asserts nothing.

use std::time::Instant;

use clap::Args;

use super::bench::{InProcess, consultation_request, open_request, percentile, request};
use crate::pb::{self, cases_client::CasesClient, event_log_client::EventLogClient};

/// `aspflow bench-streams` options.
#[derive(Debug, Args)]
pub struct StreamsBenchArgs {
    /// Database URL (default: a new SQLite file in a temporary directory).
    #[arg(long)]
    pub db: Option<String>,
    /// Idle WatchCase streams.
    #[arg(long, default_value_t = 500)]
    pub watchers: usize,
    /// Commands written in each measuring phase (by 4 clients).
    #[arg(long, default_value_t = 4000)]
    pub commands: usize,
}

/// CPU seconds used by this process so far (user + system), from /proc.
pub(super) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name's closing parenthesis; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

async fn idle_cpu_percent() -> f64 {
    let c0 = cpu_seconds();
    let t0 = Instant::now();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    (cpu_seconds() - c0) / t0.elapsed().as_secs_f64() * 100.0
}

/// Four writers, each on a case of its own opened for this phase (so that every phase writes
/// to cases of the same size and only the streams differ).
async fn write_load(
    channel: &tonic::transport::Channel,
    commands: usize,
    phase: &str,
) -> anyhow::Result<(f64, f64, f64)> {
    let mut cases = Vec::new();
    let mut c = CasesClient::new(channel.clone());
    for i in 0..4 {
        let mut open = open_request(i);
        open.request_id = format!("streams-open-{phase}-{i}");
        let r = c.open_formal_case(request(open, "court_liaison")?).await?;
        cases.push(r.into_inner().case.map(|c| c.case_id).unwrap_or_default());
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (w, id) in cases.into_iter().enumerate() {
        let mut c = CasesClient::new(channel.clone());
        let phase = phase.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for k in 0..commands / 4 {
                let req = consultation_request(
                    &id,
                    format!("streams-{phase}-{w}-{k}"),
                    format!("{phase}-{w}-{k}"),
                );
                let t = Instant::now();
                c.execute(request(req, "court_liaison")?).await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    Ok((rate, percentile(&all, 0.5), percentile(&all, 0.99)))
}

/// Runs the benchmark.
///
/// # Errors
/// Set-up failures.
pub async fn run(a: StreamsBenchArgs) -> anyhow::Result<()> {
    let bench = InProcess::start(a.db.as_deref(), "bench-streams.db").await?;
    let channel = bench.channel.clone();
    let addr = bench.addr;
    let mut c = CasesClient::new(channel.clone());
    let mut cases = Vec::new();
    for i in 0..=a.watchers.div_ceil(10).max(1) {
        let r = c
            .open_formal_case(request(open_request(i), "court_liaison")?)
            .await?;
        cases.push(r.into_inner().case.map(|c| c.case_id).unwrap_or_default());
    }
    println!(
        "bench-streams (load average {})",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let idle = idle_cpu_percent().await;
    let (rate, p50, p99) = write_load(&channel, a.commands, "before").await?;
    println!(
        "no streams:   idle CPU {idle:5.1}% | writes {rate:6.0}/s p50 {p50:.2} ms p99 {p99:.2} ms | RSS {:.0} MiB",
        rss_mib()
    );
    // Idle watchers on the other cases; and one subscriber from position 1 that never reads.
    let mut held = Vec::new();
    for i in 0..a.watchers {
        let mut w = CasesClient::new(channel.clone());
        // One subject per watcher: a caller may hold only so many streams.
        let mut r = request(
            pb::WatchCaseRequest {
                case_id: cases[1 + i % (cases.len() - 1)].clone(),
                from_version: 2,
            },
            "observer",
        )?;
        r.metadata_mut()
            .insert(crate::api::auth::SUBJECT, format!("watcher-{i}").parse()?);
        let s = w.watch_case(r).await?.into_inner();
        held.push(s);
    }
    // Its own connection, so that its unread data fills only its own flow-control windows.
    let lagging = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let never_read = EventLogClient::new(lagging)
        .subscribe(request(
            pb::SubscribeRequest {
                from_position: 1,
                ..Default::default()
            },
            "observer",
        )?)
        .await?
        .into_inner();
    let idle = idle_cpu_percent().await;
    let (rate, p50, p99) = write_load(&channel, a.commands, "after").await?;
    println!(
        "{} watchers + 1 unread subscriber: idle CPU {idle:5.1}% | writes {rate:6.0}/s p50 {p50:.2} ms p99 {p99:.2} ms | RSS {:.0} MiB",
        a.watchers,
        rss_mib()
    );
    for round in 1..=3 {
        let (rate, p50, p99) = write_load(&channel, a.commands, &format!("more-{round}")).await?;
        println!(
            "  {} more events (round {round}), subscriber still not reading: writes {rate:6.0}/s p50 {p50:.2} ms p99 {p99:.2} ms | RSS {:.0} MiB",
            a.commands,
            rss_mib()
        );
    }
    drop(held);
    drop(never_read);
    bench.finish().await;
    Ok(())
}
