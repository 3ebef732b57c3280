//! Every event vector of `tests/data/events.json` posted to a webhook [`Endpoint`]: valid ones
//! are delivered with their data, invalid ones answered 401 (signature) or 400 (the rest) with
//! their reason, never delivered.

use std::sync::Arc;
use std::time::Instant;

use open_event_core::config::Config;
use open_event_core::connection::Outcome;
use open_event_core::webhook::{Endpoint, Limits, Request, Step};
use serde_json::Value;

const EVENTS: &str = include_str!("data/events.json");

fn vectors(group: &str) -> Vec<Value> {
    let file: Value = serde_json::from_str(EVENTS).expect("events.json is JSON");
    let vectors = file[group].as_array().expect("a vector array").clone();
    assert!(!vectors.is_empty(), "{group}");
    vectors
}

fn endpoint_of(vector: &Value) -> Endpoint {
    let config = Config::builder(
        vector["app_id"].as_str().unwrap(),
        vector["app_secret"].as_str().unwrap(),
    )
    .build()
    .unwrap();
    Endpoint::new(Arc::new(config), Limits::default())
}

/// The status and reason each invalid vector must get.
fn expected(name: &str) -> (u16, &'static str) {
    match name {
        "tampered-ciphertext" | "tampered-signature" | "wrong-secret" => {
            (401, "signature_mismatch")
        }
        "signature-with-padding" => (401, "signature_encoding"),
        "bad-base64" => (400, "ciphertext_encoding"),
        "not-block-multiple" => (400, "ciphertext_length"),
        "bad-pkcs7-padding" | "zero-padding-byte" => (400, "padding"),
        "nonce-shorter-than-16" => (400, "nonce_too_short"),
        "plaintext-not-utf8" => (400, "not_utf8"),
        other => panic!("no expected answer for the vector {other:?}: add it here"),
    }
}

#[test]
fn valid_vectors_are_delivered_once_with_their_data() {
    for vector in vectors("valid") {
        let name = vector["name"].as_str().unwrap();
        let mut endpoint = endpoint_of(&vector);
        let body = vector["frame"].to_string();
        let now = epoch();
        let request = Request::new("POST", Some("application/json"), body.as_bytes());
        let data = vector["expected"]["data"].as_str().unwrap();
        if !data.is_empty() && serde_json::from_str::<Value>(data).is_err() {
            // Valid crypto (the vector tests the padding), but not the JSON text the protocol
            // promises: refused like on the long connection (tests/tests/sim_plaintext.rs).
            let Step::Respond(refused) = endpoint.handle(now, request) else {
                panic!("{name}: a plaintext that is not JSON was delivered");
            };
            assert_eq!(
                (refused.status, refused.reason),
                (400, "plaintext_not_json"),
                "{name}"
            );
            assert_eq!(endpoint.stats().events_delivered, 0, "{name}");
            continue;
        }
        let Step::Deliver(delivery) = endpoint.handle(now, request) else {
            panic!("{name}: not delivered");
        };
        assert_eq!(
            delivery.event.event_code(),
            vector["expected"]["event_code"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            delivery.event.data,
            vector["expected"]["data"].as_str().unwrap(),
            "{name}"
        );
        let done = endpoint.complete(now, delivery.token, Outcome::Ok).unwrap();
        assert_eq!(done.response.status, 200, "{name}");
        let Step::Respond(again) = endpoint.handle(now, request) else {
            panic!("{name}: redelivery not answered from memory");
        };
        assert_eq!((again.status, again.reason), (200, "duplicate"), "{name}");
        assert_eq!(endpoint.stats().events_delivered, 1, "{name}");
    }
}

#[test]
fn invalid_vectors_are_refused_with_their_reason() {
    for vector in vectors("invalid") {
        let name = vector["name"].as_str().unwrap();
        let mut endpoint = endpoint_of(&vector);
        let body = vector["frame"].to_string();
        let request = Request::new("POST", Some("application/json"), body.as_bytes());
        let Step::Respond(response) = endpoint.handle(epoch(), request) else {
            panic!("{name}: an invalid event was not refused");
        };
        assert_eq!((response.status, response.reason), expected(name), "{name}");
        let parsed: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(parsed["reason"], response.reason, "{name}");
        let secret = vector["app_secret"].as_str().unwrap();
        assert!(!response.body.contains(secret), "{name}: the secret leaked");
        assert_eq!(endpoint.stats().events_delivered, 0, "{name}");
        assert_eq!(endpoint.stats().rejected_total(), 1, "{name}");
    }
}

/// The epoch of the virtual clock: the one real instant a test reads.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}
