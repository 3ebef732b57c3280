//! Frame codec: the JSON text frames of the event long connection (PROTOCOL.md §2, §3).
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

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The most characters an ack's `msg` may hold (PROTOCOL.md §3).
pub const ACK_MSG_MAX_CHARS: usize = 256;

/// What replaces the end of an ack message that is too long.
const ELLIPSIS: &str = "...";

/// One decoded server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An event, still signed and encrypted.
    Event(EventFrame<'a>),
    /// The server is about to close the connection.
    GoAway(GoAway),
}

impl Frame<'_> {
    /// Copies every borrowed string so the frame no longer borrows the input text.
    pub fn into_owned(self) -> Frame<'static> {
        match self {
            Frame::Event(event) => Frame::Event(event.into_owned()),
            Frame::GoAway(goaway) => Frame::GoAway(goaway),
        }
    }
}

/// An event frame as the server sends it: signed and encrypted (PROTOCOL.md §2).
///
/// The strings borrow from the frame text when they contain no JSON escapes.
/// [`crate::crypto::EventCipher::open`] verifies and decrypts it into an [`crate::Event`].
///
/// ```
/// use std::borrow::Cow;
/// use open_event_core::codec::EventFrame;
///
/// let frame = EventFrame {
///     topic: Cow::Borrowed("kso.app_chat"),
///     operation: Cow::Borrowed("create"),
///     time: 1704067201,
///     nonce: Cow::Borrowed("0123456789abcdef"),
///     signature: Cow::Borrowed("sig"),
///     encrypted_data: Cow::Borrowed("data"),
/// };
/// assert_eq!(frame.event_code(), "kso.app_chat.create");
/// assert!(frame.to_json().starts_with(r#"{"topic":"kso.app_chat","operation":"create","time":1704067201,"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventFrame<'a> {
    /// The topic, e.g. `kso.app_chat.message` (never empty once decoded).
    pub topic: Cow<'a, str>,
    /// The operation, e.g. `create` (never empty once decoded). Not covered by the signature.
    pub operation: Cow<'a, str>,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// The event's identity; its first 16 bytes are the AES IV.
    pub nonce: Cow<'a, str>,
    /// Unpadded base64url of the HMAC-SHA256 event signature.
    pub signature: Cow<'a, str>,
    /// Standard padded base64 of the AES-256-CBC ciphertext.
    pub encrypted_data: Cow<'a, str>,
}

impl EventFrame<'_> {
    /// Copies every borrowed string so the frame no longer borrows the input text.
    pub fn into_owned(self) -> EventFrame<'static> {
        EventFrame {
            topic: Cow::Owned(self.topic.into_owned()),
            operation: Cow::Owned(self.operation.into_owned()),
            time: self.time,
            nonce: Cow::Owned(self.nonce.into_owned()),
            signature: Cow::Owned(self.signature.into_owned()),
            encrypted_data: Cow::Owned(self.encrypted_data.into_owned()),
        }
    }

    /// The frame as the server sends it: one JSON object with the fields in wire order.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("strings and integers always serialize to JSON")
    }

    /// `topic + "." + operation`.
    pub fn event_code(&self) -> String {
        let mut code = String::with_capacity(self.topic.len() + 1 + self.operation.len());
        code.push_str(&self.topic);
        code.push('.');
        code.push_str(&self.operation);
        code
    }
}

/// A GoAway: the server is about to close the connection, and says why (PROTOCOL.md §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAway {
    /// Why the server sends the client away.
    pub reason: GoAwayReason,
    /// The server's human-readable explanation (empty when it gave none).
    pub message: String,
    /// How long to wait before the next reconnect, when the server said so. A negative or
    /// non-integer value on the wire reads as `None`: a GoAway is always honoured.
    pub reconnect_ms: Option<u64>,
}

/// The `reason` of a [`GoAway`].
///
/// ```
/// use open_event_core::codec::GoAwayReason;
///
/// let reason = GoAwayReason::from("connection_replaced");
/// assert_eq!(reason, GoAwayReason::ConnectionReplaced);
/// assert!(!reason.is_reconnectable());
/// assert_eq!(GoAwayReason::from("something_new").as_str(), "something_new");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GoAwayReason {
    /// `server_shutdown`: maintenance or deploy; reconnect (after `reconnect_ms` when given).
    ServerShutdown,
    /// `connection_replaced`: a newer connection of the same app took over; do not reconnect.
    ConnectionReplaced,
    /// `heartbeat_timeout`: the server missed our pongs; reconnect with normal backoff.
    HeartbeatTimeout,
    /// Any other reason (or none: the empty string); reconnect with normal backoff.
    Other(String),
}

impl GoAwayReason {
    /// The reason as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ServerShutdown => "server_shutdown",
            Self::ConnectionReplaced => "connection_replaced",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::Other(other) => other,
        }
    }

    /// Whether the client should reconnect: every reason but `connection_replaced`.
    pub fn is_reconnectable(&self) -> bool {
        !matches!(self, Self::ConnectionReplaced)
    }
}

impl From<&str> for GoAwayReason {
    fn from(value: &str) -> Self {
        match value {
            "server_shutdown" => Self::ServerShutdown,
            "connection_replaced" => Self::ConnectionReplaced,
            "heartbeat_timeout" => Self::HeartbeatTimeout,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for GoAwayReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ack frame, as the client sends it (PROTOCOL.md §3). Read back by [`decode_ack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The nonce of the acknowledged event.
    pub nonce: String,
    /// 200 when the handler succeeded, another code otherwise.
    pub code: u16,
    /// The handler's error text, when there is one.
    pub msg: Option<String>,
}

/// Why a frame was rejected. Display messages name the cause and what to check; they never
/// include the app secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A binary WebSocket frame: the protocol uses text frames only.
    #[error(
        "binary frame received: the protocol uses text frames only; check that the endpoint is the event long connection"
    )]
    Binary,
    /// The text is not JSON.
    #[error("frame is not valid JSON ({0}); check that the endpoint speaks this protocol")]
    NotJson(String),
    /// The text is JSON, but not an object.
    #[error("frame is JSON but not an object; check that the endpoint speaks this protocol")]
    NotAnObject,
    /// The frame's `type` is neither `goaway` nor absent.
    #[error(
        "unknown frame type {0:?}: expected \"goaway\" or an event (no type); the server may speak a newer protocol version"
    )]
    UnknownType(String),
    /// A required field is absent.
    #[error("frame has no `{0}` field; the frame is malformed")]
    MissingField(&'static str),
    /// A field is present but has the wrong type or value.
    #[error("frame field `{field}` is invalid: expected {expected}; the frame is malformed")]
    InvalidField {
        /// The field's name.
        field: &'static str,
        /// What the field should hold.
        expected: &'static str,
    },
    /// A known field appears twice in the object, which makes the frame ambiguous.
    #[error("frame field `{0}` appears more than once; the frame is ambiguous and was rejected")]
    DuplicateField(&'static str),
    /// The signature is not unpadded base64url of 32 bytes.
    #[error(
        "event signature is not unpadded base64url of 32 bytes (HMAC-SHA256): the frame was altered or does not come from the platform"
    )]
    SignatureEncoding,
    /// The signature does not match the frame.
    #[error(
        "event signature does not match: the frame was altered or was signed with another app secret; check the app secret"
    )]
    SignatureMismatch,
    /// `encrypted_data` is not standard base64 with padding.
    #[error(
        "encrypted_data is not standard base64 with padding: the frame was altered or was encoded with another alphabet"
    )]
    CiphertextEncoding,
    /// The ciphertext is empty or not a multiple of the AES block size.
    #[error(
        "ciphertext is {0} bytes, not a non-zero multiple of 16 (the AES block size): the sender did not encrypt it with AES-CBC"
    )]
    CiphertextLength(usize),
    /// The nonce is too short to provide the 16-byte IV.
    #[error("nonce is {0} bytes but AES-CBC needs at least 16 for the IV: the frame is malformed")]
    NonceTooShort(usize),
    /// The decrypted data does not end in valid PKCS#7 padding.
    #[error(
        "invalid PKCS#7 padding after decryption ({0}): the sender encrypted the event wrongly or with another key; check the app secret"
    )]
    Padding(String),
    /// The decrypted data is not UTF-8.
    #[error(
        "decrypted data is not UTF-8 text: the sender encrypted something else than JSON text; check the app secret"
    )]
    NotUtf8,
    /// The decrypted data is UTF-8 but not JSON (nor empty): the protocol's plaintext is JSON
    /// text, so the event is rejected (not delivered, not acked) instead of being acked 200
    /// for a payload no handler can read.
    #[error(
        "decrypted data is not JSON ({0}): the sender encrypted something else than the event's JSON text"
    )]
    PlaintextNotJson(String),
    /// A GoAway arrived where an event was expected (e.g. a webhook body).
    #[error("expected an event frame but got a goaway frame")]
    NotAnEvent,
}

impl FrameError {
    /// The reason class, for counting rejected frames.
    pub fn kind(&self) -> RejectKind {
        match self {
            Self::Binary => RejectKind::Binary,
            Self::NotJson(_)
            | Self::NotAnObject
            | Self::UnknownType(_)
            | Self::MissingField(_)
            | Self::InvalidField { .. }
            | Self::DuplicateField(_)
            | Self::NotAnEvent => RejectKind::Malformed,
            Self::SignatureEncoding => RejectKind::SignatureEncoding,
            Self::SignatureMismatch => RejectKind::SignatureMismatch,
            Self::CiphertextEncoding => RejectKind::CiphertextEncoding,
            Self::CiphertextLength(_) => RejectKind::CiphertextLength,
            Self::NonceTooShort(_) => RejectKind::NonceTooShort,
            Self::Padding(_) => RejectKind::Padding,
            Self::NotUtf8 => RejectKind::NotUtf8,
            Self::PlaintextNotJson(_) => RejectKind::PlaintextNotJson,
        }
    }
}

/// The classes of rejected frames, for statistics (`[u64; RejectKind::COUNT]`).
///
/// ```
/// use open_event_core::codec::RejectKind;
///
/// let mut counts = [0u64; RejectKind::COUNT];
/// counts[RejectKind::Padding.index()] += 1;
/// for kind in RejectKind::ALL {
///     println!("{}: {}", kind.as_str(), counts[kind.index()]);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectKind {
    /// A binary frame.
    Binary,
    /// Not JSON, not an object, an unknown type, a missing or invalid field.
    Malformed,
    /// The signature is not unpadded base64url of 32 bytes.
    SignatureEncoding,
    /// The signature does not match.
    SignatureMismatch,
    /// `encrypted_data` is not standard padded base64.
    CiphertextEncoding,
    /// The ciphertext is empty or not a multiple of 16 bytes.
    CiphertextLength,
    /// The nonce is shorter than 16 bytes.
    NonceTooShort,
    /// Bad PKCS#7 padding.
    Padding,
    /// The plaintext is not UTF-8.
    NotUtf8,
    /// The plaintext is UTF-8 but not JSON.
    PlaintextNotJson,
}

impl RejectKind {
    /// Every kind, in [`RejectKind::index`] order.
    pub const ALL: [Self; 10] = [
        Self::Binary,
        Self::Malformed,
        Self::SignatureEncoding,
        Self::SignatureMismatch,
        Self::CiphertextEncoding,
        Self::CiphertextLength,
        Self::NonceTooShort,
        Self::Padding,
        Self::NotUtf8,
        Self::PlaintextNotJson,
    ];

    /// How many kinds there are.
    pub const COUNT: usize = Self::ALL.len();

    /// A dense index in `0..COUNT`.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The snake_case name, e.g. `signature_mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binary => "binary",
            Self::Malformed => "malformed",
            Self::SignatureEncoding => "signature_encoding",
            Self::SignatureMismatch => "signature_mismatch",
            Self::CiphertextEncoding => "ciphertext_encoding",
            Self::CiphertextLength => "ciphertext_length",
            Self::NonceTooShort => "nonce_too_short",
            Self::Padding => "padding",
            Self::NotUtf8 => "not_utf8",
            Self::PlaintextNotJson => "plaintext_not_json",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// Encodes a GoAway frame (what the server sends; for emulators and tests).
///
/// ```
/// use open_event_core::codec::{self, Frame, GoAway, GoAwayReason};
///
/// let goaway = GoAway {
///     reason: GoAwayReason::HeartbeatTimeout,
///     message: "no pong".to_owned(),
///     reconnect_ms: None,
/// };
/// let text = codec::encode_goaway(&goaway);
/// assert_eq!(text, r#"{"type":"goaway","reason":"heartbeat_timeout","message":"no pong"}"#);
/// assert_eq!(codec::decode(&text), Ok(Frame::GoAway(goaway)));
/// ```
pub fn encode_goaway(goaway: &GoAway) -> String {
    #[derive(Serialize)]
    struct Wire<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        reason: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reconnect_ms: Option<u64>,
    }
    serde_json::to_string(&Wire {
        kind: "goaway",
        reason: goaway.reason.as_str(),
        message: &goaway.message,
        reconnect_ms: goaway.reconnect_ms,
    })
    .expect("strings and integers always serialize to JSON")
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

/// Decodes an ack frame (what the client sends; for emulators and tests).
///
/// # Errors
/// A [`FrameError`] when the text is not an object with `"type":"ack"`, a string `nonce`, an
/// integer `code` in `0..=65535` and an optional string (or null) `msg`.
///
/// ```
/// use open_event_core::codec::{decode_ack, encode_ack};
///
/// let ack = decode_ack(&encode_ack("n", 200, None)).unwrap();
/// assert_eq!((ack.nonce.as_str(), ack.code, ack.msg), ("n", 200, None));
/// ```
pub fn decode_ack(text: &str) -> Result<Ack, FrameError> {
    let raw = parse_raw(text)?;
    match raw.kind {
        Some(Loose::Str(kind)) if kind == "ack" => {}
        Some(Loose::Str(kind)) => return Err(FrameError::UnknownType(kind.into_owned())),
        Some(_) => {
            return Err(FrameError::InvalidField {
                field: "type",
                expected: "a string",
            });
        }
        None => return Err(FrameError::MissingField("type")),
    }
    let nonce = required_str("nonce", raw.nonce)?.into_owned();
    let code = match raw.code {
        None => return Err(FrameError::MissingField("code")),
        Some(Loose::Int(code)) => u16::try_from(code).map_err(|_| FrameError::InvalidField {
            field: "code",
            expected: "an integer from 0 to 65535",
        })?,
        Some(_) => {
            return Err(FrameError::InvalidField {
                field: "code",
                expected: "an integer from 0 to 65535",
            });
        }
    };
    let msg = match raw.msg {
        None | Some(Loose::Null) => None,
        Some(Loose::Str(msg)) => Some(msg.into_owned()),
        Some(_) => {
            return Err(FrameError::InvalidField {
                field: "msg",
                expected: "a string or null",
            });
        }
    };
    Ok(Ack { nonce, code, msg })
}

// ---------------------------------------------------------------------------------------------
// One-pass parsing into a borrowed, lenient struct; validation happens afterwards so that every
// failure gets a precise error instead of a generic serde message.

/// Reads `text` into a [`RawFrame`], classifying JSON-level failures.
fn parse_raw(text: &str) -> Result<RawFrame<'_>, FrameError> {
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
fn required_non_empty<'a>(
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
fn required_str<'a>(
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
struct RawFrame<'a> {
    kind: Option<Loose<'a>>,
    topic: Option<Loose<'a>>,
    operation: Option<Loose<'a>>,
    time: Option<Loose<'a>>,
    nonce: Option<Loose<'a>>,
    signature: Option<Loose<'a>>,
    encrypted_data: Option<Loose<'a>>,
    reason: Option<Loose<'a>>,
    message: Option<Loose<'a>>,
    reconnect_ms: Option<Loose<'a>>,
    code: Option<Loose<'a>>,
    msg: Option<Loose<'a>>,
    /// The first known field that appeared twice.
    duplicate: Option<&'static str>,
}

impl<'a> RawFrame<'a> {
    fn into_event(self) -> Result<EventFrame<'a>, FrameError> {
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
    fn into_goaway(self) -> GoAway {
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
enum Loose<'a> {
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
    fn goaway_round_trip() {
        for reason in [
            "server_shutdown",
            "connection_replaced",
            "heartbeat_timeout",
            "new",
        ] {
            let goaway = GoAway {
                reason: GoAwayReason::from(reason),
                message: "m \"quoted\" é".into(),
                reconnect_ms: Some(7),
            };
            assert_eq!(goaway.reason.as_str(), reason);
            assert_eq!(
                decode(&encode_goaway(&goaway)),
                Ok(Frame::GoAway(goaway.clone()))
            );
        }
    }

    #[test]
    fn acks() {
        assert_eq!(
            encode_ack("n", 200, None),
            r#"{"type":"ack","nonce":"n","code":200}"#
        );
        assert_eq!(
            encode_ack("n\"", 500, Some("a\nb")),
            r#"{"type":"ack","nonce":"n\"","code":500,"msg":"a\nb"}"#
        );
        let ack = decode_ack(&encode_ack("n", 500, Some(&"x".repeat(400)))).unwrap();
        assert_eq!(ack.msg.unwrap(), format!("{}...", "x".repeat(253)));
        assert_eq!(
            decode_ack(r#"{"type":"ack","nonce":"n","code":70000}"#),
            Err(FrameError::InvalidField {
                field: "code",
                expected: "an integer from 0 to 65535"
            })
        );
        assert_eq!(
            decode_ack(r#"{"nonce":"n","code":200}"#),
            Err(FrameError::MissingField("type"))
        );
        assert_eq!(
            decode_ack(r#"{"type":"ack","nonce":"n","code":200,"msg":null}"#)
                .unwrap()
                .msg,
            None
        );
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

    #[test]
    fn reject_kinds() {
        for (i, kind) in RejectKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
        assert_eq!(RejectKind::COUNT, 10);
        assert_eq!(FrameError::NotAnEvent.kind(), RejectKind::Malformed);
        assert_eq!(
            FrameError::Padding(String::new()).kind(),
            RejectKind::Padding
        );
        assert_eq!(RejectKind::NotUtf8.as_str(), "not_utf8");
        assert_eq!(
            FrameError::PlaintextNotJson(String::new()).kind(),
            RejectKind::PlaintextNotJson
        );
        assert_eq!(RejectKind::PlaintextNotJson.as_str(), "plaintext_not_json");
    }
}
