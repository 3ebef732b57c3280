//! Running a client on the chosen runtime. Everything runtime-specific lives in one small
//! module per runtime; they all take the same [`ClientSpec`] and [`App`] and return the same
//! [`Finished`].

mod async_std;
mod blocking;
mod tokio;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use open_event_core::connection::Notice;
use open_event_core::stats::Stats;
use open_event_core::{Credentials, Event};
use open_event_tokio::RunError;
use open_event_tokio::{BuildError, ClientHandle};

use crate::args::{ConnectionArgs, RuntimeKind};
use crate::failure::Failure;
use crate::filter::EventFilter;
use crate::stopper::Stopper;

/// What a handler returns: `Ok` acks 200, `Err(text)` acks 500 with `text` as the message.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The application side of a run: what to do with each event and each notice. Shared by all
/// runtimes (the blocking one drives the future on its worker thread).
pub(crate) trait App: Send + Sync + 'static {
    /// Handles one event.
    fn handle(self: Arc<Self>, event: Event) -> HandlerFuture;
    /// Reports one lifecycle notice (runs on the client's loop: keep it short).
    fn notice(&self, notice: &Notice);
    /// Called once the client was built (every setting is valid), before it connects.
    fn built(&self) {}
}

/// Who connects where, and every setting.
#[derive(Debug, Clone)]
pub(crate) struct ClientSpec {
    pub(crate) credentials: Credentials,
    pub(crate) connection: ConnectionArgs,
    /// Which events reach the app; the others are acked 200 as unhandled by the core.
    pub(crate) filter: EventFilter,
}

/// How a run ended.
#[derive(Debug)]
pub(crate) struct Finished {
    /// `Ok` after a requested stop.
    pub(crate) result: Result<(), RunError>,
    /// The client's counters at the end.
    pub(crate) stats: Stats,
}

/// Builds the client on `kind`, arms `stopper` with its stop, and runs it to the end on the
/// calling thread.
pub(crate) fn run(
    kind: RuntimeKind,
    spec: &ClientSpec,
    app: Arc<dyn App>,
    stopper: &Stopper,
) -> Result<Finished, Failure> {
    match kind {
        RuntimeKind::Tokio => tokio::run(spec, app, stopper),
        RuntimeKind::AsyncStd => async_std::run(spec, app, stopper, async_std::Executor::AsyncStd),
        RuntimeKind::Smol => async_std::run(spec, app, stopper, async_std::Executor::Smol),
        RuntimeKind::Blocking => blocking::run(spec, app, stopper),
    }
}

/// A client that could not be built: a protocol setting names its flag; a TLS, endpoint or
/// proxy problem keeps the library's message (which names the cause and the fix). The three
/// runtime crates share this `BuildError` type.
fn build_failure(err: BuildError) -> Failure {
    match &err {
        BuildError::Config(config) => Failure::config(config),
        _ => Failure::other(err.to_string()),
    }
}

/// Runs a built client to its end with `stopper` armed to stop it, and collects how it ended.
/// `run` blocks on the client's `run()` with the runtime's own executor.
fn run_armed(
    handle: ClientHandle,
    stopper: &Stopper,
    run: impl FnOnce() -> Result<(), RunError>,
) -> Finished {
    let stop = handle.clone();
    stopper.arm(move || stop.stop());
    let result = run();
    stopper.disarm();
    Finished {
        result,
        stats: handle.stats(),
    }
}

/// Applies every setting of `ConnectionArgs` to a runtime's `ClientBuilder` (they all have the
/// same setters).
macro_rules! configure {
    ($builder:expr, $connection:expr) => {{
        let c: &$crate::args::ConnectionArgs = $connection;
        let mut b = $builder;
        if let Some(v) = &c.endpoint {
            b = b.endpoint(v.clone());
        }
        if let Some(v) = &c.base_url {
            b = b.base_url(v.clone());
        }
        for path in &c.ca_file {
            b = b.ca_file(path.clone());
        }
        if c.native_roots {
            b = b.native_roots(true);
        }
        if c.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(v) = &c.proxy {
            b = b.proxy(v.clone());
        }
        if c.proxy_from_env {
            b = b.proxy_from_env(true);
        }
        if c.no_ack {
            b = b.ack_mode(false);
        }
        if c.no_reconnect {
            b = b.auto_reconnect(false);
        }
        if let Some(v) = c.reconnect_base {
            b = b.reconnect_base(v);
        }
        if let Some(v) = c.reconnect_max {
            b = b.reconnect_max(v);
        }
        if let Some(v) = c.reconnect_multiplier {
            b = b.reconnect_multiplier(v);
        }
        if let Some(v) = c.reconnect_jitter {
            b = b.reconnect_jitter(v);
        }
        if let Some(v) = c.max_retries {
            b = b.max_retries(Some(v));
        }
        if let Some(v) = c.stable_period {
            b = b.stable_period(v);
        }
        if let Some(v) = c.seed {
            b = b.seed(v);
        }
        if let Some(v) = c.connect_timeout {
            b = b.connect_timeout(v);
        }
        if let Some(v) = c.write_timeout {
            b = b.write_timeout(v);
        }
        if let Some(v) = c.pong_timeout {
            b = b.pong_timeout(v);
        }
        if let Some(v) = c.delivery_budget {
            b = b.delivery_budget(v);
        }
        if let Some(v) = c.drain_timeout {
            b = b.drain_timeout(v);
        }
        if let Some(v) = c.max_in_flight {
            b = b.max_in_flight(v);
        }
        if let Some(v) = c.read_backlog {
            b = b.read_backlog(v);
        }
        if let Some(v) = c.dedup_window {
            b = b.dedup_window(v);
        }
        if let Some(v) = c.dedup_capacity {
            b = b.dedup_capacity(v);
        }
        if c.dedup_retry_errors {
            b = b.dedup_retry_errors(true);
        }
        if c.no_dedup {
            b = b.dedup(false);
        }
        b
    }};
}
use configure;
