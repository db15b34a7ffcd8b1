//! Who is signed in: the session cookie, the CSRF token bound to it, and the request metadata
//! the gRPC services read ([`crate::api::auth`]).
//!
//! In token mode the cookie holds the bearer token itself (verified on every request, so an
//! expired token signs the person out) and, when the token grants several roles, the one
//! chosen. In development mode it holds the role, subject and region picked on the sign-in page.

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

use super::Console;
use crate::{
    api::auth,
    domain::{Region, Role},
};

/// The session cookie's name.
pub const COOKIE: &str = "aspflow_session";

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie's value (binds the CSRF token).
    raw: String,
    /// Who, as the token or the picker says.
    pub subject: String,
    /// The role acted in.
    pub role: Role,
    /// The region named in development mode.
    pub region: Option<Region>,
    /// Token mode: the bearer token.
    token: Option<String>,
    /// Token mode: the role was chosen among several.
    chose_role: bool,
}

/// Why no session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoSession {
    /// No cookie.
    Absent,
    /// A cookie that no longer holds (expired or replaced token, unknown role).
    Invalid(String),
    /// The token grants several roles and none was chosen.
    SeveralRoles,
}

/// The longest token the console keeps: browsers drop cookies over 4 KB without a word.
pub const MAX_TOKEN: usize = 3800;

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Subjects the development picker accepts: letters, digits and `-_.@`.
pub fn valid_dev_subject(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

impl Console {
    /// The session of this request.
    pub(crate) fn session(&self, headers: &HeaderMap) -> Result<Session, NoSession> {
        let raw = cookie(headers, self.cookie_name()).ok_or(NoSession::Absent)?;
        self.read_session(raw)
    }

    /// Reads a cookie value (as [`Console::session_value`] wrote it).
    pub(crate) fn read_session(&self, raw: &str) -> Result<Session, NoSession> {
        let bad = |why: &str| NoSession::Invalid(why.to_owned());
        match &self.verifier {
            Some(v) => {
                let rest = raw
                    .strip_prefix("t.")
                    .ok_or_else(|| bad("not a token session"))?;
                let (role, token) = rest.split_once('.').ok_or_else(|| bad("malformed"))?;
                let id = v
                    .verify(token)
                    .map_err(|e| NoSession::Invalid(e.to_string()))?;
                let role = match (role, id.roles.as_slice()) {
                    ("-", [one]) => *one,
                    ("-", [_, _, ..]) => return Err(NoSession::SeveralRoles),
                    ("-", []) => return Err(bad("the token grants no aspflow role")),
                    (name, roles) => Role::parse(name)
                        .filter(|r| roles.contains(r))
                        .ok_or_else(|| bad("the token does not grant the chosen role"))?,
                };
                if role == Role::System {
                    return Err(bad("the system role is the server's own"));
                }
                Ok(Session {
                    raw: raw.to_owned(),
                    subject: id.subject,
                    role,
                    region: None,
                    token: Some(token.to_owned()),
                    chose_role: role_chosen(&id.roles),
                })
            }
            None => {
                let rest = raw
                    .strip_prefix("d.")
                    .ok_or_else(|| bad("not a development session"))?;
                let mut parts = rest.splitn(3, '.');
                let role = parts
                    .next()
                    .and_then(Role::parse)
                    .filter(|r| *r != Role::System)
                    .ok_or_else(|| bad("unknown role"))?;
                let region = match parts.next() {
                    Some("-") | None => None,
                    Some(r) => Some(
                        Region::ALL
                            .into_iter()
                            .find(|x| x.as_str() == r)
                            .ok_or_else(|| bad("unknown region"))?,
                    ),
                };
                let subject = parts
                    .next()
                    .filter(|s| valid_dev_subject(s))
                    .ok_or_else(|| bad("bad subject"))?;
                Ok(Session {
                    raw: raw.to_owned(),
                    subject: subject.to_owned(),
                    role,
                    region,
                    token: None,
                    chose_role: false,
                })
            }
        }
    }

    /// The cookie value of a token session.
    pub(crate) fn token_session_value(token: &str, role: Option<Role>) -> String {
        format!("t.{}.{token}", role.map_or("-", Role::as_str))
    }

    /// The cookie value of a development session.
    pub(crate) fn dev_session_value(role: Role, region: Option<Region>, subject: &str) -> String {
        format!(
            "d.{}.{}.{subject}",
            role.as_str(),
            region.map_or("-", Region::as_str)
        )
    }

    /// The session cookie's name: under TLS with the `__Host-` prefix, which browsers accept
    /// only from this host, over HTTPS, for the whole site (no cookie planted by a sibling
    /// domain can stand in for it).
    pub(crate) fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-aspflow_session"
        } else {
            COOKIE
        }
    }

    /// `Set-Cookie` for a session (empty value: signs out). A value with a character a
    /// cookie may not hold (only a token's or a picker's characters may) signs out too.
    pub(crate) fn set_cookie(&self, value: &str) -> HeaderValue {
        let safe = value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'-' | b'_' | b'@' | b'~' | b'+' | b'/' | b'=')
        });
        let value = if safe { value } else { "" };
        let name = self.cookie_name();
        let age = if value.is_empty() { "; Max-Age=0" } else { "" };
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("aspflow_session=; Path=/; Max-Age=0"))
    }

    /// The CSRF token of a session: a hash of the session and the server's secret.
    pub(crate) fn csrf(&self, s: &Session) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(s.raw.as_bytes());
        hex::encode(&h.finalize()[..16])
    }

    /// Whether a form's CSRF token is the session's, and the request comes from this origin.
    pub(crate) fn csrf_ok(&self, s: &Session, headers: &HeaderMap, token: Option<&str>) -> bool {
        same_origin(headers) && token.is_some_and(|t| constant_eq(t, &self.csrf(s)))
    }
}

fn role_chosen(roles: &[Role]) -> bool {
    roles.len() > 1
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A POST whose `Origin` (when the browser sends one) is not this server's is refused.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| !host.is_empty() && rest == host)
}

impl Session {
    /// A gRPC request made as this person.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        let md = r.metadata_mut();
        let mut put = |k: &'static str, v: &str| {
            if let Ok(v) = v.parse() {
                md.insert(k, v);
            }
        };
        match &self.token {
            Some(t) => {
                put(auth::AUTHORIZATION, &format!("Bearer {t}"));
                if self.chose_role {
                    put(auth::ROLE, self.role.as_str());
                }
            }
            None => {
                put(auth::ROLE, self.role.as_str());
                put(auth::SUBJECT, &self.subject);
                if let Some(r) = self.region {
                    put(auth::REGION, r.as_str());
                }
            }
        }
        r
    }

    /// Whether the session came from a bearer token.
    pub fn from_token(&self) -> bool {
        self.token.is_some()
    }
}
