//! `openevent listen`: connect, print or hand every event to a command, ack it.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use open_event_core::Event;
use open_event_core::config::{Config, DEFAULT_ENDPOINT, Settings};
use open_event_core::connection::{DisconnectCause, Notice};
use open_event_core::stats::Stats;

use crate::args::{ListenArgs, RuntimeKind};
use crate::client_settings;
use crate::credentials::Prompt;
use crate::environment;
use crate::failure::{Failure, cause_hint};
use crate::flag_hints;
use crate::handling::{self, EventHandling};
use crate::metrics_server::MetricsServer;
use crate::probes::ClientProbes;
use crate::runtime::{self, App, ClientSpec, HandlerFuture};
use crate::stopper::{Stopper, install_signals};
use crate::style::{Palette, Stream, plural};

pub(crate) fn run(args: &ListenArgs, no_color: bool) -> Result<(), Failure> {
    let status = Status::new(Palette::detect(Stream::Stderr, no_color));
    let filter = handling::check_filter(&args.handling, &status)?;
    let mut settings = client_settings::resolve(&args.connection)?;
    let credentials =
        client_settings::take_credentials(&mut settings, &args.credentials, Prompt::IfTerminal)?;
    let stopper = Stopper::new();
    let handling = EventHandling::new(
        &args.handling,
        filter,
        status.clone(),
        Arc::clone(&stopper),
        no_color,
    )?;
    {
        let status = status.clone();
        install_signals(Arc::clone(&stopper), move |text| status.info(text))?;
    }
    for warning in environment::misspelled_warnings() {
        status.warn(&warning);
    }
    if settings.danger_accept_invalid_certs == Some(true) {
        status.warn(
            "--insecure: TLS certificates are NOT verified; anyone on the network path can read \
             and forge events. Use it only against a local test server; prefer --ca-file.",
        );
    }
    let endpoint = endpoint_text(&settings);
    let connecting = format!(
        "connecting to {endpoint} as {} ({} runtime){}",
        credentials.app_id(),
        args.runtime.name(),
        if handling.filter.is_active() {
            format!(", events {}", args.handling.events.join(","))
        } else {
            String::new()
        }
    );
    if !handling.has_exec() && settings.max_in_flight.is_none() && !calls_in_order(args.runtime) {
        // The blocking runtime calls handlers on its worker threads: one at a time keeps the
        // output in arrival order there.
        settings.max_in_flight = Some(1);
    }
    let probes = ClientProbes::new(args.metrics.health_grace, Arc::clone(&stopper));
    let server = match args.metrics.serve.metrics {
        Some(addr) => Some(MetricsServer::start(addr, Arc::clone(&probes) as _)?),
        None => None,
    };
    if let Some(server) = &server {
        status.info(&server.describe());
    }
    let listener = Arc::new(Listener {
        handling,
        connecting,
        endpoint,
        hinted: AtomicBool::new(false),
        probes,
    });
    let spec = ClientSpec {
        credentials,
        settings,
        filter: listener.handling.filter.clone(),
    };
    let app: Arc<dyn App> = Arc::clone(&listener) as Arc<dyn App>;
    let finished = runtime::run(args.runtime, &spec, app, &stopper)?;
    let ended = listener.handling.finish();
    status.info(&listener.summary(&finished.stats));
    ended?;
    match finished.result {
        Ok(()) => Ok(()),
        Err(reason) => Err(Failure::stopped_after(
            &reason,
            listener.hinted.load(Ordering::SeqCst),
        )),
    }
}

/// Whether `kind` calls the handler (not its future) on the client's loop in delivery order,
/// which is what lets [`EventHandling::take`] queue the output in arrival order with several
/// events in flight.
fn calls_in_order(kind: RuntimeKind) -> bool {
    match kind {
        RuntimeKind::Tokio | RuntimeKind::AsyncStd | RuntimeKind::Smol => true,
        RuntimeKind::Blocking => false,
    }
}

/// The endpoint as it will be dialled, for status lines.
fn endpoint_text(settings: &Settings) -> String {
    settings
        .apply_to(Config::builder("status", "status"))
        .build()
        .map_or_else(
            |_| {
                settings
                    .endpoint
                    .clone()
                    .or_else(|| settings.base_url.clone())
                    .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())
            },
            |config| config.endpoint().to_string(),
        )
}

/// Status lines on stderr (`openevent: ...`).
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub(crate) palette: Palette,
}

impl Status {
    pub(crate) fn new(palette: Palette) -> Self {
        Self { palette }
    }

    pub(crate) fn info(&self, text: &str) {
        self.print("", text);
    }

    pub(crate) fn warn(&self, text: &str) {
        self.print(&self.palette.yellow("warning: "), text);
    }

    pub(crate) fn error(&self, text: &str) {
        self.print(&self.palette.red("error: "), text);
    }

    fn print(&self, level: &str, text: &str) {
        let line = format!("{}{level}{text}\n", self.palette.dim("openevent: "));
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes()).and_then(|()| err.flush());
    }
}

/// The application of `listen`, shared by every runtime: the per-event handling plus what
/// only a connection has (its status lines, the connect hint).
struct Listener {
    handling: EventHandling,
    /// The status line printed once the client is built.
    connecting: String,
    endpoint: String,
    /// The hint for a failed connect (e.g. HTTP 404: the path) was printed.
    hinted: AtomicBool,
    /// What `/healthz` and `/readyz` answer (served with `--metrics`).
    probes: Arc<ClientProbes>,
}

impl Listener {
    /// Where every received event went, then the acks and the connection's story.
    fn summary(&self, stats: &Stats) -> String {
        let mut text = format!(
            "{}; acked {} x 200, {} x 500",
            self.handling.accounting(
                stats.events_received,
                &[
                    (stats.unhandled, "filtered out by --events (acked 200)"),
                    (stats.duplicates, "duplicates suppressed"),
                    (stats.rejected_total(), "invalid frames rejected"),
                ],
                "acked",
            ),
            stats.acked_ok,
            stats.acked_error
        );
        if stats.late_outcomes > 0 {
            text.push_str(&format!(
                ", {} finished after their connection closed (not acked)",
                stats.late_outcomes
            ));
        }
        let attempts = stats.reconnects + 1;
        if stats.connects == 0 {
            text.push_str(&format!(
                "; never connected ({})",
                plural(attempts, "attempt")
            ));
        } else if stats.reconnects > 0 {
            text.push_str(&format!(
                "; {}, {}",
                plural(stats.connects, "connection"),
                plural(stats.reconnects, "reconnect attempt")
            ));
        }
        if stats.goaways > 0 {
            text.push_str(&format!(", {}", plural(stats.goaways, "goaway")));
        }
        text
    }

    fn on_notice(&self, notice: &Notice) {
        let status = &self.handling.status;
        match notice {
            Notice::Connected { reconnect: false } => {
                status.info(&format!("connected to {}", self.endpoint));
            }
            Notice::Stopped(reason) if reason.is_requested() => status.info("stopped"),
            // The reason is printed once, as the error the program exits with.
            Notice::Stopped(_) => {}
            // Our own stop closes the connection: nothing to warn about.
            Notice::Disconnected(_) if self.handling.stopper.is_requested() => {}
            Notice::Disconnected(DisconnectCause::GoAway(_)) => {
                status.info(&notice.to_string());
            }
            Notice::Disconnected(cause)
                if cause_hint(cause).is_some() && !self.hinted.swap(true, Ordering::SeqCst) =>
            {
                let hint = cause_hint(cause).unwrap_or_default();
                status.warn(&format!("{notice}\n  ({hint})"));
            }
            Notice::Disconnected(_)
            | Notice::Rejected(_)
            | Notice::SlowDelivery { .. }
            | Notice::LateOutcome { .. }
            | Notice::DedupFull { .. } => {
                status.warn(&flag_hints::as_flags(&notice.to_string()));
            }
            // Each event's answer (`ack 500: ...`) is printed with the event already.
            Notice::HandlerFailed { .. } => {}
            _ => status.info(&notice.to_string()),
        }
    }
}

impl App for Listener {
    fn handle(self: Arc<Self>, event: Event) -> HandlerFuture {
        // The synchronous part here, where the runtime calls the handler (in delivery order).
        let taken = self.handling.take(&event);
        Box::pin(async move { self.handling.complete(event, taken).await })
    }

    fn notice(&self, notice: &Notice) {
        self.probes.observe(notice);
        self.on_notice(notice);
    }

    fn built(&self) {
        self.handling.status.info(&self.connecting);
    }
}
