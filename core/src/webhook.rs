//! Webhook mode without IO: the platform POSTs each event to the app (docs/protocol.md §11).
//!
//! An [`Endpoint`] takes a request's method, content type and body and decides everything:
//!
//! | request | [`Step`] |
//! |---|---|
//! | not `POST` | 405, `Allow: POST` |
//! | a `Content-Type` that is not JSON (none at all is taken as JSON) | 415 |
//! | body over [`Limits::max_body`] | 413 |
//! | body stalled past the driver's timeout, or broken off | 408, or 400 |
//! | `{"challenge":"…"}` | 200 with the same JSON (the platform expects it within 1 s) |
//! | not an event frame, undecryptable | 400 with the reason |
//! | bad signature | 401 with the reason |
//! | a nonce answered within the dedup window | the first answer, no handler run |
//! | a nonce whose handler still runs | [`Step::Wait`]: answered when it completes |
//! | `max_in_flight` handlers running | 503 with `Retry-After` |
//! | after [`Endpoint::close`] | 503 with `Retry-After` |
//! | a verified new event | [`Step::Deliver`]; its outcome becomes 200, or 500 with the error |
//!
//! The same verify/decrypt code and the same dedup memory (window, capacity,
//! `dedup_retry_errors`) as the long connection's serve this mode, configured by the same
//! [`Config`]. Rejected bodies never reach a handler and are counted by reason in
//! [`WebhookStats`].
//!
//! # Drive loop
//!
//! For each request: optionally [`Endpoint::check_head`] before reading the body (refuse early),
//! read at most [`Limits::max_body`] bytes ([`Endpoint::body_too_large`] past it), then
//! [`Endpoint::handle`]. Send a [`Step::Respond`] at once; run a [`Step::Deliver`]'s handler and
//! pass its outcome to [`Endpoint::complete`], which returns the response for this request and
//! for every request that [`Step::Wait`]ed on the same nonce.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use open_event_core::Credentials;
//! use open_event_core::config::Config;
//! use open_event_core::connection::Outcome;
//! use open_event_core::crypto::EventCipher;
//! use open_event_core::webhook::{Endpoint, Limits, Request, Step};
//!
//! let config = Arc::new(Config::builder("AK20240101TEST", "sk_test_secret_0123456789abcdef").build()?);
//! let mut endpoint = Endpoint::new(Arc::clone(&config), Limits::default());
//! let now = Instant::now();
//!
//! let challenge = Request::new("POST", Some("application/json"), br#"{"challenge":"abc"}"#);
//! let Step::Respond(echo) = endpoint.handle(now, challenge) else { panic!() };
//! assert_eq!((echo.status, echo.body.as_str()), (200, r#"{"challenge":"abc"}"#));
//!
//! let cipher = EventCipher::new(config.credentials());
//! let body = cipher.seal("kso.app_chat", "create", 1704067201, "0123456789abcdef", "{}")?.to_json();
//! let Step::Deliver(delivery) = endpoint.handle(now, Request::new("POST", None, body.as_bytes()))
//! else { panic!() };
//! assert_eq!(delivery.event.event_code(), "kso.app_chat.create");
//! let done = endpoint.complete(now, delivery.token, Outcome::Ok)?;
//! assert_eq!(done.response.status, 200);
//!
//! // The platform redelivers: answered from memory, no second delivery.
//! let Step::Respond(again) = endpoint.handle(now, Request::new("POST", None, body.as_bytes()))
//! else { panic!() };
//! assert_eq!((again.status, again.reason), (200, "duplicate"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod response;
mod stats;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

pub use self::response::{EventId, Rejection, Response};
pub use self::stats::WebhookStats;
use crate::Event;
use crate::codec::{self, Frame, FrameError};
use crate::config::Config;
use crate::connection::Outcome;
use crate::connection::nonce_memory::{NonceMemory, Recall};
use crate::crypto::EventCipher;

/// The webhook settings that the long connection has no use for; the rest (credentials, dedup,
/// `max_in_flight`, `delivery_budget`) come from [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    max_body: usize,
    retry_after: Duration,
}

impl Default for Limits {
    /// A 1 MiB body cap and a 1 s `Retry-After`.
    fn default() -> Self {
        Self {
            max_body: 1024 * 1024,
            retry_after: Duration::from_secs(1),
        }
    }
}

impl Limits {
    /// Sets the body size cap in bytes (default 1 MiB; 1 byte to 64 MiB).
    ///
    /// # Errors
    /// [`LimitError`] for 0 or more than 64 MiB.
    pub fn max_body(mut self, bytes: usize) -> Result<Self, LimitError> {
        if !(1..=MAX_BODY_CAP).contains(&bytes) {
            return Err(LimitError::MaxBody(bytes));
        }
        self.max_body = bytes;
        Ok(self)
    }

    /// Sets the `Retry-After` of a 503 (default 1 s; whole seconds, 1 s to 1 h).
    ///
    /// # Errors
    /// [`LimitError`] outside 1 s to 1 h.
    pub fn retry_after(mut self, after: Duration) -> Result<Self, LimitError> {
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&after) {
            return Err(LimitError::RetryAfter(after));
        }
        self.retry_after = after;
        Ok(self)
    }

    /// The body size cap in bytes.
    pub fn body_limit(&self) -> usize {
        self.max_body
    }

    /// The `Retry-After` of a 503.
    pub fn retry_after_hint(&self) -> Duration {
        self.retry_after
    }
}

/// A webhook limit out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// The body cap.
    #[error("webhook max_body {0} bytes is out of range: use 1 byte to 64 MiB (default 1 MiB)")]
    MaxBody(usize),
    /// The `Retry-After` hint.
    #[error("webhook retry_after {0:?} is out of range: use 1 s to 1 h (default 1 s)")]
    RetryAfter(Duration),
}

/// One request as the endpoint needs it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    method: &'a str,
    content_type: Option<&'a str>,
    body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The method (`"POST"`), the `Content-Type` header if any, and the whole body.
    pub fn new(method: &'a str, content_type: Option<&'a str>, body: &'a [u8]) -> Self {
        Self {
            method,
            content_type,
            body,
        }
    }
}

/// What to do with a request.
///
/// Deliberately exhaustive: adding a variant must break every driver at compile time.
#[derive(Debug)]
#[allow(clippy::exhaustive_enums)]
pub enum Step {
    /// Send this response now.
    Respond(Response),
    /// Run the handler, then pass its outcome to [`Endpoint::complete`] (exactly once, also
    /// when the client went away: the outcome is remembered for the redelivery).
    Deliver(Delivery),
    /// The same event is being handled for an earlier request: hold this one until
    /// [`Endpoint::complete`] lists this waiter, then send that response.
    Wait(Waiter),
}

/// An event to hand to the application.
#[derive(Debug)]
#[non_exhaustive]
pub struct Delivery {
    /// Pass it back to [`Endpoint::complete`].
    pub token: DeliveryToken,
    /// The verified, decrypted event.
    pub event: Event,
    /// When the delivery budget runs out (report a handler still running then).
    pub deadline: Instant,
}

/// Identifies one delivery of one [`Endpoint`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DeliveryToken(u64);

/// Identifies a request held by [`Step::Wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Waiter(u64);

/// The answer to a completed delivery.
#[derive(Debug)]
#[non_exhaustive]
pub struct Completion {
    /// The response for the delivering request, and for each waiter.
    pub response: Response,
    /// Requests of the same event that waited for this outcome.
    pub waiters: Vec<Waiter>,
    /// How long the handler ran.
    pub elapsed: Duration,
    /// Whether it ran past the delivery budget (the platform has likely given up on this
    /// request and will redeliver).
    pub slow: bool,
}

/// [`Endpoint::complete`] was given a token it does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown webhook delivery token: it was already completed or belongs to another Endpoint; complete each delivery exactly once"
)]
#[non_exhaustive]
pub struct UnknownDelivery;

/// The webhook state machine of one app: verification, dedup, the concurrency bound, stats.
/// Share one per app between all connections (behind a mutex: every call is short).
#[derive(Debug)]
pub struct Endpoint {
    config: Arc<Config>,
    limits: Limits,
    cipher: EventCipher,
    memory: NonceMemory,
    in_flight: HashMap<u64, InFlight>,
    /// Requests held by [`Step::Wait`], with the nonce they wait for.
    waiting: HashMap<u64, String>,
    next_id: u64,
    closing: bool,
    stats: WebhookStats,
}

#[derive(Debug)]
struct InFlight {
    id: EventId,
    started: Instant,
}

impl Endpoint {
    /// An endpoint for the app of `config`.
    pub fn new(config: Arc<Config>, limits: Limits) -> Self {
        Self {
            cipher: EventCipher::new(config.credentials()),
            memory: NonceMemory::new(
                config.dedup(),
                config.dedup_window(),
                config.dedup_capacity(),
                config.dedup_retry_errors(),
                2 * config.write_timeout(),
            ),
            config,
            limits,
            in_flight: HashMap::new(),
            waiting: HashMap::new(),
            next_id: 0,
            closing: false,
            stats: WebhookStats::default(),
        }
    }

    /// Checks what is known before the body is read. `Err` is the response to send at once
    /// (and the body need not be read); it is counted as a request.
    ///
    /// # Errors
    /// 405, 415, or 413 when the declared `Content-Length` is over the limit.
    pub fn check_head(
        &mut self,
        method: &str,
        content_type: Option<&str>,
        content_length: Option<u64>,
    ) -> Result<(), Response> {
        match self.head_rejection(method, content_type, content_length) {
            None => Ok(()),
            Some(rejection) => {
                self.stats.requests += 1;
                Err(self.refuse(&rejection, None))
            }
        }
    }

    /// The response to a body that grew past [`Limits::max_body`] while being read.
    pub fn body_too_large(&mut self) -> Response {
        self.stats.requests += 1;
        let rejection = Rejection::BodyTooLarge {
            limit: self.limits.max_body,
        };
        self.refuse(&rejection, None)
    }

    /// The response to a body that did not arrive whole: it stalled past the driver's body
    /// read timeout (`Some(timeout)`, 408) or its stream broke (`None`, 400).
    pub fn body_unread(&mut self, timed_out: Option<Duration>) -> Response {
        self.stats.requests += 1;
        let rejection = match timed_out {
            Some(timeout) => Rejection::BodyTimeout(timeout),
            None => Rejection::BodyIncomplete,
        };
        self.refuse(&rejection, None)
    }

    /// The response to a request whose delivery was lost without an outcome (the driver's
    /// runtime is shutting down): 503, retry later.
    pub fn delivery_lost(&mut self) -> Response {
        let rejection = Rejection::ShuttingDown {
            retry_after: self.limits.retry_after,
        };
        self.refuse(&rejection, None)
    }

    /// Decides what to do with one whole request; see the [module docs](self) for the table.
    pub fn handle(&mut self, now: Instant, request: Request<'_>) -> Step {
        self.stats.requests += 1;
        let length = u64::try_from(request.body.len()).unwrap_or(u64::MAX);
        if let Some(rejection) =
            self.head_rejection(request.method, request.content_type, Some(length))
        {
            return Step::Respond(self.refuse(&rejection, None));
        }
        let Ok(text) = std::str::from_utf8(request.body) else {
            return Step::Respond(self.refuse(&Rejection::NotUtf8, None));
        };
        let frame = match codec::decode(text) {
            Ok(Frame::Event(frame)) => frame,
            Ok(Frame::GoAway(_)) => {
                self.stats.events_received += 1;
                return Step::Respond(self.refuse(&Rejection::Frame(FrameError::NotAnEvent), None));
            }
            Err(err) => {
                if let Ok(challenge) = serde_json::from_str::<Challenge<'_>>(text) {
                    self.stats.challenges += 1;
                    return Step::Respond(Response::challenge(&challenge.challenge));
                }
                self.stats.events_received += 1;
                return Step::Respond(self.refuse(&Rejection::Frame(err), None));
            }
        };
        self.stats.events_received += 1;
        let id = EventId {
            event_code: frame.event_code(),
            nonce: frame.nonce.clone().into_owned(),
        };
        // The same acceptance rule as the long connection: the plaintext must be JSON text.
        let event = match self
            .cipher
            .open(&frame)
            .and_then(|e| e.check_json().map(|()| e))
        {
            Ok(event) => event,
            Err(err) => return Step::Respond(self.refuse(&Rejection::Frame(err), Some(id))),
        };
        let waiter = self.next_id;
        self.next_id += 1;
        match self.memory.observe(now, &event.nonce, waiter) {
            Recall::New => {}
            Recall::Pending => {
                self.stats.duplicates += 1;
                self.waiting.insert(waiter, event.nonce);
                return Step::Wait(Waiter(waiter));
            }
            Recall::Done { code, msg } => {
                self.stats.duplicates += 1;
                return Step::Respond(Response::outcome(code, msg.as_deref(), "duplicate", id));
            }
        }
        let refusal = if self.closing {
            Some(Rejection::ShuttingDown {
                retry_after: self.limits.retry_after,
            })
        } else if self.in_flight.len() >= self.config.max_in_flight() {
            Some(Rejection::Busy {
                max_in_flight: self.config.max_in_flight(),
                retry_after: self.limits.retry_after,
            })
        } else {
            None
        };
        if let Some(rejection) = refusal {
            // Not taken: its redelivery must be new.
            self.memory.forget(&event.nonce);
            return Step::Respond(self.refuse(&rejection, Some(id)));
        }
        self.in_flight.insert(waiter, InFlight { id, started: now });
        self.stats.events_delivered += 1;
        Step::Deliver(Delivery {
            token: DeliveryToken(waiter),
            event,
            deadline: now + self.config.delivery_budget(),
        })
    }

    /// Records a delivery's outcome and returns the response for its request and its waiters:
    /// 200 for [`Outcome::Ok`] and [`Outcome::Unhandled`], 500 with the message (truncated to
    /// 256 characters) for [`Outcome::Error`].
    ///
    /// # Errors
    /// [`UnknownDelivery`] for a token completed before.
    pub fn complete(
        &mut self,
        now: Instant,
        token: DeliveryToken,
        outcome: Outcome,
    ) -> Result<Completion, UnknownDelivery> {
        let flight = self.in_flight.remove(&token.0).ok_or(UnknownDelivery)?;
        let elapsed = now.saturating_duration_since(flight.started);
        let slow = elapsed > self.config.delivery_budget();
        if slow {
            self.stats.slow_deliveries += 1;
        }
        let (code, msg, reason) = match outcome {
            Outcome::Ok => (200, None, "ok"),
            Outcome::Unhandled => {
                self.stats.unhandled += 1;
                (200, None, "unhandled")
            }
            Outcome::Error(msg) => (
                500,
                Some(codec::truncate_ack_msg(&msg).into_owned()),
                "handler_error",
            ),
        };
        if code == 200 {
            self.stats.answered_ok += 1;
        } else {
            self.stats.answered_error += 1;
        }
        let mut waiters: Vec<Waiter> = self
            .memory
            .complete(now, &flight.id.nonce, code, msg.clone())
            .into_iter()
            .map(Waiter)
            .collect();
        // Also the waiters the memory no longer lists (it may have evicted a nonce whose
        // handler ran long): a held request must always be answered.
        self.waiting.retain(|&id, nonce| {
            if *nonce != flight.id.nonce {
                return true;
            }
            if !waiters.contains(&Waiter(id)) {
                waiters.push(Waiter(id));
            }
            false
        });
        Ok(Completion {
            response: Response::outcome(code, msg.as_deref(), reason, flight.id),
            waiters,
            elapsed,
            slow,
        })
    }

    /// Starts a graceful stop: new events are refused with 503 (the platform redelivers them,
    /// maybe to another instance); running deliveries still complete. Challenges and
    /// redeliveries of answered events are still answered.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// Deliveries handed out and not completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether [`Endpoint::close`] was called and no delivery is running.
    pub fn is_drained(&self) -> bool {
        self.closing && self.in_flight.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> &WebhookStats {
        &self.stats
    }

    /// Nonces in the dedup memory (with the `testing` feature).
    #[cfg(any(test, feature = "testing"))]
    pub fn dedup_len(&self) -> usize {
        self.memory.len()
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    fn head_rejection(
        &self,
        method: &str,
        content_type: Option<&str>,
        content_length: Option<u64>,
    ) -> Option<Rejection> {
        if !method.eq_ignore_ascii_case("POST") {
            return Some(Rejection::MethodNotAllowed(truncated(method)));
        }
        if let Some(content_type) = content_type
            && !is_json(content_type)
        {
            return Some(Rejection::UnsupportedMediaType(truncated(content_type)));
        }
        let limit = self.limits.max_body;
        if content_length.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
            return Some(Rejection::BodyTooLarge { limit });
        }
        None
    }

    fn refuse(&mut self, rejection: &Rejection, event: Option<EventId>) -> Response {
        let stats = &mut self.stats;
        match rejection {
            Rejection::MethodNotAllowed(_) => stats.method_not_allowed += 1,
            Rejection::UnsupportedMediaType(_) => stats.unsupported_media_type += 1,
            Rejection::BodyTooLarge { .. } => stats.body_too_large += 1,
            Rejection::BodyTimeout(_) | Rejection::BodyIncomplete => stats.body_unread += 1,
            Rejection::NotUtf8 => stats.not_utf8 += 1,
            Rejection::Frame(err) => stats.rejected.add(err.kind()),
            Rejection::Busy { .. } => stats.busy += 1,
            Rejection::ShuttingDown { .. } => stats.shutting_down += 1,
        }
        Response::rejection(rejection, event)
    }
}

/// The platform's address check: `{"challenge":"…"}` (other fields are ignored).
#[derive(Deserialize)]
struct Challenge<'a> {
    #[serde(borrow)]
    challenge: std::borrow::Cow<'a, str>,
}

/// `application/json`, `application/<x>+json` or `text/json`, any parameters, any case.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence == "text/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A header value quoted back in a message, bounded so a hostile client cannot bloat it.
fn truncated(value: &str) -> String {
    value.chars().take(64).collect()
}

const MAX_BODY_CAP: usize = 64 * 1024 * 1024;

#[cfg(test)]
mod tests;
