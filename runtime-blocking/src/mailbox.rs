//! How other threads hand results to the IO thread and wake it.
//!
//! Handler workers and connect attempts post [`Mail`] on a channel, then ring a bell: a
//! `mio::Waker` registered with the IO thread's `mio::Poll`, so a result is seen while the IO
//! thread waits in `Poll::poll`, not after it. A flag keeps a busy IO thread from being woken
//! over and over: a post only calls the waker when the flag was down, and the IO thread lowers
//! it right before it empties the channel for the last time ahead of a wait
//! ([`Inbox::lower_bell`]);
//! posts that find the flag up are seen by that final emptying.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, OnceLock};

use open_event_core::connection::{DeliveryToken, OpenError, Outcome};
use tungstenite::WebSocket;

use crate::stream::Stream;

/// What other threads tell the IO thread.
#[derive(Debug)]
pub(crate) enum Mail {
    /// A handler finished.
    Outcome(DeliveryToken, Outcome),
    /// A connect attempt ended.
    Opened {
        attempt: u64,
        result: Result<Box<WebSocket<Stream>>, OpenError>,
    },
}

/// The wake-up shared by the posting threads and the IO thread.
#[derive(Debug, Default)]
struct Bell {
    /// Up: the IO thread has been woken (or is awake) and will empty the channel before it
    /// waits again, so a post need not wake it.
    rung: AtomicBool,
    /// Set once the IO thread has its `mio::Poll`; before that it never waits longer than its
    /// stop-check tick and nobody posts (no connection, no handler ran yet).
    waker: OnceLock<mio::Waker>,
}

/// The posting side, one clone per worker and connect attempt.
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    sender: Sender<Mail>,
    bell: Arc<Bell>,
}

impl Mailbox {
    /// Posts `mail` and wakes the IO thread if it may be waiting. `false` when the IO thread is
    /// gone (the client stopped): nobody wants the mail any more.
    pub(crate) fn post(&self, mail: Mail) -> bool {
        if self.sender.send(mail).is_err() {
            return false;
        }
        // AcqRel with `Inbox::lower_bell`: either this swap sees the flag lowered and wakes the
        // IO thread, or the IO thread's swap sees it raised and then finds the mail.
        if !self.bell.rung.swap(true, Ordering::AcqRel)
            && let Some(waker) = self.bell.waker.get()
            && let Err(err) = waker.wake()
        {
            // Only a broken poller fails here; the IO thread still checks its inbox every
            // stop-check tick.
            tracing::warn!(error = %err, "cannot wake the IO thread");
        }
        true
    }
}

/// The IO thread's side.
#[derive(Debug)]
pub(crate) struct Inbox {
    receiver: Receiver<Mail>,
    bell: Arc<Bell>,
}

impl Inbox {
    /// A channel: the posting side (clone it for each thread) and the receiving side.
    pub(crate) fn new() -> (Mailbox, Self) {
        let (sender, receiver) = channel();
        let bell = Arc::new(Bell::default());
        let mailbox = Mailbox {
            sender,
            bell: Arc::clone(&bell),
        };
        (mailbox, Self { receiver, bell })
    }

    /// Installs the waker of the IO thread's poller (once; later calls are ignored).
    pub(crate) fn set_waker(&self, waker: mio::Waker) {
        let _ = self.bell.waker.set(waker);
    }

    /// The next mail, if any.
    pub(crate) fn next(&self) -> Option<Mail> {
        self.receiver.try_recv().ok()
    }

    /// Lowers the bell: call it right before the last emptying ahead of a wait (with
    /// [`Inbox::next`] until `None`), so that every later post wakes the wait.
    pub(crate) fn lower_bell(&self) {
        self.bell.rung.swap(false, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mio::{Events, Poll, Token};

    use super::*;

    fn mail() -> Mail {
        Mail::Opened {
            attempt: 7,
            result: Err(OpenError::Transport("test".to_owned())),
        }
    }

    #[test]
    fn a_post_wakes_a_waiting_poll_once_per_lowering() {
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(4);
        let (mailbox, inbox) = Inbox::new();
        inbox.set_waker(mio::Waker::new(poll.registry(), Token(0)).unwrap());

        inbox.lower_bell();
        assert!(inbox.next().is_none());
        let poster = mailbox.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            assert!(poster.post(mail()));
        });
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(events.iter().count(), 1, "woken by the post");
        thread.join().unwrap();

        // The bell is up until it is lowered: further posts do not wake again.
        assert!(mailbox.post(mail()));
        poll.poll(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty());
        inbox.lower_bell();
        let got: Vec<Mail> = std::iter::from_fn(|| inbox.next()).collect();
        assert!(
            matches!(
                got.as_slice(),
                [Mail::Opened { attempt: 7, .. }, Mail::Opened { .. }]
            ),
            "{got:?}"
        );

        // Lowered again: the next post wakes.
        assert!(mailbox.post(mail()));
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(events.iter().count(), 1);
        assert!(inbox.next().is_some());
        assert!(inbox.next().is_none());

        drop(inbox);
        assert!(!mailbox.post(mail()), "the IO thread is gone");
    }
}
