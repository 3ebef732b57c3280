//! One connect attempt: TCP (to the proxy when one applies, then CONNECT), TLS for `wss://`,
//! and the WebSocket upgrade. The core bounds the whole attempt with `connect_timeout`; the
//! driver aborts this future when the core says so.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tokio::TokioAdapter;
use open_event_core::connection::{ConnectRequest, OpenError};
use open_event_transport::rustls::ClientConfig;
use open_event_transport::{
    ProxyOptions, Target, client_request, connect_request, io_open_error, open_error,
    parse_connect_response, websocket_config,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The open WebSocket of one transport.
pub(crate) type Ws = WebSocketStream<TokioAdapter<MaybeTls>>;

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

    /// Runs one connect attempt to the end.
    pub(crate) async fn open(&self, request: ConnectRequest) -> Result<Ws, OpenError> {
        let target =
            Target::from_uri(request.url()).map_err(|e| OpenError::Transport(e.to_string()))?;
        let proxy = self
            .proxy
            .proxy_for(&target)
            .map_err(|e| OpenError::Transport(e.to_string()))?;
        let tcp = match &proxy {
            Some(proxy) => {
                let what = format!("TCP connect to the proxy {proxy}");
                let mut tcp = tcp_connect(&proxy.authority(), &what).await?;
                tracing::debug!(target: "open_event", "tunnelling through {proxy}");
                tunnel(&mut tcp, proxy, &target).await?;
                tcp
            }
            None => {
                let authority = target.authority();
                tcp_connect(&authority, &format!("TCP connect to {authority}")).await?
            }
        };
        let stream = if target.is_tls() {
            let tls = TlsConnector::from(Arc::clone(&self.tls))
                .connect(target.server_name(), tcp)
                .await
                .map_err(|e| {
                    io_open_error(&format!("TLS handshake with {}", target.authority()), &e)
                })?;
            MaybeTls::Tls(Box::new(tls))
        } else {
            MaybeTls::Plain(tcp)
        };
        let http = client_request(&request, SystemTime::now())
            .map_err(|e| OpenError::Transport(e.to_string()))?;
        let (ws, _response) = async_tungstenite::tokio::client_async_with_config(
            http,
            stream,
            Some(websocket_config()),
        )
        .await
        .map_err(|e| open_error(&e))?;
        Ok(ws)
    }
}

async fn tcp_connect(authority: &str, what: &str) -> Result<TcpStream, OpenError> {
    let tcp = TcpStream::connect(authority)
        .await
        .map_err(|e| io_open_error(what, &e))?;
    // Pongs and acks are tiny and latency-sensitive.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(target: "open_event", "cannot set TCP_NODELAY: {err}");
    }
    Ok(tcp)
}

/// Sends CONNECT and reads the proxy's answer.
async fn tunnel(
    tcp: &mut TcpStream,
    proxy: &open_event_transport::Proxy,
    target: &Target,
) -> Result<(), OpenError> {
    let what = format!("CONNECT through the proxy {proxy}");
    tcp.write_all(&connect_request(proxy, target.host(), target.port()))
        .await
        .map_err(|e| io_open_error(&what, &e))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tcp
            .read(&mut chunk)
            .await
            .map_err(|e| io_open_error(&what, &e))?;
        if n == 0 {
            return Err(OpenError::Transport(format!(
                "{what}: the proxy closed the connection before answering"
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_connect_response(&buf) {
            Ok(None) => {}
            Ok(Some(len)) if len == buf.len() => return Ok(()),
            Ok(Some(_)) => {
                return Err(OpenError::Transport(format!(
                    "{what}: the proxy sent data after its answer, before the tunnel was used; \
                     check that the proxy URL points at an HTTP proxy"
                )));
            }
            Err(err) => return Err(OpenError::Transport(err.to_string())),
        }
    }
}

/// A TCP stream, with or without TLS.
#[derive(Debug)]
pub(crate) enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
