//! One API call as a pure pair of functions: [`sign_request`] renders a typed request to a
//! KSO-1-signed `http::Request<Vec<u8>>`, [`parse_response`] turns the answer into its typed
//! output or an [`ApiError`].

use std::time::SystemTime;

use open_event_core::kso1;

use crate::response::{self, Scrub};
use crate::{AccessToken, ApiConfig, ApiError};

/// The content type of every API call's body.
pub const JSON: &str = "application/json";

/// A typed API call: where it goes, its JSON body, and how its answer's `data` is read.
///
/// Implemented by [`SendMessage`](crate::SendMessage) and [`ReplyMessage`](crate::ReplyMessage);
/// implement it for other calls of the platform's v7 API.
pub trait Endpoint {
    /// What a successful answer yields.
    type Output;

    /// The HTTP method. Default `POST`.
    fn method(&self) -> http::Method {
        http::Method::POST
    }

    /// The path below the API base, starting with `/`, path segments percent-encoded.
    fn path(&self) -> String;

    /// The JSON body (empty for none).
    fn body(&self) -> Vec<u8>;

    /// Reads the `data` of a successful answer (`Null` when the answer had none).
    ///
    /// # Errors
    /// [`ApiError::InvalidResponse`] when `data` lacks what the output needs.
    fn parse_data(&self, status: u16, data: serde_json::Value) -> Result<Self::Output, ApiError>;

    /// The call's name for messages, e.g. `POST /v7/messages/create`.
    fn call_name(&self) -> String {
        format!("{} {}", self.method(), self.path())
    }
}

/// Renders `endpoint` as a request to `config`'s API base, dated `date` and signed with KSO-1
/// (`Content-Type: application/json`, `X-Kso-Date`, `X-Kso-Authorization`) and carrying
/// `Authorization: Bearer {token}` (marked sensitive, so `http`'s `Debug` hides it).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use open_event_api::{sign_request, AccessToken, ApiConfig, Receiver, SendMessage};
///
/// let config = ApiConfig::builder("AK123456", "sk098765").build()?;
/// let send = SendMessage::text(Receiver::chat("chat_1"), "hi")?;
/// let date = UNIX_EPOCH + Duration::from_secs(1136214245);
/// let request = sign_request(&config, &send, &AccessToken::new("t1"), date);
/// assert_eq!(request.uri(), "https://openapi.wps.cn/v7/messages/create");
/// assert_eq!(request.headers()["x-kso-date"], "Mon, 02 Jan 2006 15:04:05 GMT");
/// assert!(request.headers()["x-kso-authorization"].to_str()?.starts_with("KSO-1 AK123456:"));
/// assert_eq!(request.headers()["authorization"], "Bearer t1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sign_request<E: Endpoint + ?Sized>(
    config: &ApiConfig,
    endpoint: &E,
    token: &AccessToken,
    date: SystemTime,
) -> http::Request<Vec<u8>> {
    signed(
        config,
        &endpoint.method(),
        &endpoint.path(),
        endpoint.body(),
        token,
        date,
    )
}

/// [`sign_request`] with the parts already rendered.
pub(crate) fn signed(
    config: &ApiConfig,
    method: &http::Method,
    path: &str,
    body: Vec<u8>,
    token: &AccessToken,
    date: SystemTime,
) -> http::Request<Vec<u8>> {
    let uri: http::Uri = format!("{}{path}", config.api_base())
        .parse()
        .expect("a validated base URL plus a percent-encoded path is a URI");
    let date = kso1::format_date(date);
    let request_uri = kso1::request_uri(&uri);
    // Every call carries the JSON content type, bodiless ones too (PROTOCOL.md §9).
    let content_type = JSON;
    let authorization = kso1::sign(
        config.credentials(),
        &kso1::Request {
            method: method.as_str(),
            request_uri: &request_uri,
            content_type,
            date: &date,
            body: &body,
        },
    );
    let mut bearer = http::HeaderValue::try_from(format!("Bearer {}", token.expose()))
        .unwrap_or_else(|_| http::HeaderValue::from_static("Bearer"));
    bearer.set_sensitive(true);
    http::Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(http::header::ACCEPT, JSON)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(kso1::HEADER_DATE, date)
        .header(kso1::HEADER_AUTHORIZATION, authorization)
        .header(http::header::AUTHORIZATION, bearer)
        .body(body)
        .expect("every header value is ASCII")
}

/// Parses the answer to `endpoint`.
///
/// # Errors
/// [`ApiError::Platform`] for the platform's `{code, msg}` (with any status),
/// [`ApiError::Http`] for an error status without it, [`ApiError::InvalidResponse`] for a
/// success whose body is not the documented JSON.
///
/// ```
/// use open_event_api::{parse_response, ApiError, Receiver, SendMessage};
///
/// let send = SendMessage::text(Receiver::chat("chat_1"), "hi")?;
/// let ok = http::Response::new(&br#"{"code":0,"msg":"success","data":{"message_id":"m1"}}"#[..]);
/// assert_eq!(parse_response(&send, ok)?.message_id.as_deref(), Some("m1"));
///
/// let refused = http::Response::builder()
///     .status(403)
///     .body(&br#"{"code":403001,"msg":"no permission"}"#[..])?;
/// let err = parse_response(&send, refused).unwrap_err();
/// assert_eq!(err.platform_code(), Some(403001));
/// assert!(err.to_string().contains("grant the app the permission"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_response<E: Endpoint + ?Sized>(
    endpoint: &E,
    response: http::Response<&[u8]>,
) -> Result<E::Output, ApiError> {
    parse_scrubbed(endpoint, &endpoint.call_name(), response, &Scrub::default())
}

pub(crate) fn parse_scrubbed<E: Endpoint + ?Sized>(
    endpoint: &E,
    call: &str,
    response: http::Response<&[u8]>,
    scrub: &Scrub<'_>,
) -> Result<E::Output, ApiError> {
    let status = response.status().as_u16();
    let body = *response.body();
    if !response.status().is_success() {
        return Err(response::error_status(call.to_owned(), status, body, scrub));
    }
    let data = response::success_data(call, status, body, scrub)?;
    endpoint.parse_data(status, data)
}

/// Appends `segment` percent-encoded as one path segment (everything but RFC 3986's
/// unreserved characters is encoded).
pub(crate) fn push_segment(out: &mut String, segment: &str) {
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            _ => {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(byte >> 4)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(byte & 0x0f)]));
            }
        }
    }
}
