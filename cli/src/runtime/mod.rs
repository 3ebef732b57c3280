//! Running a client on the chosen runtime. Everything runtime-specific lives in one small
//! module per runtime; they all take the same [`ClientSpec`] and [`App`] and return the same
//! [`Finished`].

mod async_std;
mod blocking;
mod tokio;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use open_event_core::config::Settings;
use open_event_core::connection::Notice;
use open_event_core::stats::Stats;
use open_event_core::{Credentials, Event};
use open_event_tokio::RunError;
use open_event_tokio::{BuildError, ClientHandle};

use crate::args::RuntimeKind;
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
    /// Every setting but the credentials: the flags over the `OPEN_EVENT_*` variables
    /// ([`crate::client_settings::resolve`]).
    pub(crate) settings: Settings,
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
