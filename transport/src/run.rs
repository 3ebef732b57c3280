//! What a runtime's `run()` returns when the client stops for good without being asked to.

use open_event_core::connection::{DisconnectCause, StopReason};

/// Why a client stopped for good without being asked to: the error of every runtime's
/// `Client::run` (a requested stop is `Ok(())`). The same cases as the core's [`StopReason`]
/// without `Requested`, with the same messages; [`StopReason::from`] converts back.
///
/// ```
/// use open_event_core::connection::StopReason;
/// use open_event_transport::RunError;
///
/// assert_eq!(RunError::from_stop(StopReason::Requested), None);
/// let err = RunError::from_stop(StopReason::ConnectionReplaced { message: "new".into() }).unwrap();
/// assert!(err.to_string().contains("replaced this connection"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A newer connection of the same app took over (GoAway `connection_replaced`).
    #[error("{}", StopReason::from(self.clone()))]
    ConnectionReplaced {
        /// The server's message.
        message: String,
    },
    /// The handshake was rejected with 401 or 403: retrying cannot help.
    #[error("{}", StopReason::from(self.clone()))]
    AuthRejected {
        /// 401 or 403.
        status: u16,
        /// What to check.
        hint: &'static str,
    },
    /// `max_retries` consecutive attempts failed.
    #[error("{}", StopReason::from(self.clone()))]
    RetriesExhausted {
        /// Consecutive failed attempts, the first one included (`max_retries + 1`).
        attempts: u32,
        /// Why the last one failed.
        #[source]
        last: DisconnectCause,
    },
    /// The transport was lost and auto reconnect is off.
    #[error("{}", StopReason::from(self.clone()))]
    ConnectionLost(#[source] DisconnectCause),
}

impl RunError {
    /// The error for a stop `reason`; `None` for [`StopReason::Requested`] (not an error).
    pub fn from_stop(reason: StopReason) -> Option<Self> {
        Some(match reason {
            StopReason::ConnectionReplaced { message } => Self::ConnectionReplaced { message },
            StopReason::AuthRejected { status, hint } => Self::AuthRejected { status, hint },
            StopReason::RetriesExhausted { attempts, last } => {
                Self::RetriesExhausted { attempts, last }
            }
            StopReason::ConnectionLost(cause) => Self::ConnectionLost(cause),
            // `Requested`, and whatever the core adds that is not an error.
            _ => return None,
        })
    }
}

impl From<RunError> for StopReason {
    fn from(err: RunError) -> Self {
        match err {
            RunError::ConnectionReplaced { message } => Self::ConnectionReplaced { message },
            RunError::AuthRejected { status, hint } => Self::AuthRejected { status, hint },
            RunError::RetriesExhausted { attempts, last } => {
                Self::RetriesExhausted { attempts, last }
            }
            RunError::ConnectionLost(cause) => Self::ConnectionLost(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use open_event_core::connection::OpenError;

    use super::*;

    #[test]
    fn nested_causes_are_sources() {
        let cause = DisconnectCause::ConnectFailed(OpenError::Transport("refused".into()));
        let err = RunError::from_stop(StopReason::RetriesExhausted {
            attempts: 3,
            last: cause.clone(),
        })
        .unwrap();
        assert_eq!(
            err.to_string(),
            StopReason::RetriesExhausted {
                attempts: 3,
                last: cause.clone()
            }
            .to_string()
        );
        let source = err.source().expect("the last cause is the source");
        assert_eq!(source.to_string(), cause.to_string());
        let inner = source
            .source()
            .expect("the open error is the cause's source");
        assert_eq!(inner.to_string(), "refused");
        assert!(RunError::ConnectionLost(cause).source().is_some());
        assert_eq!(StopReason::from(err.clone()), StopReason::from(err));
    }
}
