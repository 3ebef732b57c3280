//! Extra handshake headers and query parameters (`ConfigBuilder::header`, `::query`): the query
//! is part of the signed request URI (checked against the `websocket-handshake-with-query`
//! vector of `tests/data/kso1.json`), and the headers the signed handshake owns are refused.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use open_event_core::Credentials;
use open_event_core::config::{Config, ConfigBuilder};
use open_event_core::connection::{Action, ConnectRequest, Connection};
use open_event_core::kso1::{self, Kso1Error};
use serde_json::Value;

const VECTORS: &str = include_str!("data/kso1.json");

fn vector(name: &str) -> Value {
    let file: Value = serde_json::from_str(VECTORS).expect("kso1.json is JSON");
    file["vectors"]
        .as_array()
        .expect("a vectors array")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("vector {name}"))
        .clone()
}

fn connect_request(builder: ConfigBuilder) -> ConnectRequest {
    let config = builder.build().expect("a valid config");
    let mut conn = Connection::new(Arc::new(config), epoch(), 1);
    match conn.poll_action() {
        Some(Action::Connect(request)) => request,
        other => panic!("expected Connect, got {other:?}"),
    }
}

/// The epoch of the virtual clock: the one real instant a test reads.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

#[test]
fn the_signature_covers_the_query_parameters() {
    let v = vector("websocket-handshake-with-query");
    let text = |k: &str| v[k].as_str().unwrap().to_owned();
    assert_eq!(text("request_uri"), "/v7/event/ws?region=cn&x=1");
    let date: SystemTime = kso1::parse_date(&text("date")).unwrap();
    let builder = || Config::builder(text("app_id"), text("app_secret"));

    // Two query parameters added to the endpoint sign exactly as the vector's request URI.
    let request = connect_request(builder().query("region", "cn").query("x", "1"));
    assert_eq!(
        request.url().to_string(),
        "wss://openapi.wps.cn/v7/event/ws?region=cn&x=1"
    );
    assert_eq!(
        request.headers(date).authorization,
        text("expected_authorization")
    );
    // One in the endpoint URL and one added: the same request URI, the same signature.
    let request = connect_request(
        builder()
            .endpoint("wss://openapi.wps.cn/v7/event/ws?region=cn")
            .query("x", "1"),
    );
    assert_eq!(
        request.headers(date).authorization,
        text("expected_authorization")
    );
    // Without the query the signature differs, and the query's signature does not verify a
    // request without it.
    let plain = connect_request(builder());
    let plain_auth = plain.headers(date).authorization;
    assert_ne!(plain_auth, text("expected_authorization"));
    let credentials = Credentials::new(text("app_id"), text("app_secret"));
    let without_query = kso1::Request {
        method: "GET",
        request_uri: "/v7/event/ws",
        content_type: "",
        date: &text("date"),
        body: b"",
    };
    assert_eq!(
        kso1::verify(
            &credentials,
            &without_query,
            &text("expected_authorization")
        ),
        Err(Kso1Error::SignatureMismatch)
    );
}

#[test]
fn query_values_are_percent_encoded_and_signed_as_sent() {
    let request =
        connect_request(Config::builder("AK123456", "sk098765").query("tenant id", "a&b=c/é"));
    let uri = request.url().to_string();
    assert_eq!(
        uri,
        "wss://openapi.wps.cn/v7/event/ws?tenant%20id=a%26b%3Dc%2F%C3%A9"
    );
    let date = kso1::parse_date("Mon, 02 Jan 2006 15:04:05 GMT").unwrap();
    let headers = request.headers(date);
    let signed = kso1::Request {
        method: "GET",
        request_uri: "/v7/event/ws?tenant%20id=a%26b%3Dc%2F%C3%A9",
        content_type: "",
        date: &headers.date,
        body: b"",
    };
    let credentials = Credentials::new("AK123456", "sk098765");
    assert_eq!(
        kso1::verify(&credentials, &signed, &headers.authorization),
        Ok(())
    );
    let err = Config::builder("AK123456", "sk098765")
        .query("", "x")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "query", "{err}");
}

#[test]
fn extra_headers_reach_the_connect_request_in_order() {
    let request = connect_request(
        Config::builder("AK123456", "sk098765")
            .header("X-Tenant", "t1")
            .header("X-Trace", "abc def"),
    );
    assert_eq!(
        request.extra_headers(),
        [
            ("X-Tenant".to_owned(), "t1".to_owned()),
            ("X-Trace".to_owned(), "abc def".to_owned())
        ]
    );
    let config = Config::builder("AK123456", "sk098765")
        .header("X-Gateway-Token", "hunter2")
        .build()
        .unwrap();
    let debug = format!("{config:?}");
    assert!(
        debug.contains("X-Gateway-Token") && !debug.contains("hunter2"),
        "{debug}"
    );
}

#[test]
fn headers_the_signed_handshake_owns_cannot_be_overridden() {
    for name in [
        "X-Kso-Date",
        "x-kso-authorization",
        "X-Kso-Anything",
        "X-Ack-Mode",
        "Host",
        "upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "sec-websocket-protocol",
        "Authorization",
        "Content-Type",
        "Content-Length",
        "Transfer-Encoding",
        "User-Agent",
    ] {
        let err = Config::builder("AK123456", "sk098765")
            .header(name, "x")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "header", "{name}: {err}");
        assert!(err.problem().contains(name), "{name}: {err}");
        assert!(err.problem().contains("cannot be overridden"), "{err}");
    }
    for (name, value) in [
        ("", "x"),
        ("X Bad", "x"),
        ("X-Bad:", "x"),
        ("X-Ok", "line\r\nX-Kso-Date: forged"),
        ("X-Ok", "nul\0"),
        ("X-Ok", "é"),
    ] {
        let err = Config::builder("AK123456", "sk098765")
            .header(name, value)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "header", "{name:?}={value:?}: {err}");
    }
}
