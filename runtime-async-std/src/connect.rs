//! One connect attempt: TCP (direct, or through an HTTP CONNECT proxy), TLS with rustls for
//! `wss://`, then the WebSocket upgrade with the signed handshake headers.
//!
//! The attempt has no timeout of its own: the core bounds it with `connect_timeout` and answers
//! a late attempt with `Action::Disconnect`, on which the driver drops this future.

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use async_net::TcpStream;
use async_tungstenite::WebSocketStream;
use futures_rustls::TlsConnector;
use futures_rustls::client::TlsStream;
use futures_util::future::Either;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use open_event_core::connection::{ConnectRequest, OpenError};
use open_event_transport::{self as transport, Proxy, ProxyOptions, Target};
use transport::rustls::ClientConfig;

/// The byte stream under the WebSocket: plain TCP for `ws://`, TLS over TCP for `wss://`.
pub(crate) type Stream = Either<TcpStream, TlsStream<TcpStream>>;
/// An open WebSocket.
pub(crate) type Ws = WebSocketStream<Stream>;

/// The largest proxy answer to CONNECT we read before giving up on it.
const MAX_PROXY_RESPONSE: usize = 16 * 1024;

/// What every connect attempt of one client shares.
#[derive(Debug)]
pub(crate) struct Dialer {
    tls: Arc<ClientConfig>,
    proxy: ProxyOptions,
}

impl Dialer {
    pub(crate) fn new(tls: Arc<ClientConfig>, proxy: ProxyOptions) -> Self {
        Self { tls, proxy }
    }

    /// Opens the WebSocket `request` asks for.
    pub(crate) async fn open(&self, request: ConnectRequest) -> Result<Ws, OpenError> {
        let target = Target::from_uri(request.url()).map_err(transport_error)?;
        let proxy = self.proxy.proxy_for(&target).map_err(transport_error)?;
        let tcp = match &proxy {
            Some(proxy) => tunnel(proxy, &target).await?,
            None => {
                let what = format!("TCP connect to {}", target.authority());
                dial(target.host(), target.port(), &what).await?
            }
        };
        // Acks and pongs are small and latency matters more than packet count.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "TCP_NODELAY not set");
        }
        let stream = if target.is_tls() {
            let connector = TlsConnector::from(Arc::clone(&self.tls));
            let tls = connector
                .connect(target.server_name(), tcp)
                .await
                .map_err(|err| {
                    transport::io_open_error(
                        &format!("TLS handshake with {}", target.authority()),
                        &err,
                    )
                })?;
            Either::Right(tls)
        } else {
            Either::Left(tcp)
        };
        let handshake =
            transport::client_request(&request, SystemTime::now()).map_err(transport_error)?;
        let (ws, _response) = async_tungstenite::client_async_with_config(
            handshake,
            stream,
            Some(transport::websocket_config()),
        )
        .await
        .map_err(|err| transport::open_error(&err))?;
        Ok(ws)
    }
}

/// Resolves `host` and connects to the first address that answers.
async fn dial(host: &str, port: u16, what: &str) -> Result<TcpStream, OpenError> {
    TcpStream::connect((host, port))
        .await
        .map_err(|err| transport::io_open_error(what, &err))
}

/// Connects to `proxy` and asks it for a tunnel to `target` (HTTP CONNECT).
async fn tunnel(proxy: &Proxy, target: &Target) -> Result<TcpStream, OpenError> {
    let what = format!("TCP connect to proxy {}", proxy.authority());
    let mut tcp = dial(&proxy.host, proxy.port, &what).await?;
    let io_err = |err: io::Error| transport::io_open_error("HTTP CONNECT through the proxy", &err);
    tcp.write_all(&transport::connect_request(
        proxy,
        target.host(),
        target.port(),
    ))
    .await
    .map_err(io_err)?;
    tcp.flush().await.map_err(io_err)?;
    let mut answer = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = tcp.read(&mut chunk).await.map_err(io_err)?;
        if n == 0 {
            return Err(OpenError::Transport(
                "the proxy closed the connection before answering CONNECT; check the proxy URL"
                    .to_owned(),
            ));
        }
        answer.extend_from_slice(&chunk[..n]);
        if let Some(consumed) =
            transport::parse_connect_response(&answer).map_err(transport_error)?
        {
            if consumed != answer.len() {
                // The server speaks only after our TLS hello or upgrade request.
                return Err(OpenError::Transport(
                    "the proxy sent data after its answer to CONNECT; check the proxy URL"
                        .to_owned(),
                ));
            }
            return Ok(tcp);
        }
        if answer.len() > MAX_PROXY_RESPONSE {
            return Err(OpenError::Transport(format!(
                "the proxy's answer to CONNECT is longer than {MAX_PROXY_RESPONSE} bytes; check \
                 the proxy URL"
            )));
        }
    }
}

fn transport_error(err: transport::TransportError) -> OpenError {
    OpenError::Transport(err.to_string())
}
