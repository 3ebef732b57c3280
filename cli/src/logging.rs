//! `tracing` output on stderr: warnings from the libraries always, debug logs with `--verbose`.
//!
//! The runtimes log every lifecycle notice too; openevent prints those itself (in its own
//! words, through `on_notice`), so the notice logs are filtered out here to avoid saying
//! everything twice.
//!
//! The level filter is global (a layer of its own, not a per-layer filter of the output), so
//! what it leaves out is never built: without `--verbose` the SDK's INFO spans
//! (`open_event{app_id}`, `connection{attempt}`, one `event{code, nonce}` per event, which
//! this output never prints at WARN) are disabled at their call sites instead of being created,
//! entered and closed for every event. `--verbose` turns them on with the DEBUG logs.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The module whose logs repeat the notices.
const NOTICE_MODULE: &str = "open_event_transport::notice";

/// Installs the subscriber. `ansi` follows the stderr palette.
pub(crate) fn init(verbose: bool, ansi: bool) {
    let targets = if verbose {
        Targets::new()
            .with_default(LevelFilter::WARN)
            .with_target("open_event", LevelFilter::DEBUG)
            .with_target("open_event_core", LevelFilter::DEBUG)
            .with_target("open_event_transport", LevelFilter::DEBUG)
            .with_target("open_event_tokio", LevelFilter::DEBUG)
            .with_target("open_event_async_std", LevelFilter::DEBUG)
            .with_target("open_event_blocking", LevelFilter::DEBUG)
            .with_target("open_event_emulator", LevelFilter::DEBUG)
            .with_target("openevent", LevelFilter::DEBUG)
    } else {
        // The TLS warning of --insecure is printed by openevent itself, in plainer words.
        Targets::new()
            .with_default(LevelFilter::WARN)
            .with_target("open_event_transport::tls", LevelFilter::ERROR)
    };
    // The hint is the most verbose level `targets` lets through: without it the per-layer
    // filter would make every level pass the call sites' static check.
    let most_verbose = if verbose {
        LevelFilter::DEBUG
    } else {
        LevelFilter::WARN
    };
    let not_notices = filter_fn(|meta| meta.module_path() != Some(NOTICE_MODULE))
        .with_max_level_hint(most_verbose);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(verbose)
        .with_filter(not_notices);
    // Only fails when a subscriber is already set, which this program never does twice.
    let _ = tracing_subscriber::registry()
        .with(targets)
        .with(layer)
        .try_init();
}
