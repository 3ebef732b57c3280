//! A tiny in-test platform server on tungstenite: checks the KSO-1 handshake, pushes sealed
//! events and pings, and records what the client sends back.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use open_event_core::Credentials;
use open_event_core::crypto::EventCipher;
use open_event_core::kso1;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::{Message, WebSocket};

pub const APP_ID: &str = "AK20240101TEST";
pub const SECRET: &str = "sk_test_secret_0123456789abcdef";

/// How long any wait of a test may take before it fails (generous: CI machines are busy).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A listener on an ephemeral loopback port and the `ws://` endpoint pointing at it.
pub fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, format!("ws://127.0.0.1:{port}/v7/event/ws"))
}

/// Checks the KSO-1 headers of an upgrade request; returns what is wrong.
pub fn check_handshake(request: &Request) -> Result<(), String> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| format!("missing header {name}"))
    };
    let date = header(kso1::HEADER_DATE)?;
    let authorization = header(kso1::HEADER_AUTHORIZATION)?;
    let ack_mode = header(kso1::HEADER_ACK_MODE)?;
    if ack_mode != kso1::ACK_MODE_REQUIRED {
        return Err(format!("X-Ack-Mode is {ack_mode:?}"));
    }
    if !authorization.starts_with(&format!("KSO-1 {APP_ID}:")) {
        return Err(format!(
            "authorization {authorization:?} has the wrong form"
        ));
    }
    let signed = kso1::parse_date(&date).map_err(|e| format!("bad date {date:?}: {e}"))?;
    let skew = SystemTime::now()
        .duration_since(signed)
        .unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(60) {
        return Err(format!("date {date:?} is {skew:?} off"));
    }
    let uri = request.uri();
    let request_uri = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let signed_request = kso1::Request {
        method: "GET",
        request_uri,
        content_type: "",
        date: &date,
        body: b"",
    };
    kso1::verify(
        &Credentials::new(APP_ID, SECRET),
        &signed_request,
        &authorization,
    )
    .map_err(|e| format!("signature does not verify: {e}"))
}

/// Accepts one WebSocket on `stream`, asserting the KSO-1 headers (a read timeout on the socket
/// is fine: the upgrade is resumed until it completes).
#[allow(clippy::result_large_err, reason = "tungstenite's callback signature")]
pub fn accept<S: Read + Write>(stream: S) -> WebSocket<S> {
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if let Err(problem) = check_handshake(request) {
            panic!("bad handshake: {problem}");
        }
        Ok(response)
    };
    let mut result = tungstenite::accept_hdr(stream, callback);
    let deadline = Instant::now() + PATIENCE;
    loop {
        match result {
            Ok(ws) => return ws,
            // The socket's read timeout: the client has not sent everything yet.
            Err(tungstenite::HandshakeError::Interrupted(mid)) => {
                assert!(
                    Instant::now() < deadline,
                    "the upgrade did not finish in time"
                );
                result = mid.handshake();
            }
            Err(tungstenite::HandshakeError::Failure(err)) => panic!("WebSocket upgrade: {err}"),
        }
    }
}

/// Accepts one TCP connection and upgrades it (see [`accept`]), with a short read timeout so
/// the server can interleave reads and writes.
pub fn accept_tcp(listener: &TcpListener) -> WebSocket<TcpStream> {
    let (tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    accept(tcp)
}

/// An event frame as the platform sends it (signed and encrypted for the test app).
pub fn event_frame(nonce: &str, data: &str) -> Message {
    let cipher = EventCipher::new(&Credentials::new(APP_ID, SECRET));
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let frame = cipher
        .seal("kso.app_chat", "create", time as i64, nonce, data)
        .unwrap();
    Message::text(frame.to_json())
}

/// What the server saw from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Ack { nonce: String, code: u64 },
    Pong(Vec<u8>),
    Close,
    Other(String),
}

impl Seen {
    pub fn is_ack_of(&self, nonce: &str) -> bool {
        matches!(self, Self::Ack { nonce: n, .. } if n == nonce)
    }
}

/// Reads one message if one arrives within the socket's read timeout. `None` on timeout; the
/// end of the connection is reported as [`Seen::Close`].
pub fn read_one<S: Read + Write>(ws: &mut WebSocket<S>) -> Option<Seen> {
    match ws.read() {
        Ok(Message::Text(text)) => {
            let json: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            if json["type"] == "ack" {
                Some(Seen::Ack {
                    nonce: json["nonce"].as_str().unwrap().to_owned(),
                    code: json["code"].as_u64().unwrap(),
                })
            } else {
                Some(Seen::Other(text.as_str().to_owned()))
            }
        }
        Ok(Message::Pong(payload)) => Some(Seen::Pong(payload.to_vec())),
        Ok(Message::Close(_)) => {
            // Send tungstenite's queued reply.
            let _ = ws.flush();
            Some(Seen::Close)
        }
        Ok(other) => Some(Seen::Other(format!("{other:?}"))),
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(_) => Some(Seen::Close),
    }
}

/// Reads into `log` until `done(log)` holds; panics after [`PATIENCE`].
pub fn read_until<S: Read + Write>(
    ws: &mut WebSocket<S>,
    log: &mut Vec<Seen>,
    done: impl Fn(&[Seen]) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    while !done(log) {
        assert!(
            Instant::now() < deadline,
            "timed out; the server saw {log:?}"
        );
        if let Some(seen) = read_one(ws) {
            let closed = seen == Seen::Close;
            log.push(seen);
            if closed && !done(log) {
                panic!("the client closed early; the server saw {log:?}");
            }
        }
    }
}

/// Whether `log` holds a close.
pub fn closed(log: &[Seen]) -> bool {
    log.contains(&Seen::Close)
}

/// The pong payloads in `log`, in order.
pub fn pongs(log: &[Seen]) -> Vec<Vec<u8>> {
    log.iter()
        .filter_map(|s| match s {
            Seen::Pong(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// Runs `f` on a thread named for the test; returns its join handle.
pub fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .unwrap()
}

/// Joins `handle`, failing the test if it does not finish within [`PATIENCE`].
pub fn join<T>(handle: thread::JoinHandle<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "a thread did not finish in time");
        thread::sleep(Duration::from_millis(5));
    }
    handle.join().unwrap()
}

/// A file in the temp directory, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(content: &[u8]) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "open-event-blocking-{}-{}.pem",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, content).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
