//! Events to and from stored envelopes (STYLE.md habit 8).
//!
//! The stored event type is `<procedure>.<event>` (e.g. `formal.open_letter_sent`), the schema
//! version is per type, and the payload is the JSON of the whole event (envelope facts and
//! body). These names are part of the database schema: never rename a variant. Old schema
//! versions are upcast here on read ([`upcast`]), never rewritten in the log.

use serde::{Serialize, de::DeserializeOwned};

use super::{Event, ProcedureKind, case::CaseEvent};

/// Schema version of event types not listed in [`schema_version`].
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

/// The current schema version of an event type. Raise it for one type, and teach [`upcast`] to
/// bring the previous shape forward, whenever that type's payload changes.
///
/// | type | version | change |
/// |---|---|---|
/// | `formal.open_letter_sent` | 2 | v2 adds `published_channels` (E2); v1 is upcast with `[]` |
/// | `roster.focal_points_appointed`, `roster.focal_point_replaced` | 2 | v2 adds each member's `subjects` (who acts for it); v1 is upcast with `[]` |
/// | `formal.non_cooperation_finding_referred` | 2 | v2 adds `carried_consultations` (art. 97 record carried over on escalation); v1 is upcast with `[]` |
pub fn schema_version(event_type: &str) -> u32 {
    match event_type {
        "formal.non_cooperation_finding_referred" | "formal.open_letter_sent" => 3,
        "roster.focal_points_appointed" | "roster.focal_point_replaced" => 3,
        // v2: rules carry legal_time_tolerance_hours and the seat's time zone; MootBasis gained
        // no_court_proceedings; and EventMeta.time_zone, as for every type below.
        "formal.rules_amended"
        | "formal.matter_became_moot"
        | "preventive.imminent_non_cooperation_alerted"
        | "preventive.rules_amended" => 2,
        // Types first published with EventMeta.time_zone (issue 13).
        t if FIRST_PUBLISHED_WITH_TIME_ZONE.contains(&t) => CURRENT_SCHEMA_VERSION,
        // Every other type: v2 = v1 + EventMeta.time_zone (optional; absent in v1).
        _ => CURRENT_SCHEMA_VERSION + 1,
    }
}

/// Event types whose first published version already has `EventMeta.time_zone`.
const FIRST_PUBLISHED_WITH_TIME_ZONE: &[&str] = &[
    "formal.court_withdrew_referral",
    "formal.deadline_lapse_corrected",
    "formal.matter_deferred_to_later_session",
    "formal.public_meeting_cancelled",
    "formal.public_meeting_rescheduled",
    "formal.withdrawal_notified",
    "formal.withdrawal_revoked",
    "formal.withdrawal_took_effect",
    "preventive.alert_sent_on_standing_channel",
    "preventive.court_deadline_extended",
    "preventive.court_hearing_held",
    "preventive.matter_became_moot",
    "preventive.urgent_decision_issued",
    "preventive.withdrawal_notified",
    "preventive.withdrawal_revoked",
    "preventive.withdrawal_took_effect",
    "roster.procedure_rules_adopted",
];

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
    #[error("event type {event_type:?} has schema version {version}, which this build cannot read")]
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

pub(crate) fn prefix(kind: ProcedureKind) -> &'static str {
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
    let event_type = format!("{}.{tag}", prefix(kind));
    Envelope {
        schema_version: schema_version(&event_type),
        event_type,
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

/// Brings an older payload to the current shape, one version at a time. Stored events are
/// never rewritten: the log keeps the bytes that were hashed, and every read upcasts.
///
/// # Errors
/// [`CodecError::UnsupportedVersion`] for a version this build does not know.
pub fn upcast(
    event_type: &str,
    version: u32,
    mut value: serde_json::Value,
) -> Result<serde_json::Value, CodecError> {
    let current = schema_version(event_type);
    let unsupported = || CodecError::UnsupportedVersion {
        event_type: event_type.to_owned(),
        version,
    };
    if version == 0 || version > current {
        return Err(unsupported());
    }
    let mut v = version;
    while v < current {
        match (event_type, v) {
            ("formal.open_letter_sent", 1) => {
                let body = value
                    .get_mut("body")
                    .and_then(|b| b.as_object_mut())
                    .ok_or_else(unsupported)?;
                body.entry("published_channels")
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            }
            // Rules pinned before the legal-time rule read the default tolerance.
            ("formal.non_cooperation_finding_referred", 2)
            | ("formal.rules_amended", 1)
            | ("preventive.imminent_non_cooperation_alerted", 1)
            | ("preventive.rules_amended", 1) => {
                let rules = value
                    .get_mut("body")
                    .and_then(|b| b.get_mut("rules"))
                    .and_then(|r| r.as_object_mut())
                    .ok_or_else(unsupported)?;
                rules
                    .entry("legal_time_tolerance_hours")
                    .or_insert_with(|| {
                        serde_json::Value::from(super::rules::DEFAULT_LEGAL_TIME_TOLERANCE_HOURS)
                    });
                // Their deadlines were computed on UTC days.
                rules
                    .entry("seat_time_zone")
                    .or_insert_with(|| serde_json::Value::from(super::rules::LEGACY_TIME_ZONE));
                rules
                    .entry("deadlines_roll_forward")
                    .or_insert(serde_json::Value::Bool(false));
                rules
                    .entry("holidays")
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            }
            // EventMeta gained the optional time_zone: every earlier payload is valid as is.
            ("formal.open_letter_sent", 2)
            | ("roster.focal_points_appointed", 2)
            | ("roster.focal_point_replaced", 2) => {}
            // A value was added to the basis; every v1 payload is a valid v2 payload.
            ("formal.matter_became_moot", 1) => {}
            ("formal.non_cooperation_finding_referred", 1) => {
                let body = value
                    .get_mut("body")
                    .and_then(|b| b.as_object_mut())
                    .ok_or_else(unsupported)?;
                body.entry("carried_consultations")
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            }
            ("roster.focal_points_appointed", 1) => {
                let members = value
                    .get_mut("body")
                    .and_then(|b| b.get_mut("members"))
                    .and_then(|m| m.as_array_mut())
                    .ok_or_else(unsupported)?;
                for m in members {
                    if let Some(m) = m.as_object_mut() {
                        m.entry("subjects")
                            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                    }
                }
            }
            ("roster.focal_point_replaced", 1) => {
                let m = value
                    .get_mut("body")
                    .and_then(|b| b.get_mut("replacement"))
                    .and_then(|m| m.as_object_mut())
                    .ok_or_else(unsupported)?;
                m.entry("subjects")
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            }
            // EventMeta gained the optional time_zone (v1 -> v2 of every other type).
            (_, 1) if current == CURRENT_SCHEMA_VERSION + 1 => {}
            _ => return Err(unsupported()),
        }
        v += 1;
    }
    Ok(value)
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

/// Decodes a payload of the current schema version directly from its bytes, after checking
/// (with a parse that only borrows) that its body's type is the event type's.
fn decode_current<B: DeserializeOwned>(
    event_type: &str,
    suffix: &str,
    payload: &[u8],
) -> Result<Event<B>, CodecError> {
    #[derive(serde::Deserialize)]
    struct Tagged<'a> {
        #[serde(borrow)]
        body: Option<BodyTag<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct BodyTag<'a> {
        #[serde(rename = "type", borrow)]
        tag: Option<std::borrow::Cow<'a, str>>,
    }
    let bad = |message: String| CodecError::BadPayload {
        event_type: event_type.to_owned(),
        message,
    };
    let tagged: Tagged<'_> = serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
    let tag = tagged.body.and_then(|b| b.tag);
    if tag.as_deref() != Some(suffix) {
        return Err(bad(format!(
            "body type {:?} does not match the event type",
            tag.as_deref()
        )));
    }
    serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))
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
    if schema_version == self::schema_version(event_type) {
        // The current shape: straight from the bytes, without building a JSON tree first.
        return Ok(match procedure {
            "formal" => CaseEvent::Formal(decode_current(event_type, suffix, payload)?),
            "preventive" => CaseEvent::Preventive(decode_current(event_type, suffix, payload)?),
            "interpretative" => {
                CaseEvent::Interpretative(decode_current(event_type, suffix, payload)?)
            }
            "roster" => CaseEvent::Roster(decode_current(event_type, suffix, payload)?),
            _ => return Err(CodecError::UnknownType(event_type.to_owned())),
        });
    }
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
