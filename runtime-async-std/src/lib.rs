//! A client for the WPS open platform's event long connection ("v7 event ws") that runs on the
//! [async-io](https://docs.rs/async-io) reactor, under the **smol** executor and under the
//! **async-std** executor alike.
//!
//! # async-std is discontinued
//!
//! async-std is discontinued upstream (its own README says so; RustSec advisory
//! RUSTSEC-2025-0052). This crate therefore does not depend on async-std at all: it is built on
//! async-io, async-net, futures-rustls and async-tungstenite, the stack smol uses, and
//! async-std sits on the same reactor, so [`Client::run`] works when awaited under
//! `smol::block_on` and under `async_std::task::block_on` (both are tested). Existing
//! async-std programs can keep using it; **new code should prefer smol**.
//!
//! # How it runs
//!
//! All protocol decisions (backoff, timers, acks, deduplication, graceful stop) live in the
//! sans-IO core, `open-event-core`. This crate is the loop around it: it dials (TCP, an
//! optional HTTP CONNECT proxy, rustls for `wss://`), performs the signed WebSocket upgrade,
//! reads and writes frames and runs your handlers. Nothing is spawned: reading, writing, the
//! one timer and every running handler are polled together inside the future returned by
//! [`Client::run`], so a slow handler never delays pongs, other events' acks or reading.
//! Handlers run concurrently up to the core's `max_in_flight` bound.
//!
//! Handlers must not block the thread: they share it with the connection. Move blocking or
//! CPU-heavy work off it, e.g. with `smol::unblock` or `async_std::task::spawn_blocking`. A
//! handler that returns an error or panics is acked with code 500 (the server may redeliver the
//! event).
//!
//! # Example: one handler for every event (smol)
//!
//! ```no_run
//! use open_event_async_std::Client;
//!
//! let client = Client::builder("AK20240101TEST", "your app secret")
//!     .handler(|event| async move {
//!         println!("{} {}", event.event_code(), event.data);
//!         Ok::<(), std::io::Error>(())
//!     })
//!     .build()?;
//! let handle = client.handle(); // handle.stop() from anywhere stops it gracefully
//! # let _ = handle;
//! smol::block_on(client.run())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: typed events with a dispatcher (async-std)
//!
//! ```no_run
//! use open_event_async_std::model::AppChatMessageCreate;
//! use open_event_async_std::{Client, Dispatcher, Event, Handler};
//!
//! let mut dispatcher = Dispatcher::new();
//! dispatcher.on_app_chat_message_create(|_event: Event, msg: AppChatMessageCreate| async move {
//!     println!("message {} in chat {}", msg.message.id, msg.chat.id);
//!     Ok::<(), std::io::Error>(())
//! });
//! dispatcher.fallback(Handler::new(|event: Event| async move {
//!     println!("not handled specially: {}", event.event_code());
//!     Ok::<(), std::io::Error>(())
//! }));
//!
//! let client = Client::builder("AK20240101TEST", "your app secret")
//!     .dispatcher(dispatcher)
//!     .on_notice(|notice| eprintln!("open-event: {notice}"))
//!     .build()?;
//! async_std::task::block_on(client.run())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security
//!
//! Events are signed and encrypted, but the signature does not cover `operation`, nor are
//! acks signed: the TLS of the `wss://` connection is what protects them. Keep certificate
//! verification on ([`ClientBuilder::danger_accept_invalid_certs`] is for local tests only).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connect;
mod driver;

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use futures_util::task::AtomicWaker;
use open_event_core::config::ConfigBuilder;
use open_event_core::connection::Connection;
use open_event_core::{AppSecret, config::Config};
use open_event_transport::ProxyOptions;

pub use open_event_core::config::ConfigError;
pub use open_event_core::connection::{Notice, Outcome, State, StopReason};
pub use open_event_core::handler::AsyncHandler as Handler;
pub use open_event_core::handler::HandlerError;
pub use open_event_core::stats::Stats;
pub use open_event_core::{Event, model};
pub use open_event_transport::{Roots, TlsOptions, TransportError};

use crate::connect::Dialer;
use crate::driver::Driver;

/// Routes events by event code to [`Handler`]s (typed registration included).
pub type Dispatcher = open_event_core::dispatcher::Dispatcher<Handler>;

/// The lifecycle callback set with [`ClientBuilder::on_notice`].
type NoticeFn = Arc<dyn Fn(&Notice) + Send + Sync + 'static>;

/// A configured client. [`Client::run`] connects and receives events until it stops.
pub struct Client {
    config: Arc<Config>,
    dispatcher: Dispatcher,
    dialer: Arc<Dialer>,
    on_notice: Option<NoticeFn>,
    seed: u64,
    shared: Arc<Shared>,
}

impl Client {
    /// Starts a builder; only the app id and secret are required.
    pub fn builder(app_id: impl Into<String>, app_secret: impl Into<AppSecret>) -> ClientBuilder {
        ClientBuilder {
            config: Config::builder(app_id, app_secret),
            dispatcher: None,
            on_notice: None,
            tls: TlsOptions::default(),
            proxy: ProxyOptions::default(),
            seed: None,
        }
    }

    /// A handle to stop the client and read its state and counters, from any thread.
    pub fn handle(&self) -> ClientHandle {
        ClientHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Connects and receives events until the client stops: after [`ClientHandle::stop`]
    /// (graceful: in-flight handlers finish and are acked, then the WebSocket is closed), or
    /// for good on an error.
    ///
    /// Await it under any executor on the async-io reactor: `smol::block_on`,
    /// `async_std::task::block_on`, a `smol::spawn`ed or `async_std::task::spawn`ed task.
    ///
    /// # Errors
    /// Why the client stopped when it was not asked to (never [`StopReason::Requested`]):
    /// the handshake was rejected (401/403), the connection was replaced by a newer one,
    /// retries ran out, or the connection was lost with auto reconnect off.
    pub async fn run(self) -> Result<(), StopReason> {
        let Self {
            config,
            dispatcher,
            dialer,
            on_notice,
            seed,
            shared,
        } = self;
        let span = tracing::info_span!("open_event", app_id = config.credentials().app_id());
        span.in_scope(|| {
            tracing::debug!(seed, "client starting (replay with ClientBuilder::seed)")
        });
        let conn = Connection::new(config, Instant::now(), seed);
        let mut driver = Driver::new(conn, dialer, dispatcher, on_notice, shared, span);
        std::future::poll_fn(|cx| driver.poll(cx)).await;
        driver.into_result()
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

/// Builds a [`Client`]: every config knob of the core (see
/// `open_event_core::config::ConfigBuilder` for defaults and ranges), the handlers, TLS and
/// proxy settings.
pub struct ClientBuilder {
    config: ConfigBuilder,
    dispatcher: Option<Dispatcher>,
    on_notice: Option<NoticeFn>,
    tls: TlsOptions,
    proxy: ProxyOptions,
    seed: Option<u64>,
}

impl ClientBuilder {
    open_event_core::delegate_config_setters!(config);

    /// Routes events with `dispatcher` (typed handlers, per-code handlers, a fallback).
    /// Replaces a dispatcher or handler set before.
    #[must_use]
    pub fn dispatcher(mut self, dispatcher: Dispatcher) -> Self {
        self.dispatcher = Some(dispatcher);
        self
    }

    /// One handler for every event (a dispatcher with only a fallback). Replaces a dispatcher
    /// or handler set before. Its error, or a panic, acks the event with code 500.
    #[must_use]
    pub fn handler<F, Fut, E>(self, f: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HandlerError> + 'static,
    {
        let mut dispatcher = Dispatcher::new();
        dispatcher.fallback(Handler::new(f));
        self.dispatcher(dispatcher)
    }

    /// Calls `f` with every lifecycle notice (connected, disconnected, reconnecting, goaway,
    /// rejected frames, slow handlers, stopped, ...), in addition to the `tracing` logs.
    /// Keep it quick: it runs on the client's loop.
    #[must_use]
    pub fn on_notice(mut self, f: impl Fn(&Notice) + Send + Sync + 'static) -> Self {
        self.on_notice = Some(Arc::new(f));
        self
    }

    /// All TLS settings at once (replaces those set before).
    #[must_use]
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Trust the operating system's certificate store instead of the bundled Mozilla roots
    /// (`webpki-roots`). Default: off.
    #[must_use]
    pub fn native_roots(mut self, native: bool) -> Self {
        self.tls.roots = if native { Roots::Native } else { Roots::WebPki };
        self
    }

    /// Also trust the CA certificates in this PEM file (e.g. a private deployment's CA or a
    /// test CA). May be called more than once; the file is read by [`ClientBuilder::build`].
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.extra_ca_files.push(path.into());
        self
    }

    /// **Dangerous**: accept any server certificate. Anyone on the path can then read and
    /// forge events. For local tests against a self-signed server only; a warning is logged.
    /// Default: off.
    #[must_use]
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.tls.danger_accept_invalid_certs = accept;
        self
    }

    /// Connect through this HTTP proxy (`http://[user:password@]host:port`, HTTP CONNECT).
    /// Takes precedence over [`ClientBuilder::proxy_from_env`].
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy.url = Some(url.into());
        self
    }

    /// Use the proxy named by `HTTPS_PROXY` / `https_proxy` (`HTTP_PROXY` and `ALL_PROXY` as
    /// fallbacks for `ws://`), honouring `NO_PROXY` / `no_proxy`. Default: off.
    #[must_use]
    pub fn proxy_from_env(mut self, from_env: bool) -> Self {
        self.proxy.from_env = from_env;
        self
    }

    /// The seed of the reconnect jitter (use one from a log to replay a run). Default: fresh
    /// from OS entropy; it is logged at debug level when the client starts.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Validates the configuration and the TLS settings (CA files are read here) and builds
    /// the client.
    ///
    /// # Errors
    /// [`BuildError::Config`] for a config value out of range, [`BuildError::Transport`] for a
    /// CA file that cannot be read or parsed, or an invalid proxy URL.
    pub fn build(self) -> Result<Client, BuildError> {
        let config = Arc::new(self.config.build()?);
        let tls = self.tls.client_config()?;
        // Check an explicit proxy URL now rather than at the first connect.
        if self.proxy.url.is_some() {
            let target = open_event_transport::Target::from_uri(config.endpoint())?;
            self.proxy.proxy_for(&target)?;
        }
        let dispatcher = self.dispatcher.unwrap_or_else(|| {
            tracing::warn!(
                "no handler and no dispatcher set: every event is acked unhandled; \
                 call ClientBuilder::handler or ClientBuilder::dispatcher"
            );
            Dispatcher::new()
        });
        Ok(Client {
            config,
            dispatcher,
            dialer: Arc::new(Dialer::new(tls, self.proxy)),
            on_notice: self.on_notice,
            seed: self.seed.unwrap_or_else(random_seed),
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
            .field("proxy", &self.proxy)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Client`] and reads its state; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct ClientHandle {
    shared: Arc<Shared>,
}

impl ClientHandle {
    /// Stops the client gracefully: no new events are taken, handlers in flight get up to
    /// `drain_timeout` to finish and be acked, then the WebSocket is closed and
    /// [`Client::run`] returns `Ok(())`. Handlers still running when `drain_timeout` ends are
    /// dropped unacked (the server redelivers their events). Idempotent; works before `run`
    /// starts too, and from any thread.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.waker.wake();
    }

    /// Where the connection is (as of the loop's last turn).
    pub fn state(&self) -> State {
        self.shared.snapshot().0
    }

    /// The counters (as of the loop's last turn).
    pub fn stats(&self) -> Stats {
        self.shared.snapshot().1
    }

    /// Whether the client has stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.state() == State::Stopped
    }
}

impl fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandle")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// Why [`ClientBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A config value is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS or proxy settings are unusable (e.g. an unreadable CA file).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// What the loop and its handles share.
struct Shared {
    stop: AtomicBool,
    /// The loop's waker, so `stop` from another thread wakes it.
    waker: AtomicWaker,
    snapshot: Mutex<(State, Stats)>,
}

impl Shared {
    fn new() -> Self {
        Self {
            stop: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            snapshot: Mutex::new((State::Connecting, Stats::default())),
        }
    }

    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn snapshot(&self) -> (State, Stats) {
        self.snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records the connection's state and counters for the handles.
    fn publish(&self, conn: &Connection) {
        let mut snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        snapshot.0 = conn.state();
        snapshot.1.clone_from(conn.stats());
    }
}

/// A seed from OS entropy (std's per-process random hasher keys) mixed with the clock.
fn random_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}
