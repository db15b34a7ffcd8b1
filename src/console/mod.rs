//! The Bureau's console: server-rendered HTML pages for the people who run the procedures,
//! served by `aspflow serve` on the gRPC port (and its TLS, when configured).
//!
//! The console is a client of the gRPC services, run in-process: every page calls the same
//! service methods an integrator calls, with the signed-in person's bearer token (or, in
//! development mode, their chosen role) as request metadata. So authentication, the access
//! table, confidentiality and every domain rule are the API's; the console repeats none of
//! them. Forms are generated from the proto descriptors ([`form`]), what a person may do from
//! `AvailableActions`, and live updates come from `WatchCase` ([`live`]).
//!
//! | path | page |
//! |---|---|
//! | `/sign-in`, `/sign-out` | sign-in with a bearer token (or the development role picker) |
//! | `/cases` | the list, with filters, by next deadline, in pages |
//! | `/cases/new/{formal,preventive}` | open a case |
//! | `/cases/{id}` | a case: where it stands, deadlines, who acts next, the timeline |
//! | `/cases/{id}/live` | server-sent events: one per recorded event |
//! | `/cases/{id}/act/{command}` | the form of one command |
//! | `/cases/{id}/audit`, `/cases/{id}/export` | chain verification; the verifiable export |
//! | `/roster` | the focal points by region and term |
//! | `/lang/{en,fr}` | the language (a cookie) |
//!
//! Sessions live in an HttpOnly, SameSite=Strict cookie (Secure under TLS); every form carries
//! a CSRF token bound to the session, and a POST from another origin is refused.

mod acts;
pub mod diagram;
pub mod form;
pub mod i18n;
mod live;
mod pages;
pub mod records;
mod session;
mod views;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use prost_reflect::DescriptorPool;
use tonic::Code;

use crate::api::{
    audit::AuditService, cases::CasesService, roster::RosterService, token::Verifier,
};
pub use session::Session;

/// The console's services and settings. Cheap to share ([`Arc`]).
pub struct Console {
    cases: CasesService,
    audit: AuditService,
    roster: RosterService,
    engine: crate::engine::Engine,
    verifier: Option<Arc<Verifier>>,
    /// Cookies marked Secure (the server speaks TLS).
    secure: bool,
    /// Binds CSRF tokens to sessions; new at every start.
    secret: [u8; 32],
    pool: DescriptorPool,
}

/// What builds a [`Console`].
pub struct Parts {
    /// The Cases service.
    pub cases: CasesService,
    /// The Audit service.
    pub audit: AuditService,
    /// The Roster service.
    pub roster: RosterService,
    /// The engine (its clock dates "days left").
    pub engine: crate::engine::Engine,
    /// Token mode's verifier; `None`: development mode.
    pub verifier: Option<Arc<Verifier>>,
    /// The server speaks TLS.
    pub tls: bool,
}

impl Console {
    /// A console over the services.
    ///
    /// # Errors
    /// When the embedded descriptors cannot be read (a build defect) or no random bytes are
    /// available.
    pub fn new(p: Parts) -> Result<Arc<Self>, String> {
        let pool = DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET)
            .map_err(|e| format!("the console cannot read the API descriptors: {e}"))?;
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| format!("no random bytes: {e}"))?;
        Ok(Arc::new(Console {
            cases: p.cases,
            audit: p.audit,
            roster: p.roster,
            engine: p.engine,
            verifier: p.verifier,
            secure: p.tls,
            secret,
            pool,
        }))
    }

    fn development(&self) -> bool {
        self.verifier.is_none()
    }
}

/// The console's routes. Requests the console does not know get a 404 page (gRPC requests
/// never reach it: [`split`] sends them to the services).
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(|| async { see_other("/cases") }))
        .route("/static/{file}", get(static_file))
        .route("/sign-in", get(pages::sign_in_page).post(pages::sign_in))
        .route("/sign-out", post(pages::sign_out))
        .route("/cases", get(pages::cases))
        .route("/lang/{code}", get(pages::set_lang))
        .route(
            "/cases/new/{procedure}",
            get(acts::open_form).post(acts::open_case),
        )
        .route("/cases/{id}", get(pages::case_page))
        .route("/cases/{id}/live", get(live::events))
        .route(
            "/cases/{id}/act/{command}",
            get(acts::act_form).post(acts::act),
        )
        .route("/cases/{id}/audit", get(records::audit))
        .route("/cases/{id}/export", get(records::export))
        .route("/roster", get(records::roster))
        .fallback(not_found)
        .with_state(console)
}

async fn not_found(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let lang = i18n::Lang::of(&headers);
    let page = pages::message_page(&c, lang, None, "not_found", "not_found_text");
    with_status(page, StatusCode::NOT_FOUND)
}

/// The files the pages use, compiled into the binary (no front-end build).
async fn static_file(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "console.css" => (
            include_str!("static/console.css"),
            "text/css; charset=utf-8",
        ),
        "console.js" => (
            include_str!("static/console.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// A 303 to `to` (after a form, or to the sign-in page).
fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

/// An HTML page with the console's security headers: scripts and styles only from the
/// server itself, no framing, no sniffing, no caching of what a person may see.
fn html(markup: maud::Markup) -> Response {
    let mut r = Response::new(Body::from(markup.into_string()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The HTTP status a page shows for a gRPC status.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Query pairs as a map (the last value of a repeated key wins).
type Pairs = Query<Vec<(String, String)>>;

/// Sends every request whose content type is gRPC (or gRPC-Web) to `grpc`, the rest to the
/// console: both on one port, behind one TLS configuration.
#[derive(Clone)]
pub struct Split<S> {
    grpc: S,
    console: Router,
}

/// The [`tower::Layer`] of [`Split`].
#[derive(Clone)]
pub struct SplitLayer {
    console: Router,
}

/// Puts the console in front of the gRPC services.
pub fn split(console: Router) -> SplitLayer {
    SplitLayer { console }
}

impl<S> tower::Layer<S> for SplitLayer {
    type Service = Split<S>;
    fn layer(&self, grpc: S) -> Split<S> {
        Split {
            grpc,
            console: self.console.clone(),
        }
    }
}

fn is_grpc<B>(req: &http::Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
        // CORS pre-flights of gRPC-Web clients.
        || (req.method() == http::Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD))
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, RB> tower::Service<http::Request<B>> for Split<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
    RB: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    RB::Error: Into<tower::BoxError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.grpc.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if is_grpc(&req) {
            // Take the service that was driven to readiness; leave a clone in its place.
            let clone = self.grpc.clone();
            let mut grpc = std::mem::replace(&mut self.grpc, clone);
            Box::pin(async move {
                let r = grpc.call(req).await?;
                Ok(r.map(tonic::body::Body::new))
            })
        } else {
            let console = self.console.clone();
            let mut req = req;
            // HTTP/2 (what browsers speak under TLS) carries the host in the URI, not in a
            // Host header: give the console one place to read it (the origin check needs it).
            if !req.headers().contains_key(header::HOST)
                && let Some(v) = req
                    .uri()
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                req.headers_mut().insert(header::HOST, v);
            }
            Box::pin(async move {
                let r = tower::ServiceExt::oneshot(console, req.map(Body::new))
                    .await
                    .unwrap_or_else(|never| match never {});
                Ok(r.map(tonic::body::Body::new))
            })
        }
    }
}
