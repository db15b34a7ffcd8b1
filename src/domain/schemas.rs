//! JSON Schemas of the stored event payloads: one per event type and schema version.
//!
//! A stored event's `payload` is the JSON of the whole event (`{"meta": ..., "body": ...}`,
//! [`super::codec`]). The schema of each type's *current* version is generated here from the
//! Rust types themselves (schemars, draft 2020-12), so it cannot drift from what the code
//! writes. The published files live in `docs/schemas/events/<type>.v<version>.json`; a
//! version, once published, is frozen: a test compares the generated schemas with the files
//! and fails when a type's payload changed without a new schema version
//! ([`super::codec::schema_version`]). Older versions keep their file; the code reads them
//! through [`super::codec::upcast`].
//!
//! Pure (no files): `aspflow schemas` writes the files, tests compare them.

use schemars::{JsonSchema, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use super::{Event, ProcedureKind, codec, formal, interpretative, preventive, roster};

/// The schema of one event type at one schema version.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSchema {
    /// `<procedure>.<event>`, as stored.
    pub event_type: String,
    /// The payload schema version.
    pub schema_version: u32,
    /// The JSON Schema (draft 2020-12).
    pub schema: Value,
}

impl EventSchema {
    /// The file name under `docs/schemas/events/`.
    pub fn file_name(&self) -> String {
        file_name(&self.event_type, self.schema_version)
    }
}

/// The file name of a type's schema at a version: `<type>.v<version>.json`.
pub fn file_name(event_type: &str, schema_version: u32) -> String {
    format!("{event_type}.v{schema_version}.json")
}

/// The schema of every event type at its current schema version, sorted by type.
pub fn current() -> Vec<EventSchema> {
    let mut out = Vec::new();
    out.extend(for_procedure::<formal::Body>(ProcedureKind::Formal));
    out.extend(for_procedure::<preventive::Body>(ProcedureKind::Preventive));
    out.extend(for_procedure::<interpretative::Body>(
        ProcedureKind::Interpretative,
    ));
    out.extend(for_procedure::<roster::Body>(ProcedureKind::Roster));
    out.sort_by(|a, b| a.event_type.cmp(&b.event_type));
    out
}

/// Splits `Event<B>`'s schema into one schema per variant of `B` (each stored event type).
fn for_procedure<B: JsonSchema>(kind: ProcedureKind) -> Vec<EventSchema> {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let root = generator.into_root_schema_for::<Event<B>>().to_value();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let body = resolve(&root, &defs, "body");
    let variants = body
        .get("oneOf")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let prefix = codec::prefix(kind);
    variants
        .into_iter()
        .filter_map(|variant| {
            let tag = variant_tag(&variant)?;
            let event_type = format!("{prefix}.{tag}");
            let schema_version = codec::schema_version(&event_type);
            let schema = one_type(&root, &defs, &event_type, schema_version, variant);
            Some(EventSchema {
                event_type,
                schema_version,
                schema,
            })
        })
        .collect()
}

/// The property `name` of the root, with one `$ref` followed.
fn resolve(root: &Value, defs: &Map<String, Value>, name: &str) -> Value {
    let prop = root
        .get("properties")
        .and_then(|p| p.get(name))
        .cloned()
        .unwrap_or(Value::Null);
    match prop.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|n| defs.get(n))
            .cloned()
            .unwrap_or(Value::Null),
        None => prop,
    }
}

/// The `type` tag a variant's schema fixes (`const`, or a one-value `enum`).
fn variant_tag(variant: &Value) -> Option<String> {
    let tag = variant.get("properties")?.get("type")?;
    tag.get("const")
        .or_else(|| tag.get("enum").and_then(|e| e.get(0)))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The whole-payload schema of one event type: the envelope facts and that one body.
fn one_type(
    root: &Value,
    defs: &Map<String, Value>,
    event_type: &str,
    schema_version: u32,
    variant: Value,
) -> Value {
    let meta = root
        .get("properties")
        .and_then(|p| p.get("meta"))
        .cloned()
        .unwrap_or(Value::Null);
    let what = variant
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("urn:aspflow:event:{event_type}:v{schema_version}"),
        "title": format!("{event_type} (schema version {schema_version})"),
        "description": format!(
            "Payload of a stored `{event_type}` event at schema_version {schema_version}: the \
             envelope facts every event carries (`meta`) and what happened (`body`). {what}"
        ).trim_end().to_owned(),
        "type": "object",
        "properties": { "meta": meta, "body": variant },
        "required": ["body", "meta"],
    });
    // Only the definitions this type reaches.
    let mut used = Map::new();
    let mut pending = Vec::new();
    refs(&schema, &mut pending);
    while let Some(name) = pending.pop() {
        if used.contains_key(&name) {
            continue;
        }
        if let Some(def) = defs.get(&name) {
            refs(def, &mut pending);
            used.insert(name, def.clone());
        }
    }
    if !used.is_empty()
        && let Some(obj) = schema.as_object_mut()
    {
        obj.insert("$defs".to_owned(), Value::Object(used));
    }
    schema
}

/// Every `#/$defs/NAME` referenced under `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == "$ref"
                    && let Some(name) = x.as_str().and_then(|r| r.strip_prefix("#/$defs/"))
                {
                    out.push(name.to_owned());
                }
                refs(x, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// The text of a schema file: pretty JSON with a final newline (keys sorted, so the same
/// schema is always the same bytes).
pub fn to_file_text(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

/// `docs/schemas/README.md`: what the files are, and one row per type and version.
pub fn index(files: &[(String, u32)]) -> String {
    let mut out = String::from(
        "# Event payload schemas\n\n\
         Every event in the log is stored as an envelope (`event_type`, `schema_version`, \
         `payload`); the payload is JSON. Each file under `events/` is the JSON Schema (draft \
         2020-12) of one event type at one schema version, generated from the Rust types that \
         write it (`aspflow schemas --out docs/schemas`). A published version never changes: \
         when a type's payload changes, its schema version is raised and the old file stays, \
         since the log keeps every event in the shape it was written (readers upcast; see \
         src/domain/codec.rs). A test fails if the code's schema of a current version differs \
         from its file here, and checks that every event of the golden histories and of \
         generated logs validates against the file of its type and version.\n\n\
         The payloads a client receives (`RecordedEvent.payload_json` from `GetHistory`, \
         `WatchCase`, `EventLog.Subscribe`, and the lines of `ExportCase`) are the stored \
         bytes exactly as hashed, never upcast: read `event_type` and `schema_version` and \
         use the file of that type and version.\n\n\
         | event type | schema versions |\n|---|---|\n",
    );
    let mut rows: Vec<(String, Vec<u32>)> = Vec::new();
    for (t, v) in files {
        match rows.iter_mut().find(|(name, _)| name == t) {
            Some((_, vs)) => vs.push(*v),
            None => rows.push((t.clone(), vec![*v])),
        }
    }
    rows.sort();
    for (t, mut vs) in rows {
        vs.sort_unstable();
        let links: Vec<String> = vs
            .iter()
            .map(|v| format!("[v{v}](events/{})", file_name(&t, *v)))
            .collect();
        out.push_str(&format!("| `{t}` | {} |\n", links.join(", ")));
    }
    out
}

#[cfg(test)]
pub(crate) mod check {
    //! Validation of encoded events against the generated schemas, for the domain's tests.

    use std::{collections::HashMap, sync::OnceLock};

    use super::current;
    use crate::domain::codec::Envelope;

    fn validators() -> &'static HashMap<String, jsonschema::Validator> {
        static V: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
        V.get_or_init(|| {
            current()
                .into_iter()
                .map(|s| {
                    let v = jsonschema::options()
                        .should_validate_formats(true)
                        .build(&s.schema)
                        .expect("generated schema compiles");
                    (s.event_type, v)
                })
                .collect()
        })
    }

    /// Panics unless the envelope's payload validates against its type's current schema.
    pub(crate) fn assert_valid(env: &Envelope) {
        let v = validators()
            .get(&env.event_type)
            .unwrap_or_else(|| panic!("no schema for {}", env.event_type));
        let payload: serde_json::Value =
            serde_json::from_slice(&env.payload).expect("payload is JSON");
        let errors: Vec<String> = v.iter_errors(&payload).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{} does not validate against its schema: {errors:?}\n{payload}",
            env.event_type
        );
    }
}
