//! Logging the core's notices and passing them to the application's callback, identically on
//! every runtime.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use open_event_core::connection::{DisconnectCause, Notice};

/// The `tracing` target every runtime logs notices under.
pub(crate) const TARGET: &str = "open_event";

/// Where a client's notices go: the `tracing` log ([`log_notice`]) and the application's
/// callback (`ClientBuilder::on_notice`), if one is set. Cheap to clone.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use open_event_core::connection::Notice;
/// use open_event_transport::Notifier;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// let notifier = Notifier::new(move |notice: &Notice| sink.lock().unwrap().push(notice.to_string()));
/// notifier.notify(&Notice::Connected { reconnect: false });
/// assert_eq!(seen.lock().unwrap().len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct Notifier {
    callback: Option<Callback>,
    /// The notices' part of the client's metrics (feature `metrics`).
    meter: Arc<crate::metrics::NoticeMeter>,
}

/// The application's notice callback.
type Callback = Arc<dyn Fn(&Notice) + Send + Sync>;

impl Notifier {
    /// Passes every notice to `callback` (after logging it).
    pub fn new(callback: impl Fn(&Notice) + Send + Sync + 'static) -> Self {
        Self {
            callback: Some(Arc::new(callback)),
            meter: Arc::default(),
        }
    }

    /// Logs `notice` with [`log_notice`], records it in the metrics (feature `metrics`, see
    /// [`metrics`](crate::metrics)), then calls the callback. A panicking callback is
    /// logged as an error and otherwise ignored: the client goes on.
    pub fn notify(&self, notice: &Notice) {
        log_notice(notice);
        self.meter.notice(notice);
        if let Some(callback) = &self.callback
            && catch_unwind(AssertUnwindSafe(|| callback(notice))).is_err()
        {
            tracing::error!(target: TARGET, "the on_notice callback panicked; the client goes on");
        }
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("callback", &self.callback.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Logs `notice` with `tracing` under the target `open_event`, at a level that fits it:
///
/// | level | notices |
/// |---|---|
/// | info | connected, reconnecting, goaway, duplicate, stopped as requested, expected disconnects (after a goaway, a clean close with code 1000) |
/// | warn | failed handlers (with the fields `event_code`, `nonce`, `error`), other disconnects, rejected frames, slow deliveries, late outcomes, a full dedup memory |
/// | error | stopped because of an error |
pub fn log_notice(notice: &Notice) {
    match notice {
        Notice::HandlerFailed {
            event_code,
            nonce,
            message,
        } => tracing::warn!(
            target: TARGET,
            event_code = event_code.as_str(),
            nonce = nonce.as_str(),
            error = message.as_str(),
            "{notice}"
        ),
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
        | Notice::LateOutcome { .. }
        | Notice::DedupFull { .. } => tracing::warn!(target: TARGET, "{notice}"),
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
    fn a_panicking_callback_is_logged_and_survived() {
        let calls = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&calls);
        let notifier = Notifier::new(move |_: &Notice| {
            *counter.lock().unwrap() += 1;
            panic!("callback bug");
        });
        let levels = Levels::default();
        let notice = Notice::Connected { reconnect: false };
        tracing::subscriber::with_default(levels.clone(), || notifier.clone().notify(&notice));
        assert_eq!(*calls.lock().unwrap(), 1);
        let got = levels.0.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1], (Level::ERROR, TARGET.to_owned()));
        assert!(format!("{notifier:?}").contains("<set>"));
        // Without a callback only the log line.
        Notifier::default().notify(&notice);
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
                Notice::HandlerFailed {
                    event_code: "kso.app_chat.create".into(),
                    nonce: "n".into(),
                    message: "boom".into(),
                },
                Level::WARN,
            ),
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
