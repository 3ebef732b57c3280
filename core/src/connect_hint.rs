//! What a failed connect most likely means when its cause says more than "check the network":
//! an HTTP status that points at a wrong endpoint URL. Runtimes and tools print it once, next
//! to the failure (the connection itself keeps retrying such statuses with backoff).

use crate::config::{DEFAULT_ENDPOINT, ENDPOINT_PATH};
use crate::connection::{DisconnectCause, OpenError};

/// The next step for a connect that failed with `cause`, when the cause names one; `None` for
/// causes whose own message says it all (timeouts, refused connections, TLS, 401/403).
///
/// ```
/// use open_event_core::connect_hint::connect_hint;
/// use open_event_core::connection::{DisconnectCause, OpenError};
///
/// let cause = DisconnectCause::ConnectFailed(OpenError::Status { status: 404 });
/// assert!(connect_hint(&cause).unwrap().contains("/v7/event/ws"));
/// let cause = DisconnectCause::ConnectFailed(OpenError::Status { status: 503 });
/// assert_eq!(connect_hint(&cause), None);
/// ```
pub fn connect_hint(cause: &DisconnectCause) -> Option<String> {
    let DisconnectCause::ConnectFailed(OpenError::Status { status }) = cause else {
        return None;
    };
    match status {
        404 => Some(format!(
            "HTTP 404: nothing serves the event long connection at this URL; its path is \
             {ENDPOINT_PATH} (e.g. {DEFAULT_ENDPOINT}): check the endpoint URL, or give only \
             the scheme and host as the base URL and the path is appended"
        )),
        400 | 405 | 426 => Some(format!(
            "HTTP {status}: the server does not accept a WebSocket upgrade at this URL; check \
             that the endpoint is the event long connection ({ENDPOINT_PATH}), not a REST or \
             webhook URL"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::CloseInfo;

    #[test]
    fn only_statuses_that_mean_a_wrong_url_get_a_hint() {
        let status = |status| DisconnectCause::ConnectFailed(OpenError::Status { status });
        assert!(connect_hint(&status(404)).unwrap().starts_with("HTTP 404"));
        assert!(
            connect_hint(&status(426))
                .unwrap()
                .contains("WebSocket upgrade")
        );
        for quiet in [401, 403, 500, 503] {
            assert_eq!(connect_hint(&status(quiet)), None, "{quiet}");
        }
        let closed = DisconnectCause::Closed(CloseInfo::error("reset"));
        assert_eq!(connect_hint(&closed), None);
    }
}
