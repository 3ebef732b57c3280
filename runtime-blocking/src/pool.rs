//! The handler workers: threads that run the dispatcher on deliveries and send the outcomes back
//! to the IO thread (and wake it, see [`crate::mailbox`]).
//!
//! Workers are spawned lazily, one more whenever more deliveries are outstanding than workers
//! exist, up to a cap; the core already bounds the deliveries in flight (`max_in_flight`), so
//! below the cap every delivery starts at once. Idle workers wait for the next job; all of them
//! end when the pool is dropped (a worker still inside a handler ends after it returns).

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use open_event_core::connection::{Delivery, Outcome};

use tracing::Span;

use crate::Dispatcher;
use crate::mailbox::{Mail, Mailbox};

/// The most worker threads one client starts: more in-flight deliveries than this queue for a
/// free worker (they still count as in flight for the core).
pub(crate) const MAX_WORKERS: usize = 64;

/// A delivery and the span its handler runs in (entered on the worker thread).
type Job = (Delivery, Span);

/// A lazily grown pool of handler threads.
#[derive(Debug)]
pub(crate) struct Pool {
    jobs: Sender<Job>,
    queue: Arc<Mutex<Receiver<Job>>>,
    dispatcher: Arc<Dispatcher>,
    outcomes: Mailbox,
    workers: usize,
    cap: usize,
    outstanding: usize,
}

impl Pool {
    /// A pool of at most `cap` workers (at least one) sending outcomes to `outcomes`.
    pub(crate) fn new(dispatcher: Arc<Dispatcher>, outcomes: Mailbox, cap: usize) -> Self {
        let (jobs, queue) = channel();
        Self {
            jobs,
            queue: Arc::new(Mutex::new(queue)),
            dispatcher,
            outcomes,
            workers: 0,
            cap: cap.clamp(1, MAX_WORKERS),
            outstanding: 0,
        }
    }

    /// Hands a delivery to a worker, starting one if none is free; its handler runs in `span`.
    pub(crate) fn submit(&mut self, delivery: Delivery, span: Span) {
        self.outstanding += 1;
        if self.outstanding > self.workers && self.workers < self.cap {
            match self.spawn() {
                Ok(()) => self.workers += 1,
                Err(err) if self.workers == 0 => {
                    // Nobody would ever run it: fail the delivery (acked 500, redelivered).
                    tracing::error!(error = %err, "cannot start a handler thread");
                    let outcome = Outcome::Error(format!("cannot start a handler thread: {err}"));
                    self.outcomes.post(Mail::Outcome(delivery.token, outcome));
                    return;
                }
                // The running workers take it when one is free.
                Err(err) => tracing::warn!(error = %err, "cannot start another handler thread"),
            }
        }
        // The receiver lives in `self.queue`, so the send cannot fail.
        let _ = self.jobs.send((delivery, span));
    }

    /// Notes that an outcome came back.
    pub(crate) fn completed(&mut self) {
        self.outstanding = self.outstanding.saturating_sub(1);
    }

    fn spawn(&self) -> std::io::Result<()> {
        let queue = Arc::clone(&self.queue);
        let dispatcher = Arc::clone(&self.dispatcher);
        let outcomes = self.outcomes.clone();
        thread::Builder::new()
            .name(format!("open-event-handler-{}", self.workers))
            .spawn(move || work(&queue, &dispatcher, &outcomes))
            .map(drop)
    }
}

/// A worker: takes jobs until the pool is gone or the IO thread stopped listening.
fn work(queue: &Mutex<Receiver<Job>>, dispatcher: &Dispatcher, outcomes: &Mailbox) {
    loop {
        // Only the waiting worker holds the lock; it is released before the handler runs.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((Delivery { token, event }, span)) = job else {
            return;
        };
        // `handle` catches a panicking handler and returns an error outcome.
        let outcome = span.in_scope(|| dispatcher.handle(event));
        if !outcomes.post(Mail::Outcome(token, outcome)) {
            return;
        }
    }
}
