//! Deliveries: the events handed to the application and not completed yet, their time budgets,
//! the backlog queued behind the in-flight bound, and whether reading is paused for it.
//!
//! Bookkeeping only: [`Deliveries`] says what to do (deliver, queue, pause, resume, report a
//! slow delivery) and the [`Connection`](super::Connection) does it (actions, timers, dedup).

use std::collections::vec_deque::Drain;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::Event;

use super::{DeliveryToken, Notice, UsageError};

/// One delivery that is out.
#[derive(Debug)]
pub(super) struct InFlight {
    /// The transport that carried the event (the only one its ack may go out on).
    pub(super) transport: u64,
    pub(super) nonce: String,
    pub(super) event_code: String,
    started: Instant,
}

/// What the oldest running budget says at a given time.
#[derive(Debug, PartialEq)]
pub(super) enum Budget {
    /// This delivery has run past its budget (reported once).
    Overdue(Notice),
    /// The next budget ends then.
    Until(Instant),
    /// No delivery is running.
    Idle,
}

/// In-flight deliveries, their budgets and the backlog.
#[derive(Debug, Default)]
pub(super) struct Deliveries {
    in_flight: HashMap<u64, InFlight>,
    /// Deliveries of the current transport still out (graceful close waits for these).
    current: usize,
    /// Delivery budgets in start order: `(deadline, seq)`; completed ones are skipped lazily.
    budgets: VecDeque<(Instant, u64)>,
    next_seq: u64,
    backlog: VecDeque<Event>,
    paused: bool,
}

impl Deliveries {
    /// Deliveries handed out and not completed yet (all transports).
    pub(super) fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Deliveries of the current transport still out.
    pub(super) fn current(&self) -> usize {
        self.current
    }

    /// Whether another delivery fits under `max_in_flight`.
    pub(super) fn has_room(&self, max_in_flight: usize) -> bool {
        self.in_flight.len() < max_in_flight
    }

    /// Whether reading is paused because the backlog filled up.
    pub(super) fn is_paused(&self) -> bool {
        self.paused
    }

    /// A new transport: none of its deliveries are out yet.
    pub(super) fn new_transport(&mut self) {
        self.current = 0;
    }

    /// Hands out `event` on `transport` at `now` with `budget`; returns its token and the end
    /// of its budget.
    pub(super) fn start(
        &mut self,
        now: Instant,
        transport: u64,
        event: &Event,
        budget: Duration,
    ) -> (DeliveryToken, Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight.insert(
            seq,
            InFlight {
                transport,
                nonce: event.nonce.clone(),
                event_code: event.event_code().to_owned(),
                started: now,
            },
        );
        self.current += 1;
        let deadline = now + budget;
        self.budgets.push_back((deadline, seq));
        (DeliveryToken { transport, seq }, deadline)
    }

    /// The event code and start of the delivery of `token`, while it is out.
    pub(super) fn started(&self, token: DeliveryToken) -> Option<(&str, Instant)> {
        self.in_flight
            .get(&token.seq)
            .filter(|f| f.transport == token.transport)
            .map(|f| (f.event_code.as_str(), f.started))
    }

    /// Takes the delivery of `token` back; `current_transport` is the transport now up.
    ///
    /// # Errors
    /// [`UsageError::UnknownDelivery`] when it was completed already or is not ours.
    pub(super) fn finish(
        &mut self,
        token: DeliveryToken,
        current_transport: u64,
    ) -> Result<InFlight, UsageError> {
        // Checked before removal: a token that does not match leaves the delivery in place.
        if self
            .in_flight
            .get(&token.seq)
            .is_none_or(|f| f.transport != token.transport)
        {
            return Err(UsageError::UnknownDelivery);
        }
        let flight = self
            .in_flight
            .remove(&token.seq)
            .ok_or(UsageError::UnknownDelivery)?;
        if flight.transport == current_transport {
            self.current = self.current.saturating_sub(1);
        }
        while self
            .budgets
            .front()
            .is_some_and(|(_, seq)| !self.in_flight.contains_key(seq))
        {
            self.budgets.pop_front();
        }
        Ok(flight)
    }

    /// Checks the oldest running budget at `now`. Call it again after an `Overdue`.
    pub(super) fn next_overdue(&mut self, now: Instant) -> Budget {
        while let Some(&(deadline, seq)) = self.budgets.front() {
            let Some(flight) = self.in_flight.get(&seq) else {
                self.budgets.pop_front();
                continue;
            };
            if deadline > now {
                return Budget::Until(deadline);
            }
            let notice = Notice::SlowDelivery {
                nonce: flight.nonce.clone(),
                event_code: flight.event_code.clone(),
                elapsed: now.saturating_duration_since(flight.started),
            };
            self.budgets.pop_front();
            return Budget::Overdue(notice);
        }
        Budget::Idle
    }

    /// Queues an event that found no free slot; returns true when reading must pause now
    /// (the backlog reached `read_backlog`).
    pub(super) fn queue(&mut self, event: Event, read_backlog: usize) -> bool {
        self.backlog.push_back(event);
        if self.backlog.len() >= read_backlog && !self.paused {
            self.paused = true;
            return true;
        }
        false
    }

    /// The next queued event, when a slot under `max_in_flight` is free.
    pub(super) fn next_queued(&mut self, max_in_flight: usize) -> Option<Event> {
        if self.has_room(max_in_flight) {
            self.backlog.pop_front()
        } else {
            None
        }
    }

    /// Returns true when reading must resume now. Hysteresis: reading resumes once the backlog
    /// is half empty, not at the first free slot.
    pub(super) fn resume(&mut self, read_backlog: usize) -> bool {
        if self.paused && self.backlog.len() <= read_backlog / 2 {
            self.paused = false;
            return true;
        }
        false
    }

    /// Empties the backlog, yielding the events that were never delivered.
    pub(super) fn drain_backlog(&mut self) -> Drain<'_, Event> {
        self.backlog.drain(..)
    }
}

#[cfg(test)]
// Time zero has to come from somewhere; everything after it is offsets.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn event(nonce: &str) -> Event {
        Event::new("kso.app_chat", "create", 1, nonce, "{}")
    }

    const BUDGET: Duration = Duration::from_secs(3);

    #[test]
    fn a_token_completes_once_and_only_its_own_delivery() {
        let now = Instant::now();
        let mut d = Deliveries::default();
        let (token, deadline) = d.start(now, 1, &event("a"), BUDGET);
        assert_eq!(deadline, now + BUDGET);
        assert_eq!((d.len(), d.current()), (1, 1));

        let forged = DeliveryToken {
            transport: 2,
            seq: token.seq,
        };
        assert_eq!(
            d.finish(forged, 1).unwrap_err(),
            UsageError::UnknownDelivery
        );
        assert_eq!(d.started(forged), None);
        assert_eq!(d.started(token), Some(("kso.app_chat.create", now)));
        // A forged token does not consume the real delivery.
        let flight = d.finish(token, 1).unwrap();
        assert_eq!((flight.nonce.as_str(), flight.transport), ("a", 1));
        assert_eq!((d.len(), d.current()), (0, 0));
        assert_eq!(d.finish(token, 1).unwrap_err(), UsageError::UnknownDelivery);
        assert_eq!(d.started(token), None);
    }

    #[test]
    fn only_deliveries_of_the_current_transport_count_as_current() {
        let now = Instant::now();
        let mut d = Deliveries::default();
        let (old, _) = d.start(now, 1, &event("a"), BUDGET);
        d.new_transport();
        let (new, _) = d.start(now, 2, &event("b"), BUDGET);
        assert_eq!((d.len(), d.current()), (2, 1));
        d.finish(old, 2).unwrap();
        assert_eq!((d.len(), d.current()), (1, 1));
        d.finish(new, 2).unwrap();
        assert_eq!((d.len(), d.current()), (0, 0));
    }

    #[test]
    fn budgets_report_each_overdue_delivery_once_in_start_order() {
        let t0 = Instant::now();
        let mut d = Deliveries::default();
        let (a, _) = d.start(t0, 1, &event("a"), BUDGET);
        d.start(t0 + Duration::from_secs(1), 1, &event("b"), BUDGET);
        let (_, c_end) = d.start(t0 + Duration::from_secs(2), 1, &event("c"), BUDGET);
        assert_eq!(d.next_overdue(t0), Budget::Until(t0 + BUDGET));

        // `a` completed in time: skipped; `b` is overdue at 4.5 s, `c` not yet.
        d.finish(a, 1).unwrap();
        let now = t0 + Duration::from_millis(4500);
        let Budget::Overdue(Notice::SlowDelivery { nonce, elapsed, .. }) = d.next_overdue(now)
        else {
            panic!("b should be overdue")
        };
        assert_eq!(
            (nonce.as_str(), elapsed),
            ("b", Duration::from_millis(3500))
        );
        assert_eq!(d.next_overdue(now), Budget::Until(c_end));
        assert!(matches!(d.next_overdue(c_end), Budget::Overdue(_)));
        assert_eq!(d.next_overdue(c_end + BUDGET), Budget::Idle);
        // Overdue deliveries stay in flight until completed.
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn the_backlog_pauses_when_full_and_resumes_when_half_empty() {
        let mut d = Deliveries::default();
        assert!(!d.queue(event("1"), 4));
        assert!(!d.queue(event("2"), 4));
        assert!(!d.queue(event("3"), 4));
        assert!(d.queue(event("4"), 4), "full: pause");
        assert!(d.is_paused());
        assert!(!d.queue(event("5"), 4), "already paused: no second pause");
        assert!(!d.resume(4));

        // Slots free up one by one (max_in_flight 1, nothing in flight).
        let mut taken = Vec::new();
        while d.backlog.len() > 2 {
            taken.push(d.next_queued(1).unwrap().nonce);
        }
        assert_eq!(taken, ["1", "2", "3"]);
        assert!(d.resume(4), "half empty: resume");
        assert!(!d.is_paused());
        assert!(!d.resume(4), "resumes once");
    }

    #[test]
    fn queued_events_wait_for_a_free_slot() {
        let now = Instant::now();
        let mut d = Deliveries::default();
        let (token, _) = d.start(now, 1, &event("a"), BUDGET);
        d.queue(event("b"), 8);
        assert!(d.next_queued(1).is_none());
        d.finish(token, 1).unwrap();
        assert_eq!(d.next_queued(1).unwrap().nonce, "b");
        assert!(d.next_queued(1).is_none());
    }

    #[test]
    fn an_empty_backlog_with_no_room_for_it_pauses_at_once() {
        // read_backlog 0: the first event past the in-flight bound pauses reading.
        let mut d = Deliveries::default();
        assert!(d.queue(event("a"), 0));
        let dropped: Vec<String> = d.drain_backlog().map(|e| e.nonce).collect();
        assert_eq!(dropped, ["a"]);
        assert!(d.resume(0));
    }
}
