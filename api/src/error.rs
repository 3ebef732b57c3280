//! Why an API call failed: [`ApiError`].

use std::time::Duration;

/// Why an API call failed, or why a request could not be built.
///
/// Every message names the cause and what to do about it. None of them contains the app secret
/// or an access token: texts the platform sends back are scrubbed of both before they are kept.
///
/// ```
/// use open_event_api::{ApiError, MAX_TEXT_CHARS, SendMessage, Receiver};
///
/// let err = SendMessage::text(Receiver::chat("chat_1"), "x".repeat(MAX_TEXT_CHARS + 1)).unwrap_err();
/// assert!(matches!(err, ApiError::TextTooLong { chars: 5001, max: 5000 }));
/// assert!(err.to_string().contains("split it into several messages"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A setting of [`ApiConfig`](crate::ApiConfig) is unusable.
    #[error("invalid API setting {setting}: {problem}")]
    Config {
        /// The setting, e.g. `api_base`.
        setting: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A message text is longer than the platform accepts.
    #[error(
        "the message text has {chars} characters, more than the {max} the platform accepts: split it into several messages"
    )]
    TextTooLong {
        /// The text's length in characters (Unicode scalar values).
        chars: usize,
        /// The limit, [`MAX_TEXT_CHARS`](crate::MAX_TEXT_CHARS).
        max: usize,
    },
    /// A required part of a request is empty.
    #[error("the {what} is empty: the platform needs one; pass a non-empty value")]
    Empty {
        /// What is empty, e.g. `message text` or `chat id`.
        what: &'static str,
    },
    /// The message type cannot be used with this API call.
    #[error("message type {kind:?} cannot be sent with {call}: use one of {allowed}")]
    UnsupportedType {
        /// The type asked for.
        kind: String,
        /// The API call.
        call: &'static str,
        /// The types the call accepts.
        allowed: &'static str,
    },
    /// The platform answered with its error object `{code, msg}`.
    #[error("the platform refused {call} (HTTP {status}, code {code}: {msg}): {hint}")]
    Platform {
        /// The API call, e.g. `POST /v7/messages/create`.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The platform's error code.
        code: i64,
        /// The platform's message, scrubbed of the secret and the token.
        msg: String,
        /// What to check, derived from the status.
        hint: &'static str,
    },
    /// The access token was refused even after fetching a new one.
    #[error(
        "the platform refused {call} with HTTP 401 twice, the second time with a fresh access token ({detail}): check the app id and secret, that the app is enabled and has the permission for this API, and that this machine's clock is right (X-Kso-Date)"
    )]
    Unauthorized {
        /// The API call.
        call: String,
        /// The platform's answer (its `code` and `msg` when it sent them).
        detail: String,
    },
    /// The token endpoint refused the app's credentials.
    #[error(
        "the token endpoint refused the app's credentials (HTTP {status}, code {code}: {msg}): check the app id and app secret in the developer console"
    )]
    Credentials {
        /// The HTTP status.
        status: u16,
        /// The platform's error code.
        code: i64,
        /// The platform's message, scrubbed of the secret.
        msg: String,
    },
    /// An HTTP error status without the platform's error object.
    #[error("{call} answered HTTP {status} without a platform error object ({excerpt:?}): {hint}")]
    Http {
        /// The API call.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body, scrubbed of the secret and the token.
        excerpt: String,
        /// What to check, derived from the status.
        hint: &'static str,
    },
    /// A successful status with a body that is not what the API documents.
    #[error(
        "{call} answered HTTP {status} with a body that is not the expected JSON ({problem}): check that the API base URL points at the WPS open platform"
    )]
    InvalidResponse {
        /// The API call.
        call: String,
        /// The HTTP status.
        status: u16,
        /// What is wrong with the body.
        problem: String,
    },
    /// The request could not be sent or its answer not read (connect error, timeout, reset).
    #[error(
        "{call} could not be completed: {detail}: check the network, the proxy and the API base URL"
    )]
    Transport {
        /// The API call.
        call: String,
        /// What the HTTP library reported.
        detail: String,
    },
    /// The platform asked to wait longer than the client is allowed to.
    #[error(
        "the platform asked to wait {retry_after:?} before calling {call} again (HTTP {status}), longer than the client's limit of {limit:?}: try again later, or raise RetryPolicy::max_retry_after"
    )]
    RetryAfterTooLong {
        /// The API call.
        call: String,
        /// The status that carried the Retry-After header.
        status: u16,
        /// What the platform asked for.
        retry_after: Duration,
        /// [`RetryPolicy::max_retry_after`](crate::RetryPolicy::max_retry_after).
        limit: Duration,
    },
    /// Every attempt failed with a retryable error.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// How many requests were sent.
        attempts: u32,
        /// The last failure.
        last: Box<Self>,
    },
    /// A [`Call`](crate::Call) was driven out of order (a bug of the adapter).
    #[error(
        "API call driven out of order: {0}; an adapter must pass every sent request's outcome back before polling again"
    )]
    Misuse(&'static str),
}

impl ApiError {
    /// The platform's error code, when the platform sent one.
    ///
    /// ```
    /// use open_event_api::ApiError;
    ///
    /// let err = ApiError::Credentials { status: 400, code: 40001, msg: "invalid client".into() };
    /// assert_eq!(err.platform_code(), Some(40001));
    /// ```
    pub fn platform_code(&self) -> Option<i64> {
        match self {
            Self::Platform { code, .. } | Self::Credentials { code, .. } => Some(*code),
            Self::GaveUp { last, .. } => last.platform_code(),
            _ => None,
        }
    }

    /// The HTTP status of the answer behind this error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Platform { status, .. }
            | Self::Credentials { status, .. }
            | Self::Http { status, .. }
            | Self::InvalidResponse { status, .. }
            | Self::RetryAfterTooLong { status, .. } => Some(*status),
            Self::Unauthorized { .. } => Some(401),
            Self::GaveUp { last, .. } => last.status(),
            _ => None,
        }
    }

    /// Whether the request itself is wrong (fix the input rather than retry).
    pub fn is_invalid_request(&self) -> bool {
        matches!(
            self,
            Self::TextTooLong { .. } | Self::Empty { .. } | Self::UnsupportedType { .. }
        )
    }
}

/// What to check for an error status.
pub(crate) fn hint(status: u16) -> &'static str {
    match status {
        400 | 422 => {
            "check the request's fields (receiver id and type, message type and content, chat and message ids)"
        }
        401 => {
            "check the app id and secret and this machine's clock; the access token is refreshed once by itself"
        }
        403 => "grant the app the permission for this API in the developer console",
        404 => "check the chat and message ids, and that the API base URL is the platform's",
        413 => "the body is too large: send a shorter message",
        429 => "the app calls the API too often: slow down (the client retries with backoff)",
        500..=599 => {
            "the platform failed to answer: try again later (the client retries with backoff)"
        }
        _ => "check the request and the API base URL",
    }
}
