//! Receive WPS open platform events over the WebSocket long connection ("v7 event ws") on
//! tokio.
//!
//! The protocol (KSO-1 signed handshake, event verification and decryption, acks, heartbeats,
//! GoAway, reconnects with backoff, duplicate suppression, graceful stop) lives in the sans-IO
//! crate [`open_event_core`]; this crate is the tokio loop around it: TCP, an optional HTTP
//! CONNECT proxy, TLS with rustls, the WebSocket, one task per handler.
//!
//! # Handler mode: one function for every event
//!
//! ```no_run
//! use open_event_tokio::Client;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder("AK20240101TEST", "your app secret")
//!     .handler(|event| async move {
//!         println!("{} {}", event.event_code(), event.data);
//!         Ok::<(), std::io::Error>(()) // an Err is acked with code 500 and redelivered later
//!     })
//!     .build()?;
//! let handle = client.handle();
//! tokio::spawn(async move {
//!     let _ = tokio::signal::ctrl_c().await;
//!     handle.stop(); // graceful: in-flight events finish and are acked first
//! });
//! client.run().await?; // Ok after a requested stop, Err(reason) when it gives up
//! # Ok(())
//! # }
//! ```
//!
//! # Dispatcher mode: typed events
//!
//! ```no_run
//! use open_event_tokio::{Client, Dispatcher, Event, Handler};
//! use open_event_tokio::model::AppChatMessageCreate;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let mut dispatcher = Dispatcher::new();
//! dispatcher.on_app_chat_message_create(|_event: Event, msg: AppChatMessageCreate| async move {
//!     println!("message {} in chat {}", msg.message.id, msg.chat.id);
//!     Ok::<(), std::io::Error>(())
//! });
//! dispatcher.fallback(Handler::new(|event| async move {
//!     println!("unrouted {}", event.event_code());
//!     Ok::<(), std::io::Error>(())
//! }));
//! Client::builder("AK20240101TEST", "your app secret")
//!     .dispatcher(dispatcher)
//!     .max_in_flight(16)
//!     .on_notice(|notice| eprintln!("{notice}"))
//!     .build()?
//!     .run()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Behaviour
//!
//! - Handlers run concurrently as tokio tasks (at most `max_in_flight` at once; then events
//!   queue, then reading pauses). A slow handler never delays heartbeats, other acks or
//!   reading. A handler's error or panic acks the event with 500 and the client keeps running.
//! - Lifecycle notices are logged with `tracing` under the target `open_event` and passed to
//!   [`ClientBuilder::on_notice`].
//! - TLS uses rustls with the `ring` provider and the bundled WebPKI roots by default; see
//!   [`ClientBuilder::native_roots`], [`ClientBuilder::ca_file`].
//! - Security: an event's `operation` field is not covered by its signature; TLS is what
//!   protects it. Never turn certificate verification off outside local tests.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connect;
mod driver;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use open_event_core::AppSecret;
pub use open_event_core::Event;
pub use open_event_core::config::ConfigError;
use open_event_core::config::{Config, ConfigBuilder};
pub use open_event_core::connection::{Notice, Outcome, State, StopReason};
pub use open_event_core::handler::AsyncHandler as Handler;
pub use open_event_core::handler::HandlerError;
pub use open_event_core::model;
pub use open_event_core::stats::Stats;
use open_event_transport::{Proxy, ProxyOptions, Target};
pub use open_event_transport::{Roots, TlsOptions, TransportError};
use tokio::sync::watch;

use crate::connect::Connector;
use crate::driver::{Driver, NoticeFn};

/// Routes events by event code to async handlers (typed registration included).
pub type Dispatcher = open_event_core::dispatcher::Dispatcher<Handler>;

/// An event client: build it, take a [`ClientHandle`] if you want to stop it, then
/// [`Client::run`] it.
pub struct Client {
    driver: Driver,
    stop: Arc<watch::Sender<bool>>,
}

impl Client {
    /// Starts a builder with the app's credentials (from the WPS open platform console) and
    /// every default.
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

    /// A handle to stop the client and read its state and counters, from any task or thread.
    pub fn handle(&self) -> ClientHandle {
        ClientHandle {
            shared: Arc::clone(&self.driver.shared),
            stop: Arc::clone(&self.stop),
        }
    }

    /// Connects and receives events until the client stops for good.
    ///
    /// # Errors
    /// `Ok(())` after a requested stop ([`ClientHandle::stop`]); otherwise the reason it gave
    /// up (never [`StopReason::Requested`]): the handshake was rejected (401/403), the
    /// connection was replaced by a newer one, `max_retries` ran out, or the connection was
    /// lost with auto reconnect off.
    pub async fn run(self) -> Result<(), StopReason> {
        let shared = Arc::clone(&self.driver.shared);
        let result = self.driver.run().await;
        shared.finish();
        result
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.driver.config)
            .field("seed", &self.driver.seed)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]. Every protocol setting of
/// [`ConfigBuilder`] is available under the same name
/// (`endpoint`, `max_retries`, `pong_timeout`, `max_in_flight`, ...).
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

    /// Routes events with `dispatcher` (replaces a [`ClientBuilder::handler`] set earlier).
    #[must_use]
    pub fn dispatcher(mut self, dispatcher: Dispatcher) -> Self {
        self.dispatcher = Some(dispatcher);
        self
    }

    /// Handles every event with `f` (a dispatcher with only a fallback; replaces a
    /// [`ClientBuilder::dispatcher`] set earlier). An `Err` or a panic acks the event with 500.
    #[must_use]
    pub fn handler<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HandlerError> + 'static,
    {
        let mut dispatcher = Dispatcher::new();
        dispatcher.fallback(Handler::new(f));
        self.dispatcher = Some(dispatcher);
        self
    }

    /// Calls `f` with every lifecycle notice (connected, reconnecting, goaway, rejected frames,
    /// stopped, ...), in addition to the `tracing` logs. Keep it quick: it runs on the loop.
    #[must_use]
    pub fn on_notice(mut self, f: impl Fn(&Notice) + Send + Sync + 'static) -> Self {
        self.on_notice = Some(Arc::new(f));
        self
    }

    /// Replaces every TLS setting at once.
    #[must_use]
    pub fn tls(mut self, options: TlsOptions) -> Self {
        self.tls = options;
        self
    }

    /// Trusts the operating system's certificate store instead of the bundled WebPKI roots.
    /// Default: off.
    #[must_use]
    pub fn native_roots(mut self, on: bool) -> Self {
        self.tls.roots = if on { Roots::Native } else { Roots::WebPki };
        self
    }

    /// Also trusts the CA certificates in this PEM file (may be called more than once).
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.extra_ca_files.push(path.into());
        self
    }

    /// Accepts any server certificate. **Dangerous**: anyone on the network path can read and
    /// forge events. For local tests only; a warning is logged. Default: off.
    #[must_use]
    pub fn danger_accept_invalid_certs(mut self, on: bool) -> Self {
        self.tls.danger_accept_invalid_certs = on;
        self
    }

    /// Connects through this HTTP proxy (`http://[user:password@]host[:port]`), using CONNECT.
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy.url = Some(url.into());
        self
    }

    /// Reads the proxy from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` and honours `NO_PROXY`
    /// when no [`ClientBuilder::proxy`] is set. Default: off.
    #[must_use]
    pub fn proxy_from_env(mut self, on: bool) -> Self {
        self.proxy.from_env = on;
        self
    }

    /// Seeds the reconnect jitter (replays a run exactly). Default: from OS entropy; the seed
    /// in use is logged at debug level when the client starts.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Validates every setting and builds the client: the TLS configuration (CA files, the
    /// system store when asked for) and an explicit proxy URL are checked here, not at the first
    /// connect.
    ///
    /// # Errors
    /// [`BuildError::Config`] for a bad protocol setting, [`BuildError::Transport`] for a bad
    /// TLS, endpoint or proxy setting.
    pub fn build(self) -> Result<Client, BuildError> {
        let config = Arc::new(self.config.build()?);
        Target::from_uri(config.endpoint())?;
        if let Some(url) = &self.proxy.url {
            Proxy::parse(url)?;
        }
        let tls = self.tls.client_config()?;
        let dispatcher = self.dispatcher.unwrap_or_else(|| {
            tracing::warn!(
                target: "open_event",
                "no handler or dispatcher set: every event is acked without being handled"
            );
            Dispatcher::new()
        });
        let seed = self.seed.unwrap_or_else(entropy_seed);
        let (stop, stop_rx) = watch::channel(false);
        Ok(Client {
            driver: Driver {
                config,
                dispatcher: Arc::new(dispatcher),
                connector: Connector {
                    tls,
                    proxy: self.proxy,
                },
                on_notice: self.on_notice,
                seed,
                shared: Arc::new(Shared::new()),
                stop: stop_rx,
            },
            stop: Arc::new(stop),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("tls", &self.tls)
            .field("proxy", &self.proxy.url.as_ref().map(|_| "<set>"))
            .field("proxy_from_env", &self.proxy.from_env)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Stops a [`Client`] and reads its state; cheap to clone, usable from any task or thread.
#[derive(Clone)]
pub struct ClientHandle {
    shared: Arc<Shared>,
    stop: Arc<watch::Sender<bool>>,
}

impl ClientHandle {
    /// Asks for a graceful stop: no new events are taken, in-flight handlers get up to
    /// `drain_timeout` to finish and be acked, then the WebSocket is closed and
    /// [`Client::run`] returns `Ok(())`. Idempotent; works before `run` too.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Where the connection is (as of the loop's last turn).
    pub fn state(&self) -> State {
        self.shared.lock().state
    }

    /// The counters (as of the loop's last turn).
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Whether [`Client::run`] has finished.
    pub fn is_stopped(&self) -> bool {
        let snapshot = self.shared.lock();
        snapshot.finished || snapshot.state == State::Stopped
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
    /// A protocol setting is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A TLS, endpoint or proxy setting cannot work.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// The loop's snapshots for handles.
#[derive(Debug)]
struct Shared {
    snapshot: Mutex<Snapshot>,
}

#[derive(Debug)]
struct Snapshot {
    state: State,
    stats: Stats,
    finished: bool,
}

impl Shared {
    fn new() -> Self {
        Self {
            snapshot: Mutex::new(Snapshot {
                state: State::Connecting,
                stats: Stats::default(),
                finished: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        // The snapshot is plain data: a panic elsewhere cannot leave it half-written.
        self.snapshot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, state: State, stats: &Stats) {
        let mut snapshot = self.lock();
        snapshot.state = state;
        if snapshot.stats != *stats {
            snapshot.stats.clone_from(stats);
        }
    }

    fn finish(&self) {
        self.lock().finished = true;
    }
}

/// A seed from the process's hash randomness (OS entropy) and the clock.
fn entropy_seed() -> u64 {
    RandomState::new().hash_one((SystemTime::now(), std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ClientBuilder {
        Client::builder("AK123456", "sk098765").handler(|_event| async { Ok::<(), String>(()) })
    }

    #[test]
    fn handles_and_futures_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<ClientHandle>();
        let client = builder().build().unwrap();
        send(&client.handle());
        send(&client.run());
    }

    #[test]
    fn build_checks_settings_up_front() {
        let err = builder().max_in_flight(0).build().unwrap_err();
        assert!(matches!(err, BuildError::Config(_)), "{err}");
        let err = builder()
            .ca_file("/nonexistent/ca.pem")
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::Transport(_)), "{err}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let err = builder()
            .proxy("socks5://u:hunter2@p:1")
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::Transport(_)), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_fresh_handle_reports_connecting_and_debug_hides_secrets() {
        let client = builder().seed(7).build().unwrap();
        let handle = client.handle();
        assert_eq!(handle.state(), State::Connecting);
        assert!(!handle.is_stopped());
        assert_eq!(handle.stats(), Stats::default());
        let text = format!(
            "{client:?} {handle:?} {:?}",
            builder().proxy("http://u:pw@p:1")
        );
        assert!(
            !text.contains("sk098765") && !text.contains("pw@"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn stop_before_run_returns_at_once() {
        let client = builder().build().unwrap();
        let handle = client.handle();
        handle.stop();
        assert_eq!(client.run().await, Ok(()));
        assert!(handle.is_stopped());
        assert_eq!(handle.state(), State::Stopped);
    }
}
