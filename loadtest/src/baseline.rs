//! The `baseline` runtime: the least a client of this protocol must do, written by hand, to
//! put the SDK's figures in scale. One tokio current-thread task connects with the signed
//! handshake, opens (verifies and decrypts) each event with the core's cipher and writes and
//! flushes its ack at once (one write per ack, no batching). No `Connection`, no dedup, no
//! handler dispatch, no reconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::client::IntoClientRequest as _;
use futures_util::StreamExt as _;
use open_event_core::crypto::EventCipher;
use open_event_core::{Credentials, codec, kso1};
use tokio::sync::Notify;

use crate::protocol::Hello;

/// What the baseline client shares with its handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The WebSocket is open.
    pub(crate) open: AtomicBool,
    /// Text frames received.
    pub(crate) received: AtomicU64,
    /// Acks with 200 written.
    pub(crate) acked: AtomicU64,
    /// Acks with 500 written (frames that did not open).
    pub(crate) failed: AtomicU64,
    /// Set by `stop`.
    pub(crate) stop: Notify,
}

/// Connects and acks every event until `shared.stop` is notified, then closes.
pub(crate) fn run(hello: &Hello, handled: &AtomicU64, shared: &Arc<Shared>) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start tokio: {e}"))?;
    rt.block_on(serve(hello, handled, shared))
}

async fn serve(hello: &Hello, handled: &AtomicU64, shared: &Shared) -> Result<(), String> {
    let credentials = Credentials::new(hello.app_id.as_str(), hello.app_secret.as_str());
    let uri: http::Uri = hello.url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let mut request = hello
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    for (name, value) in kso1::handshake_headers(&credentials, &uri, SystemTime::now(), true).iter()
    {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?,
            value
                .parse()
                .map_err(|e| format!("bad header value: {e}"))?,
        );
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("no host in {uri}"))?
        .as_str();
    let tcp = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("baseline connect to {authority} failed: {e}"))?;
    // Small acks must go out at once, as in the SDK's runtimes.
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut ws, _) = async_tungstenite::tokio::client_async(request, tcp)
        .await
        .map_err(|e| format!("baseline handshake failed: {e}"))?;
    shared.open.store(true, Ordering::Release);
    let cipher = EventCipher::new(&credentials);
    loop {
        let message = tokio::select! {
            () = shared.stop.notified() => break,
            message = ws.next() => message,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            // Pings are answered by tungstenite on the next write or flush.
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(format!("baseline read failed: {err}")),
            None => return Err("the server ended the connection".to_owned()),
        };
        shared.received.fetch_add(1, Ordering::Relaxed);
        let ack = match cipher.open_text(text.as_str()) {
            Ok(event) => {
                handled.fetch_add(1, Ordering::Relaxed);
                shared.acked.fetch_add(1, Ordering::Relaxed);
                codec::encode_ack(&event.nonce, 200, None)
            }
            Err(_) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        ws.send(Message::text(ack))
            .await
            .map_err(|e| format!("baseline write failed: {e}"))?;
    }
    shared.open.store(false, Ordering::Release);
    ws.close(None)
        .await
        .map_err(|e| format!("baseline close failed: {e}"))
}
