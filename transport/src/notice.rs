//! Logging the core's notices, identically on every runtime.

use open_event_core::connection::{DisconnectCause, Notice};

/// The `tracing` target every runtime logs notices under.
const TARGET: &str = "open_event";

/// Logs `notice` with `tracing` under the target `open_event`, at a level that fits it:
///
/// | level | notices |
/// |---|---|
/// | info | connected, reconnecting, goaway, duplicate, stopped as requested, expected disconnects (after a goaway, a clean close with code 1000) |
/// | warn | other disconnects, rejected frames, slow deliveries, late outcomes |
/// | error | stopped because of an error |
pub fn log_notice(notice: &Notice) {
    match notice {
        Notice::Connected { .. }
        | Notice::Reconnecting { .. }
        | Notice::GoAway(_)
        | Notice::Duplicate { .. } => tracing::info!(target: TARGET, "{notice}"),
        Notice::Disconnected(cause) if expected_disconnect(cause) => {
            tracing::info!(target: TARGET, "{notice}");
        }
        Notice::Disconnected(_)
        | Notice::Rejected(_)
        | Notice::SlowDelivery { .. }
        | Notice::LateOutcome { .. } => tracing::warn!(target: TARGET, "{notice}"),
        Notice::Stopped(reason) if reason.is_requested() => {
            tracing::info!(target: TARGET, "{notice}");
        }
        Notice::Stopped(_) => tracing::error!(target: TARGET, "{notice}"),
        _ => tracing::info!(target: TARGET, "{notice}"),
    }
}

fn expected_disconnect(cause: &DisconnectCause) -> bool {
    match cause {
        DisconnectCause::GoAway(_) | DisconnectCause::Requested => true,
        DisconnectCause::Closed(info) => !info.error && info.code == Some(1000),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use open_event_core::connection::{CloseInfo, StopReason};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use super::*;

    /// Records the level and target of every event.
    #[derive(Clone, Default)]
    struct Levels(Arc<Mutex<Vec<(Level, String)>>>);

    impl Subscriber for Levels {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let meta = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push((*meta.level(), meta.target().to_owned()));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn level_of(notice: &Notice) -> Level {
        let levels = Levels::default();
        tracing::subscriber::with_default(levels.clone(), || log_notice(notice));
        let got = levels.0.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "{notice}");
        assert_eq!(got[0].1, TARGET);
        got[0].0
    }

    #[test]
    fn levels_fit_the_notice() {
        let closed = |info| Notice::Disconnected(DisconnectCause::Closed(info));
        let cases = [
            (Notice::Connected { reconnect: false }, Level::INFO),
            (
                Notice::Reconnecting {
                    attempt: 1,
                    delay: Duration::from_secs(1),
                    at: std::time::Instant::now(),
                },
                Level::INFO,
            ),
            (Notice::Stopped(StopReason::Requested), Level::INFO),
            (closed(CloseInfo::clean(Some(1000), "")), Level::INFO),
            (closed(CloseInfo::clean(Some(1011), "oops")), Level::WARN),
            (closed(CloseInfo::error("reset")), Level::WARN),
            (
                Notice::Disconnected(DisconnectCause::ServerSilent(Duration::from_secs(90))),
                Level::WARN,
            ),
            (Notice::LateOutcome { nonce: "n".into() }, Level::WARN),
            (
                Notice::Stopped(StopReason::AuthRejected {
                    status: 401,
                    hint: "check",
                }),
                Level::ERROR,
            ),
        ];
        for (notice, level) in cases {
            assert_eq!(level_of(&notice), level, "{notice}");
        }
    }
}
