//! The published JSON Schemas of the stored events (docs/schemas): they are what the code
//! writes, a payload change without a new schema version fails here, and every event of the
//! golden histories (and of the logs other tests generate, see `assert_stored_valid`)
//! validates against the file of its type and version.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Mutex, OnceLock},
};

use aspflow::{cli::schemas_cli::compare, domain::schemas, store::RecordedEvent};

use super::root;

fn dir() -> PathBuf {
    root().join("docs/schemas")
}

/// Compiled validators of docs/schemas/events, by file name, compiled on first use.
fn validator(event_type: &str, version: u32) -> Result<&'static jsonschema::Validator, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static jsonschema::Validator>>> =
        OnceLock::new();
    let name = schemas::file_name(event_type, version);
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    if let Some(v) = cache.get(&name) {
        return Ok(v);
    }
    let path = dir().join("events").join(&name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("no published schema {}: {e}", path.display()))?;
    let schema: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let v = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| format!("{name} is not a valid schema: {e}"))?;
    let v: &'static jsonschema::Validator = Box::leak(Box::new(v));
    cache.insert(name, v);
    Ok(v)
}

/// Checks one stored payload against the published schema of its type and version.
pub fn validate(event_type: &str, version: u32, payload: &[u8]) -> Result<(), String> {
    let v = validator(event_type, version)?;
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("{event_type}: not JSON: {e}"))?;
    let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{event_type} v{version} does not validate against {}: {errors:?}",
            schemas::file_name(event_type, version)
        ))
    }
}

/// Panics unless every event validates against its published schema.
pub fn assert_stored_valid(events: &[RecordedEvent]) {
    let failures: Vec<String> = events
        .iter()
        .filter_map(|e| validate(&e.event_type, e.schema_version, &e.payload).err())
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn published_schemas_are_what_the_code_writes() {
    let cmp = compare(&dir()).unwrap();
    let names = |v: &[schemas::EventSchema]| v.iter().map(|s| s.file_name()).collect::<Vec<_>>();
    assert!(
        cmp.changed.is_empty(),
        "the payload of {:?} changed without a new schema version: raise it in \
         src/domain/codec.rs (schema_version), upcast the old shape, then run \
         `cargo run -- schemas`",
        names(&cmp.changed)
    );
    assert!(
        cmp.missing.is_empty(),
        "no published schema for {:?}: run `cargo run -- schemas`",
        names(&cmp.missing)
    );
    assert!(
        cmp.lost.is_empty(),
        "published versions lost: {:?}",
        cmp.lost
    );
    assert!(cmp.unknown.is_empty(), "unknown files: {:?}", cmp.unknown);
    let index = std::fs::read_to_string(dir().join("README.md")).unwrap();
    assert_eq!(
        index,
        schemas::index(&cmp.files),
        "docs/schemas/README.md is out of date: run `cargo run -- schemas`"
    );
    // Every event type, every version: today 4 procedures' worth, and the old versions kept.
    assert!(cmp.files.len() >= 60, "{:?}", cmp.files);
    assert!(cmp.files.contains(&("formal.open_letter_sent".into(), 1)));
    assert!(cmp.files.contains(&("formal.open_letter_sent".into(), 2)));
}

/// What happens when a developer changes an event's payload and forgets the schema version:
/// the published file of that version no longer matches, and `aspflow schemas` refuses to
/// overwrite it.
#[test]
fn a_payload_change_without_a_new_schema_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let events = tmp.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    for entry in std::fs::read_dir(dir().join("events")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, events.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::copy(dir().join("README.md"), tmp.path().join("README.md")).unwrap();
    // The published current version of bureau_seized, as it was before a (simulated) new
    // field: the code now writes one more property than the file says.
    let file = events.join(format!(
        "formal.bureau_seized.v{}.json",
        aspflow::domain::codec::schema_version("formal.bureau_seized")
    ));
    let mut published: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let body = published["properties"]["body"]["properties"]
        .as_object_mut()
        .unwrap();
    let field = body.keys().find(|k| *k != "type").unwrap().clone();
    body.remove(&field);
    std::fs::write(&file, schemas::to_file_text(&published)).unwrap();

    let cmp = compare(tmp.path()).unwrap();
    let changed: Vec<_> = cmp.changed.iter().map(|s| s.event_type.as_str()).collect();
    assert_eq!(changed, ["formal.bureau_seized"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aspflow"))
        .args(["schemas", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("raise its version"), "{err}");
    // Nothing was overwritten.
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        schemas::to_file_text(&published)
    );
}

/// Every event of the golden histories (tests/fixtures, exports of historical cases, some
/// written at older schema versions) validates against its type's published schema.
#[test]
fn golden_histories_validate_against_their_schemas() {
    let mut checked = 0;
    let mut versions = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(root().join("tests/fixtures")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let Some(event_type) = v["event_type"].as_str() else {
                continue; // the header
            };
            let version = u32::try_from(v["schema_version"].as_u64().unwrap()).unwrap();
            let payload = hex::decode(v["payload"].as_str().unwrap()).unwrap();
            validate(event_type, version, &payload)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            versions.insert((event_type.to_owned(), version));
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked}");
    assert!(versions.contains(&("formal.open_letter_sent".to_owned(), 1)));
}

/// The check has teeth: a payload missing a required field, or with a malformed date, fails.
#[test]
fn a_malformed_payload_does_not_validate() {
    let path = root().join("tests/fixtures/jordan-2017-formal.jsonl");
    let line = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let event_type = v["event_type"].as_str().unwrap().to_owned();
    let payload: serde_json::Value =
        serde_json::from_slice(&hex::decode(v["payload"].as_str().unwrap()).unwrap()).unwrap();
    validate(&event_type, 1, &serde_json::to_vec(&payload).unwrap()).unwrap();

    let mut no_actor = payload.clone();
    no_actor["meta"].as_object_mut().unwrap().remove("actor");
    assert!(validate(&event_type, 1, &serde_json::to_vec(&no_actor).unwrap()).is_err());

    let mut bad_date = payload.clone();
    bad_date["body"]["referral"]["decision_date"] = "11/12/2017".into();
    assert!(validate(&event_type, 1, &serde_json::to_vec(&bad_date).unwrap()).is_err());
}
