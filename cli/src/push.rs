//! `openevent emulate --webhook URL`: play the platform's webhook side against an app: post
//! the challenge, then signed events, retrying what is not answered 200, and print what the
//! app answered each time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use open_event_core::Credentials;
use open_event_emulator::server::{EventSpec, ServerConfig};
use open_event_emulator::webhook::{Answer, Delivered, PushOptions, WebhookPusher};

use crate::args::EmulateArgs;
use crate::duration::human;
use crate::emulate;
use crate::failure::{Exit, Failure};
use crate::narrator::{Actor, Narrator, Tone};
use crate::samples;
use crate::stopper::{Stopper, install_signals};
use crate::style::{Palette, Stream};

pub(crate) fn run(args: &EmulateArgs, url: &str, no_color: bool) -> Result<(), Failure> {
    let file_events = match &args.file {
        Some(path) => Some(emulate::load_events(path)?),
        None => None,
    };
    let stopper = Stopper::new();
    let palette = Palette::detect(Stream::Stdout, no_color);
    let narrator = Arc::new(Narrator::new(palette, Arc::clone(&stopper), false));
    {
        let narrator = Arc::clone(&narrator);
        install_signals(Arc::clone(&stopper), move |text| {
            narrator.line(Actor::Tool, Tone::Notable, "signal", text);
        })?;
    }
    let (credentials, generated) = match (&args.app_id, &args.app_secret) {
        (Some(id), Some(secret)) => (Credentials::new(id.as_str(), secret.as_str()), false),
        _ => (ServerConfig::generated(emulate::seed()).credentials, true),
    };
    let mut pusher = WebhookPusher::new(url, credentials.clone(), PushOptions::default())
        .map_err(|err| Failure::other(err.to_string()))?;
    narrator.raw(&format!(
        "{} posting to {}\n  app id:      {}\n  app secret:  {}\n  \
         run the app with: OPEN_EVENT_APP_ID={} OPEN_EVENT_APP_SECRET=... openevent webhook\n",
        palette.bold("openevent emulate --webhook:"),
        palette.bold(url),
        credentials.app_id(),
        if generated {
            credentials.app_secret().expose()
        } else {
            "(as given with --app-secret)"
        },
        credentials.app_id(),
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::other(format!("cannot start the runtime: {err}")))?;
    runtime.block_on(async {
        let took = pusher.challenge().await.map_err(|err| {
            narrator.line(Actor::Server, Tone::Bad, "challenge", &err.to_string());
            Failure::new(Exit::Connection, err.to_string())
        })?;
        narrator.line(
            Actor::Server,
            Tone::Good,
            "challenge",
            &format!("echoed in {}", human(took)),
        );
        let started = Instant::now();
        let rate = args.rate.unwrap_or(1);
        let mut sent = 0u64;
        let (mut delivered, mut failed) = (0u64, 0u64);
        loop {
            if stopper.is_requested() || args.duration.is_some_and(|d| started.elapsed() >= d) {
                break;
            }
            let spec = match &file_events {
                Some(events) => match events.get(usize::try_from(sent).unwrap_or(usize::MAX)) {
                    Some(spec) => spec.clone(),
                    None => break,
                },
                None if rate == 0 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                None => samples::rotation(sent),
            };
            sent += 1;
            let report = pusher
                .push(spec)
                .await
                .map_err(|err| Failure::other(err.to_string()))?;
            if report.is_delivered() {
                delivered += 1;
            } else {
                failed += 1;
            }
            print_report(&narrator, &report);
            if rate > 0 {
                tokio::time::sleep(Duration::from_secs(1) / rate).await;
            }
        }
        narrator.line(
            Actor::Tool,
            Tone::Info,
            "summary",
            &format!("{sent} events posted: {delivered} answered 200, {failed} given up"),
        );
        Ok(())
    })
}

/// One line per attempt: what the app answered.
pub(crate) fn print_report(narrator: &Narrator, report: &Delivered) {
    for (n, answer) in report.attempts.iter().enumerate() {
        let tone = match answer {
            a if a.is_ok() => Tone::Good,
            Answer::Status { .. } => Tone::Notable,
            _ => Tone::Bad,
        };
        let retry = if n == 0 {
            String::new()
        } else {
            format!(" (retry {n})")
        };
        narrator.line(
            Actor::Server,
            tone,
            "post",
            &format!("{} {}{retry} -> {answer}", report.event_code, report.nonce),
        );
    }
}

/// The sample events of the webhook tour, in order.
pub(crate) fn tour() -> Vec<EventSpec> {
    vec![
        samples::chat_created(),
        samples::text_message("msg_w1", "hello over HTTP"),
        samples::group_mention(),
        samples::unknown_event(),
    ]
}
