//! The call state machine against recorded request/response pairs, on a virtual clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::*;
use crate::{AccessToken, Receiver, ReplyMessage, RetryPolicy, SendMessage, sign_request};

const SECRET: &str = "sk098765";
const TOKEN_OK: &[u8] =
    br#"{"access_token":"tok-SECRET-1","expires_in":7200,"token_type":"bearer"}"#;
const TOKEN_OK_2: &[u8] =
    br#"{"access_token":"tok-SECRET-2","expires_in":7200,"token_type":"bearer"}"#;
const SENT_OK: &[u8] = br#"{"code":0,"msg":"success","data":{"message_id":"msg_9"}}"#;

/// The 2 January 2006 15:04:05 GMT of the platform's KSO-1 example.
fn date() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_136_214_245)
}

fn api() -> Api {
    api_with(RetryPolicy::default())
}

fn api_with(retry: RetryPolicy) -> Api {
    let config = ApiConfig::builder("AK123456", SECRET)
        .retry(retry)
        .build()
        .unwrap();
    Api::new(config, 1)
}

fn answer(status: u16, body: &'static [u8]) -> http::Response<&'static [u8]> {
    http::Response::builder().status(status).body(body).unwrap()
}

fn send<E: Endpoint>(call: &mut Call<E>, api: &mut Api, now: Instant) -> Outgoing
where
    E::Output: fmt::Debug,
{
    match call.poll(api, now, date()) {
        Step::Send(out) => out,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn finish<E: Endpoint>(
    call: &mut Call<E>,
    api: &mut Api,
    now: Instant,
) -> Result<E::Output, ApiError>
where
    E::Output: fmt::Debug,
{
    match call.poll(api, now, date()) {
        Step::Done(result) => result,
        other => panic!("expected the end, got {other:?}"),
    }
}

fn hello() -> SendMessage {
    SendMessage::text(Receiver::chat("chat_1"), "hello").unwrap()
}

/// A bodiless or raw endpoint, to sign the vectors' requests.
struct Raw {
    method: http::Method,
    path: &'static str,
    body: &'static str,
}

impl Endpoint for Raw {
    type Output = Value;
    fn method(&self) -> http::Method {
        self.method.clone()
    }
    fn path(&self) -> String {
        self.path.to_owned()
    }
    fn body(&self) -> Vec<u8> {
        self.body.as_bytes().to_vec()
    }
    fn parse_data(&self, _status: u16, data: Value) -> Result<Value, ApiError> {
        Ok(data)
    }
}

#[test]
fn requests_are_signed_like_the_documented_kso1_vectors() {
    let vectors: Value =
        serde_json::from_str(include_str!("../../../core/tests/data/kso1.json")).unwrap();
    let mut checked = 0;
    for vector in vectors["vectors"].as_array().unwrap() {
        // The API always sends `application/json`: the handshake vectors (no content type)
        // belong to the event connection.
        if vector["content_type"] != "application/json" {
            continue;
        }
        let text = |key: &str| vector[key].as_str().unwrap().to_owned();
        let config = ApiConfig::builder(text("app_id"), text("app_secret"))
            .build()
            .unwrap();
        let endpoint = Raw {
            method: text("method").parse().unwrap(),
            path: Box::leak(text("request_uri").into_boxed_str()),
            body: Box::leak(text("body").into_boxed_str()),
        };
        let date = open_event_core::kso1::parse_date(&text("date")).unwrap();
        let request = sign_request(&config, &endpoint, &AccessToken::new("t"), date);
        assert_eq!(
            request.headers()["x-kso-authorization"],
            text("expected_authorization").as_str(),
            "{}",
            vector["name"]
        );
        assert_eq!(request.headers()["x-kso-date"], text("date").as_str());
        assert_eq!(request.headers()["content-type"], "application/json");
        checked += 1;
    }
    assert_eq!(checked, 2, "both official vectors are checked");
}

#[test]
fn recorded_send_token_then_message() {
    let mut api = api();
    let now = Instant::now();
    let mut call = api.call(hello());

    let token = send(&mut call, &mut api, now);
    assert_eq!(token.purpose(), Purpose::Token);
    let request = token.request();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(request.uri(), "https://openapi.wps.cn/oauth2/token");
    assert_eq!(
        request.body().as_slice(),
        b"grant_type=client_credentials&client_id=AK123456&client_secret=sk098765"
    );
    assert!(!request.headers().contains_key("x-kso-authorization"));
    call.handle_response(&mut api, now, date(), answer(200, TOKEN_OK));

    let out = send(&mut call, &mut api, now);
    assert_eq!(out.purpose(), Purpose::Call);
    assert_eq!(out.timeout(), Duration::from_secs(10));
    let request = out.request();
    assert_eq!(request.uri(), "https://openapi.wps.cn/v7/messages/create");
    let body = br#"{"content":{"text":{"content":"hello","type":"plain"}},"receiver":{"receiver_id":"chat_1","type":"chat"},"type":"text"}"#;
    assert_eq!(request.body().as_slice(), body);
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    // Recorded from this implementation, checked against kso1::verify below.
    let expected_auth = open_event_core::kso1::sign(
        api.config().credentials(),
        &open_event_core::kso1::Request {
            method: "POST",
            request_uri: "/v7/messages/create",
            content_type: "application/json",
            date: "Mon, 02 Jan 2006 15:04:05 GMT",
            body,
        },
    );
    assert_eq!(
        headers,
        [
            ("accept".to_owned(), "application/json".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "x-kso-date".to_owned(),
                "Mon, 02 Jan 2006 15:04:05 GMT".to_owned()
            ),
            ("x-kso-authorization".to_owned(), expected_auth),
            ("authorization".to_owned(), "Bearer tok-SECRET-1".to_owned()),
        ]
    );
    assert!(request.headers()["authorization"].is_sensitive());
    call.handle_response(&mut api, now, date(), answer(200, SENT_OK));
    let sent = finish(&mut call, &mut api, now).unwrap();
    assert_eq!(sent.message_id.as_deref(), Some("msg_9"));
    assert_eq!(call.requests_sent(), 2);
    assert!(matches!(
        call.poll(&mut api, now, date()),
        Step::Done(Err(ApiError::Misuse(_)))
    ));
}

#[test]
fn the_token_is_reused_and_refreshed_before_expiry() {
    let mut api = api();
    let t0 = Instant::now();
    let mut first = api.call(hello());
    send(&mut first, &mut api, t0);
    first.handle_response(&mut api, t0, date(), answer(200, TOKEN_OK));
    send(&mut first, &mut api, t0);
    first.handle_response(&mut api, t0, date(), answer(200, SENT_OK));
    finish(&mut first, &mut api, t0).unwrap();

    // 6899 s later: the same token, no token request.
    let later = t0 + Duration::from_secs(6899);
    let mut second = api.call(ReplyMessage::text("chat_1", "msg_1", "again").unwrap());
    let out = send(&mut second, &mut api, later);
    assert_eq!(out.purpose(), Purpose::Call);
    assert_eq!(
        out.request().headers()["authorization"],
        "Bearer tok-SECRET-1"
    );

    // 6900 s (expiry minus the 5-minute margin): a new token first.
    let due = t0 + Duration::from_secs(6900);
    let mut third = api.call(hello());
    assert_eq!(send(&mut third, &mut api, due).purpose(), Purpose::Token);
}

#[test]
fn a_401_refreshes_the_token_once_then_fails() {
    let mut api = api();
    let now = Instant::now();
    let mut call = api.call(hello());
    send(&mut call, &mut api, now);
    call.handle_response(&mut api, now, date(), answer(200, TOKEN_OK));
    send(&mut call, &mut api, now);
    call.handle_response(
        &mut api,
        now,
        date(),
        answer(401, br#"{"code":40101,"msg":"token tok-SECRET-1 expired"}"#),
    );
    // Refresh, then the call again with the new token.
    assert_eq!(send(&mut call, &mut api, now).purpose(), Purpose::Token);
    call.handle_response(&mut api, now, date(), answer(200, TOKEN_OK_2));
    let out = send(&mut call, &mut api, now);
    assert_eq!(
        out.request().headers()["authorization"],
        "Bearer tok-SECRET-2"
    );
    call.handle_response(
        &mut api,
        now,
        date(),
        answer(401, br#"{"code":40101,"msg":"token tok-SECRET-2 invalid"}"#),
    );
    let err = finish(&mut call, &mut api, now).unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("code 40101"), "{text}");
    assert!(text.contains("check the app id and secret"), "{text}");
    assert!(!text.contains("tok-SECRET"), "{text}");

    // After a refreshed 401 that then succeeds, the next call starts fresh again.
    let mut next = api.call(hello());
    assert_eq!(send(&mut next, &mut api, now).purpose(), Purpose::Token);
}

#[test]
fn a_429_waits_for_retry_after_and_5xx_backs_off_with_jitter() {
    let mut api = api();
    let now = Instant::now();
    let mut call = api.call(hello());
    send(&mut call, &mut api, now);
    call.handle_response(&mut api, now, date(), answer(200, TOKEN_OK));
    send(&mut call, &mut api, now);
    let limited = http::Response::builder()
        .status(429)
        .header("Retry-After", "3")
        .body(&br#"{"code":429001,"msg":"too many requests"}"#[..])
        .unwrap();
    call.handle_response(&mut api, now, date(), limited);
    let until = now + Duration::from_secs(3);
    assert!(matches!(call.poll(&mut api, now, date()), Step::Wait(t) if t == until));
    // Polling early keeps waiting for the same instant.
    assert!(matches!(
        call.poll(&mut api, now + Duration::from_secs(1), date()),
        Step::Wait(t) if t == until
    ));
    send(&mut call, &mut api, until);
    call.handle_response(
        &mut api,
        until,
        date(),
        answer(502, b"<html>bad gateway</html>"),
    );
    // Second failure: nominal 500 ms, +-20 %.
    let Step::Wait(at) = call.poll(&mut api, until, date()) else {
        panic!("expected a backoff")
    };
    let delay = at - until;
    assert!(
        delay >= Duration::from_millis(400) && delay <= Duration::from_millis(600),
        "{delay:?}"
    );
    send(&mut call, &mut api, at);
    call.handle_response(&mut api, at, date(), answer(200, SENT_OK));
    assert!(finish(&mut call, &mut api, at).is_ok());
}

#[test]
fn retries_are_bounded() {
    let mut api = api_with(RetryPolicy {
        max_attempts: 2,
        ..RetryPolicy::default()
    });
    let mut now = Instant::now();
    let mut call = api.call(hello());
    send(&mut call, &mut api, now);
    call.handle_response(&mut api, now, date(), answer(200, TOKEN_OK));
    for _ in 0..2 {
        loop {
            match call.poll(&mut api, now, date()) {
                Step::Send(_) => break,
                Step::Wait(t) => now = t,
                Step::Done(r) => panic!("ended early: {r:?}"),
            }
        }
        call.handle_response(
            &mut api,
            now,
            date(),
            answer(503, br#"{"code":503001,"msg":"busy"}"#),
        );
    }
    let err = finish(&mut call, &mut api, now).unwrap_err();
    match &err {
        ApiError::GaveUp { attempts: 3, last } => {
            assert_eq!(last.platform_code(), Some(503_001));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.status(), Some(503));
    assert!(
        err.to_string()
            .starts_with("gave up after 3 attempts: the platform refused")
    );
}

#[test]
fn platform_errors_are_not_retried_and_keep_code_and_message() {
    let mut api = api();
    let now = Instant::now();
    let mut call = api.call(hello());
    send(&mut call, &mut api, now);
    call.handle_response(&mut api, now, date(), answer(200, TOKEN_OK));
    send(&mut call, &mut api, now);
    call.handle_response(
        &mut api,
        now,
        date(),
        answer(400, br#"{"code":400006,"msg":"receiver not found"}"#),
    );
    let err = finish(&mut call, &mut api, now).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the platform refused POST /v7/messages/create (HTTP 400, code 400006: receiver not found): check the request's fields (receiver id and type, message type and content, chat and message ids)"
    );
}

#[test]
fn long_retry_after_fails_at_once() {
    let mut api = api();
    let now = Instant::now();
    let mut call = api.call(hello());
    send(&mut call, &mut api, now);
    let limited = http::Response::builder()
        .status(429)
        .header(
            "Retry-After",
            httpdate::fmt_http_date(date() + Duration::from_secs(3600)),
        )
        .body(&b""[..])
        .unwrap();
    call.handle_response(&mut api, now, date(), limited);
    let err = finish(&mut call, &mut api, now).unwrap_err();
    assert!(
        matches!(err, ApiError::RetryAfterTooLong { status: 429, retry_after, .. } if retry_after == Duration::from_secs(3600)),
        "{err:?}"
    );
    assert!(err.to_string().contains("POST /oauth2/token"), "{err}");
}

#[test]
fn transport_failures_are_retried_and_scrubbed() {
    let mut api = api_with(RetryPolicy {
        max_attempts: 2,
        ..RetryPolicy::default()
    });
    let mut now = Instant::now();
    let mut call = api.call(hello());
    for _ in 0..2 {
        loop {
            match call.poll(&mut api, now, date()) {
                Step::Send(out) => {
                    assert_eq!(out.purpose(), Purpose::Token);
                    break;
                }
                Step::Wait(t) => now = t,
                Step::Done(r) => panic!("ended early: {r:?}"),
            }
        }
        call.handle_failure(
            &mut api,
            now,
            TransportFailure {
                kind: FailureKind::Connect,
                detail: format!("connection refused (echoing {SECRET})"),
            },
        );
    }
    let err = finish(&mut call, &mut api, now).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("POST /oauth2/token could not be completed"),
        "{text}"
    );
    assert!(text.contains("check the network"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn concurrent_calls_wait_for_one_token_fetch() {
    let mut api = api();
    let now = Instant::now();
    let mut first = api.call(hello());
    let mut second = api.call(hello());
    assert_eq!(send(&mut first, &mut api, now).purpose(), Purpose::Token);
    let Step::Wait(at) = second.poll(&mut api, now, date()) else {
        panic!("the second call should wait for the first's token")
    };
    first.handle_response(&mut api, now, date(), answer(200, TOKEN_OK));
    assert_eq!(send(&mut second, &mut api, at).purpose(), Purpose::Call);
}

#[test]
fn an_abandoned_token_fetch_does_not_hold_up_other_calls() {
    let mut api = api();
    let now = Instant::now();
    let mut first = api.call(hello());
    let mut second = api.call(hello());
    assert_eq!(send(&mut first, &mut api, now).purpose(), Purpose::Token);
    assert!(matches!(second.poll(&mut api, now, date()), Step::Wait(_)));
    first.abandon(&mut api);
    assert_eq!(send(&mut second, &mut api, now).purpose(), Purpose::Token);
    assert!(matches!(
        first.poll(&mut api, now, date()),
        Step::Done(Err(ApiError::Misuse(_)))
    ));
}

#[test]
fn nothing_prints_the_secret_or_the_token() {
    let mut api = api();
    let now = Instant::now();
    let mut call = api.call(hello());
    let token_request = send(&mut call, &mut api, now);
    let mut text = format!("{token_request:?} {call:?} {api:?}");
    call.handle_response(&mut api, now, date(), answer(200, TOKEN_OK));
    let out = send(&mut call, &mut api, now);
    text.push_str(&format!(
        "{out:?} {call:?} {api:?} {:?}",
        out.request().headers()
    ));
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("tok-SECRET"), "{text}");
}

#[test]
fn misuse_is_a_typed_error() {
    let mut api = api();
    let now = Instant::now();
    let mut call = api.call(hello());
    call.handle_response(&mut api, now, date(), answer(200, SENT_OK));
    assert!(matches!(
        finish(&mut call, &mut api, now),
        Err(ApiError::Misuse(_))
    ));
    let mut call = api.call(hello());
    send(&mut call, &mut api, now);
    assert!(matches!(
        finish(&mut call, &mut api, now),
        Err(ApiError::Misuse(_))
    ));
}
