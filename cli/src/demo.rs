//! `openevent demo`: the emulator and a client in one process, narrated.
//!
//! The emulator plays a script that walks through the protocol: every typed event and an
//! unknown one, a `server_shutdown` GoAway with `reconnect_ms`, and a connection dropped while
//! the handler of an event is still running (its outcome comes too late to be acked, the event
//! is redelivered on the next connection and acked from the client's memory without running the
//! handler again). The handler stages that drop itself, so the order never depends on timing. Pings go out every second. The client runs on the chosen runtime; its
//! handler takes 150 ms per event, as real work would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use open_event_api::{ApiConfig, BlockingClient, ReplyExt};
use open_event_core::Event;
use open_event_core::codec::GoAwayReason;
use open_event_core::config::Settings;
use open_event_core::connection::Notice;
use open_event_core::model::AppChatMessageCreate;
use open_event_emulator::api::{
    ApiEmulator, ApiEmulatorHandle, ApiEmulatorOptions, ApiServerConfig,
};
use open_event_emulator::runner::{Emulator, EmulatorHandle, EmulatorOptions};
use open_event_emulator::server::{Script, ServerConfig, Step};

use crate::args::DemoArgs;
use crate::duration::human;
use crate::failure::Failure;
use crate::filter::EventFilter;
use crate::narrator::{Actor, Narrator, Tone};
use crate::record::{data_value, describe};
use crate::runtime::{self, App, ClientSpec, HandlerFuture};
use crate::samples;
use crate::stopper::{Stopper, install_signals};
use crate::style::{Palette, Stream, plural};
use crate::watch::{self, ReportWatcher};

/// How long the demo's handler works on each event.
const WORK: Duration = Duration::from_millis(150);
/// The emulator's ping interval in the demo (the platform's is 30 s).
const PING_INTERVAL: Duration = Duration::from_millis(500);
/// The client's reconnect base and stable period in the demo (defaults: 1 s and 30 s).
const RECONNECT_BASE: Duration = Duration::from_millis(500);
const STABLE_PERIOD: Duration = Duration::from_millis(500);
/// After the tour, with `--duration`, one event this often.
const EXTRA_EVERY: Duration = Duration::from_millis(800);
/// The tour takes about 7 s; past this something is wrong.
const TOUR_LIMIT: Duration = Duration::from_secs(40);

pub(crate) fn run(args: &DemoArgs, no_color: bool) -> Result<(), Failure> {
    if args.webhook {
        return crate::webhook_demo::run(no_color);
    }
    let stopper = Stopper::new();
    let palette = Palette::detect(Stream::Stdout, no_color);
    let narrator = Arc::new(Narrator::new(palette, Arc::clone(&stopper), true));
    {
        let narrator = Arc::clone(&narrator);
        install_signals(Arc::clone(&stopper), move |text| {
            narrator.line(Actor::Tool, Tone::Notable, "signal", text);
        })?;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("openevent-emulator")
        .enable_all()
        .build()
        .map_err(|err| Failure::other(format!("cannot start the emulator's runtime: {err}")))?;
    let seed = seed();
    let server = ServerConfig::generated(seed).ping_interval(PING_INTERVAL);
    let emulator = runtime
        .block_on(Emulator::start(EmulatorOptions::new(server)))
        .map_err(|err| Failure::other(err.to_string()))?;
    let emulator = Arc::new(emulator);
    // The platform's REST API, for the handler's replies to chat messages.
    let api = runtime
        .block_on(ApiEmulator::start(ApiEmulatorOptions::new(
            ApiServerConfig::new(emulator.credentials().clone()),
        )))
        .map_err(|err| Failure::other(err.to_string()))?;
    let api = Arc::new(api);
    let api_client = BlockingClient::new(
        ApiConfig::builder(
            emulator.credentials().app_id(),
            emulator.credentials().app_secret().clone(),
        )
        .api_base(api.base_url())
        .build()
        .map_err(|err| Failure::other(err.to_string()))?,
    )
    .map_err(|err| Failure::other(err.to_string()))?;

    let p = palette;
    narrator.raw(&format!(
        "{} the WPS open platform event long connection, end to end on this machine\n  \
         {}  emulator on {}, app {}, a ping every {}; REST API on {}\n  \
         {}  {}, reconnect base {}, stable period {}, {} of work per event\n  \
         (Ctrl+C stops it gracefully)\n",
        p.bold("openevent demo:"),
        p.blue("server"),
        emulator.url(),
        emulator.credentials().app_id(),
        human(PING_INTERVAL),
        api.base_url(),
        p.magenta("client"),
        args.runtime.description(),
        human(RECONNECT_BASE),
        human(STABLE_PERIOD),
        human(WORK),
    ));

    emulator.play(script());
    let spec = ClientSpec {
        filter: EventFilter::default(),
        credentials: emulator.credentials().clone(),
        // The demo is self-contained: no OPEN_EVENT_* variable changes it.
        settings: demo_settings(emulator.url()),
    };
    let app: Arc<dyn App> = Arc::new(DemoApp {
        narrator: Arc::clone(&narrator),
        emulator: Arc::clone(&emulator),
        api: Arc::clone(&api),
        api_client,
        dropped: AtomicBool::new(false),
        disconnected: AtomicBool::new(false),
        stopper: Arc::clone(&stopper),
    });

    let done = Arc::new(AtomicBool::new(false));
    let trouble = Arc::new(Mutex::new(None::<Failure>));
    let watcher = {
        let watch = Watch {
            emulator: Arc::clone(&emulator),
            narrator: Arc::clone(&narrator),
            stopper: Arc::clone(&stopper),
            duration: args.duration,
            done: Arc::clone(&done),
            trouble: Arc::clone(&trouble),
        };
        thread::Builder::new()
            .name("openevent-demo".into())
            .spawn(move || watch.run())
            .map_err(|err| Failure::other(format!("cannot start the demo's thread: {err}")))?
    };

    let finished = runtime::run(args.runtime, &spec, app, &stopper);
    done.store(true, Ordering::SeqCst);
    let mut watcher = watcher
        .join()
        .map_err(|_| Failure::other("the demo's watcher thread panicked"))?;
    // Whatever the server saw last (the client's close frame).
    thread::sleep(Duration::from_millis(50));
    let last = emulator.with_report(|r| watcher.poll(r, Instant::now()));
    watch::tell(&narrator, last);
    let finished = finished?;

    let stats = &finished.stats;
    let mut lines = vec![format!(
        "connections: {} ({}); events: {} received, {} handled, {} duplicate \
         (not handled twice), {} rejected",
        stats.connects,
        plural(stats.reconnects, "reconnect"),
        stats.events_received,
        stats.events_delivered,
        stats.duplicates,
        stats.rejected_total()
    )];
    lines.push(format!(
        "acks: {} x 200, {} x 500, {} late (after their connection died); pings answered: {}; \
         goaways: {}",
        stats.acked_ok, stats.acked_error, stats.late_outcomes, stats.pings, stats.goaways
    ));
    let mut server = emulator.with_report(watch::summary);
    let api_report = api.report();
    server.push(format!(
        "REST API: {} access token issued, {} replies accepted, {} requests refused",
        api_report.tokens_issued,
        api_report.messages.len(),
        api_report.refusals.len()
    ));
    let mut text = format!("\n{}\n", p.bold("summary"));
    for line in &lines {
        text.push_str(&format!("  {}  {line}\n", p.magenta("client")));
    }
    for line in &server {
        text.push_str(&format!("  {}  {line}\n", p.blue("server")));
    }
    narrator.raw(&text);

    if let Ok(emulator) = Arc::try_unwrap(emulator) {
        runtime.block_on(emulator.shutdown());
    }
    if let Ok(api) = Arc::try_unwrap(api) {
        runtime.block_on(api.shutdown());
    }
    if let Some(failure) = trouble
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        return Err(failure);
    }
    match finished.result {
        Ok(()) => Ok(()),
        Err(reason) => Err(Failure::stopped(&reason)),
    }
}

/// The tour, as an emulator script (delays are after the previous step).
fn script() -> Script {
    let ms = Duration::from_millis;
    Script::new()
        .then(ms(0), Step::WaitForConnection)
        .then(ms(300), Step::Push(samples::chat_created()))
        .then(
            ms(450),
            Step::Push(samples::text_message("msg_0001", "hello, bot")),
        )
        .then(ms(450), Step::Push(samples::robot_joined()))
        .then(ms(450), Step::Push(samples::users_joined()))
        .then(ms(450), Step::Push(samples::group_mention()))
        .then(ms(450), Step::Push(samples::unknown_event()))
        .then(ms(0), Step::WaitForAcks)
        .then(
            ms(250),
            Step::GoAway {
                reason: GoAwayReason::ServerShutdown,
                reconnect_ms: Some(1000),
            },
        )
        .then(ms(0), Step::WaitForConnection)
        .then(ms(300), Step::Push(samples::user_left()))
        .then(ms(0), Step::WaitForAcks)
        // The connection drops while the handler works on this one (see `DemoApp`): its ack
        // never goes out, the server redelivers it on the next connection.
        .then(
            ms(300),
            Step::Push(samples::text_message(
                DROPPED_MESSAGE,
                "this one is delivered twice and handled once",
            )),
        )
        .then(ms(0), Step::WaitForAcks)
        .then(ms(300), Step::Push(samples::robot_removed()))
        .then(ms(450), Step::Push(samples::group_deleted()))
        .then(ms(0), Step::WaitForAcks)
}

/// The message whose first delivery loses its connection while the handler runs.
const DROPPED_MESSAGE: &str = "msg_0002";

/// The demo's client side: print each event and notice, work a little on each event, and
/// answer each chat message through the REST API.
///
/// When the handler gets [`DROPPED_MESSAGE`] for the first time, it has the emulator drop the
/// connection and waits until the client noticed, then finishes: its outcome comes too late to
/// be acked (a network failure in the middle of handling, made deterministic).
struct DemoApp {
    narrator: Arc<Narrator>,
    emulator: Arc<EmulatorHandle>,
    /// The emulated REST API (its report) and the client of it.
    api: Arc<ApiEmulatorHandle>,
    api_client: BlockingClient,
    /// The drop was staged already.
    dropped: AtomicBool,
    /// The client reported a disconnect since the drop was staged.
    disconnected: AtomicBool,
    stopper: Arc<Stopper>,
}

impl DemoApp {
    fn is_dropped_message(event: &Event) -> bool {
        event
            .parse::<AppChatMessageCreate>()
            .is_ok_and(|m| m.message.id == DROPPED_MESSAGE)
    }

    /// Drops the connection and waits (up to 5 s) until the client saw it go.
    async fn stage_drop(&self) {
        self.disconnected.store(false, Ordering::SeqCst);
        self.emulator.drop_connections();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.disconnected.load(Ordering::SeqCst) && Instant::now() < deadline {
            async_io::Timer::after(Duration::from_millis(5)).await;
        }
    }
}

impl DemoApp {
    /// Replies to a chat message through the REST API (the blocking client on a thread of its
    /// own, awaited from any runtime) and tells both sides of it.
    async fn answer(&self, message: &AppChatMessageCreate) {
        let text = format!(
            "echo: {}",
            message
                .message
                .content
                .text
                .as_deref()
                .unwrap_or("(no text)")
        );
        let reply = match message.reply_text(text.as_str()) {
            Ok(reply) => reply,
            Err(err) => {
                self.narrator
                    .line(Actor::Client, Tone::Bad, "reply", &err.to_string());
                return;
            }
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let client = self.api_client.clone();
        thread::spawn(move || {
            let _ = done.send(client.reply(reply));
        });
        let outcome = result.await.unwrap_or(Err(open_event_api::ApiError::Misuse(
            "the reply thread died",
        )));
        match outcome {
            Ok(sent) => {
                self.narrator.line(
                    Actor::Client,
                    Tone::Good,
                    "reply",
                    &format!(
                        "answered {} with {text:?} via POST /v7/chats/{}/messages/{}/reply",
                        message.message.id, message.chat.id, message.message.id
                    ),
                );
                let report = self.api.report();
                self.narrator.line(
                    Actor::Server,
                    Tone::Good,
                    "api",
                    &format!(
                        "reply accepted as {} (valid KSO-1 and bearer token; tokens issued so far: {})",
                        sent.message_id.as_deref().unwrap_or("?"),
                        report.tokens_issued
                    ),
                );
            }
            Err(err) => self
                .narrator
                .line(Actor::Client, Tone::Bad, "reply", &err.to_string()),
        }
    }
}

impl App for DemoApp {
    fn handle(self: Arc<Self>, event: Event) -> HandlerFuture {
        Box::pin(async move {
            let n = &self.narrator;
            let indent = n.indent();
            let p = n.palette();
            let mut more = vec![
                format!("{indent}{}", describe(&event)),
                format!(
                    "{indent}{}",
                    p.dim(&format!(
                        "nonce {} · time {}",
                        event.nonce,
                        crate::style::rfc3339(event.time)
                    ))
                ),
            ];
            more.push(p.json(&data_value(&event.data), &indent));
            n.line_at(
                Instant::now(),
                Actor::Client,
                Tone::Event,
                "event",
                &p.bold(event.event_code()),
                &more,
            );
            if Self::is_dropped_message(&event) {
                if !self.dropped.swap(true, Ordering::SeqCst) {
                    self.stage_drop().await;
                }
            } else if let Ok(message) = event.parse::<AppChatMessageCreate>() {
                self.answer(&message).await;
            }
            async_io::Timer::after(WORK).await;
            Ok(())
        })
    }

    fn notice(&self, notice: &Notice) {
        if let Notice::Disconnected(_) = notice {
            self.disconnected.store(true, Ordering::SeqCst);
        }
        let text = match notice {
            Notice::Connected { reconnect: false } => {
                "the WebSocket is open: events flow".to_owned()
            }
            Notice::Connected { reconnect: true } => {
                "reconnected: the WebSocket is open again".to_owned()
            }
            Notice::Disconnected(_) if self.stopper.is_requested() => {
                "disconnected: the close handshake is complete".to_owned()
            }
            other => other.to_string(),
        };
        let (tone, tag, note) = match notice {
            Notice::Connected { .. } => (Tone::Good, "connected", ""),
            Notice::Disconnected(_) => (Tone::Notable, "closed", ""),
            Notice::Reconnecting { .. } => (Tone::Notable, "backoff", ""),
            Notice::GoAway(_) => (Tone::Notable, "goaway", ""),
            Notice::Duplicate { .. } => (
                Tone::Notable,
                "duplicate",
                " (it was handled before: acked again with the first answer)",
            ),
            Notice::LateOutcome { .. } => (Tone::Notable, "late", ""),
            Notice::Stopped(reason) if reason.is_requested() => (Tone::Info, "stopped", ""),
            Notice::Stopped(_) | Notice::Rejected(_) => (Tone::Bad, "error", ""),
            Notice::SlowDelivery { .. } => (Tone::Notable, "slow", ""),
            _ => (Tone::Info, "notice", ""),
        };
        self.narrator
            .line(Actor::Client, tone, tag, &format!("{text}{note}"));
    }
}

/// The demo's watcher thread: tells what the server saw, ends the demo after the tour (or
/// after `--duration`, pushing more events meanwhile).
struct Watch {
    emulator: Arc<EmulatorHandle>,
    narrator: Arc<Narrator>,
    stopper: Arc<Stopper>,
    duration: Option<Duration>,
    done: Arc<AtomicBool>,
    trouble: Arc<Mutex<Option<Failure>>>,
}

impl Watch {
    fn run(self) -> ReportWatcher {
        let start = Instant::now();
        let mut watcher = ReportWatcher::new();
        let mut toured: Option<Instant> = None;
        let mut next_extra = start;
        let mut extra = 0u64;
        let mut stopping = false;
        while !self.done.load(Ordering::SeqCst) {
            let now = Instant::now();
            let (seen, finished) = self
                .emulator
                .with_report(|r| (watcher.poll(r, now), r.script_finished && r.pending == 0));
            watch::tell(&self.narrator, seen);
            if finished && toured.is_none() {
                toured = Some(now);
                let more = self.duration.filter(|d| start.elapsed() < *d);
                let text = match more {
                    Some(d) => format!(
                        "tour complete; pushing an event every {} until {} have passed",
                        human(EXTRA_EVERY),
                        human(d)
                    ),
                    None => {
                        "tour complete: every event was handled and acked exactly once".to_owned()
                    }
                };
                self.narrator.line(Actor::Tool, Tone::Info, "tour", &text);
                next_extra = now + EXTRA_EVERY;
            }
            if !stopping {
                if toured.is_some() {
                    match self.duration {
                        Some(d) if start.elapsed() < d => {
                            if now >= next_extra {
                                next_extra = now + EXTRA_EVERY;
                                let _ = self.emulator.push_event(samples::rotation(extra));
                                extra += 1;
                            }
                        }
                        _ => {
                            stopping = true;
                            self.stopper.stop();
                        }
                    }
                } else if start.elapsed() > TOUR_LIMIT + self.duration.unwrap_or_default() {
                    stopping = true;
                    let summary = self.emulator.with_report(|r| watch::summary(r).join("; "));
                    *self.trouble.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(Failure::other(format!(
                            "the demo did not finish its tour within {} (server saw: {summary}); \
                             run it again with --verbose and report the output",
                            human(TOUR_LIMIT)
                        )));
                    self.stopper.stop();
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        watcher
    }
}

/// A seed for the made-up app (different every run, so nonces never repeat across runs).
fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// The demo client's settings: the emulator's endpoint and a quick backoff.
fn demo_settings(endpoint: String) -> Settings {
    let mut settings = Settings::default();
    settings.endpoint = Some(endpoint);
    settings.reconnect_base = Some(RECONNECT_BASE);
    settings.stable_period = Some(STABLE_PERIOD);
    settings
}
