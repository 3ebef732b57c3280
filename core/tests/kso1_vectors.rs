//! Every vector of `tests/data/kso1.json` (docs/protocol.md §1).

use open_event_core::Credentials;
use open_event_core::kso1::{self, Kso1Error, Request};
use serde_json::Value;

const VECTORS: &str = include_str!("data/kso1.json");

fn vectors() -> Vec<Value> {
    let file: Value = serde_json::from_str(VECTORS).expect("kso1.json is JSON");
    let vectors = file["vectors"].as_array().expect("a vectors array").clone();
    assert!(!vectors.is_empty());
    vectors
}

fn field<'a>(vector: &'a Value, name: &str) -> &'a str {
    vector[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {}", vector["name"]))
}

#[test]
fn every_vector_signs_and_verifies() {
    for vector in vectors() {
        let name = field(&vector, "name");
        let credentials = Credentials::new(field(&vector, "app_id"), field(&vector, "app_secret"));
        let request = Request {
            method: field(&vector, "method"),
            request_uri: field(&vector, "request_uri"),
            content_type: field(&vector, "content_type"),
            date: field(&vector, "date"),
            body: field(&vector, "body").as_bytes(),
        };
        assert_eq!(
            kso1::body_hash(request.body),
            field(&vector, "expected_body_sha256"),
            "{name}: body hash"
        );
        let expected = field(&vector, "expected_authorization");
        assert_eq!(kso1::sign(&credentials, &request), expected, "{name}");
        assert_eq!(
            kso1::verify(&credentials, &request, expected),
            Ok(()),
            "{name}"
        );

        // Any change to what is signed breaks the signature.
        let altered = Request {
            date: "Tue, 03 Jan 2006 15:04:05 GMT",
            ..request
        };
        assert_eq!(
            kso1::verify(&credentials, &altered, expected),
            Err(Kso1Error::SignatureMismatch),
            "{name}"
        );
        let date = kso1::parse_date(request.date).expect("vector dates are RFC 1123");
        assert_eq!(kso1::format_date(date), request.date, "{name}");
    }
}

#[test]
fn handshake_vectors_through_handshake_headers() {
    for vector in vectors() {
        let name = field(&vector, "name");
        if !name.starts_with("websocket-handshake") {
            continue;
        }
        let credentials = Credentials::new(field(&vector, "app_id"), field(&vector, "app_secret"));
        let endpoint: http::Uri = format!("wss://openapi.wps.cn{}", field(&vector, "request_uri"))
            .parse()
            .expect("a valid URI");
        let date = kso1::parse_date(field(&vector, "date")).expect("an RFC 1123 date");
        for ack_mode in [true, false] {
            let headers = kso1::handshake_headers(&credentials, &endpoint, date, ack_mode);
            assert_eq!(headers.date, field(&vector, "date"), "{name}");
            assert_eq!(
                headers.authorization,
                field(&vector, "expected_authorization"),
                "{name}"
            );
            let pairs: Vec<_> = headers.iter().collect();
            let mut expected = vec![
                (kso1::HEADER_DATE, field(&vector, "date")),
                (
                    kso1::HEADER_AUTHORIZATION,
                    field(&vector, "expected_authorization"),
                ),
            ];
            if ack_mode {
                expected.push((kso1::HEADER_ACK_MODE, "required"));
            }
            assert_eq!(pairs, expected, "{name}");
        }
    }
}
