//! The ack codec: `decode_ack` never panics on arbitrary text, and `encode_ack` → `decode_ack`
//! gives back the nonce, the code and the message truncated to 256 characters.
//!
//! Input: a first byte chooses the mode (even: decode the rest as text; odd: encode a nonce,
//! a code and a message read from the rest).

use open_event_core::codec::{self, ACK_MSG_MAX_CHARS};
use open_event_fuzz::Bytes;

fn check(data: &[u8]) {
    let mut input = Bytes::new(data);
    if input.u8().is_multiple_of(2) {
        let Ok(text) = std::str::from_utf8(input.rest()) else {
            return;
        };
        if let Ok(ack) = codec::decode_ack(text) {
            let msg = ack.msg.as_deref();
            let again = codec::decode_ack(&codec::encode_ack(&ack.nonce, ack.code, msg))
                .expect("a re-encoded ack decodes");
            assert_eq!(again.nonce, ack.nonce);
            assert_eq!(again.code, ack.code);
            assert_eq!(
                again.msg.as_deref(),
                msg.map(|m| codec::truncate_ack_msg(m)).as_deref()
            );
        }
        return;
    }
    let nonce = input.string();
    let code = input.u16();
    let msg = input
        .bool()
        .then(|| String::from_utf8_lossy(input.rest()).into_owned());
    let text = codec::encode_ack(&nonce, code, msg.as_deref());
    let ack = codec::decode_ack(&text).expect("an encoded ack decodes");
    assert_eq!(ack.nonce, nonce);
    assert_eq!(ack.code, code);
    if let Some(msg) = &msg {
        let sent = ack.msg.as_deref().expect("the message is kept");
        assert!(sent.chars().count() <= ACK_MSG_MAX_CHARS);
        if msg.chars().count() <= ACK_MSG_MAX_CHARS {
            assert_eq!(sent, msg);
        } else {
            assert!(sent.ends_with("..."));
            assert!(msg.starts_with(sent.trim_end_matches("...")));
        }
    }
}

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}
