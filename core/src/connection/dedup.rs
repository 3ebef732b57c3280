//! Duplicate suppression: a nonce seen again within the window is not delivered twice
//! (PROTOCOL.md §5: redeliveries reach the peers' handlers twice).
//!
//! # Policy: admission, not eviction
//!
//! A nonce is remembered from its first sighting for `dedup_window`, in a memory of at most
//! `dedup_capacity` nonces. When the memory is full, a new nonce is **delivered but not
//! remembered**; nothing already remembered is pushed out early. Entries leave only when
//! their window ends, when an undelivered event is forgotten (dropped from the backlog), or
//! when `dedup_retry_errors` forgets a failed one.
//!
//! Why not first-in-first-out: the server redelivers in the original order, so with FIFO a
//! redelivery of `N > capacity` events evicts each remembered nonce just before its copy
//! arrives and suppresses nothing (a 100 % miss rate). LRU has the same cascade, since the
//! first redelivered copies are all misses.
//!
//! **Bound.** Let `s1..sN` be distinct nonces, each redelivered within the window of its first
//! sighting, and `F` the free slots when `s1` first arrives (`F = capacity` when nothing from
//! the last window is remembered). Then at least `min(N, F)` redeliveries are suppressed.
//! *Proof:* on its first pass, `s_i` is admitted whenever a slot is free; slots are only ever
//! freed during the pass (by expiry), never taken by anything but the sequence, so at least
//! `min(N, F)` of the `s_i` are admitted. An admitted nonce is removed only by its window's
//! end (after its redelivery, by assumption) or by forgetting (an event that was never
//! delivered, whose redelivery must be delivered), so each admitted `s_i` is still there when
//! its copy arrives, and that copy is suppressed. ∎
//!
//! The price: while the memory is full, *new* events are unprotected until old entries
//! expire. [`Notice::DedupFull`] (at most once per minute) says so and names the fix: raise
//! `dedup_capacity` to at least the peak event rate times `dedup_window`.
//!
//! # Memory
//!
//! One remembered nonce costs about 190–230 bytes (hash table slack included), measured as the
//! growth of the resident set with 16-character nonces, the platform's:
//! `cargo run --release -p open-event-core --example dedup_memory N` gave 218 bytes for
//! N = 10 000 (the default capacity: about 2 MB), 187 for 100 000 and 232 for 1 000 000.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Notice;

/// The least time between two [`Notice::DedupFull`].
pub(super) const FULL_NOTICE_INTERVAL: Duration = Duration::from_secs(60);

/// What a redelivered nonce gets.
#[derive(Debug)]
pub(super) enum Seen {
    /// First sight: deliver it.
    New,
    /// Still being handled: ack these transports once the outcome is known.
    Pending,
    /// Handled before with this ack.
    Done(AckCode),
}

/// The ack an outcome turned into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AckCode {
    pub(super) code: u16,
    pub(super) msg: Option<String>,
}

#[derive(Debug)]
enum Entry {
    Pending { waiting: Vec<u64> },
    Done(AckCode),
}

/// A remembered nonce: its state, and which `order` slot is its own (older slots of the same
/// nonce, left behind by a forget, are stale).
#[derive(Debug)]
struct Remembered {
    slot: u64,
    entry: Entry,
}

/// One admission, in time order.
#[derive(Debug)]
struct Slot {
    at: Instant,
    id: u64,
    nonce: Arc<str>,
}

/// A bounded, time-windowed set of nonces (see the module docs for the policy).
#[derive(Debug)]
pub(super) struct Dedup {
    enabled: bool,
    window: Duration,
    capacity: usize,
    retry_errors: bool,
    entries: HashMap<Arc<str>, Remembered>,
    /// Admissions oldest first; may hold stale slots (see [`Remembered::slot`]), which count
    /// neither against the capacity nor for expiry.
    order: VecDeque<Slot>,
    next_slot: u64,
    /// New nonces not remembered (memory full) since the last notice.
    unremembered: u64,
    last_full_notice: Option<Instant>,
    notice: Option<Notice>,
}

impl Dedup {
    pub(super) fn new(
        enabled: bool,
        window: Duration,
        capacity: usize,
        retry_errors: bool,
    ) -> Self {
        Self {
            enabled,
            window,
            capacity,
            retry_errors,
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_slot: 0,
            unremembered: 0,
            last_full_notice: None,
            notice: None,
        }
    }

    /// Records `nonce`, seen on `transport` at `now`, and says whether it is new.
    pub(super) fn observe(&mut self, now: Instant, nonce: &str, transport: u64) -> Seen {
        if !self.enabled {
            return Seen::New;
        }
        self.expire(now);
        match self.entries.get_mut(nonce).map(|r| &mut r.entry) {
            Some(Entry::Done(ack)) => Seen::Done(ack.clone()),
            Some(Entry::Pending { waiting }) => {
                if !waiting.contains(&transport) {
                    waiting.push(transport);
                }
                Seen::Pending
            }
            None => {
                if self.entries.len() >= self.capacity {
                    self.refuse(now);
                } else {
                    let nonce: Arc<str> = Arc::from(nonce);
                    let slot = self.next_slot;
                    self.next_slot += 1;
                    self.order.push_back(Slot {
                        at: now,
                        id: slot,
                        nonce: Arc::clone(&nonce),
                    });
                    self.entries.insert(
                        nonce,
                        Remembered {
                            slot,
                            entry: Entry::Pending {
                                waiting: Vec::new(),
                            },
                        },
                    );
                }
                Seen::New
            }
        }
    }

    /// Stores the outcome of `nonce` and returns the transports whose redeliveries wait for it.
    pub(super) fn complete(&mut self, nonce: &str, ack: &AckCode) -> Vec<u64> {
        let Some(remembered) = self.entries.get_mut(nonce) else {
            return Vec::new();
        };
        if self.retry_errors && ack.code != 200 {
            // Forget it: the redelivery the error asks for reaches the handler again.
            let waiting = match self.entries.remove(nonce) {
                Some(Remembered {
                    entry: Entry::Pending { waiting },
                    ..
                }) => waiting,
                _ => Vec::new(),
            };
            self.compact();
            return waiting;
        }
        let entry = &mut remembered.entry;
        match std::mem::replace(entry, Entry::Done(ack.clone())) {
            Entry::Pending { waiting } => waiting,
            done @ Entry::Done(_) => {
                // Already completed (a forgotten and re-delivered nonce): keep the first outcome.
                *entry = done;
                Vec::new()
            }
        }
    }

    /// Forgets a nonce that was never delivered (dropped from the backlog), so its redelivery
    /// is taken as new.
    pub(super) fn forget(&mut self, nonce: &str) {
        if matches!(
            self.entries.get(nonce),
            Some(Remembered {
                entry: Entry::Pending { .. },
                ..
            })
        ) {
            self.entries.remove(nonce);
            self.compact();
        }
    }

    /// Nonces remembered now.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The [`Notice::DedupFull`] due since the last call, if any.
    pub(super) fn take_notice(&mut self) -> Option<Notice> {
        self.notice.take()
    }

    /// A new nonce found the memory full: count it, and report at most once per interval.
    fn refuse(&mut self, now: Instant) {
        self.unremembered += 1;
        let due = self
            .last_full_notice
            .is_none_or(|at| now.saturating_duration_since(at) >= FULL_NOTICE_INTERVAL);
        if due {
            self.last_full_notice = Some(now);
            self.notice = Some(Notice::DedupFull {
                capacity: self.capacity,
                window: self.window,
                unremembered: std::mem::take(&mut self.unremembered),
            });
        }
    }

    fn is_live(&self, slot: &Slot) -> bool {
        self.entries
            .get(&slot.nonce)
            .is_some_and(|r| r.slot == slot.id)
    }

    fn expire(&mut self, now: Instant) {
        while let Some(front) = self.order.front() {
            if self.is_live(front) {
                if now.saturating_duration_since(front.at) < self.window {
                    break;
                }
                self.entries.remove(&front.nonce);
            }
            self.order.pop_front();
        }
    }

    /// Drops stale slots once they outnumber the live ones (amortised O(1) per removal), so
    /// `order` stays within twice the capacity.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.entries.len() + 16 {
            let mut order = std::mem::take(&mut self.order);
            order.retain(|slot| self.is_live(slot));
            self.order = order;
        }
    }

    /// Slots held, stale ones included (for tests of the bound on `order`).
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(600);

    fn ok() -> AckCode {
        AckCode {
            code: 200,
            msg: None,
        }
    }

    /// Any instant will do: the dedup only compares instants it is given.
    #[allow(clippy::disallowed_methods)]
    fn start() -> Instant {
        Instant::now()
    }

    fn nonce(i: usize) -> String {
        format!("{i:016x}")
    }

    /// Delivers `n` nonces, completes each, then redelivers them in order; returns how many
    /// copies were suppressed.
    fn redelivery(capacity: usize, n: usize) -> (usize, Dedup) {
        let mut dedup = Dedup::new(true, WINDOW, capacity, false);
        let t0 = start();
        for i in 0..n {
            if matches!(dedup.observe(t0, &nonce(i), 1), Seen::New) {
                dedup.complete(&nonce(i), &ok());
            }
        }
        let later = t0 + Duration::from_secs(5);
        let suppressed = (0..n)
            .filter(|i| matches!(dedup.observe(later, &nonce(*i), 2), Seen::Done(_)))
            .count();
        (suppressed, dedup)
    }

    #[test]
    fn a_redelivery_larger_than_the_capacity_suppresses_the_capacity() {
        for (capacity, n) in [(100, 101), (100, 250), (100, 10_000), (1, 5), (64, 64)] {
            let (suppressed, dedup) = redelivery(capacity, n);
            assert_eq!(suppressed, capacity.min(n), "capacity {capacity}, n {n}");
            assert!(dedup.len() <= capacity);
        }
    }

    #[test]
    fn a_redelivery_within_the_capacity_suppresses_everything() {
        let (suppressed, _) = redelivery(100, 90);
        assert_eq!(suppressed, 90);
    }

    #[test]
    fn the_bound_holds_for_interleaved_completions_and_repeated_redeliveries() {
        // Pending (unfinished) nonces are remembered too, and a second redelivery finds the
        // same set.
        let mut dedup = Dedup::new(true, WINDOW, 10, false);
        let t0 = start();
        for i in 0..30 {
            assert!(matches!(dedup.observe(t0, &nonce(i), 1), Seen::New));
        }
        for round in 0..3 {
            let pending = (0..30)
                .filter(|i| matches!(dedup.observe(t0, &nonce(*i), 2 + round), Seen::Pending))
                .count();
            assert_eq!(pending, 10);
        }
        assert_eq!(dedup.complete(&nonce(3), &ok()), vec![2, 3, 4]);
    }

    #[test]
    fn a_full_memory_is_reported_at_most_once_a_minute_with_the_count() {
        let mut dedup = Dedup::new(true, WINDOW, 2, false);
        let t0 = start();
        dedup.observe(t0, &nonce(0), 1);
        dedup.observe(t0, &nonce(1), 1);
        assert!(dedup.take_notice().is_none(), "not full before a refusal");
        dedup.observe(t0, &nonce(2), 1);
        assert_eq!(
            dedup.take_notice(),
            Some(Notice::DedupFull {
                capacity: 2,
                window: WINDOW,
                unremembered: 1
            })
        );
        for i in 3..8 {
            dedup.observe(t0 + Duration::from_secs(30), &nonce(i), 1);
        }
        assert!(dedup.take_notice().is_none(), "within the minute");
        dedup.observe(t0 + Duration::from_secs(60), &nonce(8), 1);
        assert_eq!(
            dedup.take_notice(),
            Some(Notice::DedupFull {
                capacity: 2,
                window: WINDOW,
                unremembered: 6
            })
        );
    }

    #[test]
    fn the_window_frees_slots_for_new_nonces() {
        let mut dedup = Dedup::new(true, Duration::from_secs(60), 1, false);
        let t0 = start();
        dedup.observe(t0, &nonce(0), 1);
        dedup.observe(t0, &nonce(1), 1);
        assert!(matches!(dedup.observe(t0, &nonce(1), 1), Seen::New));
        let later = t0 + Duration::from_secs(60);
        assert!(matches!(dedup.observe(later, &nonce(1), 1), Seen::New));
        assert!(matches!(dedup.observe(later, &nonce(1), 1), Seen::Pending));
        assert!(matches!(dedup.observe(later, &nonce(0), 1), Seen::New));
    }

    #[test]
    fn a_forgotten_nonce_frees_its_slot_and_a_new_sighting_gets_a_full_window() {
        let window = Duration::from_secs(60);
        let mut dedup = Dedup::new(true, window, 2, false);
        let t0 = start();
        dedup.observe(t0, &nonce(0), 1);
        dedup.observe(t0, &nonce(1), 1);
        dedup.forget(&nonce(0));
        assert_eq!(dedup.len(), 1);
        // The freed slot takes a new nonce: the stale slot does not count against capacity.
        assert!(matches!(dedup.observe(t0, &nonce(2), 1), Seen::New));
        assert!(matches!(dedup.observe(t0, &nonce(2), 1), Seen::Pending));
        assert!(dedup.take_notice().is_none());
        // Seen again 50 s after its first sighting: remembered from then, not from t0.
        dedup.forget(&nonce(2));
        let t50 = t0 + Duration::from_secs(50);
        assert!(matches!(dedup.observe(t50, &nonce(2), 1), Seen::New));
        dedup.complete(&nonce(2), &ok());
        let t70 = t0 + Duration::from_secs(70);
        assert!(matches!(dedup.observe(t70, &nonce(2), 1), Seen::Done(_)));
        let t110 = t0 + Duration::from_secs(110);
        assert!(matches!(dedup.observe(t110, &nonce(2), 1), Seen::New));
    }

    #[test]
    fn retry_errors_frees_the_slot_of_a_failed_nonce() {
        let mut dedup = Dedup::new(true, WINDOW, 1, true);
        let t0 = start();
        dedup.observe(t0, &nonce(0), 1);
        let failed = AckCode {
            code: 500,
            msg: Some("boom".into()),
        };
        dedup.complete(&nonce(0), &failed);
        assert_eq!(dedup.len(), 0);
        assert!(matches!(dedup.observe(t0, &nonce(1), 1), Seen::New));
        assert!(matches!(dedup.observe(t0, &nonce(1), 1), Seen::Pending));
        assert!(
            dedup.take_notice().is_none(),
            "the stale slot is not counted"
        );
    }

    #[test]
    fn stale_slots_stay_bounded_under_forget_cycles() {
        let mut dedup = Dedup::new(true, WINDOW, 4, false);
        let t0 = start();
        for round in 0..10_000 {
            let n = nonce(round % 3);
            dedup.observe(t0, &n, 1);
            dedup.forget(&n);
            assert!(dedup.slots() <= 2 * dedup.len() + 17, "round {round}");
        }
        assert_eq!(dedup.len(), 0);
    }

    #[test]
    fn a_done_nonce_is_not_forgotten() {
        let mut dedup = Dedup::new(true, WINDOW, 4, false);
        let t0 = start();
        dedup.observe(t0, &nonce(0), 1);
        dedup.complete(&nonce(0), &ok());
        dedup.forget(&nonce(0));
        assert!(matches!(dedup.observe(t0, &nonce(0), 1), Seen::Done(_)));
    }

    #[test]
    fn disabled_remembers_nothing() {
        let mut dedup = Dedup::new(false, WINDOW, 4, false);
        let t0 = start();
        for _ in 0..3 {
            assert!(matches!(dedup.observe(t0, &nonce(0), 1), Seen::New));
        }
        assert_eq!(dedup.len(), 0);
    }
}
