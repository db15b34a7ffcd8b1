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

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

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
/// The message's own encoding is walked field by field against its descriptor (no copy of it
/// into a dynamic message: the walk reads lengths and counts, and allocates only to name a
/// nested field or a field over its limit).
///
/// # Errors
/// [`Invalid`] naming the first field over its limit (path as `act.documents[2].symbol`), in
/// field-number order at each level.
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
    match walk(&desc, &bytes, "") {
        Ok(()) => Ok(()),
        Err(Walk::Over(invalid)) => Err(invalid),
        Err(Walk::Malformed) => {
            tracing::error!(message, "request does not re-decode: limits not checked");
            Ok(())
        }
    }
}

/// Why a walk stopped.
enum Walk {
    /// A field over its limit.
    Over(Invalid),
    /// Bytes that are not a protobuf encoding (not from prost's encoder, then).
    Malformed,
}

/// One field record of an encoding: its number and, for a length-delimited one, its bytes.
struct Record<'a> {
    number: u32,
    /// Items in the record: 1, or for a packed repeated scalar the values it holds.
    items: usize,
    data: Option<&'a [u8]>,
}

fn varint(buf: &mut &[u8]) -> Result<u64, Walk> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or(Walk::Malformed)?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(Walk::Malformed)
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], Walk> {
    if buf.len() < n {
        return Err(Walk::Malformed);
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// The field records of one message level, in field-number order (prost writes a oneof after
/// the plain fields; the checks go by number, as the dynamic message they replace did).
fn records<'a>(desc: &MessageDescriptor, mut buf: &'a [u8]) -> Result<Vec<Record<'a>>, Walk> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let number = u32::try_from(key >> 3).map_err(|_| Walk::Malformed)?;
        let (items, data) = match key & 7 {
            0 => (varint(&mut buf).map(|_| 1)?, None),
            1 => (take(&mut buf, 8).map(|_| 1)?, None),
            5 => (take(&mut buf, 4).map(|_| 1)?, None),
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| Walk::Malformed)?;
                let data = take(&mut buf, len)?;
                // A repeated scalar comes packed: one record of many values.
                let list = desc.get_field(number).filter(FieldDescriptor::is_list);
                match list.map(|f| f.kind()) {
                    None | Some(Kind::String | Kind::Bytes | Kind::Message(_)) => (1, Some(data)),
                    Some(Kind::Double | Kind::Fixed64 | Kind::Sfixed64) => (len / 8, None),
                    Some(Kind::Float | Kind::Fixed32 | Kind::Sfixed32) => (len / 4, None),
                    Some(_) => (data.iter().filter(|b| **b < 0x80).count(), None),
                }
            }
            _ => return Err(Walk::Malformed),
        };
        out.push(Record {
            number,
            items,
            data,
        });
    }
    out.sort_by_key(|r| r.number);
    Ok(out)
}

fn walk(desc: &MessageDescriptor, buf: &[u8], prefix: &str) -> Result<(), Walk> {
    let path = |field: &FieldDescriptor| {
        if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        }
    };
    let records = records(desc, buf)?;
    for same in records.chunk_by(|a, b| a.number == b.number) {
        let Some(field) = desc.get_field(same[0].number) else {
            continue;
        };
        if field.is_list() || field.is_map() {
            let n: usize = same.iter().map(|r| r.items).sum();
            if n > MAX_ITEMS {
                let what = if field.is_map() { "entries" } else { "items" };
                return Err(Walk::Over(Invalid::new(
                    path(&field),
                    format!("at most {MAX_ITEMS} {what} (got {n})"),
                )));
            }
            if field.is_map() {
                continue;
            }
        }
        for (i, r) in same.iter().enumerate() {
            let Some(data) = r.data else { continue };
            let at = || {
                if field.is_list() {
                    format!("{}[{i}]", path(&field))
                } else {
                    path(&field)
                }
            };
            match field.kind() {
                Kind::String => {
                    let max = max_bytes(field.name());
                    if data.len() > max {
                        return Err(Walk::Over(Invalid::new(
                            at(),
                            format!("at most {max} bytes of text (got {} bytes)", data.len()),
                        )));
                    }
                }
                Kind::Message(m) => walk(&m, data, &at())?,
                _ => {}
            }
        }
    }
    Ok(())
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
    fn lists_are_counted_and_their_items_named_by_index_through_a_oneof() {
        let letter = |obligations: Vec<String>, channels: Vec<String>| pb::ExecuteRequest {
            case_id: "NC-2017-0001".into(),
            request_id: "r".into(),
            command: Some(pb::execute_request::Command::SendOpenLetter(
                pb::SendOpenLetter {
                    addressee: "Minister for Foreign Affairs".into(),
                    obligations_recalled: obligations,
                    published_channels: channels,
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        let ok = letter(
            vec!["art. 86".into(); MAX_ITEMS],
            vec!["ICC website".into()],
        );
        assert!(check("ExecuteRequest", &ok).is_ok());
        let e = check(
            "ExecuteRequest",
            &letter(vec!["art. 86".into(); MAX_ITEMS + 1], Vec::new()),
        )
        .unwrap_err();
        assert_eq!(e.field, "send_open_letter.obligations_recalled");
        assert!(
            e.expected.contains("at most 100 items (got 101)"),
            "{}",
            e.expected
        );
        // Free text in a list: 64 KiB each; a channel is a name: 200 bytes.
        let long = letter(
            vec!["a".into(), "o".repeat(MAX_TEXT_BYTES)],
            vec!["ICC website".into(), "c".repeat(MAX_NAME_BYTES + 1)],
        );
        let e = check("ExecuteRequest", &long).unwrap_err();
        assert_eq!(e.field, "send_open_letter.published_channels[1]");
        assert!(
            e.expected
                .contains("at most 200 bytes of text (got 201 bytes)"),
            "{}",
            e.expected
        );
        // Fields are checked in number order: request_id (3) before act (4) and the command.
        let mut both = long;
        both.request_id = "r".repeat(MAX_NAME_BYTES + 1);
        both.act = Some(pb::Act {
            documents: vec![pb::DocumentRef::default(); MAX_ITEMS + 1],
            ..Default::default()
        });
        assert_eq!(
            check("ExecuteRequest", &both).unwrap_err().field,
            "request_id"
        );
        both.request_id = "r".into();
        let e = check("ExecuteRequest", &both).unwrap_err();
        assert_eq!(e.field, "act.documents");
        assert!(e.expected.contains("(got 101)"), "{}", e.expected);
    }

    #[test]
    fn a_message_that_is_not_protobuf_is_let_through_not_refused() {
        let desc = pool()
            .and_then(|p| p.get_message_by_name("aspflow.v1.ExecuteRequest"))
            .expect("descriptor");
        // A length past the end, and an end-group wire type.
        assert!(matches!(
            walk(&desc, &[0x0a, 0x05, b'a'], ""),
            Err(Walk::Malformed)
        ));
        assert!(matches!(walk(&desc, &[0x0c], ""), Err(Walk::Malformed)));
        assert!(walk(&desc, &[], "").is_ok());
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
