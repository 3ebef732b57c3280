//! The leader lease as a pure state machine: when to acquire, renew, give up, stop the
//! platform connection and release, decided from the results of lease operations and the
//! time; the relay's loop carries the steps out.
//!
//! The timing rule that keeps two instances from ever holding connections at once: the lease
//! is taken to be valid until `sent + ttl`, where `sent` is when the last successful acquire
//! or renew was *sent* (the broker started its TTL later, so this is on the safe side). Renew
//! every `ttl / 3`; retry a failed renew every `ttl / 10`; when no renew succeeded by
//! `valid_until - ttl / 3`, stop the connection gracefully (drain in-flight events, close);
//! should it still be open at `valid_until - ttl / 10`, drop it. A standby asks every
//! `ttl / 10`, so it acquires soon after the lease expired.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use open_event_relay::leadership::{Leadership, Role, Step};
//!
//! let t0 = Instant::now();
//! let ttl = Duration::from_secs(9);
//! let mut lease = Leadership::new(t0, ttl);
//! lease.handle_timeout(t0);
//! assert_eq!(lease.poll_step(), Some(Step::Acquire));
//! lease.acquired(t0, t0, Ok(Some(7)));
//! assert_eq!(lease.poll_step(), Some(Step::Connect { token: 7 }));
//! assert_eq!(lease.role(), Role::Leader);
//! assert_eq!(lease.poll_timeout(), Some(t0 + Duration::from_secs(3))); // renew at ttl / 3
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What the instance is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Waiting for the lease (or asking for it).
    Standby,
    /// Holding the lease and the platform connection.
    Leader,
    /// Lost (or could not renew) the lease: stopping the connection before the lease expires.
    SteppingDown,
    /// Done: the relay stops.
    Stopped,
}

impl Role {
    /// `standby`, `leader`, `stepping down`, `stopped`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Standby => "standby",
            Self::Leader => "leader",
            Self::SteppingDown => "stepping down",
            Self::Stopped => "stopped",
        }
    }
}

/// Something for the loop to do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Ask for the lease; report with [`Leadership::acquired`].
    Acquire,
    /// Extend the lease; report with [`Leadership::renewed`].
    Renew {
        /// The fencing token of the lease held.
        token: u64,
    },
    /// Open the platform connection (this instance leads under `token`).
    Connect {
        /// The fencing token of the lease.
        token: u64,
    },
    /// Stop the platform connection gracefully (in-flight events finish and are acked, then
    /// it closes); report its end with [`Leadership::connection_ended`].
    Disconnect,
    /// Drop the platform connection at once (the graceful stop took too long).
    Abort,
    /// Give the lease back (best effort; it expires anyway).
    Release {
        /// The fencing token to release.
        token: u64,
    },
}

/// How the platform connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// After [`Step::Disconnect`] or [`Step::Abort`].
    Stopped,
    /// The platform replaced it with a newer connection of the app (another instance took
    /// over): back to standby.
    Replaced,
    /// It gave up for good (credentials rejected, retries exhausted): the relay stops.
    Failed,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Standby {
        next_try: Instant,
    },
    Acquiring,
    Leading {
        token: u64,
        valid_until: Instant,
        next_renew: Instant,
        renewing: Option<Instant>,
    },
    SteppingDown {
        token: u64,
        valid_until: Instant,
        aborted: bool,
    },
    Stopped,
}

/// The lease's decisions for one instance (see the [module](self) documentation).
#[derive(Debug)]
pub struct Leadership {
    ttl: Duration,
    phase: Phase,
    /// A stop was asked for: finish once the connection ended.
    stopping: bool,
    /// After the connection ends: wait this long before asking for the lease again.
    rest: Duration,
    steps: VecDeque<Step>,
}

impl Leadership {
    /// A standby instance that asks for the lease at the first timeout, for a lease of `ttl`.
    pub fn new(now: Instant, ttl: Duration) -> Self {
        Self {
            ttl,
            phase: Phase::Standby { next_try: now },
            stopping: false,
            rest: Duration::ZERO,
            steps: VecDeque::new(),
        }
    }

    /// Renew interval: `ttl / 3`.
    pub fn renew_interval(&self) -> Duration {
        self.ttl / 3
    }

    /// Retry interval of a standby and of a failed renew: `ttl / 10`.
    pub fn retry_interval(&self) -> Duration {
        self.ttl / 10
    }

    /// Before its lease may expire, a leader that could not renew has this long to drain and
    /// close its connection: `ttl / 3 - ttl / 10`. Give the connection's drain timeout no
    /// more than this.
    pub fn drain_allowance(&self) -> Duration {
        self.ttl / 3 - self.ttl / 10
    }

    /// What the instance is now.
    pub fn role(&self) -> Role {
        match self.phase {
            Phase::Standby { .. } | Phase::Acquiring => Role::Standby,
            Phase::Leading { .. } => Role::Leader,
            Phase::SteppingDown { .. } => Role::SteppingDown,
            Phase::Stopped => Role::Stopped,
        }
    }

    /// The fencing token while leading or stepping down.
    pub fn token(&self) -> Option<u64> {
        match self.phase {
            Phase::Leading { token, .. } | Phase::SteppingDown { token, .. } => Some(token),
            _ => None,
        }
    }

    /// The next step, in order.
    pub fn poll_step(&mut self) -> Option<Step> {
        self.steps.pop_front()
    }

    /// When [`Leadership::handle_timeout`] has something to do next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Standby { next_try } => Some(next_try),
            Phase::Acquiring | Phase::Stopped => None,
            Phase::Leading {
                valid_until,
                next_renew,
                renewing,
                ..
            } => {
                let give_up = valid_until - self.ttl / 3;
                Some(match renewing {
                    Some(_) => give_up,
                    None => next_renew.min(give_up),
                })
            }
            Phase::SteppingDown {
                valid_until,
                aborted,
                ..
            } => (!aborted).then(|| valid_until - self.ttl / 10),
        }
    }

    /// Time passed: acquire, renew, step down or abort when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Standby { next_try } if now >= next_try && !self.stopping => {
                self.phase = Phase::Acquiring;
                self.steps.push_back(Step::Acquire);
            }
            Phase::Leading {
                token,
                valid_until,
                next_renew,
                renewing,
            } => {
                if now >= valid_until - self.ttl / 3 {
                    self.step_down(token, valid_until);
                } else if renewing.is_none() && now >= next_renew {
                    self.phase = Phase::Leading {
                        token,
                        valid_until,
                        next_renew,
                        renewing: Some(now),
                    };
                    self.steps.push_back(Step::Renew { token });
                }
            }
            Phase::SteppingDown {
                token,
                valid_until,
                aborted: false,
            } if now >= valid_until - self.ttl / 10 => {
                self.phase = Phase::SteppingDown {
                    token,
                    valid_until,
                    aborted: true,
                };
                self.steps.push_back(Step::Abort);
            }
            _ => {}
        }
    }

    /// The answer to [`Step::Acquire`], sent at `sent`: `Ok(Some(token))` granted,
    /// `Ok(None)` held by another instance, `Err(())` the broker failed.
    pub fn acquired(&mut self, now: Instant, sent: Instant, result: Result<Option<u64>, ()>) {
        if !matches!(self.phase, Phase::Acquiring) {
            return;
        }
        let retry = Phase::Standby {
            next_try: now + self.retry_interval(),
        };
        match result {
            Ok(Some(token)) => {
                let valid_until = sent + self.ttl;
                if self.stopping || now >= valid_until - self.ttl / 3 {
                    // Stopping, or the answer came too late to lead safely: hand it back.
                    self.steps.push_back(Step::Release { token });
                    self.phase = if self.stopping { Phase::Stopped } else { retry };
                    return;
                }
                self.phase = Phase::Leading {
                    token,
                    valid_until,
                    next_renew: sent + self.renew_interval(),
                    renewing: None,
                };
                self.steps.push_back(Step::Connect { token });
            }
            Ok(None) | Err(()) if self.stopping => self.phase = Phase::Stopped,
            Ok(None) | Err(()) => self.phase = retry,
        }
    }

    /// The answer to the [`Step::Renew`] sent at `sent`: `Ok(true)` extended, `Ok(false)` the
    /// lease is no longer ours (step down at once), `Err(())` the broker failed (retry until
    /// it is time to give up).
    pub fn renewed(&mut self, now: Instant, sent: Instant, result: Result<bool, ()>) {
        let Phase::Leading {
            token,
            valid_until,
            next_renew,
            renewing: Some(pending),
        } = self.phase
        else {
            return;
        };
        if pending != sent {
            return;
        }
        match result {
            Ok(true) => {
                self.phase = Phase::Leading {
                    token,
                    valid_until: valid_until.max(sent + self.ttl),
                    next_renew: sent + self.renew_interval(),
                    renewing: None,
                };
            }
            Ok(false) => self.step_down(token, valid_until),
            Err(()) => {
                self.phase = Phase::Leading {
                    token,
                    valid_until,
                    next_renew: next_renew.max(now + self.retry_interval()),
                    renewing: None,
                };
                self.handle_timeout(now);
            }
        }
    }

    /// The platform connection ended.
    pub fn connection_ended(&mut self, now: Instant, end: ConnectionEnd) {
        let (Phase::Leading { token, .. } | Phase::SteppingDown { token, .. }) = self.phase else {
            return;
        };
        self.steps.push_back(Step::Release { token });
        self.phase = match end {
            _ if self.stopping => Phase::Stopped,
            ConnectionEnd::Failed => Phase::Stopped,
            ConnectionEnd::Stopped => Phase::Standby {
                next_try: now + self.rest.max(self.retry_interval()),
            },
            // Another instance took over: let it keep the connection for a while.
            ConnectionEnd::Replaced => Phase::Standby {
                next_try: now + self.ttl,
            },
        };
    }

    /// Stop for good: a leader disconnects gracefully and releases; a standby stops at once.
    pub fn stop(&mut self) {
        self.stopping = true;
        match self.phase {
            Phase::Standby { .. } => self.phase = Phase::Stopped,
            Phase::Leading {
                token, valid_until, ..
            } => self.step_down(token, valid_until),
            Phase::Acquiring | Phase::SteppingDown { .. } | Phase::Stopped => {}
        }
    }

    fn step_down(&mut self, token: u64, valid_until: Instant) {
        self.phase = Phase::SteppingDown {
            token,
            valid_until,
            aborted: false,
        };
        self.steps.push_back(Step::Disconnect);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(10);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn steps(l: &mut Leadership) -> Vec<Step> {
        std::iter::from_fn(|| l.poll_step()).collect()
    }

    /// A leader since `t0` with token 1.
    fn leader(t0: Instant) -> Leadership {
        let mut l = Leadership::new(t0, TTL);
        l.handle_timeout(t0);
        l.acquired(t0, t0, Ok(Some(1)));
        assert_eq!(steps(&mut l), [Step::Acquire, Step::Connect { token: 1 }]);
        l
    }

    #[test]
    fn a_standby_asks_every_tenth_of_the_ttl_until_granted() {
        let t0 = Instant::now();
        let mut l = Leadership::new(t0, TTL);
        assert_eq!(l.poll_timeout(), Some(t0));
        l.handle_timeout(t0);
        assert_eq!(steps(&mut l), [Step::Acquire]);
        assert_eq!(l.poll_timeout(), None, "one request at a time");
        l.acquired(t0 + ms(5), t0, Ok(None));
        assert_eq!(l.role(), Role::Standby);
        assert_eq!(l.poll_timeout(), Some(t0 + ms(1005)));
        l.handle_timeout(t0 + ms(1004));
        assert_eq!(steps(&mut l), []);
        l.handle_timeout(t0 + ms(1005));
        assert_eq!(steps(&mut l), [Step::Acquire]);
        l.acquired(t0 + ms(1010), t0 + ms(1005), Err(()));
        assert_eq!(l.poll_timeout(), Some(t0 + ms(2010)));
        l.handle_timeout(t0 + ms(2010));
        l.acquired(t0 + ms(2020), t0 + ms(2010), Ok(Some(4)));
        assert_eq!(steps(&mut l), [Step::Acquire, Step::Connect { token: 4 }]);
        assert_eq!((l.role(), l.token()), (Role::Leader, Some(4)));
        // Renewal counts from when the acquire was sent.
        assert_eq!(l.poll_timeout(), Some(t0 + ms(2010) + TTL / 3));
    }

    #[test]
    fn a_leader_renews_every_third_of_the_ttl_from_the_send_time() {
        let t0 = Instant::now();
        let mut l = leader(t0);
        let mut sent = t0 + TTL / 3;
        for _ in 0..5 {
            assert_eq!(l.poll_timeout(), Some(sent));
            l.handle_timeout(sent);
            assert_eq!(steps(&mut l), [Step::Renew { token: 1 }]);
            l.renewed(sent + ms(400), sent, Ok(true));
            assert_eq!(l.role(), Role::Leader);
            sent += TTL / 3;
        }
    }

    #[test]
    fn failed_renewals_are_retried_then_the_leader_steps_down_before_expiry() {
        let t0 = Instant::now();
        let mut l = leader(t0);
        let mut now = t0 + TTL / 3;
        let mut renews = 0;
        while l.role() == Role::Leader {
            l.handle_timeout(now);
            for step in steps(&mut l) {
                match step {
                    Step::Renew { .. } => {
                        renews += 1;
                        l.renewed(now + ms(50), now, Err(()));
                    }
                    Step::Disconnect => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            now = l.poll_timeout().unwrap();
        }
        assert!(renews >= 3, "retried every ttl/10: {renews}");
        assert_eq!(l.role(), Role::SteppingDown);
        let gave_up_at = now.min(t0 + TTL - TTL / 3);
        assert!(gave_up_at <= t0 + TTL - TTL / 3);
        // The graceful stop gets until ttl/10 before expiry, then the connection is dropped.
        assert_eq!(l.poll_timeout(), Some(t0 + TTL - TTL / 10));
        l.handle_timeout(t0 + TTL - TTL / 10);
        assert_eq!(steps(&mut l), [Step::Abort]);
        assert_eq!(l.poll_timeout(), None);
        l.connection_ended(t0 + TTL - ms(900), ConnectionEnd::Stopped);
        assert_eq!(steps(&mut l), [Step::Release { token: 1 }]);
        assert_eq!(l.role(), Role::Standby);
        assert_eq!(l.poll_timeout(), Some(t0 + TTL - ms(900) + TTL / 10));
    }

    #[test]
    fn a_late_renewal_answer_does_not_extend_past_the_give_up_point() {
        let t0 = Instant::now();
        let mut l = leader(t0);
        l.handle_timeout(t0 + TTL / 3);
        assert_eq!(steps(&mut l), [Step::Renew { token: 1 }]);
        // The renew hangs; at the give-up point the leader steps down regardless.
        l.handle_timeout(t0 + TTL - TTL / 3);
        assert_eq!(steps(&mut l), [Step::Disconnect]);
        l.renewed(t0 + TTL - ms(3000), t0 + TTL / 3, Ok(true));
        assert_eq!(
            l.role(),
            Role::SteppingDown,
            "a stepping-down leader stays down"
        );
    }

    #[test]
    fn a_lost_lease_steps_down_at_once() {
        let t0 = Instant::now();
        let mut l = leader(t0);
        l.handle_timeout(t0 + TTL / 3);
        steps(&mut l);
        l.renewed(t0 + TTL / 3 + ms(1), t0 + TTL / 3, Ok(false));
        assert_eq!(steps(&mut l), [Step::Disconnect]);
        assert_eq!(l.role(), Role::SteppingDown);
    }

    #[test]
    fn a_grant_that_arrives_too_late_is_released_unused() {
        let t0 = Instant::now();
        let mut l = Leadership::new(t0, TTL);
        l.handle_timeout(t0);
        steps(&mut l);
        l.acquired(t0 + TTL - TTL / 3, t0, Ok(Some(9)));
        assert_eq!(steps(&mut l), [Step::Release { token: 9 }]);
        assert_eq!(l.role(), Role::Standby);
    }

    #[test]
    fn replaced_means_back_to_standby_for_a_ttl_and_failed_means_stop() {
        let t0 = Instant::now();
        let mut l = leader(t0);
        l.connection_ended(t0 + ms(100), ConnectionEnd::Replaced);
        assert_eq!(steps(&mut l), [Step::Release { token: 1 }]);
        assert_eq!(l.role(), Role::Standby);
        assert_eq!(l.poll_timeout(), Some(t0 + ms(100) + TTL));

        let mut l = leader(t0);
        l.connection_ended(t0 + ms(100), ConnectionEnd::Failed);
        assert_eq!(steps(&mut l), [Step::Release { token: 1 }]);
        assert_eq!(l.role(), Role::Stopped);
    }

    #[test]
    fn stop_drains_a_leader_and_ends_a_standby() {
        let t0 = Instant::now();
        let mut l = leader(t0);
        l.stop();
        assert_eq!(steps(&mut l), [Step::Disconnect]);
        l.connection_ended(t0 + ms(10), ConnectionEnd::Stopped);
        assert_eq!(steps(&mut l), [Step::Release { token: 1 }]);
        assert_eq!(l.role(), Role::Stopped);

        let mut l = Leadership::new(t0, TTL);
        l.stop();
        assert_eq!(l.role(), Role::Stopped);
        assert_eq!(l.poll_timeout(), None);
        l.handle_timeout(t0);
        assert_eq!(steps(&mut l), []);

        // Stopped while asking: a grant that comes back is released.
        let mut l = Leadership::new(t0, TTL);
        l.handle_timeout(t0);
        steps(&mut l);
        l.stop();
        l.acquired(t0 + ms(5), t0, Ok(Some(3)));
        assert_eq!(steps(&mut l), [Step::Release { token: 3 }]);
        assert_eq!(l.role(), Role::Stopped);
    }

    #[test]
    fn the_drain_allowance_fits_before_the_abort_point() {
        let l = Leadership::new(Instant::now(), TTL);
        assert_eq!(l.drain_allowance(), TTL / 3 - TTL / 10);
        assert!(l.renew_interval() * 2 + l.drain_allowance() < TTL);
    }
}
