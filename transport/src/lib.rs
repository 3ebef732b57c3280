//! Transport pieces shared by the runtime crates of open-event-rs (`open-event-tokio`,
//! `open-event-async-std`, `open-event-blocking`). Nothing here does IO or needs an async
//! runtime: the runtimes own the sockets, this crate owns the decisions that must be the same
//! on all of them.
//!
//! | item | what |
//! |---|---|
//! | [`TlsOptions`], [`Roots`] | trust settings turned into a rustls `ClientConfig` (ring provider) |
//! | [`ProxyOptions`], [`Proxy`], [`connect_request`], [`parse_connect_response`] | HTTP CONNECT proxy, sans-IO |
//! | [`Target`] | host, port, TLS and server name of the endpoint |
//! | [`client_request`], [`websocket_config`] | the WebSocket upgrade request and limits |
//! | [`open_error`], [`io_open_error`], [`close_info`], [`close_frame_info`] | errors mapped to the core's inputs |
//! | [`log_notice`], [`Notifier`] | the core's notices logged with `tracing`, identically on every runtime, and passed to the application's callback |
//! | [`ClientOptions`], [`Prepared`], [`BuildError`], [`delegate_client_setters!`] | every runtime's `ClientBuilder`: its settings, their setters and the checks of `build` |
//! | [`env_settings`], [`file_settings`], [`ClientOptions::from_env`], [`ClientOptions::from_config_file`] | every setting from the `OPEN_EVENT_*` variables or a TOML config file |
//! | [`StatusBoard`], [`ClientHandle`] | the stop request and the state and counters a running client shows its handles |
//! | [`drive`] | the driver skeleton, and the protocol steps of the drive loop, once for every runtime (close frame, end-of-stream classification, outcome completion, `run()`'s result) |
//! | [`RunError`] | what every runtime's `run()` returns when it gives up |
//! | [`health::Health`] | `/healthz` and `/readyz` decided from the notices, with injected time |
//! | [`metrics`] | the series a client reports through the `metrics` facade (cargo feature `metrics`) |
//!
//! # Example: the pieces of one connect attempt
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Instant, SystemTime};
//! use open_event_core::config::Config;
//! use open_event_core::connection::{Action, Connection};
//! use open_event_transport::{ProxyOptions, Target, TlsOptions, client_request, connect_request};
//!
//! let config = Arc::new(Config::builder("AK123456", "sk098765").build()?);
//! let mut conn = Connection::new(config, Instant::now(), 7);
//! let Some(Action::Connect(req)) = conn.poll_action() else { unreachable!() };
//!
//! let target = Target::from_uri(req.url())?;
//! assert_eq!((target.host(), target.port(), target.is_tls()), ("openapi.wps.cn", 443, true));
//! let tls = TlsOptions::default().client_config()?; // build once, reuse for every connect
//! let proxy = ProxyOptions { url: Some("http://proxy.local:3128".into()), from_env: false }
//!     .proxy_for(&target)?
//!     .expect("a proxy is configured");
//! let connect = connect_request(&proxy, target.host(), target.port());
//! assert!(connect.starts_with(b"CONNECT openapi.wps.cn:443 HTTP/1.1\r\n"));
//! let request = client_request(&req, SystemTime::now())?;
//! assert!(request.headers().contains_key("x-kso-authorization"));
//! # let _ = tls;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod drive;
mod error;
pub mod health;
pub mod metrics;
mod notice;
mod options;
mod proxy;
mod request;
mod run;
mod status;
mod target;
mod tls;

pub use error::{
    TransportError, close_frame_info, close_info, describe_error, io_open_error, open_error,
    tls_error_text,
};
pub use notice::{Notifier, log_notice};
pub use options::{BuildError, ClientOptions, Prepared, env_settings, file_settings};
pub use proxy::{Proxy, ProxyOptions, connect_request, parse_connect_response};
pub use request::{USER_AGENT, client_request, websocket_config};
pub use run::RunError;
pub use status::{ClientHandle, StatusBoard};
pub use target::Target;
pub use tls::{Roots, TlsOptions};

/// The rustls crate this one builds its configs with (so runtimes name the same version).
pub use rustls;

/// The core, for [`delegate_client_setters!`] (not part of the public API).
#[doc(hidden)]
pub use open_event_core as __core;
