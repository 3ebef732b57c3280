//! A tiny blocking WebSocket server (one thread, plain tungstenite) that plays the platform in
//! the loopback tests, and helpers to run the client under either executor.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::pin::Pin;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use open_event_async_std::RunError;
use open_event_core::Credentials;
use open_event_core::codec::{Ack, decode_ack};
use open_event_core::crypto::EventCipher;
use open_event_core::kso1;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::{Message, WebSocket};

pub const APP_ID: &str = "AK20240101TEST";
pub const SECRET: &str = "sk_test_secret_0123456789abcdef";
pub const PATH: &str = "/v7/event/ws";

/// What the client's run future is handed to.
pub type RunFuture = Pin<Box<dyn Future<Output = Result<(), RunError>> + Send>>;

/// Runs `fut` under smol's executor.
pub fn on_smol(fut: RunFuture) -> Result<(), RunError> {
    smol::block_on(fut)
}

/// Runs `fut` under async-std's executor.
pub fn on_async_std(fut: RunFuture) -> Result<(), RunError> {
    async_std::task::block_on(fut)
}

/// A listening server on 127.0.0.1 and the endpoint URL that reaches it.
pub fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    (listener, format!("ws://127.0.0.1:{port}{PATH}"))
}

/// The handshake headers the server saw.
#[derive(Debug, Default, Clone)]
pub struct SeenHandshake {
    pub path: String,
    pub date: Option<String>,
    pub authorization: Option<String>,
    pub ack_mode: Option<String>,
}

impl SeenHandshake {
    /// Checks the KSO-1 headers: date present, signature valid for this app, ack mode asked.
    pub fn assert_kso1(&self) {
        assert_eq!(self.path, PATH);
        let date = self.date.as_deref().expect("X-Kso-Date header");
        let parsed = kso1::parse_date(date).expect("X-Kso-Date in RFC 1123 form");
        let skew = SystemTime::now()
            .duration_since(parsed)
            .unwrap_or_else(|e| e.duration());
        assert!(
            skew < Duration::from_secs(60),
            "date {date} is off by {skew:?}"
        );
        let authorization = self
            .authorization
            .as_deref()
            .expect("X-Kso-Authorization header");
        assert!(
            authorization.starts_with(&format!("KSO-1 {APP_ID}:")),
            "{authorization}"
        );
        let request = kso1::Request {
            method: "GET",
            request_uri: PATH,
            content_type: "",
            date,
            body: &[],
        };
        kso1::verify(&Credentials::new(APP_ID, SECRET), &request, authorization)
            .expect("a valid KSO-1 signature");
        assert_eq!(self.ack_mode.as_deref(), Some("required"));
    }
}

/// Accepts one WebSocket on `listener` and records its handshake headers.
#[allow(clippy::result_large_err)] // the callback's error type is tungstenite's
pub fn accept(listener: &TcpListener) -> (WebSocket<TcpStream>, SeenHandshake) {
    let (tcp, _) = listener.accept().expect("accept the client");
    // Bound every blocking read so a broken client fails the test instead of hanging it.
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut seen = SeenHandshake::default();
    let ws = tungstenite::accept_hdr(tcp, |req: &Request, resp: Response| {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        seen = SeenHandshake {
            path: req.uri().path().to_owned(),
            date: header(kso1::HEADER_DATE),
            authorization: header(kso1::HEADER_AUTHORIZATION),
            ack_mode: header(kso1::HEADER_ACK_MODE),
        };
        Ok(resp)
    })
    .expect("WebSocket handshake");
    (ws, seen)
}

/// An event frame as the platform sends it, sealed for the test app.
pub fn event_frame(topic: &str, operation: &str, nonce: &str, data: &str) -> String {
    let cipher = EventCipher::new(&Credentials::new(APP_ID, SECRET));
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    cipher
        .seal(topic, operation, time as i64, nonce, data)
        .expect("seal the event")
        .to_json()
}

/// What the server read from the client, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    Ack(Ack),
    Pong(Vec<u8>),
    Ping,
    Close(Option<u16>),
}

/// Reads the next frame from the client (acks are decoded).
pub fn next(ws: &mut WebSocket<TcpStream>) -> Option<Got> {
    match ws.read() {
        Ok(Message::Text(text)) => Some(Got::Ack(decode_ack(text.as_str()).expect("an ack frame"))),
        Ok(Message::Pong(payload)) => Some(Got::Pong(payload.to_vec())),
        Ok(Message::Ping(_)) => Some(Got::Ping),
        Ok(Message::Close(frame)) => Some(Got::Close(frame.map(|f| u16::from(f.code)))),
        Ok(Message::Binary(_) | Message::Frame(_)) => panic!("unexpected frame from the client"),
        Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => None,
        Err(err) => panic!("server read failed: {err}"),
    }
}

/// Reads until the client's close handshake ends; returns everything read.
pub fn read_to_end(ws: &mut WebSocket<TcpStream>) -> Vec<Got> {
    let mut got = Vec::new();
    while let Some(frame) = next(ws) {
        got.push(frame);
    }
    got
}

/// Joins the server thread, re-raising its panic (the real failure) if it had one.
pub fn join<T>(server: JoinHandle<T>) -> T {
    match server.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
