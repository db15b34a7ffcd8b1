//! Events to and from stored envelopes (STYLE.md habit 8).
//!
//! The stored event type is `<procedure>.<event>` (e.g. `formal.open_letter_sent`), the schema
//! version is per type, and the payload is the JSON of the whole event (envelope facts and
//! body). These names are part of the database schema: never rename a variant. Old schema
//! versions are upcast here on read ([`upcast`]), never rewritten in the log.

use serde::{Serialize, de::DeserializeOwned};

use super::{Event, ProcedureKind, case::CaseEvent};

/// Current schema version of every event type. Raise it for one type (and teach [`upcast`] the
/// old shape) when that type's payload changes.
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

/// An encoded event, ready for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `<procedure>.<event>`.
    pub event_type: String,
    /// Payload schema version.
    pub schema_version: u32,
    /// JSON bytes.
    pub payload: Vec<u8>,
}

/// Why a stored event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The type's procedure prefix is unknown.
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// The schema version is newer than this build understands.
    #[error(
        "event type {event_type:?} has schema version {version}; this build reads up to {CURRENT_SCHEMA_VERSION}"
    )]
    UnsupportedVersion {
        /// Type.
        event_type: String,
        /// Version found.
        version: u32,
    },
    /// The payload does not match the type.
    #[error("payload of {event_type:?} does not decode: {message}")]
    BadPayload {
        /// Type.
        event_type: String,
        /// The parser's message.
        message: String,
    },
}

fn prefix(kind: ProcedureKind) -> &'static str {
    match kind {
        ProcedureKind::Formal => "formal",
        ProcedureKind::Preventive => "preventive",
        ProcedureKind::Interpretative => "interpretative",
        ProcedureKind::Roster => "roster",
    }
}

fn encode_one<B: Serialize>(kind: ProcedureKind, e: &Event<B>) -> Envelope {
    let value = serde_json::to_value(e).unwrap_or(serde_json::Value::Null);
    let tag = value
        .get("body")
        .and_then(|b| b.get("type"))
        .and_then(|t| t.as_str())
        .unwrap_or("unknown")
        .to_owned();
    Envelope {
        event_type: format!("{}.{tag}", prefix(kind)),
        schema_version: CURRENT_SCHEMA_VERSION,
        payload: serde_json::to_vec(&value).unwrap_or_default(),
    }
}

/// Encodes an event.
pub fn encode(event: &CaseEvent) -> Envelope {
    match event {
        CaseEvent::Formal(e) => encode_one(ProcedureKind::Formal, e),
        CaseEvent::Preventive(e) => encode_one(ProcedureKind::Preventive, e),
        CaseEvent::Interpretative(e) => encode_one(ProcedureKind::Interpretative, e),
        CaseEvent::Roster(e) => encode_one(ProcedureKind::Roster, e),
    }
}

/// Brings an older payload to the current shape. Version 1 is current for every type, so there
/// is nothing to do yet; each future change adds an arm here and a golden fixture.
pub fn upcast(
    event_type: &str,
    version: u32,
    value: serde_json::Value,
) -> Result<serde_json::Value, CodecError> {
    match version {
        CURRENT_SCHEMA_VERSION => Ok(value),
        _ => Err(CodecError::UnsupportedVersion {
            event_type: event_type.to_owned(),
            version,
        }),
    }
}

fn decode_one<B: DeserializeOwned>(
    event_type: &str,
    suffix: &str,
    value: serde_json::Value,
) -> Result<Event<B>, CodecError> {
    let bad = |message: String| CodecError::BadPayload {
        event_type: event_type.to_owned(),
        message,
    };
    let tag = value
        .get("body")
        .and_then(|b| b.get("type"))
        .and_then(|t| t.as_str());
    if tag != Some(suffix) {
        return Err(bad(format!(
            "body type {tag:?} does not match the event type"
        )));
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// Decodes a stored event, upcasting old schema versions.
///
/// # Errors
/// [`CodecError`] if the type, version or payload is not readable by this build.
pub fn decode(
    event_type: &str,
    schema_version: u32,
    payload: &[u8],
) -> Result<CaseEvent, CodecError> {
    let (procedure, suffix) = event_type
        .split_once('.')
        .ok_or_else(|| CodecError::UnknownType(event_type.to_owned()))?;
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| CodecError::BadPayload {
            event_type: event_type.to_owned(),
            message: e.to_string(),
        })?;
    let value = upcast(event_type, schema_version, value)?;
    Ok(match procedure {
        "formal" => CaseEvent::Formal(decode_one(event_type, suffix, value)?),
        "preventive" => CaseEvent::Preventive(decode_one(event_type, suffix, value)?),
        "interpretative" => CaseEvent::Interpretative(decode_one(event_type, suffix, value)?),
        "roster" => CaseEvent::Roster(decode_one(event_type, suffix, value)?),
        _ => return Err(CodecError::UnknownType(event_type.to_owned())),
    })
}
