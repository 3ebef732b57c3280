//! The serde layer: one pass over the frame text into a borrowed, lenient struct, with
//! hand-written visitors. Validation happens afterwards, so that every failure gets a precise
//! [`FrameError`] instead of a generic serde message.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{EventFrame, FrameError, GoAway, GoAwayReason};

/// Reads `text` into a [`RawFrame`], classifying JSON-level failures.
pub(super) fn parse_raw(text: &str) -> Result<RawFrame<'_>, FrameError> {
    let starts_as_object = text
        .bytes()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        == Some(b'{');
    if !starts_as_object {
        // Error path only: tell "JSON but not an object" from "not JSON".
        return Err(match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => FrameError::NotAnObject,
            Err(err) => FrameError::NotJson(err.to_string()),
        });
    }
    let raw: RawFrame<'_> =
        serde_json::from_str(text).map_err(|err| FrameError::NotJson(err.to_string()))?;
    if let Some(field) = raw.duplicate {
        return Err(FrameError::DuplicateField(field));
    }
    Ok(raw)
}

/// A required, non-empty string field.
pub(super) fn required_non_empty<'a>(
    field: &'static str,
    value: Option<Loose<'a>>,
) -> Result<Cow<'a, str>, FrameError> {
    match value {
        None => Err(FrameError::MissingField(field)),
        Some(Loose::Str(value)) if !value.is_empty() => Ok(value),
        Some(_) => Err(FrameError::InvalidField {
            field,
            expected: "a non-empty string",
        }),
    }
}

/// A required string field (may be empty).
pub(super) fn required_str<'a>(
    field: &'static str,
    value: Option<Loose<'a>>,
) -> Result<Cow<'a, str>, FrameError> {
    match value {
        None => Err(FrameError::MissingField(field)),
        Some(Loose::Str(value)) => Ok(value),
        Some(_) => Err(FrameError::InvalidField {
            field,
            expected: "a string",
        }),
    }
}

/// Every field any frame of the protocol may carry, each kept as whatever JSON value it held.
#[derive(Default)]
pub(super) struct RawFrame<'a> {
    pub(super) kind: Option<Loose<'a>>,
    topic: Option<Loose<'a>>,
    operation: Option<Loose<'a>>,
    time: Option<Loose<'a>>,
    pub(super) nonce: Option<Loose<'a>>,
    signature: Option<Loose<'a>>,
    encrypted_data: Option<Loose<'a>>,
    reason: Option<Loose<'a>>,
    message: Option<Loose<'a>>,
    reconnect_ms: Option<Loose<'a>>,
    pub(super) code: Option<Loose<'a>>,
    pub(super) msg: Option<Loose<'a>>,
    /// The first known field that appeared twice.
    duplicate: Option<&'static str>,
}

impl<'a> RawFrame<'a> {
    pub(super) fn into_event(self) -> Result<EventFrame<'a>, FrameError> {
        let topic = required_non_empty("topic", self.topic)?;
        let operation = required_non_empty("operation", self.operation)?;
        let time = match self.time {
            None => return Err(FrameError::MissingField("time")),
            Some(Loose::Int(time)) => time,
            Some(_) => {
                return Err(FrameError::InvalidField {
                    field: "time",
                    expected: "an integer number of seconds since the Unix epoch",
                });
            }
        };
        Ok(EventFrame {
            topic,
            operation,
            time,
            nonce: required_str("nonce", self.nonce)?,
            signature: required_str("signature", self.signature)?,
            encrypted_data: required_str("encrypted_data", self.encrypted_data)?,
        })
    }

    /// Lenient on purpose: whatever the other fields hold, a GoAway is honoured.
    pub(super) fn into_goaway(self) -> GoAway {
        let reason = match self.reason {
            Some(Loose::Str(reason)) => GoAwayReason::from(reason.as_ref()),
            _ => GoAwayReason::Other(String::new()),
        };
        let message = match self.message {
            Some(Loose::Str(message)) => message.into_owned(),
            _ => String::new(),
        };
        let reconnect_ms = match self.reconnect_ms {
            Some(Loose::Int(ms)) => u64::try_from(ms).ok(),
            Some(Loose::UInt(ms)) => Some(ms),
            _ => None,
        };
        GoAway {
            reason,
            message,
            reconnect_ms,
        }
    }
}

/// The keys [`RawFrame`] keeps; any other key is skipped without being read into memory.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Type,
    Topic,
    Operation,
    Time,
    Nonce,
    Signature,
    EncryptedData,
    Reason,
    Message,
    ReconnectMs,
    Code,
    Msg,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for RawFrame<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RawFrameVisitor)
    }
}

struct RawFrameVisitor;

impl<'de> Visitor<'de> for RawFrameVisitor {
    type Value = RawFrame<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawFrame::default();
        while let Some(key) = map.next_key::<Key>()? {
            let (slot, name) = match key {
                Key::Type => (&mut raw.kind, "type"),
                Key::Topic => (&mut raw.topic, "topic"),
                Key::Operation => (&mut raw.operation, "operation"),
                Key::Time => (&mut raw.time, "time"),
                Key::Nonce => (&mut raw.nonce, "nonce"),
                Key::Signature => (&mut raw.signature, "signature"),
                Key::EncryptedData => (&mut raw.encrypted_data, "encrypted_data"),
                Key::Reason => (&mut raw.reason, "reason"),
                Key::Message => (&mut raw.message, "message"),
                Key::ReconnectMs => (&mut raw.reconnect_ms, "reconnect_ms"),
                Key::Code => (&mut raw.code, "code"),
                Key::Msg => (&mut raw.msg, "msg"),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                map.next_value::<IgnoredAny>()?;
                raw.duplicate.get_or_insert(name);
            } else {
                *slot = Some(map.next_value::<Loose<'de>>()?);
            }
        }
        Ok(raw)
    }
}

/// Any JSON value, keeping only what validation needs. Strings borrow from the input when they
/// hold no escapes; arrays and objects are skipped.
pub(super) enum Loose<'a> {
    Str(Cow<'a, str>),
    /// An integer that fits in `i64`.
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    Float,
    Bool,
    Null,
    Array,
    Object,
}

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Loose::UInt(v), Loose::Int))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Loose::Float)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Loose::Bool)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Object)
    }
}
