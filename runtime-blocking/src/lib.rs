//! Receive events from the WPS open platform over its WebSocket long connection, on plain
//! threads: no async runtime.
//!
//! [`Client::run`] blocks the calling thread. It drives the sans-IO protocol core
//! (`open-event-core`) on that one IO thread (tungstenite over rustls) and runs your handlers
//! on a pool of worker threads, so a slow handler never delays pongs, other acks or reading.
//! Acks go out when a handler returns; a handler error (or panic) is acked with 500 so the
//! platform redelivers the event.
//!
//! # Example: one handler for every event
//!
//! ```no_run
//! use open_event_blocking::Client;
//!
//! let client = Client::builder("AK20240101TEST", "your app secret")
//!     .handler(|event| {
//!         println!("{}: {}", event.event_code(), event.data);
//!         Ok::<(), std::io::Error>(())
//!     })
//!     .build()?;
//! let handle = client.handle(); // stop it from another thread with handle.stop()
//! client.run()?; // blocks until stopped
//! # let _ = handle;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: a dispatcher with typed events
//!
//! ```no_run
//! use open_event_blocking::{Client, Dispatcher, Event, Handler, model::AppChatMessageCreate};
//!
//! let mut dispatcher = Dispatcher::new();
//! dispatcher.on_app_chat_message_create(|_event: Event, message: AppChatMessageCreate| {
//!     println!("chat {}: {:?}", message.chat.id, message.message.content.text);
//!     Ok::<(), std::io::Error>(())
//! });
//! dispatcher.fallback(Handler::new(|event: Event| {
//!     println!("other event {}", event.event_code());
//!     Ok::<(), std::io::Error>(())
//! }));
//! let client = Client::builder("AK20240101TEST", "your app secret")
//!     .dispatcher(dispatcher)
//!     .on_notice(|notice| eprintln!("{notice}"))
//!     .build()?;
//! if let Err(reason) = client.run() {
//!     eprintln!("stopped: {reason}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Threads
//!
//! - The thread calling [`Client::run`] is the IO thread: it owns the connection and blocks on
//!   the socket for at most a few tens of milliseconds at a time, which bounds how late a stop
//!   request or a handler's outcome is noticed.
//! - Handlers run on worker threads started on demand, at most `min(max_in_flight, 64)`; the
//!   core bounds the deliveries in flight (`max_in_flight`) and pauses reading when its backlog
//!   is full.
//! - Each connect attempt (DNS, TCP, proxy CONNECT, TLS, WebSocket upgrade) runs on a
//!   short-lived thread, bounded by `connect_timeout`.
//!
//! # Security
//!
//! The event signature does not cover `operation`, and acks are not signed: the channel's TLS
//! is what protects them. Keep the default `wss://` endpoint and certificate verification on.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connect;
mod driver;
mod pool;
mod stream;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use open_event_core::config::ConfigError;
pub use open_event_core::connection::{Notice, Outcome, State, StopReason};
pub use open_event_core::handler::BlockingHandler as Handler;
pub use open_event_core::handler::HandlerError;
pub use open_event_core::stats::Stats;
pub use open_event_core::{AppSecret, Event, model};
pub use open_event_transport::{Roots, TlsOptions, TransportError};

use open_event_core::config::{Config, ConfigBuilder};
use open_event_transport::{ProxyOptions, Target};

use crate::connect::Dialer;
use crate::driver::Driver;

/// Routes events to handlers by event code; see `open_event_core::dispatcher::Dispatcher`.
pub type Dispatcher = open_event_core::dispatcher::Dispatcher<Handler>;

/// The lifecycle callback set with [`ClientBuilder::on_notice`].
type NoticeFn = Arc<dyn Fn(&Notice) + Send + Sync + 'static>;

/// An event long-connection client. Build it with [`Client::builder`], start it with
/// [`Client::run`].
pub struct Client {
    config: Arc<Config>,
    dialer: Arc<Dialer>,
    dispatcher: Arc<Dispatcher>,
    on_notice: Option<NoticeFn>,
    seed: u64,
    shared: Arc<Shared>,
}

impl Client {
    /// Starts a builder with every default; only the credentials are required.
    pub fn builder(app_id: impl Into<String>, app_secret: impl Into<AppSecret>) -> ClientBuilder {
        ClientBuilder {
            config: Config::builder(app_id, app_secret),
            dispatcher: None,
            tls: TlsOptions::default(),
            proxy: ProxyOptions {
                url: None,
                from_env: false,
            },
            on_notice: None,
            seed: None,
        }
    }

    /// A handle to stop the client and read its state, usable from any thread.
    pub fn handle(&self) -> ClientHandle {
        ClientHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Connects and handles events on the calling thread until the client stops: reconnects
    /// with backoff after failures, as configured.
    ///
    /// # Errors
    /// `Ok(())` after a stop requested with [`ClientHandle::stop`]; otherwise the reason it
    /// stopped for good (never [`StopReason::Requested`]): the handshake was rejected (401/403),
    /// the server replaced the connection, retries were exhausted, or the connection was lost
    /// with auto reconnect off.
    pub fn run(self) -> Result<(), StopReason> {
        tracing::debug!(seed = self.seed, "open-event-blocking client starting");
        Driver::new(
            self.config,
            self.dialer,
            self.dispatcher,
            self.on_notice,
            self.shared,
            self.seed,
        )
        .run()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("dispatcher", &self.dispatcher)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]: every setting of the core (same names, defaults and ranges as
/// `open_event_core::config::ConfigBuilder`), the handlers, TLS and proxy.
pub struct ClientBuilder {
    config: ConfigBuilder,
    dispatcher: Option<Dispatcher>,
    tls: TlsOptions,
    proxy: ProxyOptions,
    on_notice: Option<NoticeFn>,
    seed: Option<u64>,
}

impl ClientBuilder {
    open_event_core::delegate_config_setters!(config);

    /// Routes events with this dispatcher (typed handlers, per-code handlers, a fallback).
    /// Replaces an earlier [`ClientBuilder::dispatcher`] or [`ClientBuilder::handler`].
    #[must_use]
    pub fn dispatcher(mut self, dispatcher: Dispatcher) -> Self {
        self.dispatcher = Some(dispatcher);
        self
    }

    /// One handler for every event (a dispatcher with only a fallback). It runs on a worker
    /// thread; `Ok` acks the event with 200, an error or a panic acks it with 500 and the
    /// error's text. Replaces an earlier [`ClientBuilder::dispatcher`] or
    /// [`ClientBuilder::handler`].
    #[must_use]
    pub fn handler<F, E>(mut self, f: F) -> Self
    where
        F: Fn(Event) -> Result<(), E> + Send + Sync + 'static,
        E: Into<HandlerError> + 'static,
    {
        let mut dispatcher = Dispatcher::new();
        dispatcher.fallback(Handler::new(f));
        self.dispatcher = Some(dispatcher);
        self
    }

    /// Calls `f` with every lifecycle notice (connected, reconnecting, goaway, rejected frames,
    /// stopped, ...), on the IO thread, in addition to the `tracing` logs. Keep it short.
    #[must_use]
    pub fn on_notice(mut self, f: impl Fn(&Notice) + Send + Sync + 'static) -> Self {
        self.on_notice = Some(Arc::new(f));
        self
    }

    /// All TLS settings at once (replaces earlier TLS settings).
    #[must_use]
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Trusts the operating system's certificate store instead of the bundled WebPKI roots.
    /// Default: off (WebPKI roots).
    #[must_use]
    pub fn native_roots(mut self, native: bool) -> Self {
        self.tls.roots = if native { Roots::Native } else { Roots::WebPki };
        self
    }

    /// Also trusts the CA certificates in this PEM file (e.g. a private deployment's CA or a
    /// test CA). May be given more than once.
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.extra_ca_files.push(path.into());
        self
    }

    /// Accepts any server certificate. **Dangerous**: anyone on the path can read and forge
    /// events and acks. For tests against self-signed servers only; logs a warning.
    #[must_use]
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.tls.danger_accept_invalid_certs = accept;
        self
    }

    /// Connects through this HTTP proxy (`http://[user:password@]host[:port]`) with CONNECT.
    /// Overrides the environment.
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy.url = Some(url.into());
        self
    }

    /// Takes the proxy from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (and their lowercase
    /// forms), honouring `NO_PROXY`. Default: off.
    #[must_use]
    pub fn proxy_from_env(mut self, from_env: bool) -> Self {
        self.proxy.from_env = from_env;
        self
    }

    /// The seed of the reconnect jitter (a run can be replayed with it). Default: drawn from OS
    /// entropy; logged at debug level when the client starts.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Validates the configuration, the TLS settings (CA files are read now) and the proxy URL.
    ///
    /// # Errors
    /// [`BuildError::Config`] for a setting out of range, [`BuildError::Transport`] for an
    /// unreadable CA file, an unusable endpoint or proxy URL.
    pub fn build(self) -> Result<Client, BuildError> {
        let config = Arc::new(self.config.build()?);
        let tls = self.tls.client_config()?;
        // Fails now rather than at the first connect when the proxy URL is unusable.
        self.proxy
            .proxy_for(&Target::from_uri(config.endpoint())?)?;
        let dispatcher = self.dispatcher.unwrap_or_else(|| {
            tracing::warn!(
                "no handler set: every event is acked as unhandled; set one with \
                 ClientBuilder::handler or ClientBuilder::dispatcher"
            );
            Dispatcher::new()
        });
        Ok(Client {
            config,
            dialer: Arc::new(Dialer {
                tls,
                proxy: self.proxy,
            }),
            dispatcher: Arc::new(dispatcher),
            on_notice: self.on_notice,
            seed: self.seed.unwrap_or_else(entropy_seed),
            shared: Arc::new(Shared::new()),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("dispatcher", &self.dispatcher)
            .field("tls", &self.tls)
            .field("proxy_from_env", &self.proxy.from_env)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Stops a [`Client`] and reads its state; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct ClientHandle {
    shared: Arc<Shared>,
}

impl ClientHandle {
    /// Asks the client to stop gracefully: no new events are taken, handlers still running get
    /// up to `drain_timeout` and their acks are sent, then the WebSocket is closed and
    /// [`Client::run`] returns `Ok(())`. Idempotent; works before `run` too.
    ///
    /// It only sets an atomic flag, so it is safe to call from a signal handler; the IO thread
    /// notices it within a few tens of milliseconds.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
    }

    /// Where the connection is (as of the IO thread's last turn).
    pub fn state(&self) -> State {
        self.shared.snapshot().0
    }

    /// The counters (as of the IO thread's last turn).
    pub fn stats(&self) -> Stats {
        self.shared.snapshot().1
    }

    /// Whether the client stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.state() == State::Stopped
    }
}

impl fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandle")
            .field("state", &self.state())
            .field("stop_requested", &self.shared.stop.load(Ordering::Relaxed))
            .finish()
    }
}

/// Why a [`ClientBuilder`] could not build a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A TLS or proxy setting, or the endpoint, cannot be used.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// What the IO thread shares with the handles.
#[derive(Debug)]
struct Shared {
    /// Set by [`ClientHandle::stop`]; read by the IO thread every turn.
    stop: AtomicBool,
    snapshot: Mutex<(State, Stats)>,
}

impl Shared {
    fn new() -> Self {
        Self {
            stop: AtomicBool::new(false),
            snapshot: Mutex::new((State::Connecting, Stats::default())),
        }
    }

    fn publish(&self, state: State, stats: &Stats) {
        let mut snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        snapshot.0 = state;
        snapshot.1.clone_from(stats);
    }

    fn snapshot(&self) -> (State, Stats) {
        self.snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A seed from OS entropy: std's `RandomState` keys come from the OS generator.
fn entropy_seed() -> u64 {
    use std::hash::BuildHasher;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::hash::RandomState::new().hash_one(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_and_handle_is_send_sync() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync + Clone>() {}
        send::<Client>();
        send_sync::<ClientHandle>();
    }

    #[test]
    fn handle_reflects_stop_requests_before_run() {
        let client = Client::builder("AK123456", "sk098765")
            .endpoint("ws://127.0.0.1:9/v7/event/ws")
            .build()
            .unwrap();
        let handle = client.handle();
        assert_eq!(handle.state(), State::Connecting);
        assert!(!handle.is_stopped());
        handle.clone().stop();
        assert!(format!("{handle:?}").contains("stop_requested: true"));
        assert!(!format!("{client:?}").contains("sk098765"));
    }
}
