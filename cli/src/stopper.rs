//! Graceful stops from anywhere: Ctrl+C / SIGTERM, `--max-events`, a closed stdout, the end of
//! the demo. One `Stopper` per run; whoever holds it can ask for the stop before or after the
//! client exists.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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
    /// What a forced quit does before exiting (kill the `--exec` children).
    force: Option<Action>,
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

    /// Sets what a forced quit (the second Ctrl+C) does before the process exits.
    pub(crate) fn on_force(&self, action: impl Fn() + Send + 'static) {
        self.lock().force = Some(Box::new(action));
    }

    /// Runs the forced-quit action, if any.
    fn force(&self) {
        if let Some(action) = &self.lock().force {
            action();
        }
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.lock().requested
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Signals closer together than this are one press: `timeout -s INT` signals the process and
/// then its whole group, and a terminal may do the same; a person's second press comes later.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// What a stop signal means, given the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Press {
    /// The first: stop gracefully.
    First,
    /// Part of the first press (within [`DEBOUNCE`] of it): ignored.
    Same,
    /// A second press: quit at once.
    Force,
}

/// Counts presses, with the debounce.
#[derive(Debug, Default)]
struct Presses {
    first: Option<Instant>,
}

impl Presses {
    fn press(&mut self, now: Instant) -> Press {
        match self.first {
            None => {
                self.first = Some(now);
                Press::First
            }
            Some(at) if now.saturating_duration_since(at) < DEBOUNCE => Press::Same,
            Some(_) => Press::Force,
        }
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to `stopper`: the first one stops gracefully (and `say`s
/// so), a second one (at least [`DEBOUNCE`] later) runs the [`Stopper::on_force`] action and
/// exits at once with code 130. Works the same under every runtime (the handler runs on its
/// own thread).
pub(crate) fn install_signals(
    stopper: Arc<Stopper>,
    say: impl Fn(&str) + Send + 'static,
) -> Result<(), Failure> {
    let mut presses = Presses::default();
    ctrlc::set_handler(move || match presses.press(Instant::now()) {
        Press::First => {
            say("stopping gracefully (press Ctrl+C again to quit at once)");
            stopper.stop();
        }
        Press::Same => {}
        Press::Force => {
            say("quitting at once");
            stopper.force();
            std::process::exit(130);
        }
    })
    .map_err(|err| Failure::other(format!("cannot install the Ctrl+C handler: {err}")))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

    #[test]
    fn signals_within_the_debounce_are_one_press() {
        let mut presses = Presses::default();
        let t0 = Instant::now();
        assert_eq!(presses.press(t0), Press::First);
        assert_eq!(presses.press(t0), Press::Same);
        assert_eq!(presses.press(t0 + Duration::from_millis(199)), Press::Same);
        assert_eq!(presses.press(t0 + DEBOUNCE), Press::Force);
    }

    #[test]
    fn the_force_action_runs_only_on_force() {
        let stopper = Stopper::new();
        let forced = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&forced);
        stopper.on_force(move || flag.store(true, Ordering::SeqCst));
        stopper.stop();
        assert!(!forced.load(Ordering::SeqCst));
        stopper.force();
        assert!(forced.load(Ordering::SeqCst));
    }
}
