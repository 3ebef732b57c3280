//! Event verification and decryption (docs/protocol.md §2), and the inverse for emulators and tests.
//!
//! An [`EventCipher`] is built once per app. [`EventCipher::open_text`] takes the text of a frame
//! (a WebSocket text frame, or the body of a webhook POST: docs/protocol.md §11) to a verified,
//! decrypted [`Event`].
//!
//! ```
//! use open_event_core::Credentials;
//! use open_event_core::crypto::EventCipher;
//!
//! let cipher = EventCipher::new(&Credentials::new("AK20240101TEST", "sk_test_secret"));
//! let frame = cipher
//!     .seal("kso.app_chat", "create", 1704067201, "0123456789abcdef", r#"{"chat_id":"c"}"#)
//!     .unwrap();
//! let event = cipher.open_text(&frame.to_json()).unwrap();
//! assert_eq!(event.event_code(), "kso.app_chat.create");
//! assert_eq!(event.data, r#"{"chat_id":"c"}"#);
//! ```

use std::borrow::Cow;
use std::fmt;

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cbc::cipher::array::Array;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit};
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::codec::{self, EventFrame, Frame, FrameError};
use crate::{Credentials, Event};

/// The AES block size, and the IV length.
const BLOCK: usize = 16;

/// The length of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

/// The length of a 32-byte tag in unpadded base64.
const TAG_B64_LEN: usize = 43;

/// Verifies, decrypts and (for emulators and tests) seals the events of one app.
///
/// Building it derives the keys once: the HMAC state keyed with the app secret (already fed
/// with `"{app_id}:"`) and the AES-256 key schedule (key = the 32 ASCII bytes of the lowercase
/// hex MD5 of the app secret). Its `Debug` output shows only the app id.
#[derive(Clone)]
pub struct EventCipher {
    app_id: String,
    /// HMAC-SHA256 keyed with the app secret, fed with `"{app_id}:"`.
    mac: Hmac<Sha256>,
    aes: Aes256,
}

impl fmt::Debug for EventCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventCipher")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// Why [`EventCipher::seal`] refused to build a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The nonce cannot provide the 16-byte IV.
    #[error("nonce is {0} bytes but AES-CBC needs at least 16 for the IV")]
    NonceTooShort(usize),
    /// The topic is empty.
    #[error("topic is empty")]
    EmptyTopic,
    /// The operation is empty.
    #[error("operation is empty")]
    EmptyOperation,
}

impl EventCipher {
    /// Derives the keys of `credentials`' app.
    pub fn new(credentials: &Credentials) -> Self {
        let secret = credentials.app_secret().expose().as_bytes();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .expect("HMAC accepts keys of any length");
        mac.update(credentials.app_id().as_bytes());
        mac.update(b":");

        let mut key = [0u8; 32];
        for (byte, pair) in Md5::digest(secret).iter().zip(key.chunks_exact_mut(2)) {
            pair[0] = hex_digit(byte >> 4);
            pair[1] = hex_digit(byte & 0x0f);
        }
        let aes = Aes256::new(&Array::from(key));
        Self {
            app_id: credentials.app_id().to_owned(),
            mac,
            aes,
        }
    }

    /// The app id these keys belong to.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Checks the frame's signature: the unpadded base64url of HMAC-SHA256 over
    /// `{app_id}:{topic}:{nonce}:{time}:{encrypted_data}`, compared in constant time.
    ///
    /// # Errors
    /// [`FrameError::SignatureEncoding`] when the signature is not strictly unpadded base64url of
    /// 32 bytes (a padded signature included), [`FrameError::SignatureMismatch`] when it is wrong.
    pub fn verify(&self, frame: &EventFrame<'_>) -> Result<(), FrameError> {
        let signature = frame.signature.as_bytes();
        if signature.len() != TAG_B64_LEN {
            return Err(FrameError::SignatureEncoding);
        }
        let mut tag = [0u8; TAG_LEN + 1];
        match URL_SAFE_NO_PAD.decode_slice(signature, &mut tag) {
            Ok(TAG_LEN) => {}
            _ => return Err(FrameError::SignatureEncoding),
        }
        self.signing_mac(frame)
            .verify_slice(&tag[..TAG_LEN])
            .map_err(|_| FrameError::SignatureMismatch)
    }

    /// Decrypts the frame's `encrypted_data` into the event's `data`. Call [`Self::verify`]
    /// first ([`Self::open`] does).
    ///
    /// # Errors
    /// In the order checked: [`FrameError::NonceTooShort`], [`FrameError::CiphertextEncoding`]
    /// (not strictly standard base64 with padding), [`FrameError::CiphertextLength`] (empty or
    /// not a multiple of 16 bytes), [`FrameError::Padding`], [`FrameError::NotUtf8`].
    pub fn decrypt(&self, frame: &EventFrame<'_>) -> Result<String, FrameError> {
        let nonce = frame.nonce.as_bytes();
        let Some(iv) = nonce.first_chunk::<BLOCK>() else {
            return Err(FrameError::NonceTooShort(nonce.len()));
        };
        let mut buf = STANDARD
            .decode(frame.encrypted_data.as_bytes())
            .map_err(|_| FrameError::CiphertextEncoding)?;
        if buf.is_empty() || buf.len() % BLOCK != 0 {
            return Err(FrameError::CiphertextLength(buf.len()));
        }
        let (blocks, _) = Array::slice_as_chunks_mut(&mut buf);
        cbc::Decryptor::<&Aes256>::inner_iv_init(&self.aes, &Array::from(*iv))
            .decrypt_blocks(blocks);
        let len = unpad(&buf)?;
        buf.truncate(len);
        String::from_utf8(buf).map_err(|_| FrameError::NotUtf8)
    }

    /// Verifies then decrypts the frame into an [`Event`].
    ///
    /// # Errors
    /// The first failure of [`Self::verify`] or [`Self::decrypt`].
    pub fn open(&self, frame: &EventFrame<'_>) -> Result<Event, FrameError> {
        self.verify(frame)?;
        let data = self.decrypt(frame)?;
        Ok(Event::new(
            frame.topic.as_ref(),
            frame.operation.as_ref(),
            frame.time,
            frame.nonce.as_ref(),
            data,
        ))
    }

    /// Decodes, verifies and decrypts the text of one frame: a WebSocket text frame or a webhook
    /// body (the same path serves both, docs/protocol.md §11).
    ///
    /// # Errors
    /// A [`codec::decode`] error, [`FrameError::NotAnEvent`] for a GoAway, or an error of
    /// [`Self::open`].
    pub fn open_text(&self, text: &str) -> Result<Event, FrameError> {
        let frame = match codec::decode(text)? {
            Frame::Event(frame) => frame,
            Frame::GoAway(_) => return Err(FrameError::NotAnEvent),
        };
        self.verify(&frame)?;
        let data = self.decrypt(&frame)?;
        Ok(Event::new(
            frame.topic.into_owned(),
            frame.operation.into_owned(),
            frame.time,
            frame.nonce.into_owned(),
            data,
        ))
    }

    /// Encrypts `data` (AES-256-CBC, PKCS#7, IV = the first 16 bytes of `nonce`) and signs the
    /// result: the frame the platform would send. For emulators and tests.
    ///
    /// # Errors
    /// [`SealError`] when the nonce is shorter than 16 bytes or the topic or operation is empty.
    pub fn seal(
        &self,
        topic: &str,
        operation: &str,
        time: i64,
        nonce: &str,
        data: &str,
    ) -> Result<EventFrame<'static>, SealError> {
        if topic.is_empty() {
            return Err(SealError::EmptyTopic);
        }
        if operation.is_empty() {
            return Err(SealError::EmptyOperation);
        }
        let Some(iv) = nonce.as_bytes().first_chunk::<BLOCK>() else {
            return Err(SealError::NonceTooShort(nonce.len()));
        };

        let pad = BLOCK - data.len() % BLOCK;
        let mut buf = Vec::with_capacity(data.len() + pad);
        buf.extend_from_slice(data.as_bytes());
        // `pad` is in 1..=16, so it fits in a byte.
        buf.resize(data.len() + pad, pad as u8);
        let (blocks, _) = Array::slice_as_chunks_mut(&mut buf);
        cbc::Encryptor::<&Aes256>::inner_iv_init(&self.aes, &Array::from(*iv))
            .encrypt_blocks(blocks);

        let mut frame = EventFrame {
            topic: Cow::Owned(topic.to_owned()),
            operation: Cow::Owned(operation.to_owned()),
            time,
            nonce: Cow::Owned(nonce.to_owned()),
            signature: Cow::Borrowed(""),
            encrypted_data: Cow::Owned(STANDARD.encode(&buf)),
        };
        let tag = self.signing_mac(&frame).finalize().into_bytes();
        frame.signature = Cow::Owned(URL_SAFE_NO_PAD.encode(tag));
        Ok(frame)
    }

    /// The HMAC state after feeding `{app_id}:{topic}:{nonce}:{time}:{encrypted_data}`, in
    /// pieces (the app id prefix is already in the precomputed state).
    fn signing_mac(&self, frame: &EventFrame<'_>) -> Hmac<Sha256> {
        let mut time = [0u8; 20];
        let time = format_i64(frame.time, &mut time);
        let mut mac = self.mac.clone();
        mac.update(frame.topic.as_bytes());
        mac.update(b":");
        mac.update(frame.nonce.as_bytes());
        mac.update(b":");
        mac.update(time);
        mac.update(b":");
        mac.update(frame.encrypted_data.as_bytes());
        mac
    }
}

/// Strips PKCS#7 padding strictly and returns the plaintext length; each failure says exactly
/// what is wrong.
///
/// This runs only on frames whose signature was verified first (the signature covers the
/// ciphertext), so distinct errors are no padding oracle: an attacker cannot get forged
/// ciphertexts this far.
fn unpad(buf: &[u8]) -> Result<usize, FrameError> {
    let Some(&last) = buf.last() else {
        return Err(FrameError::Padding("there is no data to unpad".to_owned()));
    };
    if last == 0 {
        return Err(FrameError::Padding(
            "padding byte 0 is invalid PKCS#7 (it must be 1 to 16)".to_owned(),
        ));
    }
    let count = usize::from(last);
    if count > BLOCK {
        return Err(FrameError::Padding(format!(
            "padding byte {last} exceeds the block size (16)"
        )));
    }
    let Some(start) = buf.len().checked_sub(count) else {
        return Err(FrameError::Padding(format!(
            "last byte says {count} bytes of padding but the data is only {} bytes",
            buf.len()
        )));
    };
    if buf[start..].iter().any(|&byte| byte != last) {
        return Err(FrameError::Padding(format!(
            "last byte says {count} bytes of padding but they are not all {count}"
        )));
    }
    Ok(start)
}

/// A lowercase hex digit.
fn hex_digit(nibble: u8) -> u8 {
    b"0123456789abcdef"[usize::from(nibble & 0x0f)]
}

/// Writes `value` in decimal into `buf` (20 bytes hold any `i64`) and returns the digits.
fn format_i64(value: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = value.unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        // `n % 10` is a single digit.
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    &buf[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> EventCipher {
        EventCipher::new(&Credentials::new(
            "AK20240101TEST",
            "sk_test_secret_0123456789abcdef",
        ))
    }

    #[test]
    fn formats_every_i64() {
        let mut buf = [0u8; 20];
        for value in [0, 7, -7, 10, 1_704_067_200, i64::MAX, i64::MIN] {
            assert_eq!(format_i64(value, &mut buf), value.to_string().as_bytes());
        }
    }

    #[test]
    fn unpad_reasons() {
        let mut block = [b'x'; 16];
        block[15] = 3;
        assert!(matches!(unpad(&block), Err(FrameError::Padding(m)) if m.contains("not all 3")));
        block[13] = 3;
        block[14] = 3;
        assert_eq!(unpad(&block), Ok(13));
        block[15] = 0;
        assert!(matches!(unpad(&block), Err(FrameError::Padding(m)) if m.contains("byte 0")));
        block[15] = 17;
        assert!(matches!(unpad(&block), Err(FrameError::Padding(m)) if m.contains("exceeds")));
        assert_eq!(unpad(&[16; 16]), Ok(0));
    }

    #[test]
    fn round_trip_all_lengths() {
        let cipher = cipher();
        for len in 0..70 {
            let data: String = "é".repeat(len / 2) + &"a".repeat(len % 2);
            let frame = cipher
                .seal("t", "o", -1, "0123456789abcdef-extra", &data)
                .unwrap();
            let event = cipher.open(&frame).unwrap();
            assert_eq!(event.data, data);
            assert_eq!(event.nonce, "0123456789abcdef-extra");
            assert_eq!(event.time, -1);
        }
    }

    #[test]
    fn seal_errors() {
        let cipher = cipher();
        assert_eq!(
            cipher.seal("t", "o", 0, "short", ""),
            Err(SealError::NonceTooShort(5))
        );
        assert_eq!(
            cipher.seal("", "o", 0, "0123456789abcdef", ""),
            Err(SealError::EmptyTopic)
        );
        assert_eq!(
            cipher.seal("t", "", 0, "0123456789abcdef", ""),
            Err(SealError::EmptyOperation)
        );
    }

    #[test]
    fn signature_covers_fields_but_not_operation() {
        let cipher = cipher();
        let frame = cipher.seal("t", "o", 5, "0123456789abcdef", "{}").unwrap();
        let mut other = frame.clone();
        other.time = 6;
        assert_eq!(cipher.verify(&other), Err(FrameError::SignatureMismatch));
        let mut other = frame.clone();
        other.topic = "u".into();
        assert_eq!(cipher.verify(&other), Err(FrameError::SignatureMismatch));
        let mut other = frame.clone();
        other.nonce = "0123456789abcdeg".into();
        assert_eq!(cipher.verify(&other), Err(FrameError::SignatureMismatch));
        let mut other = frame;
        other.operation = "p".into();
        assert_eq!(cipher.verify(&other), Ok(()));
    }

    #[test]
    fn signature_encoding_is_strict() {
        let cipher = cipher();
        let frame = cipher.seal("t", "o", 5, "0123456789abcdef", "{}").unwrap();
        let sig = frame.signature.to_string();
        let variants = [
            format!("{sig}="),
            sig.replace('-', "+").replace('_', "/"),
            format!("{}!", &sig[..42]),
            sig[..42].to_owned(),
            String::new(),
            // Same length, but non-canonical trailing bits.
            format!(
                "{}{}",
                &sig[..42],
                if sig.ends_with('B') { 'C' } else { 'B' }
            ),
        ];
        for bad in variants {
            if bad.contains(['+', '/']) || bad.len() != 43 || !bad.ends_with(&sig[42..]) {
                let mut other = frame.clone();
                other.signature = bad.clone().into();
                let result = cipher.verify(&other);
                assert!(
                    matches!(
                        result,
                        Err(FrameError::SignatureEncoding | FrameError::SignatureMismatch)
                    ),
                    "{bad}: {result:?}"
                );
            }
        }
        let mut padded = frame.clone();
        padded.signature = format!("{sig}=").into();
        assert_eq!(cipher.verify(&padded), Err(FrameError::SignatureEncoding));
    }

    #[test]
    fn debug_shows_only_the_app_id() {
        let debug = format!("{:?}", cipher());
        assert!(debug.contains("AK20240101TEST"));
        assert!(!debug.contains("sk_test"));
    }

    #[test]
    fn goaway_is_not_an_event() {
        assert_eq!(
            cipher().open_text(r#"{"type":"goaway","reason":"server_shutdown"}"#),
            Err(FrameError::NotAnEvent)
        );
    }
}
