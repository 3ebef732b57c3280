//! A fixed catalogue of bad frames, and the crypto needed to forge them.
//!
//! The frames that must get past signature verification to exercise a later check (bad base64,
//! bad padding, a short nonce, ...) carry a *valid* signature over their altered fields, so the
//! client rejects them for exactly the reason named. The signing and encryption here are an
//! independent implementation of docs/protocol.md §2, which the unit tests check against
//! [`EventCipher::seal`](open_event_core::crypto::EventCipher::seal).

use std::fmt;

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use open_event_core::Credentials;
use open_event_core::codec::{EventFrame, FrameError, RejectKind};
use sha2::Sha256;

use super::ServerFrame;

/// A bad frame the server can send on purpose; each one names what the client must do with it.
///
/// ```
/// use open_event_core::codec::RejectKind;
/// use open_event_emulator::server::Malformed;
///
/// assert_eq!(Malformed::BadPadding.expected_reject(), RejectKind::Padding);
/// assert!(Malformed::ALL.iter().all(|m| !m.as_str().is_empty()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformed {
    /// Text that is not JSON (a truncated object).
    NotJson,
    /// A JSON array holding an event object.
    JsonArray,
    /// An object with an unknown `type`.
    UnknownType,
    /// An event without `nonce`, `signature` and `encrypted_data`.
    MissingFields,
    /// An event whose `time` is a string.
    TimeNotInteger,
    /// An event with `topic` given twice.
    DuplicateField,
    /// A well-formed signature made with another secret.
    BadSignature,
    /// The right signature with `=` padding appended.
    PaddedSignature,
    /// `encrypted_data` in the url-safe alphabet with junk (validly signed).
    BadBase64,
    /// A ciphertext of 15 bytes (validly signed).
    CiphertextLength,
    /// A ciphertext whose plaintext ends in bad PKCS#7 padding (validly signed).
    BadPadding,
    /// An 8-byte nonce, too short for the IV (validly signed).
    ShortNonce,
    /// A plaintext that is not UTF-8 (validly signed and padded).
    NotUtf8,
    /// A valid event sent as a binary frame.
    Binary,
}

impl Malformed {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 14] = [
        Self::NotJson,
        Self::JsonArray,
        Self::UnknownType,
        Self::MissingFields,
        Self::TimeNotInteger,
        Self::DuplicateField,
        Self::BadSignature,
        Self::PaddedSignature,
        Self::BadBase64,
        Self::CiphertextLength,
        Self::BadPadding,
        Self::ShortNonce,
        Self::NotUtf8,
        Self::Binary,
    ];

    /// The snake_case name, e.g. `bad_padding`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotJson => "not_json",
            Self::JsonArray => "json_array",
            Self::UnknownType => "unknown_type",
            Self::MissingFields => "missing_fields",
            Self::TimeNotInteger => "time_not_integer",
            Self::DuplicateField => "duplicate_field",
            Self::BadSignature => "bad_signature",
            Self::PaddedSignature => "padded_signature",
            Self::BadBase64 => "bad_base64",
            Self::CiphertextLength => "ciphertext_length",
            Self::BadPadding => "bad_padding",
            Self::ShortNonce => "short_nonce",
            Self::NotUtf8 => "not_utf8",
            Self::Binary => "binary",
        }
    }

    /// Parses [`Malformed::as_str`] names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The class under which a correct client counts the rejected frame.
    pub fn expected_reject(self) -> RejectKind {
        self.expected_error().kind()
    }

    /// The exact error a correct client rejects the frame with.
    pub fn expected_error(self) -> FrameError {
        match self {
            Self::NotJson => FrameError::NotJson(String::new()),
            Self::JsonArray => FrameError::NotAnObject,
            Self::UnknownType => FrameError::UnknownType(UNKNOWN_TYPE.to_owned()),
            Self::MissingFields => FrameError::MissingField("nonce"),
            Self::TimeNotInteger => FrameError::InvalidField {
                field: "time",
                expected: "an integer number of seconds since the Unix epoch",
            },
            Self::DuplicateField => FrameError::DuplicateField("topic"),
            Self::BadSignature => FrameError::SignatureMismatch,
            Self::PaddedSignature => FrameError::SignatureEncoding,
            Self::BadBase64 => FrameError::CiphertextEncoding,
            Self::CiphertextLength => FrameError::CiphertextLength(15),
            Self::BadPadding => FrameError::Padding(
                "last byte says 3 bytes of padding but they are not all 3".into(),
            ),
            Self::ShortNonce => FrameError::NonceTooShort(SHORT_NONCE.len()),
            Self::NotUtf8 => FrameError::NotUtf8,
            Self::Binary => FrameError::Binary,
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const TOPIC: &str = "kso.app_chat.message";
const OPERATION: &str = "create";
const UNKNOWN_TYPE: &str = "config_update";
const SHORT_NONCE: &str = "0badc0de";
const DATA: &str = r#"{"chat_id":"malformed"}"#;

/// Builds the frame of `kind`. `nonce` (16+ characters) identifies it; `time` is its `time`.
pub(crate) fn build(
    kind: Malformed,
    credentials: &Credentials,
    time: i64,
    nonce: &str,
) -> ServerFrame {
    let forge = Forge::new(credentials);
    let valid = || forge.event(TOPIC, OPERATION, time, nonce, &pkcs7(DATA.as_bytes()));
    match kind {
        Malformed::NotJson => ServerFrame::Text(format!(r#"{{"topic":"{TOPIC}","operation":"#)),
        Malformed::JsonArray => ServerFrame::Text(format!("[{}]", valid().to_json())),
        Malformed::UnknownType => {
            ServerFrame::Text(format!(r#"{{"type":"{UNKNOWN_TYPE}","interval":30}}"#))
        }
        Malformed::MissingFields => ServerFrame::Text(format!(
            r#"{{"topic":"{TOPIC}","operation":"{OPERATION}","time":{time}}}"#
        )),
        Malformed::TimeNotInteger => {
            let frame = valid();
            ServerFrame::Text(
                frame
                    .to_json()
                    .replace(&format!(r#""time":{time}"#), &format!(r#""time":"{time}""#)),
            )
        }
        Malformed::DuplicateField => {
            let json = valid().to_json();
            ServerFrame::Text(format!(r#"{{"topic":"kso.other",{}"#, &json[1..]))
        }
        Malformed::BadSignature => {
            let other = Forge::new(&Credentials::new(
                credentials.app_id(),
                format!("{}-not-the-secret", credentials.app_secret().expose()),
            ));
            let mut frame = valid();
            frame.signature = other.sign(TOPIC, nonce, time, &frame.encrypted_data).into();
            ServerFrame::Text(frame.to_json())
        }
        Malformed::PaddedSignature => {
            let mut frame = valid();
            frame.signature = format!("{}=", frame.signature).into();
            ServerFrame::Text(frame.to_json())
        }
        Malformed::BadBase64 => {
            let mut bytes = pkcs7(DATA.as_bytes());
            forge.encrypt(nonce, &mut bytes);
            // The url-safe alphabet plus a junk character: never standard base64.
            let data = format!("{}!", URL_SAFE_NO_PAD.encode(&bytes).replace('A', "-"));
            ServerFrame::Text(forge.signed(TOPIC, OPERATION, time, nonce, data).to_json())
        }
        Malformed::CiphertextLength => {
            let data = STANDARD.encode([0x42u8; 15]);
            ServerFrame::Text(forge.signed(TOPIC, OPERATION, time, nonce, data).to_json())
        }
        Malformed::BadPadding => {
            // 16 bytes whose last byte claims 3 bytes of padding that are not all 3.
            let plaintext = *b"{\"a\":\"bcdefgh\"}\x03";
            ServerFrame::Text(
                forge
                    .event(TOPIC, OPERATION, time, nonce, &plaintext)
                    .to_json(),
            )
        }
        Malformed::ShortNonce => {
            let data = STANDARD.encode([0u8; 16]);
            ServerFrame::Text(
                forge
                    .signed(TOPIC, OPERATION, time, SHORT_NONCE, data)
                    .to_json(),
            )
        }
        Malformed::NotUtf8 => {
            let plaintext = pkcs7(&[0xff, 0xfe, b'{', b'}']);
            ServerFrame::Text(
                forge
                    .event(TOPIC, OPERATION, time, nonce, &plaintext)
                    .to_json(),
            )
        }
        Malformed::Binary => ServerFrame::Binary(valid().to_json().into_bytes()),
    }
}

/// The platform's event crypto, written independently of the core's.
struct Forge {
    app_id: String,
    /// HMAC-SHA256 keyed with the app secret.
    mac: Hmac<Sha256>,
    /// The 32 ASCII bytes of the lowercase hex MD5 of the app secret.
    key: [u8; 32],
}

impl Forge {
    fn new(credentials: &Credentials) -> Self {
        let secret = credentials.app_secret().expose().as_bytes();
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .expect("HMAC accepts keys of any length");
        let digest = Md5::digest(secret);
        let mut key = [0u8; 32];
        for (i, byte) in digest.iter().enumerate() {
            key[2 * i] = HEX[usize::from(byte >> 4)];
            key[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        Self {
            app_id: credentials.app_id().to_owned(),
            mac,
            key,
        }
    }

    /// Base64url (no padding) of HMAC-SHA256 over `{app_id}:{topic}:{nonce}:{time}:{data}`.
    fn sign(&self, topic: &str, nonce: &str, time: i64, encrypted_data: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(format!("{}:{topic}:{nonce}:{time}:{encrypted_data}", self.app_id).as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// AES-256-CBC in place, IV = the first 16 bytes of `nonce` (zero-filled when shorter);
    /// `buf` must already be a multiple of 16 bytes.
    fn encrypt(&self, nonce: &str, buf: &mut [u8]) {
        let mut iv = [0u8; 16];
        let n = nonce.len().min(16);
        iv[..n].copy_from_slice(&nonce.as_bytes()[..n]);
        let mut cipher = cbc::Encryptor::<Aes256>::new(&self.key.into(), &iv.into());
        for block in buf.chunks_exact_mut(16) {
            let block: &mut [u8; 16] = block.try_into().expect("chunks of 16 bytes");
            cipher.encrypt_block(block.into());
        }
    }

    /// An event frame with this exact ciphertext text, validly signed.
    fn signed(
        &self,
        topic: &str,
        operation: &str,
        time: i64,
        nonce: &str,
        data: String,
    ) -> EventFrame<'static> {
        EventFrame {
            signature: self.sign(topic, nonce, time, &data).into(),
            topic: topic.to_owned().into(),
            operation: operation.to_owned().into(),
            time,
            nonce: nonce.to_owned().into(),
            encrypted_data: data.into(),
        }
    }

    /// Encrypts `plaintext` (already padded, or deliberately badly padded) and signs the frame.
    fn event(
        &self,
        topic: &str,
        operation: &str,
        time: i64,
        nonce: &str,
        plaintext: &[u8],
    ) -> EventFrame<'static> {
        let mut buf = plaintext.to_vec();
        self.encrypt(nonce, &mut buf);
        self.signed(topic, operation, time, nonce, STANDARD.encode(&buf))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends PKCS#7 padding.
fn pkcs7(data: &[u8]) -> Vec<u8> {
    let pad = 16 - data.len() % 16;
    let mut out = data.to_vec();
    // `pad` is in 1..=16.
    out.resize(data.len() + pad, pad as u8);
    out
}

#[cfg(test)]
mod tests {
    use open_event_core::codec::{self, Frame};
    use open_event_core::crypto::EventCipher;

    use super::*;

    fn creds() -> Credentials {
        Credentials::new("AK20240101TEST", "sk_test_secret_0123456789abcdef")
    }

    #[test]
    fn forge_agrees_with_the_core() {
        let forge = Forge::new(&creds());
        let cipher = EventCipher::new(&creds());
        for data in [
            "",
            "{}",
            r#"{"chat_id":"c1","text":"héllo"}"#,
            &"x".repeat(47),
        ] {
            let sealed = cipher
                .seal(TOPIC, OPERATION, 1_704_067_201, "0123456789abcdef", data)
                .unwrap();
            let forged = forge.event(
                TOPIC,
                OPERATION,
                1_704_067_201,
                "0123456789abcdef",
                &pkcs7(data.as_bytes()),
            );
            assert_eq!(forged, sealed, "{data}");
        }
    }

    #[test]
    fn every_kind_is_rejected_for_its_reason() {
        let cipher = EventCipher::new(&creds());
        for kind in Malformed::ALL {
            let frame = build(kind, &creds(), 1_704_067_201, "ffffffff00000001");
            let err = match frame {
                ServerFrame::Binary(_) => FrameError::Binary,
                ServerFrame::Text(text) => match codec::decode(&text) {
                    Ok(Frame::Event(frame)) => cipher.open(&frame).unwrap_err(),
                    Ok(other) => panic!("{kind}: not an event: {other:?}"),
                    Err(err) => err,
                },
                other => panic!("{kind}: {other:?}"),
            };
            match (&err, kind.expected_error()) {
                (FrameError::NotJson(_), FrameError::NotJson(_)) => {}
                (err, expected) => assert_eq!(*err, expected, "{kind}"),
            }
            assert_eq!(err.kind(), kind.expected_reject(), "{kind}");
            assert_eq!(Malformed::from_name(kind.as_str()), Some(kind));
        }
    }
}
