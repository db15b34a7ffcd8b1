//! What the benchmarks share (an in-process server, the requests they send), and
//! `aspflow bench-replay`. Prints figures; asserts nothing.

use std::{sync::Arc, time::Instant};

use anyhow::Context;
use clap::Args;
use tonic::Request;

use crate::{
    api::{self, ServeOptions},
    clock::{SystemClock, V7Ids},
    domain::ProcedureRules,
    engine::Engine,
    pb::{self, execute_request::Command as C},
    store::{AnyStore, StoreConfig},
};

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(super) fn request<T>(msg: T, role: &str) -> anyhow::Result<Request<T>> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(api::auth::ROLE, role.parse()?);
    Ok(r)
}

pub(super) fn open_request(i: usize) -> pb::OpenFormalCaseRequest {
    let at = prost_types::Timestamp {
        seconds: 1_513_080_000,
        nanos: 0,
    };
    pb::OpenFormalCaseRequest {
        request_id: format!("bench-open-{i}-{}", uuid::Uuid::now_v7()),
        act: Some(pb::Act {
            occurred_at: Some(at),
            ..Default::default()
        }),
        facts: Some(pb::CaseFacts {
            requested_state: Some(pb::RequestedState {
                iso_code: "JO".into(),
                name: "Jordan".into(),
                status: "state_party".into(),
                region: "asia_pacific".into(),
            }),
            person_sought: Some(pb::PersonSought {
                name: "Person".into(),
                case_number: "ICC-00/00-01/00".into(),
                warrant_dates: vec![],
            }),
            situation: Some(pb::Situation {
                name: "Benchmark".into(),
                trigger_mechanism: "proprio_motu".into(),
                unsc_resolution: String::new(),
            }),
            request: Some(pb::CooperationRequest {
                kind: "arrest_and_surrender".into(),
                transmitted_on: "2017-01-01".into(),
                outstanding: true,
            }),
        }),
        referral: Some(pb::Referral {
            legal_basis: "art_87_7".into(),
            chamber: "Pre-Trial Chamber II".into(),
            decision_symbol: format!("BENCH-{i}-{}", uuid::Uuid::now_v7()),
            decision_date: "2017-12-11".into(),
            transmitted_on: "2017-12-12".into(),
            targets: vec!["asp".into()],
            ..Default::default()
        }),
        rules: None,
        previous_case_id: String::new(),
    }
}

/// The command the benchmarks repeat: an art. 97 consultation request (repeatable on one case,
/// each with its own reference), as the Court liaison records it.
pub(super) fn consultation_request(
    case_id: &str,
    request_id: String,
    reference: String,
) -> pb::ExecuteRequest {
    pb::ExecuteRequest {
        case_id: case_id.to_owned(),
        expected_version: None,
        request_id,
        act: Some(pb::Act {
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_515_000_000,
                nanos: 0,
            }),
            ..Default::default()
        }),
        command: Some(C::RecordConsultationRequested(
            pb::RecordConsultationRequested {
                reference,
                problems: vec!["other".into()],
            },
        )),
        reply: 0,
    }
}

/// A database for a benchmark: `db`, or a new SQLite file `file` in a temporary directory
/// (removed by [`InProcess::finish`] or by the caller).
pub(super) async fn bench_store(
    db: Option<&str>,
    file: &str,
) -> anyhow::Result<(std::path::PathBuf, StoreConfig, AnyStore)> {
    let dir = tempfile_dir()?;
    let url = db.map_or_else(
        || format!("sqlite://{}/{file}", dir.display()),
        str::to_owned,
    );
    let config: StoreConfig = url.parse()?;
    let store = AnyStore::open(&config, Arc::new(SystemClock)).await?;
    Ok((dir, config, store))
}

/// A server in this process on a benchmark database, and a channel to it.
pub(super) struct InProcess {
    /// A connection to the server.
    pub channel: tonic::transport::Channel,
    /// Its address.
    pub addr: std::net::SocketAddr,
    /// The database.
    pub config: StoreConfig,
    dir: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), api::ServeError>>,
}

impl InProcess {
    /// Starts the server (no scheduler, no signing key) on `db` or a temporary SQLite file.
    pub async fn start(db: Option<&str>, file: &str) -> anyhow::Result<Self> {
        let (dir, config, store) = bench_store(db, file).await?;
        let engine = Engine::new(
            store,
            Arc::new(SystemClock),
            Arc::new(V7Ids),
            ProcedureRules::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(api::run(
            listener,
            engine,
            ServeOptions {
                scheduler_tick: None,
                signing_key: None,
                ..ServeOptions::default()
            },
            async {
                let _ = stopped.await;
            },
        ));
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await
            .context("connect to the in-process server")?;
        Ok(InProcess {
            channel,
            addr,
            config,
            dir,
            stop,
            server,
        })
    }

    /// Stops the server and removes the temporary directory.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config_name(c: &StoreConfig) -> &'static str {
    match c {
        StoreConfig::Sqlite { .. } => "sqlite",
        StoreConfig::Postgres { .. } => "postgres",
    }
}

pub(super) fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("aspflow-bench-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `aspflow bench-replay` options.
#[derive(Debug, Args)]
pub struct ReplayBenchArgs {
    /// Events to generate (in cases of `--events-per-case`).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Events per case.
    #[arg(long, default_value_t = 100)]
    pub events_per_case: u64,
    /// Database URL (default: a new SQLite file in a temporary directory). A log that holds
    /// events already is measured as it is (nothing is generated).
    #[arg(long)]
    pub db: Option<String>,
}

/// Generates a log of real domain events, then measures replaying it (decode + evolve every
/// case) and verifying its chains. Prints events per second for each.
///
/// # Errors
/// Set-up failures.
pub async fn replay(a: ReplayBenchArgs) -> anyhow::Result<()> {
    use crate::{
        domain::codec,
        store::{EventStore, chain},
    };
    let dir = tempfile_dir()?;
    let url =
        a.db.clone()
            .unwrap_or_else(|| format!("sqlite://{}/replay.db", dir.display()));
    let config: StoreConfig = url.parse()?;
    let store = AnyStore::open(&config, Arc::new(SystemClock)).await?;
    let existing = store.head_position().await?;
    if existing == 0 {
        generate_log(&store, &a, &config).await?;
    } else {
        println!(
            "the log ({}) holds {existing} events already: measured as it is, nothing generated",
            config_name(&config)
        );
    }

    // The raw read: every row of the log in order, without decoding a column.
    let started = Instant::now();
    let mut raw_rows = 0_u64;
    {
        use futures_util::TryStreamExt;
        const ALL: &str = "SELECT * FROM events ORDER BY global_position";
        match &store {
            AnyStore::Sqlite(_) => {
                // Stepped on one thread, columns untouched (sqlx would hand each row across
                // threads: that is what `read as events` no longer pays), the file mapped as
                // the scans below map it.
                let path = match &config {
                    StoreConfig::Sqlite { path } => path.clone(),
                    StoreConfig::Postgres { .. } => std::path::PathBuf::new(),
                };
                raw_rows = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
                    let conn = rusqlite::Connection::open_with_flags(
                        path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )?;
                    conn.pragma_update(None, "mmap_size", crate::store::SQLITE_MMAP_BYTES)?;
                    let mut stmt = conn.prepare(ALL)?;
                    let mut rows = stmt.query([])?;
                    let mut n = 0;
                    while rows.next()?.is_some() {
                        n += 1;
                    }
                    Ok(n)
                })
                .await??;
            }
            AnyStore::Postgres(s) => {
                let mut rows = sqlx::query(ALL).fetch(s.pool());
                while rows.try_next().await?.is_some() {
                    raw_rows += 1;
                }
            }
        }
    }
    let raw_s = started.elapsed().as_secs_f64();
    println!(
        "raw read (the database's own limit): {raw_rows} rows in {raw_s:.2}s = {:.0} rows/s",
        raw_rows as f64 / raw_s
    );
    let started = Instant::now();
    let mut read = 0_u64;
    let mut from = 1;
    loop {
        let page = store.read_all(from, 10_000).await?;
        let Some(last) = page.last() else { break };
        from = last.global_position + 1;
        read += page.len() as u64;
    }
    let read_s = started.elapsed().as_secs_f64();
    println!(
        "read as events (no decoding): {read} in {read_s:.2}s = {:.0} events/s",
        read as f64 / read_s
    );

    // The scans replay and verify run, with nothing done per event: what reading costs them.
    let scanned = scan_only(&store, crate::store::AllColumns).await?;
    println!(
        "scan on every core, every column (what verify reads; nothing done per event): \
         {} in {:.2}s = {:.0} events/s",
        scanned.0,
        scanned.1,
        scanned.0 as f64 / scanned.1
    );
    let scanned = scan_only(&store, crate::store::EventColumns).await?;
    println!(
        "scan on every core, the columns replay decodes (nothing done per event): \
         {} in {:.2}s = {:.0} events/s",
        scanned.0,
        scanned.1,
        scanned.0 as f64 / scanned.1
    );

    // What decoding alone costs on one core: the first page of events, already in memory.
    let sample = store.read_all(1, 100_000).await?;
    let started = Instant::now();
    for r in &sample {
        std::hint::black_box(
            codec::decode(&r.event_type, r.schema_version, &r.payload)
                .map_err(|e| anyhow::anyhow!("position {}: {e}", r.global_position))?,
        );
    }
    let decode_s = started.elapsed().as_secs_f64();
    println!(
        "decode alone, one core: {} events held in memory in {decode_s:.2}s = {:.0} events/s \
         ({:.2} µs an event)",
        sample.len(),
        sample.len() as f64 / decode_s,
        decode_s * 1e6 / sample.len().max(1) as f64
    );
    drop(sample);

    // Replay without its fold: what reading and decoding on every core cost together (the
    // decoded events are dropped by the caller, as replay's fold drops them).
    let started = Instant::now();
    let mut decoded = 0_u64;
    let failed = crate::store::scan_log_parallel(
        &store,
        crate::store::EventColumns,
        |r| codec::decode(r.event_type, r.schema_version, r.payload),
        |chunk| {
            decoded += chunk.len() as u64;
            match chunk.drain(..).find_map(Result::err) {
                Some(e) => std::ops::ControlFlow::Break(e),
                None => std::ops::ControlFlow::Continue(()),
            }
        },
    )
    .await?;
    if let Some(e) = failed {
        anyhow::bail!("decoding the log: {e}");
    }
    let decode_s = started.elapsed().as_secs_f64();
    println!(
        "scan and decode on every core, not folded: {decoded} in {decode_s:.2}s = {:.0} events/s",
        decoded as f64 / decode_s
    );

    // Replay: the engine's `replay_log` (what rebuilding the read model runs): the whole log
    // read in order, every event decoded (a page on every core while the next page is read),
    // every case folded.
    let started = Instant::now();
    let states = crate::engine::replay_log(&store).await?;
    let replayed: u64 = states.values().map(|f| f.version).sum();
    let replay_s = started.elapsed().as_secs_f64();
    println!(
        "replay: {replayed} events, {} cases in {replay_s:.2}s = {:.0} events/s",
        states.len(),
        replayed as f64 / replay_s
    );
    let started = Instant::now();
    let report = chain::verify_log(&store).await?;
    let verify_s = started.elapsed().as_secs_f64();
    println!(
        "verify: {} events in {verify_s:.2}s = {:.0} events/s, intact: {}",
        report.events_checked,
        report.events_checked as f64 / verify_s,
        report.is_intact()
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The events `scan_log_parallel` reads with `columns`, mapping and folding nothing, and the
/// seconds it took.
async fn scan_only<C: crate::store::Columns>(
    store: &AnyStore,
    columns: C,
) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let mut scanned = 0_u64;
    crate::store::scan_log_parallel(
        store,
        columns,
        |_| (),
        |chunk| {
            scanned += chunk.len() as u64;
            std::ops::ControlFlow::<()>::Continue(())
        },
    )
    .await?;
    Ok((scanned, started.elapsed().as_secs_f64()))
}

/// Appends `a.events` real domain events to an empty log, in cases of `a.events_per_case`.
async fn generate_log(
    store: &AnyStore,
    a: &ReplayBenchArgs,
    config: &StoreConfig,
) -> anyhow::Result<()> {
    use crate::{
        domain::{
            ActMeta, CaseId, Context, Principal, Role,
            case::{self, CaseCommand, CaseState},
            codec, consultation, formal,
        },
        store::{EventStore, ExpectedVersion, NewEvent, StreamAppend, StreamId, Write},
    };
    let per_case = a.events_per_case.max(2);
    let cases = a.events.div_ceil(per_case);
    let t0 = chrono::DateTime::from_timestamp(1_513_080_000, 0).unwrap_or_default();
    let court = Context {
        now: t0,
        principal: Principal::new("court", Role::CourtLiaison),
    };

    // A template case's events, decided once by the domain; each case gets them with its id.
    let started = Instant::now();
    let mut written = 0u64;
    let mut batch = Vec::new();
    for c in 0..cases {
        let id = CaseId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(c),
        ));
        let mut state = CaseState::new(crate::domain::ProcedureKind::Formal);
        let mut events = Vec::new();
        let n = per_case.min(a.events - written);
        for k in 0..n {
            let action = if k == 0 {
                formal::Action::Open {
                    case_id: id,
                    reference: format!("NC-2017-{c:07}"),
                    facts: bench_facts(),
                    referral: bench_referral(c),
                    rules: ProcedureRules::default(),
                    linked_preventive_case: None,
                    previous_case: None,
                    existing_case_for_decision: None,
                }
            } else {
                formal::Action::Consultation(consultation::Action::Request {
                    reference: format!("art97-{k}"),
                    problems: vec![consultation::Problem::Other],
                })
            };
            let cmd = CaseCommand::Formal(formal::Command {
                act: ActMeta::at(t0),
                action,
            });
            let d = case::decide(&state, &cmd, &court).map_err(|r| anyhow::anyhow!("{r}"))?;
            for e in d.events {
                state = case::evolve(state, &e);
                let env = codec::encode(&e);
                events.push(NewEvent {
                    event_type: env.event_type,
                    schema_version: env.schema_version,
                    payload: env.payload,
                    occurred_at: t0,
                    actor: "court".into(),
                    role: "court_liaison".into(),
                });
            }
        }
        written += events.len() as u64;
        batch.push(Write {
            request_id: format!("gen-{c}"),
            correlation_id: None,
            streams: vec![StreamAppend {
                stream: StreamId(id.0),
                expected: ExpectedVersion::NoStream,
                events,
            }],
            fingerprint: None,
            summaries: Vec::new(),
            reference: None,
        });
        if batch.len() == 100 || c + 1 == cases {
            for r in store.append_batch(std::mem::take(&mut batch)).await? {
                r?;
            }
        }
        if written >= a.events {
            break;
        }
    }
    println!(
        "generated {written} events in {cases} cases in {:.1}s ({}): decided by the domain and \
         appended through the store's append (chained, in batches of 100 writes), not through \
         the engine or gRPC",
        started.elapsed().as_secs_f64(),
        config_name(config)
    );

    Ok(())
}

fn bench_facts() -> crate::domain::CaseFacts {
    use crate::domain::*;
    CaseFacts {
        requested_state: RequestedState {
            iso_code: "JO".into(),
            name: "Jordan".into(),
            status: StateStatus::StateParty,
            region: Region::AsiaPacific,
        },
        person_sought: PersonSought {
            name: "Person".into(),
            case_number: "ICC-00/00-01/00".into(),
            warrant_dates: vec![],
        },
        situation: Situation {
            name: "Benchmark".into(),
            trigger_mechanism: TriggerMechanism::ProprioMotu,
            unsc_resolution: None,
        },
        request: CooperationRequest {
            kind: RequestKind::ArrestAndSurrender,
            transmitted_on: chrono::NaiveDate::from_ymd_opt(2017, 1, 1).unwrap_or_default(),
            outstanding: true,
        },
    }
}

fn bench_referral(c: u64) -> crate::domain::formal::Referral {
    let d = chrono::NaiveDate::from_ymd_opt(2017, 12, 11).unwrap_or_default();
    crate::domain::formal::Referral {
        legal_basis: crate::domain::formal::ReferralBasis::Art87_7,
        chamber: "Pre-Trial Chamber II".into(),
        decision_symbol: format!("BENCH-{c}"),
        decision_date: d,
        transmitted_on: d,
        targets: vec![crate::domain::formal::ReferralTarget::Asp],
        incident_from: None,
        incident_to: None,
        incident_location: None,
    }
}
