//! The server's side of the codec: what the platform sends and reads. The client never needs
//! these; emulators and tests do.

use serde::Serialize;

use super::raw::{Loose, parse_raw, required_str};
use super::{FrameError, GoAway};

/// An ack frame, as the client sends it (docs/protocol.md §5). Read back by [`decode_ack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The nonce of the acknowledged event.
    pub nonce: String,
    /// 200 when the handler succeeded, another code otherwise.
    pub code: u16,
    /// The handler's error text, when there is one.
    pub msg: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Frame, GoAwayReason, decode, encode_ack};

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
}
