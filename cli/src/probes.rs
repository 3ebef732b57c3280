//! What `/healthz` and `/readyz` answer for each command. The decision for a client
//! (connected, or within the grace after a loss) is `open_event_transport::health::Health`;
//! this file only feeds it and adds what a command knows (the stop request, the relay's role,
//! the webhook's listener).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use open_event_core::connection::Notice;
use open_event_transport::health::{Health, Verdict};
use open_event_transport::metrics;
use open_event_webhook::WebhookStats;

use crate::stopper::Stopper;

/// The two probes of the metrics server.
pub(crate) trait Probes: Send + Sync + 'static {
    /// `/healthz`.
    fn liveness(&self) -> Verdict;
    /// `/readyz`.
    fn readiness(&self) -> Verdict;
    /// Called before each `/metrics` render: a command whose library keeps plain counters
    /// (the webhook's `WebhookStats`) copies them into the recorder here.
    fn update_metrics(&self) {}
}

/// The probes of `listen` and `relay`: the client's notices, with the grace and the stop.
pub(crate) struct ClientProbes {
    health: Mutex<Health>,
    grace: Duration,
    stopper: Arc<Stopper>,
}

impl ClientProbes {
    pub(crate) fn new(grace: Duration, stopper: Arc<Stopper>) -> Arc<Self> {
        Arc::new(Self {
            health: Mutex::new(Health::new(Instant::now())),
            grace,
            stopper,
        })
    }

    /// Takes in one notice of the client (from its `on_notice`).
    pub(crate) fn observe(&self, notice: &Notice) {
        self.lock().observe(Instant::now(), notice);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Probes for ClientProbes {
    fn liveness(&self) -> Verdict {
        self.lock().liveness(Instant::now(), self.grace)
    }

    fn readiness(&self) -> Verdict {
        self.lock().readiness(self.stopper.is_requested())
    }
}

/// The probes of `relay`: a standby (waiting for the lease held by another instance) is
/// healthy and ready; the leader answers as its client does.
pub(crate) struct RelayProbes {
    pub(crate) client: Arc<ClientProbes>,
    /// Whether this instance is a standby now.
    pub(crate) standby: Box<dyn Fn() -> bool + Send + Sync>,
}

impl Probes for RelayProbes {
    fn liveness(&self) -> Verdict {
        if (self.standby)() && !self.client.stopper.is_requested() {
            return Verdict::ok("standby: waiting for the lease");
        }
        self.client.liveness()
    }

    fn readiness(&self) -> Verdict {
        if (self.standby)() && !self.client.stopper.is_requested() {
            return Verdict::ok("standby: waiting for the lease");
        }
        self.client.readiness()
    }
}

/// The probes of `webhook`: healthy and ready while the endpoint listens and no stop has
/// begun (the platform connects to us, so there is no connection to lose).
pub(crate) struct WebhookProbes {
    listening: AtomicBool,
    stopper: Arc<Stopper>,
    /// The endpoint's counters, copied into the recorder at each scrape.
    stats: Box<dyn Fn() -> WebhookStats + Send + Sync>,
}

impl WebhookProbes {
    /// `stats` reads the endpoint's counters (`WebhookHandle::stats`).
    pub(crate) fn new(
        stopper: Arc<Stopper>,
        stats: impl Fn() -> WebhookStats + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            listening: AtomicBool::new(false),
            stopper,
            stats: Box::new(stats),
        })
    }

    /// The endpoint is bound and serving (`true`) or has stopped serving (`false`).
    pub(crate) fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::SeqCst);
    }

    fn verdict(&self) -> Verdict {
        if self.stopper.is_requested() {
            Verdict::failing("stopping")
        } else if self.listening.load(Ordering::SeqCst) {
            Verdict::ok("listening")
        } else {
            Verdict::failing("not listening")
        }
    }
}

impl Probes for WebhookProbes {
    fn liveness(&self) -> Verdict {
        self.verdict()
    }

    fn readiness(&self) -> Verdict {
        self.verdict()
    }

    fn update_metrics(&self) {
        metrics::publish_webhook_stats(&(self.stats)());
    }
}

#[cfg(test)]
mod tests {
    use open_event_core::connection::StopReason;

    use super::*;

    #[test]
    fn a_client_is_ready_once_connected_and_not_after_a_stop_request() {
        let stopper = Stopper::new();
        let probes = ClientProbes::new(Duration::from_secs(30), Arc::clone(&stopper));
        assert!(probes.liveness().ok, "connecting, within the grace");
        assert_eq!(probes.readiness().reason, "not connected yet");
        probes.observe(&Notice::Connected { reconnect: false });
        assert_eq!(probes.liveness(), Verdict::ok("connected"));
        assert_eq!(probes.readiness(), Verdict::ok("ready"));
        stopper.stop();
        assert_eq!(probes.readiness(), Verdict::failing("stopping"));
        probes.observe(&Notice::Stopped(StopReason::Requested));
        assert!(!probes.liveness().ok);
    }

    #[test]
    fn a_relay_standby_is_healthy_without_a_connection() {
        let stopper = Stopper::new();
        let client = ClientProbes::new(Duration::ZERO, Arc::clone(&stopper));
        let standby = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&standby);
        let probes = RelayProbes {
            client,
            standby: Box::new(move || flag.load(Ordering::SeqCst)),
        };
        assert!(probes.liveness().ok && probes.readiness().ok);
        standby.store(false, Ordering::SeqCst);
        assert_eq!(probes.readiness().reason, "not connected yet");
    }

    #[test]
    fn a_webhook_is_healthy_while_listening_and_not_stopping() {
        let stopper = Stopper::new();
        let probes = WebhookProbes::new(Arc::clone(&stopper), WebhookStats::default);
        assert_eq!(probes.liveness(), Verdict::failing("not listening"));
        probes.set_listening(true);
        assert!(probes.liveness().ok && probes.readiness().ok);
        stopper.stop();
        assert_eq!(probes.readiness(), Verdict::failing("stopping"));
    }
}
