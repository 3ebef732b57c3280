//! Scripts: timed sequences of server behaviour.

use std::time::{Duration, Instant};

use open_event_core::codec::{GoAway, GoAwayReason};

use super::{CommandError, EventSpec, Malformed, ScriptRecord, Server, goaway_message};

/// A sequence of steps for the server to play, each one a delay after the previous one ran.
///
/// ```
/// use std::time::Duration;
/// use open_event_core::codec::GoAwayReason;
/// use open_event_emulator::server::{EventSpec, Script, Step};
///
/// let ms = Duration::from_millis;
/// let script = Script::new()
///     .then(ms(0), Step::WaitForConnection)
///     .then(ms(10), Step::Push(EventSpec::chat_message("hi")))
///     .then(ms(0), Step::WaitForAcks)
///     .then(ms(50), Step::GoAway { reason: GoAwayReason::ServerShutdown, reconnect_ms: Some(200) });
/// assert_eq!(script.steps().len(), 4);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    steps: Vec<ScriptStep>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `step`, to run `after` the previous step ran (or after the script started).
    pub fn then(mut self, after: Duration, step: Step) -> Self {
        self.steps.push(ScriptStep { after, step });
        self
    }

    /// The steps in order.
    pub fn steps(&self) -> &[ScriptStep] {
        &self.steps
    }

    pub(crate) fn into_steps(self) -> Vec<ScriptStep> {
        self.steps
    }
}

impl FromIterator<ScriptStep> for Script {
    fn from_iter<I: IntoIterator<Item = ScriptStep>>(iter: I) -> Self {
        Self {
            steps: iter.into_iter().collect(),
        }
    }
}

/// One step and its delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptStep {
    /// How long after the previous step ran (for a wait: was satisfied) this one runs.
    pub after: Duration,
    /// What to do.
    pub step: Step,
}

/// What a script step does. Steps that act on "the connection" use the active one (the newest
/// open connection not sent away); with none they are skipped and the skip is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Push one event.
    Push(EventSpec),
    /// Push `count` copies of an event (each with its own nonce).
    PushMany {
        /// How many.
        count: u32,
        /// The event.
        event: EventSpec,
    },
    /// Send a GoAway on the connection, then close it.
    GoAway {
        /// The reason.
        reason: GoAwayReason,
        /// The reconnect delay to announce.
        reconnect_ms: Option<u64>,
    },
    /// Drop the connection without a close frame.
    Drop,
    /// Send nothing (no pings, no events) on the connection for this long.
    Silence(Duration),
    /// Send a malformed frame on the connection.
    Malformed(Malformed),
    /// Reject the next `count` handshakes with `status`.
    RejectHandshakes {
        /// The HTTP status (400 to 599).
        status: u16,
        /// How many.
        count: u32,
    },
    /// Wait until every pushed event is acked with 200.
    WaitForAcks,
    /// Wait until a connection is open and active.
    WaitForConnection,
}

impl Step {
    pub(crate) fn is_wait(&self) -> bool {
        matches!(self, Self::WaitForAcks | Self::WaitForConnection)
    }
}

impl Server {
    // ----- script --------------------------------------------------------------------------

    pub(super) fn advance_script(&mut self, now: Instant) {
        loop {
            let Some(run) = &self.script else { return };
            let Some(front) = run.steps.front() else {
                self.script = None;
                self.report.script_finished = true;
                return;
            };
            let due = run.base + front.after;
            if due > now {
                return;
            }
            let wait = front.step.is_wait();
            if wait && !self.wait_satisfied(&front.step) {
                return;
            }
            let Some(run) = &mut self.script else { return };
            let Some(ScriptStep { step, .. }) = run.steps.pop_front() else {
                return;
            };
            let index = run.index;
            run.index += 1;
            run.base = if wait { now } else { due };
            let skipped = self.run_step(now, &step);
            self.report.script.push(ScriptRecord {
                at: now,
                index,
                step: format!("{step:?}"),
                skipped,
            });
        }
    }

    pub(super) fn wait_satisfied(&self, step: &Step) -> bool {
        match step {
            Step::WaitForAcks => self.pending.is_empty(),
            Step::WaitForConnection => self.active_index().is_some(),
            _ => true,
        }
    }

    /// Runs one step; returns why it was skipped, if it was.
    pub(super) fn run_step(&mut self, now: Instant, step: &Step) -> Option<String> {
        let no_connection = || Some(CommandError::NoConnection.to_string());
        match step {
            Step::Push(event) => match event.check() {
                Ok(()) => {
                    self.enqueue(now, event);
                    self.pump(now);
                    None
                }
                Err(err) => Some(err.to_string()),
            },
            Step::PushMany { count, event } => match event.check() {
                Ok(()) => {
                    self.enqueue_many(now, *count, event);
                    self.pump(now);
                    None
                }
                Err(err) => Some(err.to_string()),
            },
            Step::GoAway {
                reason,
                reconnect_ms,
            } => {
                let Some(idx) = self.active_index() else {
                    return no_connection();
                };
                let goaway = GoAway {
                    reason: reason.clone(),
                    message: goaway_message(reason),
                    reconnect_ms: *reconnect_ms,
                };
                self.send_goaway(now, idx, goaway);
                None
            }
            Step::Drop => {
                let Some(idx) = self.active_index() else {
                    return no_connection();
                };
                self.drop_at(now, idx);
                None
            }
            Step::Silence(duration) => {
                let Some(idx) = self.active_index() else {
                    return no_connection();
                };
                self.live[idx].silent_until = Some(now + *duration);
                None
            }
            Step::Malformed(kind) => {
                let Some(id) = self.active else {
                    return no_connection();
                };
                self.malformed_at(now, id, *kind);
                None
            }
            Step::RejectHandshakes { status, count } => self
                .reject_next_handshakes(*status, *count)
                .err()
                .map(|err| err.to_string()),
            Step::WaitForAcks | Step::WaitForConnection => None,
        }
    }
}
