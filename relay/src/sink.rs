//! Where the relay stores events: the [`Sink`] trait and its error.

use futures_util::future::BoxFuture;
use open_event_core::Event;

/// What a confirmed store did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The broker stored the event.
    New,
    /// The broker already had this nonce (a redelivery or a retry): stored once, not again.
    Duplicate,
}

/// A durable destination for events: "store this event; resolve when the broker confirmed".
///
/// The relay acks an event with 200 only after [`Sink::store`] resolved with `Ok`; an `Err`
/// (or no answer within the relay's store timeout) acks it with 500, so the platform delivers
/// it again. A store must therefore be idempotent by [`Event::nonce`]: a nonce stored before
/// resolves as [`Stored::Duplicate`] and is not stored twice.
///
/// ```
/// use futures_util::future::BoxFuture;
/// use open_event_core::Event;
/// use open_event_relay::{Sink, SinkError, Stored};
///
/// /// Prints every event (not durable: for trying things only).
/// struct Print;
///
/// impl Sink for Print {
///     fn store(&self, event: Event) -> BoxFuture<'static, Result<Stored, SinkError>> {
///         Box::pin(async move {
///             println!("{} {}", event.event_code(), event.nonce);
///             Ok(Stored::New)
///         })
///     }
///
///     fn describe(&self) -> String {
///         "stdout".into()
///     }
/// }
/// ```
pub trait Sink: Send + Sync + 'static {
    /// Stores one event; resolves once the broker confirmed it (or knew its nonce already).
    ///
    /// # Errors
    /// A [`SinkError`] when the broker did not confirm: the event is acked with 500.
    fn store(&self, event: Event) -> BoxFuture<'static, Result<Stored, SinkError>>;

    /// Where events go, for status lines (never with credentials).
    fn describe(&self) -> String;
}

/// A sink chosen at run time (e.g. from a URL) is still a sink.
impl Sink for Box<dyn Sink> {
    fn store(&self, event: Event) -> BoxFuture<'static, Result<Stored, SinkError>> {
        (**self).store(event)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Why an event was not stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The broker could not be reached or answered with an error.
    #[error("{broker} did not store the event: {reason}")]
    Broker {
        /// Which broker (`redis` or `nats`).
        broker: &'static str,
        /// What went wrong (the client library's error text).
        reason: String,
    },
    /// The broker did not confirm within the store timeout.
    #[error(
        "the broker did not confirm within {0:?} (the store timeout); the event is acked with \
         500 and delivered again"
    )]
    Timeout(std::time::Duration),
}

impl SinkError {
    pub(crate) fn redis(err: impl std::fmt::Display) -> Self {
        Self::Broker {
            broker: "redis",
            reason: err.to_string(),
        }
    }

    pub(crate) fn nats(err: impl std::fmt::Display) -> Self {
        Self::Broker {
            broker: "nats",
            reason: err.to_string(),
        }
    }
}
