//! The integrators' contract (issue 12): the published JSON Schemas of the stored events
//! (`schemas`), the proto linted and checked for breaking changes with buf (`buf`), gRPC-Web
//! for browsers and plain HTTP clients (`grpc_web`), and the example clients in Python and
//! TypeScript run against a real server (`examples`).
//!
//! The outside tools (buf, Python with grpcio, Node.js with the example's packages) are
//! installed by `.ci/run`. Without them a test says what to install and passes as skipped; with
//! `CI=true` a missing tool fails it: in CI these checks never skip.

mod buf;
mod examples;
mod grpc_web;
pub mod schemas;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `Some(path)` if the tool is there; otherwise `None` after printing how to install it, or a
/// panic when `CI=true` (CI installs every tool: a missing one is a broken `.ci/run`).
pub fn tool(path: Option<PathBuf>, what: &str, install: &str) -> Option<PathBuf> {
    if let Some(p) = path {
        return Some(p);
    }
    let message = format!("{what} is not installed; to run this test: {install}");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message} (.ci/run installs it: in CI this test never skips)"
    );
    eprintln!("skipped: {message}");
    None
}

/// The first of `names` that runs `--version` successfully, looked up on the PATH.
pub fn on_path(names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|n| {
        std::process::Command::new(n)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| PathBuf::from(n))
    })
}
