//! Accepting sockets and driving one WebSocket connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::{SinkExt as _, StreamExt as _};
use open_event_core::connection::CloseInfo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

use super::{ConnHandle, HIGH_WATER, Shared};
use crate::server::{ConnId, Handshake, HandshakeDecision, ServerFrame};

/// Bound on the TLS and WebSocket handshakes of one socket.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Frames written between two flushes at most.
const WRITE_BATCH: usize = 256;

/// Accepts sockets forever; each one gets its own task.
pub(super) async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: note it, breathe, go on.
                shared.transport_error(format!("accept failed: {err}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let task_shared = Arc::clone(&shared);
        let tls = tls.clone();
        let task = tokio::spawn(async move {
            match tls {
                None => serve(task_shared, stream).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve(task_shared, stream).await,
                        Ok(Err(err)) => {
                            task_shared.transport_error(format!(
                                "TLS handshake with {peer} failed: {err}"
                            ));
                        }
                        Err(_) => task_shared.transport_error(format!(
                            "TLS handshake with {peer} timed out after {HANDSHAKE_TIMEOUT:?}"
                        )),
                    }
                }
            }
        });
        shared.track(task);
    }
}

/// Upgrades one socket (the server decides the handshake) and runs the connection.
async fn serve<S>(shared: Arc<Shared>, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (frames, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let kill = Arc::new(Notify::new());
    let accepted: Arc<OnceLock<ConnId>> = Arc::new(OnceLock::new());
    let rejected = Arc::new(OnceLock::new());

    // The signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    let callback = {
        let shared = Arc::clone(&shared);
        let (queued, kill, accepted, rejected) = (
            Arc::clone(&queued),
            Arc::clone(&kill),
            Arc::clone(&accepted),
            Arc::clone(&rejected),
        );
        move |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
            let handshake = to_handshake(request);
            let wall = shared.clock.wall();
            let decision = shared.with_state(|state, now| {
                let decision = state.server.handle_handshake(now, wall, &handshake);
                if let HandshakeDecision::Accept { conn, .. } = decision {
                    // Registered before the actions are dispatched: redeliveries queue up.
                    state.conns.insert(
                        conn,
                        ConnHandle {
                            frames,
                            queued,
                            kill,
                        },
                    );
                }
                decision
            });
            match decision {
                HandshakeDecision::Accept { conn, .. } => {
                    let _ = accepted.set(conn);
                    Ok(response)
                }
                HandshakeDecision::Reject { status, body } => {
                    let _ = rejected.set(status);
                    let mut reply = ErrorResponse::new(Some(body));
                    *reply.status_mut() = http::StatusCode::from_u16(status)
                        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
                    reply.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                    Err(reply)
                }
            }
        }
    };

    let upgrade = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        async_tungstenite::tokio::accept_hdr_async(stream, callback),
    )
    .await;
    let ws = match upgrade {
        Ok(Ok(ws)) => ws,
        failed => {
            let why = match failed {
                Ok(Err(err)) => err.to_string(),
                _ => format!("the upgrade did not finish within {HANDSHAKE_TIMEOUT:?}"),
            };
            match accepted.get() {
                // Accepted, but the 101 response could not be written.
                Some(&conn) => shared.with_server(|server, now| {
                    server.handle_closed(now, conn, &CloseInfo::error(why));
                }),
                None if rejected.get().is_some() => {}
                None => shared.transport_error(format!("WebSocket upgrade failed: {why}")),
            }
            return;
        }
    };
    let Some(&conn) = accepted.get() else {
        return;
    };

    let (mut sink, mut stream) = ws.split();
    let reader = async {
        let mut closed: Option<CloseInfo> = None;
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Text(text)) => {
                    let stall = shared.with_server(|server, now| {
                        server.handle_text(now, conn, text.as_str());
                        server.take_read_stall(conn)
                    });
                    if let Some(until) = stall {
                        // Chaos or a hostile command: stop reading; the client's writes back
                        // up in the socket until its receive window is full.
                        tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
                    }
                }
                Ok(Message::Binary(data)) => {
                    shared.with_server(|server, now| server.handle_binary(now, conn, &data));
                }
                Ok(Message::Ping(payload)) => {
                    shared.with_server(|server, now| server.handle_ping(now, conn, &payload));
                }
                Ok(Message::Pong(payload)) => {
                    shared.with_server(|server, now| server.handle_pong(now, conn, &payload));
                }
                Ok(Message::Close(frame)) => {
                    closed = Some(match frame {
                        Some(frame) => {
                            CloseInfo::clean(Some(u16::from(frame.code)), frame.reason.as_str())
                        }
                        None => CloseInfo::clean(None, ""),
                    });
                }
                Ok(Message::Frame(_)) => {}
                // After a close frame the transport may end abruptly (no TLS close_notify).
                Err(_) if closed.is_some() => break,
                Err(err) => return CloseInfo::error(err.to_string()),
            }
        }
        closed.unwrap_or_else(|| CloseInfo::error("the connection ended without a close frame"))
    };
    let writer = write_frames(&shared, &mut sink, rx, &queued);

    let ended = tokio::select! {
        info = reader => Some(info),
        result = writer => result.err().map(|err| CloseInfo::error(format!("write failed: {err}"))),
        () = kill.notified() => None,
    };
    if let Some(info) = ended {
        // After a clean close only: an error means the client dropped the socket already.
        let held = (!info.error)
            .then(|| shared.with_state(|state, _| state.server.held_open_until(conn)))
            .flatten();
        if let Some(until) = held {
            // A half-closing peer: the WebSocket closed, the TCP connection stays open (the
            // socket halves live until this function returns) until the server drops it.
            let until = tokio::time::Instant::from_std(until);
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = kill.notified() => return,
            }
        }
        shared.with_state(|state, now| {
            state.conns.remove(&conn);
            state.server.handle_closed(now, conn, &info);
        });
    }
}

/// Writes queued frames in batches, flushing once per batch.
async fn write_frames<W>(
    shared: &Shared,
    sink: &mut W,
    mut rx: mpsc::UnboundedReceiver<ServerFrame>,
    queued: &AtomicUsize,
) -> Result<(), WsError>
where
    W: futures_util::Sink<Message, Error = WsError> + Unpin,
{
    while let Some(first) = rx.recv().await {
        let mut frame = Some(first);
        let mut written = 0;
        while let Some(next) = frame.take() {
            sink.feed(to_message(next)).await?;
            written += 1;
            if written < WRITE_BATCH {
                frame = rx.try_recv().ok();
            }
        }
        sink.flush().await?;
        let before = queued.fetch_sub(written, Ordering::Relaxed);
        if before >= HIGH_WATER && before - written < HIGH_WATER {
            shared.drained.notify_one();
        }
    }
    // The runner let go of this connection (the emulator is stopping).
    Ok(())
}

fn to_message(frame: ServerFrame) -> Message {
    match frame {
        ServerFrame::Text(text) => Message::text(text),
        ServerFrame::Ping(payload) => Message::Ping(payload.into()),
        ServerFrame::Binary(data) => Message::Binary(data.into()),
        ServerFrame::Close { code, reason } => Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        })),
    }
}

fn to_handshake(request: &Request) -> Handshake {
    Handshake {
        path_and_query: request
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
    }
}
