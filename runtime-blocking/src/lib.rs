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
//! if let Err(err) = client.run() {
//!     eprintln!("stopped: {err}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Threads
//!
//! - The thread calling [`Client::run`] is the IO thread: it owns the connection and sleeps in
//!   one [`mio`] poll (epoll, kqueue or IOCP) on the WebSocket's non-blocking socket, a waker
//!   and the core's next timer. A frame is read when it arrives, and a handler's outcome wakes
//!   the thread at once, so its ack goes out without waiting for the next frame.
//!   [`ClientHandle::stop`] only sets a flag (so it stays safe in a signal handler); the thread
//!   looks at it at least every 50 ms.
//! - Handlers run on worker threads started on demand, at most `min(max_in_flight, 64)`; the
//!   core bounds the deliveries in flight (`max_in_flight`) and pauses reading when its backlog
//!   is full.
//! - Each connect attempt (DNS, TCP, proxy CONNECT, TLS, WebSocket upgrade) runs on a
//!   short-lived thread with a blocking socket, bounded by `connect_timeout`; the IO thread
//!   then switches the socket to non-blocking mode and adds it to its poll.
//!
//! # Cargo features
//!
//! - `metrics`: the client reports counters, gauges and a handler-duration histogram through
//!   the [`metrics`](https://docs.rs/metrics) facade (events received, delivered and handled by
//!   event code, acks by status, rejections by reason, duplicates, reconnects by cause, GoAways
//!   by reason, the last frame's time, the connection state). Install a recorder (e.g.
//!   `metrics-exporter-prometheus`) before `run`. The series, their labels and their bounds
//!   are listed in `open_event_transport::metrics`; every runtime reports the same ones.
//!
//! # Security
//!
//! The event signature does not cover `operation`, and acks are not signed: the channel's TLS
//! is what protects them. Keep the default `wss://` endpoint and certificate verification on.
//!
//! # Every type a client hands you
//!
//! Notices, stop reasons, counters and errors are made of these types, all re-exported here
//! (no need to depend on `open-event-core` to name them):
//!
//! ```
//! use open_event_blocking::{
//!     BuildError, ClientHandle, CloseInfo, ConfigError, DisconnectCause, Event, FrameError,
//!     GoAway, GoAwayReason, HandlerError, Notice, OpenError, Outcome, RejectKind, Rejections,
//!     RunError, State, Stats, StopReason, TransportError,
//! };
//!
//! fn describe(notice: &Notice) -> String {
//!     match notice {
//!         Notice::Disconnected(DisconnectCause::Closed(CloseInfo { code, .. })) => {
//!             format!("closed with {code:?}")
//!         }
//!         Notice::Disconnected(DisconnectCause::ConnectFailed(OpenError::Status { status })) => {
//!             format!("the upgrade got HTTP {status}")
//!         }
//!         Notice::GoAway(GoAway { reason: GoAwayReason::ServerShutdown, .. }) => "maintenance".into(),
//!         Notice::Rejected(err) => {
//!             let (err, kind): (&FrameError, RejectKind) = (err, err.kind());
//!             format!("{err} ({kind})")
//!         }
//!         Notice::HandlerFailed { event_code, nonce, message } => {
//!             format!("{event_code} {nonce}: {message}")
//!         }
//!         Notice::Stopped(StopReason::Requested) => "stopped".into(),
//!         other => other.to_string(),
//!     }
//! }
//! fn last_cause(err: &RunError) -> Option<&DisconnectCause> {
//!     match err {
//!         RunError::RetriesExhausted { last, .. } => Some(last),
//!         RunError::ConnectionLost(cause) => Some(cause),
//!         _ => None,
//!     }
//! }
//! fn bad_setting(err: &BuildError) -> Option<&ConfigError> {
//!     match err {
//!         BuildError::Config(err) => Some(err),
//!         _ => None,
//!     }
//! }
//! fn tls_problem(err: &TransportError) -> String {
//!     err.to_string()
//! }
//! fn status(handle: &ClientHandle) -> (State, Stats, Rejections) {
//!     let stats = handle.stats();
//!     (handle.state(), stats.clone(), stats.rejected)
//! }
//! fn outcome(_event: &Event, result: Result<(), HandlerError>) -> Outcome {
//!     result.map_or_else(Outcome::error, |()| Outcome::Ok)
//! }
//!
//! let stats = Stats::default();
//! assert_eq!((stats.rejected(RejectKind::SignatureMismatch), stats.rejected.total()), (0, 0));
//! println!("{stats}"); // one line: events, acks, connections
//! # let _ = (describe, last_cause, bad_setting, tls_problem, status, outcome);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connect;
mod driver;
mod mailbox;
mod pool;
mod stream;

pub use open_event_core::codec::{FrameError, GoAway, GoAwayReason, RejectKind};
pub use open_event_core::config::ConfigError;
pub use open_event_core::config::{Settings, SettingsError};
pub use open_event_core::connection::{
    CloseInfo, DisconnectCause, Notice, OpenError, Outcome, State, StopReason,
};
pub use open_event_core::handler::BlockingHandler as Handler;
pub use open_event_core::handler::HandlerError;
pub use open_event_core::stats::{Rejections, Stats};
pub use open_event_core::{AppSecret, Event, model};
pub use open_event_transport::{
    BuildError, ClientHandle, Roots, RunError, TlsOptions, TransportError,
};

use open_event_transport::{ClientOptions, Prepared};

use crate::driver::Driver;

/// Routes events by event code to [`Handler`]s: the core's
/// [`Dispatcher`](open_event_core::dispatcher::Dispatcher) with this crate's handler type
/// (every method is listed below, under the aliased type).
///
/// | method | routes |
/// |---|---|
/// | `Dispatcher::new()` | nothing yet (`build` refuses a client whose dispatcher has no route and no fallback, unless `ignore_all`) |
/// | `on(code, Handler::new(f))` | one event code, or a `*` pattern (`kso.app_chat.*`); `f` is `|event: Event| -> Result<(), E>` (run on a worker thread) |
/// | `fallback(Handler::new(f))` | every event no route takes (without one they are acked 200 as unhandled) |
/// | `on_app_chat_message_create(f)`, `on_app_chat_create`, `on_group_chat_delete`, `on_group_chat_member_user_create`, `on_group_chat_member_user_delete`, `on_group_chat_member_robot_create`, `on_group_chat_member_robot_delete` | the platform's seven typed events; `f` is `|event: Event, payload: T| -> Result<(), E>` with `T` the payload from [`model`] (a payload that does not parse acks 500) |
/// | `on_typed::<T, _>(f)` | any [`model::TypedEvent`] the same way |
/// | `has_handler`, `handles`, `has_fallback`, `is_empty`, `event_codes`, `route`, `suspect_routes` | questions about the routes |
///
/// Each registration returns `&mut Self`, so they chain. An exact code wins over a pattern,
/// the first matching pattern over later ones, and the fallback comes last.
///
/// ```
/// use open_event_blocking::model::AppChatMessageCreate;
/// use open_event_blocking::{Dispatcher, Event, Handler};
///
/// let mut dispatcher = Dispatcher::new();
/// dispatcher
///     .on_app_chat_message_create(|_event: Event, msg: AppChatMessageCreate| {
///         println!("{} wrote {:?}", msg.sender.id, msg.message.content.text);
///         Ok::<(), std::io::Error>(())
///     })
///     .on("kso.xz.app.group_chat.*", Handler::new(|event: Event| {
///         println!("group event {}", event.event_code());
///         Ok::<(), std::io::Error>(())
///     }))
///     .fallback(Handler::new(|event: Event| {
///         Err::<(), _>(format!("{} is not handled yet", event.event_code()))
///     }));
/// assert!(dispatcher.has_handler("kso.app_chat.message.create"));
/// assert!(dispatcher.has_handler("kso.xz.app.group_chat.delete"));
/// assert!(dispatcher.handles("kso.user.status.update")); // through the fallback
/// ```
pub type Dispatcher = open_event_core::dispatcher::Dispatcher<Handler>;

/// An event long-connection client. Build it with [`Client::builder`], start it with
/// [`Client::run`].
#[derive(Debug)]
pub struct Client {
    prepared: Prepared<Handler>,
    inline: bool,
}

impl Client {
    /// Starts a builder with every default; only the credentials are required.
    pub fn builder(app_id: impl Into<String>, app_secret: impl Into<AppSecret>) -> ClientBuilder {
        ClientBuilder {
            options: ClientOptions::new(app_id, app_secret),
            inline: false,
        }
    }

    /// A handle to stop the client and read its state, usable from any thread (its
    /// [`ClientHandle::stop`] also from a signal handler).
    pub fn handle(&self) -> ClientHandle {
        self.prepared.status.handle()
    }

    /// Connects and handles events on the calling thread until the client stops: reconnects
    /// with backoff after failures, as configured.
    ///
    /// # Errors
    /// `Ok(())` after a requested stop ([`ClientHandle::stop`]); otherwise a [`RunError`], why
    /// it stopped for good: the handshake was rejected (401/403), the connection was replaced by
    /// a newer one, `max_retries` ran out, or the connection was lost with auto reconnect off.
    pub fn run(self) -> Result<(), RunError> {
        Driver::new(self.prepared)
            .inline_handlers(self.inline)
            .run()
    }
}

/// Configures a [`Client`]: every setting of the core (same names, defaults and ranges as
/// `open_event_core::config::ConfigBuilder`), the handlers, TLS and proxy.
#[derive(Debug)]
pub struct ClientBuilder {
    options: ClientOptions<Handler>,
    inline: bool,
}

impl ClientBuilder {
    open_event_transport::delegate_client_setters!(
        options; dispatcher: Dispatcher, handler: blocking
    );

    /// Runs each handler on the IO thread instead of a worker (default `false`): for handlers
    /// that are quick and never block (a counter, a channel send, an append to a file). No
    /// thread hand-off per event, and the acks of a burst leave together.
    ///
    /// While a handler runs there, nothing else happens on the connection (no reads, pongs,
    /// acks or timers), so never block in it. A run that takes longer than 500 µs sends the
    /// next 1 000 deliveries to the workers, then running on the IO thread is tried again.
    ///
    /// ```
    /// let client = open_event_blocking::Client::builder("AK20240101TEST", "secret")
    ///     .handler(|event| Ok::<(), std::io::Error>(println!("{}", event.nonce)))
    ///     .inline_handlers(true)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), open_event_blocking::BuildError>(())
    /// ```
    #[must_use]
    pub fn inline_handlers(mut self, on: bool) -> Self {
        self.inline = on;
        self
    }

    /// A builder with every setting from the `OPEN_EVENT_*` environment variables:
    /// `OPEN_EVENT_APP_ID`, `OPEN_EVENT_APP_SECRET`, `OPEN_EVENT_ENDPOINT` and one variable per
    /// setting (`OPEN_EVENT_PONG_TIMEOUT=45s`, `OPEN_EVENT_MAX_IN_FLIGHT=16`, ...; the table is
    /// in [`open_event_core::config::env`]). Unset variables keep the defaults; setters called
    /// afterwards win over the variables.
    ///
    /// ```no_run
    /// // OPEN_EVENT_APP_ID=... OPEN_EVENT_APP_SECRET=... OPEN_EVENT_ENDPOINT=ws://127.0.0.1:7000/v7/event/ws
    /// let builder = open_event_blocking::ClientBuilder::from_env()?
    ///     .handler(|event| {
    ///         println!("{}", event.event_code());
    ///         Ok::<(), std::io::Error>(())
    ///     });
    /// # let _ = builder;
    /// # Ok::<(), open_event_blocking::BuildError>(())
    /// ```
    ///
    /// # Errors
    /// [`BuildError::Settings`] naming the variable: the app id or secret unset, or a value
    /// that does not parse or is out of range (with the form expected).
    pub fn from_env() -> Result<Self, BuildError> {
        Ok(Self {
            options: ClientOptions::from_env()?,
            inline: false,
        })
    }

    /// A builder with every setting from the TOML config file at `path` (one key per setting,
    /// named as the setters; the format is in [`open_event_core::config::file`]), then the
    /// `OPEN_EVENT_*` variables over it; setters called afterwards win over both.
    ///
    /// ```no_run
    /// let builder = open_event_blocking::ClientBuilder::from_config_file("/etc/my-app/open-event.toml")?;
    /// # let _ = builder;
    /// # Ok::<(), open_event_blocking::BuildError>(())
    /// ```
    ///
    /// # Errors
    /// [`BuildError::Settings`]: the file cannot be read or is not TOML, a key that is no
    /// setting (named, with the closest known key), a value of the wrong type or out of range
    /// (with its key and line), a bad variable, or no app id or secret in either.
    pub fn from_config_file(path: impl AsRef<std::path::Path>) -> Result<Self, BuildError> {
        Ok(Self {
            options: ClientOptions::from_config_file(path)?,
            inline: false,
        })
    }

    /// Validates the configuration, the TLS settings (CA files are read now) and the proxy URL.
    ///
    /// # Errors
    /// [`BuildError::Config`] for a setting out of range, [`BuildError::Transport`] for an
    /// unreadable CA file, an unusable endpoint or proxy URL.
    /// [`BuildError::NoHandler`] when neither a handler nor a dispatcher route was set (call
    /// [`ClientBuilder::ignore_all`] to ack every event unhandled on purpose).
    pub fn build(self) -> Result<Client, BuildError> {
        Ok(Client {
            prepared: self.options.prepare()?,
            inline: self.inline,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ClientBuilder {
        Client::builder("AK123456", "sk098765").handler(|_event| Ok::<(), String>(()))
    }

    #[test]
    fn handles_and_futures_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<ClientHandle>();
        let client = builder().build().unwrap();
        send(&client.handle());
        send(&client);
    }

    #[test]
    fn build_checks_settings_up_front() {
        let err = builder().max_in_flight(0).build().unwrap_err();
        assert!(matches!(err, BuildError::Config(_)), "{err}");
        // No handler: refused with the fix, unless every event is ignored on purpose.
        let bare = || Client::builder("AK123456", "sk098765");
        let err = bare().build().unwrap_err();
        assert!(matches!(err, BuildError::NoHandler), "{err}");
        assert!(err.to_string().contains(".ignore_all()"), "{err}");
        let err = bare().dispatcher(Dispatcher::new()).build().unwrap_err();
        assert!(matches!(err, BuildError::NoHandler), "{err}");
        assert!(bare().ignore_all().build().is_ok());
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

    #[test]
    fn stop_before_run_returns_at_once() {
        let client = builder().build().unwrap();
        let handle = client.handle();
        handle.stop();
        assert_eq!(client.run(), Ok(()));
        assert!(handle.is_stopped());
        assert_eq!(handle.state(), State::Stopped);
    }
}
