//! Operations, as an operator meets them (issue 8, "Hardening"), with the real `aspflow` binary:
//! the audit tools open the log read-only and refuse what they cannot check instead of passing
//! an empty log (item 4, `read_only`); the server stops on SIGTERM within its grace period even
//! when clients stopped reading their streams, and at once on a second signal (item 6,
//! `shutdown`); a backup, or the database file alone after shutdown, is the whole log (item 5,
//! `backup`). `server` runs a real server process for the last two.

use std::{
    path::Path,
    process::{Command, Output},
    sync::Arc,
};

use aspflow::{
    clock::SystemClock,
    store::{EventStore, ExpectedVersion, SqliteStore},
};

use crate::util::{new_stream, write};

mod backup;
mod checkpoints;
mod observability;
mod read_only;
pub mod server;
mod shutdown;

pub fn aspflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aspflow"))
        .args(args)
        .env_remove("ASPFLOW_DB")
        .output()
        .expect("run aspflow")
}

pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The N of `verified: N events` in `aspflow audit verify`'s output.
#[track_caller]
pub fn verified_events(out: &Output) -> u64 {
    let text = stdout(out);
    text.strip_prefix("verified: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a verification report: {out:?}"))
}

/// The file names in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A migrated SQLite log at `path` with `n` test events in one case, closed (checkpointed).
pub async fn sqlite_log(path: &Path, n: u64) {
    let store = SqliteStore::open(path, Arc::new(SystemClock))
        .await
        .unwrap();
    if n > 0 {
        store
            .append(write("seed", new_stream(), ExpectedVersion::NoStream, 0..n))
            .await
            .unwrap();
    }
    store.close().await.unwrap();
}
