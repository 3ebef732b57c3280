//! Frame codec: the JSON text frames of the event long connection (docs/protocol.md §2, §3, §5).
//!
//! | file | what |
//! |---|---|
//! | `frame` | the public frame types: [`Frame`], [`EventFrame`], [`GoAway`] |
//! | `reject` | why a frame is rejected: [`FrameError`], [`RejectKind`] |
//! | `raw` | the serde layer: one borrowed, lenient pass over the text |
//! | `server` | the server's side, for emulators and tests: [`encode_goaway`], [`decode_ack`] |
//!
//! [`decode`] turns one server text frame into a [`Frame`]: an [`EventFrame`] (still signed and
//! encrypted; see [`crate::crypto::EventCipher`]) or a [`GoAway`]. It reads the text in one serde
//! pass, borrows every string that has no escape sequences, ignores unknown fields and never
//! panics, whatever the input.
//!
//! [`encode_ack`] builds the frame the client sends once a handler finished.
//!
//! ```
//! use open_event_core::codec::{self, Frame, GoAwayReason};
//!
//! let frame = codec::decode(r#"{"type":"goaway","reason":"server_shutdown","message":"bye","reconnect_ms":5000}"#)
//!     .unwrap();
//! let Frame::GoAway(goaway) = frame else { panic!("expected a goaway") };
//! assert_eq!(goaway.reason, GoAwayReason::ServerShutdown);
//! assert_eq!(goaway.reconnect_ms, Some(5000));
//!
//! assert_eq!(
//!     codec::encode_ack("b38c06ba3330d2a3", 200, None),
//!     r#"{"type":"ack","nonce":"b38c06ba3330d2a3","code":200}"#
//! );
//! ```

mod frame;
mod raw;
mod reject;
mod server;

use std::borrow::Cow;

use serde::Serialize;

pub use self::frame::{EventFrame, Frame, GoAway, GoAwayReason};
pub use self::reject::{FrameError, RejectKind};
pub use self::server::{Ack, decode_ack, encode_goaway};

use self::raw::{Loose, parse_raw};

/// The most characters an ack's `msg` may hold (docs/protocol.md §5).
pub const ACK_MSG_MAX_CHARS: usize = 256;

/// What replaces the end of an ack message that is too long.
const ELLIPSIS: &str = "...";
/// Decodes one server text frame.
///
/// A JSON object with `"type":"goaway"` is a [`GoAway`]; one without `type` is an event, which
/// needs non-empty string `topic` and `operation`, an integer `time` and string `nonce`,
/// `signature` and `encrypted_data`. Unknown fields are ignored; a known field given twice is
/// rejected. The event is neither verified nor decrypted here.
///
/// # Errors
/// A [`FrameError`] naming what is wrong; never panics.
///
/// ```
/// use open_event_core::codec::{self, Frame, FrameError};
///
/// let text = r#"{"topic":"kso.app_chat","operation":"create","time":1704067201,
///     "nonce":"0123456789abcdef","signature":"s","encrypted_data":"d","extra":[1]}"#;
/// let Ok(Frame::Event(event)) = codec::decode(text) else { panic!("expected an event") };
/// assert_eq!(event.event_code(), "kso.app_chat.create");
///
/// assert_eq!(
///     codec::decode(r#"{"type":"ping"}"#),
///     Err(FrameError::UnknownType("ping".to_owned()))
/// );
/// ```
pub fn decode(text: &str) -> Result<Frame<'_>, FrameError> {
    let mut raw = parse_raw(text)?;
    match raw.kind.take() {
        None => raw.into_event().map(Frame::Event),
        Some(Loose::Str(kind)) if kind == "goaway" => Ok(Frame::GoAway(raw.into_goaway())),
        Some(Loose::Str(kind)) => Err(FrameError::UnknownType(kind.into_owned())),
        Some(_) => Err(FrameError::InvalidField {
            field: "type",
            expected: "a string",
        }),
    }
}
/// Encodes the ack of one event: `{"type":"ack","nonce":"…","code":200}`, plus `"msg"` when
/// given. The message goes through [`truncate_ack_msg`] first.
///
/// ```
/// use open_event_core::codec::encode_ack;
///
/// assert_eq!(
///     encode_ack("n", 500, Some("bad \"input\"")),
///     r#"{"type":"ack","nonce":"n","code":500,"msg":"bad \"input\""}"#
/// );
/// ```
pub fn encode_ack(nonce: &str, code: u16, msg: Option<&str>) -> String {
    #[derive(Serialize)]
    struct Wire<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        nonce: &'a str,
        code: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        msg: Option<Cow<'a, str>>,
    }
    serde_json::to_string(&Wire {
        kind: "ack",
        nonce,
        code,
        msg: msg.map(truncate_ack_msg),
    })
    .expect("strings and integers always serialize to JSON")
}

/// Limits an ack message to [`ACK_MSG_MAX_CHARS`] characters in all: a longer text becomes its
/// first 253 characters followed by `...`. Counts characters, never splits one.
///
/// ```
/// use open_event_core::codec::truncate_ack_msg;
///
/// assert_eq!(truncate_ack_msg("short"), "short");
/// let long = "é".repeat(300);
/// let cut = truncate_ack_msg(&long);
/// assert_eq!(cut.chars().count(), 256);
/// assert!(cut.ends_with("é..."));
/// ```
pub fn truncate_ack_msg(msg: &str) -> Cow<'_, str> {
    // At most 256 bytes means at most 256 characters: nothing to count.
    if msg.len() <= ACK_MSG_MAX_CHARS || msg.char_indices().nth(ACK_MSG_MAX_CHARS).is_none() {
        return Cow::Borrowed(msg);
    }
    let keep = ACK_MSG_MAX_CHARS - ELLIPSIS.len();
    let cut = msg
        .char_indices()
        .nth(keep)
        .map_or(msg.len(), |(index, _)| index);
    let mut out = String::with_capacity(cut + ELLIPSIS.len());
    out.push_str(&msg[..cut]);
    out.push_str(ELLIPSIS);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"topic":"kso.app_chat","operation":"create","time":1704067201,"nonce":"0123456789abcdef","signature":"sig","encrypted_data":"data"}"#;

    fn with(field: &str, value: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        if value.is_empty() {
            v.as_object_mut().unwrap().remove(field);
        } else {
            v[field] = serde_json::from_str(value).unwrap();
        }
        v.to_string()
    }

    #[test]
    fn event_borrows_unescaped_strings() {
        let Frame::Event(frame) = decode(EVENT).unwrap() else {
            panic!("not an event")
        };
        assert!(matches!(frame.topic, Cow::Borrowed(_)));
        assert!(matches!(frame.encrypted_data, Cow::Borrowed(_)));
        assert_eq!(frame.time, 1704067201);
        assert_eq!(frame.to_json(), EVENT);
        let owned = frame.clone().into_owned();
        assert_eq!(owned, frame);
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let text = EVENT.replace("\"sig\"", r#""s\u0069g""#);
        let Frame::Event(frame) = decode(&text).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(frame.signature, "sig");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let text = EVENT.replace('{', r#"{"x":{"a":[1,2,{"b":null}]},"y":1.5,"#);
        assert!(matches!(decode(&text), Ok(Frame::Event(_))));
    }

    #[test]
    fn time_must_be_an_integer() {
        for bad in [
            "1.5",
            "1704067201.0",
            "\"1704067201\"",
            "null",
            "18446744073709551615",
        ] {
            assert_eq!(
                decode(&with("time", bad)),
                Err(FrameError::InvalidField {
                    field: "time",
                    expected: "an integer number of seconds since the Unix epoch"
                }),
                "{bad}"
            );
        }
        assert_eq!(
            decode(&with("time", "")),
            Err(FrameError::MissingField("time"))
        );
        assert!(decode(&with("time", "-5")).is_ok());
    }

    #[test]
    fn required_fields() {
        for field in ["topic", "operation", "nonce", "signature", "encrypted_data"] {
            assert_eq!(
                decode(&with(field, "")),
                Err(FrameError::MissingField(match field {
                    "topic" => "topic",
                    "operation" => "operation",
                    "nonce" => "nonce",
                    "signature" => "signature",
                    _ => "encrypted_data",
                }))
            );
            assert!(
                matches!(
                    decode(&with(field, "5")),
                    Err(FrameError::InvalidField { .. })
                ),
                "{field}"
            );
        }
        assert!(matches!(
            decode(&with("topic", "\"\"")),
            Err(FrameError::InvalidField { field: "topic", .. })
        ));
        assert!(matches!(
            decode(&with("operation", "\"\"")),
            Err(FrameError::InvalidField {
                field: "operation",
                ..
            })
        ));
    }

    #[test]
    fn types() {
        assert_eq!(
            decode(&with("type", "\"ack\"")),
            Err(FrameError::UnknownType("ack".into()))
        );
        assert!(matches!(
            decode(&with("type", "1")),
            Err(FrameError::InvalidField { field: "type", .. })
        ));
        assert!(matches!(
            decode(r#"{"type":"goaway"}"#),
            Ok(Frame::GoAway(GoAway { reason: GoAwayReason::Other(r), reconnect_ms: None, .. })) if r.is_empty()
        ));
    }

    #[test]
    fn not_json_or_not_object() {
        assert_eq!(decode("[1,2]"), Err(FrameError::NotAnObject));
        assert_eq!(decode(" 5 "), Err(FrameError::NotAnObject));
        assert_eq!(decode("\"x\""), Err(FrameError::NotAnObject));
        assert!(matches!(decode(""), Err(FrameError::NotJson(_))));
        assert!(matches!(decode("{"), Err(FrameError::NotJson(_))));
        assert!(matches!(decode("nope"), Err(FrameError::NotJson(_))));
        assert!(matches!(
            decode(&format!("{EVENT} x")),
            Err(FrameError::NotJson(_))
        ));
        // Deep nesting is skipped without recursion.
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(decode(&deep), Err(FrameError::MissingField("topic")));
        let deep = EVENT.replace(
            "1704067201",
            &format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        );
        assert!(matches!(
            decode(&deep),
            Err(FrameError::InvalidField { field: "time", .. })
        ));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(decode(&deep), Err(FrameError::NotAnObject));
    }

    #[test]
    fn duplicates_are_rejected() {
        let text = EVENT.replace('{', r#"{"topic":"other","#);
        assert_eq!(decode(&text), Err(FrameError::DuplicateField("topic")));
    }

    #[test]
    fn goaway_reconnect_ms_is_lenient() {
        let cases = [
            ("5000", Some(5000)),
            ("0", Some(0)),
            ("null", None),
            ("-1", None),
            ("1.5", None),
            ("\"5000\"", None),
            ("18446744073709551615", Some(u64::MAX)),
        ];
        for (value, expected) in cases {
            let text =
                format!(r#"{{"type":"goaway","reason":"server_shutdown","reconnect_ms":{value}}}"#);
            let Ok(Frame::GoAway(goaway)) = decode(&text) else {
                panic!("{value}")
            };
            assert_eq!(goaway.reconnect_ms, expected, "{value}");
            assert_eq!(goaway.reason, GoAwayReason::ServerShutdown);
        }
    }

    #[test]
    fn truncation() {
        assert!(matches!(
            truncate_ack_msg(&"a".repeat(256)),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            truncate_ack_msg(&"é".repeat(256)),
            Cow::Borrowed(_)
        ));
        let long = "a".repeat(257);
        let cut = truncate_ack_msg(&long);
        assert_eq!(cut.len(), 256);
        assert!(cut.ends_with("a..."));
        let mixed: String = "é你".repeat(150);
        let cut = truncate_ack_msg(&mixed);
        assert_eq!(cut.chars().count(), 256);
        assert!(cut.ends_with("..."));
        assert!(mixed.starts_with(cut.trim_end_matches("...")));
    }
}
