//! `openevent listen`: connect, print or hand every event to a command, ack it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use open_event_core::Event;
use open_event_core::config::{Config, DEFAULT_ENDPOINT};
use open_event_core::connection::{DisconnectCause, Notice};
use open_event_core::stats::Stats;

use crate::args::{ConnectionArgs, ListenArgs, RuntimeKind};
use crate::credentials::{self, Prompt};
use crate::duration::human;
use crate::environment;
use crate::exec::Exec;
use crate::failure::{Failure, cause_hint};
use crate::filter::EventFilter;
use crate::flag_hints;
use crate::record::{EventRecord, readable};
use crate::runtime::{self, App, ClientSpec, HandlerFuture};
use crate::sink::{Output, Sink, SinkError, Written};
use crate::stopper::{Stopper, install_signals};
use crate::style::{Palette, Stream, plural};

pub(crate) fn run(args: &ListenArgs, no_color: bool) -> Result<(), Failure> {
    let status = Status::new(Palette::detect(Stream::Stderr, no_color));
    let filter = EventFilter::new(&args.events)?;
    for warning in filter.suspects(args.strict)? {
        status.warn(&warning);
    }
    let mut connection = args.connection.clone();
    environment::apply(&mut connection)?;
    let credentials = credentials::resolve(&args.credentials, Prompt::IfTerminal)?;
    let sink = Sink::start(args.output.as_deref()).map_err(|(path, err)| {
        Failure::other(format!(
            "cannot open {} for appending ({err}); check the path and its permissions",
            path.display()
        ))
    })?;
    let stopper = Stopper::new();
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
    let exec = args
        .exec
        .as_deref()
        .map(|command| Exec::new(command, args.exec_timeout));
    if let Some(exec) = &exec {
        // A forced quit (the second Ctrl+C) must not leave commands running.
        let exec = exec.clone();
        stopper.on_force(move || exec.kill_now());
    }
    let endpoint = endpoint_text(&connection);
    let connecting = format!(
        "connecting to {endpoint} as {} ({} runtime){}",
        credentials.app_id(),
        args.runtime.name(),
        if filter.is_active() {
            format!(", events {}", args.events.join(","))
        } else {
            String::new()
        }
    );
    let listener = Arc::new(Listener {
        filter,
        quiet: args.quiet,
        connecting,
        json: args.json,
        record_file: args.output.is_some(),
        stdout_palette: Palette::detect(Stream::Stdout, no_color),
        status: status.clone(),
        sink,
        exec: exec.clone(),
        max_events: args.max_events,
        endpoint,
        stopper: Arc::clone(&stopper),
        taken: AtomicU64::new(0),
        stdout_closed: AtomicBool::new(false),
        fatal: Mutex::new(None),
        hinted: AtomicBool::new(false),
    });
    if exec.is_none() && connection.max_in_flight.is_none() && !calls_in_order(args.runtime) {
        // The blocking runtime calls handlers on its worker threads: one at a time keeps the
        // output in arrival order there.
        connection.max_in_flight = Some(1);
    }
    let spec = ClientSpec {
        credentials,
        connection,
        filter: listener.filter.clone(),
    };
    let app: Arc<dyn App> = Arc::clone(&listener) as Arc<dyn App>;
    let finished = runtime::run(args.runtime, &spec, app, &stopper)?;
    if let Some(exec) = &exec {
        // Commands still running after the drain get killed, not orphaned.
        exec.cancel_all(Duration::from_secs(2));
    }
    status.info(&listener.summary(&finished.stats));
    if let Some(failure) = listener
        .fatal
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        return Err(failure);
    }
    match finished.result {
        Ok(()) => Ok(()),
        Err(reason) => Err(Failure::stopped_after(
            &reason,
            listener.hinted.load(Ordering::SeqCst),
        )),
    }
}

/// Whether `kind` calls the handler (not its future) on the client's loop in delivery order,
/// which is what lets [`Listener::take`] queue the output in arrival order with several events
/// in flight.
fn calls_in_order(kind: RuntimeKind) -> bool {
    match kind {
        RuntimeKind::Tokio | RuntimeKind::AsyncStd | RuntimeKind::Smol => true,
        RuntimeKind::Blocking => false,
    }
}

/// The endpoint as it will be dialled, for status lines.
fn endpoint_text(c: &ConnectionArgs) -> String {
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
    palette: Palette,
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
    filter: EventFilter,
    /// `--quiet`: events are not printed on stdout.
    quiet: bool,
    /// The status line printed once the client is built.
    connecting: String,
    json: bool,
    record_file: bool,
    stdout_palette: Palette,
    status: Status,
    sink: Sink,
    exec: Option<Exec>,
    max_events: Option<u64>,
    endpoint: String,
    stopper: Arc<Stopper>,
    /// Events taken for handling (they passed the filter).
    taken: AtomicU64,
    stdout_closed: AtomicBool,
    /// An error that must end the run with a non-zero exit code.
    fatal: Mutex<Option<Failure>>,
    /// The hint for a failed connect (e.g. HTTP 404: the path) was printed.
    hinted: AtomicBool,
}

/// An event taken by [`Listener::take`]: refused, or its write queued.
enum Taken {
    /// Over `--max-events`: acked 500 with this text.
    Refused(String),
    /// Its output is queued; `n` counts the events taken.
    Queued {
        n: u64,
        line: String,
        written: Written,
    },
}

impl Listener {
    /// The part of handling that runs where the runtime calls the handler: counts the event
    /// and queues its output. tokio, async-std and smol call it on the client's loop in
    /// delivery order, so the output keeps arrival order whatever `max_in_flight` is.
    fn take(&self, event: &Event) -> Taken {
        let n = self.taken.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(max) = self.max_events
            && n > max
        {
            return Taken::Refused(format!(
                "openevent is stopping (--max-events {max} reached); deliver it again later"
            ));
        }
        let line = EventRecord::new(event).to_line();
        let mut output = Output {
            stdout: if self.quiet {
                Vec::new()
            } else if self.json {
                line.clone().into_bytes()
            } else {
                readable(event, self.stdout_palette, "  ").into_bytes()
            },
            ..Output::default()
        };
        if self.record_file {
            output.file = line.clone().into_bytes();
        }
        let written = self.sink.submit(output);
        Taken::Queued { n, line, written }
    }

    /// The rest: waits for the write, runs `--exec`; the verdict is the ack.
    async fn finish(&self, event: Event, taken: Taken) -> Result<(), String> {
        let (n, line, written) = match taken {
            Taken::Refused(text) => return Err(text),
            Taken::Queued { n, line, written } => (n, line, written),
        };
        if let Err(err) = written.done().await {
            return Err(self.output_failed(err));
        }
        let verdict = match &self.exec {
            Some(exec) => self.run_exec(exec, &event, line).await,
            None => Ok(()),
        };
        tracing::debug!(
            target: "openevent",
            "{} {} handled: {}",
            event.event_code(),
            event.nonce,
            match &verdict {
                Ok(()) => "ack 200".to_owned(),
                Err(msg) => format!("ack 500 ({msg})"),
            }
        );
        if self.max_events == Some(n) {
            self.status.info(&format!(
                "handled {} (--max-events): stopping",
                plural(n, "event")
            ));
            self.stopper.stop();
        }
        verdict
    }

    async fn run_exec(&self, exec: &Exec, event: &Event, line: String) -> Result<(), String> {
        let env = vec![
            ("OPEN_EVENT_CODE", event.event_code().to_owned()),
            ("OPEN_EVENT_TOPIC", event.topic.clone()),
            ("OPEN_EVENT_OPERATION", event.operation.clone()),
            ("OPEN_EVENT_NONCE", event.nonce.clone()),
        ];
        let result = exec.run(line.into_bytes(), env).await;
        let verdict = result.verdict(exec.timeout());
        let p = self.status.palette;
        let outcome = match &verdict {
            Ok(()) => p.green("ack 200"),
            Err(msg) => p.red(&format!("ack 500: {msg}")),
        };
        let note = format!(
            "{}exec {} {} ({}) -> {}\n",
            p.dim("openevent: "),
            event.event_code(),
            event.nonce,
            human(result.elapsed),
            outcome,
        );
        let mut output = Output::default();
        if self.json {
            output.stderr = result.stdout;
        } else {
            output.stdout = result.stdout;
        }
        output.stderr.extend_from_slice(note.as_bytes());
        if let Err(err) = self.sink.write(output).await {
            // The event itself was handled; only the copy of the command's output was lost.
            let _ = self.output_failed(err);
        }
        verdict
    }

    /// Handles a failed write; returns the ack message for the event that hit it.
    fn output_failed(&self, err: SinkError) -> String {
        match err {
            SinkError::StdoutClosed => {
                if !self.stdout_closed.swap(true, Ordering::SeqCst) {
                    self.status.info("stdout was closed: stopping");
                    self.stopper.stop();
                }
                "openevent's stdout was closed before the event was written".to_owned()
            }
            other => {
                let text = other.to_string();
                let mut fatal = self.fatal.lock().unwrap_or_else(PoisonError::into_inner);
                if fatal.is_none() {
                    self.status.error(&format!("{text}: stopping"));
                    *fatal = Some(Failure::other(text.clone()));
                    self.stopper.stop();
                }
                text
            }
        }
    }

    /// Where every received event went, then the acks and the connection's story.
    fn summary(&self, stats: &Stats) -> String {
        let taken = self.taken.load(Ordering::SeqCst);
        let handled = taken.min(self.max_events.unwrap_or(u64::MAX));
        let refused = taken - handled;
        let rejected = stats.rejected_total();
        let accounted = handled + refused + stats.unhandled + stats.duplicates + rejected;
        let unfinished = stats.events_received.saturating_sub(accounted);
        let mut parts = vec![format!("{handled} handled")];
        for (n, what) in [
            (
                refused,
                "refused after --max-events (acked 500: the platform redelivers them)",
            ),
            (stats.unhandled, "filtered out by --events (acked 200)"),
            (stats.duplicates, "duplicates suppressed"),
            (rejected, "invalid frames rejected"),
            (
                unfinished,
                "not finished before the stop (not acked: the platform redelivers them)",
            ),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let mut text = format!(
            "{} received: {}; acked {} x 200, {} x 500",
            plural(stats.events_received, "event"),
            parts.join(", "),
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
        match notice {
            Notice::Connected { reconnect: false } => {
                self.status.info(&format!("connected to {}", self.endpoint));
            }
            Notice::Stopped(reason) if reason.is_requested() => self.status.info("stopped"),
            // The reason is printed once, as the error the program exits with.
            Notice::Stopped(_) => {}
            // Our own stop closes the connection: nothing to warn about.
            Notice::Disconnected(_) if self.stopper.is_requested() => {}
            Notice::Disconnected(DisconnectCause::GoAway(_)) => {
                self.status.info(&notice.to_string());
            }
            Notice::Disconnected(cause)
                if cause_hint(cause).is_some() && !self.hinted.swap(true, Ordering::SeqCst) =>
            {
                let hint = cause_hint(cause).unwrap_or_default();
                self.status.warn(&format!("{notice}\n  ({hint})"));
            }
            Notice::Disconnected(_)
            | Notice::Rejected(_)
            | Notice::SlowDelivery { .. }
            | Notice::LateOutcome { .. }
            | Notice::DedupFull { .. } => {
                self.status.warn(&flag_hints::as_flags(&notice.to_string()));
            }
            _ => self.status.info(&notice.to_string()),
        }
    }
}

impl App for Listener {
    fn handle(self: Arc<Self>, event: Event) -> HandlerFuture {
        let taken = self.take(&event);
        Box::pin(async move { self.finish(event, taken).await })
    }

    fn notice(&self, notice: &Notice) {
        self.on_notice(notice);
    }

    fn built(&self) {
        self.status.info(&self.connecting);
    }
}
