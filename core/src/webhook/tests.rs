//! One test per row of the module's decision table, plus the dedup rules.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;
use crate::codec::RejectKind;
use crate::config::ConfigBuilder;

const APP_ID: &str = "AK20240101TEST";
const SECRET: &str = "sk_test_secret_0123456789abcdef";

fn config(tune: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Arc<Config> {
    Arc::new(tune(Config::builder(APP_ID, SECRET)).build().unwrap())
}

fn endpoint() -> Endpoint {
    Endpoint::new(config(|b| b), Limits::default())
}

fn sealed(nonce: &str) -> String {
    EventCipher::new(&crate::Credentials::new(APP_ID, SECRET))
        .seal(
            "kso.app_chat",
            "create",
            1_704_067_201,
            nonce,
            r#"{"chat_id":"c1"}"#,
        )
        .unwrap()
        .to_json()
}

fn post(body: &str) -> Request<'_> {
    Request::new("POST", Some("application/json"), body.as_bytes())
}

fn respond(step: Step) -> Response {
    match step {
        Step::Respond(response) => response,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn deliver(step: Step) -> Delivery {
    match step {
        Step::Deliver(delivery) => delivery,
        other => panic!("expected a delivery, got {other:?}"),
    }
}

fn body(response: &Response) -> Value {
    serde_json::from_str(&response.body).unwrap()
}

#[test]
fn challenge_is_echoed_as_json() {
    let mut ep = endpoint();
    let now = epoch();
    let r = respond(ep.handle(now, post(r#"{"challenge":"a\"b\u00e9"}"#)));
    assert_eq!(r.status, 200);
    assert_eq!(body(&r), serde_json::json!({"challenge": "a\"bé"}));
    assert_eq!(r.reason, "challenge");
    // Extra fields (another platform's `type`) do not hide the challenge.
    let r = respond(ep.handle(now, post(r#"{"type":"url_verification","challenge":"x"}"#)));
    assert_eq!(body(&r)["challenge"], "x");
    assert_eq!(ep.stats().challenges, 2);
    assert_eq!(ep.stats().events_delivered, 0);
}

#[test]
fn a_verified_event_is_delivered_and_its_outcome_answered() {
    let mut ep = endpoint();
    let now = epoch();
    let text = sealed("0123456789abcdef");
    let d = deliver(ep.handle(now, post(&text)));
    assert_eq!(d.event.event_code(), "kso.app_chat.create");
    assert_eq!(d.event.data, r#"{"chat_id":"c1"}"#);
    assert_eq!(d.deadline, now + Duration::from_secs(3));
    assert_eq!(ep.in_flight(), 1);
    let done = ep
        .complete(now + Duration::from_millis(5), d.token, Outcome::Ok)
        .unwrap();
    assert_eq!(done.response.status, 200);
    assert_eq!(body(&done.response), serde_json::json!({"code": 200}));
    assert_eq!(done.elapsed, Duration::from_millis(5));
    assert!(!done.slow && done.waiters.is_empty());
    let id = done.response.event.unwrap();
    assert_eq!(
        (id.event_code.as_str(), id.nonce.as_str()),
        ("kso.app_chat.create", "0123456789abcdef")
    );
    assert_eq!(ep.in_flight(), 0);
    assert_eq!(ep.stats().answered_ok, 1);
}

#[test]
fn handler_error_is_500_with_the_truncated_message() {
    let mut ep = endpoint();
    let now = epoch();
    let d = deliver(ep.handle(now, post(&sealed("0123456789abcdef"))));
    let long = "x".repeat(1000);
    let done = ep.complete(now, d.token, Outcome::Error(long)).unwrap();
    assert_eq!(done.response.status, 500);
    assert_eq!(done.response.reason, "handler_error");
    let b = body(&done.response);
    assert_eq!(b["code"], 500);
    assert_eq!(
        b["msg"].as_str().unwrap().chars().count(),
        codec::ACK_MSG_MAX_CHARS
    );
    assert_eq!(ep.stats().answered_error, 1);
}

#[test]
fn unhandled_is_200_and_counted() {
    let mut ep = endpoint();
    let now = epoch();
    let d = deliver(ep.handle(now, post(&sealed("0123456789abcdef"))));
    let done = ep.complete(now, d.token, Outcome::Unhandled).unwrap();
    assert_eq!(
        (done.response.status, done.response.reason),
        (200, "unhandled")
    );
    assert_eq!(ep.stats().unhandled, 1);
}

#[test]
fn a_token_completes_once() {
    let mut ep = endpoint();
    let now = epoch();
    let d = deliver(ep.handle(now, post(&sealed("0123456789abcdef"))));
    let again = DeliveryToken(d.token.0);
    ep.complete(now, d.token, Outcome::Ok).unwrap();
    assert_eq!(
        ep.complete(now, again, Outcome::Ok).unwrap_err(),
        UnknownDelivery
    );
}

#[test]
fn slow_deliveries_are_reported() {
    let mut ep = endpoint();
    let now = epoch();
    let d = deliver(ep.handle(now, post(&sealed("0123456789abcdef"))));
    let done = ep
        .complete(now + Duration::from_millis(3001), d.token, Outcome::Ok)
        .unwrap();
    assert!(done.slow);
    assert_eq!(ep.stats().slow_deliveries, 1);
}

#[test]
fn wrong_method_is_405_with_allow() {
    let mut ep = endpoint();
    for method in ["GET", "PUT", "HEAD"] {
        let r = respond(ep.handle(epoch(), Request::new(method, None, b"{}")));
        assert_eq!(r.status, 405);
        assert_eq!(r.reason, "method_not_allowed");
        assert!(r.headers().any(|h| h == ("allow", "POST".to_owned())));
        assert!(body(&r)["msg"].as_str().unwrap().contains(method));
    }
    assert_eq!(ep.stats().method_not_allowed, 3);
    // Lower case still means POST.
    let r = respond(ep.handle(epoch(), Request::new("post", None, br#"{"challenge":"c"}"#)));
    assert_eq!(r.status, 200);
}

#[test]
fn content_types() {
    let mut ep = endpoint();
    let ok = [
        None,
        Some("application/json"),
        Some("Application/JSON; charset=utf-8"),
        Some("application/vnd.x+json"),
        Some("text/json"),
    ];
    for content_type in ok {
        let r = respond(ep.handle(
            epoch(),
            Request::new("POST", content_type, br#"{"challenge":"c"}"#),
        ));
        assert_eq!(r.status, 200, "{content_type:?}");
    }
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
        "json",
    ] {
        let r = respond(ep.handle(
            epoch(),
            Request::new("POST", Some(content_type), br#"{"challenge":"c"}"#),
        ));
        assert_eq!(
            (r.status, r.reason),
            (415, "unsupported_media_type"),
            "{content_type:?}"
        );
    }
    assert_eq!(ep.stats().unsupported_media_type, 4);
}

#[test]
fn body_limit_declared_streamed_and_whole() {
    let limits = Limits::default().max_body(10).unwrap();
    let mut ep = Endpoint::new(config(|b| b), limits);
    let r = ep
        .check_head("POST", Some("application/json"), Some(11))
        .unwrap_err();
    assert_eq!((r.status, r.reason), (413, "body_too_large"));
    assert!(body(&r)["msg"].as_str().unwrap().contains("10 bytes"));
    assert!(
        ep.check_head("POST", Some("application/json"), Some(10))
            .is_ok()
    );
    assert!(ep.check_head("POST", None, None).is_ok());
    assert_eq!(ep.body_too_large().status, 413);
    let r = respond(ep.handle(epoch(), post(r#"{"challenge":"0123456789"}"#)));
    assert_eq!(r.status, 413);
    assert_eq!(ep.stats().body_too_large, 3);
    assert_eq!(ep.stats().requests, 3);
}

#[test]
fn unread_bodies_are_408_or_400() {
    let mut ep = endpoint();
    let r = ep.body_unread(Some(Duration::from_secs(10)));
    assert_eq!((r.status, r.reason), (408, "body_timeout"));
    assert!(body(&r)["msg"].as_str().unwrap().contains("10s"));
    let r = ep.body_unread(None);
    assert_eq!((r.status, r.reason), (400, "body_incomplete"));
    assert_eq!(ep.stats().body_unread, 2);
}

#[test]
fn check_head_refuses_method_and_type_before_the_body() {
    let mut ep = endpoint();
    assert_eq!(ep.check_head("GET", None, None).unwrap_err().status, 405);
    assert_eq!(
        ep.check_head("POST", Some("text/html"), None)
            .unwrap_err()
            .status,
        415
    );
}

#[test]
fn limits_are_validated() {
    assert_eq!(Limits::default().max_body(0), Err(LimitError::MaxBody(0)));
    assert!(Limits::default().max_body(64 * 1024 * 1024 + 1).is_err());
    assert!(Limits::default().retry_after(Duration::ZERO).is_err());
    assert!(
        Limits::default()
            .retry_after(Duration::from_secs(3601))
            .is_err()
    );
    let limits = Limits::default()
        .retry_after(Duration::from_secs(7))
        .unwrap();
    assert_eq!(limits.retry_after_hint(), Duration::from_secs(7));
    assert_eq!(Limits::default().body_limit(), 1024 * 1024);
    assert!(LimitError::MaxBody(0).to_string().contains("1 MiB"));
}

#[test]
fn not_utf8_and_not_json_are_400() {
    let mut ep = endpoint();
    let r = respond(ep.handle(epoch(), Request::new("POST", None, &[0xff, 0xfe])));
    assert_eq!((r.status, r.reason), (400, "not_utf8"));
    let r = respond(ep.handle(epoch(), post("not json")));
    assert_eq!((r.status, r.reason), (400, "malformed"));
    let r = respond(ep.handle(epoch(), post(r#"{"challenge":42}"#)));
    assert_eq!(r.status, 400);
    let r = respond(ep.handle(epoch(), post(r#"{"type":"goaway","reason":"x"}"#)));
    assert_eq!((r.status, r.reason), (400, "malformed"));
    assert_eq!(ep.stats().rejected(RejectKind::Malformed), 3);
    assert_eq!(ep.stats().not_utf8, 1);
    assert_eq!(ep.stats().events_delivered, 0);
}

#[test]
fn bad_signature_is_401_and_bad_ciphertext_400_never_delivered() {
    let mut ep = endpoint();
    let now = epoch();
    let good: Value = serde_json::from_str(&sealed("0123456789abcdef")).unwrap();

    let mut tampered = good.clone();
    tampered["signature"] = Value::from("A".repeat(43));
    let r = respond(ep.handle(now, post(&tampered.to_string())));
    assert_eq!((r.status, r.reason), (401, "signature_mismatch"));
    assert_eq!(r.event.as_ref().unwrap().nonce, "0123456789abcdef");

    let mut padded = good.clone();
    padded["signature"] = Value::from(format!("{}=", good["signature"].as_str().unwrap()));
    assert_eq!(
        respond(ep.handle(now, post(&padded.to_string()))).status,
        401
    );

    let other = Endpoint::new(
        Arc::new(Config::builder(APP_ID, "another secret").build().unwrap()),
        Limits::default(),
    );
    let mut other = other;
    let r = respond(other.handle(now, post(&good.to_string())));
    assert_eq!(r.status, 401);
    assert!(!r.body.contains(SECRET) && !r.body.contains("another secret"));

    assert_eq!(ep.stats().rejected(RejectKind::SignatureMismatch), 1);
    assert_eq!(ep.stats().rejected(RejectKind::SignatureEncoding), 1);
    assert_eq!(ep.stats().events_delivered, 0);
    // Rejections leave no trace in the dedup memory: the genuine event is still new.
    assert_eq!(ep.dedup_len(), 0);
    deliver(ep.handle(now, post(&good.to_string())));
}

#[test]
fn redelivery_is_answered_with_the_first_outcome_without_a_handler_run() {
    let mut ep = endpoint();
    let now = epoch();
    let text = sealed("0123456789abcdef");
    let d = deliver(ep.handle(now, post(&text)));
    ep.complete(now, d.token, Outcome::Error("db down".into()))
        .unwrap();
    let r = respond(ep.handle(now + Duration::from_secs(1), post(&text)));
    assert_eq!((r.status, r.reason), (500, "duplicate"));
    assert_eq!(body(&r)["msg"], "db down");
    assert_eq!(ep.stats().duplicates, 1);
    assert_eq!(ep.stats().events_delivered, 1);
}

#[test]
fn with_dedup_retry_errors_a_failed_event_runs_again() {
    let mut ep = Endpoint::new(config(|b| b.dedup_retry_errors(true)), Limits::default());
    let now = epoch();
    let text = sealed("0123456789abcdef");
    let d = deliver(ep.handle(now, post(&text)));
    ep.complete(now, d.token, Outcome::Error("db down".into()))
        .unwrap();
    let d = deliver(ep.handle(now, post(&text)));
    ep.complete(now, d.token, Outcome::Ok).unwrap();
    // A success is remembered.
    assert_eq!(respond(ep.handle(now, post(&text))).reason, "duplicate");
    assert_eq!(ep.stats().events_delivered, 2);
}

#[test]
fn the_window_ends_and_the_nonce_is_new_again() {
    let mut ep = Endpoint::new(
        config(|b| b.dedup_window(Duration::from_secs(60))),
        Limits::default(),
    );
    let now = epoch();
    let text = sealed("0123456789abcdef");
    let d = deliver(ep.handle(now, post(&text)));
    ep.complete(now, d.token, Outcome::Ok).unwrap();
    respond(ep.handle(now + Duration::from_secs(59), post(&text)));
    deliver(ep.handle(now + Duration::from_secs(61), post(&text)));
}

#[test]
fn dedup_off_delivers_every_copy() {
    let mut ep = Endpoint::new(config(|b| b.dedup(false)), Limits::default());
    let now = epoch();
    let text = sealed("0123456789abcdef");
    deliver(ep.handle(now, post(&text)));
    deliver(ep.handle(now, post(&text)));
}

#[test]
fn a_redelivery_during_the_handler_waits_for_its_outcome() {
    let mut ep = endpoint();
    let now = epoch();
    let text = sealed("0123456789abcdef");
    let d = deliver(ep.handle(now, post(&text)));
    let Step::Wait(w1) = ep.handle(now, post(&text)) else {
        panic!("expected a wait")
    };
    let Step::Wait(w2) = ep.handle(now, post(&text)) else {
        panic!("expected a wait")
    };
    assert_ne!(w1, w2);
    let done = ep.complete(now, d.token, Outcome::Ok).unwrap();
    assert_eq!(done.waiters, vec![w1, w2]);
    assert_eq!(ep.stats().duplicates, 2);
    assert_eq!(ep.stats().events_delivered, 1);
}

#[test]
fn waiters_are_answered_even_when_the_memory_evicted_their_nonce() {
    let mut ep = Endpoint::new(config(|b| b.dedup_capacity(1)), Limits::default());
    let now = epoch();
    let text = sealed("0123456789abcdef");
    let d = deliver(ep.handle(now, post(&text)));
    let Step::Wait(w) = ep.handle(now, post(&text)) else {
        panic!("expected a wait")
    };
    // Another nonce pushes the running one out of the one-entry memory.
    let other = deliver(ep.handle(now, post(&sealed("fedcba9876543210"))));
    let done = ep.complete(now, d.token, Outcome::Ok).unwrap();
    assert_eq!(done.waiters, vec![w]);
    assert!(
        ep.complete(now, other.token, Outcome::Ok)
            .unwrap()
            .waiters
            .is_empty()
    );
}

#[test]
fn past_max_in_flight_is_503_with_retry_after_and_not_remembered() {
    let mut ep = Endpoint::new(config(|b| b.max_in_flight(1)), Limits::default());
    let now = epoch();
    let first = deliver(ep.handle(now, post(&sealed("0123456789abcdef"))));
    let second = sealed("fedcba9876543210");
    let r = respond(ep.handle(now, post(&second)));
    assert_eq!((r.status, r.reason, r.retry_after), (503, "busy", Some(1)));
    assert!(r.headers().any(|h| h == ("retry-after", "1".to_owned())));
    assert_eq!(ep.stats().busy, 1);
    ep.complete(now, first.token, Outcome::Ok).unwrap();
    // The refused event was not taken: its redelivery is delivered.
    deliver(ep.handle(now, post(&second)));
}

#[test]
fn close_refuses_new_events_but_finishes_running_ones() {
    let mut ep = endpoint();
    let now = epoch();
    let answered = sealed("1111111111111111");
    let d = deliver(ep.handle(now, post(&answered)));
    ep.complete(now, d.token, Outcome::Ok).unwrap();
    let running = deliver(ep.handle(now, post(&sealed("0123456789abcdef"))));
    ep.close();
    assert!(!ep.is_drained());
    let r = respond(ep.handle(now, post(&sealed("fedcba9876543210"))));
    assert_eq!((r.status, r.reason), (503, "shutting_down"));
    assert_eq!(respond(ep.handle(now, post(&answered))).reason, "duplicate");
    assert_eq!(
        respond(ep.handle(now, post(r#"{"challenge":"c"}"#))).status,
        200
    );
    assert_eq!(
        ep.complete(now, running.token, Outcome::Ok)
            .unwrap()
            .response
            .status,
        200
    );
    assert!(ep.is_drained());
    assert_eq!(ep.stats().shutting_down, 1);
}

#[test]
fn every_response_is_json_with_content_type() {
    let mut ep = endpoint();
    let now = epoch();
    let requests = [
        Request::new("GET", None, b""),
        Request::new("POST", Some("text/plain"), b""),
        Request::new("POST", None, b"\xff"),
        Request::new("POST", None, b"[]"),
        Request::new("POST", None, br#"{"challenge":"c"}"#),
    ];
    for request in requests {
        let r = respond(ep.handle(now, request));
        assert!(
            r.headers()
                .any(|h| h == ("content-type", "application/json".to_owned()))
        );
        let b = body(&r);
        if r.status != 200 {
            assert_eq!(b["code"], r.status);
            assert_eq!(b["reason"], r.reason);
            assert!(!b["msg"].as_str().unwrap().is_empty());
        }
    }
    assert_eq!(ep.stats().requests, 5);
}

#[test]
fn hostile_header_values_are_bounded_in_messages() {
    let mut ep = endpoint();
    let long = "x".repeat(10_000);
    let r = ep.check_head(&long, None, None).unwrap_err();
    assert!(r.body.len() < 300, "{}", r.body.len());
}

/// The epoch of the virtual clock: the one real instant a test reads.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

#[test]
fn a_plaintext_that_is_not_json_is_400_never_delivered() {
    let mut ep = endpoint();
    let now = epoch();
    let text = EventCipher::new(&crate::Credentials::new(APP_ID, SECRET))
        .seal(
            "kso.app_chat",
            "create",
            1_704_067_201,
            "0123456789abcdef",
            "not json",
        )
        .unwrap()
        .to_json();
    let r = respond(ep.handle(now, post(&text)));
    assert_eq!((r.status, r.reason), (400, "plaintext_not_json"));
    assert_eq!(ep.stats().rejected(RejectKind::PlaintextNotJson), 1);
    assert_eq!(ep.stats().events_delivered, 0);
}
