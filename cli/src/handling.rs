//! What `listen` and `webhook` do with each event, whichever way it arrived: filter it (with
//! the typo check of `--strict`), print it (readable, NDJSON, or not at all with `--quiet`),
//! append it to `--output`, hand it to `--exec`, stop after `--max-events`, stop when stdout
//! closes, and account for every received event at the end. One implementation for both modes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::Args;
use open_event_core::Event;

use crate::count;
use crate::duration::{self, human};
use crate::exec::Exec;
use crate::failure::Failure;
use crate::filter::EventFilter;
use crate::listen::Status;
use crate::record::{EventRecord, readable};
use crate::sink::{Output, Sink, SinkError, Written};
use crate::stopper::Stopper;
use crate::style::{Palette, Stream, plural};

/// `Duration::from_millis`, for the ranges below.
const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The output and handler options of `listen` and `webhook` (flattened into both).
#[derive(Debug, Clone, Args)]
pub(crate) struct HandlingArgs {
    /// Only these event codes; `*` matches any run of characters (repeatable or
    /// comma-separated, e.g. 'kso.app_chat.*'). Other events are acked 200 as unhandled.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    pub(crate) events: Vec<String>,

    /// Make a suspicious --events pattern an error (exit 3) instead of a warning: one that
    /// matches no event code openevent knows and looks like a typo of one (e.g. `kso.app_chat`
    /// for `kso.app_chat.*`).
    #[arg(long)]
    pub(crate) strict: bool,

    /// Print one JSON object per event on stdout (NDJSON); status lines stay on stderr.
    #[arg(long)]
    pub(crate) json: bool,

    /// Run CMD through `sh -c` for each event, with its JSON on stdin; exit 0 acks 200,
    /// anything else acks 500 with the command's stderr.
    #[arg(long, value_name = "CMD")]
    pub(crate) exec: Option<String>,

    /// Kill an --exec command after this long and ack its event with 500 (1ms ..= 1h).
    #[arg(long, value_name = "DURATION", value_parser = duration::between(ms(1), ms(3_600_000)), allow_hyphen_values = true, default_value = "30s")]
    pub(crate) exec_timeout: Duration,

    /// Do not print the events themselves: with --exec only the command's output (and the ack
    /// lines on stderr) remain; --output still records every event.
    #[arg(short, long)]
    pub(crate) quiet: bool,

    /// Also append every event as one JSON line to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,

    /// Stop gracefully (exit 0) after N events were handled.
    #[arg(long, value_name = "N", value_parser = count::at_least(1u64), allow_negative_numbers = true)]
    pub(crate) max_events: Option<u64>,
}

/// The event handling of one run, shared by the runtime's handler tasks.
pub(crate) struct EventHandling {
    pub(crate) filter: EventFilter,
    /// `--quiet`: events are not printed on stdout.
    quiet: bool,
    json: bool,
    record_file: bool,
    stdout_palette: Palette,
    pub(crate) status: Status,
    sink: Sink,
    exec: Option<Exec>,
    max_events: Option<u64>,
    pub(crate) stopper: Arc<Stopper>,
    /// Events taken for handling (they passed the filter).
    taken: AtomicU64,
    stdout_closed: AtomicBool,
    /// An error that must end the run with a non-zero exit code.
    fatal: Mutex<Option<Failure>>,
}

/// An event as [`EventHandling::take`] left it for [`EventHandling::complete`].
pub(crate) enum Taken {
    /// Over `--max-events`: answered 500 with this text.
    Refused(String),
    /// Its output is queued; it is the `n`th event taken; `line` is its JSON line (empty when
    /// nothing needs it: readable output without `--output` or `--exec`).
    Queued {
        n: u64,
        line: String,
        written: Written,
    },
}

/// Checks the `--events` patterns: one that looks like a typo is a warning on `status`, or
/// with `--strict` the error. The first step of a run, before credentials and `--output`.
pub(crate) fn check_filter(args: &HandlingArgs, status: &Status) -> Result<EventFilter, Failure> {
    let filter = EventFilter::new(&args.events)?;
    for warning in filter.suspects(args.strict)? {
        status.warn(&warning);
    }
    Ok(filter)
}

impl EventHandling {
    /// Opens `--output`, prepares `--exec`; `filter` comes from [`check_filter`].
    pub(crate) fn new(
        args: &HandlingArgs,
        filter: EventFilter,
        status: Status,
        stopper: Arc<Stopper>,
        no_color: bool,
    ) -> Result<Self, Failure> {
        let sink = Sink::start(args.output.as_deref()).map_err(|(path, err)| {
            Failure::other(format!(
                "cannot open {} for appending ({err}); check the path and its permissions",
                path.display()
            ))
        })?;
        let exec = args
            .exec
            .as_deref()
            .map(|command| Exec::new(command, args.exec_timeout));
        if let Some(exec) = &exec {
            // A forced quit (the second Ctrl+C) must not leave commands running.
            let exec = exec.clone();
            stopper.on_force(move || exec.kill_now());
        }
        Ok(Self {
            filter,
            quiet: args.quiet,
            json: args.json,
            record_file: args.output.is_some(),
            stdout_palette: Palette::detect(Stream::Stdout, no_color),
            status,
            sink,
            exec,
            max_events: args.max_events,
            stopper,
            taken: AtomicU64::new(0),
            stdout_closed: AtomicBool::new(false),
            fatal: Mutex::new(None),
        })
    }

    /// Whether `--exec` is set.
    pub(crate) fn has_exec(&self) -> bool {
        self.exec.is_some()
    }

    /// Where every one of `received` events went, for the end-of-run summary: handled and
    /// refused after `--max-events` (counted here), then `others` (what the connection or the
    /// endpoint counted: filtered, duplicates, rejected, ...), then the rest, which did not
    /// finish before the stop. `answer` is how the platform hears an outcome: "acked" over the
    /// long connection, "answered" over HTTP.
    pub(crate) fn accounting(&self, received: u64, others: &[(u64, &str)], answer: &str) -> String {
        let taken = self.taken.load(Ordering::SeqCst);
        let handled = taken.min(self.max_events.unwrap_or(u64::MAX));
        let refused = taken - handled;
        let accounted = others
            .iter()
            .fold(taken, |sum, (n, _)| sum.saturating_add(*n));
        let unfinished = received.saturating_sub(accounted);
        let mut parts = vec![format!("{handled} handled")];
        if refused > 0 {
            parts.push(format!(
                "{refused} refused after --max-events ({answer} 500: the platform redelivers them)"
            ));
        }
        parts.extend(
            others
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}")),
        );
        if unfinished > 0 {
            parts.push(format!(
                "{unfinished} not finished before the stop (not {answer}: the platform redelivers \
                 them)"
            ));
        }
        format!(
            "{} received: {}",
            plural(received, "event"),
            parts.join(", ")
        )
    }

    /// Ends the run: kills `--exec` commands still running, returns the error the run must
    /// exit with, if any.
    pub(crate) fn finish(&self) -> Result<(), Failure> {
        if let Some(exec) = &self.exec {
            // Commands still running after the drain get killed, not orphaned.
            exec.cancel_all(Duration::from_secs(2));
        }
        match self
            .fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Handles one event: `Ok` answers 200, `Err(text)` 500 with `text`. [`take`](Self::take)
    /// then [`complete`](Self::complete).
    pub(crate) async fn handle_event(&self, event: Event) -> Result<(), String> {
        let taken = self.take(&event);
        self.complete(event, taken).await
    }

    /// The synchronous part of handling an event: counts it and queues its output. Called
    /// where the runtime calls the handler (on the client's loop, in delivery order, on tokio,
    /// async-std and smol), it keeps the output in arrival order whatever the number of
    /// events in flight. `event` comes from the core (a connection or the webhook endpoint),
    /// whose data is JSON or empty ([`EventRecord::delivered`]).
    pub(crate) fn take(&self, event: &Event) -> Taken {
        let n = self.taken.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(max) = self.max_events
            && n > max
        {
            return Taken::Refused(format!(
                "openevent is stopping (--max-events {max} reached); deliver it again later"
            ));
        }
        // The JSON line is built only when something prints or runs it.
        let wants_line = (self.json && !self.quiet) || self.record_file || self.exec.is_some();
        let line = if wants_line {
            EventRecord::delivered(event).to_line()
        } else {
            String::new()
        };
        let pretty;
        let stdout: &[u8] = if self.quiet {
            b""
        } else if self.json {
            line.as_bytes()
        } else {
            pretty = readable(event, self.stdout_palette, "  ");
            pretty.as_bytes()
        };
        let written = self.sink.submit(Output {
            stdout,
            file: if self.record_file {
                line.as_bytes()
            } else {
                b""
            },
            ..Output::default()
        });
        Taken::Queued { n, line, written }
    }

    /// The rest of handling an event [`take`](Self::take) queued: waits for its write (an
    /// event is acked only once it was written), runs `--exec`; the verdict is the ack.
    pub(crate) async fn complete(&self, event: Event, taken: Taken) -> Result<(), String> {
        let (n, line, written) = match taken {
            Taken::Refused(text) => return Err(text),
            Taken::Queued { n, line, written } => (n, line, written),
        };
        if let Err(err) = self.sink.done(written).await {
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
        let mut stderr = Vec::new();
        let mut output = Output::default();
        if self.json {
            stderr.extend_from_slice(&result.stdout);
        } else {
            output.stdout = &result.stdout;
        }
        stderr.extend_from_slice(note.as_bytes());
        output.stderr = &stderr;
        if let Err(err) = self.sink.write(output).await {
            // The event itself was handled; only the copy of the command's output was lost.
            let _ = self.output_failed(err);
        }
        verdict
    }

    /// Handles a failed write; returns the answer's message for the event that hit it.
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
}
