//! Sends: the writes emitted and not yet confirmed by the adapter, the deadline of the write
//! timer that bounds them (`write_timeout`: an unconfirmed write means a dead transport), the
//! write backpressure (past [`MAX_UNCONFIRMED_WRITES`] or [`MAX_UNCONFIRMED_BYTES`] the
//! connection pauses reading and delivering), and the acks that were really flushed.

use std::collections::VecDeque;
use std::time::Instant;

use super::SendId;

/// Writes not confirmed flushed (acks, pongs) at which the connection pauses reading and
/// delivering: the socket is not taking them, so events taken now would only pile up acks that
/// cannot leave. Reading resumes when they fall to half of it. The same rule on every runtime.
pub const MAX_UNCONFIRMED_WRITES: usize = 4096;

/// The same bound in bytes of message text (acks are about 60 bytes, so the message bound
/// usually comes first; long error messages or pongs may reach this one). Half of the runtimes'
/// 1 MiB WebSocket write buffer, so the pause comes before that buffer can overflow.
pub const MAX_UNCONFIRMED_BYTES: usize = 512 * 1024;

/// What a write carries, for the accounting once it is flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Carries {
    /// An ack with code 200.
    AckOk,
    /// An ack with another code.
    AckError,
    /// Something else (a pong).
    Other,
}

/// Acks confirmed flushed by one confirmation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Flushed {
    pub(super) ok: u64,
    pub(super) error: u64,
}

#[derive(Debug)]
struct Unconfirmed {
    id: SendId,
    deadline: Instant,
    bytes: usize,
    carries: Carries,
}

/// Unconfirmed writes, oldest first, with their deadlines.
#[derive(Debug, Default)]
pub(super) struct Sends {
    unconfirmed: VecDeque<Unconfirmed>,
    bytes: usize,
    next: u64,
    congested: bool,
}

impl Sends {
    /// Numbers a new write of `bytes` due by `deadline`; also returns the deadline to arm the
    /// write timer with when it was idle (the oldest write's deadline is the one that counts).
    pub(super) fn push(
        &mut self,
        deadline: Instant,
        bytes: usize,
        carries: Carries,
    ) -> (SendId, Option<Instant>) {
        let id = SendId(self.next);
        self.next += 1;
        let arm = self.unconfirmed.is_empty().then_some(deadline);
        self.unconfirmed.push_back(Unconfirmed {
            id,
            deadline,
            bytes,
            carries,
        });
        self.bytes += bytes;
        (id, arm)
    }

    /// Every write up to and including `id` is confirmed; returns the write timer's new
    /// deadline (`None`: nothing is outstanding, stop it) and the acks this flushed.
    pub(super) fn confirm(&mut self, id: SendId) -> (Option<Instant>, Flushed) {
        let mut flushed = Flushed::default();
        while self.unconfirmed.front().is_some_and(|u| u.id <= id) {
            if let Some(done) = self.unconfirmed.pop_front() {
                self.bytes -= done.bytes;
                match done.carries {
                    Carries::AckOk => flushed.ok += 1,
                    Carries::AckError => flushed.error += 1,
                    Carries::Other => {}
                }
            }
        }
        (self.unconfirmed.front().map(|u| u.deadline), flushed)
    }

    /// Whether the writes back up: set at [`MAX_UNCONFIRMED_WRITES`] or
    /// [`MAX_UNCONFIRMED_BYTES`], cleared once both are down to half (hysteresis).
    pub(super) fn is_congested(&mut self) -> bool {
        let (count, bytes) = (self.unconfirmed.len(), self.bytes);
        if count >= MAX_UNCONFIRMED_WRITES || bytes >= MAX_UNCONFIRMED_BYTES {
            self.congested = true;
        } else if count <= MAX_UNCONFIRMED_WRITES / 2 && bytes <= MAX_UNCONFIRMED_BYTES / 2 {
            self.congested = false;
        }
        self.congested
    }

    /// The transport is gone: its writes will never be confirmed; returns how many of them
    /// were acks (never sent). Ids keep increasing.
    pub(super) fn clear(&mut self) -> u64 {
        let acks = self
            .unconfirmed
            .iter()
            .filter(|u| u.carries != Carries::Other)
            .count() as u64;
        self.unconfirmed.clear();
        self.bytes = 0;
        self.congested = false;
        acks
    }
}

#[cfg(test)]
// Time zero has to come from somewhere; everything after it is offsets.
#[allow(clippy::disallowed_methods)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_the_first_outstanding_write_arms_the_timer() {
        let t0 = Instant::now();
        let mut sends = Sends::default();
        let (a, arm) = sends.push(t0, 10, Carries::Other);
        assert_eq!(arm, Some(t0));
        let (b, arm) = sends.push(t0 + Duration::from_secs(1), 10, Carries::Other);
        assert_eq!(arm, None);
        assert!(a < b, "ids increase in emission order");
    }

    #[test]
    fn a_confirmation_covers_every_earlier_write() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut sends = Sends::default();
        let (a, _) = sends.push(at(1), 10, Carries::AckOk);
        let (b, _) = sends.push(at(2), 10, Carries::AckError);
        let (c, _) = sends.push(at(3), 10, Carries::Other);
        assert_eq!(
            sends.confirm(a),
            (Some(at(2)), Flushed { ok: 1, error: 0 }),
            "the next oldest deadline counts"
        );
        assert_eq!(
            sends.confirm(c),
            (None, Flushed { ok: 0, error: 1 }),
            "c confirms b too"
        );
        // A stale confirmation changes nothing.
        assert_eq!(sends.confirm(b), (None, Flushed::default()));
    }

    #[test]
    fn after_clear_ids_keep_increasing_and_the_timer_rearms() {
        let t0 = Instant::now();
        let mut sends = Sends::default();
        let (a, _) = sends.push(t0, 10, Carries::Other);
        sends.push(t0, 10, Carries::AckOk);
        assert_eq!(sends.clear(), 1, "one ack never left");
        let (b, arm) = sends.push(t0 + Duration::from_secs(5), 10, Carries::Other);
        assert!(b > a);
        assert_eq!(arm, Some(t0 + Duration::from_secs(5)));
        // A late confirmation of the old transport's write does not cover the new one.
        assert_eq!(sends.confirm(a).0, Some(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn congestion_sets_at_the_bound_and_clears_at_half_of_it() {
        let t0 = Instant::now();
        let mut sends = Sends::default();
        let mut ids = Vec::new();
        for _ in 0..MAX_UNCONFIRMED_WRITES - 1 {
            ids.push(sends.push(t0, 60, Carries::AckOk).0);
        }
        assert!(!sends.is_congested());
        ids.push(sends.push(t0, 60, Carries::AckOk).0);
        assert!(sends.is_congested());
        sends.confirm(ids[MAX_UNCONFIRMED_WRITES / 2 - 2]);
        assert!(sends.is_congested(), "hysteresis: not yet half");
        sends.confirm(ids[MAX_UNCONFIRMED_WRITES / 2 - 1]);
        assert!(!sends.is_congested());
        // Bytes count too: one huge write is enough.
        sends.push(t0, MAX_UNCONFIRMED_BYTES, Carries::Other);
        assert!(sends.is_congested());
        sends.clear();
        assert!(!sends.is_congested());
    }
}
