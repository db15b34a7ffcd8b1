//! The one place that turns aspflow's errors into gRPC statuses (STYLE.md habit 6).
//!
//! | error | code |
//! |---|---|
//! | a malformed request field ([`Invalid`]), or the domain's `InvalidField` | `INVALID_ARGUMENT` + `google.rpc.BadRequest` naming the field |
//! | a domain rejection | `FAILED_PRECONDITION` + `google.rpc.ErrorInfo` (reason = rejection code, metadata = its fields) |
//! | `NotPermitted`, `FocalPointRegionMismatch` | `PERMISSION_DENIED` + `ErrorInfo` |
//! | stale explicit expected version; retries exhausted under contention | `ABORTED` |
//! | unknown case | `NOT_FOUND` |
//! | no or invalid bearer token ([`AuthError`]) | `UNAUTHENTICATED` |
//! | the caller's role may not call the RPC, or the token does not grant the role asked for | `PERMISSION_DENIED` + `ErrorInfo` (`RpcNotPermitted`, `RoleNotGranted`) |
//! | a per-caller limit (streams, whole-log scans) | `RESOURCE_EXHAUSTED` + `google.rpc.RetryInfo` |
//! | request id reused with other content | `ALREADY_EXISTS` |
//! | database unreachable or failing | `UNAVAILABLE` (details in the server log only) |
//! | a stored event this build cannot read (a bug) | `INTERNAL` (details in the server log only) |

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::auth::AuthError;
use crate::{domain::Rejection, engine::EngineError};

/// A request field that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: expected {expected}")]
pub struct Invalid {
    /// Field path, e.g. `act.occurred_at` or `referral.targets[1]`.
    pub field: String,
    /// What was expected, in words.
    pub expected: String,
}

impl Invalid {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, expected: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            expected: expected.into(),
        }
    }
}

fn bad_request(field: &str, expected: &str, message: String) -> Status {
    let details = ErrorDetails::with_bad_request_violation(field, format!("expected {expected}"));
    Status::with_error_details(Code::InvalidArgument, message, details)
}

impl From<Invalid> for Status {
    fn from(e: Invalid) -> Self {
        bad_request(&e.field, &e.expected, e.to_string())
    }
}

fn rejection(r: Rejection) -> Status {
    let fields = r.fields();
    if let Rejection::InvalidField { field, expected } = &r {
        return bad_request(field, expected, r.to_string());
    }
    let code = match r {
        Rejection::NotPermitted { .. } | Rejection::FocalPointRegionMismatch { .. } => {
            Code::PermissionDenied
        }
        _ => Code::FailedPrecondition,
    };
    let metadata: HashMap<String, String> =
        fields.into_iter().filter(|(k, _)| k != "code").collect();
    let details = ErrorDetails::with_error_info(r.code(), "aspflow", metadata);
    Status::with_error_details(code, r.to_string(), details)
}

impl From<EngineError> for Status {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid { field, expected } => Invalid { field, expected }.into(),
            EngineError::NotFound(what) => Status::not_found(format!(
                "case {} not found: give a case id (UUID) or a reference such as NC-2017-0001",
                super::limits::shown(&what)
            )),
            EngineError::Rejected(r) => rejection(r),
            EngineError::Conflict { expected, actual } => {
                // The current version rides along: a client that only appends (it does not
                // need to see what changed) retries with it at once, without a read.
                let metadata = HashMap::from([
                    ("expected".to_owned(), expected.to_string()),
                    ("actual".to_owned(), actual.to_string()),
                ]);
                let details = ErrorDetails::with_error_info("VersionConflict", "aspflow", metadata);
                Status::with_error_details(
                    Code::Aborted,
                    format!("{e}; read the case again and retry with its current version"),
                    details,
                )
            }
            EngineError::Contention { .. } => {
                Status::aborted(format!("{e}; retry the request (with the same request_id)"))
            }
            EngineError::DuplicateRequest(_) => {
                Status::already_exists(format!("{e}; use a new request_id for a new request"))
            }
            EngineError::Corrupt(m) => {
                tracing::error!(error = %m, "stored data cannot be read");
                Status::internal("internal error: stored data cannot be read (see the server log)")
            }
            EngineError::Store(s) => {
                tracing::error!(error = %s, "store failure");
                Status::unavailable("the event log is unavailable right now; retry later")
            }
        }
    }
}

impl From<AuthError> for Status {
    fn from(e: AuthError) -> Self {
        let message = e.to_string();
        match e {
            AuthError::Unauthenticated(_) => Status::unauthenticated(message),
            AuthError::RpcNotPermitted { rpc, role, allowed } => {
                let metadata = HashMap::from([
                    ("rpc".to_owned(), rpc),
                    ("role".to_owned(), role),
                    ("allowed".to_owned(), allowed),
                ]);
                let details = ErrorDetails::with_error_info("RpcNotPermitted", "aspflow", metadata);
                Status::with_error_details(Code::PermissionDenied, message, details)
            }
            AuthError::RoleNotGranted { asked, granted } => {
                let metadata =
                    HashMap::from([("asked".to_owned(), asked), ("granted".to_owned(), granted)]);
                let details = ErrorDetails::with_error_info("RoleNotGranted", "aspflow", metadata);
                Status::with_error_details(Code::PermissionDenied, message, details)
            }
            AuthError::Limit { retry_after, .. } => {
                let details = ErrorDetails::with_retry_info(Some(retry_after));
                Status::with_error_details(Code::ResourceExhausted, message, details)
            }
        }
    }
}
