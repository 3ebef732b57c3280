//! Receive WPS open platform events in webhook mode: the platform POSTs each event to your
//! HTTP endpoint (docs/protocol.md §11).
//!
//! The decisions (challenge echo, verification, decryption, dedup, the concurrency bound, what
//! each outcome answers) are made by the sans-IO [`open_event_core::webhook::Endpoint`], the
//! same verify/decrypt/dedup code as the long connection's. This crate carries them out on
//! hyper 1 and tokio, with the same [`Dispatcher`] and [`Handler`] types as `open-event-tokio`,
//! so one handler set serves both modes.
//!
//! - [`Webhook::service`]: a [`tower::Service`] to mount in an axum `Router` (or any hyper
//!   server);
//! - [`Webhook::serve`] / [`Webhook::bind`]: a ready standalone server.
//!
//! # Example: standalone
//!
//! ```no_run
//! use open_event_webhook::Webhook;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let webhook = Webhook::builder("AK20240101TEST", "your app secret")
//!     .handler(|event| async move {
//!         println!("{} {}", event.event_code(), event.data);
//!         Ok::<(), std::io::Error>(()) // an Err answers 500: the platform delivers it again
//!     })
//!     .build()?;
//! let handle = webhook.handle();
//! tokio::spawn(async move {
//!     let _ = tokio::signal::ctrl_c().await;
//!     handle.stop(); // graceful: running handlers finish and are answered
//! });
//! webhook.serve("0.0.0.0:8080").await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Behaviour
//!
//! - Only `POST` (405), JSON content types (415; a request without `Content-Type` is read as
//!   JSON), bodies up to [`WebhookBuilder::max_body`] (1 MiB, 413), read within
//!   [`WebhookBuilder::body_timeout`] (10 s, 408); the standalone server also bounds the
//!   headers with [`WebhookBuilder::header_timeout`] (10 s, then the connection is closed).
//!   The body of a request refused before it was read whole (405, 415, 413) is still read and
//!   dropped in the background, for up to 5 s and 64 MiB, so a client still sending it gets
//!   the answer instead of a connection reset.
//! - A bad signature is answered 401, an undecryptable or malformed body 400, both with the
//!   reason in the JSON body, never a handler run, and counted by reason in [`WebhookStats`].
//! - Handlers run as tokio tasks, at most `max_in_flight` at once (64; past it 503 with
//!   `Retry-After`). A handler that outlives its client still finishes, and its outcome
//!   answers the platform's redelivery. One running past the 3 s budget is logged.
//! - A redelivery (same nonce) is answered with the first outcome without running the handler
//!   again; with `dedup_retry_errors(true)` a failed event runs again.
//! - Every request is logged with `tracing` (target `open_event::webhook`) with its status,
//!   reason, event code and nonce; never the secret.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod server;
mod service;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use open_event_core::AppSecret;
pub use open_event_core::Event;
pub use open_event_core::config::ConfigError;
use open_event_core::config::{Config, ConfigBuilder};
pub use open_event_core::connection::Outcome;
pub use open_event_core::handler::AsyncHandler as Handler;
pub use open_event_core::handler::HandlerError;
pub use open_event_core::model;
use open_event_core::webhook::{Endpoint, Limits};
pub use open_event_core::webhook::{LimitError, WebhookStats};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;

pub use crate::server::Server;
use crate::service::Shared;
pub use crate::service::{HttpResponse, WebhookService};

/// Routes events by event code to async handlers: the very type of `open-event-tokio`'s
/// `Dispatcher`.
pub type Dispatcher = open_event_core::dispatcher::Dispatcher<Handler>;

/// A webhook receiver: build it, then mount its [`service`](Self::service) or
/// [`serve`](Self::serve) it.
#[derive(Debug)]
pub struct Webhook {
    shared: Arc<Shared>,
    path: Option<String>,
    header_timeout: Duration,
    stop: Arc<watch::Sender<bool>>,
}

impl Webhook {
    /// Starts a builder with the app's credentials and every default.
    pub fn builder(app_id: impl Into<String>, app_secret: impl Into<AppSecret>) -> WebhookBuilder {
        WebhookBuilder {
            config: Config::builder(app_id, app_secret),
            limits: Ok(Limits::default()),
            dispatcher: None,
            ignore_all: false,
            path: None,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
        }
    }

    /// The [`tower::Service`] answering webhook requests (every clone shares this webhook's
    /// dedup memory, bound and stats). It answers any path: mount it on yours.
    pub fn service(&self) -> WebhookService {
        WebhookService {
            shared: Arc::clone(&self.shared),
        }
    }

    /// A handle to stop the standalone server and read the counters.
    pub fn handle(&self) -> WebhookHandle {
        WebhookHandle {
            shared: Arc::clone(&self.shared),
            stop: Arc::clone(&self.stop),
        }
    }

    /// Binds the standalone server (port 0 picks one: see [`Server::local_addr`]).
    ///
    /// # Errors
    /// The bind error (address in use, permission denied, ...).
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(self.on_listener(listener))
    }

    /// The standalone server on a listener bound elsewhere.
    pub fn on_listener(self, listener: TcpListener) -> Server {
        Server {
            listener,
            shared: self.shared,
            path: self.path,
            header_timeout: self.header_timeout,
            stop: self.stop.subscribe(),
        }
    }

    /// Binds and serves until [`WebhookHandle::stop`].
    ///
    /// # Errors
    /// The bind error.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.bind(addr).await?.run().await
    }
}

/// Stops a running [`Server`] and reads the counters, from any task or thread.
#[derive(Debug, Clone)]
pub struct WebhookHandle {
    shared: Arc<Shared>,
    stop: Arc<watch::Sender<bool>>,
}

impl WebhookHandle {
    /// Starts a graceful stop of the standalone server (a mounted service is stopped by its
    /// own server; this also makes it refuse new events with 503).
    pub fn stop(&self) {
        self.shared.lock().endpoint.close();
        self.stop.send_replace(true);
    }

    /// A copy of the counters.
    pub fn stats(&self) -> WebhookStats {
        self.shared.lock().endpoint.stats().clone()
    }

    /// Handlers running now.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().endpoint.in_flight()
    }
}

/// Configures a [`Webhook`]; every setter documents its default.
#[derive(Debug)]
#[must_use]
pub struct WebhookBuilder {
    config: ConfigBuilder,
    limits: Result<Limits, LimitError>,
    dispatcher: Option<Dispatcher>,
    ignore_all: bool,
    path: Option<String>,
    header_timeout: Duration,
    body_timeout: Duration,
}

impl WebhookBuilder {
    /// One handler for every event (a [`Dispatcher`] with only a fallback).
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

    /// Routes events with `dispatcher` (the same one an `open-event-tokio` client takes).
    /// Events no route takes are answered 200 and counted as unhandled.
    pub fn dispatcher(mut self, dispatcher: Dispatcher) -> Self {
        self.dispatcher = Some(dispatcher);
        self
    }

    /// Answers every event that no handler takes with 200, on purpose, without handling it
    /// (counted as unhandled). Without this, `build` refuses a webhook that has no handler and
    /// no dispatcher route ([`BuildError::NoHandler`]), as the long-connection clients do.
    pub fn ignore_all(mut self) -> Self {
        self.ignore_all = true;
        self
    }

    /// Body size cap in bytes. Default 1 MiB; allowed 1 byte to 64 MiB. Past it: 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.limits = self.limits.and_then(|l| l.max_body(bytes));
        self
    }

    /// `Retry-After` of a 503. Default 1 s; allowed 1 s to 1 h.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.limits = self.limits.and_then(|l| l.retry_after(after));
        self
    }

    /// Handlers running at once. Default 64; allowed 1 to 65 536. Past it: 503.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config = self.config.max_in_flight(n);
        self
    }

    /// Duplicate suppression by nonce. Default on.
    pub fn dedup(mut self, on: bool) -> Self {
        self.config = self.config.dedup(on);
        self
    }

    /// How long a nonce is remembered. Default 10 min; allowed 1 ms to 24 h.
    pub fn dedup_window(mut self, window: Duration) -> Self {
        self.config = self.config.dedup_window(window);
        self
    }

    /// How many nonces are remembered. Default 10 000; allowed 1 to 10 000 000.
    pub fn dedup_capacity(mut self, n: usize) -> Self {
        self.config = self.config.dedup_capacity(n);
        self
    }

    /// Whether a redelivery of a failed event runs the handler again. Default off: it is
    /// answered with the first outcome (500) until the dedup window ends.
    pub fn dedup_retry_errors(mut self, on: bool) -> Self {
        self.config = self.config.dedup_retry_errors(on);
        self
    }

    /// A handler running longer is logged (the platform expects an answer in 3 s). Default
    /// 3 s; allowed 1 ms to 1 h.
    pub fn delivery_budget(mut self, budget: Duration) -> Self {
        self.config = self.config.delivery_budget(budget);
        self
    }

    /// How long a graceful stop waits for running requests and handlers. Default 5 s;
    /// allowed 0 to 10 min.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.drain_timeout(timeout);
        self
    }

    /// The standalone server answers only this path (404 elsewhere). Default: every path.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The standalone server closes a connection whose request headers take longer than
    /// this (slowloris). Default 10 s.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// A body not read whole within this is answered 408. Default 10 s.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// [`BuildError`] naming the first bad value.
    pub fn build(self) -> Result<Webhook, BuildError> {
        if !self.ignore_all && self.dispatcher.as_ref().is_none_or(Dispatcher::is_empty) {
            return Err(BuildError::NoHandler);
        }
        let config = Arc::new(self.config.build()?);
        let limits = self.limits?;
        for (name, value) in [
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
        ] {
            if !(Duration::from_millis(1)..=Duration::from_secs(600)).contains(&value) {
                return Err(BuildError::Timeout { name, value });
            }
        }
        let endpoint = Endpoint::new(config, limits);
        let dispatcher = self.dispatcher.unwrap_or_default();
        let (stop, _) = watch::channel(false);
        Ok(Webhook {
            shared: Arc::new(Shared::new(endpoint, dispatcher, self.body_timeout)),
            path: self.path,
            header_timeout: self.header_timeout,
            stop: Arc::new(stop),
        })
    }
}

/// A setting of [`WebhookBuilder`] is out of range.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A config value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A body or retry limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// Neither a handler nor a dispatcher with a route or a fallback was set: every event
    /// would be answered 200 without being handled (and never delivered again).
    #[error(
        "no handler: every event would be answered 200 without being handled; add \
         `.handler(...)` or `.dispatcher(...)` (with at least one route or a fallback) to the \
         webhook builder, or call `.ignore_all()` to answer every event unhandled on purpose"
    )]
    NoHandler,
    /// A read timeout.
    #[error("webhook {name} {value:?} is out of range: use 1 ms to 10 min (default 10 s)")]
    Timeout {
        /// The setting.
        name: &'static str,
        /// The value given.
        value: Duration,
    },
}
