//! The `aspflow` command line: parses arguments once (clap), validates them into typed
//! configuration, and calls the library. The only place besides `main` that uses `anyhow`.
//!
//! Subcommands: `serve` (the gRPC server, optionally over TLS and with bearer tokens),
//! `migrate` (apply the schema), `backup` (a consistent copy of an SQLite log), `audit ...`
//! (the auditor's read-only tools; `audit verify` checks every hash chain and the gapless
//! global order), `case ...` (the client), `token ...` (mint bearer tokens). Exit codes of
//! `audit verify`: 0 verified, 1 tampering found, 2 could not run.
//!
//! `serve` owns the process's signals (STYLE.md habit 11): SIGINT or SIGTERM starts a graceful
//! shutdown bounded by `--shutdown-grace-ms`; a second signal exits at once.

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use uuid::Uuid;

mod audit_cli;
mod backup;
mod bench;
mod bench_load;
mod bench_open;
mod bench_raw;
mod bench_streams;
mod client;
mod commands_help;
mod connect;
pub mod schemas_cli;
mod token_cli;

use crate::{
    api::ServeOptions,
    clock::{SystemClock, V7Ids},
    domain::ProcedureRules,
    engine::Engine,
    store::{AnyStore, EventStore, StoreConfig},
};

/// Default database: the embedded SQLite file in the working directory.
pub const DEFAULT_DB: &str = "sqlite://aspflow.db";

/// aspflow: case-procedure engine for the ICC Assembly of States Parties' procedures on
/// non-cooperation (formal response and preventive good offices).
#[derive(Debug, Parser)]
#[command(name = "aspflow", version, about, long_about = None)]
pub struct Args {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `aspflow=debug`.
    #[arg(long, env = "ASPFLOW_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log lines as `text` (colour only on a terminal) or `json` (one object a line, with the
    /// call's span: rpc, subject, role, request id, case, command).
    #[arg(long, env = "ASPFLOW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Export the request spans to this OpenTelemetry collector (OTLP over gRPC, e.g.
    /// `http://127.0.0.1:4317`). Built only with `--features otlp`.
    #[cfg(feature = "otlp")]
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written (stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one line each, ANSI colour only when stderr is a terminal.
    Text,
    /// For log pipelines: one JSON object a line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (health, reflection and the aspflow.v1 services).
    Serve(Box<ServeArgs>),
    /// Create or upgrade the database schema, then exit.
    Migrate {
        /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB.
        #[arg(long, env = "ASPFLOW_DB", default_value = DEFAULT_DB)]
        db: String,
    },
    /// Audit tools that read the log directly (read-only: they never create, migrate or write
    /// a database).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a consistent copy of an SQLite log to a new file, safely while the server runs
    /// (SQLite `VACUUM INTO`). For PostgreSQL, prints the `pg_dump` command to use instead.
    /// Exit code 0: written; 2: not written.
    Backup {
        /// Database URL: sqlite://PATH (postgres://... gets the pg_dump hint).
        #[arg(long, env = "ASPFLOW_DB", default_value = DEFAULT_DB)]
        db: String,
        /// The copy: a new file (an existing file is never overwritten).
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
    /// Rebuild the read model (case_summaries) from the log, then exit.
    RebuildProjections {
        /// Database URL: sqlite://PATH or postgres://...
        #[arg(long, env = "ASPFLOW_DB", default_value = DEFAULT_DB)]
        db: String,
    },
    /// Client: open, advance, show, list and watch cases on a running server.
    Case(Box<client::CaseArgs>),
    /// Bearer tokens for people and tools: mint one, or make a new HS256 secret.
    #[command(subcommand)]
    Token(token_cli::TokenCommand),
    /// Load a server (another process with --server, else one in this process) with a mixed
    /// workload over gRPC, beside a raw baseline on the same database with --baseline and
    /// gRPC's own floor (health checks) with --floor (prints figures).
    Bench(bench_load::BenchArgs),
    /// Measure opening a case as the log grows (default at 100 to 100,000 cases), beside a raw
    /// one-row commit on the same database (prints figures).
    BenchOpen(bench_open::OpenBenchArgs),
    /// Measure what open streams cost: idle CPU, write latency and memory without and with
    /// idle watchers and a subscriber that never reads (prints figures).
    BenchStreams(bench_streams::StreamsBenchArgs),
    /// Write the JSON Schema of every stored event type's current schema version (default
    /// into docs/schemas); a published version is never changed. `--check` only compares.
    Schemas(schemas_cli::SchemasArgs),
    /// Generate a large log (default 1,000,000 events), then measure replaying it and
    /// verifying its chains (prints events per second).
    BenchReplay(bench::ReplayBenchArgs),
}

/// `aspflow serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Database URL: sqlite://PATH (embedded, the default) or postgres://USER@HOST:PORT/DB.
    #[arg(long, env = "ASPFLOW_DB", default_value = DEFAULT_DB)]
    pub db: String,
    /// Address to listen on.
    #[arg(long, env = "ASPFLOW_LISTEN", default_value = "127.0.0.1:50051",
          value_parser = parse_listen)]
    pub listen: SocketAddr,
    /// Allow a non-loopback address without TLS or without authentication (logged as a
    /// warning). Without it, listening off loopback needs both.
    #[arg(long)]
    pub insecure: bool,
    /// Serve over TLS with the certificate chain in this PEM file (leaf first; with
    /// --tls-key). Clients then connect to https://HOST:PORT with --ca-cert.
    #[arg(long, env = "ASPFLOW_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "ASPFLOW_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Require every client to present a certificate signed by the CA in this PEM file
    /// (mutual TLS; needs --tls-cert). Callers still need a token to act.
    #[arg(long, env = "ASPFLOW_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<std::path::PathBuf>,
    /// A web origin whose pages may call the API from a browser with gRPC-Web (CORS), e.g.
    /// `https://console.asp.example.org`; repeat for several. Without it, no CORS headers are
    /// sent. gRPC-Web itself is always on (same port, same authentication).
    #[arg(long = "cors-origin", value_parser = crate::api::web::parse_origin)]
    pub cors_origins: Vec<http::HeaderValue>,
    /// A PostgreSQL standby (hot standby, streaming from the primary of --db) to serve the
    /// reads that may lag from: GetCase, ListCases, GetHistory and EventLog.Subscribe. Writes,
    /// and what decides them, stay on --db. See docs/operations.md for the staleness.
    #[arg(long, env = "ASPFLOW_READ_DB")]
    pub read_db: Option<String>,
    /// Serve Prometheus metrics on this address (plain HTTP, `/metrics`), e.g.
    /// `127.0.0.1:9464`. Off by default. See docs/monitoring.
    #[arg(long, env = "ASPFLOW_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// Sign and store a checkpoint of the whole log once per period (`30m`, `1h`, `1d`; `0`:
    /// never). With several nodes on one database, exactly one is stored per period.
    #[arg(long, env = "ASPFLOW_CHECKPOINT_EVERY", default_value = "1h",
          value_parser = crate::api::checkpoints::parse_period_arg)]
    pub checkpoint_every: crate::api::checkpoints::Period,
    /// Also sign and store one each time the log has grown by this many events (0: never).
    #[arg(long, env = "ASPFLOW_CHECKPOINT_EVENTS", default_value_t = 0)]
    pub checkpoint_events: u64,
    /// Ed25519 key that signs audit checkpoints (generated on first start if absent; the
    /// public key is written to <FILE>.pub).
    #[arg(
        long,
        env = "ASPFLOW_SIGNING_KEY",
        default_value = "aspflow-signing.key"
    )]
    pub signing_key: std::path::PathBuf,
    /// How often the deadline scheduler looks for elapsed deadlines, in milliseconds (0: off).
    #[arg(long, env = "ASPFLOW_SCHEDULER_TICK_MS", default_value_t = 1000)]
    pub scheduler_tick_ms: u64,
    /// After SIGINT or SIGTERM, how long in-flight calls may take to finish, in milliseconds;
    /// then the server stops anyway. A second signal stops it at once.
    #[arg(long, env = "ASPFLOW_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
    /// Bearer tokens signed with HS256 by the shared secret in this file (at least 32 bytes).
    #[arg(long, env = "ASPFLOW_AUTH_HS256_SECRET_FILE", group = "auth_keys")]
    pub auth_hs256_secret_file: Option<std::path::PathBuf>,
    /// Bearer tokens signed by a key of this JWKS document (RS256, ES256, EdDSA; as an OIDC
    /// provider such as Keycloak publishes it at its jwks_uri).
    #[arg(long, env = "ASPFLOW_AUTH_JWKS", group = "auth_keys")]
    pub auth_jwks: Option<std::path::PathBuf>,
    /// Bearer tokens signed by the key whose PEM public key is in this file (RSA, EC P-256 or
    /// Ed25519).
    #[arg(long, env = "ASPFLOW_AUTH_PUBLIC_KEY", group = "auth_keys")]
    pub auth_public_key: Option<std::path::PathBuf>,
    /// Required `iss` of tokens.
    #[arg(long, env = "ASPFLOW_AUTH_ISSUER")]
    pub auth_issuer: Option<String>,
    /// Required `aud` of tokens.
    #[arg(long, env = "ASPFLOW_AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,
}

impl ServeArgs {
    /// The TLS configuration, if --tls-cert and --tls-key are given.
    fn tls(&self) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let read = |p: &std::path::Path| {
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
        };
        let client_ca = self.tls_client_ca.as_deref().map(read).transpose()?;
        let config =
            crate::api::tls::server_config(&read(cert)?, &read(key)?, client_ca.as_deref())
                .with_context(|| {
                    format!(
                        "TLS with --tls-cert {} and --tls-key {}{}",
                        cert.display(),
                        key.display(),
                        self.tls_client_ca
                            .as_ref()
                            .map(|ca| format!(" and --tls-client-ca {}", ca.display()))
                            .unwrap_or_default()
                    )
                })?;
        Ok(Some(config))
    }

    /// The configured token verifier, if any.
    fn verifier(&self) -> anyhow::Result<Option<crate::api::token::Verifier>> {
        use crate::api::token::{KeySource, Verifier};
        let source = match (
            &self.auth_hs256_secret_file,
            &self.auth_jwks,
            &self.auth_public_key,
        ) {
            (Some(p), None, None) => KeySource::Hs256SecretFile(p.clone()),
            (None, Some(p), None) => KeySource::JwksFile(p.clone()),
            (None, None, Some(p)) => KeySource::PublicKeyPem(p.clone()),
            (None, None, None) => {
                if self.auth_issuer.is_some() || self.auth_audience.is_some() {
                    bail!(
                        "--auth-issuer and --auth-audience need a key: --auth-hs256-secret-file, \
                         --auth-jwks or --auth-public-key"
                    );
                }
                return Ok(None);
            }
            _ => bail!("give one of --auth-hs256-secret-file, --auth-jwks, --auth-public-key"),
        };
        Ok(Some(Verifier::load(
            &source,
            self.auth_issuer.clone(),
            self.auth_audience.clone(),
        )?))
    }
}

/// `aspflow audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every hash chain and the gapless global order (or one case's chain), offline,
    /// and with --checkpoint that the log still holds everything a saved checkpoint covered.
    /// Exit code 0: verified; 1: tampering found; 2: could not run (including no database
    /// file, no aspflow schema, an empty log or an unknown case).
    Verify {
        /// Database URL: sqlite://PATH or postgres://...
        #[arg(long, env = "ASPFLOW_DB", default_value = DEFAULT_DB)]
        db: String,
        /// Only this case (UUID).
        #[arg(long)]
        case: Option<Uuid>,
        /// A checkpoint saved earlier (aspflow audit checkpoint -o FILE).
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
        /// The server's public key file: the checkpoint must be signed by it. Without
        /// --checkpoint, the latest checkpoint signed by this key and stored in the database
        /// (serve --checkpoint-every) is used.
        #[arg(long)]
        public_key: Option<std::path::PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch a signed checkpoint of the whole log from a running server.
    Checkpoint {
        /// Where the server is, how to trust it, and the bearer token.
        #[command(flatten)]
        conn: connect::ServerArgs,
        /// Role to act in: in development mode (no token) auditor by default; with a token,
        /// only to pick one of the roles it grants.
        #[arg(long = "as", env = "ASPFLOW_ROLE")]
        role: Option<String>,
        /// Write it to this file (default: standard output).
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
    },
    /// Print a case's state as of a moment, its deadlines and what could be done next.
    Replay {
        /// Case id or reference.
        case: String,
        /// Database URL.
        #[arg(long, env = "ASPFLOW_DB", default_value = DEFAULT_DB)]
        db: String,
        /// As of this version.
        #[arg(long)]
        as_of_version: Option<u64>,
        /// As of this recorded time (RFC 3339).
        #[arg(long)]
        as_of_recorded: Option<chrono::DateTime<chrono::Utc>>,
        /// As of this legal time (RFC 3339).
        #[arg(long)]
        as_of_legal: Option<chrono::DateTime<chrono::Utc>>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every step of a case: times, actor and role, rules version, legal basis, documents,
    /// state before and after.
    Explain {
        /// Case id or reference.
        case: String,
        /// Database URL.
        #[arg(long, env = "ASPFLOW_DB", default_value = DEFAULT_DB)]
        db: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a case as JSON Lines for outside verification (aspflow audit verify-export).
    Export {
        /// Case id or reference.
        case: String,
        /// Database URL.
        #[arg(long, env = "ASPFLOW_DB", default_value = DEFAULT_DB)]
        db: String,
        /// Also sign a checkpoint with this key file and put it in the header.
        #[arg(long)]
        signing_key: Option<std::path::PathBuf>,
        /// Output file.
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
    /// Verify an export file with no database and no server. Exit 0 verified, 1 tampered,
    /// 2 could not run.
    VerifyExport {
        /// The .jsonl file.
        file: std::path::PathBuf,
        /// The server's public key file: a checkpoint in the file must be signed by it.
        #[arg(long)]
        public_key: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Entry point used by `main`: parses, runs, maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    {
        // Inside the runtime: the OTLP exporter (feature `otlp`) needs it.
        let _entered = runtime.enter();
        if let Err(e) = init_logging(&args) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let outcome = runtime.block_on(run(args));
    #[cfg(feature = "otlp")]
    crate::otlp::shutdown();
    // Tasks still running (e.g. a stream the shutdown grace gave up on) must not keep the
    // process alive: async tasks are dropped at once, blocking ones get one second.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, without saying a cause twice: libraries often put
/// their source's text in their own message too ("tcp connect error: tcp connect error: ...").
pub fn error_text(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e.chain().map(ToString::to_string).collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let said_next = parts[i + 1..]
            .iter()
            .any(|later| later.contains(p.as_str()));
        let said_before = kept.iter().any(|k| k.contains(p.as_str()));
        if !said_next && !said_before {
            kept.push(p);
        }
    }
    kept.join(": ")
}

/// `--listen`: an address, or a host name and port (`localhost:50051`), resolved once; a name
/// with both IPv4 and IPv6 addresses listens on the IPv4 one.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("{text:?}: expected HOST:PORT, e.g. 127.0.0.1:50051 ({e})"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

fn init_logging(args: &Args) -> Result<(), String> {
    use std::io::IsTerminal as _;

    use tracing_subscriber::{Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _};
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match args.log_format {
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(fmt);
    #[cfg(feature = "otlp")]
    let registry = registry.with(
        args.otlp_endpoint
            .as_deref()
            .map(crate::otlp::layer)
            .transpose()?,
    );
    let _ = registry.with(filter).try_init();
    Ok(())
}

/// Opens the database for writing, creating and migrating it if needed (`serve`, `migrate`,
/// `rebuild-projections`).
pub(crate) async fn open_store(db: &str) -> anyhow::Result<AnyStore> {
    let config: StoreConfig = db.parse()?;
    AnyStore::open(&config, Arc::new(SystemClock))
        .await
        .with_context(|| format!("cannot open the database {}", redact(db)))
}

/// Opens an existing, non-empty log read-only for a tool that would otherwise have nothing to
/// `act` on ("verify", "replay", ...): no file is created, nothing is migrated or written.
///
/// # Errors
/// No database file, no aspflow schema, an outdated schema, an unreachable database, or an
/// empty log (each exit code 2).
pub(crate) async fn open_log_read_only(db: &str, act: &str) -> anyhow::Result<AnyStore> {
    let config: StoreConfig = db.parse()?;
    let store = AnyStore::open_read_only(&config, Arc::new(SystemClock))
        .await
        .with_context(|| format!("cannot open the log at {}", redact(db)))?;
    if store.head_position().await? == 0 {
        bail!("the log at {} is empty: nothing to {act}", redact(db));
    }
    Ok(store)
}

/// Closes a store at the end of a command, waiting at most a few seconds: on SQLite the WAL
/// is checkpointed into the database file, so that the file alone is the whole log.
async fn close_store(store: &AnyStore) {
    const CLOSE_WAIT: Duration = Duration::from_secs(5);
    match tokio::time::timeout(CLOSE_WAIT, store.close()).await {
        Ok(Ok(())) => tracing::debug!("database closed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "closing the database"),
        Err(_) => tracing::warn!(
            "closing the database took longer than {} s; giving up (nothing is lost: the -wal \
             file holds what the database file does not)",
            CLOSE_WAIT.as_secs()
        ),
    }
}

/// Hides a password in a database URL before it is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Runs a parsed command.
///
/// # Errors
/// Any failure to start or run; the caller prints it and exits with 2.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Serve(a) => serve(*a).await,
        Command::Migrate { db } => {
            let store = open_store(&db).await?;
            close_store(&store).await;
            println!("{} schema is up to date ({})", store.backend(), redact(&db));
            Ok(ExitCode::SUCCESS)
        }
        Command::RebuildProjections { db } => {
            let store = open_store(&db).await?;
            let engine = Engine::new(
                store.clone(),
                Arc::new(SystemClock),
                Arc::new(V7Ids),
                ProcedureRules::default(),
            );
            let n = engine.rebuild_projections().await?;
            close_store(&store).await;
            println!("rebuilt the read model of {n} case(s) from the log");
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { db, output } => backup::run(&db, &output).await,
        Command::Case(c) => client::run(*c).await,
        Command::Token(t) => token_cli::run(&t),
        Command::Bench(b) => {
            bench_load::run(b).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchStreams(b) => {
            bench_streams::run(b).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchOpen(b) => {
            bench_open::run(b).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchReplay(b) => {
            bench::replay(b).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(cmd) => audit_cli::run(cmd).await,
        Command::Schemas(a) => schemas_cli::run(&a),
    }
}

/// The signals that ask the server to stop: SIGINT (Ctrl-C) and SIGTERM (supervisors,
/// `docker stop`, systemd). Installed once, so that no signal is missed between the first and
/// the second.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignals {
    /// Installs the handlers: from now on these signals no longer kill the process.
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next stop signal; returns its name and the exit code a process killed by
    /// it would report (128 + its number).
    async fn next(&mut self) -> (&'static str, i32) {
        tokio::select! {
            Some(()) = self.interrupt.recv() => ("SIGINT", 130),
            Some(()) = self.terminate.recv() => ("SIGTERM", 143),
            else => std::future::pending().await,
        }
    }
}

/// Elsewhere only Ctrl-C exists.
#[cfg(not(unix))]
impl StopSignals {
    fn install() -> std::io::Result<Self> {
        Ok(StopSignals {})
    }

    async fn next(&mut self) -> (&'static str, i32) {
        match tokio::signal::ctrl_c().await {
            Ok(()) => ("Ctrl-C", 130),
            Err(_) => std::future::pending().await,
        }
    }
}

async fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let verifier = a.verifier()?.map(Arc::new);
    let tls = a.tls()?;
    if !a.listen.ip().is_loopback() {
        let mut missing = Vec::new();
        if tls.is_none() {
            missing.push("TLS (--tls-cert and --tls-key)");
        }
        if verifier.is_none() {
            missing.push(
                "authentication (--auth-hs256-secret-file, --auth-jwks or --auth-public-key)",
            );
        }
        if !missing.is_empty() {
            if !a.insecure {
                bail!(
                    "refusing to listen on {} without {}: off loopback the server needs TLS and \
                     authentication; configure them, or listen on loopback (e.g. \
                     127.0.0.1:50051); --insecure overrides",
                    a.listen,
                    missing.join(" and ")
                );
            }
            tracing::warn!(
                listen = %a.listen,
                missing = %missing.join(" and "),
                "--insecure: listening off loopback without TLS or without authentication; \
                 anyone who can reach this address may read the traffic or act in any role"
            );
        }
    }
    // First, so that a signal during start-up stops the server cleanly instead of killing it.
    let mut signals = StopSignals::install().context("cannot install the signal handlers")?;
    let grace = Duration::from_millis(a.shutdown_grace_ms);
    let store = open_store(&a.db).await?;
    let key = crate::audit::keys::load_or_generate(&a.signing_key)?;
    tracing::info!(
        key = %a.signing_key.display(),
        public_key = %hex::encode(key.verifying_key().as_bytes()),
        "checkpoint signing key loaded (public key also in {}.pub)",
        a.signing_key.display()
    );
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    if verifier.is_none() {
        tracing::warn!(
            "development mode: no authentication is configured; callers name their own role \
             (x-aspflow-role, aspflow case --as) and every caller is trusted"
        );
    } else {
        tracing::info!("authentication: every call needs a verified bearer token");
    }
    match (&tls, &a.tls_cert, &a.tls_client_ca) {
        (Some(_), Some(cert), None) => tracing::info!(cert = %cert.display(), "TLS"),
        (Some(_), Some(cert), Some(ca)) => tracing::info!(
            cert = %cert.display(),
            client_ca = %ca.display(),
            "mutual TLS: every client needs a certificate signed by the client CA"
        ),
        _ => tracing::info!("plaintext gRPC (no --tls-cert)"),
    }
    if let Some(addr) = a.metrics {
        crate::metrics::install(addr, store.backend())?;
        tracing::info!(%addr, "Prometheus metrics on http://{addr}/metrics");
    }
    tracing::info!(
        listen = %listener.local_addr()?,
        backend = store.backend(),
        db = %redact(&a.db),
        "aspflow serving gRPC"
    );
    // The console shares the port (crate::console): one address to open in a browser.
    let local = listener.local_addr()?;
    tracing::info!(
        "the Bureau's console: open {}://{}/ in a browser{}",
        if tls.is_some() { "https" } else { "http" },
        if local.ip().is_unspecified() {
            format!("localhost:{}", local.port())
        } else {
            local.to_string()
        },
        if verifier.is_none() {
            " (development mode: pick a role to sign in)"
        } else {
            " (sign in with a bearer token)"
        }
    );
    let mut engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(V7Ids),
        ProcedureRules::default(),
    );
    if let Some(url) = &a.read_db {
        let config: StoreConfig = url.parse()?;
        if !matches!(config, StoreConfig::Postgres { .. }) {
            bail!("--read-db takes a postgres:// URL of a standby of --db (SQLite has none)");
        }
        let reads = AnyStore::open_read_only(&config, Arc::new(SystemClock))
            .await
            .with_context(|| format!("cannot open the read store {}", redact(url)))?;
        tracing::info!(read_db = %redact(url), "reads that may lag are served from the read store");
        engine = engine.with_read_store(reads);
    }
    let options = ServeOptions {
        scheduler_tick: (a.scheduler_tick_ms > 0)
            .then(|| Duration::from_millis(a.scheduler_tick_ms)),
        signing_key: Some(Arc::new(key)),
        grace,
        verifier,
        tls,
        cors_origins: a.cors_origins.clone(),
        checkpoints: crate::api::checkpoints::Schedule {
            every: a.checkpoint_every.0,
            events: (a.checkpoint_events > 0).then_some(a.checkpoint_events),
            look_every: Duration::from_secs(10),
        },
        ..ServeOptions::default()
    };
    let shutdown = async move {
        let (first, _) = signals.next().await;
        tracing::info!(
            signal = first,
            grace_ms = grace.as_millis(),
            "shutting down: finishing in-flight calls (a second signal exits at once)"
        );
        tokio::spawn(async move {
            let (second, code) = signals.next().await;
            tracing::error!(
                signal = second,
                "second stop signal: exiting at once, without waiting for in-flight calls"
            );
            // Nothing acknowledged is lost: every append is one committed transaction, and an
            // unfinished one is rolled back by the database.
            std::process::exit(code);
        });
    };
    let served = crate::api::run(listener, engine, options, shutdown).await;
    close_store(&store).await;
    served?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// A time as every command prints it: "2018-01-26 23:00 UTC" (seconds when not zero).
pub fn time_text(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    if t.second() == 0 && t.nanosecond() == 0 {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{error_text, parse_listen, redact};

    #[test]
    fn errors_never_say_a_cause_twice() {
        #[derive(Debug)]
        struct Leaf;
        impl std::fmt::Display for Leaf {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("tcp connect error: Connection refused (os error 111)")
            }
        }
        impl std::error::Error for Leaf {}
        #[derive(Debug)]
        struct Mid(Leaf);
        impl std::fmt::Display for Mid {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("tcp connect error")
            }
        }
        impl std::error::Error for Mid {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = anyhow::Error::new(Mid(Leaf)).context("cannot reach the aspflow server");
        assert_eq!(
            error_text(&e),
            "cannot reach the aspflow server: tcp connect error: Connection refused (os error 111)"
        );
    }

    #[test]
    fn listen_takes_names_and_addresses() {
        assert_eq!(
            parse_listen("localhost:50051").unwrap().to_string(),
            "127.0.0.1:50051"
        );
        assert_eq!(parse_listen("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert!(parse_listen("localhost").is_err());
    }

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://root@h/db"), "postgres://root@h/db");
        assert_eq!(redact("sqlite://aspflow.db"), "sqlite://aspflow.db");
    }
}
