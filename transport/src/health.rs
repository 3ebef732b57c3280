//! Whether a client is healthy and ready, decided from its notices with injected time: what a
//! `/healthz` and a `/readyz` endpoint answer (the `openevent` CLI serves them with
//! `--metrics`).
//!
//! - **Live** ([`Health::liveness`]): while the WebSocket is open; and while it is not, for
//!   `grace` after the connection was lost (or after the client started, for the first
//!   connect), so one reconnect does not fail a probe. Never once stopped.
//! - **Ready** ([`Health::readiness`]): once the first connection succeeded, until a stop
//!   begins.

use std::fmt;
use std::time::{Duration, Instant};

use open_event_core::connection::Notice;
use open_event_core::duration_text;

/// A probe's answer: healthy or not, and a short reason for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// 200 when `true`, 503 when `false`.
    pub ok: bool,
    /// One line saying why.
    pub reason: String,
}

impl Verdict {
    /// A healthy answer.
    pub fn ok(reason: impl Into<String>) -> Self {
        Self {
            ok: true,
            reason: reason.into(),
        }
    }

    /// An unhealthy answer.
    pub fn failing(reason: impl Into<String>) -> Self {
        Self {
            ok: false,
            reason: reason.into(),
        }
    }

    /// The HTTP status for it: 200 or 503.
    pub fn status(&self) -> u16 {
        if self.ok { 200 } else { 503 }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A client's health as its notices tell it. Feed every notice with
/// [`Health::observe`]; ask with [`Health::liveness`] and [`Health::readiness`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use open_event_core::connection::{CloseInfo, DisconnectCause, Notice};
/// use open_event_transport::health::Health;
///
/// let start = Instant::now();
/// let grace = Duration::from_secs(30);
/// let mut health = Health::new(start);
/// assert!(health.liveness(start, grace).ok); // connecting, within the grace
/// assert!(!health.readiness(false).ok); // never connected yet
///
/// health.observe(start, &Notice::Connected { reconnect: false });
/// assert!(health.liveness(start, grace).ok && health.readiness(false).ok);
///
/// let lost = start + Duration::from_secs(60);
/// health.observe(lost, &Notice::Disconnected(DisconnectCause::Closed(CloseInfo::error("reset"))));
/// assert!(health.liveness(lost + Duration::from_secs(10), grace).ok);
/// let late = health.liveness(lost + Duration::from_secs(31), grace);
/// assert_eq!(late.status(), 503);
/// assert!(late.reason.contains("reset"), "{late}");
/// ```
#[derive(Debug, Clone)]
pub struct Health {
    started: Instant,
    /// The WebSocket is open.
    up: bool,
    /// A connection succeeded at least once.
    connected_once: bool,
    /// When the last connection was lost.
    lost_at: Option<Instant>,
    /// Why, as a line.
    last_cause: Option<String>,
    /// The client stopped for good, and why.
    stopped: Option<String>,
}

impl Health {
    /// A client that started at `now` and has not connected yet.
    pub fn new(now: Instant) -> Self {
        Self {
            started: now,
            up: false,
            connected_once: false,
            lost_at: None,
            last_cause: None,
            stopped: None,
        }
    }

    /// Takes in one notice of the client, reported at `now`.
    pub fn observe(&mut self, now: Instant, notice: &Notice) {
        match notice {
            Notice::Connected { .. } => {
                self.up = true;
                self.connected_once = true;
                self.lost_at = None;
                // A new client took over (e.g. a relay's next leadership term).
                self.stopped = None;
            }
            Notice::Disconnected(cause) => {
                if self.up || self.lost_at.is_none() {
                    self.lost_at = Some(now);
                }
                self.up = false;
                self.last_cause = Some(cause.to_string());
            }
            Notice::Stopped(reason) => {
                self.up = false;
                self.stopped = Some(reason.to_string());
            }
            _ => {}
        }
    }

    /// Whether the WebSocket is open now.
    pub fn is_connected(&self) -> bool {
        self.up
    }

    /// `/healthz`: connected, or not connected for at most `grace` (counted from the loss of
    /// the connection, or from the start before the first connect).
    pub fn liveness(&self, now: Instant, grace: Duration) -> Verdict {
        if let Some(reason) = &self.stopped {
            return Verdict::failing(format!("stopped: {reason}"));
        }
        if self.up {
            return Verdict::ok("connected");
        }
        let since = self.lost_at.unwrap_or(self.started);
        let down = now.saturating_duration_since(since);
        let what = if self.connected_once {
            "reconnecting"
        } else {
            "connecting"
        };
        let last = self
            .last_cause
            .as_ref()
            .map_or_else(String::new, |cause| format!("; last: {cause}"));
        let grace_text = duration_text::format_duration(grace);
        let down_text = duration_text::format_duration(Duration::from_secs(down.as_secs()));
        if down <= grace {
            Verdict::ok(format!(
                "{what} for {down_text}, within the {grace_text} grace{last}"
            ))
        } else {
            Verdict::failing(format!(
                "not connected for {down_text}, past the {grace_text} grace{last}"
            ))
        }
    }

    /// `/readyz`: the first connection succeeded, and no stop has begun (`stopping`: the
    /// application asked the client to stop).
    pub fn readiness(&self, stopping: bool) -> Verdict {
        if let Some(reason) = &self.stopped {
            Verdict::failing(format!("stopped: {reason}"))
        } else if stopping {
            Verdict::failing("stopping")
        } else if !self.connected_once {
            Verdict::failing("not connected yet")
        } else {
            Verdict::ok("ready")
        }
    }
}

#[cfg(test)]
mod tests {
    use open_event_core::connection::{CloseInfo, DisconnectCause, OpenError, StopReason};

    use super::*;

    const GRACE: Duration = Duration::from_secs(30);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn refused() -> Notice {
        Notice::Disconnected(DisconnectCause::ConnectFailed(OpenError::Transport(
            "connection refused".into(),
        )))
    }

    #[test]
    fn the_first_connect_gets_the_grace_from_the_start() {
        let t0 = Instant::now();
        let mut health = Health::new(t0);
        let early = health.liveness(t0 + secs(5), GRACE);
        assert!(
            early.ok && early.reason.starts_with("connecting for 5s"),
            "{early}"
        );
        health.observe(t0 + secs(1), &refused());
        let at_grace = health.liveness(t0 + secs(31), GRACE);
        assert!(at_grace.ok, "grace counts from the loss: {at_grace}");
        let late = health.liveness(t0 + secs(32), GRACE);
        assert_eq!(late.status(), 503);
        assert!(late.reason.contains("connection refused"), "{late}");
        assert_eq!(health.readiness(false).reason, "not connected yet");
    }

    #[test]
    fn failed_attempts_do_not_restart_the_grace() {
        let t0 = Instant::now();
        let mut health = Health::new(t0);
        health.observe(t0, &Notice::Connected { reconnect: false });
        assert_eq!(
            health.liveness(t0 + secs(3600), GRACE),
            Verdict::ok("connected")
        );
        let lost = t0 + secs(100);
        health.observe(
            lost,
            &Notice::Disconnected(DisconnectCause::Closed(CloseInfo::error("reset"))),
        );
        // Later failed attempts keep the time of the loss.
        health.observe(lost + secs(20), &refused());
        let within = health.liveness(lost + secs(30), GRACE);
        assert!(
            within.ok && within.reason.starts_with("reconnecting for 30s"),
            "{within}"
        );
        let past = health.liveness(lost + secs(31), GRACE);
        assert!(
            !past.ok && past.reason.contains("past the 30s grace"),
            "{past}"
        );
        assert!(health.readiness(false).ok, "ready stays: it connected once");
        health.observe(lost + secs(40), &Notice::Connected { reconnect: true });
        assert!(health.is_connected() && health.liveness(lost + secs(40), GRACE).ok);
    }

    #[test]
    fn a_stop_fails_both_probes() {
        let t0 = Instant::now();
        let mut health = Health::new(t0);
        health.observe(t0, &Notice::Connected { reconnect: false });
        assert_eq!(health.readiness(true), Verdict::failing("stopping"));
        health.observe(t0, &Notice::Disconnected(DisconnectCause::Requested));
        health.observe(t0, &Notice::Stopped(StopReason::Requested));
        let live = health.liveness(t0, GRACE);
        assert_eq!(live.reason, "stopped: stopped as requested");
        assert_eq!(live.status(), 503);
        assert!(!health.readiness(false).ok);
        // A later client reporting here (a relay's next term) makes it live again.
        health.observe(t0, &Notice::Connected { reconnect: false });
        assert!(health.liveness(t0, GRACE).ok && health.readiness(false).ok);
    }
}
