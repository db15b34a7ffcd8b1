//! Who is calling. Until token authentication lands, the server runs in development mode: the
//! caller names itself in request metadata, and the permission table of the domain applies to
//! that principal end to end.
//!
//! | metadata key | value |
//! |---|---|
//! | `x-aspflow-role` | `court_liaison`, `president`, `bureau`, `focal_point`, `secretariat`, `auditor`, `observer` (required for writes) |
//! | `x-aspflow-subject` | who (defaults to `dev-<role>`) |
//! | `x-aspflow-region` | the region covered (focal points; the President's own region) |

use tonic::{Request, Status};

use crate::domain::{Principal, Region, Role};

/// Metadata keys.
pub const ROLE: &str = "x-aspflow-role";
/// Metadata keys.
pub const SUBJECT: &str = "x-aspflow-subject";
/// Metadata keys.
pub const REGION: &str = "x-aspflow-region";

fn text<'a, T>(req: &'a Request<T>, key: &str) -> Option<&'a str> {
    req.metadata()
        .get(key)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The calling principal; readers without a role act as `observer`.
///
/// # Errors
/// `UNAUTHENTICATED` when the role or region is unknown, or when `system` is claimed.
pub fn principal<T>(req: &Request<T>, write: bool) -> Result<Principal, Status> {
    let role = match text(req, ROLE) {
        Some(r) => Role::parse(r).ok_or_else(|| {
            Status::unauthenticated(format!(
                "unknown role {} in {ROLE}: expected one of court_liaison, president, bureau, focal_point, secretariat, auditor, observer",
                crate::api::limits::shown(r)
            ))
        })?,
        None if write => {
            return Err(Status::unauthenticated(format!(
                "no caller: set the {ROLE} metadata (development mode; e.g. aspflow case ... --as secretariat)"
            )));
        }
        None => Role::Observer,
    };
    if role == Role::System {
        return Err(Status::unauthenticated(
            "the system role is reserved for the server's own scheduler",
        ));
    }
    let subject = text(req, SUBJECT)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("dev-{}", role.as_str()));
    if subject.len() > crate::api::limits::MAX_NAME_BYTES {
        return Err(Status::unauthenticated(format!(
            "{SUBJECT} is {} bytes long; at most {} are allowed",
            subject.len(),
            crate::api::limits::MAX_NAME_BYTES
        )));
    }
    let mut p = Principal::new(subject, role);
    if let Some(r) = text(req, REGION) {
        let region = Region::ALL
            .into_iter()
            .find(|x| x.as_str() == r)
            .ok_or_else(|| {
                Status::unauthenticated(format!(
                    "unknown region {} in {REGION}: expected african, asia_pacific, eastern_european, latin_american_caribbean or western_european_other",
                    crate::api::limits::shown(r)
                ))
            })?;
        p = p.in_region(region);
    }
    Ok(p)
}
