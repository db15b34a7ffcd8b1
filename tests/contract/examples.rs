//! The example clients in other languages (examples/python, examples/typescript), each run
//! against a real `aspflow serve` process in development mode and with a bearer token, and
//! held to what they print: one `CHECK <step>:` line per step, in order, then `ALL CHECKS
//! PASSED`. Each example asserts its own steps (exit 1 on a failed check); this harness checks
//! that every step ran and said what the step is about.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::ops::server::Server;

use super::{on_path, root, tool};

/// The steps, in the order the examples print them.
const STEPS: [&str; 7] = [
    "auth",
    "open-case",
    "execute",
    "retry-same-request-id",
    "refusal",
    "as-of-legal",
    "subscribe-resume",
];

/// What each step's line must say, beyond its name (both examples word it their own way).
const SAYS: [(&str, &[&str]); 6] = [
    ("open-case", &["NC-2017-"]),
    ("execute", &["UnderBureauConsideration", "AwaitingViews"]),
    ("retry-same-request-id", &["replayed=true"]),
    ("refusal", &["FAILED_PRECONDITION", "LetterAlreadySent"]),
    ("as-of-legal", &["UnderBureauConsideration"]),
    ("subscribe-resume", &["consecutive, no duplicates"]),
];

fn aspflow(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_aspflow"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "aspflow {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A development-mode server and a token-mode server, each in its own folder, and a token
/// for the second (one token granting the roles the walkthrough acts in; the caller names
/// the role of each call in `x-aspflow-role`).
struct Servers {
    _dir: tempfile::TempDir,
    dev: Server,
    tokens: Server,
    token: String,
}

const SUBJECT: &str = "registry-integration@icc-cpi.example";

async fn servers() -> Servers {
    let dir = tempfile::tempdir().unwrap();
    let (dev_dir, tok_dir) = (dir.path().join("dev"), dir.path().join("tokens"));
    std::fs::create_dir_all(&dev_dir).unwrap();
    std::fs::create_dir_all(&tok_dir).unwrap();
    let secret = tok_dir.join("hs256.secret");
    let secret = secret.to_str().unwrap();
    aspflow(&["token", "keygen", "--hs256", secret]);
    let token = aspflow(&[
        "token",
        "mint",
        "--key",
        secret,
        "--sub",
        SUBJECT,
        "--role",
        "court_liaison",
        "--role",
        "bureau",
        "--role",
        "president",
        "--role",
        "observer",
        "--ttl",
        "1h",
    ]);
    let dev = Server::start(&dev_dir, 2000).await;
    let tokens =
        Server::start_with_args(&tok_dir, 2000, &["--auth-hs256-secret-file", secret]).await;
    Servers {
        _dir: dir,
        dev,
        tokens,
        token,
    }
}

/// Runs one example command; returns its stdout lines after checking them.
fn run_example(mut cmd: Command, name: &str, mode: &str, subject: &str) {
    cmd.env_remove("ASPFLOW_TOKEN");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "the {name} example failed in {mode} mode ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let checks: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("CHECK "))
        .filter_map(|l| l.split_once(':').map(|(step, _)| step))
        .collect();
    assert_eq!(checks, STEPS, "{name} ({mode}): steps\n{stdout}");
    assert_eq!(lines.last(), Some(&"ALL CHECKS PASSED"), "{stdout}");
    let line = |step: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("CHECK {step}:")))
            .copied()
            .unwrap_or_default()
    };
    let auth = line("auth");
    assert!(
        auth.contains(mode) && auth.contains(subject),
        "{name}: {auth}"
    );
    for (step, words) in SAYS {
        let l = line(step);
        for w in words {
            assert!(
                l.contains(w),
                "{name} ({mode}): {step} does not say {w:?}: {l}"
            );
        }
    }
}

fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("ASPFLOW_PYTHON")
        .map(PathBuf::from)
        .or_else(|| on_path(&["python3"]))?;
    let ok = Command::new(&candidate)
        .args(["-c", "import grpc, grpc_tools, grpc_status"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(candidate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_example_runs_against_a_real_server() {
    let Some(python) = tool(
        python(),
        "Python 3 with grpcio, grpcio-tools and grpcio-status",
        "python3 -m pip install -r examples/python/requirements.txt",
    ) else {
        return;
    };
    let s = servers().await;
    let script = root().join("examples/python/walkthrough.py");
    let run = |server: &Server, token: Option<&str>| {
        let mut cmd = Command::new(&python);
        cmd.arg(&script).args(["--server", server.address()]);
        // Bytecode stays out of the source tree.
        cmd.env("PYTHONDONTWRITEBYTECODE", "1");
        if let Some(t) = token {
            cmd.args(["--token", t]);
        }
        cmd
    };
    run_example(
        run(&s.dev, None),
        "Python",
        "development",
        "python-walkthrough",
    );
    run_example(run(&s.tokens, Some(&s.token)), "Python", "token", SUBJECT);
    // Twice against one server: request ids and decision symbols are per run.
    run_example(
        run(&s.dev, None),
        "Python",
        "development",
        "python-walkthrough",
    );
}

fn node() -> Option<PathBuf> {
    let node = on_path(&["node"])?;
    root()
        .join("examples/typescript/node_modules/typescript")
        .is_dir()
        .then_some(node)
}

/// Compiles the example (tsc) so that the test never runs a stale build.
fn build_typescript(node: &Path) {
    let dir = root().join("examples/typescript");
    let out = Command::new(node)
        .arg(dir.join("node_modules/typescript/bin/tsc"))
        .args(["-p", "tsconfig.json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "tsc: {out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_example_runs_against_a_real_server() {
    let Some(node) = tool(
        node(),
        "Node.js with the example's packages",
        "npm ci --prefix examples/typescript",
    ) else {
        return;
    };
    build_typescript(&node);
    let s = servers().await;
    let script = root().join("examples/typescript/dist/walkthrough.js");
    let run = |server: &Server, token: Option<&str>| {
        let mut cmd = Command::new(&node);
        cmd.arg(&script).args(["--server", server.address()]);
        if let Some(t) = token {
            cmd.args(["--token", t]);
        }
        cmd
    };
    run_example(
        run(&s.dev, None),
        "TypeScript",
        "development",
        "example-typescript",
    );
    run_example(
        run(&s.tokens, Some(&s.token)),
        "TypeScript",
        "token",
        SUBJECT,
    );
    run_example(
        run(&s.dev, None),
        "TypeScript",
        "development",
        "example-typescript",
    );
}
