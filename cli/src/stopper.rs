//! Graceful stops from anywhere: Ctrl+C / SIGTERM, `--max-events`, a closed stdout, the end of
//! the demo. One `Stopper` per run; whoever holds it can ask for the stop before or after the
//! client exists.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::failure::Failure;

type Action = Box<dyn Fn() + Send + 'static>;

/// Asks a running client (or emulator) to stop gracefully.
#[derive(Default)]
pub(crate) struct Stopper {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    action: Option<Action>,
    requested: bool,
}

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopper")
            .field("requested", &self.is_requested())
            .finish_non_exhaustive()
    }
}

impl Stopper {
    pub(crate) fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Sets what a stop does (e.g. `handle.stop()`); runs it at once if a stop was already
    /// asked for.
    pub(crate) fn arm(&self, action: impl Fn() + Send + 'static) {
        let mut inner = self.lock();
        if inner.requested {
            action();
        }
        inner.action = Some(Box::new(action));
    }

    /// Forgets the action (the client it stops is gone).
    pub(crate) fn disarm(&self) {
        self.lock().action = None;
    }

    /// Asks for the stop; returns whether this was the first request.
    pub(crate) fn stop(&self) -> bool {
        let mut inner = self.lock();
        let first = !inner.requested;
        inner.requested = true;
        if let Some(action) = &inner.action {
            action();
        }
        first
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.lock().requested
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to `stopper`: the first one stops gracefully (and `say`s
/// so), a second one exits at once with code 130. Works the same under every runtime (the
/// handler runs on its own thread).
pub(crate) fn install_signals(
    stopper: Arc<Stopper>,
    say: impl Fn(&str) + Send + 'static,
) -> Result<(), Failure> {
    let count = AtomicUsize::new(0);
    ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            say("stopping gracefully (press Ctrl+C again to quit at once)");
            stopper.stop();
        } else {
            say("quitting at once");
            std::process::exit(130);
        }
    })
    .map_err(|err| Failure::other(format!("cannot install the Ctrl+C handler: {err}")))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn a_stop_before_arming_runs_at_arming() {
        let stopper = Stopper::new();
        assert!(stopper.stop());
        assert!(!stopper.stop());
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        stopper.arm(move || flag.store(true, Ordering::SeqCst));
        assert!(ran.load(Ordering::SeqCst));
        assert!(stopper.is_requested());
    }

    #[test]
    fn a_stop_after_arming_runs_the_action() {
        let stopper = Stopper::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        stopper.arm(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        stopper.stop();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        stopper.disarm();
        stopper.stop();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
