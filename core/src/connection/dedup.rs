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
//! One remembered nonce costs about 120–140 bytes (table and queue slack included), measured
//! as the growth of the resident set with 16-character nonces, the platform's, each handled
//! and its ack flushed, within `settle` of the ack (the state during a burst, when every ack is
//! still settling): `cargo run --release -p open-event-core --features testing --example
//! dedup_memory N` gave 136 bytes for N = 10 000 (the default capacity: about 1.4 MB), 120 for
//! 100 000 and 123 for 1 000 000 (249, 224 and 281 before the slab layout). Per nonce: 4 bytes
//! in the lookup table (a slab index; the nonce is stored once, in its entry), a 64-byte slab
//! entry (the nonce inline up to 22 bytes, else boxed; its state and latest ack), a 24-byte
//! admission slot and one 16–24-byte ack reference (times as 8-byte stamps). The queues name entries by slab index and
//! tell a reused place by its admission slot or ack id, which are never reused.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use hashbrown::HashTable;

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

/// Nonce bytes kept inline; the platform's nonces have 16.
const INLINE: usize = 22;

/// A remembered nonce's bytes, in 24 bytes: inline when short, else boxed.
#[derive(Debug)]
enum NonceBytes {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<[u8]>),
}

impl NonceBytes {
    fn new(nonce: &str) -> Self {
        let given = nonce.as_bytes();
        let mut bytes = [0; INLINE];
        match (u8::try_from(given.len()), bytes.get_mut(..given.len())) {
            (Ok(len), Some(inline)) => {
                inline.copy_from_slice(given);
                Self::Inline { len, bytes }
            }
            _ => Self::Boxed(given.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Self::Boxed(bytes) => bytes,
        }
    }
}

/// Where a remembered nonce is.
#[derive(Debug)]
enum State {
    /// Being handled; the transports whose redeliveries wait for its outcome (a boxed slice:
    /// almost always none, and a few at most).
    Pending(Option<Box<[u64]>>),
    /// Handled, with this ack.
    Done { code: u16, msg: Option<Box<str>> },
}

/// A remembered nonce: its state, which `order` slot is its own (older slots of the same
/// nonce, left behind by a forget, are stale), and its latest ack (`0`: none sent yet).
#[derive(Debug)]
struct Remembered {
    nonce: NonceBytes,
    slot: u64,
    ack: u64,
    state: State,
}

/// A point in time as nanoseconds since the memory's first one (8 bytes, not an `Instant`'s
/// 16: two of them are kept per nonce).
type Stamp = u64;

/// One admission, in time order: the slab index its nonce was given.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: Stamp,
    id: u64,
    index: u32,
}

/// One sent ack of a remembered nonce; stale once the nonce leaves or is acked again.
#[derive(Debug, Clone, Copy)]
struct AckRef {
    index: u32,
    id: u64,
}

/// An ack sent at `at` on the open transport, not yet `settle` old.
#[derive(Debug)]
struct Sent {
    at: Stamp,
    ack: AckRef,
}

/// The remembered nonces: a slab of entries, found by nonce through a table of slab indices
/// (4 bytes a nonce, the nonce itself stored once, in its entry). The queues refer to entries
/// by index and tell a reused index by the admission slot or ack id, which are never reused.
#[derive(Debug, Default)]
struct Memory {
    table: HashTable<u32>,
    entries: Vec<Option<Remembered>>,
    /// The indices of the empty places in `entries`.
    free: Vec<u32>,
    hasher: RandomState,
}

impl Memory {
    /// Nonces remembered now: every place not free.
    fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    fn find(&self, nonce: &str) -> Option<u32> {
        let nonce = nonce.as_bytes();
        let entries = &self.entries;
        self.table
            .find(self.hasher.hash_one(nonce), |&index| {
                entry_at(entries, index).is_some_and(|r| r.nonce.as_bytes() == nonce)
            })
            .copied()
    }

    fn get(&self, index: u32) -> Option<&Remembered> {
        entry_at(&self.entries, index)
    }

    fn get_mut(&mut self, index: u32) -> Option<&mut Remembered> {
        self.place_mut(index).and_then(Option::as_mut)
    }

    /// The place at `index`, empty or not.
    fn place_mut(&mut self, index: u32) -> Option<&mut Option<Remembered>> {
        self.entries.get_mut(usize::try_from(index).ok()?)
    }

    /// Remembers a nonce not remembered yet, as pending; returns its index.
    fn insert(&mut self, nonce: &str, slot: u64) -> u32 {
        let entry = Remembered {
            nonce: NonceBytes::new(nonce),
            slot,
            ack: 0,
            state: State::Pending(None),
        };
        let index = match self.free.pop() {
            Some(index) => {
                if let Some(place) = self.place_mut(index) {
                    *place = Some(entry);
                }
                index
            }
            None => {
                // The capacity is at most 10 000 000 (config), far below u32::MAX.
                let index = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
                self.entries.push(Some(entry));
                index
            }
        };
        let Self {
            table,
            entries,
            hasher,
            ..
        } = self;
        table.insert_unique(hasher.hash_one(nonce.as_bytes()), index, |&i| {
            entry_at(entries, i).map_or(0, |r| hasher.hash_one(r.nonce.as_bytes()))
        });
        index
    }

    /// Forgets the entry at `index`; returns it.
    fn remove(&mut self, index: u32) -> Option<Remembered> {
        let removed = self.place_mut(index).and_then(Option::take)?;
        let hash = self.hasher.hash_one(removed.nonce.as_bytes());
        if let Ok(found) = self.table.find_entry(hash, |&i| i == index) {
            found.remove();
        }
        self.free.push(index);
        Some(removed)
    }
}

/// The time from stamp `then` to stamp `now` (zero if `then` is later).
fn elapsed(now: Stamp, then: Stamp) -> Duration {
    Duration::from_nanos(now.saturating_sub(then))
}

/// The entry at `index` of `entries` (a free function so that `find`'s and `insert`'s closures
/// borrow `entries` alone, beside the table).
fn entry_at(entries: &[Option<Remembered>], index: u32) -> Option<&Remembered> {
    entries
        .get(usize::try_from(index).ok()?)
        .and_then(Option::as_ref)
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
    /// The instant [`Stamp`]s count from: the first one the memory was given.
    epoch: Option<Instant>,
    memory: Memory,
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
    /// The id of the next ack (from 1: `0` in [`Remembered::ack`] means none).
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
            epoch: None,
            memory: Memory::default(),
            order: VecDeque::new(),
            next_slot: 0,
            settling: VecDeque::new(),
            lost: BTreeMap::new(),
            settled: VecDeque::new(),
            next_ack: 1,
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
        if let Some(remembered) = self
            .memory
            .find(nonce)
            .and_then(|index| self.memory.get_mut(index))
        {
            let slot = remembered.slot;
            let seen = match &mut remembered.state {
                State::Done { code, msg } => Seen::Done(AckCode {
                    code: *code,
                    msg: msg.as_deref().map(str::to_owned),
                }),
                State::Pending(waiting) => {
                    if !waiting.as_deref().unwrap_or_default().contains(&transport) {
                        let mut more = waiting.take().map(Vec::from).unwrap_or_default();
                        more.push(transport);
                        *waiting = Some(more.into_boxed_slice());
                    }
                    Seen::Pending
                }
            };
            self.pass_over(slot);
            return seen;
        }
        if self.memory.len() >= self.capacity && !self.evict_settled(now) {
            self.unremembered += 1;
            self.report_full(now);
            return Seen::New;
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        let index = self.memory.insert(nonce, slot);
        let at = self.stamp(now);
        self.order.push_back(Slot {
            at,
            id: slot,
            index,
        });
        Seen::New
    }

    /// Stores the outcome of `nonce` and returns the transports whose redeliveries wait for it.
    pub(super) fn complete(&mut self, nonce: &str, ack: &AckCode) -> Vec<u64> {
        let Some(index) = self.memory.find(nonce) else {
            return Vec::new();
        };
        if self.retry_errors && ack.code != 200 {
            // Forget it: the redelivery the error asks for reaches the handler again.
            let waiting = match self.memory.remove(index) {
                Some(Remembered {
                    state: State::Pending(waiting),
                    ..
                }) => waiting.map(Vec::from).unwrap_or_default(),
                _ => Vec::new(),
            };
            self.compact();
            return waiting;
        }
        let Some(remembered) = self.memory.get_mut(index) else {
            return Vec::new();
        };
        match &mut remembered.state {
            State::Pending(waiting) => {
                let waiting = waiting.take().map(Vec::from).unwrap_or_default();
                remembered.state = State::Done {
                    code: ack.code,
                    msg: ack.msg.as_deref().map(Box::from),
                };
                waiting
            }
            // Already completed (a forgotten and re-delivered nonce): keep the first outcome.
            State::Done { .. } => Vec::new(),
        }
    }

    /// The ack of a handled `nonce` was sent at `now` on the open transport (or, without ACK
    /// mode, its outcome is known): it settles once the transport stays open for `settle`.
    pub(super) fn acked(&mut self, now: Instant, nonce: &str) {
        if !self.enabled {
            return;
        }
        let Some(index) = self.memory.find(nonce) else {
            return;
        };
        let id = self.next_ack;
        let Some(remembered) = self.memory.get_mut(index) else {
            return;
        };
        if !matches!(remembered.state, State::Done { .. }) {
            return;
        }
        self.next_ack += 1;
        remembered.ack = id;
        let at = self.stamp(now);
        self.settling.push_back(Sent {
            at,
            ack: AckRef { index, id },
        });
    }

    /// The open transport closed at `now`: its acks older than `settle` were received; the
    /// younger ones may have died with it and stay at risk.
    pub(super) fn transport_closed(&mut self, now: Instant) {
        self.settle_due(now);
        for sent in std::mem::take(&mut self.settling) {
            if let Some(slot) = self.current(sent.ack).map(|r| r.slot) {
                self.lost.insert(slot, sent.ack);
            }
        }
        self.compact();
    }

    /// Forgets a nonce that was never delivered (dropped from the backlog), so its redelivery
    /// is taken as new.
    pub(super) fn forget(&mut self, nonce: &str) {
        let Some(index) = self.memory.find(nonce) else {
            return;
        };
        if matches!(
            self.memory.get(index),
            Some(Remembered {
                state: State::Pending(_),
                ..
            })
        ) {
            self.memory.remove(index);
            self.compact();
        }
    }

    /// Nonces remembered now.
    pub(super) fn len(&self) -> usize {
        self.memory.len()
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

    /// `now` as a [`Stamp`] (the first call sets the epoch; the connection's clock never goes
    /// back, and an earlier instant would count as the epoch).
    fn stamp(&mut self, now: Instant) -> Stamp {
        let epoch = *self.epoch.get_or_insert(now);
        // Saturates after 584 years.
        u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The entry `ack` is the latest ack of, if it still is.
    fn current(&self, ack: AckRef) -> Option<&Remembered> {
        self.memory.get(ack.index).filter(|r| r.ack == ack.id)
    }

    /// Makes room for a new nonce by forgetting the oldest settled one; false when every
    /// remembered nonce is at risk.
    fn evict_settled(&mut self, now: Instant) -> bool {
        while let Some(ack) = self.settled.pop_front() {
            if self.current(ack).is_some() {
                self.memory.remove(ack.index);
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
        let now = self.stamp(now);
        while let Some(front) = self.settling.front() {
            if elapsed(now, front.at) < self.settle {
                break;
            }
            if let Some(sent) = self.settling.pop_front()
                && self.current(sent.ack).is_some()
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
            if self.current(ack).is_some() {
                self.settled.push_back(ack);
            }
        }
        self.compact();
    }

    fn is_live(&self, slot: Slot) -> bool {
        self.memory
            .get(slot.index)
            .is_some_and(|r| r.slot == slot.id)
    }

    fn expire(&mut self, now: Instant) {
        let now = self.stamp(now);
        let before = self.memory.len();
        while let Some(&front) = self.order.front() {
            if self.is_live(front) {
                if elapsed(now, front.at) < self.window {
                    break;
                }
                self.memory.remove(front.index);
            }
            self.order.pop_front();
        }
        if self.memory.len() < before {
            self.compact();
        }
    }

    /// Drops stale slots and ack references once they outnumber the live entries (amortised
    /// O(1) per removal), so each queue stays within about twice the capacity.
    fn compact(&mut self) {
        let bound = 2 * self.memory.len() + 16;
        if self.order.len() > bound {
            let mut order = std::mem::take(&mut self.order);
            order.retain(|slot| self.is_live(*slot));
            self.order = order;
        }
        if self.settled.len() > bound {
            let mut settled = std::mem::take(&mut self.settled);
            settled.retain(|ack| self.current(*ack).is_some());
            self.settled = settled;
        }
        if self.lost.len() > bound {
            let mut lost = std::mem::take(&mut self.lost);
            lost.retain(|_, ack| self.current(*ack).is_some());
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
    fn nonces_inline_or_boxed_keep_their_bytes() {
        for len in [0, 1, 16, INLINE - 1, INLINE, INLINE + 1, 64, 300] {
            let nonce: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let kept = NonceBytes::new(&nonce);
            assert_eq!(kept.as_bytes(), nonce.as_bytes(), "{len}");
            assert_eq!(
                matches!(kept, NonceBytes::Inline { .. }),
                len <= INLINE,
                "{len}"
            );
        }
        // Multi-byte text is kept byte for byte.
        assert_eq!(
            NonceBytes::new("nonce-é-中").as_bytes(),
            "nonce-é-中".as_bytes()
        );
    }

    /// The per-nonce sizes the module docs give (on 64-bit targets).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_layout_is_as_documented() {
        assert_eq!(size_of::<NonceBytes>(), 24);
        assert_eq!(size_of::<Option<Remembered>>(), 64);
        assert_eq!(size_of::<Slot>(), 24);
        assert_eq!(size_of::<Sent>(), 24);
        assert_eq!(size_of::<AckRef>(), 16);
    }

    #[test]
    fn a_reused_place_is_not_taken_for_the_nonce_that_left_it() {
        // Capacity 1: B takes the place A's eviction freed; A's admission slot and ack, still
        // in the queues, must not be read as B's.
        let long = "x".repeat(40);
        for (a, b) in [("a", "b"), (long.as_str(), "b"), ("a", long.as_str())] {
            let mut dedup = Dedup::new(true, WINDOW, 1, false, SETTLE);
            let t0 = start();
            assert!(matches!(dedup.observe(t0, a, 1), Seen::New));
            dedup.complete(a, &ok());
            dedup.acked(t0, a);
            let settled = t0 + SETTLE + Duration::from_secs(1);
            assert!(matches!(dedup.observe(settled, b, 1), Seen::New));
            assert_eq!(dedup.len(), 1);
            // A's old slot is the oldest; once A's window is over it goes, B stays.
            let late = t0 + WINDOW + Duration::from_millis(1);
            assert!(
                matches!(dedup.observe(late, b, 1), Seen::Pending),
                "{a} {b}"
            );
            dedup.complete(b, &ok());
            assert!(matches!(dedup.observe(late, b, 2), Seen::Done(_)));
            // A was forgotten: new again, and refused room (B is at risk: never acked).
            assert!(matches!(dedup.observe(late, a, 2), Seen::New));
            assert!(matches!(dedup.observe(late, a, 2), Seen::New));
            assert_eq!(dedup.len(), 1);
        }
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
