//! The connection's timers: one table of deadlines, the earliest is `poll_timeout`.

use std::time::Instant;

/// Every deadline the core keeps. At most one of each kind is armed at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The opening handshake must finish by then (`connect_timeout`).
    Connect,
    /// The oldest unconfirmed send must be confirmed by then (`write_timeout`).
    Write,
    /// The server must have sent something by then (`pong_timeout`).
    Liveness,
    /// The connection counts as stable then; the backoff resets (`stable_period`).
    Stable,
    /// Time to dial again.
    Reconnect,
    /// The oldest running delivery passes its budget then (`delivery_budget`).
    SlowDelivery,
    /// In-flight deliveries have had their chance to finish (`drain_timeout`).
    Drain,
    /// The server should have closed the socket by then (after a GoAway or our close frame).
    CloseWait,
}

impl Timer {
    const ALL: [Self; 8] = [
        Self::Connect,
        Self::Write,
        Self::Liveness,
        Self::Stable,
        Self::Reconnect,
        Self::SlowDelivery,
        Self::Drain,
        Self::CloseWait,
    ];
}

/// Deadlines indexed by [`Timer`].
#[derive(Debug, Clone, Default)]
pub(super) struct TimerTable {
    deadlines: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(super) fn stop_all(&mut self) {
        self.deadlines = Default::default();
    }

    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    /// The earliest armed deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the first timer (in table order) that is due at `now`.
    pub(super) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .find(|t| self.deadlines[*t as usize].is_some_and(|at| at <= now))?;
        self.stop(timer);
        Some(timer)
    }
}
