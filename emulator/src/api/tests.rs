//! The emulated API against hand-built requests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use open_event_core::Credentials;
use open_event_core::kso1;
use serde_json::{Value, json};

use super::*;

fn wall() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn server() -> ApiServer {
    ApiServer::new(
        ApiServerConfig::new(Credentials::new("AK123456", "sk098765")),
        1,
    )
}

fn fetch_token(server: &mut ApiServer) -> String {
    let form = b"grant_type=client_credentials&client_id=AK123456&client_secret=sk098765";
    let request = http::Request::post("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(&form[..])
        .unwrap();
    let response = server.handle(wall(), &request);
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["expires_in"], server.config().token_lifetime.as_secs());
    assert_eq!(body["token_type"], "bearer");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A signed call as a client sends it.
fn call(
    path: &str,
    body: &Value,
    token: &str,
    date: SystemTime,
    secret: &str,
) -> http::Request<Vec<u8>> {
    let body = serde_json::to_vec(body).unwrap();
    let date = kso1::format_date(date);
    let authorization = kso1::sign(
        &Credentials::new("AK123456", secret),
        &kso1::Request {
            method: "POST",
            request_uri: path,
            content_type: "application/json",
            date: &date,
            body: &body,
        },
    );
    http::Request::post(path)
        .header("content-type", "application/json")
        .header("x-kso-date", date)
        .header("x-kso-authorization", authorization)
        .header("authorization", format!("Bearer {token}"))
        .body(body)
        .unwrap()
}

fn handle(server: &mut ApiServer, request: &http::Request<Vec<u8>>) -> (u16, Value) {
    let (parts, body) = request.clone().into_parts();
    let request = http::Request::from_parts(parts, body.as_slice());
    let response = server.handle(wall(), &request);
    (
        response.status().as_u16(),
        serde_json::from_slice(response.body()).unwrap(),
    )
}

fn text_body(text: &str) -> Value {
    json!({
        "type": "text",
        "receiver": {"receiver_id": "chat_1", "type": "chat"},
        "content": {"text": {"content": text, "type": "plain"}},
    })
}

#[test]
fn send_and_reply_are_validated_and_recorded() {
    let mut server = server();
    let token = fetch_token(&mut server);
    let (status, body) = handle(
        &mut server,
        &call(
            "/v7/messages/create",
            &text_body("hello"),
            &token,
            wall(),
            "sk098765",
        ),
    );
    assert_eq!((status, &body["code"]), (200, &json!(0)), "{body}");
    assert_eq!(body["data"]["message_id"], "emu-msg-1");
    let reply = json!({"type": "text", "content": {"text": {"content": "pong", "type": "plain"}}});
    let (status, _) = handle(
        &mut server,
        &call(
            "/v7/chats/chat%201/messages/m1/reply",
            &reply,
            &token,
            wall(),
            "sk098765",
        ),
    );
    assert_eq!(status, 200);
    let report = server.report();
    assert_eq!(report.texts(), ["hello", "pong"]);
    assert_eq!(
        report.messages[1].call,
        MessageCall::Reply {
            chat_id: "chat 1".into(),
            message_id: "m1".into()
        }
    );
    assert_eq!(
        report.messages[0].receiver,
        Some(json!({"receiver_id": "chat_1", "type": "chat"}))
    );
}

#[test]
fn refusals_carry_the_documented_codes() {
    let mut server = server();
    let token = fetch_token(&mut server);
    let path = "/v7/messages/create";
    let cases = [
        (
            call(path, &text_body("x"), &token, wall(), "wrong"),
            401,
            codes::INVALID_SIGNATURE,
        ),
        (
            call(path, &text_body("x"), "nope", wall(), "sk098765"),
            401,
            codes::INVALID_TOKEN,
        ),
        (
            call(
                path,
                &text_body("x"),
                &token,
                wall() - Duration::from_secs(3600),
                "sk098765",
            ),
            401,
            codes::INVALID_DATE,
        ),
        (
            call(
                path,
                &text_body(&"x".repeat(5001)),
                &token,
                wall(),
                "sk098765",
            ),
            400,
            codes::TEXT_TOO_LONG,
        ),
        (
            call(
                path,
                &json!({"type": "text", "content": {}}),
                &token,
                wall(),
                "sk098765",
            ),
            400,
            codes::INVALID_BODY,
        ),
        (
            call(
                path,
                &json!({"type": "sticker", "receiver": {}, "content": {}}),
                &token,
                wall(),
                "sk098765",
            ),
            400,
            codes::INVALID_BODY,
        ),
        (
            call("/v7/nothing", &text_body("x"), &token, wall(), "sk098765"),
            404,
            codes::NOT_FOUND,
        ),
    ];
    for (request, status, code) in cases {
        let (got_status, body) = handle(&mut server, &request);
        assert_eq!(
            (got_status, body["code"].as_i64()),
            (status, Some(code)),
            "{body}"
        );
        let msg = body["msg"].as_str().unwrap();
        assert!(!msg.contains(&token) && !msg.contains("sk098765"), "{msg}");
    }
    assert!(server.report().messages.is_empty());
    assert_eq!(server.report().refusals.len(), 7);
}

#[test]
fn expired_and_revoked_tokens_get_401() {
    let mut server = ApiServer::new(
        ApiServerConfig::new(Credentials::new("AK123456", "sk098765"))
            .token_lifetime(Duration::from_secs(60)),
        1,
    );
    let token = fetch_token(&mut server);
    let late = call(
        "/v7/messages/create",
        &text_body("x"),
        &token,
        wall(),
        "sk098765",
    );
    let (parts, body) = late.into_parts();
    let response = server.handle(
        wall() + Duration::from_secs(60),
        &http::Request::from_parts(parts, body.as_slice()),
    );
    assert_eq!(response.status(), 401);
    assert_eq!(server.report().refusals_with(codes::TOKEN_EXPIRED), 1);

    let fresh = fetch_token(&mut server);
    server.revoke_tokens();
    let (status, body) = handle(
        &mut server,
        &call(
            "/v7/messages/create",
            &text_body("x"),
            &fresh,
            wall(),
            "sk098765",
        ),
    );
    assert_eq!(
        (status, body["code"].as_i64()),
        (401, Some(codes::INVALID_TOKEN))
    );
}

#[test]
fn faults_answer_their_target_in_order() {
    let mut server = server();
    server.fail_next(Fault::rate_limited(2), 1);
    server.fail_next(Fault::error(503, 50300, "busy").on_token(), 1);
    let form = b"grant_type=client_credentials&client_id=AK123456&client_secret=sk098765";
    let token_request = http::Request::post("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(&form[..])
        .unwrap();
    assert_eq!(server.handle(wall(), &token_request).status(), 503);
    let token = fetch_token(&mut server);
    let request = call(
        "/v7/messages/create",
        &text_body("x"),
        &token,
        wall(),
        "sk098765",
    );
    let (parts, body) = request.clone().into_parts();
    let response = server.handle(wall(), &http::Request::from_parts(parts, body.as_slice()));
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(handle(&mut server, &request).0, 200);
    assert_eq!(server.report().faults_served, 2);
}

#[test]
fn bad_token_forms() {
    let mut server = server();
    for (form, code) in [
        (
            &b"grant_type=password&client_id=AK123456&client_secret=sk098765"[..],
            codes::INVALID_REQUEST,
        ),
        (
            b"grant_type=client_credentials&client_id=AK999&client_secret=sk098765",
            codes::INVALID_CLIENT_ID,
        ),
        (
            b"grant_type=client_credentials&client_id=AK123456",
            codes::INVALID_CLIENT_SECRET,
        ),
        (b"%%%&&==", codes::INVALID_REQUEST),
    ] {
        let request = http::Request::post("/oauth2/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .unwrap();
        let response = server.handle(wall(), &request);
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["code"].as_i64(), Some(code), "{body}");
    }
    assert_eq!(server.report().tokens_issued, 0);
}
