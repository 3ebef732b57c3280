//! `openevent webhook`: serve the webhook endpoint and print (or run a command for) every
//! event, with the same output and handler options as `listen`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use open_event_core::codec::RejectKind;
use open_event_webhook::{BuildError, Handler, Webhook, WebhookStats};

use crate::args::CredentialArgs;
use crate::credentials::{self, Prompt};
use crate::failure::Failure;
use crate::handling::{self, EventHandling, HandlingArgs};
use crate::listen::Status;
use crate::metrics_server::{MetricsArgs, MetricsServer};
use crate::probes::WebhookProbes;
use crate::stopper::{Stopper, install_signals};
use crate::style::{Palette, Stream, plural};
use crate::{address, count, duration};

/// `openevent webhook`.
#[derive(Debug, Args)]
pub(crate) struct WebhookArgs {
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,

    /// Address to listen on, HOST:PORT with an IP address or a host name such as localhost
    /// (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", value_parser = address::resolve, default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,

    /// The path the platform posts to; other paths get 404.
    #[arg(long, value_name = "PATH", default_value = "/events")]
    pub(crate) path: String,

    #[command(flatten)]
    pub(crate) handling: HandlingArgs,

    /// Bodies larger than this are answered 413 (default: 1 MiB).
    #[arg(long, value_name = "BYTES", value_parser = count::at_least(0usize), allow_negative_numbers = true, help_heading = "Limits")]
    pub(crate) max_body: Option<usize>,

    /// Handlers running at once; past it requests are answered 503 (default: 64).
    #[arg(long, value_name = "N", value_parser = count::at_least(0usize), allow_negative_numbers = true, help_heading = "Limits")]
    pub(crate) max_in_flight: Option<usize>,

    /// Close connections whose request headers take longer than this (default: 10s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Limits")]
    pub(crate) header_timeout: Option<Duration>,

    /// How long a graceful stop waits for running handlers (default: 5s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Limits")]
    pub(crate) drain_timeout: Option<Duration>,

    /// Handle a redelivered event again when its first handling failed (default: answered
    /// with its first 500 without running the handler again).
    #[arg(long)]
    pub(crate) dedup_retry_errors: bool,

    /// `--metrics`: healthy and ready while listening and not stopping.
    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,
}

pub(crate) const WEBHOOK_HELP: &str = "\
Serves the webhook endpoint on --listen at --path: answers the platform's challenge, verifies
and decrypts each POSTed event, prints it (readable, or NDJSON with --json) or hands it to
--exec, and answers 200, or 500 when the command fails (the platform delivers it again).
Bad signatures are answered 401, undecryptable bodies 400, neither reaches the handler.
Credentials, and the output and handler options (--events with its typo check and --strict,
--json, --exec, --quiet, --output, --max-events), work as for `listen`; the summary at the
end accounts for every event received.

Examples:
  openevent webhook --listen 0.0.0.0:8080 --path /events
  openevent webhook --json --events 'kso.app_chat.*' | jq .data
  openevent webhook --exec './handle-event.sh' --quiet --max-events 10
  openevent emulate --webhook http://127.0.0.1:8080/events   # push test events to it

Exit codes:
  0  clean stop (Ctrl+C or SIGTERM after a graceful drain, --max-events reached, stdout closed)
  1  credentials missing
  3  any other error (address in use, invalid arguments or settings, I/O errors)";

pub(crate) fn run(args: &WebhookArgs, no_color: bool) -> Result<(), Failure> {
    let status = Status::new(Palette::detect(Stream::Stderr, no_color));
    let filter = handling::check_filter(&args.handling, &status)?;
    let credentials = credentials::resolve(&args.credentials, Prompt::IfTerminal)?;
    let stopper = Stopper::new();
    let handling = Arc::new(EventHandling::new(
        &args.handling,
        filter,
        status.clone(),
        Arc::clone(&stopper),
        no_color,
    )?);
    {
        let status = status.clone();
        install_signals(Arc::clone(&stopper), move |text| status.info(text))?;
    }
    let app = Arc::clone(&handling);
    let dispatcher = handling.filter.dispatcher(Handler::new(move |event| {
        let app = Arc::clone(&app);
        async move { app.handle_event(event).await }
    }));
    let mut builder = Webhook::builder(credentials.app_id(), credentials.app_secret().clone())
        .dispatcher(dispatcher)
        .path(args.path.clone())
        .dedup_retry_errors(args.dedup_retry_errors);
    if let Some(bytes) = args.max_body {
        builder = builder.max_body(bytes);
    }
    if let Some(n) = args.max_in_flight {
        builder = builder.max_in_flight(n);
    }
    if let Some(timeout) = args.header_timeout {
        builder = builder.header_timeout(timeout);
    }
    if let Some(timeout) = args.drain_timeout {
        builder = builder.drain_timeout(timeout);
    }
    let webhook = builder.build().map_err(|err| match &err {
        BuildError::Config(config) => Failure::config(config),
        _ => Failure::other(err.to_string()),
    })?;
    let handle = webhook.handle();
    let stats = handle.clone();
    let probes = WebhookProbes::new(Arc::clone(&stopper), move || stats.stats());
    let metrics_server = match args.metrics.metrics {
        Some(addr) => Some(MetricsServer::start(addr, Arc::clone(&probes) as _)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("openevent-webhook")
        .enable_all()
        .build()
        .map_err(|err| Failure::other(format!("cannot start the tokio runtime: {err}")))?;
    let served = runtime.block_on(async {
        let server = webhook.bind(args.listen).await.map_err(|err| {
            Failure::other(format!(
                "cannot listen on {} ({err}); pick another --listen address",
                args.listen
            ))
        })?;
        let addr = server
            .local_addr()
            .map_err(|err| Failure::other(err.to_string()))?;
        // Bound: connections queue from here on.
        probes.set_listening(true);
        status.info(&format!(
            "webhook listening on http://{addr}{} for {}{}",
            args.path,
            credentials.app_id(),
            if handling.filter.is_active() {
                format!(", events {}", args.handling.events.join(","))
            } else {
                String::new()
            }
        ));
        if let Some(metrics) = &metrics_server {
            status.info(&metrics.describe());
        }
        let stop = handle.clone();
        stopper.arm(move || stop.stop());
        let served = server
            .run()
            .await
            .map_err(|err| Failure::other(err.to_string()));
        probes.set_listening(false);
        served
    });
    drop(metrics_server);
    stopper.disarm();
    let ended = handling.finish();
    status.info(&summary(&handle.stats(), &handling));
    served?;
    ended
}

/// Where every received event went, then the answers and what else the endpoint saw.
fn summary(stats: &WebhookStats, handling: &EventHandling) -> String {
    let mut text = format!(
        "{}; answered {} x 200, {} x 500; {}",
        handling.accounting(
            stats.events_received,
            &[
                (stats.unhandled, "filtered out by --events (answered 200)"),
                (stats.duplicates, "duplicates answered from memory"),
                (stats.rejected_total(), "invalid bodies rejected"),
                (
                    stats.busy,
                    "refused busy (503: the platform redelivers them)",
                ),
                (
                    stats.shutting_down,
                    "refused while stopping (503: the platform redelivers them)",
                ),
            ],
            "answered",
        ),
        stats.answered_ok,
        stats.answered_error,
        plural(stats.requests, "request"),
    );
    if stats.challenges > 0 {
        text.push_str(&format!(
            ", {} echoed",
            plural(stats.challenges, "challenge")
        ));
    }
    for (n, what) in [
        (stats.slow_deliveries, "past the 3 s budget"),
        (stats.body_too_large, "too large (413)"),
        (
            stats.method_not_allowed
                + stats.unsupported_media_type
                + stats.not_utf8
                + stats.body_unread,
            "bad requests",
        ),
    ] {
        if n > 0 {
            text.push_str(&format!(", {n} {what}"));
        }
    }
    for kind in RejectKind::ALL {
        let n = stats.rejected(kind);
        if n > 0 {
            text.push_str(&format!(", {n} rejected ({kind})"));
        }
    }
    text
}
