//! Browsers and plain HTTP clients: gRPC-Web (tonic-web, set up in [`super::run`]) and the
//! CORS policy for the origins an operator allows (`aspflow serve --cors-origin`).
//!
//! gRPC-Web needs no proxy: a `POST /aspflow.v1.<Service>/<Rpc>` with `content-type:
//! application/grpc-web+proto` (or `application/grpc-web-text+proto`, base64) over HTTP/1.1 or
//! HTTP/2 is translated to gRPC and answered with the status in trailers encoded in the body.
//! Authentication is the same `authorization: Bearer` header (or, in development mode, the
//! `x-aspflow-*` metadata). Server streams work; client streams do not exist in aspflow.v1.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers a gRPC-Web page may send.
const ALLOWED_HEADERS: [&str; 8] = [
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "authorization",
    "x-aspflow-role",
    "x-aspflow-subject",
    "x-aspflow-region",
];

/// Response headers the page's script may read (the status, when it comes in headers).
const EXPOSED_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(3600);

/// The CORS layer for these origins; `None` when there are none (no CORS headers at all).
/// Credentials (cookies) are not allowed: callers authenticate with the bearer header.
pub fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([Method::POST, Method::OPTIONS])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

/// Checks an origin given on the command line: `scheme://host[:port]`, no path, no wildcard.
///
/// # Errors
/// A sentence saying what was expected.
pub fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    let expected = "expected an origin such as https://console.example.org or \
                    http://localhost:8080 (scheme, host and optional port; no path, no \"*\")";
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| format!("{text:?}: {expected}"))?;
    let host_ok = !rest.is_empty()
        && !rest.contains(['/', '*', '?', '#', ' '])
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !matches!(scheme, "http" | "https") || !host_ok {
        return Err(format!("{text:?}: {expected}"));
    }
    HeaderValue::from_str(text).map_err(|_| format!("{text:?}: {expected}"))
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn origins_are_checked() {
        assert!(parse_origin("https://console.asp.example.org").is_ok());
        assert!(parse_origin("http://localhost:8080").is_ok());
        assert!(parse_origin("http://[::1]:8080").is_ok());
        for bad in [
            "*",
            "https://",
            "console.example.org",
            "https://a.org/path",
            "ftp://a.org",
        ] {
            let e = parse_origin(bad).expect_err(bad);
            assert!(e.contains("expected an origin"), "{e}");
        }
    }
}
