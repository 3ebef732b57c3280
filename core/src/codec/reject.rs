//! Why a frame is rejected, and the classes the counters use.

use std::fmt;

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

/// The classes of rejected frames, for statistics ([`crate::stats::Rejections`] counts each).
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
#[non_exhaustive]
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

#[cfg(test)]
mod tests {
    use super::*;

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
