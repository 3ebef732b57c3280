//! The tokio loopback runner: the sans-IO [`Server`] behind a real WebSocket listener.
//!
//! [`Emulator::start`] binds a TCP listener (`127.0.0.1:0` unless told otherwise), accepts
//! WebSocket upgrades with async-tungstenite, lets the [`Server`] decide each handshake (a
//! rejection is a plain HTTP response with the server's status and body), then drives every
//! accepted connection: frames the server asks for are written in batches, and what the client
//! sends (acks, pongs, closes) is fed back. One tokio sleep serves all of the server's timers.
//!
//! As on the platform, one connection of the app is active at a time: a new valid connection
//! replaces the old one, which gets GoAway `connection_replaced` (or only a close frame when
//! [`ServerConfig::notify_replaced`] is off).
//!
//! ```no_run
//! use std::time::Duration;
//! use open_event_emulator::runner::{Emulator, EmulatorOptions};
//! use open_event_emulator::server::EventSpec;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::start(EmulatorOptions::default()).await?;
//! println!("connect to {} as {:?}", emulator.url(), emulator.credentials());
//! emulator.push_event(EventSpec::chat_message("hello"))?;
//! emulator.wait_for_acks(1, Duration::from_secs(5)).await?;
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod conn;

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use open_event_core::Credentials;
use open_event_core::codec::GoAwayReason;
use open_event_core::crypto::EventCipher;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::server::{
    CommandError, ConnId, EventSpec, Malformed, PushError, Report, Script, Server, ServerAction,
    ServerConfig, ServerFrame,
};

/// Frames queued for one connection above which the server's sends wait for the writer.
const HIGH_WATER: usize = 16 * 1024;

/// How long [`EmulatorHandle::shutdown`] waits for clients to answer its close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Entry point of the loopback runner: [`Emulator::start`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Emulator;

/// How to start an [`Emulator`].
///
/// ```
/// use std::time::Duration;
/// use open_event_core::Credentials;
/// use open_event_emulator::runner::EmulatorOptions;
/// use open_event_emulator::server::ServerConfig;
///
/// let options = EmulatorOptions::new(
///     ServerConfig::new(Credentials::new("AK123456", "sk098765")).ping_interval(Duration::from_millis(50)),
/// )
/// .bind("127.0.0.1:0".parse().unwrap());
/// assert_eq!(options.server_config().credentials.app_id(), "AK123456");
/// ```
#[derive(Clone)]
pub struct EmulatorOptions {
    server: ServerConfig,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    clock_offset: i64,
    recv_buffer: Option<u32>,
    max_segment: Option<u32>,
}

impl Default for EmulatorOptions {
    /// A made-up app (random credentials), `127.0.0.1:0`, no TLS, every server default.
    fn default() -> Self {
        Self::new(ServerConfig::generated(fastrand::u64(..)))
    }
}

impl EmulatorOptions {
    /// Serves the app and behaviour of `server`, on `127.0.0.1:0`, without TLS.
    pub fn new(server: ServerConfig) -> Self {
        Self {
            server,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: None,
            clock_offset: 0,
            recv_buffer: None,
            max_segment: None,
        }
    }

    /// Listens on `addr` (port 0 picks a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Serves `wss://` with this rustls server config (certificate and key included).
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Runs the server's wall clock `seconds` ahead of this machine's (negative: behind), to
    /// test how a client deals with a rejected `X-Kso-Date`.
    pub fn clock_offset(mut self, seconds: i64) -> Self {
        self.clock_offset = seconds;
        self
    }

    /// Sets the receive buffer (`SO_RCVBUF`) of the listener, which accepted sockets inherit:
    /// a small one makes the TCP receive window fill fast when the server stops reading (see
    /// [`Server::stall_reading`]), so a client's writes back up after kilobytes, not megabytes.
    /// Default: the system's (autotuned).
    pub fn recv_buffer(mut self, bytes: u32) -> Self {
        self.recv_buffer = Some(bytes);
        self
    }

    /// Sets the maximum segment size (`TCP_MAXSEG`, Unix only) the listener advertises, which
    /// accepted sockets inherit. On loopback (MSS 64 KiB) a client's kernel sizes its send
    /// buffer from the MSS, to megabytes; a small MSS keeps it to tens of kilobytes, so with
    /// [`EmulatorOptions::recv_buffer`] a server that stops reading makes the client's writes
    /// back up after kilobytes. Default: the system's.
    pub fn max_segment(mut self, bytes: u32) -> Self {
        self.max_segment = Some(bytes);
        self
    }

    /// The server settings.
    pub fn server_config(&self) -> &ServerConfig {
        &self.server
    }
}

impl fmt::Debug for EmulatorOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorOptions")
            .field("server", &self.server)
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .field("clock_offset", &self.clock_offset)
            .field("recv_buffer", &self.recv_buffer)
            .field("max_segment", &self.max_segment)
            .finish()
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}; pick another address, or port 0 for a free one")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A condition awaited with [`EmulatorHandle::wait_for`] did not come true in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the emulator's condition was not met within {timeout:?} (server saw: {summary})")]
pub struct WaitTimeout {
    /// How long it waited.
    pub timeout: Duration,
    /// A one-line summary of the report when it gave up.
    pub summary: String,
}

impl Emulator {
    /// Binds the listener and starts serving; returns once the address is known.
    ///
    /// Needs a tokio runtime with IO and time enabled.
    ///
    /// # Errors
    /// [`EmulatorError::Bind`] when the address cannot be bound.
    pub async fn start(options: EmulatorOptions) -> Result<EmulatorHandle, EmulatorError> {
        let listener = bind(options.addr, options.recv_buffer, options.max_segment)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: options.addr,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: options.addr,
                source,
            })?;
        let credentials = options.server.credentials.clone();
        let path = options.server.path.clone();
        let clock = Clock {
            offset: options.clock_offset,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                server: Server::new(options.server, clock.now(), clock.wall()),
                conns: HashMap::new(),
            }),
            clock,
            wake_driver: Notify::new(),
            changed: Notify::new(),
            drained: Notify::new(),
            tasks: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
        });
        let tls = options.tls.map(tokio_rustls::TlsAcceptor::from);
        let accept = tokio::spawn(conn::accept_loop(
            Arc::clone(&shared),
            listener,
            tls.clone(),
        ));
        let driver = tokio::spawn(drive(Arc::clone(&shared)));
        Ok(EmulatorHandle {
            shared,
            addr,
            scheme: if tls.is_some() { "wss" } else { "ws" },
            path,
            credentials,
            accept,
            driver,
        })
    }
}

/// A running emulator. Commands act at once; dropping the handle stops everything (use
/// [`EmulatorHandle::shutdown`] to close connections gracefully first).
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    scheme: &'static str,
    path: String,
    credentials: Credentials,
    accept: JoinHandle<()>,
    driver: JoinHandle<()>,
}

impl EmulatorHandle {
    /// The address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL, e.g. `ws://127.0.0.1:41234/v7/event/ws` (`wss://` with TLS).
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.addr, self.path)
    }

    /// The endpoint URL with `host` instead of the IP address (for TLS certificates issued to a
    /// name, e.g. `localhost`).
    pub fn url_with_host(&self, host: &str) -> String {
        format!("{}://{host}:{}{}", self.scheme, self.addr.port(), self.path)
    }

    /// The app's credentials: configure the client with them.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The cipher of the app's events (to open or seal frames in tests).
    pub fn cipher(&self) -> EventCipher {
        EventCipher::new(&self.credentials)
    }

    /// Pushes an event; returns its nonce. See [`Server::push_event`].
    ///
    /// # Errors
    /// [`PushError`] when the topic or the operation is empty.
    pub fn push_event(&self, event: EventSpec) -> Result<String, PushError> {
        self.shared
            .with_server(|server, now| server.push_event(now, event))
    }

    /// Pushes `count` copies of an event; returns their nonces. See [`Server::push_many`].
    ///
    /// # Errors
    /// [`PushError`] when the topic or the operation is empty.
    pub fn push_many(&self, count: u32, event: &EventSpec) -> Result<Vec<String>, PushError> {
        self.shared
            .with_server(|server, now| server.push_many(now, count, event))
    }

    /// Sends a GoAway on the active connection, then closes it. See [`Server::goaway`].
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn goaway(
        &self,
        reason: GoAwayReason,
        reconnect_ms: Option<u64>,
    ) -> Result<ConnId, CommandError> {
        self.shared
            .with_server(|server, now| server.goaway(now, reason, reconnect_ms))
    }

    /// Stops reading the active connection for `duration`. See [`Server::stall_reading`].
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn stall_reading(&self, duration: Duration) -> Result<ConnId, CommandError> {
        self.shared
            .with_server(|server, now| server.stall_reading(now, duration))
    }

    /// Sends a close frame on the active connection and keeps its socket open for `hold`. See
    /// [`Server::close_and_hold`].
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn close_and_hold(
        &self,
        code: u16,
        reason: &str,
        hold: Duration,
    ) -> Result<ConnId, CommandError> {
        self.shared
            .with_server(|server, now| server.close_and_hold(now, code, reason, hold))
    }

    /// Drops the active connection's socket at once, without a close frame. See
    /// [`Server::drop_connection`].
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn drop_connection(&self) -> Result<ConnId, CommandError> {
        self.shared
            .with_server(|server, now| server.drop_connection(now))
    }

    /// Drops every connection's socket at once, without a close frame.
    pub fn drop_connections(&self) -> Vec<ConnId> {
        self.shared.with_server(|server, now| server.drop_all(now))
    }

    /// Sends nothing on the active connection for `duration`. See [`Server::silence`].
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn silence(&self, duration: Duration) -> Result<ConnId, CommandError> {
        self.shared
            .with_server(|server, now| server.silence(now, duration))
    }

    /// Sends a malformed frame on the active connection. See [`Server::send_malformed`].
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn send_malformed(&self, kind: Malformed) -> Result<ConnId, CommandError> {
        self.shared
            .with_server(|server, now| server.send_malformed(now, kind))
    }

    /// Rejects the next `count` handshakes with `status`. See
    /// [`Server::reject_next_handshakes`].
    ///
    /// # Errors
    /// [`CommandError::InvalidStatus`] unless `status` is in 400..=599.
    pub fn reject_next_handshakes(&self, status: u16, count: u32) -> Result<(), CommandError> {
        self.shared
            .with_server(|server, _| server.reject_next_handshakes(status, count))
    }

    /// Limits the push rate (events per second; `None` for unlimited).
    pub fn set_push_rate(&self, rate: Option<NonZeroU32>) {
        self.shared
            .with_server(|server, now| server.set_push_rate(now, rate));
    }

    /// Plays `script` from now. See [`Server::play`].
    pub fn play(&self, script: Script) {
        self.shared
            .with_server(|server, now| server.play(now, script));
    }

    /// A snapshot of the report. For large runs prefer [`EmulatorHandle::with_report`], which
    /// does not copy it.
    pub fn report(&self) -> Report {
        self.with_report(Report::clone)
    }

    /// Reads the report in place.
    pub fn with_report<R>(&self, f: impl FnOnce(&Report) -> R) -> R {
        f(self.shared.lock().server.report())
    }

    /// Errors of connections that never reached the WebSocket layer (TLS handshakes, bad
    /// upgrade requests, timeouts), in order.
    pub fn transport_errors(&self) -> Vec<String> {
        lock(&self.shared.errors).clone()
    }

    /// Waits until `predicate` holds for the report (checked now and after every change).
    ///
    /// # Errors
    /// [`WaitTimeout`] when it does not hold within `timeout`.
    pub async fn wait_for(
        &self,
        mut predicate: impl FnMut(&Report) -> bool,
        timeout: Duration,
    ) -> Result<(), WaitTimeout> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.with_report(&mut predicate) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(WaitTimeout {
                    timeout,
                    summary: self.with_report(summary),
                });
            }
        }
    }

    /// Waits until `count` acks with 200 completed events.
    ///
    /// # Errors
    /// [`WaitTimeout`] when they do not arrive within `timeout`.
    pub async fn wait_for_acks(&self, count: u64, timeout: Duration) -> Result<(), WaitTimeout> {
        self.wait_for(|r| r.ack_counts.accepted >= count, timeout)
            .await
    }

    /// Waits until `count` handshakes were accepted in all.
    ///
    /// # Errors
    /// [`WaitTimeout`] when they do not happen within `timeout`.
    pub async fn wait_for_connections(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<(), WaitTimeout> {
        self.wait_for(|r| r.accepted() >= count, timeout).await
    }

    /// Waits until `count` handshakes (accepted or rejected) arrived in all.
    ///
    /// # Errors
    /// [`WaitTimeout`] when they do not arrive within `timeout`.
    pub async fn wait_for_handshakes(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<(), WaitTimeout> {
        self.wait_for(|r| r.handshakes.len() >= count, timeout)
            .await
    }

    /// Waits until every accepted connection has ended.
    ///
    /// # Errors
    /// [`WaitTimeout`] when one is still open after `timeout`.
    pub async fn wait_for_all_closed(&self, timeout: Duration) -> Result<(), WaitTimeout> {
        self.wait_for(|r| r.open_connections().next().is_none(), timeout)
            .await
    }

    /// Stops accepting, sends every connection a close frame (1001), waits up to a second for
    /// the clients to answer, then stops every task. Returns the final report (which includes
    /// how the clients answered the close).
    pub async fn shutdown(self) -> Report {
        self.accept.abort();
        self.shared
            .with_server(|server, now| server.close_all(now, 1001, "emulator shutting down"));
        let _ = self.wait_for_all_closed(SHUTDOWN_GRACE).await;
        self.report()
        // `Drop` aborts the rest.
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.accept.abort();
        self.driver.abort();
        for task in lock(&self.shared.tasks).drain(..) {
            task.abort();
        }
    }
}

impl fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("url", &self.url())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// State shared by the handle, the driver and the connection tasks.
struct Shared {
    state: Mutex<State>,
    clock: Clock,
    /// The server's next deadline may have changed.
    wake_driver: Notify,
    /// The report may have changed.
    changed: Notify,
    /// A writer's queue fell below the high-water mark.
    drained: Notify,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    errors: Mutex<Vec<String>>,
}

struct State {
    server: Server,
    conns: HashMap<ConnId, ConnHandle>,
}

/// How the runner reaches one connection's task.
struct ConnHandle {
    frames: mpsc::UnboundedSender<ServerFrame>,
    /// Frames queued and not written yet.
    queued: Arc<AtomicUsize>,
    /// Drop the socket now.
    kill: Arc<Notify>,
}

#[derive(Debug, Clone, Copy)]
struct Clock {
    offset: i64,
}

impl Clock {
    fn now(self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn wall(self) -> SystemTime {
        let now = SystemTime::now();
        let offset = Duration::from_secs(self.offset.unsigned_abs());
        if self.offset >= 0 {
            now + offset
        } else {
            now - offset
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Runs `f` on the state, performs the actions it caused and wakes whoever waits.
    fn with_state<R>(&self, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        let result = {
            let mut state = self.lock();
            let now = self.clock.now();
            let result = f(&mut state, now);
            state.dispatch();
            result
        };
        self.wake_driver.notify_one();
        self.changed.notify_waiters();
        result
    }

    fn with_server<R>(&self, f: impl FnOnce(&mut Server, Instant) -> R) -> R {
        self.with_state(|state, now| f(&mut state.server, now))
    }

    fn track(&self, task: JoinHandle<()>) {
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    fn transport_error(&self, error: String) {
        lock(&self.errors).push(error);
    }

    /// Whether some connection has so many frames queued that sends should wait.
    fn congested(&self) -> bool {
        self.lock()
            .conns
            .values()
            .any(|c| c.queued.load(Ordering::Relaxed) >= HIGH_WATER)
    }
}

impl State {
    /// Hands every pending server action to its connection's task.
    fn dispatch(&mut self) {
        while let Some(action) = self.server.poll_action() {
            match action {
                ServerAction::Send { conn, frame } => {
                    if let Some(handle) = self.conns.get(&conn) {
                        handle.queued.fetch_add(1, Ordering::Relaxed);
                        if handle.frames.send(frame).is_err() {
                            handle.queued.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                }
                ServerAction::Drop { conn } => {
                    if let Some(handle) = self.conns.remove(&conn) {
                        handle.kill.notify_one();
                    }
                }
            }
        }
    }
}

/// Binds the listener, with a receive buffer size and a maximum segment size when given.
async fn bind(
    addr: SocketAddr,
    recv_buffer: Option<u32>,
    max_segment: Option<u32>,
) -> std::io::Result<TcpListener> {
    if recv_buffer.is_none() && max_segment.is_none() {
        return TcpListener::bind(addr).await;
    }
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(bytes) = recv_buffer {
        socket.set_recv_buffer_size(bytes)?;
    }
    #[cfg(unix)]
    if let Some(bytes) = max_segment {
        socket2::SockRef::from(&socket).set_tcp_mss(bytes)?;
    }
    #[cfg(not(unix))]
    let _ = max_segment;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Runs the server's timers: one sleep until `poll_timeout`, woken early by any change.
async fn drive(shared: Arc<Shared>) {
    loop {
        let deadline = shared.lock().server.poll_timeout();
        let wake = shared.wake_driver.notified();
        match deadline {
            None => wake.await,
            Some(at) => {
                let at = tokio::time::Instant::from_std(at);
                tokio::select! {
                    () = wake => {}
                    () = tokio::time::sleep_until(at) => {
                        // Under load, let the writers catch up before producing more frames.
                        while shared.congested() {
                            tokio::select! {
                                () = shared.drained.notified() => {}
                                () = tokio::time::sleep(Duration::from_millis(5)) => {}
                            }
                        }
                        shared.with_server(|server, now| server.handle_timeout(now));
                    }
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One line about the report, for timeouts.
fn summary(report: &Report) -> String {
    format!(
        "{} handshakes, {} accepted, {} open; {} events pushed, {} sent, {} pending; acks: {} ok, \
         {} negative, {} duplicate, {} unknown",
        report.handshakes.len(),
        report.accepted(),
        report.open_connections().count(),
        report.events_pushed,
        report.events_sent,
        report.pending,
        report.ack_counts.accepted,
        report.ack_counts.negative,
        report.ack_counts.duplicate,
        report.ack_counts.unknown,
    )
}
