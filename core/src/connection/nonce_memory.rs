//! The connection's dedup memory, opened to the rest of the crate (the webhook endpoint shares
//! it: docs/protocol.md §11, one verify/decrypt/dedup path for both modes). A response is the
//! webhook's ack, and a webhook has no transport that could close under it: an answered nonce
//! settles `settle` after its response (see the eviction policy in `dedup`).

use std::time::{Duration, Instant};

use super::dedup::{AckCode, Dedup, Seen};

/// What a nonce seen again gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recall {
    /// First sight within the window: deliver it.
    New,
    /// Its first delivery is still running: `waiter` is answered when it completes.
    Pending,
    /// Handled before with this status and message.
    Done {
        /// The status code of the first outcome (200, or 500 for a handler error).
        code: u16,
        /// The handler's error text, when there is one.
        msg: Option<String>,
    },
}

/// [`Dedup`] behind a crate-visible face; `waiter` ids play the role of the connection's
/// transport ids.
#[derive(Debug)]
pub(crate) struct NonceMemory(Dedup);

impl NonceMemory {
    pub(crate) fn new(
        enabled: bool,
        window: Duration,
        capacity: usize,
        retry_errors: bool,
        settle: Duration,
    ) -> Self {
        Self(Dedup::new(enabled, window, capacity, retry_errors, settle))
    }

    /// Records `nonce`, seen by `waiter` at `now`.
    pub(crate) fn observe(&mut self, now: Instant, nonce: &str, waiter: u64) -> Recall {
        match self.0.observe(now, nonce, waiter) {
            Seen::New => Recall::New,
            Seen::Pending => Recall::Pending,
            Seen::Done(ack) => {
                // Answered again now.
                self.0.acked(now, nonce);
                Recall::Done {
                    code: ack.code,
                    msg: ack.msg,
                }
            }
        }
    }

    /// Stores the outcome of `nonce`, answered at `now`; returns the waiters of its
    /// redeliveries.
    pub(crate) fn complete(
        &mut self,
        now: Instant,
        nonce: &str,
        code: u16,
        msg: Option<String>,
    ) -> Vec<u64> {
        let waiters = self.0.complete(nonce, &AckCode { code, msg });
        self.0.acked(now, nonce);
        waiters
    }

    /// Forgets a nonce that was taken but never delivered.
    pub(crate) fn forget(&mut self, nonce: &str) {
        self.0.forget(nonce);
    }

    /// Nonces remembered.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}
