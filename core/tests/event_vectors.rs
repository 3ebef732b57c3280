//! Every vector of `tests/data/events.json` and `tests/data/control.json` (docs/protocol.md §2, §3, §5).

use std::mem::discriminant;

use open_event_core::Credentials;
use open_event_core::codec::{self, EventFrame, Frame, FrameError, GoAway, GoAwayReason};
use open_event_core::crypto::EventCipher;
use serde_json::Value;

const EVENTS: &str = include_str!("data/events.json");
const CONTROL: &str = include_str!("data/control.json");

fn events(group: &str) -> Vec<Value> {
    let file: Value = serde_json::from_str(EVENTS).expect("events.json is JSON");
    let vectors = file[group].as_array().expect("a vector array").clone();
    assert!(!vectors.is_empty(), "{group}");
    vectors
}

fn control() -> Vec<Value> {
    let file: Value = serde_json::from_str(CONTROL).expect("control.json is JSON");
    file["vectors"].as_array().expect("a vectors array").clone()
}

fn str_of<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name].as_str().unwrap_or_else(|| panic!("{name}"))
}

fn cipher_of(vector: &Value) -> EventCipher {
    EventCipher::new(&Credentials::new(
        str_of(vector, "app_id"),
        str_of(vector, "app_secret"),
    ))
}

/// The frame as text, exactly as a server would send it.
fn frame_text(vector: &Value) -> String {
    vector["frame"].to_string()
}

/// The error each invalid vector must produce.
fn expected_error(name: &str) -> FrameError {
    match name {
        "tampered-ciphertext" | "tampered-signature" | "wrong-secret" => {
            FrameError::SignatureMismatch
        }
        "signature-with-padding" => FrameError::SignatureEncoding,
        "bad-base64" => FrameError::CiphertextEncoding,
        "not-block-multiple" => FrameError::CiphertextLength(10),
        "bad-pkcs7-padding" | "zero-padding-byte" => FrameError::Padding(String::new()),
        "nonce-shorter-than-16" => FrameError::NonceTooShort(5),
        "plaintext-not-utf8" => FrameError::NotUtf8,
        other => panic!("no expected error for the vector {other:?}: add it here"),
    }
}

#[test]
fn valid_vectors_open_to_the_expected_event() {
    for vector in events("valid") {
        let name = str_of(&vector, "name");
        let expected = &vector["expected"];
        assert_eq!(expected["valid"], true, "{name}");
        let cipher = cipher_of(&vector);
        let text = frame_text(&vector);

        let event = cipher
            .open_text(&text)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(event.data, str_of(expected, "data"), "{name}");
        assert_eq!(event.event_code(), str_of(expected, "event_code"), "{name}");
        let frame = &vector["frame"];
        assert_eq!(event.topic, str_of(frame, "topic"), "{name}");
        assert_eq!(event.operation, str_of(frame, "operation"), "{name}");
        assert_eq!(event.nonce, str_of(frame, "nonce"), "{name}");
        assert_eq!(Some(event.time), frame["time"].as_i64(), "{name}");

        // The same through the individual steps.
        let Ok(Frame::Event(decoded)) = codec::decode(&text) else {
            panic!("{name}: not an event frame")
        };
        assert_eq!(
            decoded.event_code(),
            str_of(expected, "event_code"),
            "{name}"
        );
        assert_eq!(cipher.verify(&decoded), Ok(()), "{name}");
        assert_eq!(
            cipher.decrypt(&decoded).as_deref(),
            Ok(str_of(expected, "data")),
            "{name}"
        );
        assert_eq!(cipher.open(&decoded), Ok(event), "{name}");
        // The frame re-encodes to the same JSON value.
        let reencoded: Value = serde_json::from_str(&decoded.to_json()).unwrap();
        assert_eq!(&reencoded, frame, "{name}");
    }
}

#[test]
fn seal_reproduces_valid_vectors_byte_for_byte() {
    for vector in events("valid") {
        let name = str_of(&vector, "name");
        let frame = &vector["frame"];
        let sealed = cipher_of(&vector)
            .seal(
                str_of(frame, "topic"),
                str_of(frame, "operation"),
                frame["time"].as_i64().unwrap(),
                str_of(frame, "nonce"),
                str_of(&vector["expected"], "data"),
            )
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            sealed.encrypted_data,
            str_of(frame, "encrypted_data"),
            "{name}"
        );
        assert_eq!(sealed.signature, str_of(frame, "signature"), "{name}");
        let json: Value = serde_json::from_str(&sealed.to_json()).unwrap();
        assert_eq!(&json, frame, "{name}");
    }
}

#[test]
fn invalid_vectors_are_rejected_for_their_reason() {
    for vector in events("invalid") {
        let name = str_of(&vector, "name");
        assert_eq!(vector["expected"]["valid"], false, "{name}");
        let expected = expected_error(name);
        let cipher = cipher_of(&vector);
        let err = cipher.open_text(&frame_text(&vector)).expect_err(name);
        match (&err, &expected) {
            // The padding detail is checked below; here only the variant.
            (FrameError::Padding(_), FrameError::Padding(_)) => {}
            _ => assert_eq!(err, expected, "{name}: {err}"),
        }
        assert_eq!(discriminant(&err), discriminant(&expected), "{name}");
        assert_eq!(err.kind(), expected.kind(), "{name}");
        // Messages name the cause and never leak the secret.
        assert!(
            !err.to_string().contains(str_of(&vector, "app_secret")),
            "{name}"
        );
    }
}

#[test]
fn invalid_vectors_reach_their_step() {
    // Vectors whose failure is in decryption are validly signed: the signature step passes.
    for vector in events("invalid") {
        let name = str_of(&vector, "name");
        let cipher = cipher_of(&vector);
        let text = frame_text(&vector);
        let Ok(Frame::Event(frame)) = codec::decode(&text) else {
            panic!("{name}: every event vector is a well-formed frame")
        };
        let signature_error = matches!(
            expected_error(name),
            FrameError::SignatureMismatch | FrameError::SignatureEncoding
        );
        assert_eq!(cipher.verify(&frame).is_ok(), !signature_error, "{name}");
    }
}

#[test]
fn padding_reasons_are_precise() {
    for vector in events("invalid") {
        let name = str_of(&vector, "name");
        let cipher = cipher_of(&vector);
        let err = cipher.open_text(&frame_text(&vector)).unwrap_err();
        match name {
            "bad-pkcs7-padding" => assert_eq!(
                err,
                FrameError::Padding(
                    "last byte says 5 bytes of padding but they are not all 5".to_owned()
                )
            ),
            "zero-padding-byte" => {
                let FrameError::Padding(detail) = &err else {
                    panic!("{name}: {err}")
                };
                assert!(
                    detail.starts_with("padding byte 0 is invalid PKCS#7"),
                    "{detail}"
                );
            }
            _ => {}
        }
    }
}

#[test]
fn seal_refuses_a_short_nonce_and_round_trips() {
    let vector = &events("valid")[0];
    let cipher = cipher_of(vector);
    assert!(cipher.seal("t", "o", 1, "short", "{}").is_err());
    let data = r#"{"text":"你好 é \" \\ \n"}"#;
    let sealed: EventFrame<'static> = cipher
        .seal(
            "kso.app_chat.message",
            "create",
            1_704_067_200,
            "b38c06ba3330d2a3",
            data,
        )
        .unwrap();
    let event = cipher.open_text(&sealed.to_json()).unwrap();
    assert_eq!(event.data, data);
    assert_eq!(event.event_code(), "kso.app_chat.message.create");
}

#[test]
fn control_goaway_vectors() {
    for vector in control() {
        let name = str_of(&vector, "name");
        if !name.starts_with("goaway-") {
            continue;
        }
        let text = vector["frame"].to_string();
        let Ok(Frame::GoAway(goaway)) = codec::decode(&text) else {
            panic!("{name}: not a goaway")
        };
        let expected = match name {
            "goaway-server-shutdown" => GoAway {
                reason: GoAwayReason::ServerShutdown,
                message: "maintenance".into(),
                reconnect_ms: Some(5000),
            },
            "goaway-connection-replaced" => GoAway {
                reason: GoAwayReason::ConnectionReplaced,
                message: "replaced by a newer connection".into(),
                reconnect_ms: None,
            },
            "goaway-heartbeat-timeout" => GoAway {
                reason: GoAwayReason::HeartbeatTimeout,
                message: "no pong".into(),
                reconnect_ms: None,
            },
            "goaway-unknown-reason" => GoAway {
                reason: GoAwayReason::Other("something_new".into()),
                message: "?".into(),
                reconnect_ms: None,
            },
            other => panic!("no expectation for {other:?}"),
        };
        assert_eq!(goaway, expected, "{name}");
        assert_eq!(
            goaway.reason.is_reconnectable(),
            name != "goaway-connection-replaced",
            "{name}"
        );
        // A GoAway is not an event.
        let cipher = EventCipher::new(&Credentials::new("a", "s"));
        assert_eq!(
            cipher.open_text(&text),
            Err(FrameError::NotAnEvent),
            "{name}"
        );
        // Encoding gives back the same JSON value.
        let reencoded: Value = serde_json::from_str(&codec::encode_goaway(&goaway)).unwrap();
        assert_eq!(reencoded, vector["frame"], "{name}");
    }
}

#[test]
fn control_ack_vectors() {
    let mut seen = 0;
    for vector in control() {
        let name = str_of(&vector, "name");
        if !name.starts_with("ack-") {
            continue;
        }
        seen += 1;
        let frame = &vector["frame"];
        let code = u16::try_from(frame["code"].as_u64().unwrap()).unwrap();
        let encoded = codec::encode_ack(str_of(frame, "nonce"), code, frame["msg"].as_str());
        let value: Value = serde_json::from_str(&encoded).unwrap();
        assert_eq!(&value, frame, "{name}");
        let ack = codec::decode_ack(&encoded).unwrap();
        assert_eq!(ack.nonce, str_of(frame, "nonce"), "{name}");
        assert_eq!(ack.code, code, "{name}");
        assert_eq!(ack.msg.as_deref(), frame["msg"].as_str(), "{name}");
        // The server never sends acks: decoding one as a server frame is an unknown type.
        assert_eq!(
            codec::decode(&encoded),
            Err(FrameError::UnknownType("ack".into())),
            "{name}"
        );
    }
    assert_eq!(seen, 2);
}

#[test]
fn ack_messages_are_truncated_to_256_characters() {
    let msg: String = "é你".repeat(150); // 300 characters, 750 bytes
    assert_eq!(msg.chars().count(), 300);
    let cut = codec::truncate_ack_msg(&msg);
    assert_eq!(cut.chars().count(), 256);
    assert!(cut.ends_with("..."));
    let kept: String = msg.chars().take(253).collect();
    assert_eq!(cut, format!("{kept}..."));

    let encoded = codec::encode_ack("b38c06ba3330d2a3", 500, Some(&msg));
    let value: Value = serde_json::from_str(&encoded).unwrap();
    assert_eq!(value["msg"].as_str().unwrap(), cut);

    // Exactly 256 characters are kept as they are.
    let exact: String = "你".repeat(256);
    assert_eq!(codec::truncate_ack_msg(&exact), exact);
}
