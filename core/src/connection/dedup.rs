//! Duplicate suppression: a nonce seen again within the window is not delivered twice
//! (PROTOCOL.md §5: redeliveries reach the peers' handlers twice).
//!
//! # Policy: forget only what the server has acknowledged receiving
//!
//! A nonce is remembered from its first sighting for `dedup_window`, in a memory of at most
//! `dedup_capacity` nonces. Entries leave when their window ends, when an undelivered event is
//! forgotten (dropped from the backlog), when `dedup_retry_errors` forgets a failed one, and,
//! when the memory is full and a new nonce arrives, by eviction under this rule:
//!
//! - a nonce is **settled** once its latest ack was sent on a transport that then stayed open
//!   for `settle` (twice `write_timeout`: the write timer guarantees the ack was flushed within
//!   one `write_timeout`, and the transport lived another one after that). The server has had
//!   it; its event is not coming back. Settled nonces are evicted oldest first.
//! - a nonce is **at risk** while its handler runs, before its ack is sent, while its ack is
//!   younger than `settle` on the open transport, and when its transport closed less than
//!   `settle` after its ack (the ack may have died in the socket buffers). At-risk nonces are
//!   never evicted. A nonce whose ack died with its transport stays at risk until the window
//!   ends, until it is acked again (its redelivery was answered), or until an in-order
//!   redelivery **passes it over**: the server redelivers in the original order, so once a
//!   later transport brings a redelivery of a nonce first seen after it, the server skipped
//!   it, which it does only for events it has the ack of.
//! - a full memory of at-risk nonces **refuses**: the new nonce is delivered but not
//!   remembered, and nothing at risk is pushed out.
//!
//! Why not first-in-first-out: the server redelivers in the original order, so with FIFO a
//! redelivery of `N > capacity` events evicts each remembered nonce just before its copy
//! arrives and suppresses nothing (a 100 % miss rate). LRU has the same cascade, since the
//! first redelivered copies are all misses. Why not admission alone (keep what is held, refuse
//! the rest): a steady stream of more than `capacity` events per window then fills the memory
//! with old nonces whose acks the server had long ago, and every newer event is unprotected
//! until they expire; a lost ack of a recent event then runs its handler twice.
//!
//! **Bound.** Let `s1..sN` be distinct nonces, each redelivered in order within the window of
//! its first sighting, whose acks the server never got: each `s_i` stays at risk until its
//! copy arrives (its ack died with its transport, or was never sent; acks that outlive their
//! transport's `settle` are the ones the server gets). Let `F` be the slots not held by
//! at-risk nonces outside the sequence when `s1` first arrives (`F = capacity` when nothing of
//! an earlier redelivery is pending). Then at least `min(N, F)` copies are suppressed.
//! *Proof:* on its first pass, `s_i` is admitted whenever a slot is free or a settled nonce
//! can be evicted; only at-risk nonces outside the sequence and admitted `s_j` hold slots
//! that cannot be freed, so at least `min(N, F)` of the `s_i` are admitted. An admitted `s_i`
//! is never evicted (at risk), is not passed over before its copy (the redelivery is in
//! order, so every later copy comes after it), and leaves otherwise only by its window's end
//! (after its copy, by assumption) or by forgetting (an event never delivered, whose
//! redelivery must be delivered). So each admitted `s_i` is there when its copy arrives, and
//! that copy is suppressed. ∎
//!
//! And a steady stream beyond the capacity stays protected: at most the nonces acked within
//! the last `settle`, those in flight and those whose acks died with a transport are at risk;
//! every other remembered nonce is settled and makes room for a new one. With `R` events per
//! second on a healthy connection, new nonces are all remembered as long as `R × settle` (plus
//! the in-flight ones) stays below the capacity.
//!
//! [`Notice::DedupFull`] (at most once per minute) says when the memory was full: how many new
//! nonces went unremembered and how many settled ones were forgotten before their window
//! ended, and names the fix: raise `dedup_capacity` to at least the peak event rate times
//! `dedup_window`.
//!
//! # Memory
//!
//! One remembered nonce costs about 220–280 bytes (hash table and queue slack included),
//! measured as the growth of the resident set with 16-character nonces, the platform's, each
//! handled and its ack flushed, within `settle` of the ack (the state during a burst, when
//! every ack is still settling): `cargo run --release -p open-event-core --features testing
//! --example dedup_memory N` gave 249 bytes for N = 10 000 (the default capacity: about
//! 2.4 MB), 224 for 100 000 and 281 for 1 000 000. Per nonce: its entry in the hash table (the
//! shared nonce, its state and latest ack), the shared nonce's allocation, its admission slot,
//! and one ack reference (a shared pointer, an id and, while settling, an instant).

use std::collections::{BTreeMap, HashMap, VecDeque};
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

/// A remembered nonce: its state, which `order` slot is its own (older slots of the same
/// nonce, left behind by a forget, are stale), and its latest ack, if one was sent.
#[derive(Debug)]
struct Remembered {
    slot: u64,
    entry: Entry,
    ack: Option<u64>,
}

/// One admission, in time order.
#[derive(Debug)]
struct Slot {
    at: Instant,
    id: u64,
    nonce: Arc<str>,
}

/// One sent ack of a remembered nonce; stale once the nonce leaves or is acked again.
#[derive(Debug)]
struct AckRef {
    nonce: Arc<str>,
    id: u64,
}

/// An ack sent at `at` on the open transport, not yet `settle` old.
#[derive(Debug)]
struct Sent {
    at: Instant,
    ack: AckRef,
}

/// A bounded, time-windowed set of nonces (see the module docs for the policy).
#[derive(Debug)]
pub(super) struct Dedup {
    enabled: bool,
    window: Duration,
    capacity: usize,
    retry_errors: bool,
    /// How long a transport must stay open after an ack for the ack to count as received.
    settle: Duration,
    entries: HashMap<Arc<str>, Remembered>,
    /// Admissions oldest first; may hold stale slots (see [`Remembered::slot`]), which count
    /// neither against the capacity nor for expiry.
    order: VecDeque<Slot>,
    next_slot: u64,
    /// Acks on the open transport younger than `settle`, oldest first.
    settling: VecDeque<Sent>,
    /// Acks whose transport closed less than `settle` after them, by admission slot: at risk
    /// until passed over by an in-order redelivery.
    lost: BTreeMap<u64, AckRef>,
    /// Acks the server has had: the nonces a full memory forgets first, oldest first.
    settled: VecDeque<AckRef>,
    next_ack: u64,
    /// New nonces not remembered (memory full of at-risk ones) since the last notice.
    unremembered: u64,
    /// Settled nonces forgotten before their window ended since the last notice.
    evicted: u64,
    last_full_notice: Option<Instant>,
    notice: Option<Notice>,
}

impl Dedup {
    /// `settle`: how long a transport must stay open after an ack before the ack counts as
    /// received (the connection passes twice its `write_timeout`).
    pub(super) fn new(
        enabled: bool,
        window: Duration,
        capacity: usize,
        retry_errors: bool,
        settle: Duration,
    ) -> Self {
        Self {
            enabled,
            window,
            capacity,
            retry_errors,
            settle,
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_slot: 0,
            settling: VecDeque::new(),
            lost: BTreeMap::new(),
            settled: VecDeque::new(),
            next_ack: 0,
            unremembered: 0,
            evicted: 0,
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
        self.settle_due(now);
        if let Some(remembered) = self.entries.get_mut(nonce) {
            let slot = remembered.slot;
            let seen = match &mut remembered.entry {
                Entry::Done(ack) => Seen::Done(ack.clone()),
                Entry::Pending { waiting } => {
                    if !waiting.contains(&transport) {
                        waiting.push(transport);
                    }
                    Seen::Pending
                }
            };
            self.pass_over(slot);
            return seen;
        }
        if self.entries.len() >= self.capacity && !self.evict_settled(now) {
            self.unremembered += 1;
            self.report_full(now);
            return Seen::New;
        }
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
                ack: None,
            },
        );
        Seen::New
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

    /// The ack of a handled `nonce` was sent at `now` on the open transport (or, without ACK
    /// mode, its outcome is known): it settles once the transport stays open for `settle`.
    pub(super) fn acked(&mut self, now: Instant, nonce: &str) {
        if !self.enabled {
            return;
        }
        let Some((key, remembered)) = self.entries.get_key_value(nonce) else {
            return;
        };
        if !matches!(remembered.entry, Entry::Done(_)) {
            return;
        }
        let nonce = Arc::clone(key);
        let id = self.next_ack;
        self.next_ack += 1;
        if let Some(remembered) = self.entries.get_mut(&nonce) {
            remembered.ack = Some(id);
        }
        self.settling.push_back(Sent {
            at: now,
            ack: AckRef { nonce, id },
        });
    }

    /// The open transport closed at `now`: its acks older than `settle` were received; the
    /// younger ones may have died with it and stay at risk.
    pub(super) fn transport_closed(&mut self, now: Instant) {
        self.settle_due(now);
        for sent in std::mem::take(&mut self.settling) {
            if let Some(slot) = self.current(&sent.ack).map(|r| r.slot) {
                self.lost.insert(slot, sent.ack);
            }
        }
        self.compact();
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

    /// The memory was full for a new nonce: report at most once per interval, with the counts.
    fn report_full(&mut self, now: Instant) {
        let due = self
            .last_full_notice
            .is_none_or(|at| now.saturating_duration_since(at) >= FULL_NOTICE_INTERVAL);
        if due {
            self.last_full_notice = Some(now);
            self.notice = Some(Notice::DedupFull {
                capacity: self.capacity,
                window: self.window,
                unremembered: std::mem::take(&mut self.unremembered),
                evicted: std::mem::take(&mut self.evicted),
            });
        }
    }

    /// The entry `ack` is the latest ack of, if it still is.
    fn current(&self, ack: &AckRef) -> Option<&Remembered> {
        self.entries
            .get(&ack.nonce)
            .filter(|r| r.ack == Some(ack.id))
    }

    /// Makes room for a new nonce by forgetting the oldest settled one; false when every
    /// remembered nonce is at risk.
    fn evict_settled(&mut self, now: Instant) -> bool {
        while let Some(ack) = self.settled.pop_front() {
            if self.current(&ack).is_some() {
                self.entries.remove(&ack.nonce);
                self.evicted += 1;
                self.compact();
                self.report_full(now);
                return true;
            }
        }
        false
    }

    /// Acks on the open transport that reached `settle` are settled.
    fn settle_due(&mut self, now: Instant) {
        while let Some(front) = self.settling.front() {
            if now.saturating_duration_since(front.at) < self.settle {
                break;
            }
            if let Some(sent) = self.settling.pop_front()
                && self.current(&sent.ack).is_some()
            {
                self.settled.push_back(sent.ack);
            }
        }
        self.compact();
    }

    /// A redelivery of the nonce admitted in `slot` arrived: the server redelivers in order, so
    /// the lost acks of nonces admitted before it were received after all (it skipped them).
    fn pass_over(&mut self, slot: u64) {
        if self
            .lost
            .first_key_value()
            .is_none_or(|(&first, _)| first >= slot)
        {
            return;
        }
        let later = self.lost.split_off(&slot);
        for (_, ack) in std::mem::replace(&mut self.lost, later) {
            if self.current(&ack).is_some() {
                self.settled.push_back(ack);
            }
        }
        self.compact();
    }

    fn is_live(&self, slot: &Slot) -> bool {
        self.entries
            .get(&slot.nonce)
            .is_some_and(|r| r.slot == slot.id)
    }

    fn expire(&mut self, now: Instant) {
        let before = self.entries.len();
        while let Some(front) = self.order.front() {
            if self.is_live(front) {
                if now.saturating_duration_since(front.at) < self.window {
                    break;
                }
                self.entries.remove(&front.nonce);
            }
            self.order.pop_front();
        }
        if self.entries.len() < before {
            self.compact();
        }
    }

    /// Drops stale slots and ack references once they outnumber the live entries (amortised
    /// O(1) per removal), so each queue stays within about twice the capacity.
    fn compact(&mut self) {
        let bound = 2 * self.entries.len() + 16;
        if self.order.len() > bound {
            let mut order = std::mem::take(&mut self.order);
            order.retain(|slot| self.is_live(slot));
            self.order = order;
        }
        if self.settled.len() > bound {
            let mut settled = std::mem::take(&mut self.settled);
            settled.retain(|ack| self.current(ack).is_some());
            self.settled = settled;
        }
        if self.lost.len() > bound {
            let mut lost = std::mem::take(&mut self.lost);
            lost.retain(|_, ack| self.current(ack).is_some());
            self.lost = lost;
        }
    }

    /// Slots held, stale ones included (for tests of the bound on `order`).
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.order.len()
    }

    /// Ack references held in the eviction queues, stale ones included (for tests of their
    /// bound).
    #[cfg(test)]
    fn ack_refs(&self) -> usize {
        self.settling.len() + self.lost.len() + self.settled.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(600);
    const SETTLE: Duration = Duration::from_secs(20);

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
        let mut dedup = Dedup::new(true, WINDOW, capacity, false, SETTLE);
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

    /// Sees, completes and acks `nonce` at `at`.
    fn handled(dedup: &mut Dedup, at: Instant, i: usize) {
        assert!(matches!(dedup.observe(at, &nonce(i), 1), Seen::New), "{i}");
        dedup.complete(&nonce(i), &ok());
        dedup.acked(at, &nonce(i));
    }

    #[test]
    fn a_steady_stream_beyond_the_capacity_keeps_the_recent_nonces() {
        // One event a second on a healthy transport, 10 times the capacity within the window:
        // the settled nonces make room, so every new one is remembered.
        let mut dedup = Dedup::new(true, WINDOW, 40, false, SETTLE);
        let t0 = start();
        let at = |s: usize| t0 + Duration::from_secs(s as u64);
        for i in 0..400 {
            handled(&mut dedup, at(i), i);
            assert!(dedup.len() <= 40);
        }
        // The last 40 are remembered (the ones younger than `settle` are at risk, the others
        // settled but not needed yet); the oldest were forgotten to make room.
        for i in 360..400 {
            assert!(
                matches!(dedup.observe(at(400), &nonce(i), 1), Seen::Done(_)),
                "{i}"
            );
        }
        match dedup.take_notice() {
            Some(Notice::DedupFull {
                unremembered: 0,
                evicted,
                ..
            }) => assert!(evicted > 0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn acks_lost_with_their_transport_are_never_evicted() {
        let mut dedup = Dedup::new(true, WINDOW, 10, false, SETTLE);
        let t0 = start();
        for i in 0..10 {
            handled(&mut dedup, t0, i);
        }
        // The transport dies 1 s after the acks: they may be lost.
        dedup.transport_closed(t0 + Duration::from_secs(1));
        let later = t0 + Duration::from_secs(100);
        assert!(matches!(dedup.observe(later, &nonce(10), 2), Seen::New));
        assert!(
            matches!(dedup.observe(later, &nonce(10), 2), Seen::New),
            "refused: not remembered"
        );
        for i in 0..10 {
            assert!(
                matches!(dedup.observe(later, &nonce(i), 2), Seen::Done(_)),
                "{i}"
            );
        }
    }

    #[test]
    fn acks_that_outlived_settle_on_their_transport_were_received() {
        let mut dedup = Dedup::new(true, WINDOW, 10, false, SETTLE);
        let t0 = start();
        for i in 0..10 {
            handled(&mut dedup, t0, i);
        }
        dedup.transport_closed(t0 + SETTLE);
        let later = t0 + SETTLE + Duration::from_secs(1);
        handled(&mut dedup, later, 10);
        assert_eq!(dedup.len(), 10);
        assert!(
            matches!(dedup.observe(later, &nonce(0), 2), Seen::New),
            "the oldest settled nonce made room"
        );
    }

    #[test]
    fn an_in_order_redelivery_passes_over_the_acks_it_skips() {
        let mut dedup = Dedup::new(true, WINDOW, 10, false, SETTLE);
        let t0 = start();
        for i in 0..10 {
            handled(&mut dedup, t0, i);
        }
        dedup.transport_closed(t0);
        // The next transport redelivers 7: the server had the acks of 0..7.
        let t1 = t0 + Duration::from_secs(1);
        assert!(matches!(dedup.observe(t1, &nonce(7), 2), Seen::Done(_)));
        dedup.acked(t1, &nonce(7));
        for i in 10..17 {
            handled(&mut dedup, t1, i);
        }
        for i in [7, 8, 9] {
            assert!(
                matches!(dedup.observe(t1, &nonce(i), 2), Seen::Done(_)),
                "{i}: re-acked or still at risk"
            );
            dedup.acked(t1, &nonce(i));
        }
        assert!(matches!(dedup.observe(t1, &nonce(0), 2), Seen::New));
        assert!(
            matches!(dedup.observe(t1, &nonce(0), 2), Seen::New),
            "full of at-risk nonces now: refused"
        );
    }

    #[test]
    fn pending_nonces_are_never_evicted() {
        let mut dedup = Dedup::new(true, WINDOW, 2, false, SETTLE);
        let t0 = start();
        dedup.observe(t0, &nonce(0), 1);
        dedup.observe(t0, &nonce(1), 1);
        let later = t0 + Duration::from_secs(100);
        dedup.observe(later, &nonce(2), 1);
        assert!(matches!(dedup.observe(later, &nonce(0), 1), Seen::Pending));
        assert!(matches!(dedup.observe(later, &nonce(1), 1), Seen::Pending));
    }

    #[test]
    fn ack_references_stay_bounded_under_repeated_redeliveries() {
        let mut dedup = Dedup::new(true, WINDOW, 4, false, SETTLE);
        let t0 = start();
        handled(&mut dedup, t0, 0);
        for round in 0..10_000u64 {
            let at = t0 + Duration::from_millis(round * 10);
            assert!(matches!(dedup.observe(at, &nonce(0), 2), Seen::Done(_)));
            dedup.acked(at, &nonce(0));
            if round % 100 == 0 {
                dedup.transport_closed(at);
            }
            assert!(
                dedup.ack_refs() <= 2 * dedup.len() + 17 + 2_000,
                "round {round}: {}",
                dedup.ack_refs()
            );
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
        let mut dedup = Dedup::new(true, WINDOW, 10, false, SETTLE);
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
        let mut dedup = Dedup::new(true, WINDOW, 2, false, SETTLE);
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
                unremembered: 1,
                evicted: 0,
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
                unremembered: 6,
                evicted: 0,
            })
        );
    }

    #[test]
    fn the_window_frees_slots_for_new_nonces() {
        let mut dedup = Dedup::new(true, Duration::from_secs(60), 1, false, SETTLE);
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
        let mut dedup = Dedup::new(true, window, 2, false, SETTLE);
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
        let mut dedup = Dedup::new(true, WINDOW, 1, true, SETTLE);
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
        let mut dedup = Dedup::new(true, WINDOW, 4, false, SETTLE);
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
        let mut dedup = Dedup::new(true, WINDOW, 4, false, SETTLE);
        let t0 = start();
        dedup.observe(t0, &nonce(0), 1);
        dedup.complete(&nonce(0), &ok());
        dedup.forget(&nonce(0));
        assert!(matches!(dedup.observe(t0, &nonce(0), 1), Seen::Done(_)));
    }

    #[test]
    fn disabled_remembers_nothing() {
        let mut dedup = Dedup::new(false, WINDOW, 4, false, SETTLE);
        let t0 = start();
        for _ in 0..3 {
            assert!(matches!(dedup.observe(t0, &nonce(0), 1), Seen::New));
        }
        assert_eq!(dedup.len(), 0);
    }
}
