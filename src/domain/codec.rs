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

/// Decodes a payload of the current schema version directly from its bytes: the body is read
/// as the variant the event type names ([`StoredBody`]), and its `type` field is checked
/// against that name as it goes by, in one pass.
fn decode_current<B: StoredBody>(
    event_type: &str,
    suffix: &str,
    payload: &[u8],
) -> Result<Event<B>, CodecError> {
    use serde::de::DeserializeSeed;
    let bad = |message: String| CodecError::BadPayload {
        event_type: event_type.to_owned(),
        message,
    };
    // One UTF-8 check of the whole payload, instead of one per string as `from_slice` makes.
    let text = std::str::from_utf8(payload).map_err(|e| bad(e.to_string()))?;
    let mut de = serde_json::Deserializer::from_str(text);
    EventSeed::<B> {
        tag: suffix,
        body: std::marker::PhantomData,
    }
    .deserialize(&mut de)
    .and_then(|e| de.end().map(|()| e))
    .map_err(|e| bad(e.to_string()))
}

/// Reads an RFC 3339 instant as chrono's `DateTime<Utc>` does, with a fast path for the form
/// the log writes (`2017-12-11T12:00:00Z`, with up to nine fraction digits): chrono's general
/// parser took a tenth of a replay's decoding. Anything else goes to chrono.
///
/// # Errors
/// The string is not an RFC 3339 instant.
pub(crate) fn utc_time<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<chrono::DateTime<chrono::Utc>, D::Error> {
    let s = <known::Key<'de> as serde::Deserialize>::deserialize(d)?;
    let s = s.as_str();
    match crate::clock::parse_utc_fast(s.as_bytes()) {
        Some(t) => Ok(t),
        None => s.parse().map_err(serde::de::Error::custom),
    }
}

/// A procedure's event body (`#[serde(tag = "type")]`), read when the envelope already names
/// its variant. serde reads an internally tagged enum by buffering the whole body into a
/// tree before it knows the variant (the stored bodies' `type` comes last: keys are sorted);
/// with the variant known, the body is read straight into it. Implemented by
/// [`stored_body!`](crate::domain::codec::stored_body), which derives an externally tagged
/// twin of the enum.
pub trait StoredBody: Sized {
    /// Reads the body whose variant is `tag` (the snake_case name) from `d`, a map with a
    /// `type` field equal to `tag`.
    ///
    /// # Errors
    /// An unknown variant, a `type` field that is missing or names another variant, or a body
    /// that does not match the variant.
    fn deserialize_as<'de, D: serde::Deserializer<'de>>(tag: &str, d: D) -> Result<Self, D::Error>;
}

/// Declares a procedure's stored event body: the enum exactly as written (it must be
/// `#[serde(tag = "type", rename_all = "snake_case")] pub enum Body`), and its [`StoredBody`]
/// reader, derived from the same variants externally tagged (`serde(remote)`), so the
/// compiler keeps the two alike.
macro_rules! stored_body {
    (
        $(#[$attr:meta])*
        pub enum Body {
            $(
                $(#[$vattr:meta])*
                $variant:ident $( ( $($tuple:tt)* ) )? $( { $($fields:tt)* } )?
            ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        pub enum Body {
            $( $(#[$vattr])* $variant $( ( $($tuple)* ) )? $( { $($fields)* } )? ),*
        }

        /// [`Body`] externally tagged: what [`StoredBody`](crate::domain::codec::StoredBody)
        /// reads through once the envelope has named the variant.
        #[derive(serde::Deserialize)]
        #[serde(remote = "Body", rename_all = "snake_case")]
        #[allow(dead_code, clippy::large_enum_variant, clippy::enum_variant_names)]
        enum KnownBody {
            $( $(#[$vattr])* $variant $( ( $($tuple)* ) )? $( { $($fields)* } )? ),*
        }

        impl $crate::domain::codec::StoredBody for Body {
            fn deserialize_as<'de, D: serde::Deserializer<'de>>(
                tag: &str,
                d: D,
            ) -> Result<Self, D::Error> {
                KnownBody::deserialize($crate::domain::codec::known::KnownTag::new(tag, d))
            }
        }
    };
}
pub(crate) use stored_body;

/// `Event<B>` read with its body's variant known.
struct EventSeed<'t, B> {
    tag: &'t str,
    body: std::marker::PhantomData<B>,
}

impl<'de, B: StoredBody> serde::de::DeserializeSeed<'de> for EventSeed<'_, B> {
    type Value = Event<B>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Event<B>, D::Error> {
        d.deserialize_struct("Event", &["meta", "body"], self)
    }
}

impl<'de, B: StoredBody> serde::de::Visitor<'de> for EventSeed<'_, B> {
    type Value = Event<B>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an event: an object with meta and body")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Event<B>, A::Error> {
        use serde::de::Error;
        let (mut meta, mut body) = (None, None);
        while let Some(key) = map.next_key::<known::Key<'de>>()? {
            match key.as_str() {
                "meta" if meta.is_some() => return Err(A::Error::duplicate_field("meta")),
                "meta" => meta = Some(map.next_value()?),
                "body" if body.is_some() => return Err(A::Error::duplicate_field("body")),
                "body" => {
                    body = Some(map.next_value_seed(BodySeed::<B> {
                        tag: self.tag,
                        body: std::marker::PhantomData,
                    })?);
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(Event {
            meta: meta.ok_or_else(|| A::Error::missing_field("meta"))?,
            body: body.ok_or_else(|| A::Error::missing_field("body"))?,
        })
    }
}

struct BodySeed<'t, B> {
    tag: &'t str,
    body: std::marker::PhantomData<B>,
}

impl<'de, B: StoredBody> serde::de::DeserializeSeed<'de> for BodySeed<'_, B> {
    type Value = B;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<B, D::Error> {
        B::deserialize_as(self.tag, d)
    }
}

/// The serde plumbing of [`StoredBody`]: a body presented to the externally tagged twin as
/// `{ tag: body }`, its `type` field checked and hidden on the way.
#[doc(hidden)]
pub mod known {
    use serde::de::{
        self, DeserializeSeed, Deserializer, EnumAccess, Error, MapAccess, VariantAccess, Visitor,
        value::{BorrowedStrDeserializer, StrDeserializer},
    };

    /// A map key or a `type` value: borrowed from the payload when it has no escapes.
    pub(super) enum Key<'de> {
        Borrowed(&'de str),
        Owned(String),
    }

    impl Key<'_> {
        pub(super) fn as_str(&self) -> &str {
            match self {
                Key::Borrowed(s) => s,
                Key::Owned(s) => s,
            }
        }
    }

    impl<'de> de::Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E: Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key::Borrowed(s))
                }
                fn visit_str<E: Error>(self, s: &str) -> Result<Key<'de>, E> {
                    Ok(Key::Owned(s.to_owned()))
                }
                fn visit_string<E: Error>(self, s: String) -> Result<Key<'de>, E> {
                    Ok(Key::Owned(s))
                }
            }
            d.deserialize_str(V)
        }
    }

    /// The body `d`, whose variant is `tag`, as an externally tagged enum.
    pub struct KnownTag<'t, D> {
        tag: &'t str,
        d: D,
    }

    impl<'t, D> KnownTag<'t, D> {
        /// Wraps `d`.
        pub fn new(tag: &'t str, d: D) -> Self {
            KnownTag { tag, d }
        }
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for KnownTag<'_, D> {
        type Error = D::Error;

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            visitor.visit_enum(self)
        }

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, D::Error> {
            Err(D::Error::custom("an event body is read as an enum"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
            ignored_any
        }
    }

    impl<'de, D: Deserializer<'de>> EnumAccess<'de> for KnownTag<'_, D> {
        type Error = D::Error;
        type Variant = Self;

        fn variant_seed<S: DeserializeSeed<'de>>(
            self,
            seed: S,
        ) -> Result<(S::Value, Self), D::Error> {
            let variant = seed.deserialize(StrDeserializer::<D::Error>::new(self.tag))?;
            Ok((variant, self))
        }
    }

    impl<'de, D: Deserializer<'de>> VariantAccess<'de> for KnownTag<'_, D> {
        type Error = D::Error;

        fn unit_variant(self) -> Result<(), D::Error> {
            self.d.deserialize_map(Checked {
                tag: self.tag,
                inner: de::IgnoredAny,
            })?;
            Ok(())
        }

        fn newtype_variant_seed<S: DeserializeSeed<'de>>(
            self,
            seed: S,
        ) -> Result<S::Value, D::Error> {
            seed.deserialize(CheckedBody {
                tag: self.tag,
                d: self.d,
            })
        }

        fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _v: V) -> Result<V::Value, D::Error> {
            Err(D::Error::custom(
                "an event body is an object, never a tuple",
            ))
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            _fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.d.deserialize_map(Checked {
                tag: self.tag,
                inner: visitor,
            })
        }
    }

    /// A newtype variant's struct, read from the body map with `type` checked and hidden.
    struct CheckedBody<'t, D> {
        tag: &'t str,
        d: D,
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for CheckedBody<'_, D> {
        type Error = D::Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.d.deserialize_map(Checked {
                tag: self.tag,
                inner: visitor,
            })
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
            identifier ignored_any
        }
    }

    /// Visits the body map for `inner`, checking and hiding its `type` field.
    struct Checked<'t, V> {
        tag: &'t str,
        inner: V,
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for Checked<'_, V> {
        type Value = V::Value;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "an object with \"type\": {:?}", self.tag)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
            let mut map = TypeChecked {
                tag: self.tag,
                map,
                seen: false,
            };
            let value = self.inner.visit_map(&mut map)?;
            // A visitor that stopped early leaves the rest to be read for the `type` check.
            while map.next_key::<de::IgnoredAny>()?.is_some() {
                map.next_value::<de::IgnoredAny>()?;
            }
            if map.seen {
                Ok(value)
            } else {
                Err(A::Error::custom(
                    "body type None does not match the event type",
                ))
            }
        }
    }

    struct TypeChecked<'t, A> {
        tag: &'t str,
        map: A,
        seen: bool,
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for TypeChecked<'_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            loop {
                let Some(key) = self.map.next_key::<Key<'de>>()? else {
                    return Ok(None);
                };
                if key.as_str() == "type" {
                    if self.seen {
                        return Err(A::Error::duplicate_field("type"));
                    }
                    let found = self.map.next_value::<Key<'de>>()?;
                    if found.as_str() != self.tag {
                        return Err(A::Error::custom(format!(
                            "body type {:?} does not match the event type",
                            Some(found.as_str())
                        )));
                    }
                    self.seen = true;
                    continue;
                }
                return match key {
                    Key::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::new(k)),
                    Key::Owned(k) => seed.deserialize(StrDeserializer::new(&k)),
                }
                .map(Some);
            }
        }

        fn next_value_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<S::Value, A::Error> {
            self.map.next_value_seed(seed)
        }

        fn size_hint(&self) -> Option<usize> {
            self.map.size_hint()
        }
    }
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
