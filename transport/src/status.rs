//! What a running client shows its handles, and how a handle asks it to stop.
//!
//! A runtime's loop owns a [`StatusBoard`] (shared with every [`ClientHandle`]): it publishes
//! the connection's state and counters after each turn, turns a stop request into
//! `Connection::close`, and marks the board finished when its `run` returns. An async loop
//! registers its waker so that a stop from another thread wakes it; the blocking loop polls the
//! flag every turn instead, which keeps [`ClientHandle::stop`] free of locks there.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use open_event_core::connection::State;
use open_event_core::stats::Stats;

use crate::metrics;

/// The state a client's loop shares with its handles: the stop request, the loop's waker and
/// the last published state and counters. Runtime crates create one per client (see
/// [`ClientOptions::prepare`](crate::ClientOptions::prepare)); applications only see it
/// through [`ClientHandle`].
#[derive(Debug, Default)]
pub struct StatusBoard {
    /// Set by [`ClientHandle::stop`].
    stop: AtomicBool,
    /// Whether a loop ever registered a waker; until then a stop takes no lock.
    waker_registered: AtomicBool,
    /// The waker of the loop's task, woken by a stop.
    waker: Mutex<Option<Waker>>,
    snapshot: Mutex<Snapshot>,
}

#[derive(Debug)]
struct Snapshot {
    state: State,
    stats: Stats,
    /// The client's `run` has returned.
    finished: bool,
    /// The loop published at least once (its state is counted in the metrics).
    reported: bool,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            state: State::Connecting,
            stats: Stats::default(),
            finished: false,
            reported: false,
        }
    }
}

impl StatusBoard {
    /// A board for a client that has not run yet: `Connecting`, zero counters, no stop request.
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle for applications, sharing this board.
    pub fn handle(self: &Arc<Self>) -> ClientHandle {
        ClientHandle {
            board: Arc::clone(self),
        }
    }

    /// Whether a stop was requested (the loop then calls `Connection::close` once).
    pub fn stop_requested(&self) -> bool {
        // SeqCst with `register` and `request_stop`: either the loop sees the flag, or the
        // stop sees the registered waker.
        self.stop.load(Ordering::SeqCst)
    }

    /// Registers the waker of the loop's task: a later stop request wakes it. Call it on every
    /// poll, before checking [`StatusBoard::stop_requested`].
    pub fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_mut() {
            Some(current) if current.will_wake(waker) => {}
            Some(current) => current.clone_from(waker),
            None => *slot = Some(waker.clone()),
        }
        drop(slot);
        self.waker_registered.store(true, Ordering::SeqCst);
    }

    /// Ready once a stop was requested; otherwise registers `cx`'s waker and stays pending.
    /// For a `select!` branch of an async loop.
    pub fn poll_stop(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.register(cx.waker());
        if self.stop_requested() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Records the connection's state and counters for the handles (after each loop turn), and
    /// what changed in the metrics (feature `metrics`, see [`metrics`](crate::metrics)).
    pub fn publish(&self, state: State, stats: &Stats) {
        let mut snapshot = self.lock();
        if !snapshot.reported || snapshot.state != state {
            metrics::state_changed(snapshot.reported.then_some(snapshot.state), state);
            snapshot.reported = true;
        }
        snapshot.state = state;
        if snapshot.stats != *stats {
            metrics::stats_changed(&snapshot.stats, stats);
            snapshot.stats.clone_from(stats);
        }
    }

    /// Records that the client's `run` has returned (and takes the client out of the state
    /// gauges of the metrics).
    pub fn finish(&self) {
        let mut snapshot = self.lock();
        if snapshot.reported && !snapshot.finished {
            // A client whose `run` returned leaves the state gauges.
            metrics::client_finished(snapshot.state);
        }
        snapshot.finished = true;
    }

    fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if !self.waker_registered.load(Ordering::SeqCst) {
            // No async loop to wake (the blocking one polls the flag): no lock taken, so this
            // stays safe inside a signal handler.
            return;
        }
        let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waker) = waker.as_ref() {
            waker.wake_by_ref();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // The snapshot is plain data: a panic elsewhere cannot leave it half-written.
        self.snapshot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stops a client and reads its state; cheap to clone, usable from any thread or task.
///
/// Take it with the client's `handle()` before calling its `run`.
#[derive(Clone)]
pub struct ClientHandle {
    board: Arc<StatusBoard>,
}

impl ClientHandle {
    /// Asks the client to stop gracefully: no new events are taken, handlers in flight get up
    /// to `drain_timeout` to finish and be acked, then the WebSocket is closed and the client's
    /// `run` returns `Ok(())`. Handlers still running when `drain_timeout` ends are not acked
    /// (the server redelivers their events). Idempotent; works before `run` starts too.
    ///
    /// On `open-event-blocking` it only sets an atomic flag, so it is safe to call from a
    /// signal handler; the IO thread notices it within a few tens of milliseconds. The async
    /// runtimes' loops are woken at once.
    pub fn stop(&self) {
        self.board.request_stop();
    }

    /// Where the connection is (as of the loop's last turn).
    pub fn state(&self) -> State {
        self.board.lock().state
    }

    /// The counters (as of the loop's last turn).
    pub fn stats(&self) -> Stats {
        self.board.lock().stats.clone()
    }

    /// Whether the client has stopped for good (its `run` returned, or is returning).
    pub fn is_stopped(&self) -> bool {
        let snapshot = self.board.lock();
        snapshot.finished || snapshot.state == State::Stopped
    }
}

impl fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandle")
            .field("state", &self.state())
            .field("stop_requested", &self.board.stop_requested())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    /// Counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_fresh_board_reports_connecting() {
        let handle = Arc::new(StatusBoard::new()).handle();
        assert_eq!(handle.state(), State::Connecting);
        assert_eq!(handle.stats(), Stats::default());
        assert!(!handle.is_stopped());
        let text = format!("{handle:?}");
        assert!(text.contains("Connecting") && text.contains("stop_requested: false"));
    }

    #[test]
    fn published_state_and_finish_reach_the_handles() {
        let board = Arc::new(StatusBoard::new());
        let handle = board.handle();
        let mut stats = Stats::default();
        stats.events_received = 3;
        board.publish(State::Open, &stats);
        assert_eq!(handle.state(), State::Open);
        assert_eq!(handle.stats().events_received, 3);
        assert!(!handle.is_stopped());
        board.finish();
        assert!(handle.is_stopped());
        board.publish(State::Stopped, &stats);
        assert!(handle.clone().is_stopped());
    }

    #[test]
    fn stop_sets_the_flag_and_wakes_a_registered_loop() {
        let board = Arc::new(StatusBoard::new());
        let handle = board.handle();
        // No waker yet: the flag alone.
        assert!(!board.stop_requested());
        let count = Arc::new(Count::default());
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        assert!(board.poll_stop(&mut cx).is_pending());
        handle.stop();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(board.stop_requested());
        assert!(board.poll_stop(&mut cx).is_ready());
        assert!(format!("{handle:?}").contains("stop_requested: true"));
    }

    #[test]
    fn stop_without_a_waker_only_sets_the_flag() {
        let board = Arc::new(StatusBoard::new());
        board.handle().stop();
        assert!(board.stop_requested());
        assert!(!board.waker_registered.load(Ordering::SeqCst));
    }
}
