//! Verify + decrypt (`EventCipher`): never panics on arbitrary frames, and a sealed event opens
//! to exactly what was sealed.
//!
//! Input: a first byte chooses the mode:
//! - 0: the rest is a frame text for `open_text` (the WebSocket and webhook path);
//! - 1: decrypt arbitrary ciphertext (the rest, base64-encoded) under a nonce read first,
//!   skipping the signature, to reach the padding and UTF-8 checks;
//! - 2: seal a topic, operation, time, nonce and data read from the rest, then open it.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use open_event_core::Credentials;
use open_event_core::codec::{EventFrame, FrameError};
use open_event_core::crypto::EventCipher;
use open_event_fuzz::{APP_ID, APP_SECRET, Bytes};

fn check(cipher: &EventCipher, data: &[u8]) {
    let mut input = Bytes::new(data);
    match input.u8() % 3 {
        0 => {
            let Ok(text) = std::str::from_utf8(input.rest()) else {
                return;
            };
            if let Ok(event) = cipher.open_text(text) {
                assert!(event.nonce.len() >= 16, "the IV needs 16 bytes");
            }
        }
        1 => {
            let nonce = input.string();
            let frame = EventFrame {
                topic: Cow::Borrowed("kso.app_chat"),
                operation: Cow::Borrowed("create"),
                time: 0,
                nonce: Cow::Borrowed(&nonce),
                signature: Cow::Borrowed(""),
                encrypted_data: Cow::Owned(STANDARD.encode(input.rest())),
            };
            match cipher.decrypt(&frame) {
                Ok(_) | Err(FrameError::NonceTooShort(_)) => {}
                Err(err) => assert!(!err.to_string().contains(APP_SECRET)),
            }
        }
        _ => {
            let topic = input.string();
            let operation = input.string();
            let time = i64::from(input.u32() as i32);
            let nonce = input.string();
            let data = String::from_utf8_lossy(input.rest()).into_owned();
            let Ok(frame) = cipher.seal(&topic, &operation, time, &nonce, &data) else {
                return;
            };
            let opened = cipher.open(&frame);
            let event = opened.expect("a sealed event opens");
            assert_eq!(event.data, data);
            assert_eq!(event.nonce, nonce);
            assert_eq!(event.time, time);
            let again = cipher
                .open_text(&frame.to_json())
                .expect("its JSON text opens too");
            assert_eq!(again.data, data);
        }
    }
}

fn main() {
    let cipher = EventCipher::new(&Credentials::new(APP_ID, APP_SECRET));
    afl::fuzz!(|data: &[u8]| check(&cipher, data));
}
