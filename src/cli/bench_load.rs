//! `aspflow bench`: a mixed workload over real gRPC connections, against a server in another
//! process (`--server`) or in this one, beside a raw baseline that writes the same rows into
//! the same database. Prints figures; asserts nothing.
//!
//! Each client runs, for a warm-up and then a measured period:
//! - on a case of its own, the art. 97 consultation cycle (requested, held, answered), several
//!   times, then opens a new case (a realistic case does not grow without end);
//! - a share of reads (`GetCase`, and one in five `ListCases`);
//! - one client in `--conflicting-every` instead records consultations on a few cases shared
//!   with others, with an explicit expected version: it meets `ABORTED` when another got there
//!   first and retries with the current version the status names (`VersionConflict`), reading
//!   the case only when it does not know the version.
//!
//! With `--floor`, before each round the same clients on the same connections call
//! `grpc.health.v1.Health/Check` back to back for the same time: what gRPC alone carries
//! between this load generator and the server on this machine, with no engine and no
//! database. Each round also prints the CPU the load generator used (it shares the machine's
//! cores with the server).
//!
//! Latencies go into HDR histograms (microseconds, 3 significant digits).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tonic_types::StatusExt;

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use tonic::{Code, transport::Channel};

use super::bench::{InProcess, consultation_request, open_request, request};
use super::bench_open::load_average;
use super::bench_streams::cpu_seconds;
use crate::{
    pb::{self, cases_client::CasesClient, execute_request::Command as C},
    store::{AnyStore, EventStore, StoreConfig},
};

/// `aspflow bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A running server to load, e.g. http://127.0.0.1:50051 (started without token
    /// authentication: the clients pick their role). Default: a server in this process on
    /// `--db`.
    #[arg(long)]
    pub server: Option<String>,
    /// Database URL: the in-process server's (default: a new SQLite file in a temporary
    /// directory); with `--server`, the server's own database, which `--baseline` writes to.
    #[arg(long)]
    pub db: Option<String>,
    /// Client counts, one round each (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub clients: Vec<usize>,
    /// Measured seconds per round.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Warm-up seconds per round (the same load, not measured).
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// All clients share one connection (default: one connection per client).
    #[arg(long)]
    pub shared_connection: bool,
    /// Share of operations that are reads, in percent.
    #[arg(long, default_value_t = 10)]
    pub reads: u32,
    /// One client in N works on shared cases with explicit expected versions (0: none).
    #[arg(long, default_value_t = 8)]
    pub conflicting_every: usize,
    /// Consultations (three commands each) on a case before its client opens a new one.
    #[arg(long, default_value_t = 10)]
    pub consultations_per_case: u32,
    /// After each round, write the same rows (event, request, read-model row) straight into
    /// scratch tables of the same database, by as many clients, through a group commit of the
    /// same batch size, for the same time: the database's own limit, printed beside.
    #[arg(long)]
    pub baseline: bool,
    /// What the commands' answers carry: `full` (the default of the API) or `compact`
    /// (ExecuteRequest.reply = REPLY_VIEW_COMPACT: no state_json, no available actions).
    #[arg(long, default_value = "full", value_parser = ["full", "compact"])]
    pub reply: String,
    /// Before each round, the same clients on the same kind of connections call
    /// `grpc.health.v1.Health/Check` for the same time (no engine, no database): what gRPC
    /// alone carries between this load generator and the server on this machine, printed
    /// beside the round.
    #[arg(long)]
    pub floor: bool,
}

/// The operations, in report order. The first three are durable commands; `aborted` is a
/// command on a shared case that met `ABORTED` (nothing written), timed but not counted.
const OPS: [&str; 6] = ["open", "execute", "shared", "aborted", "get", "list"];

/// One client's figures.
struct Tally {
    hist: Vec<Histogram<u64>>,
    conflicts: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Tally {
            hist: OPS
                .iter()
                .map(|_| Histogram::new_with_bounds(1, 120_000_000, 3))
                .collect::<Result<_, _>>()?,
            conflicts: 0,
            errors: 0,
            first_error: None,
        })
    }

    fn merge(&mut self, other: &Tally) -> anyhow::Result<()> {
        for (a, b) in self.hist.iter_mut().zip(&other.hist) {
            a.add(b)?;
        }
        self.conflicts += other.conflicts;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        Ok(())
    }

    fn record(&mut self, op: usize, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self.hist[op].record(us.min(120_000_000));
    }

    fn error(&mut self, e: &tonic::Status) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{:?}: {}", e.code(), e.message()));
        }
    }
}

/// A small deterministic generator (xorshift64*): the workload is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        u32::try_from((x >> 32) % u64::from(n.max(1))).unwrap_or(0)
    }
}

/// What every client of a round shares.
struct Round {
    /// `ExecuteRequest.reply` for every command.
    reply: i32,
    measure_from: Instant,
    until: Instant,
    reads: u32,
    per_case: u32,
    /// The shared cases (ids), replaced by a fresh case once one has grown long.
    shared: Mutex<Vec<String>>,
}

/// Events after which a shared case is replaced by a fresh one.
const SHARED_CASE_LENGTH: u64 = 100;

/// Step `step` (requested, held, answered) of consultation `n`, as request `op` of the client
/// tagged `tag`.
fn consultation_command(
    case_id: &str,
    n: u32,
    step: u32,
    tag: &str,
    op: u32,
) -> pb::ExecuteRequest {
    let reference = format!("{tag}-c{n}");
    let mut req = consultation_request(case_id, format!("{tag}-op{op}"), reference.clone());
    req.command = Some(match step {
        0 => C::RecordConsultationRequested(pb::RecordConsultationRequested {
            reference,
            problems: vec!["other".into()],
        }),
        1 => C::RecordConsultationHeld(pb::RecordConsultationHeld { reference }),
        _ => C::RecordConsultationAnswered(pb::RecordConsultationAnswered {
            reference,
            summary: "consultations must be timely to be meaningful".into(),
        }),
    });
    req
}

async fn open_case(c: &mut CasesClient<Channel>, i: usize) -> Result<(String, u64), tonic::Status> {
    let req = request(open_request(i), "court_liaison")
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    let r = c.open_formal_case(req).await?.into_inner();
    let case = r.case.unwrap_or_default();
    Ok((case.case_id, case.version))
}

/// One client: runs until the round ends, then returns its figures.
async fn client(
    mut c: CasesClient<Channel>,
    i: usize,
    conflicting: bool,
    round: Arc<Round>,
) -> anyhow::Result<Tally> {
    let mut t = Tally::new()?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0x1000_0000_01B3));
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut own: Option<String> = None;
    let (mut consultation, mut step) = (0_u32, 0_u32);
    let mut known: HashMap<String, u64> = HashMap::new();
    let mut n = 0_u32;
    while Instant::now() < round.until {
        n += 1;
        let started = Instant::now();
        let measured = started >= round.measure_from;
        let tag = format!("b{run}-{i}");
        // A read, or the client's write.
        let (op, result) = if rng.below(100) < round.reads {
            let target = own.clone().unwrap_or_default();
            if rng.below(5) == 0 || target.is_empty() {
                let req = request(
                    pb::ListCasesRequest {
                        procedure: "formal".into(),
                        page_size: 25,
                        ..Default::default()
                    },
                    "observer",
                )?;
                (5, c.list_cases(req).await.map(|_| ()))
            } else {
                let req = request(
                    pb::GetCaseRequest {
                        case_id: target,
                        ..Default::default()
                    },
                    "observer",
                )?;
                (4, c.get_case(req).await.map(|_| ()))
            }
        } else if conflicting {
            let slot =
                rng.below(u32::try_from(round.shared.lock().map_or(1, |s| s.len())).unwrap_or(1));
            let id = round
                .shared
                .lock()
                .map(|s| s[slot as usize].clone())
                .unwrap_or_default();
            let version = match known.get(&id) {
                Some(v) => *v,
                None => {
                    let r = c
                        .get_case(request(
                            pb::GetCaseRequest {
                                case_id: id.clone(),
                                ..Default::default()
                            },
                            "observer",
                        )?)
                        .await;
                    match r {
                        Ok(v) => v.into_inner().version,
                        Err(e) => {
                            t.error(&e);
                            continue;
                        }
                    }
                }
            };
            let mut req = consultation_command(&id, n, 0, &tag, n);
            req.expected_version = Some(version);
            req.reply = round.reply;
            match c.execute(request(req, "court_liaison")?).await {
                Ok(r) => {
                    let v = r.into_inner().case.map_or(version, |c| c.version);
                    known.insert(id.clone(), v);
                    if v > SHARED_CASE_LENGTH {
                        // Long enough: a fresh shared case takes its place.
                        if let Ok((fresh, fv)) = open_case(&mut c, i).await {
                            if let Ok(mut s) = round.shared.lock()
                                && s[slot as usize] == id
                            {
                                s[slot as usize] = fresh.clone();
                            }
                            known.insert(fresh, fv);
                        }
                    }
                    (2, Ok(()))
                }
                Err(e) if e.code() == Code::Aborted => {
                    if measured {
                        t.conflicts += 1;
                    }
                    // Retry with the version the status names (as an integrator that only
                    // appends would); without it, read the case first.
                    let actual = e
                        .get_error_details()
                        .error_info()
                        .and_then(|i| i.metadata.get("actual")?.parse::<u64>().ok());
                    match actual {
                        Some(v) => known.insert(id, v),
                        None => known.remove(&id),
                    };
                    (3, Ok(()))
                }
                Err(e) => (2, Err(e)),
            }
        } else {
            match own.clone() {
                Some(id) if consultation < round.per_case => {
                    let mut req = consultation_command(&id, consultation, step, &tag, n);
                    req.reply = round.reply;
                    step += 1;
                    if step == 3 {
                        (step, consultation) = (0, consultation + 1);
                    }
                    (
                        1,
                        c.execute(request(req, "court_liaison")?).await.map(|_| ()),
                    )
                }
                _ => match open_case(&mut c, i).await {
                    Ok((id, _)) => {
                        own = Some(id);
                        (consultation, step) = (0, 0);
                        (0, Ok(()))
                    }
                    Err(e) => (0, Err(e)),
                },
            }
        };
        if !measured {
            continue;
        }
        match result {
            Ok(()) => t.record(op, started.elapsed()),
            Err(e) => t.error(&e),
        }
    }
    Ok(t)
}

/// One client of the transport floor: `Health/Check` calls back to back until the round ends.
async fn floor_client(
    channel: Channel,
    measure_from: Instant,
    until: Instant,
) -> anyhow::Result<Histogram<u64>> {
    let mut c = tonic_health::pb::health_client::HealthClient::new(channel);
    let mut hist = Histogram::new_with_bounds(1, 120_000_000, 3)?;
    while Instant::now() < until {
        let started = Instant::now();
        c.check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await?;
        if started >= measure_from {
            let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            let _ = hist.record(us.clamp(1, 120_000_000));
        }
    }
    Ok(hist)
}

/// Runs the benchmark.
///
/// # Errors
/// Set-up failures.
pub async fn run(a: BenchArgs) -> anyhow::Result<()> {
    let in_process = match &a.server {
        Some(_) => None,
        None => Some(InProcess::start(a.db.as_deref(), "bench.db").await?),
    };
    let target = match (&a.server, &in_process) {
        (Some(url), _) => url.clone(),
        (None, Some(p)) => format!("http://{}", p.addr),
        (None, None) => anyhow::bail!("no server to load"),
    };
    let config: Option<StoreConfig> = match (&a.db, &in_process) {
        (Some(db), _) => Some(db.parse()?),
        (None, Some(p)) => Some(p.config.clone()),
        (None, None) => None,
    };
    let store = match &config {
        Some(config) if a.baseline => {
            Some(AnyStore::open(config, Arc::new(crate::clock::SystemClock)).await?)
        }
        _ => None,
    };
    if a.baseline && store.is_none() {
        anyhow::bail!("--baseline writes into the server's database: give it with --db");
    }
    let connect = || async {
        Channel::from_shared(target.clone())?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connect to {target}"))
    };
    let backend = store.as_ref().map_or("?", AnyStore::backend);
    println!(
        "aspflow bench: {} ({}), {} s measured after {} s warm-up per round, reads {}%, \
         one client in {} on shared cases, {} consultations per case, {}, {} replies",
        target,
        if a.server.is_some() {
            "separate process"
        } else {
            "in this process"
        },
        a.seconds,
        a.warmup,
        a.reads,
        a.conflicting_every,
        a.consultations_per_case,
        if a.shared_connection {
            "one shared connection"
        } else {
            "one connection per client"
        },
        a.reply,
    );
    for &clients in &a.clients {
        let shared_channel = connect().await?;
        let mut channels = Vec::with_capacity(clients);
        for _ in 0..clients {
            channels.push(if a.shared_connection {
                shared_channel.clone()
            } else {
                connect().await?
            });
        }
        if a.floor {
            floor(&channels, a.warmup, a.seconds, in_process.is_some()).await?;
        }
        // The shared cases, opened before the round.
        let mut setup = CasesClient::new(shared_channel.clone());
        let mut shared = Vec::new();
        for k in 0..4 {
            shared.push(open_case(&mut setup, 1_000_000 + k).await?.0);
        }
        let start = Instant::now();
        let round = Arc::new(Round {
            reply: if a.reply == "compact" {
                pb::ReplyView::Compact as i32
            } else {
                pb::ReplyView::Full as i32
            },
            measure_from: start + Duration::from_secs(a.warmup),
            until: start + Duration::from_secs(a.warmup + a.seconds),
            reads: a.reads,
            per_case: a.consultations_per_case,
            shared: Mutex::new(shared),
        });
        let load_start = load_average();
        let cpu_start = cpu_seconds();
        let mut tasks = Vec::new();
        for (i, channel) in channels.into_iter().enumerate() {
            let conflicting =
                a.conflicting_every > 0 && i % a.conflicting_every == a.conflicting_every - 1;
            tasks.push(tokio::spawn(client(
                CasesClient::new(channel),
                i,
                conflicting,
                round.clone(),
            )));
        }
        let mut total = Tally::new()?;
        for task in tasks {
            total.merge(&task.await??)?;
        }
        let cores = (cpu_seconds() - cpu_start) / start.elapsed().as_secs_f64();
        report(clients, a.seconds, &total, &load_start);
        println!(
            "  {}: {cores:.2} cores over the round (warm-up included)",
            who_is_measured(in_process.is_some())
        );
        if let Some(store) = &store {
            let raw = super::bench_raw::run(store, clients, a.warmup, a.seconds).await?;
            let durable: u64 = total.hist[..3].iter().map(Histogram::len).sum();
            println!(
                "  raw baseline on {backend}: {:.0} rows/s (each: event + request + read-model row), \
                 p50 {:.2} ms p99 {:.2} ms, mean batch {:.1}; engine/raw = {:.2}",
                raw.rows_per_s,
                raw.p50_ms,
                raw.p99_ms,
                raw.mean_batch,
                durable as f64 / a.seconds as f64 / raw.rows_per_s
            );
        }
        println!("  load average at end: {}", load_average());
    }
    if let Some(p) = in_process {
        p.finish().await;
    }
    Ok(())
}

/// Whose CPU time `cpu_seconds` counts.
fn who_is_measured(in_process: bool) -> &'static str {
    if in_process {
        "CPU of this process (load generator and server)"
    } else {
        "CPU of the load generator"
    }
}

/// The transport floor: every client calls `Health/Check` back to back on its connection for
/// the warm-up and the measured time, then the calls a second and their latency are printed.
async fn floor(
    channels: &[Channel],
    warmup: u64,
    seconds: u64,
    in_process: bool,
) -> anyhow::Result<()> {
    let load_start = load_average();
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(warmup);
    let until = measure_from + Duration::from_secs(seconds);
    let cpu_start = cpu_seconds();
    let tasks: Vec<_> = channels
        .iter()
        .map(|c| tokio::spawn(floor_client(c.clone(), measure_from, until)))
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    for task in tasks {
        hist.add(task.await??)?;
    }
    let cores = (cpu_seconds() - cpu_start) / start.elapsed().as_secs_f64();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "floor: {} clients calling grpc.health.v1.Health/Check (no engine, no database; load average at start: {load_start})",
        channels.len()
    );
    println!(
        "  calls/s: {:.0}, p50 {:.2} ms, p99 {:.2} ms; {}: {cores:.2} cores",
        hist.len() as f64 / seconds as f64,
        ms(0.5),
        ms(0.99),
        who_is_measured(in_process)
    );
    Ok(())
}

fn report(clients: usize, seconds: u64, t: &Tally, load_start: &str) {
    let secs = seconds as f64;
    println!("round: {clients} clients (load average at start: {load_start})");
    println!(
        "  {:<8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "op", "count", "per s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    for (op, h) in OPS.iter().zip(&t.hist) {
        if h.is_empty() {
            continue;
        }
        println!(
            "  {:<8} {:>8} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            op,
            h.len(),
            h.len() as f64 / secs,
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99),
            ms(h, 0.999),
            h.max() as f64 / 1000.0
        );
    }
    let mut writes = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).ok();
    if let Some(w) = writes.as_mut() {
        for h in &t.hist[..3] {
            let _ = w.add(h);
        }
    }
    if let Some(w) = writes {
        println!(
            "  durable commands/s: {:.0} (open + execute + shared: ABORTED ones not counted), p50 {:.2} ms, p99 {:.2} ms; \
             conflicts (ABORTED on shared cases): {}; errors: {}{}",
            w.len() as f64 / secs,
            ms(&w, 0.5),
            ms(&w, 0.99),
            t.conflicts,
            t.errors,
            t.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
    }
}
