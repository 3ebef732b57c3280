//! The WebSocket upgrade request and the WebSocket limits.

use std::time::SystemTime;

use http::header::{HeaderName, HeaderValue};
use open_event_core::connection::ConnectRequest;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::protocol::WebSocketConfig;

use crate::TransportError;

/// The `User-Agent` sent with the upgrade and with proxy CONNECT requests.
pub const USER_AGENT: &str = concat!("open-event-rs/", env!("CARGO_PKG_VERSION"));

/// The largest message (and frame) accepted from the server: events are small JSON texts, so
/// 16 MiB is generous while bounding what a broken server can make us buffer.
const MAX_MESSAGE: usize = 16 << 20;

/// The WebSocket upgrade request for `request`: its URL (with its query, which the signature
/// covers) as a client request (`Host`, `Upgrade`, `Sec-WebSocket-Key`, ...) plus the signed
/// KSO-1 headers for `date` (pass `SystemTime::now()`), a `User-Agent` and the application's
/// extra headers ([`ConnectRequest::extra_headers`]).
///
/// # Errors
/// [`TransportError::Request`] when the URL or a header value cannot be put on the wire.
pub fn client_request(
    request: &ConnectRequest,
    date: SystemTime,
) -> Result<Request, TransportError> {
    let mut req = request
        .url()
        .into_client_request()
        .map_err(|e| TransportError::Request(e.to_string()))?;
    let headers = req.headers_mut();
    headers.insert(
        http::header::USER_AGENT,
        HeaderValue::from_static(USER_AGENT),
    );
    for (name, value) in request.headers(date).iter() {
        let (name, value) = header(name, value)?;
        headers.insert(name, value);
    }
    for (name, value) in request.extra_headers() {
        // Checked by the config's build; mapped again here only to fit http's types.
        let (name, value) = header(name, value)?;
        headers.append(name, value);
    }
    Ok(req)
}

/// One header in http's types. The value is never shown in the error: the signed headers
/// carry the signature.
fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), TransportError> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| TransportError::Request(format!("header name {name}: {e}")))?;
    let value = HeaderValue::from_str(value).map_err(|_| {
        TransportError::Request(format!(
            "header {name} holds characters HTTP does not allow"
        ))
    })?;
    Ok((name, value))
}

/// The WebSocket settings every runtime uses: messages and frames up to 16 MiB, a 16 KiB read
/// buffer (events are small), writes flushed by the runtime and a bounded write buffer.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(1 << 20)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant, UNIX_EPOCH};

    use open_event_core::config::Config;
    use open_event_core::connection::{Action, Connection};
    use open_event_core::kso1;

    use super::*;

    fn connect_request(endpoint: &str, ack_mode: bool) -> ConnectRequest {
        let config = Config::builder("AK123456", "sk098765")
            .endpoint(endpoint)
            .ack_mode(ack_mode)
            .build()
            .unwrap();
        let mut conn = Connection::new(Arc::new(config), Instant::now(), 1);
        match conn.poll_action() {
            Some(Action::Connect(req)) => req,
            other => panic!("expected Connect, got {other:?}"),
        }
    }

    #[test]
    fn request_carries_the_upgrade_and_signed_headers() {
        let req = connect_request("ws://127.0.0.1:9000/v7/event/ws?x=1", true);
        let date = UNIX_EPOCH + Duration::from_secs(1_136_214_245);
        let http = client_request(&req, date).unwrap();
        assert_eq!(
            http.uri().to_string(),
            "ws://127.0.0.1:9000/v7/event/ws?x=1"
        );
        let h = http.headers();
        assert_eq!(h["host"], "127.0.0.1:9000");
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["sec-websocket-version"], "13");
        assert!(h.contains_key("sec-websocket-key"));
        assert_eq!(h[kso1::HEADER_DATE], "Mon, 02 Jan 2006 15:04:05 GMT");
        assert_eq!(h[kso1::HEADER_ACK_MODE], kso1::ACK_MODE_REQUIRED);
        let expected = req.headers(date);
        assert_eq!(
            h[kso1::HEADER_AUTHORIZATION],
            expected.authorization.as_str()
        );
        assert!(
            h[http::header::USER_AGENT]
                .to_str()
                .unwrap()
                .starts_with("open-event-rs/")
        );
    }

    #[test]
    fn extra_headers_and_the_query_go_on_the_wire() {
        let config = Config::builder("AK123456", "sk098765")
            .endpoint("ws://127.0.0.1:9000/v7/event/ws?a=1")
            .query("region", "cn north")
            .header("X-Tenant", "t1")
            .header("x-tenant", "t2")
            .build()
            .unwrap();
        let mut conn = Connection::new(Arc::new(config), Instant::now(), 1);
        let Some(Action::Connect(req)) = conn.poll_action() else {
            panic!("expected Connect")
        };
        let date = UNIX_EPOCH + Duration::from_secs(1_136_214_245);
        let http = client_request(&req, date).unwrap();
        assert_eq!(
            http.uri().to_string(),
            "ws://127.0.0.1:9000/v7/event/ws?a=1&region=cn%20north"
        );
        let tenants: Vec<_> = http.headers().get_all("x-tenant").iter().collect();
        assert_eq!(tenants, ["t1", "t2"]);
        let signed = kso1::Request {
            method: "GET",
            request_uri: "/v7/event/ws?a=1&region=cn%20north",
            content_type: "",
            date: "Mon, 02 Jan 2006 15:04:05 GMT",
            body: b"",
        };
        let credentials = open_event_core::Credentials::new("AK123456", "sk098765");
        let authorization = http.headers()[kso1::HEADER_AUTHORIZATION].to_str().unwrap();
        assert_eq!(kso1::verify(&credentials, &signed, authorization), Ok(()));
    }

    #[test]
    fn no_ack_mode_header_without_ack_mode() {
        let req = connect_request("wss://openapi.wps.cn/v7/event/ws", false);
        let http = client_request(&req, SystemTime::now()).unwrap();
        assert!(!http.headers().contains_key(kso1::HEADER_ACK_MODE));
    }

    #[test]
    fn limits_are_deliberate() {
        let c = websocket_config();
        assert_eq!(c.max_message_size, Some(16 << 20));
        assert_eq!(c.max_frame_size, Some(16 << 20));
        assert!(c.read_buffer_size <= 64 * 1024);
        assert!(c.max_write_buffer_size > c.write_buffer_size);
    }
}
