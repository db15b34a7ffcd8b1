//! Checks on the domain that need the file system: purity of src/domain and the generated
//! parts of docs/procedures.md.

use std::path::Path;

use aspflow::domain::{formal, preventive, table};

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/domain") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// STYLE.md habit 1: src/domain has no I/O, no async runtime, no clock and no randomness.
#[test]
fn domain_is_pure() {
    let forbidden = [
        "tokio",
        "sqlx",
        "tonic",
        "tracing_subscriber",
        "Utc::now",
        "Local::now",
        "SystemTime",
        "Instant::now",
        "new_v4",
        "now_v7",
        "rand::",
        "std::fs",
        "std::net",
        "std::env",
        "std::process",
        "async fn",
        ".await",
    ];
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain"),
        &mut files,
    );
    assert!(files.len() >= 10, "{files:?}");
    let mut violations = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in forbidden {
                if code.contains(word) {
                    violations.push(format!("{}:{}: {word}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "impure domain code:\n{}",
        violations.join("\n")
    );
}

fn generated(name: &str, body: &str) -> String {
    format!("<!-- BEGIN GENERATED {name} -->\n{body}<!-- END GENERATED {name} -->")
}

/// The diagrams and transition tables in docs/procedures.md are generated from the code's
/// tables; run with `UPDATE_DOCS=1` to rewrite them after changing a table.
#[test]
fn procedures_doc_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/procedures.md");
    let mut doc = std::fs::read_to_string(&path).expect("docs/procedures.md exists");
    let sections = [
        (
            "formal-diagram",
            format!(
                "```mermaid\n{}```\n",
                table::to_mermaid(formal::TRANSITIONS, formal::CLOSED)
            ),
        ),
        ("formal-table", table::to_markdown(formal::TRANSITIONS)),
        (
            "preventive-diagram",
            format!(
                "```mermaid\n{}```\n",
                table::to_mermaid(preventive::TRANSITIONS, preventive::CLOSED)
            ),
        ),
        (
            "preventive-table",
            table::to_markdown(preventive::TRANSITIONS),
        ),
    ];
    let mut stale = Vec::new();
    for (name, body) in &sections {
        let begin = format!("<!-- BEGIN GENERATED {name} -->");
        let end = format!("<!-- END GENERATED {name} -->");
        let (Some(b), Some(e)) = (doc.find(&begin), doc.find(&end)) else {
            panic!("docs/procedures.md lacks the markers of section {name}");
        };
        let current = &doc[b..e + end.len()];
        let wanted = generated(name, body);
        if current != wanted {
            stale.push(*name);
            doc = doc.replacen(current, &wanted, 1);
        }
    }
    if std::env::var("UPDATE_DOCS").is_ok() {
        std::fs::write(&path, &doc).expect("write docs/procedures.md");
    } else {
        assert!(
            stale.is_empty(),
            "docs/procedures.md is out of date in {stale:?}: run UPDATE_DOCS=1 cargo test procedures_doc"
        );
    }
}
