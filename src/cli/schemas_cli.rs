//! `aspflow schemas`: writes the JSON Schema of every event type's current schema version
//! (docs/schemas/events/) and the index (docs/schemas/README.md).
//!
//! A published version is frozen: when the code's schema of a type differs from the file
//! already written for the same version, nothing is written and the command says to raise
//! the type's schema version (src/domain/codec.rs) instead. `--check` writes nothing and
//! reports what `--out` would change (exit 1).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;

use crate::domain::schemas::{self, EventSchema};

/// `aspflow schemas` options.
#[derive(Debug, clap::Args)]
pub struct SchemasArgs {
    /// The folder that holds README.md and events/ (created if needed).
    #[arg(long, default_value = "docs/schemas")]
    pub out: PathBuf,
    /// Write nothing; exit 1 if the folder is not what the code would write.
    #[arg(long)]
    pub check: bool,
}

/// What the folder holds compared with the code.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Current versions with no file yet.
    pub missing: Vec<EventSchema>,
    /// Current versions whose file differs: a payload changed without a new schema version.
    pub changed: Vec<EventSchema>,
    /// Every (type, version) with a file, after writing the missing ones.
    pub files: Vec<(String, u32)>,
    /// Files whose name is not `<type>.v<N>.json` of a known type at a version up to current.
    pub unknown: Vec<String>,
    /// Older versions of a type with no file: a published version's schema was lost (these
    /// cannot be generated from today's types; restore the file from history).
    pub lost: Vec<(String, u32)>,
}

/// Compares `dir/events` with the code's current schemas.
///
/// # Errors
/// A folder or file that cannot be read.
pub fn compare(dir: &Path) -> anyhow::Result<Comparison> {
    let events = dir.join("events");
    let current = schemas::current();
    let mut cmp = Comparison::default();
    if events.is_dir() {
        for entry in std::fs::read_dir(&events).with_context(|| events.display().to_string())? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            match parse_name(&name) {
                Some((t, v))
                    if current
                        .iter()
                        .any(|s| s.event_type == t && v <= s.schema_version) =>
                {
                    cmp.files.push((t, v));
                }
                _ => cmp.unknown.push(name),
            }
        }
    }
    for s in current {
        let path = events.join(s.file_name());
        if path.exists() {
            let text =
                std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
            if text != schemas::to_file_text(&s.schema) {
                cmp.changed.push(s);
            }
        } else {
            cmp.files.push((s.event_type.clone(), s.schema_version));
            cmp.missing.push(s);
        }
    }
    for s in schemas::current() {
        for v in 1..s.schema_version {
            if !cmp
                .files
                .iter()
                .any(|(t, fv)| *t == s.event_type && *fv == v)
            {
                cmp.lost.push((s.event_type.clone(), v));
            }
        }
    }
    cmp.files.sort();
    Ok(cmp)
}

/// `formal.open_letter_sent.v2.json` → (`formal.open_letter_sent`, 2).
pub fn parse_name(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_suffix(".json")?;
    let (t, v) = stem.rsplit_once(".v")?;
    Some((t.to_owned(), v.parse().ok()?))
}

/// Runs the command.
///
/// # Errors
/// A file that cannot be read or written.
pub fn run(args: &SchemasArgs) -> anyhow::Result<ExitCode> {
    let cmp = compare(&args.out)?;
    let index_path = args.out.join("README.md");
    let index = schemas::index(&cmp.files);
    let index_stale = std::fs::read_to_string(&index_path).ok().as_deref() != Some(&index);
    for s in &cmp.changed {
        eprintln!(
            "{}: the payload of {} changed, but schema version {} is published and frozen; \
             raise its version in src/domain/codec.rs (schema_version), bring the old shape \
             forward in codec::upcast, then run this again",
            s.file_name(),
            s.event_type,
            s.schema_version
        );
    }
    for (t, v) in &cmp.lost {
        eprintln!(
            "events/{}: missing; a published version cannot be regenerated from today's \
             types: restore it from the repository's history",
            schemas::file_name(t, *v)
        );
    }
    for name in &cmp.unknown {
        eprintln!("events/{name}: not the schema of a known event type and version");
    }
    if !cmp.changed.is_empty() {
        return Ok(ExitCode::from(1));
    }
    if args.check {
        for s in &cmp.missing {
            eprintln!("events/{}: missing", s.file_name());
        }
        if index_stale {
            eprintln!("README.md: out of date");
        }
        let clean =
            cmp.missing.is_empty() && !index_stale && cmp.unknown.is_empty() && cmp.lost.is_empty();
        if clean {
            println!("{} schema files match the code", cmp.files.len());
        }
        return Ok(if clean {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let events = args.out.join("events");
    std::fs::create_dir_all(&events).with_context(|| events.display().to_string())?;
    for s in &cmp.missing {
        let path = events.join(s.file_name());
        std::fs::write(&path, schemas::to_file_text(&s.schema))
            .with_context(|| path.display().to_string())?;
        println!("wrote {}", path.display());
    }
    if index_stale {
        std::fs::write(&index_path, index).with_context(|| index_path.display().to_string())?;
        println!("wrote {}", index_path.display());
    }
    println!("{} schema files in {}", cmp.files.len(), events.display());
    Ok(ExitCode::SUCCESS)
}
