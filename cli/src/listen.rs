//! `openevent listen`: connect, print or hand every event to a command, ack it.

use std::io::Write;
use std::sync::Arc;

use open_event_core::Event;
use open_event_core::config::{Config, DEFAULT_ENDPOINT};
use open_event_core::connection::{DisconnectCause, Notice};
use open_event_core::stats::Stats;

use crate::args::ListenArgs;
use crate::credentials::{self, Prompt};
use crate::failure::Failure;
use crate::handling::{EventHandling, HandlingArgs};
use crate::runtime::{self, App, ClientSpec, HandlerFuture};
use crate::stopper::{Stopper, install_signals};
use crate::style::{Palette, Stream};

pub(crate) fn run(args: &ListenArgs, no_color: bool) -> Result<(), Failure> {
    let status = Status::new(Palette::detect(Stream::Stderr, no_color));
    let handling_args = HandlingArgs {
        events: args.events.clone(),
        json: args.json,
        exec: args.exec.clone(),
        exec_timeout: args.exec_timeout,
        output: args.output.clone(),
        max_events: args.max_events,
    };
    let stopper = Stopper::new();
    let handling = EventHandling::new(
        &handling_args,
        status.clone(),
        Arc::clone(&stopper),
        no_color,
    )?;
    let credentials = credentials::resolve(&args.credentials, Prompt::IfTerminal)?;
    {
        let status = status.clone();
        install_signals(Arc::clone(&stopper), move |text| status.info(text))?;
    }
    if args.connection.insecure {
        status.warn(
            "--insecure: TLS certificates are NOT verified; anyone on the network path can read \
             and forge events. Use it only against a local test server; prefer --ca-file.",
        );
    }
    let listener = Arc::new(Listener {
        handling,
        endpoint: endpoint_text(args),
    });
    status.info(&format!(
        "connecting to {} as {} ({} runtime){}",
        listener.endpoint,
        credentials.app_id(),
        args.runtime.name(),
        if listener.handling.filter.is_active() {
            format!(", events {}", args.events.join(","))
        } else {
            String::new()
        }
    ));
    let mut connection = args.connection.clone();
    if !listener.handling.has_exec() && connection.max_in_flight.is_none() {
        // Printing is all there is to do: one at a time keeps the output in arrival order.
        connection.max_in_flight = Some(1);
    }
    let spec = ClientSpec {
        credentials,
        connection,
        filter: listener.handling.filter.clone(),
    };
    let app: Arc<dyn App> = Arc::clone(&listener) as Arc<dyn App>;
    let finished = runtime::run(args.runtime, &spec, app, &stopper)?;
    let ended = listener.handling.finish();
    status.info(&listener.summary(&finished.stats));
    ended?;
    match finished.result {
        Ok(()) => Ok(()),
        Err(reason) => Err(Failure::stopped(&reason)),
    }
}

/// The endpoint as it will be dialled, for status lines.
fn endpoint_text(args: &ListenArgs) -> String {
    let c = &args.connection;
    let mut builder = Config::builder("status", "status");
    if let Some(url) = &c.endpoint {
        builder = builder.endpoint(url.clone());
    } else if let Some(url) = &c.base_url {
        builder = builder.base_url(url.clone());
    }
    builder.build().map_or_else(
        |_| {
            c.endpoint
                .clone()
                .or_else(|| c.base_url.clone())
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

/// The application of `listen`, shared by every runtime.
struct Listener {
    handling: EventHandling,
    endpoint: String,
}

impl Listener {
    fn summary(&self, stats: &Stats) -> String {
        let mut text = format!(
            "{} events received, {} handled",
            stats.events_received,
            self.handling.handled()
        );
        if stats.unhandled > 0 {
            text.push_str(&format!(", {} filtered out", stats.unhandled));
        }
        text.push_str(&format!(
            "; acked {} x 200, {} x 500",
            stats.acked_ok, stats.acked_error
        ));
        for (n, what) in [
            (stats.duplicates, "duplicates suppressed"),
            (stats.rejected_total(), "frames rejected"),
            (stats.late_outcomes, "late outcomes"),
            (stats.reconnects, "reconnects"),
            (stats.goaways, "goaways"),
        ] {
            if n > 0 {
                text.push_str(&format!(", {n} {what}"));
            }
        }
        text
    }

    fn on_notice(&self, notice: &Notice) {
        match notice {
            Notice::Connected { reconnect: false } => {
                self.handling
                    .status
                    .info(&format!("connected to {}", self.endpoint));
            }
            Notice::Stopped(reason) if reason.is_requested() => {
                self.handling.status.info("stopped")
            }
            // The reason is printed once, as the error the program exits with.
            Notice::Stopped(_) => {}
            // Our own stop closes the connection: nothing to warn about.
            Notice::Disconnected(_) if self.handling.stopper.is_requested() => {}
            Notice::Disconnected(DisconnectCause::GoAway(_)) => {
                self.handling.status.info(&notice.to_string());
            }
            Notice::Disconnected(_)
            | Notice::Rejected(_)
            | Notice::SlowDelivery { .. }
            | Notice::LateOutcome { .. } => self.handling.status.warn(&notice.to_string()),
            _ => self.handling.status.info(&notice.to_string()),
        }
    }
}

impl App for Listener {
    fn handle(self: Arc<Self>, event: Event) -> HandlerFuture {
        Box::pin(async move { self.handling.handle_event(event).await })
    }

    fn notice(&self, notice: &Notice) {
        self.on_notice(notice);
    }
}
