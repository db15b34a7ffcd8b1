//! Size limits on what clients send, checked once for every request before it is converted.
//!
//! Every text field has a maximum in bytes, chosen by the field's name ([`max_bytes`]); every
//! repeated field has a maximum number of items ([`MAX_ITEMS`]); the whole message is limited by
//! the server's decode limit ([`MAX_MESSAGE_BYTES`]), answered `RESOURCE_EXHAUSTED`. The walk is
//! generic (protobuf reflection over the embedded descriptors), so a field added to the proto is
//! limited without a line here. Error messages never repeat a client value in full ([`shown`]).
//!
//! Called by every handler of `aspflow.v1` before [`super::convert`]; not a domain rule.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Value};

use super::status::Invalid;

/// The server's decode limit for one request message (1 MiB).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Names, references, symbols, identifiers: at most this many bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Free text (notes, summaries, reasons, paragraphs): at most this many bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// A URL: at most this many bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Items in one repeated field.
pub const MAX_ITEMS: usize = 100;

/// Fields (by name) that hold free text rather than a name or reference.
pub const FREE_TEXT_FIELDS: &[&str] = &[
    "note",
    "summary",
    "reason",
    "urgency_rationale",
    "basis",
    "text",
    "paragraphs",
    "determination",
    "outcome",
    "recommendations",
    "obligations_recalled",
    "asserted_grounds",
    "requested_measures",
    "warned_measures",
    "until",
];

/// The most bytes a text field of this name may hold.
pub fn max_bytes(field_name: &str) -> usize {
    if FREE_TEXT_FIELDS.contains(&field_name) {
        MAX_TEXT_BYTES
    } else if field_name == "url" {
        MAX_URL_BYTES
    } else {
        MAX_NAME_BYTES
    }
}

/// A client value as it may appear in an error message: at most 64 characters, cut with an
/// ellipsis and the full length, so that a huge value is never echoed back.
pub fn shown(v: &str) -> String {
    const SHOWN: usize = 64;
    if v.chars().count() <= SHOWN {
        format!("{v:?}")
    } else {
        let head: String = v.chars().take(SHOWN).collect();
        format!("{head:?}… ({} bytes)", v.len())
    }
}

/// The embedded descriptors of every aspflow proto (decoded once).
pub fn descriptors() -> Option<&'static DescriptorPool> {
    pool()
}

fn pool() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET).ok())
        .as_ref()
}

/// Checks every text and repeated field of `msg` (of protobuf type `aspflow.v1.<message>`).
///
/// # Errors
/// [`Invalid`] naming the first field over its limit (path as `act.documents[2].symbol`).
pub fn check<M: prost::Message>(message: &str, msg: &M) -> Result<(), Invalid> {
    let Some(desc) = pool().and_then(|p| p.get_message_by_name(&format!("aspflow.v1.{message}")))
    else {
        // A build without the descriptor of a message it serves is a bug; say so loudly in
        // the log but do not refuse every request for it.
        tracing::error!(
            message,
            "no descriptor for a request message: limits not checked"
        );
        return Ok(());
    };
    let bytes = msg.encode_to_vec();
    match DynamicMessage::decode(desc, bytes.as_slice()) {
        Ok(dynamic) => walk(&dynamic, ""),
        Err(e) => {
            tracing::error!(message, error = %e, "request does not re-decode: limits not checked");
            Ok(())
        }
    }
}

fn walk(m: &DynamicMessage, prefix: &str) -> Result<(), Invalid> {
    for (field, value) in m.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        match value {
            Value::List(items) => {
                if items.len() > MAX_ITEMS {
                    return Err(Invalid::new(
                        path,
                        format!("at most {MAX_ITEMS} items (got {})", items.len()),
                    ));
                }
                for (i, v) in items.iter().enumerate() {
                    one(&field, v, &format!("{path}[{i}]"))?;
                }
            }
            Value::Map(entries) => {
                if entries.len() > MAX_ITEMS {
                    return Err(Invalid::new(
                        path,
                        format!("at most {MAX_ITEMS} entries (got {})", entries.len()),
                    ));
                }
            }
            v => one(&field, v, &path)?,
        }
    }
    Ok(())
}

fn one(field: &FieldDescriptor, v: &Value, path: &str) -> Result<(), Invalid> {
    match v {
        Value::String(s) => {
            let max = max_bytes(field.name());
            if s.len() > max {
                return Err(Invalid::new(
                    path,
                    format!("at most {max} bytes of text (got {} bytes)", s.len()),
                ));
            }
            Ok(())
        }
        Value::Message(m) => walk(m, path),
        _ => Ok(()),
    }
}

/// Maps tonic's answer to an over-size request (`OUT_OF_RANGE`, "decoded message length too
/// large") to `RESOURCE_EXHAUSTED`, the code gRPC defines for a message over the receiver's
/// limit. Every other response passes unchanged.
pub fn oversize_to_resource_exhausted<B>(mut res: http::Response<B>) -> http::Response<B> {
    let oversize = res
        .headers()
        .get("grpc-status")
        .is_some_and(|s| s.as_bytes() == b"11")
        && res
            .headers()
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| {
                m.contains("message%20length%20too%20large")
                    || m.contains("message length too large")
            });
    if oversize {
        let headers = res.headers_mut();
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
        headers.insert(
            "grpc-message",
            http::HeaderValue::from_static(
                "request%20message%20over%20the%20server%27s%20limit%20of%201%20MiB",
            ),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;

    #[test]
    fn names_and_free_text_have_their_limits() {
        let mut req = pb::ExecuteRequest {
            case_id: "NC-2017-0001".into(),
            request_id: "r".repeat(MAX_NAME_BYTES),
            ..Default::default()
        };
        assert!(check("ExecuteRequest", &req).is_ok());
        req.request_id.push('x');
        let e = check("ExecuteRequest", &req).unwrap_err();
        assert_eq!(e.field, "request_id");
        req.request_id = "r".into();
        req.act = Some(pb::Act {
            note: "n".repeat(MAX_TEXT_BYTES),
            documents: vec![pb::DocumentRef {
                symbol: "s".repeat(MAX_NAME_BYTES + 1),
                ..Default::default()
            }],
            ..Default::default()
        });
        let e = check("ExecuteRequest", &req).unwrap_err();
        assert_eq!(e.field, "act.documents[0].symbol");
    }

    #[test]
    fn shown_cuts_long_values() {
        assert_eq!(shown("abc"), "\"abc\"");
        let long = "x".repeat(100_000);
        let s = shown(&long);
        assert!(s.len() < 100, "{s}");
        assert!(s.contains("100000 bytes"));
    }
}
