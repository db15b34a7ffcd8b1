//! What `aspflow case exec` accepts, read from the proto descriptors (the same ones the server
//! checks requests with): `aspflow case commands [--procedure formal|preventive]` lists every
//! command with its fields, and `exec` refuses an unknown command or field before anything is
//! sent, naming the nearest commands or the command's fields.

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use crate::domain::{formal, preventive, table::Transition};

/// The `ExecuteRequest.command` oneof: (command name, its message).
fn commands(pool: &DescriptorPool) -> Vec<(String, MessageDescriptor)> {
    let Some(req) = pool.get_message_by_name("aspflow.v1.ExecuteRequest") else {
        return Vec::new();
    };
    req.oneofs()
        .find(|o| o.name() == "command")
        .map(|o| {
            o.fields()
                .filter_map(|f| match f.kind() {
                    Kind::Message(m) => Some((f.name().to_owned(), m)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a procedure's transition table has this command.
fn in_table(table: &[Transition], name: &str) -> bool {
    table.iter().any(|t| t.command.as_str() == name)
}

/// A field for people: `name: type` (`[]` for repeated).
fn field_text(f: &FieldDescriptor) -> String {
    let ty = match f.kind() {
        Kind::Message(m) => m.name().to_owned(),
        Kind::String => "text".to_owned(),
        Kind::Bool => "true/false".to_owned(),
        Kind::Uint32 | Kind::Uint64 | Kind::Int32 | Kind::Int64 => "number".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    };
    if f.is_list() {
        format!("{}: [{ty}]", f.name())
    } else {
        format!("{}: {ty}", f.name())
    }
}

/// The text of `aspflow case commands`.
pub fn list(pool: &DescriptorPool, procedure: Option<&str>) -> Result<String, String> {
    let table: Option<&[Transition]> = match procedure {
        None => None,
        Some("formal") => Some(formal::TRANSITIONS),
        Some("preventive") => Some(preventive::TRANSITIONS),
        Some(other) => {
            return Err(format!(
                "--procedure {other:?}: expected formal or preventive"
            ));
        }
    };
    let mut out = String::new();
    for (name, msg) in commands(pool) {
        if table.is_some_and(|t| !in_table(t, &name)) {
            continue;
        }
        let fields: Vec<String> = msg.fields().map(|f| field_text(&f)).collect();
        let procedures = match (
            in_table(formal::TRANSITIONS, &name),
            in_table(preventive::TRANSITIONS, &name),
        ) {
            (true, true) => "both",
            (true, false) => "formal",
            (false, true) => "preventive",
            (false, false) => "-",
        };
        out.push_str(&format!(
            "{name:<36} {procedures:<10} {}\n",
            if fields.is_empty() {
                "(no fields)".to_owned()
            } else {
                fields.join(", ")
            }
        ));
    }
    Ok(out)
}

/// Edit distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Checks a command name and its fields before anything is sent.
///
/// # Errors
/// A sentence naming the nearest commands, or the command's fields.
pub fn check(
    pool: &DescriptorPool,
    command: &str,
    fields: &serde_json::Value,
) -> Result<(), String> {
    let all = commands(pool);
    let Some((_, msg)) = all.iter().find(|(n, _)| n == command) else {
        let mut near: Vec<(usize, &str)> = all
            .iter()
            .map(|(n, _)| {
                let d = if n.contains(command) || command.contains(n.as_str()) {
                    0
                } else {
                    distance(command, n)
                };
                (d, n.as_str())
            })
            .collect();
        near.sort();
        // The close ones (at least the closest), at most three.
        let close = command.chars().count() / 2 + 1;
        let names: Vec<&str> = near
            .iter()
            .enumerate()
            .filter(|(i, (d, _))| *i == 0 || *d <= close)
            .take(3)
            .map(|(_, (_, n))| *n)
            .collect();
        return Err(format!(
            "unknown command {command:?}; the nearest: {} (aspflow case commands lists them all)",
            names.join(", ")
        ));
    };
    let Some(obj) = fields.as_object() else {
        return Err(format!("the fields of {command} must be a JSON object"));
    };
    for key in obj.keys() {
        let known = msg
            .fields()
            .any(|f| f.name() == key.as_str() || f.json_name() == key.as_str());
        if !known {
            let names: Vec<String> = msg.fields().map(|f| field_text(&f)).collect();
            return Err(format!(
                "{command} has no field {key:?}; its fields: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check, list};

    fn pool() -> prost_reflect::DescriptorPool {
        prost_reflect::DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap()
    }

    #[test]
    fn unknown_commands_get_the_nearest_and_unknown_fields_the_list() {
        let p = pool();
        let e = check(&p, "send_letter", &serde_json::json!({})).unwrap_err();
        assert!(e.contains("send_open_letter"), "{e}");
        let e = check(&p, "seize_bureu", &serde_json::json!({})).unwrap_err();
        assert!(e.contains("seize_bureau"), "{e}");
        let e = check(&p, "seize_bureau", &serde_json::json!({"meeting": "B/1"})).unwrap_err();
        assert!(
            e.contains("seize_bureau has no field \"meeting\"") && e.contains("meeting_no"),
            "{e}"
        );
        check(
            &p,
            "seize_bureau",
            &serde_json::json!({"meeting_no": "B/1"}),
        )
        .unwrap();
        check(&p, "seize_bureau", &serde_json::json!({"meetingNo": "B/1"})).unwrap();
    }

    #[test]
    fn commands_are_listed_by_procedure() {
        let p = pool();
        let formal = list(&p, Some("formal")).unwrap();
        assert!(formal.contains("send_open_letter"));
        assert!(!formal.contains("assess_situation"));
        let all = list(&p, None).unwrap();
        assert!(all.contains("assess_situation") && all.contains("amend_rules"));
        assert!(
            all.lines()
                .any(|l| l.starts_with("amend_rules") && l.contains("both"))
        );
        assert!(list(&p, Some("roster")).is_err());
    }
}
