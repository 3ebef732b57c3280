//! `codec::decode` on arbitrary text: never panics, and whatever it accepts survives a
//! re-encode (an event through `EventFrame::to_json`, a GoAway through `encode_goaway`).

use open_event_core::codec::{self, Frame};

fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match codec::decode(text) {
        Err(err) => {
            // Every rejection has a reason class and a message.
            let _ = err.kind().as_str();
            assert!(!err.to_string().is_empty());
        }
        Ok(Frame::Event(event)) => {
            assert!(!event.topic.is_empty() && !event.operation.is_empty());
            let text = event.to_json();
            let again = codec::decode(&text).expect("a re-encoded event decodes");
            assert_eq!(again.into_owned(), Frame::Event(event.into_owned()));
        }
        Ok(Frame::GoAway(goaway)) => {
            let text = codec::encode_goaway(&goaway);
            let again = codec::decode(&text).expect("a re-encoded goaway decodes");
            assert_eq!(again, Frame::GoAway(goaway));
        }
        // `Frame` is non-exhaustive: a frame kind added later gets its own round-trip check here.
        Ok(_) => {}
    }
}

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}
