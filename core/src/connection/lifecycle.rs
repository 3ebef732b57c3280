//! The transport lifecycle: where the connection is, and the decisions taken when a transport
//! fails to open or is lost (stop for good, or reconnect after how long).

use std::time::Duration;

use crate::backoff::Backoff;
use crate::codec::{GoAway, GoAwayReason};

use super::action::{HINT_401, HINT_403};
use super::{CloseInfo, DisconnectCause, OpenError, StopReason};

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// A connect attempt is under way.
    Connecting,
    /// The WebSocket is open and events flow.
    Open,
    /// Waiting for the reconnect timer.
    Waiting,
    /// A graceful close waits for in-flight deliveries.
    Draining,
    /// Our close frame is out; waiting for the transport to end.
    Closing,
    /// Stopped for good; see [`Connection::stop_reason`](super::Connection::stop_reason).
    Stopped,
}

impl State {
    /// Whether a transport is up (frames arrive and count as life).
    pub(super) fn is_up(self) -> bool {
        matches!(self, Self::Open | Self::Draining | Self::Closing)
    }

    /// Whether acks may go out (the transport is up and our close frame is not).
    pub(super) fn sends_acks(self) -> bool {
        matches!(self, Self::Open | Self::Draining)
    }
}

/// What follows the loss of a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AfterLoss {
    /// Stop for good.
    Stop(StopReason),
    /// Dial again after this delay.
    Reconnect(Duration),
}

/// Decides what follows the loss of a transport, in order of precedence: a stop already under
/// way, a GoAway `connection_replaced`, auto reconnect off, then the backoff (which counts the
/// attempt, or is out of retries).
pub(super) fn after_loss(
    stopping: Option<&StopReason>,
    goaway: Option<&GoAway>,
    auto_reconnect: bool,
    backoff: &mut Backoff,
    cause: DisconnectCause,
) -> AfterLoss {
    if let Some(reason) = stopping {
        return AfterLoss::Stop(reason.clone());
    }
    if let Some(GoAway {
        reason: GoAwayReason::ConnectionReplaced,
        message,
        ..
    }) = goaway
    {
        return AfterLoss::Stop(StopReason::ConnectionReplaced {
            message: message.clone(),
        });
    }
    if !auto_reconnect {
        return AfterLoss::Stop(StopReason::ConnectionLost(cause));
    }
    match backoff.next_delay() {
        Some(delay) => AfterLoss::Reconnect(delay),
        // Every attempt since the last stable connection failed, the first included.
        None => AfterLoss::Stop(StopReason::RetriesExhausted {
            attempts: backoff.attempt() + 1,
            last: cause,
        }),
    }
}

/// A failed handshake that retrying cannot fix (401, 403), as the stop reason it causes.
pub(super) fn auth_rejection(err: &OpenError) -> Option<StopReason> {
    match *err {
        OpenError::Status { status: 401 } => Some(StopReason::AuthRejected {
            status: 401,
            hint: HINT_401,
        }),
        OpenError::Status { status: 403 } => Some(StopReason::AuthRejected {
            status: 403,
            hint: HINT_403,
        }),
        _ => None,
    }
}

/// Why an open transport ended: the GoAway that announced it, else the close itself.
pub(super) fn closed_cause(goaway: Option<&GoAway>, info: &CloseInfo) -> DisconnectCause {
    match goaway {
        Some(goaway) => DisconnectCause::GoAway(goaway.reason.clone()),
        None => DisconnectCause::Closed(info.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn backoff(max_retries: Option<u32>) -> Backoff {
        let mut builder = Config::builder("AK123456", "sk098765");
        if let Some(max) = max_retries {
            builder = builder.max_retries(Some(max));
        }
        Backoff::new(&builder.build().unwrap(), 1)
    }

    fn goaway(reason: GoAwayReason) -> GoAway {
        GoAway {
            reason,
            message: "m".into(),
            reconnect_ms: None,
        }
    }

    fn dropped() -> DisconnectCause {
        DisconnectCause::Closed(CloseInfo::error("reset"))
    }

    #[test]
    fn a_requested_stop_wins_over_everything() {
        let replaced = goaway(GoAwayReason::ConnectionReplaced);
        let decision = after_loss(
            Some(&StopReason::Requested),
            Some(&replaced),
            true,
            &mut backoff(None),
            dropped(),
        );
        assert_eq!(decision, AfterLoss::Stop(StopReason::Requested));
    }

    #[test]
    fn connection_replaced_stops_other_goaways_reconnect() {
        let mut b = backoff(None);
        let replaced = goaway(GoAwayReason::ConnectionReplaced);
        assert_eq!(
            after_loss(None, Some(&replaced), true, &mut b, dropped()),
            AfterLoss::Stop(StopReason::ConnectionReplaced {
                message: "m".into()
            })
        );
        assert_eq!(b.attempt(), 0, "no attempt counted");
        for reason in [
            GoAwayReason::ServerShutdown,
            GoAwayReason::Other("x".into()),
        ] {
            let other = goaway(reason);
            assert!(matches!(
                after_loss(None, Some(&other), true, &mut b, dropped()),
                AfterLoss::Reconnect(_)
            ));
        }
    }

    #[test]
    fn without_auto_reconnect_the_loss_is_final() {
        assert_eq!(
            after_loss(None, None, false, &mut backoff(None), dropped()),
            AfterLoss::Stop(StopReason::ConnectionLost(dropped()))
        );
    }

    #[test]
    fn the_backoff_counts_attempts_until_retries_run_out() {
        let mut b = backoff(Some(2));
        for attempt in 1..=2 {
            assert!(matches!(
                after_loss(None, None, true, &mut b, dropped()),
                AfterLoss::Reconnect(_)
            ));
            assert_eq!(b.attempt(), attempt);
        }
        assert_eq!(
            after_loss(None, None, true, &mut b, dropped()),
            AfterLoss::Stop(StopReason::RetriesExhausted {
                attempts: 3,
                last: dropped()
            })
        );
    }

    #[test]
    fn only_401_and_403_are_permanent() {
        let status = |status| OpenError::Status { status };
        assert!(matches!(
            auth_rejection(&status(401)),
            Some(StopReason::AuthRejected { status: 401, hint }) if hint == HINT_401
        ));
        assert!(matches!(
            auth_rejection(&status(403)),
            Some(StopReason::AuthRejected { status: 403, hint }) if hint == HINT_403
        ));
        for retried in [
            status(400),
            status(404),
            status(429),
            status(500),
            status(503),
        ] {
            assert_eq!(auth_rejection(&retried), None, "{retried}");
        }
        assert_eq!(
            auth_rejection(&OpenError::Transport("refused".into())),
            None
        );
    }

    #[test]
    fn a_close_after_a_goaway_is_the_goaway() {
        let info = CloseInfo::clean(Some(1000), "");
        let shutdown = goaway(GoAwayReason::ServerShutdown);
        assert_eq!(
            closed_cause(Some(&shutdown), &info),
            DisconnectCause::GoAway(GoAwayReason::ServerShutdown)
        );
        assert_eq!(closed_cause(None, &info), DisconnectCause::Closed(info));
    }

    #[test]
    fn states_that_read_and_ack() {
        use State::*;
        let up: Vec<State> = [Connecting, Open, Waiting, Draining, Closing, Stopped]
            .into_iter()
            .filter(|s| s.is_up())
            .collect();
        assert_eq!(up, [Open, Draining, Closing]);
        assert!(Open.sends_acks() && Draining.sends_acks());
        assert!(!Closing.sends_acks() && !Connecting.sends_acks());
    }
}
