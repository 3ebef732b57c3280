//! What the endpoint answers: [`Response`], and the [`Rejection`]s that turn into one.

use std::fmt;
use std::time::Duration;

use serde_json::json;

use crate::codec::{FrameError, RejectKind};

/// The HTTP response to send, complete: status, headers and body. The driver copies it out and
/// adds nothing of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The JSON body (`{"challenge":…}`, `{"code":200}`, or an error with `reason` and `msg`).
    pub body: String,
    /// A short snake_case name of what happened, for logs and metrics: `challenge`, `ok`,
    /// `unhandled`, `handler_error`, `duplicate`, or a [`Rejection::reason`].
    pub reason: &'static str,
    /// The `Retry-After` header in seconds (503 only).
    pub retry_after: Option<u64>,
    /// The event's code and nonce when the body held a decodable event (unverified for a
    /// rejected one), for logs.
    pub event: Option<EventId>,
}

/// Which event a response is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventId {
    /// `topic.operation`.
    pub event_code: String,
    /// The event's nonce.
    pub nonce: String,
}

impl Response {
    /// The headers to send besides the body's length: always `Content-Type: application/json`,
    /// `Allow: POST` with a 405, `Retry-After` with a 503.
    ///
    /// ```
    /// use open_event_core::webhook::{Endpoint, Limits, Request, Step};
    /// # use std::sync::Arc; use std::time::Instant;
    /// # use open_event_core::config::Config;
    /// # let config = Arc::new(Config::builder("AK20240101TEST", "sk_test").build().unwrap());
    /// let mut endpoint = Endpoint::new(config, Limits::default());
    /// let Step::Respond(response) = endpoint.handle(Instant::now(), Request::new("GET", None, b""))
    /// else { panic!() };
    /// assert_eq!(response.status, 405);
    /// assert!(response.headers().any(|(name, value)| name == "allow" && value == "POST"));
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        let allow = (self.status == 405).then(|| ("allow", "POST".to_owned()));
        let retry = self.retry_after.map(|s| ("retry-after", s.to_string()));
        std::iter::once(("content-type", "application/json".to_owned()))
            .chain(allow)
            .chain(retry)
    }

    /// Whether the platform takes this as delivered (HTTP 200).
    pub fn is_success(&self) -> bool {
        self.status == 200
    }

    pub(super) fn challenge(challenge: &str) -> Self {
        Self::new(
            200,
            json!({ "challenge": challenge }).to_string(),
            "challenge",
        )
    }

    /// The answer to a handled event: 200, or 500 with the handler's message.
    pub(super) fn outcome(
        code: u16,
        msg: Option<&str>,
        reason: &'static str,
        event: EventId,
    ) -> Self {
        let body = match msg {
            None => json!({ "code": code }),
            Some(msg) => json!({ "code": code, "reason": "handler_error", "msg": msg }),
        };
        Self {
            event: Some(event),
            ..Self::new(
                if code == 200 { 200 } else { 500 },
                body.to_string(),
                reason,
            )
        }
    }

    pub(super) fn rejection(rejection: &Rejection, event: Option<EventId>) -> Self {
        let status = rejection.status();
        let body = json!({
            "code": status,
            "reason": rejection.reason(),
            "msg": rejection.to_string(),
        });
        Self {
            retry_after: rejection.retry_after().map(|d| d.as_secs().max(1)),
            event,
            ..Self::new(status, body.to_string(), rejection.reason())
        }
    }

    fn new(status: u16, body: String, reason: &'static str) -> Self {
        Self {
            status,
            body,
            reason,
            retry_after: None,
            event: None,
        }
    }
}

/// Why a request is not delivered. Display messages name the cause and the fix, never a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Not a `POST` (405).
    #[error("method {0} is not allowed: the platform delivers events with POST")]
    MethodNotAllowed(String),
    /// A `Content-Type` other than JSON (415).
    #[error("content type {0:?} is not JSON: the platform posts application/json")]
    UnsupportedMediaType(String),
    /// The body is larger than the limit (413).
    #[error(
        "body is larger than the limit of {limit} bytes; raise the webhook body limit if events are this large"
    )]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive within the body read timeout (408).
    #[error(
        "the body did not arrive within {0:?}; the client is too slow or stalled (raise the body timeout if the network is)"
    )]
    BodyTimeout(Duration),
    /// The body ended early or its stream failed (400).
    #[error("the body could not be read to its end: the client closed or broke the stream")]
    BodyIncomplete,
    /// The body is not UTF-8 text (400).
    #[error("body is not UTF-8 text: the platform posts JSON")]
    NotUtf8,
    /// The body is neither a challenge nor a valid, verifiable event (401 for a signature
    /// problem, 400 otherwise).
    #[error(transparent)]
    Frame(FrameError),
    /// `max_in_flight` handlers are running (503, retry later).
    #[error("{max_in_flight} handlers are already running; retry later or raise max_in_flight")]
    Busy {
        /// The bound that was reached.
        max_in_flight: usize,
        /// The `Retry-After` hint.
        retry_after: Duration,
    },
    /// The endpoint is shutting down (503, retry later: another instance may take it).
    #[error("the endpoint is shutting down; retry later")]
    ShuttingDown {
        /// The `Retry-After` hint.
        retry_after: Duration,
    },
}

impl Rejection {
    /// The HTTP status this rejection is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::MethodNotAllowed(_) => 405,
            Self::UnsupportedMediaType(_) => 415,
            Self::BodyTooLarge { .. } => 413,
            Self::BodyTimeout(_) => 408,
            Self::BodyIncomplete | Self::NotUtf8 => 400,
            Self::Frame(err) => match err.kind() {
                RejectKind::SignatureEncoding | RejectKind::SignatureMismatch => 401,
                _ => 400,
            },
            Self::Busy { .. } | Self::ShuttingDown { .. } => 503,
        }
    }

    /// A snake_case name: `method_not_allowed`, `unsupported_media_type`, `body_too_large`,
    /// `body_timeout`, `body_incomplete`, `not_utf8`, `busy`, `shutting_down`, or the [`RejectKind::as_str`] of a frame error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::BodyTimeout(_) => "body_timeout",
            Self::BodyIncomplete => "body_incomplete",
            Self::NotUtf8 => "not_utf8",
            Self::Frame(err) => err.kind().as_str(),
            Self::Busy { .. } => "busy",
            Self::ShuttingDown { .. } => "shutting_down",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Busy { retry_after, .. } | Self::ShuttingDown { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.event_code, self.nonce)
    }
}
