//! What a client reports through the [`metrics`](https://docs.rs/metrics) facade (cargo
//! feature `metrics` of the runtime crates, or of this one).
//!
//! Recorded in the code every runtime shares, so `open-event-tokio`, `open-event-async-std`
//! and `open-event-blocking` report the same series for the same traffic: the notices where
//! [`Notifier::notify`](crate::Notifier::notify) sees them, the counters and the state where
//! [`StatusBoard::publish`](crate::StatusBoard::publish) sees them after each loop turn, and
//! deliveries and outcomes in [`drive::delivered`](crate::drive::delivered) and
//! [`drive::complete`](crate::drive::complete). The core stays free of the facade. Without
//! the feature nothing is recorded and the facade is not compiled in.
//!
//! Install any recorder (e.g. `metrics-exporter-prometheus`) before the client runs. The
//! series, named after Prometheus conventions:
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `open_event_events_received_total` | counter | | text frames that were events (valid or not) |
//! | `open_event_events_delivered_total` | counter | `code` | events handed to the handler |
//! | `open_event_events_handled_total` | counter | `code`, `outcome` (`ok`, `error`, `unhandled`) | handler outcomes |
//! | `open_event_handler_duration_seconds` | histogram | `code` | from delivery to outcome |
//! | `open_event_events_acked_total` | counter | `status` (`200`, `500`) | acks flushed to the socket (redeliveries answered from the dedup memory included) |
//! | `open_event_acks_unsent_total` | counter | | acks whose transport died before the flush (the server redelivers) |
//! | `open_event_events_rejected_total` | counter | `reason` ([`RejectKind::as_str`]) | frames rejected, never delivered |
//! | `open_event_duplicates_total` | counter | | redeliveries not delivered again |
//! | `open_event_late_outcomes_total` | counter | | outcomes that came after their transport died |
//! | `open_event_slow_deliveries_total` | counter | | deliveries that ran past the delivery budget |
//! | `open_event_connects_total` | counter | | transports opened |
//! | `open_event_reconnects_total` | counter | `cause` (see below) | reconnects scheduled, by the cause of the loss before them |
//! | `open_event_goaways_total` | counter | `reason` (`server_shutdown`, `connection_replaced`, `heartbeat_timeout`, `other`) | GoAway frames |
//! | `open_event_pings_total` | counter | | pings received (each answered) |
//! | `open_event_last_frame_timestamp_seconds` | gauge | | Unix time of the last frame from the server (`time() - ...` is its age) |
//! | `open_event_connected` | gauge | | clients whose WebSocket is open (0 or 1 for one client) |
//! | `open_event_connection_state` | gauge | `state` (`connecting`, `open`, `waiting`, `draining`, `closing`, `stopped`) | running clients in each state (a client leaves it when its `run` returns) |
//!
//! `cause` is one of `connect_failed`, `connect_timeout`, `write_timeout`, `server_silent`,
//! `goaway`, `closed` (a clean close by the server), `transport_error`, `requested`, `other`.
//!
//! Every label has a bounded set of values. `code` is the event code as the server sent it:
//! the first [`MAX_CODE_LABELS`] distinct codes of the process (each at most
//! [`MAX_CODE_LABEL_LEN`] bytes) keep their name, any further one is reported as `other`, so a
//! misbehaving server cannot grow the series without bound. Several clients in one process add
//! up in the same series.
//!
//! A webhook endpoint (`open-event-webhook`) keeps plain counters
//! ([`WebhookStats`](open_event_core::webhook::WebhookStats)); [`publish_webhook_stats`]
//! copies them into the recorder (call it before each scrape), under the same names where the
//! meaning is the same (`open_event_events_received_total`, `..._events_rejected_total`,
//! `..._duplicates_total`, `..._slow_deliveries_total`) and these:
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `open_event_webhook_requests_total` | counter | | requests handled |
//! | `open_event_webhook_answered_total` | counter | `status` (`200`, `500`) | deliveries answered |
//! | `open_event_webhook_refused_total` | counter | `reason` (`busy`, `shutting_down`, `body_too_large`, `method_not_allowed`, `unsupported_media_type`, `body_unread`, `not_utf8`) | requests refused before a delivery |
//! | `open_event_webhook_challenges_total` | counter | | challenges echoed |
//!
//! A histogram's buckets are the exporter's choice; [`HANDLER_DURATION_BUCKETS`] fits the
//! platform's 3 s delivery budget.
//!
//! [`RejectKind::as_str`]: open_event_core::codec::RejectKind::as_str

/// `open_event_events_received_total`.
pub const EVENTS_RECEIVED: &str = "open_event_events_received_total";
/// `open_event_events_delivered_total{code}`.
pub const EVENTS_DELIVERED: &str = "open_event_events_delivered_total";
/// `open_event_events_handled_total{code,outcome}`.
pub const EVENTS_HANDLED: &str = "open_event_events_handled_total";
/// `open_event_handler_duration_seconds{code}` (histogram).
pub const HANDLER_DURATION: &str = "open_event_handler_duration_seconds";
/// `open_event_events_acked_total{status}`.
pub const EVENTS_ACKED: &str = "open_event_events_acked_total";
/// `open_event_acks_unsent_total`.
pub const ACKS_UNSENT: &str = "open_event_acks_unsent_total";
/// `open_event_events_rejected_total{reason}`.
pub const EVENTS_REJECTED: &str = "open_event_events_rejected_total";
/// `open_event_duplicates_total`.
pub const DUPLICATES: &str = "open_event_duplicates_total";
/// `open_event_late_outcomes_total`.
pub const LATE_OUTCOMES: &str = "open_event_late_outcomes_total";
/// `open_event_slow_deliveries_total`.
pub const SLOW_DELIVERIES: &str = "open_event_slow_deliveries_total";
/// `open_event_connects_total`.
pub const CONNECTS: &str = "open_event_connects_total";
/// `open_event_reconnects_total{cause}`.
pub const RECONNECTS: &str = "open_event_reconnects_total";
/// `open_event_goaways_total{reason}`.
pub const GOAWAYS: &str = "open_event_goaways_total";
/// `open_event_pings_total`.
pub const PINGS: &str = "open_event_pings_total";
/// `open_event_last_frame_timestamp_seconds` (gauge).
pub const LAST_FRAME_TIMESTAMP: &str = "open_event_last_frame_timestamp_seconds";
/// `open_event_connected` (gauge).
pub const CONNECTED: &str = "open_event_connected";
/// `open_event_connection_state{state}` (gauge).
pub const CONNECTION_STATE: &str = "open_event_connection_state";

/// `open_event_webhook_requests_total` (webhook mode, [`publish_webhook_stats`]).
pub const WEBHOOK_REQUESTS: &str = "open_event_webhook_requests_total";
/// `open_event_webhook_answered_total{status}` (webhook mode).
pub const WEBHOOK_ANSWERED: &str = "open_event_webhook_answered_total";
/// `open_event_webhook_refused_total{reason}` (webhook mode).
pub const WEBHOOK_REFUSED: &str = "open_event_webhook_refused_total";
/// `open_event_webhook_challenges_total` (webhook mode).
pub const WEBHOOK_CHALLENGES: &str = "open_event_webhook_challenges_total";

/// Distinct event codes kept as `code` label values per process; later ones are `other`.
pub const MAX_CODE_LABELS: usize = 100;
/// Longer event codes are reported as `other`.
pub const MAX_CODE_LABEL_LEN: usize = 128;

/// Histogram buckets (seconds) for [`HANDLER_DURATION`], around the platform's 3 s budget.
pub const HANDLER_DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 10.0,
];

use open_event_core::connection::{DisconnectCause, State};

/// The `cause` label of a lost transport.
pub fn cause_label(cause: &DisconnectCause) -> &'static str {
    match cause {
        DisconnectCause::ConnectFailed(_) => "connect_failed",
        DisconnectCause::ConnectTimeout(_) => "connect_timeout",
        DisconnectCause::WriteTimeout(_) => "write_timeout",
        DisconnectCause::ServerSilent(_) => "server_silent",
        DisconnectCause::GoAway(_) => "goaway",
        DisconnectCause::Closed(info) if info.error => "transport_error",
        DisconnectCause::Closed(_) => "closed",
        DisconnectCause::Requested => "requested",
        _ => "other",
    }
}

/// The `state` label of a connection state.
pub fn state_label(state: State) -> &'static str {
    match state {
        State::Connecting => "connecting",
        State::Open => "open",
        State::Waiting => "waiting",
        State::Draining => "draining",
        State::Closing => "closing",
        State::Stopped => "stopped",
        _ => "other",
    }
}

#[cfg(feature = "metrics")]
pub use enabled::publish_webhook_stats;
#[cfg(feature = "metrics")]
pub(crate) use enabled::{
    NoticeMeter, client_finished, delivered, outcome, state_changed, stats_changed,
};

#[cfg(not(feature = "metrics"))]
pub use disabled::publish_webhook_stats;
#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::{
    NoticeMeter, client_finished, delivered, outcome, state_changed, stats_changed,
};

/// The recording, with the facade.
#[cfg(feature = "metrics")]
mod enabled {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::{Mutex, Once, PoisonError};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
    use open_event_core::codec::{GoAwayReason, RejectKind};
    use open_event_core::connection::{
        Connection, Delivery, DeliveryToken, Notice, Outcome, State,
    };
    use open_event_core::stats::Stats;
    use open_event_core::webhook::WebhookStats;

    use super::*;

    /// The cause labels, indexed for [`NoticeMeter`]'s atomic.
    const CAUSES: [&str; 9] = [
        "other",
        "connect_failed",
        "connect_timeout",
        "write_timeout",
        "server_silent",
        "goaway",
        "closed",
        "transport_error",
        "requested",
    ];

    /// What the notice side remembers per client: the cause of the last loss, for the
    /// `cause` of the reconnect that follows it.
    #[derive(Debug, Default)]
    pub(crate) struct NoticeMeter {
        last_cause: AtomicU8,
    }

    impl NoticeMeter {
        pub(crate) fn notice(&self, notice: &Notice) {
            describe_once();
            match notice {
                Notice::Disconnected(cause) => {
                    let label = cause_label(cause);
                    let index = CAUSES.iter().position(|c| *c == label).unwrap_or(0);
                    self.last_cause
                        .store(u8::try_from(index).unwrap_or(0), Ordering::Relaxed);
                }
                Notice::Reconnecting { .. } => {
                    let index = usize::from(self.last_cause.load(Ordering::Relaxed));
                    let cause = CAUSES.get(index).copied().unwrap_or("other");
                    counter!(RECONNECTS, "cause" => cause).increment(1);
                }
                Notice::GoAway(goaway) => {
                    let reason = match goaway.reason {
                        GoAwayReason::ServerShutdown => "server_shutdown",
                        GoAwayReason::ConnectionReplaced => "connection_replaced",
                        GoAwayReason::HeartbeatTimeout => "heartbeat_timeout",
                        _ => "other",
                    };
                    counter!(GOAWAYS, "reason" => reason).increment(1);
                }
                Notice::SlowDelivery { .. } => counter!(SLOW_DELIVERIES).increment(1),
                _ => {}
            }
        }
    }

    /// The counters that grew between two snapshots of one client's [`Stats`].
    pub(crate) fn stats_changed(old: &Stats, new: &Stats) {
        describe_once();
        let grow = |name: &'static str, old: u64, new: u64| {
            if new > old {
                counter!(name).increment(new - old);
            }
        };
        grow(EVENTS_RECEIVED, old.events_received, new.events_received);
        grow(ACKS_UNSENT, old.acks_unsent, new.acks_unsent);
        grow(DUPLICATES, old.duplicates, new.duplicates);
        grow(LATE_OUTCOMES, old.late_outcomes, new.late_outcomes);
        grow(CONNECTS, old.connects, new.connects);
        grow(PINGS, old.pings, new.pings);
        if new.acked_ok > old.acked_ok {
            counter!(EVENTS_ACKED, "status" => "200").increment(new.acked_ok - old.acked_ok);
        }
        if new.acked_error > old.acked_error {
            counter!(EVENTS_ACKED, "status" => "500").increment(new.acked_error - old.acked_error);
        }
        for kind in RejectKind::ALL {
            let (was, is) = (old.rejected(kind), new.rejected(kind));
            if is > was {
                counter!(EVENTS_REJECTED, "reason" => kind.as_str()).increment(is - was);
            }
        }
        if new.last_frame_at != old.last_frame_at
            && let Some(at) = new.last_frame_at
        {
            let age = Instant::now().saturating_duration_since(at);
            let wall = SystemTime::now()
                .checked_sub(age)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .unwrap_or(Duration::ZERO);
            gauge!(LAST_FRAME_TIMESTAMP).set(wall.as_secs_f64());
        }
    }

    /// One client's state moved from `old` (`None`: its first report) to `new`.
    pub(crate) fn state_changed(old: Option<State>, new: State) {
        describe_once();
        if let Some(old) = old {
            gauge!(CONNECTION_STATE, "state" => state_label(old)).decrement(1.0);
            if old == State::Open {
                gauge!(CONNECTED).decrement(1.0);
            }
        } else {
            // Present from the first report on, also while never connected.
            gauge!(CONNECTED).increment(0.0);
        }
        gauge!(CONNECTION_STATE, "state" => state_label(new)).increment(1.0);
        if new == State::Open {
            gauge!(CONNECTED).increment(1.0);
        }
    }

    /// One client's `run` returned in `last` state: it leaves the state gauges.
    pub(crate) fn client_finished(last: State) {
        gauge!(CONNECTION_STATE, "state" => state_label(last)).decrement(1.0);
        if last == State::Open {
            gauge!(CONNECTED).decrement(1.0);
        }
    }

    /// An event is handed to the handler.
    pub(crate) fn delivered(delivery: &Delivery) {
        counter!(EVENTS_DELIVERED, "code" => code_label(delivery.event.event_code())).increment(1);
    }

    /// The handler of `token` finished with `outcome` at `now` (before the core takes it).
    pub(crate) fn outcome(
        conn: &Connection,
        now: Instant,
        token: DeliveryToken,
        outcome: &Outcome,
    ) {
        let Some((code, started)) = conn.delivery_started(token) else {
            return;
        };
        let code = code_label(code);
        let outcome = match outcome {
            Outcome::Ok => "ok",
            Outcome::Error(_) => "error",
            Outcome::Unhandled => "unhandled",
            _ => "other",
        };
        counter!(EVENTS_HANDLED, "code" => code, "outcome" => outcome).increment(1);
        metrics::histogram!(HANDLER_DURATION, "code" => code)
            .record(now.saturating_duration_since(started).as_secs_f64());
    }

    /// The label value for an event code (bounded, see the module docs).
    pub(crate) fn code_label(code: &str) -> &'static str {
        thread_local! {
            // The last code this thread labelled: a burst of one code skips the lock and the
            // hash (twice per event, on the loop's thread).
            static LAST: std::cell::Cell<&'static str> = const { std::cell::Cell::new("") };
        }
        if code.len() > MAX_CODE_LABEL_LEN {
            return "other";
        }
        let last = LAST.get();
        if !code.is_empty() && last == code {
            return last;
        }
        let label = known_label(code);
        if label != "other" {
            LAST.set(label);
        }
        label
    }

    /// The kept label of `code`, kept now if there is room, else `other`.
    fn known_label(code: &str) -> &'static str {
        static CODES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
        let mut codes = CODES.lock().unwrap_or_else(PoisonError::into_inner);
        let codes = codes.get_or_insert_with(HashSet::new);
        if let Some(known) = codes.get(code) {
            return known;
        }
        if codes.len() >= MAX_CODE_LABELS {
            return "other";
        }
        // Bounded: at most MAX_CODE_LABELS strings of at most MAX_CODE_LABEL_LEN bytes are
        // ever kept, for the life of the process (label values must outlive the recorder).
        let kept: &'static str = Box::leak(code.to_owned().into_boxed_str());
        codes.insert(kept);
        kept
    }

    /// Copies a webhook endpoint's counters into the recorder (see the module docs).
    pub fn publish_webhook_stats(stats: &WebhookStats) {
        describe_once();
        counter!(EVENTS_RECEIVED).absolute(stats.events_received);
        counter!(DUPLICATES).absolute(stats.duplicates);
        counter!(SLOW_DELIVERIES).absolute(stats.slow_deliveries);
        counter!(WEBHOOK_REQUESTS).absolute(stats.requests);
        counter!(WEBHOOK_CHALLENGES).absolute(stats.challenges);
        counter!(WEBHOOK_ANSWERED, "status" => "200").absolute(stats.answered_ok);
        counter!(WEBHOOK_ANSWERED, "status" => "500").absolute(stats.answered_error);
        for (reason, n) in [
            ("busy", stats.busy),
            ("shutting_down", stats.shutting_down),
            ("body_too_large", stats.body_too_large),
            ("method_not_allowed", stats.method_not_allowed),
            ("unsupported_media_type", stats.unsupported_media_type),
            ("body_unread", stats.body_unread),
            ("not_utf8", stats.not_utf8),
        ] {
            counter!(WEBHOOK_REFUSED, "reason" => reason).absolute(n);
        }
        for kind in RejectKind::ALL {
            counter!(EVENTS_REJECTED, "reason" => kind.as_str()).absolute(stats.rejected(kind));
        }
    }

    /// The help texts, once per process.
    fn describe_once() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            describe_counter!(
                EVENTS_RECEIVED,
                "Text frames that were events (valid or not)."
            );
            describe_counter!(
                EVENTS_DELIVERED,
                "Events handed to the handler, by event code."
            );
            describe_counter!(
                EVENTS_HANDLED,
                "Handler outcomes, by event code and outcome."
            );
            describe_histogram!(
                HANDLER_DURATION,
                Unit::Seconds,
                "Time from delivery to the handler's outcome, by event code."
            );
            describe_counter!(EVENTS_ACKED, "Acks flushed to the socket, by ack status.");
            describe_counter!(
                ACKS_UNSENT,
                "Acks whose transport died before they were flushed."
            );
            describe_counter!(
                EVENTS_REJECTED,
                "Frames rejected (never delivered), by reason."
            );
            describe_counter!(DUPLICATES, "Redelivered events not delivered again.");
            describe_counter!(
                LATE_OUTCOMES,
                "Outcomes that arrived after their transport died."
            );
            describe_counter!(
                SLOW_DELIVERIES,
                "Deliveries that ran past the delivery budget."
            );
            describe_counter!(CONNECTS, "Transports opened.");
            describe_counter!(
                RECONNECTS,
                "Reconnects scheduled, by the cause of the loss."
            );
            describe_counter!(GOAWAYS, "GoAway frames received, by reason.");
            describe_counter!(PINGS, "Pings received from the server.");
            describe_gauge!(
                LAST_FRAME_TIMESTAMP,
                Unit::Seconds,
                "Unix time of the last frame received from the server."
            );
            describe_gauge!(CONNECTED, "Clients whose WebSocket is open.");
            describe_gauge!(
                CONNECTION_STATE,
                "Running clients in each connection state."
            );
            describe_counter!(WEBHOOK_REQUESTS, "Webhook requests handled.");
            describe_counter!(WEBHOOK_ANSWERED, "Webhook deliveries answered, by status.");
            describe_counter!(WEBHOOK_REFUSED, "Webhook requests refused, by reason.");
            describe_counter!(WEBHOOK_CHALLENGES, "Webhook challenges echoed.");
        });
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn code_labels_are_bounded() {
            assert_eq!(code_label(&"x".repeat(MAX_CODE_LABEL_LEN + 1)), "other");
            let first = code_label("kso.test.bounded");
            assert_eq!(first, "kso.test.bounded");
            // Fill the table; from then on new codes are `other`, known ones keep their name.
            for i in 0..MAX_CODE_LABELS {
                let _ = code_label(&format!("kso.test.fill{i}"));
            }
            assert_eq!(code_label("kso.test.one_too_many"), "other");
            assert_eq!(code_label("kso.test.bounded"), "kso.test.bounded");
            // The same code again comes from the thread's cache, with the same answer; a code
            // past the bound is never cached under its own name.
            assert_eq!(code_label("kso.test.bounded"), "kso.test.bounded");
            assert_eq!(code_label("kso.test.one_too_many"), "other");
            assert_eq!(code_label("kso.test.one_too_many"), "other");
        }

        #[test]
        fn every_cause_label_has_an_index() {
            use open_event_core::connection::{CloseInfo, OpenError};
            let causes = [
                DisconnectCause::ConnectFailed(OpenError::Transport("x".into())),
                DisconnectCause::ConnectTimeout(Duration::from_secs(1)),
                DisconnectCause::WriteTimeout(Duration::from_secs(1)),
                DisconnectCause::ServerSilent(Duration::from_secs(1)),
                DisconnectCause::GoAway(GoAwayReason::ServerShutdown),
                DisconnectCause::Closed(CloseInfo::clean(Some(1000), "")),
                DisconnectCause::Closed(CloseInfo::error("reset")),
                DisconnectCause::Requested,
            ];
            for cause in &causes {
                assert!(CAUSES.contains(&cause_label(cause)), "{cause}");
            }
        }
    }
}

/// Without the `metrics` feature: the same calls, recording nothing.
#[cfg(not(feature = "metrics"))]
mod disabled {
    use std::time::Instant;

    use open_event_core::connection::{
        Connection, Delivery, DeliveryToken, Notice, Outcome, State,
    };
    use open_event_core::stats::Stats;

    #[derive(Debug, Default)]
    pub(crate) struct NoticeMeter;

    impl NoticeMeter {
        #[inline]
        pub(crate) fn notice(&self, _: &Notice) {}
    }

    #[inline]
    pub(crate) fn stats_changed(_: &Stats, _: &Stats) {}

    #[inline]
    pub(crate) fn state_changed(_: Option<State>, _: State) {}

    #[inline]
    pub(crate) fn client_finished(_: State) {}

    #[inline]
    pub(crate) fn delivered(_: &Delivery) {}

    #[inline]
    pub(crate) fn outcome(_: &Connection, _: Instant, _: DeliveryToken, _: &Outcome) {}

    /// Copies a webhook endpoint's counters into the recorder (nothing without the
    /// `metrics` feature).
    #[inline]
    pub fn publish_webhook_stats(_: &open_event_core::webhook::WebhookStats) {}
}
