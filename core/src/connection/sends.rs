//! Sends: the writes emitted and not yet confirmed by the adapter, and the deadline of the
//! write timer that bounds them (`write_timeout`: an unconfirmed write means a dead transport).

use std::collections::VecDeque;
use std::time::Instant;

use super::SendId;

/// Unconfirmed writes, oldest first, with their deadlines.
#[derive(Debug, Default)]
pub(super) struct Sends {
    unconfirmed: VecDeque<(SendId, Instant)>,
    next: u64,
}

impl Sends {
    /// Numbers a new write due by `deadline`; also returns the deadline to arm the write timer
    /// with when it was idle (the oldest write's deadline is the one that counts).
    pub(super) fn push(&mut self, deadline: Instant) -> (SendId, Option<Instant>) {
        let id = SendId(self.next);
        self.next += 1;
        let arm = self.unconfirmed.is_empty().then_some(deadline);
        self.unconfirmed.push_back((id, deadline));
        (id, arm)
    }

    /// Every write up to and including `id` is confirmed; returns the write timer's new
    /// deadline (`None`: nothing is outstanding, stop it).
    pub(super) fn confirm(&mut self, id: SendId) -> Option<Instant> {
        while self
            .unconfirmed
            .front()
            .is_some_and(|(sent, _)| *sent <= id)
        {
            self.unconfirmed.pop_front();
        }
        self.unconfirmed.front().map(|&(_, deadline)| deadline)
    }

    /// The transport is gone: its writes will never be confirmed. Ids keep increasing.
    pub(super) fn clear(&mut self) {
        self.unconfirmed.clear();
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
        let (a, arm) = sends.push(t0);
        assert_eq!(arm, Some(t0));
        let (b, arm) = sends.push(t0 + Duration::from_secs(1));
        assert_eq!(arm, None);
        assert!(a < b, "ids increase in emission order");
    }

    #[test]
    fn a_confirmation_covers_every_earlier_write() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut sends = Sends::default();
        let (a, _) = sends.push(at(1));
        let (b, _) = sends.push(at(2));
        let (c, _) = sends.push(at(3));
        assert_eq!(
            sends.confirm(a),
            Some(at(2)),
            "the next oldest deadline counts"
        );
        assert_eq!(sends.confirm(c), None, "c confirms b too");
        // A stale confirmation changes nothing.
        assert_eq!(sends.confirm(b), None);
    }

    #[test]
    fn after_clear_ids_keep_increasing_and_the_timer_rearms() {
        let t0 = Instant::now();
        let mut sends = Sends::default();
        let (a, _) = sends.push(t0);
        sends.push(t0);
        sends.clear();
        let (b, arm) = sends.push(t0 + Duration::from_secs(5));
        assert!(b > a);
        assert_eq!(arm, Some(t0 + Duration::from_secs(5)));
        // A late confirmation of the old transport's write does not cover the new one.
        assert_eq!(sends.confirm(a), Some(t0 + Duration::from_secs(5)));
    }
}
