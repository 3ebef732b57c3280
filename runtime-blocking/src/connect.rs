//! One connect attempt: DNS, TCP, optional HTTP CONNECT through a proxy, TLS, WebSocket upgrade.
//!
//! It runs on a short-lived thread of its own, on a blocking socket with timeouts, so the IO
//! thread keeps serving the core's timers, handler outcomes and the stop flag meanwhile (DNS
//! resolution cannot be bounded on the calling thread). The result is posted to the IO thread's
//! inbox, which wakes it; the IO thread then switches the socket to non-blocking mode. The core
//! bounds the attempt with `connect_timeout`: when it gives up it emits `Disconnect`, the IO
//! thread raises the attempt's `abandon` flag and ignores its result; the attempt notices the
//! flag within one step and ends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use open_event_core::connection::{ConnectRequest, OpenError};
use open_event_transport::{
    Proxy, ProxyOptions, Target, client_request, connect_request, io_open_error, open_error,
    parse_connect_response, websocket_config,
};
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use tungstenite::HandshakeError;
use tungstenite::WebSocket;

use crate::stream::{Stream, Tcp, is_retry, timeout_as_would_block};

/// How long one blocking step of the attempt may take before it checks the abandon flag and the
/// deadline again.
const STEP: Duration = Duration::from_millis(50);

/// Grace past the deadline before an attempt ends by itself (normally the core's `Disconnect`
/// ends it first).
const GRACE: Duration = Duration::from_millis(500);

/// What every attempt of one client shares.
#[derive(Debug)]
pub(crate) struct Dialer {
    tls: Arc<ClientConfig>,
    proxy: ProxyOptions,
}

impl Dialer {
    pub(crate) fn new(tls: Arc<ClientConfig>, proxy: ProxyOptions) -> Self {
        Self { tls, proxy }
    }
}

/// One connect attempt.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) dialer: Arc<Dialer>,
    pub(crate) request: ConnectRequest,
    /// When the core's connect timer fires; the attempt never outlives it by more than
    /// [`GRACE`].
    pub(crate) deadline: Instant,
    pub(crate) abandon: Arc<AtomicBool>,
}

impl Attempt {
    /// Runs the attempt to its end: an open WebSocket, or why it failed.
    pub(crate) fn run(self) -> Result<WebSocket<Stream>, OpenError> {
        let target = Target::from_uri(self.request.url())
            .map_err(|e| OpenError::Transport(e.to_string()))?;
        let proxy = self
            .dialer
            .proxy
            .proxy_for(&target)
            .map_err(|e| OpenError::Transport(e.to_string()))?;
        let tcp = match &proxy {
            Some(proxy) => {
                let label = format!("the proxy {}", proxy.authority());
                let tcp = self.tcp_connect(&proxy.host, proxy.port, &label)?;
                self.tunnel(tcp, proxy, &target)?
            }
            None => self.tcp_connect(target.host(), target.port(), &target.authority())?,
        };
        // Acks and pongs are small: send them at once.
        let _ = tcp.set_nodelay(true);
        // Blocking steps of at most `STEP` (they surface as `WouldBlock`) until the IO thread
        // makes the socket non-blocking.
        tcp.set_read_timeout(Some(STEP))
            .and_then(|()| tcp.set_write_timeout(Some(STEP)))
            .map_err(|e| io_open_error("cannot set socket timeouts", &e))?;
        let tcp = Tcp::Blocking(tcp);
        let stream = if target.is_tls() {
            let conn = ClientConnection::new(Arc::clone(&self.dialer.tls), target.server_name())
                .map_err(|e| OpenError::Transport(format!("cannot start TLS: {e}")))?;
            Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        let request = client_request(&self.request, SystemTime::now())
            .map_err(|e| OpenError::Transport(e.to_string()))?;
        let mut result =
            tungstenite::client::client_with_config(request, stream, Some(websocket_config()));
        loop {
            match result {
                Ok((ws, _response)) => return Ok(ws),
                Err(HandshakeError::Failure(err)) => return Err(open_error(&err)),
                Err(HandshakeError::Interrupted(mid)) => {
                    self.check(&target)?;
                    result = mid.handshake();
                }
            }
        }
    }

    /// Resolves `host` and connects to its addresses in turn within the remaining time.
    /// `label` names the peer in errors (`example.com:443`, `the proxy 10.0.0.1:3128`).
    fn tcp_connect(&self, host: &str, port: u16, label: &str) -> Result<TcpStream, OpenError> {
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| io_open_error(&format!("cannot resolve {label}"), &e))?
            .collect();
        let mut last = None;
        for addr in addrs {
            if self.abandon.load(Ordering::Relaxed) {
                break;
            }
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(&addr, remaining) {
                Ok(tcp) => return Ok(tcp),
                Err(err) => last = Some((addr, err)),
            }
        }
        Err(match last {
            // Name the address tried when the host is a name (it may resolve to several).
            Some((addr, err)) if addr.ip().to_string() != host => {
                io_open_error(&format!("TCP connect to {label} ({addr})"), &err)
            }
            Some((_, err)) => io_open_error(&format!("TCP connect to {label}"), &err),
            None => OpenError::Transport(format!(
                "TCP connect to {label}: no address could be tried in time"
            )),
        })
    }

    /// Opens an HTTP CONNECT tunnel to `target` through `proxy` on `tcp`.
    fn tunnel(
        &self,
        mut tcp: TcpStream,
        proxy: &Proxy,
        target: &Target,
    ) -> Result<TcpStream, OpenError> {
        let io_err = |e: &std::io::Error| io_open_error(&format!("CONNECT through {proxy}"), e);
        tcp.set_read_timeout(Some(STEP)).map_err(|e| io_err(&e))?;
        tcp.set_write_timeout(Some(STEP)).map_err(|e| io_err(&e))?;
        let request = connect_request(proxy, target.host(), target.port());
        let mut written = 0;
        while written < request.len() {
            match tcp
                .write(&request[written..])
                .map_err(timeout_as_would_block)
            {
                Ok(0) => return Err(io_err(&std::io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) if is_retry(&e) => {
                    self.check(target)?;
                }
                Err(e) => return Err(io_err(&e)),
            }
        }
        // One byte at a time: nothing past the proxy's header may be swallowed (it would belong
        // to the endpoint). The header is short and this happens once per connect.
        let mut answer = Vec::with_capacity(256);
        let mut byte = [0u8; 1];
        loop {
            match tcp.read(&mut byte).map_err(timeout_as_would_block) {
                Ok(0) => {
                    return Err(io_err(&std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the proxy closed the connection before answering",
                    )));
                }
                Ok(_) => {
                    answer.push(byte[0]);
                    match parse_connect_response(&answer) {
                        Ok(Some(_)) => return Ok(tcp),
                        Ok(None) => {}
                        Err(e) => return Err(OpenError::Transport(e.to_string())),
                    }
                }
                Err(e) if is_retry(&e) => {
                    self.check(target)?;
                }
                Err(e) => return Err(io_err(&e)),
            }
        }
    }

    /// Fails when the core gave the attempt up or its time ran out.
    fn check(&self, target: &Target) -> Result<(), OpenError> {
        if self.abandon.load(Ordering::Relaxed) {
            return Err(OpenError::Transport(
                "the connect attempt was abandoned".to_owned(),
            ));
        }
        if Instant::now() >= self.deadline + GRACE {
            return Err(OpenError::Transport(format!(
                "the connect attempt to {} did not finish in time",
                target.authority()
            )));
        }
        Ok(())
    }
}
