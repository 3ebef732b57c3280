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
//! client.run().await?; // Ok after a requested stop, Err(RunError) when it gives up
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
//! # Every type a client hands you
//!
//! Notices, stop reasons, counters and errors are made of these types, all re-exported here
//! (no need to depend on `open-event-core` to name them):
//!
//! ```
//! use open_event_tokio::{
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

use open_event_core::AppSecret;
pub use open_event_core::Event;
pub use open_event_core::codec::{FrameError, GoAway, GoAwayReason, RejectKind};
pub use open_event_core::config::ConfigError;
pub use open_event_core::config::{Settings, SettingsError};
pub use open_event_core::connection::{
    CloseInfo, DisconnectCause, Notice, OpenError, Outcome, State, StopReason,
};
pub use open_event_core::handler::AsyncHandler as Handler;
pub use open_event_core::handler::HandlerError;
pub use open_event_core::model;
pub use open_event_core::stats::{Rejections, Stats};
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
/// | `on(code, Handler::new(f))` | one event code, or a `*` pattern (`kso.app_chat.*`); `f` is `|event: Event| async move { ... }` returning `Result<(), E>` |
/// | `fallback(Handler::new(f))` | every event no route takes (without one they are acked 200 as unhandled) |
/// | `on_app_chat_message_create(f)`, `on_app_chat_create`, `on_group_chat_delete`, `on_group_chat_member_user_create`, `on_group_chat_member_user_delete`, `on_group_chat_member_robot_create`, `on_group_chat_member_robot_delete` | the platform's seven typed events; `f` is `|event: Event, payload: T| async move { ... }` with `T` the payload from [`model`] (a payload that does not parse acks 500) |
/// | `on_typed::<T, _>(f)` | any [`model::TypedEvent`] the same way |
/// | `has_handler`, `handles`, `has_fallback`, `is_empty`, `event_codes`, `route`, `suspect_routes` | questions about the routes |
///
/// Each registration returns `&mut Self`, so they chain. An exact code wins over a pattern,
/// the first matching pattern over later ones, and the fallback comes last.
///
/// ```
/// use open_event_tokio::model::AppChatMessageCreate;
/// use open_event_tokio::{Dispatcher, Event, Handler};
///
/// let mut dispatcher = Dispatcher::new();
/// dispatcher
///     .on_app_chat_message_create(|_event: Event, msg: AppChatMessageCreate| async move {
///         println!("{} wrote {:?}", msg.sender.id, msg.message.content.text);
///         Ok::<(), std::io::Error>(())
///     })
///     .on("kso.xz.app.group_chat.*", Handler::new(|event: Event| async move {
///         println!("group event {}", event.event_code());
///         Ok::<(), std::io::Error>(())
///     }))
///     .fallback(Handler::new(|event: Event| async move {
///         Err::<(), _>(format!("{} is not handled yet", event.event_code()))
///     }));
/// assert!(dispatcher.has_handler("kso.app_chat.message.create"));
/// assert!(dispatcher.has_handler("kso.xz.app.group_chat.delete"));
/// assert!(dispatcher.handles("kso.user.status.update")); // through the fallback
/// ```
pub type Dispatcher = open_event_core::dispatcher::Dispatcher<Handler>;

/// An event client: build it, take a [`ClientHandle`] if you want to stop it, then
/// [`Client::run`] it.
#[derive(Debug)]
pub struct Client {
    prepared: Prepared<Handler>,
}

impl Client {
    /// Starts a builder with the app's credentials (from the WPS open platform console) and
    /// every default.
    pub fn builder(app_id: impl Into<String>, app_secret: impl Into<AppSecret>) -> ClientBuilder {
        ClientBuilder {
            options: ClientOptions::new(app_id, app_secret),
        }
    }

    /// A handle to stop the client and read its state and counters, from any task or thread.
    pub fn handle(&self) -> ClientHandle {
        self.prepared.status.handle()
    }

    /// Connects and receives events until the client stops for good.
    ///
    /// # Errors
    /// `Ok(())` after a requested stop ([`ClientHandle::stop`]); otherwise a [`RunError`], why
    /// it stopped for good: the handshake was rejected (401/403), the connection was replaced by
    /// a newer one, `max_retries` ran out, or the connection was lost with auto reconnect off.
    pub async fn run(self) -> Result<(), RunError> {
        Driver::new(self.prepared).run().await
    }
}

/// Builds a [`Client`]. Every protocol setting of
/// [`ConfigBuilder`](open_event_core::config::ConfigBuilder) is available under the same name
/// (`endpoint`, `max_retries`, `pong_timeout`, `max_in_flight`, ...).
#[derive(Debug)]
pub struct ClientBuilder {
    options: ClientOptions<Handler>,
}

impl ClientBuilder {
    open_event_transport::delegate_client_setters!(
        options; dispatcher: Dispatcher, handler: async
    );

    /// A builder with every setting from the `OPEN_EVENT_*` environment variables:
    /// `OPEN_EVENT_APP_ID`, `OPEN_EVENT_APP_SECRET`, `OPEN_EVENT_ENDPOINT` and one variable per
    /// setting (`OPEN_EVENT_PONG_TIMEOUT=45s`, `OPEN_EVENT_MAX_IN_FLIGHT=16`, ...; the table is
    /// in [`open_event_core::config::env`]). Unset variables keep the defaults; setters called
    /// afterwards win over the variables.
    ///
    /// ```no_run
    /// // OPEN_EVENT_APP_ID=... OPEN_EVENT_APP_SECRET=... OPEN_EVENT_ENDPOINT=ws://127.0.0.1:7000/v7/event/ws
    /// let builder = open_event_tokio::ClientBuilder::from_env()?
    ///     .handler(|event| async move {
    ///         println!("{}", event.event_code());
    ///         Ok::<(), std::io::Error>(())
    ///     });
    /// # let _ = builder;
    /// # Ok::<(), open_event_tokio::BuildError>(())
    /// ```
    ///
    /// # Errors
    /// [`BuildError::Settings`] naming the variable: the app id or secret unset, or a value
    /// that does not parse or is out of range (with the form expected).
    pub fn from_env() -> Result<Self, BuildError> {
        Ok(Self {
            options: ClientOptions::from_env()?,
        })
    }

    /// A builder with every setting from the TOML config file at `path` (one key per setting,
    /// named as the setters; the format is in [`open_event_core::config::file`]), then the
    /// `OPEN_EVENT_*` variables over it; setters called afterwards win over both.
    ///
    /// ```no_run
    /// let builder = open_event_tokio::ClientBuilder::from_config_file("/etc/my-app/open-event.toml")?;
    /// # let _ = builder;
    /// # Ok::<(), open_event_tokio::BuildError>(())
    /// ```
    ///
    /// # Errors
    /// [`BuildError::Settings`]: the file cannot be read or is not TOML, a key that is no
    /// setting (named, with the closest known key), a value of the wrong type or out of range
    /// (with its key and line), a bad variable, or no app id or secret in either.
    pub fn from_config_file(path: impl AsRef<std::path::Path>) -> Result<Self, BuildError> {
        Ok(Self {
            options: ClientOptions::from_config_file(path)?,
        })
    }

    /// Validates every setting and builds the client: the TLS configuration (CA files, the
    /// system store when asked for) and the proxy URL are checked here, not at the first
    /// connect.
    ///
    /// # Errors
    /// [`BuildError::Config`] for a bad protocol setting, [`BuildError::Transport`] for a bad
    /// TLS, endpoint or proxy setting.
    /// [`BuildError::NoHandler`] when neither a handler nor a dispatcher route was set (call
    /// [`ClientBuilder::ignore_all`] to ack every event unhandled on purpose).
    pub fn build(self) -> Result<Client, BuildError> {
        Ok(Client {
            prepared: self.options.prepare()?,
        })
    }
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
