//! `openevent demo --webhook`: webhook mode end to end on loopback with made-up credentials: a
//! webhook server (the app) and the emulator posting to it (the platform), narrated.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use open_event_emulator::server::{EventSpec, ServerConfig};
use open_event_emulator::webhook::{PushOptions, WebhookPusher};
use open_event_webhook::{Event, Webhook};

use crate::emulate;
use crate::failure::Failure;
use crate::narrator::{Actor, Narrator, Tone};
use crate::push;
use crate::samples;
use crate::stopper::Stopper;
use crate::style::{Palette, Stream};

/// The event whose first run fails, to show a retry.
const FLAKY: &str = "kso.xz.app.group_chat.delete";

pub(crate) fn run(no_color: bool) -> Result<(), Failure> {
    let stopper = Stopper::new();
    let palette = Palette::detect(Stream::Stdout, no_color);
    let narrator = Arc::new(Narrator::new(palette, Arc::clone(&stopper), true));
    let credentials = ServerConfig::generated(emulate::seed()).credentials;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| Failure::other(format!("cannot start the runtime: {err}")))?;
    runtime.block_on(async {
        let app = Arc::clone(&narrator);
        let failed_once = Arc::new(AtomicBool::new(false));
        let webhook = Webhook::builder(credentials.app_id(), credentials.app_secret().clone())
            .path("/events")
            .dedup_retry_errors(true)
            .handler(move |event: Event| {
                let (app, failed_once) = (Arc::clone(&app), Arc::clone(&failed_once));
                async move {
                    if event.event_code() == FLAKY && !failed_once.swap(true, Ordering::SeqCst) {
                        app.line(
                            Actor::Client,
                            Tone::Bad,
                            "handler",
                            &format!("{} fails (database unavailable)", event.event_code()),
                        );
                        return Err(io::Error::other("database unavailable"));
                    }
                    app.line(
                        Actor::Client,
                        Tone::Event,
                        "handler",
                        &format!("{} {}", event.event_code(), event.data),
                    );
                    Ok(())
                }
            })
            .build()
            .map_err(|err| Failure::other(err.to_string()))?;
        let handle = webhook.handle();
        let server = webhook
            .bind("127.0.0.1:0")
            .await
            .map_err(|err| Failure::other(format!("cannot bind a loopback port: {err}")))?;
        let addr = server
            .local_addr()
            .map_err(|err| Failure::other(err.to_string()))?;
        let url = format!("http://{addr}/events");
        let serving = tokio::spawn(server.run());
        narrator.line(
            Actor::Client,
            Tone::Good,
            "listen",
            &format!("webhook server on {url} (app {})", credentials.app_id()),
        );
        let options = PushOptions {
            retry_base: Duration::from_millis(300),
            ..PushOptions::default()
        };
        let mut pusher = WebhookPusher::new(&url, credentials.clone(), options)
            .map_err(|err| Failure::other(err.to_string()))?;
        let took = pusher
            .challenge()
            .await
            .map_err(|err| Failure::other(err.to_string()))?;
        narrator.line(
            Actor::Server,
            Tone::Good,
            "challenge",
            &format!(
                "echoed in {:.1} ms (the platform allows 1 s)",
                took.as_secs_f64() * 1e3
            ),
        );
        for spec in push::tour() {
            let report = pusher
                .push(spec)
                .await
                .map_err(|err| Failure::other(err.to_string()))?;
            push::print_report(&narrator, &report);
        }

        narrator.line(
            Actor::Tool,
            Tone::Info,
            "next",
            "the platform redelivers an answered event",
        );
        let (body, nonce) = pusher
            .seal(&EventSpec::chat_created("chat_again"))
            .map_err(|err| Failure::other(err.to_string()))?;
        for _ in 0..2 {
            let report = pusher
                .deliver(
                    body.clone(),
                    nonce.clone(),
                    "kso.app_chat.create".to_owned(),
                )
                .await;
            push::print_report(&narrator, &report);
        }
        narrator.line(
            Actor::Client,
            Tone::Notable,
            "dedup",
            "the second copy was answered from memory: the handler ran once",
        );

        narrator.line(
            Actor::Tool,
            Tone::Info,
            "next",
            "a forged event (tampered signature)",
        );
        let (body, _) = pusher
            .seal(&EventSpec::chat_created("forged"))
            .map_err(|err| Failure::other(err.to_string()))?;
        let forged = tamper(&body);
        let answer = pusher.post(forged, Duration::from_secs(3)).await;
        narrator.line(
            Actor::Server,
            Tone::Notable,
            "post",
            &format!("forged -> {answer}"),
        );

        narrator.line(
            Actor::Tool,
            Tone::Info,
            "next",
            "a handler fails; the platform retries",
        );
        let flaky = pusher
            .push(samples::group_deleted())
            .await
            .map_err(|err| Failure::other(err.to_string()))?;
        push::print_report(&narrator, &flaky);

        handle.stop();
        let _ = serving.await;
        let stats = handle.stats();
        narrator.line(
            Actor::Tool,
            Tone::Info,
            "summary",
            &format!(
                "{} requests: {} events delivered to the handler, {} duplicates answered from \
                 memory, {} rejected, {} answered 500; stopped gracefully",
                stats.requests,
                stats.events_delivered,
                stats.duplicates,
                stats.rejected_total(),
                stats.answered_error,
            ),
        );
        Ok(())
    })
}

/// The body with one character of its signature changed.
fn tamper(body: &str) -> String {
    let mut frame: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if let Some(signature) = frame["signature"].as_str() {
        let mut chars: Vec<char> = signature.chars().collect();
        if let Some(first) = chars.first_mut() {
            *first = if *first == 'A' { 'B' } else { 'A' };
        }
        frame["signature"] = chars.into_iter().collect::<String>().into();
    }
    frame.to_string()
}
