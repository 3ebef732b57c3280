//! Property tests: the codec and the event path survive any input.

use open_event_core::Credentials;
use open_event_core::codec::{self, Frame};
use open_event_core::crypto::EventCipher;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn cipher() -> EventCipher {
    EventCipher::new(&Credentials::new(
        "AK20240101TEST",
        "sk_test_secret_0123456789abcdef",
    ))
}

/// Keys the codec knows, plus a few it does not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("type".to_owned()),
        Just("topic".to_owned()),
        Just("operation".to_owned()),
        Just("time".to_owned()),
        Just("nonce".to_owned()),
        Just("signature".to_owned()),
        Just("encrypted_data".to_owned()),
        Just("reason".to_owned()),
        Just("message".to_owned()),
        Just("reconnect_ms".to_owned()),
        Just("code".to_owned()),
        Just("msg".to_owned()),
        "[a-z_]{0,12}",
        any::<String>(),
    ]
}

/// Any JSON value, biased towards what the protocol uses.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(Value::String("goaway".to_owned())),
        Just(Value::String("ack".to_owned())),
        "[A-Za-z0-9+/=_-]{0,64}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON object with random known and unknown fields.
fn json_object() -> impl Strategy<Value = String> {
    prop::collection::vec((key(), json_value()), 0..10)
        .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>()).to_string())
}

/// A JSON object text where some known keys may appear twice.
fn json_object_with_duplicates() -> impl Strategy<Value = String> {
    prop::collection::vec((key(), json_value()), 0..10).prop_map(|entries| {
        let fields: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
            .collect();
        format!("{{{}}}", fields.join(","))
    })
}

/// A well-formed event whose fields are altered at random.
fn mutated_event() -> impl Strategy<Value = String> {
    let base = cipher()
        .seal(
            "kso.app_chat",
            "create",
            1_704_067_201,
            "0123456789abcdef",
            r#"{"chat_id":"c"}"#,
        )
        .expect("sealable");
    let base: Value = serde_json::from_str(&base.to_json()).expect("JSON");
    (
        prop::sample::select(vec![
            "topic",
            "operation",
            "time",
            "nonce",
            "signature",
            "encrypted_data",
            "type",
        ]),
        json_value(),
    )
        .prop_map(move |(field, value)| {
            let mut event = base.clone();
            event[field] = value;
            event.to_string()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_never_panics_on_strings(text in any::<String>()) {
        let _ = codec::decode(&text);
        let _ = codec::decode_ack(&text);
        let _ = cipher().open_text(&text);
    }

    #[test]
    fn decode_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = codec::decode(&text);
        let _ = cipher().open_text(&text);
    }

    #[test]
    fn decode_never_panics_on_objects(text in json_object()) {
        let decoded = codec::decode(&text);
        if let Ok(Frame::Event(event)) = &decoded {
            prop_assert!(!event.topic.is_empty());
            prop_assert!(!event.operation.is_empty());
        }
        let _ = codec::decode_ack(&text);
        let _ = cipher().open_text(&text);
    }

    #[test]
    fn decode_never_panics_with_duplicates(text in json_object_with_duplicates()) {
        let _ = codec::decode(&text);
        let _ = codec::decode_ack(&text);
        let _ = cipher().open_text(&text);
    }

    #[test]
    fn open_text_never_panics_on_mutated_events(text in mutated_event()) {
        let _ = cipher().open_text(&text);
    }

    #[test]
    fn truncated_prefix_of_frames_never_panics(cut in 0usize..400) {
        let full = cipher()
            .seal("kso.app_chat", "create", 1, "0123456789abcdef", "{}")
            .expect("sealable")
            .to_json();
        let end = full.char_indices().map(|(i, _)| i).take_while(|&i| i <= cut).last().unwrap_or(0);
        let _ = cipher().open_text(&full[..end]);
    }

    #[test]
    fn truncate_ack_msg_limits_characters(msg in any::<String>()) {
        let cut = codec::truncate_ack_msg(&msg);
        let count = cut.chars().count();
        prop_assert!(count <= 256);
        if msg.chars().count() <= 256 {
            prop_assert_eq!(cut.as_ref(), msg.as_str());
        } else {
            prop_assert_eq!(count, 256);
            let kept = cut.strip_suffix("...").expect("ends with ...");
            prop_assert!(msg.starts_with(kept));
            prop_assert_eq!(kept.chars().count(), 253);
        }
    }

    #[test]
    fn truncate_ack_msg_long_multibyte(msg in "[aé你😀]{250,400}") {
        let cut = codec::truncate_ack_msg(&msg);
        prop_assert!(cut.chars().count() <= 256);
        if msg.chars().count() > 256 {
            let kept = cut.strip_suffix("...").expect("ends with ...");
            prop_assert!(msg.starts_with(kept));
            prop_assert_eq!(kept.chars().count(), 253);
        }
        let ack: Value = serde_json::from_str(&codec::encode_ack("n", 500, Some(&msg))).unwrap();
        prop_assert_eq!(ack["msg"].as_str().unwrap(), cut.as_ref());
    }

    #[test]
    fn seal_open_round_trip(
        topic in "[a-z._]{1,40}",
        operation in "[a-z_]{1,12}",
        time in any::<i64>(),
        nonce in "[ -~]{16,40}",
        data in any::<String>(),
    ) {
        let cipher = cipher();
        let frame = cipher.seal(&topic, &operation, time, &nonce, &data).unwrap();
        let event = cipher.open_text(&frame.to_json()).unwrap();
        prop_assert_eq!(event.topic, topic);
        prop_assert_eq!(event.operation, operation);
        prop_assert_eq!(event.time, time);
        prop_assert_eq!(event.nonce, nonce);
        prop_assert_eq!(event.data, data);
    }
}
