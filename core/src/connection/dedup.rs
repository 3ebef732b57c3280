//! Duplicate suppression: a nonce seen again within the window is not delivered twice
//! (PROTOCOL.md §5: redeliveries reach the peers' handlers twice).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

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

/// A bounded, time-windowed set of nonces.
#[derive(Debug)]
pub(super) struct Dedup {
    enabled: bool,
    window: Duration,
    capacity: usize,
    retry_errors: bool,
    entries: HashMap<String, Entry>,
    order: VecDeque<(Instant, String)>,
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
        }
    }

    /// Records `nonce`, seen on `transport` at `now`, and says whether it is new.
    pub(super) fn observe(&mut self, now: Instant, nonce: &str, transport: u64) -> Seen {
        if !self.enabled {
            return Seen::New;
        }
        self.evict(now);
        match self.entries.get_mut(nonce) {
            Some(Entry::Done(ack)) => Seen::Done(ack.clone()),
            Some(Entry::Pending { waiting }) => {
                if !waiting.contains(&transport) {
                    waiting.push(transport);
                }
                Seen::Pending
            }
            None => {
                if self.order.len() >= self.capacity
                    && let Some((_, oldest)) = self.order.pop_front()
                {
                    self.entries.remove(&oldest);
                }
                self.entries.insert(
                    nonce.to_owned(),
                    Entry::Pending {
                        waiting: Vec::new(),
                    },
                );
                self.order.push_back((now, nonce.to_owned()));
                Seen::New
            }
        }
    }

    /// Stores the outcome of `nonce` and returns the transports whose redeliveries wait for it.
    pub(super) fn complete(&mut self, nonce: &str, ack: &AckCode) -> Vec<u64> {
        let Some(entry) = self.entries.get_mut(nonce) else {
            return Vec::new();
        };
        if self.retry_errors && ack.code != 200 {
            // Forget it: the redelivery the error asks for reaches the handler again.
            return match self.entries.remove(nonce) {
                Some(Entry::Pending { waiting }) => waiting,
                _ => Vec::new(),
            };
        }
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
        if matches!(self.entries.get(nonce), Some(Entry::Pending { .. })) {
            self.entries.remove(nonce);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    fn evict(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.window {
                break;
            }
            if let Some((_, nonce)) = self.order.pop_front() {
                self.entries.remove(&nonce);
            }
        }
    }
}
