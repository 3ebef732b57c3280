//! The platform's REST API, emulated (PROTOCOL.md §9): the token endpoint, message create and
//! reply.
//!
//! Two layers, as for the event server: [`ApiServer`] is sans-IO (an `http::Request` in, an
//! `http::Response` out, the wall clock passed in); [`listener`] serves it over HTTP/1.1 on
//! loopback with hyper on tokio.
//!
//! The server checks what the platform checks: the token form and the app's credentials; on
//! every call the JSON content type, `X-Kso-Date` (within [`ApiServerConfig::max_clock_skew`]),
//! the KSO-1 signature over method, URI, content type, date and body, the bearer token (issued
//! here and unexpired), and the body (message type, receiver, text content of at most 5 000
//! characters). Refusals are the platform's `{code, msg}` objects with the codes listed in
//! [`codes`]. Accepted messages are recorded; faults (a 429 with `Retry-After`, a 5xx, any
//! `{code, msg}`) can be queued, and issued tokens revoked, to test a client's retries and its
//! 401 handling.
//!
//! ```
//! use std::time::SystemTime;
//! use open_event_core::Credentials;
//! use open_event_emulator::api::{ApiServer, ApiServerConfig};
//!
//! let mut server = ApiServer::new(ApiServerConfig::new(Credentials::new("AK123456", "sk098765")), 7);
//! let form = b"grant_type=client_credentials&client_id=AK123456&client_secret=wrong";
//! let request = http::Request::post("/oauth2/token")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(&form[..])?;
//! let response = server.handle(SystemTime::now(), &request);
//! assert_eq!(response.status(), 400);
//! assert!(String::from_utf8_lossy(response.body()).contains("invalid client_secret"));
//! # Ok::<(), http::Error>(())
//! ```

pub mod listener;

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use open_event_core::Credentials;
use open_event_core::kso1::{self, HEADER_AUTHORIZATION, HEADER_DATE};
use serde_json::{Value, json};

pub use listener::{ApiEmulator, ApiEmulatorHandle, ApiEmulatorOptions};

/// The longest text a message may have, in characters.
pub const MAX_TEXT_CHARS: usize = 5000;

/// The `code`s of the emulator's refusals (the platform's own codes are not documented; these
/// are stable within this crate).
pub mod codes {
    /// The token form is malformed or its `grant_type` is not `client_credentials`.
    pub const INVALID_REQUEST: i64 = 40000;
    /// `client_id` names another app.
    pub const INVALID_CLIENT_ID: i64 = 40001;
    /// `client_secret` is wrong.
    pub const INVALID_CLIENT_SECRET: i64 = 40002;
    /// The body is not what the call documents.
    pub const INVALID_BODY: i64 = 40003;
    /// The message text is longer than 5 000 characters.
    pub const TEXT_TOO_LONG: i64 = 40004;
    /// The bearer token is missing, unknown or revoked.
    pub const INVALID_TOKEN: i64 = 40101;
    /// The bearer token has expired.
    pub const TOKEN_EXPIRED: i64 = 40102;
    /// `X-Kso-Date` is missing, malformed or too far from the server's clock.
    pub const INVALID_DATE: i64 = 40103;
    /// `X-Kso-Authorization` is missing or does not match the request.
    pub const INVALID_SIGNATURE: i64 = 40104;
    /// No such API.
    pub const NOT_FOUND: i64 = 40400;
    /// The content type is not the one the call needs.
    pub const UNSUPPORTED_MEDIA_TYPE: i64 = 41500;
}

/// The emulated API's settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiServerConfig {
    /// The app served.
    pub credentials: Credentials,
    /// The `expires_in` of issued tokens. Default 7200 s.
    pub token_lifetime: Duration,
    /// How far `X-Kso-Date` may be from the server's clock. Default 15 minutes.
    pub max_clock_skew: Duration,
}

impl ApiServerConfig {
    /// The API of the app with these credentials, every default.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            token_lifetime: Duration::from_secs(7200),
            max_clock_skew: Duration::from_secs(15 * 60),
        }
    }

    /// Issued tokens live `lifetime` (whole seconds).
    #[must_use]
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }
}

/// Which requests a [`Fault`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultTarget {
    /// Token requests.
    Token,
    /// Message create and reply calls.
    Calls,
}

/// A scripted answer: the next request of its target gets it instead of being served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    /// Which requests it answers.
    pub target: FaultTarget,
    /// The HTTP status.
    pub status: u16,
    /// The `code` of the `{code, msg}` body.
    pub code: i64,
    /// The `msg` of the body.
    pub msg: String,
    /// The `Retry-After` header in seconds, if any.
    pub retry_after: Option<u64>,
}

impl Fault {
    /// A 429 on calls with `Retry-After: {seconds}`.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            target: FaultTarget::Calls,
            status: 429,
            code: 42900,
            msg: "too many requests".to_owned(),
            retry_after: Some(retry_after),
        }
    }

    /// Any status with the platform's `{code, msg}` body, on calls.
    pub fn error(status: u16, code: i64, msg: impl Into<String>) -> Self {
        Self {
            target: FaultTarget::Calls,
            status,
            code,
            msg: msg.into(),
            retry_after: None,
        }
    }

    /// The same fault, for token requests instead.
    #[must_use]
    pub fn on_token(mut self) -> Self {
        self.target = FaultTarget::Token;
        self
    }
}

/// Which message call a record is of.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageCall {
    /// `POST /v7/messages/create`.
    Create,
    /// `POST /v7/chats/{chat_id}/messages/{message_id}/reply`.
    Reply {
        /// The chat of the message answered.
        chat_id: String,
        /// The message answered.
        message_id: String,
    },
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MessageRecord {
    /// Create or reply.
    pub call: MessageCall,
    /// The id the server gave the new message.
    pub message_id: String,
    /// The message `type`.
    pub kind: String,
    /// The text, for a text message.
    pub text: Option<String>,
    /// The `receiver` object of a create.
    pub receiver: Option<Value>,
    /// The whole body.
    pub body: Value,
}

/// A request the server refused (faults not included).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The request's path.
    pub path: String,
    /// The HTTP status.
    pub status: u16,
    /// The `code` sent.
    pub code: i64,
    /// The `msg` sent (never a token or the secret).
    pub msg: String,
}

/// What the server saw.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ApiReport {
    /// Tokens issued.
    pub tokens_issued: u32,
    /// Accepted messages, in order.
    pub messages: Vec<MessageRecord>,
    /// Refused requests, in order.
    pub refusals: Vec<Refusal>,
    /// Faults served.
    pub faults_served: u32,
    /// Every request received.
    pub requests: u32,
}

impl ApiReport {
    /// The texts of the accepted messages, in order.
    pub fn texts(&self) -> Vec<&str> {
        self.messages
            .iter()
            .filter_map(|m| m.text.as_deref())
            .collect()
    }

    /// How many refusals had `code`.
    pub fn refusals_with(&self, code: i64) -> usize {
        self.refusals.iter().filter(|r| r.code == code).count()
    }
}

struct Issued {
    token: String,
    expires_at: SystemTime,
    revoked: bool,
}

/// The sans-IO API server.
pub struct ApiServer {
    config: ApiServerConfig,
    issued: Vec<Issued>,
    faults: VecDeque<Fault>,
    report: ApiReport,
    next_message: u64,
    rng: fastrand::Rng,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("config", &self.config)
            .field("tokens_issued", &self.issued.len())
            .field("faults_queued", &self.faults.len())
            .finish_non_exhaustive()
    }
}

/// A refusal on its way out.
struct Refuse {
    status: u16,
    code: i64,
    msg: String,
}

fn refuse(status: u16, code: i64, msg: impl Into<String>) -> Refuse {
    Refuse {
        status,
        code,
        msg: msg.into(),
    }
}

impl ApiServer {
    /// A server of `config`'s app; `seed` makes its tokens reproducible.
    pub fn new(config: ApiServerConfig, seed: u64) -> Self {
        Self {
            config,
            issued: Vec::new(),
            faults: VecDeque::new(),
            report: ApiReport::default(),
            next_message: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ApiServerConfig {
        &self.config
    }

    /// What the server saw so far.
    pub fn report(&self) -> &ApiReport {
        &self.report
    }

    /// Answers the next `count` requests of `fault.target` with `fault`.
    pub fn fail_next(&mut self, fault: Fault, count: u32) {
        for _ in 0..count {
            self.faults.push_back(fault.clone());
        }
    }

    /// Every token issued so far, oldest first (for tests that check a client never leaks one).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.issued
            .iter()
            .map(|issued| issued.token.clone())
            .collect()
    }

    /// Revokes every token issued so far: calls with them get 401 [`codes::INVALID_TOKEN`].
    pub fn revoke_tokens(&mut self) {
        for issued in &mut self.issued {
            issued.revoked = true;
        }
    }

    /// Answers one request at wall-clock time `wall`.
    pub fn handle(
        &mut self,
        wall: SystemTime,
        request: &http::Request<&[u8]>,
    ) -> http::Response<Vec<u8>> {
        self.report.requests += 1;
        let path = request.uri().path().to_owned();
        let target = if path == "/oauth2/token" {
            FaultTarget::Token
        } else {
            FaultTarget::Calls
        };
        if let Some(index) = self.faults.iter().position(|f| f.target == target) {
            let fault = self.faults.remove(index).expect("the index was just found");
            self.report.faults_served += 1;
            let mut response = error_response(fault.status, fault.code, &fault.msg);
            if let Some(seconds) = fault.retry_after {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
            }
            return response;
        }
        let outcome = if request.method() != http::Method::POST {
            Err(refuse(
                405,
                codes::NOT_FOUND,
                format!(
                    "{} {path} is not an API of this server: use POST",
                    request.method()
                ),
            ))
        } else if target == FaultTarget::Token {
            self.token(wall, request)
        } else {
            self.message(wall, request, &path)
        };
        match outcome {
            Ok(body) => json_response(200, &body),
            Err(Refuse { status, code, msg }) => {
                self.report.refusals.push(Refusal {
                    path,
                    status,
                    code,
                    msg: msg.clone(),
                });
                error_response(status, code, &msg)
            }
        }
    }

    fn token(&mut self, wall: SystemTime, request: &http::Request<&[u8]>) -> Result<Value, Refuse> {
        let content_type = header(request, "content-type").unwrap_or_default();
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(refuse(
                415,
                codes::UNSUPPORTED_MEDIA_TYPE,
                format!("the token request must be form-encoded, not {content_type:?}"),
            ));
        }
        let form = parse_form(request.body());
        let field = |name: &str| {
            form.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        if field("grant_type") != Some("client_credentials") {
            return Err(refuse(
                400,
                codes::INVALID_REQUEST,
                "grant_type must be client_credentials",
            ));
        }
        if field("client_id") != Some(self.config.credentials.app_id()) {
            return Err(refuse(400, codes::INVALID_CLIENT_ID, "invalid client_id"));
        }
        if field("client_secret") != Some(self.config.credentials.app_secret().expose()) {
            return Err(refuse(
                400,
                codes::INVALID_CLIENT_SECRET,
                "invalid client_secret",
            ));
        }
        let token = format!("emu-{}-{:016x}", self.issued.len() + 1, self.rng.u64(..));
        let lifetime = Duration::from_secs(self.config.token_lifetime.as_secs());
        self.issued.push(Issued {
            token: token.clone(),
            expires_at: wall + lifetime,
            revoked: false,
        });
        self.report.tokens_issued += 1;
        Ok(json!({
            "access_token": token,
            "expires_in": lifetime.as_secs(),
            "token_type": "bearer",
        }))
    }

    fn message(
        &mut self,
        wall: SystemTime,
        request: &http::Request<&[u8]>,
        path: &str,
    ) -> Result<Value, Refuse> {
        let call = route(path)
            .ok_or_else(|| refuse(404, codes::NOT_FOUND, format!("no API at {path}")))?;
        self.authenticate(wall, request)?;
        let body: Value = serde_json::from_slice(request.body()).map_err(|e| {
            refuse(
                400,
                codes::INVALID_BODY,
                format!("the body is not JSON: {e}"),
            )
        })?;
        let (kind, text) = check_body(&body, &call)?;
        self.next_message += 1;
        let message_id = format!("emu-msg-{}", self.next_message);
        self.report.messages.push(MessageRecord {
            call,
            message_id: message_id.clone(),
            kind,
            text,
            receiver: body.get("receiver").cloned(),
            body,
        });
        Ok(json!({ "code": 0, "msg": "success", "data": { "message_id": message_id } }))
    }

    /// Checks the content type, the date, the KSO-1 signature and the bearer token.
    fn authenticate(&self, wall: SystemTime, request: &http::Request<&[u8]>) -> Result<(), Refuse> {
        let content_type = header(request, "content-type").unwrap_or_default();
        if content_type != "application/json" {
            return Err(refuse(
                415,
                codes::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type must be application/json, not {content_type:?}"),
            ));
        }
        let date = header(request, HEADER_DATE)
            .ok_or_else(|| refuse(401, codes::INVALID_DATE, "X-Kso-Date is missing"))?;
        let sent =
            kso1::parse_date(date).map_err(|e| refuse(401, codes::INVALID_DATE, e.to_string()))?;
        let skew = sent
            .duration_since(wall)
            .or_else(|_| wall.duration_since(sent))
            .unwrap_or_default();
        if skew > self.config.max_clock_skew {
            return Err(refuse(
                401,
                codes::INVALID_DATE,
                format!(
                    "X-Kso-Date is {}s away from the server's clock",
                    skew.as_secs()
                ),
            ));
        }
        let authorization = header(request, HEADER_AUTHORIZATION).ok_or_else(|| {
            refuse(
                401,
                codes::INVALID_SIGNATURE,
                "X-Kso-Authorization is missing",
            )
        })?;
        let request_uri = kso1::request_uri(request.uri());
        kso1::verify(
            &self.config.credentials,
            &kso1::Request {
                method: request.method().as_str(),
                request_uri: &request_uri,
                content_type,
                date,
                body: request.body(),
            },
            authorization,
        )
        .map_err(|e| refuse(401, codes::INVALID_SIGNATURE, e.to_string()))?;
        let bearer = header(request, "authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| {
                refuse(
                    401,
                    codes::INVALID_TOKEN,
                    "Authorization: Bearer {access_token} is missing",
                )
            })?;
        match self.issued.iter().find(|issued| issued.token == bearer) {
            Some(issued) if issued.revoked => Err(refuse(
                401,
                codes::INVALID_TOKEN,
                "the access token was revoked",
            )),
            Some(issued) if wall >= issued.expires_at => Err(refuse(
                401,
                codes::TOKEN_EXPIRED,
                "the access token has expired",
            )),
            Some(_) => Ok(()),
            None => Err(refuse(401, codes::INVALID_TOKEN, "unknown access token")),
        }
    }
}

/// Which message call `path` is.
fn route(path: &str) -> Option<MessageCall> {
    if path == "/v7/messages/create" {
        return Some(MessageCall::Create);
    }
    let rest = path.strip_prefix("/v7/chats/")?;
    let (chat_id, rest) = rest.split_once('/')?;
    let message_id = rest.strip_prefix("messages/")?.strip_suffix("/reply")?;
    if chat_id.is_empty() || message_id.is_empty() || message_id.contains('/') {
        return None;
    }
    Some(MessageCall::Reply {
        chat_id: percent_decode(chat_id),
        message_id: percent_decode(message_id),
    })
}

/// Checks a message body; returns its type and text.
fn check_body(body: &Value, call: &MessageCall) -> Result<(String, Option<String>), Refuse> {
    let invalid = |msg: String| refuse(400, codes::INVALID_BODY, msg);
    let kind = body
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("the body has no string `type`".to_owned()))?;
    let allowed: &[&str] = match call {
        MessageCall::Create => &[
            "text",
            "rich_text",
            "image",
            "file",
            "audio",
            "video",
            "card",
        ],
        MessageCall::Reply { .. } => &["text", "rich_text", "image"],
    };
    if !allowed.contains(&kind) {
        return Err(invalid(format!(
            "message type {kind:?} is not one of {allowed:?}"
        )));
    }
    if let MessageCall::Create = call {
        let receiver = body
            .get("receiver")
            .ok_or_else(|| invalid("the body has no `receiver`".to_owned()))?;
        let id = receiver
            .get("receiver_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        if id.is_empty() {
            return Err(invalid(
                "receiver.receiver_id is missing or empty".to_owned(),
            ));
        }
        match receiver.get("type").and_then(Value::as_str) {
            Some("user" | "chat") => {}
            Some("enterprise_partner_user") => {
                if receiver.get("partner_id").and_then(Value::as_str).is_none() {
                    return Err(invalid(
                        "receiver.partner_id is required for enterprise_partner_user".to_owned(),
                    ));
                }
            }
            other => {
                return Err(invalid(format!(
                    "receiver.type {other:?} is not one of user, enterprise_partner_user, chat"
                )));
            }
        }
    }
    let content = body
        .get("content")
        .filter(|c| c.is_object())
        .ok_or_else(|| invalid("the body has no `content` object".to_owned()))?;
    if kind != "text" {
        return Ok((kind.to_owned(), None));
    }
    let text = content
        .pointer("/text/content")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("content.text.content is missing".to_owned()))?;
    if text.is_empty() {
        return Err(invalid("content.text.content is empty".to_owned()));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(refuse(
            400,
            codes::TEXT_TOO_LONG,
            format!("the text has {chars} characters, more than {MAX_TEXT_CHARS}"),
        ));
    }
    Ok((kind.to_owned(), Some(text.to_owned())))
}

fn header<'a>(request: &'a http::Request<&[u8]>, name: &str) -> Option<&'a str> {
    request.headers().get(name)?.to_str().ok()
}

fn json_response(status: u16, body: &Value) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).expect("a JSON value serializes"))
        .expect("a valid status and header")
}

fn error_response(status: u16, code: i64, msg: &str) -> http::Response<Vec<u8>> {
    let status = if (100..1000).contains(&status) {
        status
    } else {
        500
    };
    json_response(status, &json!({ "code": code, "msg": msg }))
}

/// Decodes an `application/x-www-form-urlencoded` body.
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&key.replace('+', " ")),
                percent_decode(&value.replace('+', " ")),
            )
        })
        .collect()
}

/// Decodes `%XX` escapes; invalid escapes stay as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
