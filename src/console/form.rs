//! Forms generated from the proto descriptors: a command's message becomes labelled inputs
//! with the proto comments as help text, and a submitted form becomes the JSON of that message
//! (which the services then check as they check every client's request).
//!
//! The rules, read off the descriptors only:
//! - a `string` whose comment's first paragraph lists quoted values (`"asp", "unsc".`) is a
//!   choice: a select, or check boxes when repeated;
//! - a `string` whose comment says `"YYYY-MM-DD"` is a date picker;
//! - `google.protobuf.Timestamp` is a date and time, read in the act's time zone;
//! - a repeated `string` is a text area, one value a line; a repeated message is a few blank
//!   groups (blank ones are dropped);
//! - a comment saying "Required" marks the field required (except in the groups of a
//!   repeated message, which may all stay blank).
//!
//! Field names in the page are the message path with dots (`facts.requested_state.iso_code`,
//! `act.documents.0.symbol`), the path the services name in their errors.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDateTime, TimeZone};
use maud::{Markup, html};
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use super::i18n::{Lang, t};

/// How many blank groups a repeated message offers.
const BLANK_GROUPS: usize = 2;

/// What a person typed, by field name, and the errors to show next to fields.
#[derive(Debug, Default, Clone)]
pub struct Filled {
    /// Submitted values (`name` → the values, in order).
    pub values: HashMap<String, Vec<String>>,
    /// Errors by field name (a field's own message).
    pub errors: BTreeMap<String, String>,
}

impl Filled {
    /// A new form: empty, with a new request id (so that sending it twice records once).
    pub fn with_new_request_id() -> Self {
        let mut f = Filled::default();
        f.values
            .insert("request_id".into(), vec![uuid::Uuid::now_v7().to_string()]);
        f
    }

    /// From submitted pairs.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            values.entry(k.clone()).or_default().push(v.clone());
        }
        Filled {
            values,
            errors: BTreeMap::new(),
        }
    }

    /// The first value of `name`, trimmed.
    pub fn one(&self, name: &str) -> &str {
        self.values
            .get(name)
            .and_then(|v| v.first())
            .map_or("", |s| s.trim())
    }

    fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }
}

/// The comment of a field or message in the proto files (empty when none).
pub fn comment(pool: &DescriptorPool, file: &str, path: &[i32]) -> String {
    pool.files()
        .find(|f| f.name() == file)
        .and_then(|f| {
            f.file_descriptor_proto()
                .source_code_info
                .as_ref()
                .and_then(|info| info.location.iter().find(|l| l.path == path))
                .map(|l| {
                    let mut s = l.leading_comments().trim().to_owned();
                    for d in &l.leading_detached_comments {
                        if s.is_empty() {
                            s = d.trim().to_owned();
                        }
                    }
                    s
                })
        })
        .unwrap_or_default()
}

fn field_comment(pool: &DescriptorPool, f: &FieldDescriptor) -> String {
    comment(pool, f.parent_file().name(), f.path())
}

/// A message's own comment.
pub fn message_comment(pool: &DescriptorPool, m: &MessageDescriptor) -> String {
    comment(pool, m.parent_file().name(), m.path())
}

/// The quoted values a comment's first paragraph lists, when it is only such a list.
pub fn choices(comment: &str) -> Vec<String> {
    let first = comment.split("\n\n").next().unwrap_or_default().trim();
    let mut out = Vec::new();
    let mut rest = first;
    loop {
        rest = rest.trim_start_matches([' ', ',', '\n']);
        if let Some(r) = rest.strip_prefix("or ") {
            rest = r;
            continue;
        }
        let Some(r) = rest.strip_prefix('"') else {
            break;
        };
        let Some(end) = r.find('"') else {
            return Vec::new();
        };
        out.push(r[..end].to_owned());
        rest = r[end + 1..].trim_start();
        // A remark on a value: `"public" (default, also when empty) or ...`.
        if let Some(r) = rest.strip_prefix('(') {
            let Some(close) = r.find(')') else {
                return Vec::new();
            };
            rest = &r[close + 1..];
        }
    }
    let rest = rest.trim_end_matches('.').trim();
    if rest.is_empty() && out.len() >= 2 {
        out
    } else {
        Vec::new()
    }
}

/// A name for people: `letter_ref` → "Letter ref" (or the catalogue's words for it).
pub fn label(lang: Lang, name: &str) -> String {
    if let Some(words) = super::i18n::lookup(lang, &format!("field.{name}")) {
        return words.to_owned();
    }
    humanize(name)
}

/// A listed value in words (the catalogue's `choice.<value>`), else the value itself.
fn choice(lang: Lang, value: &str) -> String {
    super::i18n::lookup(lang, &format!("choice_{value}"))
        .map_or_else(|| value.to_owned(), str::to_owned)
}

/// `send_open_letter` → "Send open letter".
pub fn humanize(name: &str) -> String {
    let s = name.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => s,
    }
}

fn is_timestamp(m: &MessageDescriptor) -> bool {
    m.full_name() == "google.protobuf.Timestamp"
}

/// "Required." or "Required;" as a sentence of its own: not "Required unless ...", not a
/// rejection code such as "WarnedMeasuresRequired".
fn required(comment: &str) -> bool {
    comment.match_indices("Required").any(|(i, w)| {
        let before = comment[..i].trim_end();
        let after = &comment[i + w.len()..];
        (before.is_empty() || before.ends_with('.') || before.ends_with(';'))
            && (after.is_empty() || after.starts_with('.') || after.starts_with(';'))
    })
}

/// Fields of the API's own mechanics that a person does not fill in: `set_fields` names the
/// fields a partial rules message sets; the console sends the rules whole, pre-filled.
const MECHANICS: [&str; 1] = ["set_fields"];

/// Free text that may run over several lines ("Free text, at most 64 KiB each").
fn free_text(comment: &str) -> bool {
    comment.contains("Free text") || comment.contains("free text")
}

fn is_date(comment: &str) -> bool {
    comment.contains("\"YYYY-MM-DD\"")
}

fn id_of(name: &str) -> String {
    format!("f-{}", name.replace('.', "-"))
}

/// Inputs for every field of `msg` under `prefix` (e.g. `act.`), except `skip`.
pub fn fields(
    pool: &DescriptorPool,
    lang: Lang,
    msg: &MessageDescriptor,
    prefix: &str,
    filled: &Filled,
    skip: &[&str],
) -> Markup {
    html! {
        @for f in msg.fields().filter(|f| !skip.contains(&f.name()) && !MECHANICS.contains(&f.name())) {
            (field(pool, lang, &f, prefix, filled))
        }
    }
}

fn help(id: &str, comment: &str) -> Markup {
    html! {
        @if !comment.is_empty() {
            p.help id=(format!("{id}-help")) { (comment.replace('\n', " ")) }
        }
    }
}

fn error(id: &str, filled: &Filled, name: &str) -> Markup {
    html! {
        @if let Some(e) = filled.errors.get(name) {
            p.field-error id=(format!("{id}-error")) role="alert" { (e) }
        }
    }
}

fn described_by(id: &str, comment: &str, filled: &Filled, name: &str) -> String {
    let mut ids = Vec::new();
    if !comment.is_empty() {
        ids.push(format!("{id}-help"));
    }
    if filled.errors.contains_key(name) {
        ids.push(format!("{id}-error"));
    }
    ids.join(" ")
}

fn field(
    pool: &DescriptorPool,
    lang: Lang,
    f: &FieldDescriptor,
    prefix: &str,
    filled: &Filled,
) -> Markup {
    let name = format!("{prefix}{}", f.name());
    let id = id_of(&name);
    let comment = field_comment(pool, f);
    // A blank group of a repeated message is dropped, so its fields are not required.
    let in_group = prefix.split('.').any(|p| p.parse::<usize>().is_ok());
    let req = required(&comment) && !in_group;
    let text = label(lang, f.name());
    let invalid = filled.errors.contains_key(&name);
    let by = described_by(&id, &comment, filled, &name);
    let mark = html! { @if req { span.required aria-hidden="true" { " *" } } };
    match f.kind() {
        Kind::Message(m) if is_timestamp(&m) => html! {
            div.field {
                label for=(id) { (text) (mark) }
                input type="datetime-local" id=(id) name=(name) value=(filled.one(&name))
                    required[req] aria-invalid=[invalid.then_some("true")]
                    aria-describedby=[(!by.is_empty()).then_some(&by)];
                (help(&id, &comment)) (error(&id, filled, &name))
            }
        },
        Kind::Message(m) if f.is_list() => {
            // Those sent, and one more blank (at first, a few blank ones).
            let sent = groups_of(filled, &name);
            let groups = if sent == 0 { BLANK_GROUPS } else { sent + 1 };
            html! {
                fieldset.group {
                    legend { (text) }
                    (help(&id, &comment)) (error(&id, filled, &name))
                    @for i in 0..groups {
                        fieldset.entry {
                            legend.visually-hidden { (text) " " (i + 1) }
                            (fields(pool, lang, &m, &format!("{name}.{i}."), filled, &[]))
                        }
                    }
                }
            }
        }
        Kind::Message(m) => html! {
            fieldset.group {
                legend { (text) (mark) }
                (help(&id, &comment)) (error(&id, filled, &name))
                (fields(pool, lang, &m, &format!("{name}."), filled, &[]))
            }
        },
        Kind::Bool => html! {
            div.field.check {
                input type="checkbox" id=(id) name=(name) value="true"
                    checked[filled.one(&name) == "true"] aria-describedby=[(!by.is_empty()).then_some(&by)];
                label for=(id) { (text) }
                (help(&id, &comment)) (error(&id, filled, &name))
            }
        },
        Kind::String if !choices(&comment).is_empty() => {
            let options = choices(&comment);
            if f.is_list() {
                let chosen = filled.all(&name);
                html! {
                    fieldset.group {
                        legend { (text) (mark) }
                        (help(&id, &comment)) (error(&id, filled, &name))
                        @for (i, o) in options.iter().enumerate() {
                            div.check {
                                input type="checkbox" id=(format!("{id}-{i}")) name=(name) value=(o)
                                    checked[chosen.contains(o)];
                                label for=(format!("{id}-{i}")) { (choice(lang, o)) }
                            }
                        }
                    }
                }
            } else {
                let current = filled.one(&name);
                html! {
                    div.field {
                        label for=(id) { (text) (mark) }
                        select id=(id) name=(name) required[req]
                            aria-invalid=[invalid.then_some("true")] aria-describedby=[(!by.is_empty()).then_some(&by)] {
                            option value="" { "—" }
                            @for o in &options {
                                option value=(o) selected[current == o] { (choice(lang, o)) }
                            }
                        }
                        (help(&id, &comment)) (error(&id, filled, &name))
                    }
                }
            }
        }
        // Free texts, each of which may run over several lines: a box each.
        _ if f.is_list() && free_text(&comment) => {
            let sent = groups_of(filled, &name);
            let boxes = if sent == 0 { BLANK_GROUPS } else { sent + 1 };
            html! {
                fieldset.group aria-describedby=[(!by.is_empty()).then_some(&by)] {
                    legend { (text) (mark) }
                    (help(&id, &comment)) (error(&id, filled, &name))
                    @for i in 0..boxes {
                        div.field {
                            label for=(format!("{id}-{i}")) { (text) " " (i + 1) }
                            textarea id=(format!("{id}-{i}")) name=(format!("{name}.{i}")) rows="3"
                                aria-invalid=[invalid.then_some("true")] { (filled.one(&format!("{name}.{i}"))) }
                        }
                    }
                }
            }
        }
        _ if f.is_list() => html! {
            div.field {
                label for=(id) { (text) (mark) " " span.hint { (t(lang, "one_per_line")) } }
                textarea id=(id) name=(name) rows="3" aria-invalid=[invalid.then_some("true")]
                    aria-describedby=[(!by.is_empty()).then_some(&by)] { (filled.one(&name)) }
                (help(&id, &comment)) (error(&id, filled, &name))
            }
        },
        kind => {
            let ty = match kind {
                Kind::String if is_date(&comment) => "date",
                Kind::Uint32 | Kind::Uint64 | Kind::Int32 | Kind::Int64 => "number",
                _ => "text",
            };
            let long = free_text(&comment);
            html! {
                div.field {
                    label for=(id) { (text) (mark) }
                    @if long && ty == "text" {
                        textarea id=(id) name=(name) rows="3" required[req]
                            aria-invalid=[invalid.then_some("true")] aria-describedby=[(!by.is_empty()).then_some(&by)]
                            { (filled.one(&name)) }
                    } @else {
                        input type=(ty) id=(id) name=(name) value=(filled.one(&name))
                            required[req] aria-invalid=[invalid.then_some("true")]
                            aria-describedby=[(!by.is_empty()).then_some(&by)];
                    }
                    (help(&id, &comment)) (error(&id, filled, &name))
                }
            }
        }
    }
}

/// How many groups of a repeated message were submitted (`name.N.…`).
fn groups_of(filled: &Filled, name: &str) -> usize {
    let p = format!("{name}.");
    filled
        .values
        .keys()
        .filter_map(|k| k.strip_prefix(&p)?.split('.').next()?.parse::<usize>().ok())
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
}

/// The JSON of `msg` from the form (fields under `prefix`); date-times are read in `zone`.
///
/// # Errors
/// The field and what was expected, for a value the form itself cannot turn into JSON (a
/// number that is not one, a date-time that does not exist in the zone).
pub fn to_json(
    msg: &MessageDescriptor,
    prefix: &str,
    filled: &Filled,
    zone: chrono_tz::Tz,
    skip: &[&str],
) -> Result<serde_json::Map<String, serde_json::Value>, (String, String)> {
    use serde_json::Value;
    let mut out = serde_json::Map::new();
    for f in msg.fields().filter(|f| !skip.contains(&f.name())) {
        let name = format!("{prefix}{}", f.name());
        let value = match f.kind() {
            Kind::Message(m) if is_timestamp(&m) => {
                let v = filled.one(&name);
                if v.is_empty() {
                    continue;
                }
                Value::String(instant(v, zone).map_err(|e| (name.clone(), e))?)
            }
            Kind::Message(m) if f.is_list() => {
                let mut items = Vec::new();
                for i in 0..groups_of(filled, &name) {
                    let item = to_json(&m, &format!("{name}.{i}."), filled, zone, &[])?;
                    if !item.is_empty() {
                        items.push(Value::Object(item));
                    }
                }
                if items.is_empty() {
                    continue;
                }
                Value::Array(items)
            }
            Kind::Message(m) => {
                let item = to_json(&m, &format!("{name}."), filled, zone, &[])?;
                if item.is_empty() {
                    continue;
                }
                Value::Object(item)
            }
            Kind::Bool => {
                if filled.one(&name) != "true" {
                    continue;
                }
                Value::Bool(true)
            }
            _ if f.is_list() && free_text(&field_comment(msg.parent_pool(), &f)) => {
                let items: Vec<Value> = (0..groups_of(filled, &name))
                    .map(|i| filled.one(&format!("{name}.{i}")))
                    .filter(|v| !v.is_empty())
                    .map(|v| Value::String(v.to_owned()))
                    .collect();
                if items.is_empty() {
                    continue;
                }
                Value::Array(items)
            }
            _ if f.is_list() => {
                let items: Vec<Value> = filled
                    .all(&name)
                    .iter()
                    .flat_map(|v| v.lines())
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| Value::String(v.to_owned()))
                    .collect();
                if items.is_empty() {
                    continue;
                }
                Value::Array(items)
            }
            Kind::Uint32 | Kind::Uint64 | Kind::Int32 | Kind::Int64 => {
                let v = filled.one(&name);
                if v.is_empty() {
                    continue;
                }
                let n: i64 = v
                    .parse()
                    .map_err(|_| (name.clone(), "a whole number".to_owned()))?;
                Value::from(n)
            }
            _ => {
                let v = filled.one(&name);
                if v.is_empty() {
                    continue;
                }
                Value::String(v.to_owned())
            }
        };
        out.insert(f.name().to_owned(), value);
    }
    Ok(out)
}

/// `2018-01-12T20:30` read in `zone`, as RFC 3339 UTC.
fn instant(local: &str, zone: chrono_tz::Tz) -> Result<String, String> {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("a date and time such as 2018-01-12T20:30, got {local:?}"))?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .ok_or_else(|| format!("{local} does not exist in {zone} (the clocks changed)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_lists_are_choices_and_prose_is_not() {
        assert_eq!(choices("\"asp\", \"unsc\"."), vec!["asp", "unsc"]);
        assert_eq!(
            choices("\"art_87_7\" or \"art_87_5b\".\n\nThe article under which..."),
            vec!["art_87_7", "art_87_5b"]
        );
        assert!(choices("Reference of the letter, e.g. \"ASP/2018/L1\". Required.").is_empty());
        assert_eq!(
            choices("\"public\" (default, also when empty) or \"confidential\"."),
            vec!["public", "confidential"]
        );
        assert!(required(
            "Reference of the letter. Required; at most 200 bytes."
        ));
        assert!(!required("Date. Required unless until is given."));
        assert!(!required("At least one (else \"WarnedMeasuresRequired\")."));
    }

    #[test]
    fn local_times_are_read_in_the_zone() {
        let ny: chrono_tz::Tz = "America/New_York".parse().unwrap_or(chrono_tz::UTC);
        assert_eq!(
            instant("2018-01-12T20:30", ny).as_deref(),
            Ok("2018-01-13T01:30:00Z")
        );
        let ams: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap_or(chrono_tz::UTC);
        assert!(instant("2018-03-25T02:30", ams).is_err());
        assert!(instant("12/01/2018", ams).is_err());
    }

    /// Free texts keep their lines: one box an item; short values are one a line.
    #[test]
    fn free_texts_keep_their_lines_and_short_values_split() {
        let pool = DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap_or_default();
        let letter = pool
            .get_message_by_name("aspflow.v1.SendOpenLetter")
            .unwrap_or_else(|| panic!("SendOpenLetter"));
        let page = fields(&pool, Lang::En, &letter, "cmd.", &Filled::default(), &[]).into_string();
        assert!(
            page.contains("name=\"cmd.obligations_recalled.0\""),
            "{page}"
        );
        let filled = Filled::from_pairs(&[
            ("cmd.letter_ref".into(), "ASP/2018/L1".into()),
            (
                "cmd.obligations_recalled.0".into(),
                "art. 86:\nco-operate fully".into(),
            ),
            ("cmd.obligations_recalled.1".into(), "".into()),
            ("cmd.obligations_recalled.2".into(), "art. 89".into()),
            (
                "cmd.published_channels".into(),
                "ICC website\nASP website\n".into(),
            ),
        ]);
        let json = to_json(&letter, "cmd.", &filled, chrono_tz::UTC, &[])
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            json["obligations_recalled"],
            serde_json::json!(["art. 86:\nco-operate fully", "art. 89"])
        );
        assert_eq!(
            json["published_channels"],
            serde_json::json!(["ICC website", "ASP website"])
        );
    }

    #[test]
    fn every_command_has_a_form_with_help() {
        let pool = DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap_or_default();
        let exec = pool
            .get_message_by_name("aspflow.v1.ExecuteRequest")
            .unwrap_or_else(|| panic!("ExecuteRequest"));
        let mut n = 0;
        for f in exec.oneofs().flat_map(|o| o.fields().collect::<Vec<_>>()) {
            let Kind::Message(m) = f.kind() else { continue };
            n += 1;
            assert!(
                !field_comment(&pool, &f).is_empty(),
                "{} has no comment",
                f.name()
            );
            let page = fields(&pool, Lang::En, &m, "cmd.", &Filled::default(), &[]);
            assert!(!page.into_string().contains("name=\"\""), "{}", f.name());
        }
        assert!(n > 30, "{n} commands");
    }
}
