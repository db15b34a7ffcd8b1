//! Who is calling, and whether they may call this RPC.
//!
//! Two modes, chosen once when the server starts:
//! - **Tokens**: every RPC needs `authorization: Bearer <JWT>`, verified by [`token::Verifier`].
//!   The principal comes only from the verified claims: the subject is recorded as the actor of
//!   every act; the role is the token's role, or, when it grants several, the one the caller
//!   names in `x-aspflow-role` (which must be among them). `x-aspflow-subject` and
//!   `x-aspflow-region` are ignored.
//! - **Development** (no auth configured; the server then listens on loopback only): the
//!   caller names itself in request metadata, as below. Reads without a role act as `observer`.
//!
//! | metadata key | value |
//! |---|---|
//! | `authorization` | `Bearer <JWT>` (token mode) |
//! | `x-aspflow-role` | `court_liaison`, `president`, `bureau`, `focal_point`, `secretariat`, `auditor`, `observer` |
//! | `x-aspflow-subject` | who (development mode; defaults to `dev-<role>`) |
//! | `x-aspflow-region` | the region covered (development mode, when the roster does not name the subject) |
//!
//! In both modes a focal point's region and the President's own region come from the current
//! roster (`engine::identity`) when it names them, and every RPC is checked against
//! [`access::RPCS`] (deny by default). Limits per caller (open streams, whole-log scans) are
//! kept here too. Status codes are built in `status.rs`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tonic::Request;

use super::{access, limits, token::Verifier};
use crate::{
    domain::{Principal, Region, Role},
    engine::Engine,
};

/// Metadata keys.
pub const ROLE: &str = "x-aspflow-role";
/// Metadata keys.
pub const SUBJECT: &str = "x-aspflow-subject";
/// Metadata keys.
pub const REGION: &str = "x-aspflow-region";
/// Metadata key of the bearer token.
pub const AUTHORIZATION: &str = "authorization";

/// Most server streams one caller (subject) may hold open at once.
pub const MAX_STREAMS_PER_CALLER: usize = 32;
/// Whole-log scans (checkpoints, log verification, exports with a checkpoint) one caller may
/// make in a burst; the allowance refills by one every [`SCAN_REFILL`].
pub const SCAN_BURST: f64 = 5.0;
/// How fast the scan allowance refills.
pub const SCAN_REFILL: Duration = Duration::from_secs(10);

/// Why a caller was turned away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No usable identity (`UNAUTHENTICATED`).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's role may not call this RPC (`PERMISSION_DENIED`).
    #[error("the role {role} may not call {rpc}; roles that may: {allowed}")]
    RpcNotPermitted {
        /// The RPC.
        rpc: String,
        /// The caller's role.
        role: String,
        /// Who may.
        allowed: String,
    },
    /// The token does not grant the role asked for (`PERMISSION_DENIED`).
    #[error("the token does not grant the role {asked}; it grants: {granted}")]
    RoleNotGranted {
        /// Asked for in `x-aspflow-role`.
        asked: String,
        /// What the token grants.
        granted: String,
    },
    /// A per-caller limit (`RESOURCE_EXHAUSTED`, with a retry hint).
    #[error("{what}; retry in {} s", retry_after.as_secs().max(1))]
    Limit {
        /// Which limit.
        what: String,
        /// When to retry.
        retry_after: Duration,
    },
}

enum Mode {
    Development,
    Tokens(Arc<Verifier>),
}

struct Inner {
    mode: Mode,
    engine: Engine,
    streams: Mutex<HashMap<String, usize>>,
    /// Per caller: scans left, and when that was computed.
    scans: Mutex<HashMap<String, (f64, Instant)>>,
}

/// The server's authenticator. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

/// A slot in a caller's stream allowance, given back when dropped (when the stream ends).
pub struct StreamSlot {
    auth: Auth,
    subject: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self
            .auth
            .inner
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = streams.get_mut(&self.subject) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                streams.remove(&self.subject);
            }
        }
    }
}

fn text<'a, T>(req: &'a Request<T>, key: &str) -> Option<&'a str> {
    req.metadata()
        .get(key)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

const ROLES: &str = "court_liaison, president, bureau, focal_point, secretariat, auditor, observer";

fn parse_role(r: &str) -> Result<Role, AuthError> {
    match Role::parse(r) {
        Some(Role::System) => Err(AuthError::Unauthenticated(
            "the system role is reserved for the server's own scheduler".into(),
        )),
        Some(role) => Ok(role),
        None => Err(AuthError::Unauthenticated(format!(
            "unknown role {} in {ROLE}: expected one of {ROLES}",
            limits::shown(r)
        ))),
    }
}

fn names(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Auth {
    /// Development mode: callers name themselves (loopback only; the CLI enforces that).
    pub fn development(engine: Engine) -> Self {
        Self::with(Mode::Development, engine)
    }

    /// Token mode: every call needs a verified bearer token.
    pub fn tokens(verifier: Arc<Verifier>, engine: Engine) -> Self {
        Self::with(Mode::Tokens(verifier), engine)
    }

    fn with(mode: Mode, engine: Engine) -> Self {
        Auth {
            inner: Arc::new(Inner {
                mode,
                engine,
                streams: Mutex::default(),
                scans: Mutex::default(),
            }),
        }
    }

    /// Whether callers are trusted to name themselves.
    pub fn is_development(&self) -> bool {
        matches!(self.inner.mode, Mode::Development)
    }

    /// The caller of `rpc` (e.g. `/aspflow.v1.Cases/GetCase`), allowed to call it.
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`] without a valid identity; [`AuthError::RpcNotPermitted`]
    /// or [`AuthError::RoleNotGranted`] when the role may not call it. Store failures while
    /// reading the roster leave the principal without a region (and log).
    pub async fn authorize<T>(&self, req: &Request<T>, rpc: &str) -> Result<Principal, AuthError> {
        let mut principal = match &self.inner.mode {
            Mode::Development => development_principal(req, access::is_write(rpc))?,
            Mode::Tokens(v) => {
                let header = text(req, AUTHORIZATION).ok_or_else(|| {
                    AuthError::Unauthenticated(
                        "no bearer token: send `authorization: Bearer <token>` \
                         (aspflow ... --token or ASPFLOW_TOKEN)"
                            .into(),
                    )
                })?;
                let token = header
                    .strip_prefix("Bearer ")
                    .or_else(|| header.strip_prefix("bearer "))
                    .ok_or_else(|| {
                        AuthError::Unauthenticated(
                            "the authorization metadata must be `Bearer <token>`".into(),
                        )
                    })?;
                let id = v
                    .verify(token.trim())
                    .map_err(|e| AuthError::Unauthenticated(e.to_string()))?;
                let role = match text(req, ROLE) {
                    Some(asked) => {
                        let role = parse_role(asked)?;
                        if !id.roles.contains(&role) {
                            return Err(AuthError::RoleNotGranted {
                                asked: role.as_str().into(),
                                granted: names(&id.roles),
                            });
                        }
                        role
                    }
                    None => match id.roles.as_slice() {
                        [one] => *one,
                        [] => {
                            return Err(AuthError::Unauthenticated(format!(
                                "the token grants no aspflow role (claim `role` or `roles`: {ROLES})"
                            )));
                        }
                        several => {
                            return Err(AuthError::Unauthenticated(format!(
                                "the token grants several roles ({}): name the one you act in with {ROLE}",
                                names(several)
                            )));
                        }
                    },
                };
                Principal::new(id.subject, role)
            }
        };
        // Who calls, on the request's span (api::run): in every log line of this call.
        let span = tracing::Span::current();
        span.record("subject", principal.subject.as_str());
        span.record("role", principal.role.as_str());
        let allowed = access::allowed(rpc).unwrap_or_default();
        if !allowed.contains(&principal.role) {
            return Err(AuthError::RpcNotPermitted {
                rpc: rpc.trim_start_matches('/').to_owned(),
                role: principal.role.as_str().to_owned(),
                allowed: if allowed.is_empty() {
                    "none".into()
                } else {
                    names(&allowed)
                },
            });
        }
        if let Some(region) = self.roster_region(&principal).await {
            principal.region = Some(region);
        } else if !self.is_development() {
            // In token mode a region is only ever the roster's.
            principal.region = None;
        }
        Ok(principal)
    }

    /// The region the roster gives this principal (focal points, the President).
    async fn roster_region(&self, p: &Principal) -> Option<Region> {
        let engine = &self.inner.engine;
        let now = engine.clock().now();
        let found = match p.role {
            Role::FocalPoint => engine.focal_point_region(&p.subject, now).await,
            Role::President => engine.president_region(now).await,
            _ => return None,
        };
        found.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the roster for a caller's region");
            None
        })
    }

    /// Takes one of the caller's stream slots (given back when the slot is dropped).
    ///
    /// # Errors
    /// [`AuthError::Limit`] when the caller already holds [`MAX_STREAMS_PER_CALLER`].
    pub fn stream_slot(&self, p: &Principal) -> Result<StreamSlot, AuthError> {
        let mut streams = self.inner.streams.lock().unwrap_or_else(|e| e.into_inner());
        let n = streams.entry(p.subject.clone()).or_default();
        if *n >= MAX_STREAMS_PER_CALLER {
            return Err(AuthError::Limit {
                what: format!(
                    "{} already holds {MAX_STREAMS_PER_CALLER} open streams, the most allowed",
                    p.subject
                ),
                retry_after: Duration::from_secs(5),
            });
        }
        *n += 1;
        Ok(StreamSlot {
            auth: self.clone(),
            subject: p.subject.clone(),
        })
    }

    /// Admits one whole-log scan (checkpoint, log verification) for the caller: a burst of
    /// [`SCAN_BURST`], then one every [`SCAN_REFILL`].
    ///
    /// # Errors
    /// [`AuthError::Limit`] with the time to wait.
    pub fn admit_scan(&self, p: &Principal) -> Result<(), AuthError> {
        let mut scans = self.inner.scans.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = SCAN_REFILL.as_secs_f64();
        let (left, at) = scans.get(&p.subject).copied().unwrap_or((SCAN_BURST, now));
        let left = (left + now.duration_since(at).as_secs_f64() / refill).min(SCAN_BURST);
        if left < 1.0 {
            scans.insert(p.subject.clone(), (left, now));
            return Err(AuthError::Limit {
                what: format!(
                    "{} has used its whole-log scans ({SCAN_BURST} at once, then one every {} s)",
                    p.subject,
                    SCAN_REFILL.as_secs()
                ),
                retry_after: Duration::from_secs_f64((1.0 - left) * refill),
            });
        }
        scans.insert(p.subject.clone(), (left - 1.0, now));
        Ok(())
    }
}

fn development_principal<T>(req: &Request<T>, write: bool) -> Result<Principal, AuthError> {
    let role = match text(req, ROLE) {
        Some(r) => parse_role(r)?,
        None if write => {
            return Err(AuthError::Unauthenticated(format!(
                "no caller: set the {ROLE} metadata (development mode; e.g. aspflow case ... --as secretariat)"
            )));
        }
        None => Role::Observer,
    };
    let subject = text(req, SUBJECT)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("dev-{}", role.as_str()));
    if subject.len() > limits::MAX_NAME_BYTES {
        return Err(AuthError::Unauthenticated(format!(
            "{SUBJECT} is {} bytes long; at most {} are allowed",
            subject.len(),
            limits::MAX_NAME_BYTES
        )));
    }
    let mut p = Principal::new(subject, role);
    if let Some(r) = text(req, REGION) {
        let region = Region::ALL
            .into_iter()
            .find(|x| x.as_str() == r)
            .ok_or_else(|| {
                AuthError::Unauthenticated(format!(
                    "unknown region {} in {REGION}: expected african, asia_pacific, eastern_european, latin_american_caribbean or western_european_other",
                    limits::shown(r)
                ))
            })?;
        p = p.in_region(region);
    }
    Ok(p)
}
