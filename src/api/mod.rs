//! The gRPC edge (tonic): `aspflow.v1` services (`Server`, `Cases`, `EventLog`, `Roster`),
//! `grpc.health.v1` and server reflection (v1 and v1alpha), plus the deadline scheduler.
//!
//! Handlers stay thin: convert the request ([`convert`]), call the [`Engine`], map errors in
//! one place ([`status`]). [`run`] takes a bound listener and a shutdown future (STYLE.md
//! habit 11): on shutdown, streams end, in-flight calls finish, the scheduler stops, all
//! within [`ServeOptions::grace`]; after that [`run`] returns regardless. With
//! [`ServeOptions::tls`] the same services are served over TLS, optionally mutual ([`tls`]).

pub mod access;
pub mod audit;
pub mod auth;
pub mod cases;
pub mod checkpoints;
pub mod convert;
pub mod eventlog;
pub mod limits;
pub mod observe;
pub mod roster;
pub mod status;
pub mod streams;
pub mod tls;
pub mod token;
pub mod visibility;
pub mod web;

use std::{future::Future, time::Duration};

use tokio::{net::TcpListener, sync::watch};
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use crate::{
    engine::Engine,
    pb::{
        self,
        audit_server::AuditServer,
        cases_server::CasesServer,
        event_log_server::EventLogServer,
        roster_server::RosterServer,
        server_server::{Server as ServerService, ServerServer},
    },
    store::EventStore,
};

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The transport failed.
    #[error("gRPC transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built from the embedded descriptors.
    #[error("reflection set-up failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The console could not be set up.
    #[error("console set-up failed: {0}")]
    Console(String),
}

/// Options of the running server.
#[derive(Clone)]
pub struct ServeOptions {
    /// How often the scheduler looks for elapsed deadlines; `None` disables it.
    pub scheduler_tick: Option<Duration>,
    /// The key that signs audit checkpoints; `None`: checkpoints are refused.
    pub signing_key: Option<std::sync::Arc<ed25519_dalek::SigningKey>>,
    /// Once the shutdown future has resolved, how long calls still open may take to finish
    /// before [`run`] returns without them (a stream whose client stopped reading would
    /// otherwise hold the server open for ever).
    pub grace: Duration,
    /// Verifies bearer tokens; `None`: development mode (callers name themselves).
    pub verifier: Option<std::sync::Arc<token::Verifier>>,
    /// Serve over TLS (and require client certificates if it names a client CA); `None`:
    /// plaintext HTTP/2. Build it with [`tls::server_config`].
    pub tls: Option<tonic::transport::ServerTlsConfig>,
    /// Web origins (e.g. `https://console.asp.example.org`) whose pages may call the API from a
    /// browser with gRPC-Web (CORS). Empty: no CORS headers, so browsers allow only pages of
    /// the server's own origin; gRPC-Web from other HTTP clients needs no origin.
    pub cors_origins: Vec<http::HeaderValue>,
    /// How often the node checks the database for readiness (`grpc.health.v1`) and refreshes
    /// its gauges ([`observe`]).
    pub observe_every: Duration,
    /// Checkpoints that sign themselves ([`checkpoints`]); off by default. Needs
    /// [`ServeOptions::signing_key`].
    pub checkpoints: checkpoints::Schedule,
}

/// The default of [`ServeOptions::grace`].
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            scheduler_tick: Some(Duration::from_secs(1)),
            signing_key: None,
            grace: DEFAULT_GRACE,
            verifier: None,
            tls: None,
            cors_origins: Vec::new(),
            observe_every: Duration::from_secs(2),
            checkpoints: checkpoints::Schedule {
                every: None,
                events: None,
                look_every: Duration::from_secs(10),
            },
        }
    }
}

/// The `aspflow.v1.Server` service.
#[derive(Clone)]
pub struct ServerInfo {
    engine: Engine,
    auth: auth::Auth,
}

#[tonic::async_trait]
impl ServerService for ServerInfo {
    async fn get_server_info(
        &self,
        request: Request<pb::GetServerInfoRequest>,
    ) -> Result<Response<pb::GetServerInfoResponse>, Status> {
        self.auth
            .authorize(&request, "/aspflow.v1.Server/GetServerInfo")
            .await?;
        let store = self.engine.store();
        let head_position = store.head_position().await.map_err(|e| {
            tracing::error!(error = %e, "reading the log head failed");
            Status::unavailable("the event log cannot be read right now; try again")
        })?;
        Ok(Response::new(pb::GetServerInfoResponse {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: store.backend().to_owned(),
            head_position,
        }))
    }
}

/// A service with the request decode limit set explicitly ([`limits::MAX_MESSAGE_BYTES`]).
macro_rules! limited {
    ($svc:expr) => {
        $svc.max_decoding_message_size(limits::MAX_MESSAGE_BYTES)
    };
}

/// Serves on `listener` until `shutdown` resolves; then stops accepting connections and gives
/// in-flight calls and the scheduler at most `options.grace` to finish. Calls still open after
/// that are abandoned: this returns, and the caller decides what happens to the tasks left
/// (the `aspflow` binary shuts its runtime down, which drops them).
///
/// # Errors
/// [`ServeError`] if the transport or the reflection set-up fails.
pub async fn run(
    listener: TcpListener,
    engine: Engine,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let auth = match &options.verifier {
        Some(v) => auth::Auth::tokens(v.clone(), engine.clone()),
        None => auth::Auth::development(engine.clone()),
    };
    let (health, health_svc) = tonic_health::server::health_reporter();
    health
        .set_serving::<CasesServer<cases::CasesService>>()
        .await;
    health
        .set_serving::<EventLogServer<eventlog::EventLogService>>()
        .await;
    health
        .set_serving::<RosterServer<roster::RosterService>>()
        .await;
    health.set_serving::<ServerServer<ServerInfo>>().await;
    health
        .set_serving::<AuditServer<audit::AuditService>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let observer = tokio::spawn(observe::run(
        engine.clone(),
        health.clone(),
        options.observe_every,
        stop_rx.clone(),
    ));
    let signer = match (&options.signing_key, options.checkpoints.is_on()) {
        (Some(key), true) => Some(tokio::spawn(checkpoints::run(
            engine.clone(),
            key.clone(),
            options.checkpoints,
            stop_rx.clone(),
        ))),
        _ => None,
    };
    // The node's one follower of the log, which wakes the streams (see engine::tail).
    let tail = tokio::spawn(engine.tail().clone().run(engine.clone(), stop_rx.clone()));
    let scheduler = options.scheduler_tick.map(|tick| {
        let engine = engine.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(tick) => {}
                    _ = stop.changed() => return,
                }
                if let Err(e) = engine.fire_due_deadlines().await {
                    tracing::warn!(error = %e, "deadline scheduler tick failed");
                }
            }
        })
    });

    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let scheduler_abort = scheduler
        .as_ref()
        .map(tokio::task::JoinHandle::abort_handle);
    let grace = options.grace;
    // Resolves `grace` after the stop signal (never, if it never comes).
    let mut stopped = stop_rx.clone();
    let backstop = async move {
        if stopped.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace).await;
    };
    let cases = cases::CasesService::new(engine.clone(), auth.clone(), stop_rx.clone());
    let audit = audit::AuditService::new(
        engine.clone(),
        auth.clone(),
        options.signing_key.clone(),
        stop_rx.clone(),
    );
    let roster = roster::RosterService::new(engine.clone(), auth.clone());
    // The console: a client of these same services, on the same port (crate::console).
    let console = crate::console::Console::new(crate::console::Parts {
        cases: cases.clone(),
        audit: audit.clone(),
        roster: roster.clone(),
        engine: engine.clone(),
        verifier: options.verifier.clone(),
        tls: options.tls.is_some(),
    })
    .map_err(ServeError::Console)?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = options.tls.clone() {
        builder = builder.tls_config(tls)?;
    }
    // gRPC-Web (HTTP/1.1 or HTTP/2, binary or base64 text) is translated to gRPC before the
    // services see it, so it meets the same authentication, access table and limits.
    let server = builder
        // One span per call; the handlers fill in who calls and what (never a payload).
        .trace_fn(|req| {
            tracing::info_span!(
                "rpc",
                rpc = %req.uri().path(),
                subject = tracing::field::Empty,
                role = tracing::field::Empty,
                request_id = tracing::field::Empty,
                correlation_id = tracing::field::Empty,
                case = tracing::field::Empty,
                command = tracing::field::Empty,
            )
        })
        .accept_http1(true)
        // Outermost: what is not gRPC goes to the console's pages.
        .layer(crate::console::split(crate::console::router(console)))
        .layer(tower::util::option_layer(web::cors(&options.cors_origins)))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(tower::util::MapResponseLayer::new(
            limits::oversize_to_resource_exhausted::<tonic::body::Body>,
        ))
        .add_service(health_svc)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(limited!(ServerServer::new(ServerInfo {
            engine: engine.clone(),
            auth: auth.clone(),
        })))
        .add_service(limited!(CasesServer::new(cases)))
        .add_service(limited!(EventLogServer::new(
            eventlog::EventLogService::new(engine.clone(), auth.clone(), stop_rx.clone())
        )))
        .add_service(limited!(AuditServer::new(audit)))
        .add_service(limited!(RosterServer::new(roster)))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), signal);
    let graceful = async move {
        server.await?;
        if let Some(s) = scheduler {
            let _ = s.await;
        }
        Ok::<(), ServeError>(())
    };
    tokio::select! {
        r = graceful => r?,
        () = backstop => {
            // Dropping the server future stops waiting; the connection tasks it spawned are
            // left to the caller's runtime.
            if let Some(s) = scheduler_abort {
                s.abort();
            }
            tracing::warn!(
                grace_ms = grace.as_millis(),
                "shutdown grace elapsed: stopping without the calls still open"
            );
        }
    }
    let _ = tail.await;
    observer.abort();
    if let Some(s) = signer {
        s.abort();
    }
    Ok(())
}
