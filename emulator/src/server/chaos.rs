//! Chaos for soak tests: random transport drops, lost acks and read stalls, and the hostile
//! behaviours of slow or half-closing peers (a server that stops reading, a server that sends a
//! close frame and keeps the TCP connection open).
//!
//! The server decides (sans-IO, from a seeded PRNG) *when*; the runner carries out the read
//! stalls and the held sockets, which it learns from [`Server::take_read_stall`] and
//! [`Server::held_open_until`].

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use super::{CommandError, ConnId, Phase, Server, ServerAction, ServerFrame};

/// Random misbehaviour for soak runs, drawn from a seeded PRNG (the same seed and the same
/// client behaviour give the same run). Every part is off until set.
///
/// - **drops**: the active connection is dropped (no close frame) after a random number of
///   acks, uniform in `[every / 2, every * 3 / 2]`; the events not acked with 200 are then
///   redelivered on the next connection;
/// - **lost acks**: this many per mille of the acks are ignored, as if they never arrived (so
///   their events stay pending and are redelivered);
/// - **read stalls**: after a random number of acks (uniform in `[every / 2, every * 3 / 2]`)
///   the runner stops reading the connection for a while, so the client's writes back up.
///
/// ```
/// use std::time::Duration;
/// use open_event_core::Credentials;
/// use open_event_emulator::server::{Chaos, ServerConfig};
///
/// let chaos = Chaos::new(7)
///     .drop_every(1_000)
///     .lose_acks_per_mille(100)
///     .stall_reading(5_000, Duration::from_millis(200));
/// let config = ServerConfig::new(Credentials::new("AK123456", "sk098765")).chaos(chaos);
/// assert_eq!(config.chaos.unwrap().ack_loss_per_mille, 100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Chaos {
    /// Seed of the PRNG that draws the drops, losses and stalls.
    pub seed: u64,
    /// Mean number of acks between two drops; `None` is off.
    pub drop_every: Option<NonZeroU32>,
    /// Acks ignored, per mille (0 to 1000).
    pub ack_loss_per_mille: u16,
    /// Mean number of acks between two read stalls; `None` is off.
    pub stall_every: Option<NonZeroU32>,
    /// How long one read stall lasts.
    pub stall_for: Duration,
}

impl Chaos {
    /// No chaos yet, drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            drop_every: None,
            ack_loss_per_mille: 0,
            stall_every: None,
            stall_for: Duration::ZERO,
        }
    }

    /// Drops the active connection after about every `acks` acks (0 turns drops off).
    pub fn drop_every(mut self, acks: u32) -> Self {
        self.drop_every = NonZeroU32::new(acks);
        self
    }

    /// Ignores `per_mille` of the acks (capped at 1000: every ack).
    pub fn lose_acks_per_mille(mut self, per_mille: u16) -> Self {
        self.ack_loss_per_mille = per_mille.min(1000);
        self
    }

    /// Stops reading the connection for `stall` after about every `acks` acks (0 turns stalls
    /// off).
    pub fn stall_reading(mut self, acks: u32, stall: Duration) -> Self {
        self.stall_every = NonZeroU32::new(acks);
        self.stall_for = stall;
        self
    }
}

/// What the chaos did, in [`Report::chaos`](super::Report::chaos).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChaosCounts {
    /// Connections dropped by chaos.
    pub drops: u64,
    /// Acks ignored.
    pub acks_lost: u64,
    /// Read stalls asked of the runner (by chaos or [`Server::stall_reading`]).
    pub read_stalls: u64,
}

/// The running chaos: its PRNG and countdowns.
#[derive(Debug)]
pub(super) struct ChaosRun {
    config: Chaos,
    rng: fastrand::Rng,
    acks_until_drop: u64,
    acks_until_stall: u64,
}

impl ChaosRun {
    pub(super) fn new(config: Chaos) -> Self {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let acks_until_drop = draw(&mut rng, config.drop_every);
        let acks_until_stall = draw(&mut rng, config.stall_every);
        Self {
            config,
            rng,
            acks_until_drop,
            acks_until_stall,
        }
    }
}

/// A countdown uniform in `[every / 2, every * 3 / 2]` (at least 1); `u64::MAX` when off.
fn draw(rng: &mut fastrand::Rng, every: Option<NonZeroU32>) -> u64 {
    match every {
        None => u64::MAX,
        Some(every) => {
            let every = u64::from(every.get());
            rng.u64(every / 2..=every * 3 / 2).max(1)
        }
    }
}

impl Server {
    /// Whether chaos loses this ack (then the server acts as if it never arrived).
    pub(super) fn chaos_loses_ack(&mut self) -> bool {
        let Some(run) = &mut self.chaos else {
            return false;
        };
        let lost = run.config.ack_loss_per_mille > 0
            && run.rng.u16(0..1000) < run.config.ack_loss_per_mille;
        if lost {
            self.report.chaos.acks_lost += 1;
        }
        lost
    }

    /// Counts one ack on `conn` (lost or not) towards the next drop and the next stall.
    pub(super) fn chaos_after_ack(&mut self, now: Instant, conn: ConnId) {
        let Some(run) = &mut self.chaos else { return };
        if self.active != Some(conn) {
            return;
        }
        run.acks_until_stall = run.acks_until_stall.saturating_sub(1);
        let stall = run.acks_until_stall == 0;
        if stall {
            run.acks_until_stall = draw(&mut run.rng, run.config.stall_every);
        }
        let stall_for = run.config.stall_for;
        run.acks_until_drop = run.acks_until_drop.saturating_sub(1);
        let drop = run.acks_until_drop == 0;
        if drop {
            run.acks_until_drop = draw(&mut run.rng, run.config.drop_every);
        }
        if let Some(idx) = self.index(conn) {
            if drop {
                self.report.chaos.drops += 1;
                self.drop_at(now, idx);
            } else if stall {
                self.stall_at(now, idx, stall_for);
            }
        }
    }

    fn stall_at(&mut self, now: Instant, idx: usize, duration: Duration) {
        self.report.chaos.read_stalls += 1;
        self.live[idx].read_stall = Some(now + duration);
    }

    /// Stops reading the active connection for `duration` (the client's acks and pongs back up
    /// in the socket until its receive window is full); a long duration makes a server that
    /// stops reading. The runner stops after the next text frame (an ack) it reads.
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn stall_reading(
        &mut self,
        now: Instant,
        duration: Duration,
    ) -> Result<ConnId, CommandError> {
        let now = self.advance(now);
        let idx = self.active_index().ok_or(CommandError::NoConnection)?;
        self.stall_at(now, idx, duration);
        let id = self.live[idx].id;
        self.settle(now);
        Ok(id)
    }

    /// For the runner: a read stall asked for `conn` (until when), taken once.
    pub fn take_read_stall(&mut self, conn: ConnId) -> Option<Instant> {
        let idx = self.index(conn)?;
        self.live[idx].read_stall.take()
    }

    /// Sends a close frame with `code` and `reason` on the active connection, then keeps the
    /// socket open for `hold` whatever the client does (its close reply is ignored): a peer
    /// that half-closes. The connection ends when the client drops the TCP connection or
    /// `hold` passes.
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn close_and_hold(
        &mut self,
        now: Instant,
        code: u16,
        reason: &str,
        hold: Duration,
    ) -> Result<ConnId, CommandError> {
        let now = self.advance(now);
        let idx = self.active_index().ok_or(CommandError::NoConnection)?;
        let live = &mut self.live[idx];
        let id = live.id;
        live.phase = Phase::Closing {
            drop_at: now + hold,
            code,
        };
        live.held_until = Some(now + hold);
        self.active = None;
        self.actions.push_back(ServerAction::Send {
            conn: id,
            frame: ServerFrame::Close {
                code,
                reason: reason.to_owned(),
            },
        });
        self.settle(now);
        Ok(id)
    }

    /// For the runner, before it reports the end of `conn`: whether the socket is to be kept
    /// open (until when) after the WebSocket close ([`Server::close_and_hold`]).
    pub fn held_open_until(&self, conn: ConnId) -> Option<Instant> {
        let idx = self.index(conn)?;
        self.live[idx].held_until
    }
}
