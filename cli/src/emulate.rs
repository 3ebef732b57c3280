//! `openevent emulate`: the platform's event server on this machine, for testing an app.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use open_event_core::Credentials;
use open_event_core::codec::GoAwayReason;
use open_event_emulator::runner::{Emulator, EmulatorOptions};
use open_event_emulator::server::{EventSpec, ServerConfig};
use serde_json::Value;

use crate::args::EmulateArgs;
use crate::duration::human;
use crate::emulate_api::ApiSide;
use crate::failure::Failure;
use crate::narrator::{Actor, Narrator, Tone};
use crate::samples;
use crate::stopper::{Stopper, install_signals};
use crate::style::{Palette, Stream};
use crate::watch::{self, ReportWatcher};

/// How often the report is read and the scenario checked.
const TICK: Duration = Duration::from_millis(20);

pub(crate) fn run(args: &EmulateArgs, no_color: bool) -> Result<(), Failure> {
    if let Some(url) = &args.webhook {
        return crate::push::run(args, url, no_color);
    }
    let file_events = match &args.file {
        Some(path) => Some(load_events(path)?),
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("openevent-emulator")
        .enable_all()
        .build()
        .map_err(|err| Failure::other(format!("cannot start the emulator's runtime: {err}")))?;
    let (server, generated) = match (&args.app_id, &args.app_secret) {
        (Some(id), Some(secret)) => (
            ServerConfig::new(Credentials::new(id.as_str(), secret.as_str())),
            false,
        ),
        _ => (ServerConfig::generated(seed()), true),
    };
    let server = server.ping_interval(args.ping_interval);
    let emulator = runtime
        .block_on(Emulator::start(
            EmulatorOptions::new(server).bind(args.listen),
        ))
        .map_err(|err| Failure::other(err.to_string()))?;
    let mut api = args
        .api_listen
        .map(|addr| ApiSide::start(&runtime, addr, emulator.credentials()))
        .transpose()?;

    let p = palette;
    let creds = emulator.credentials();
    let secret_line = if generated {
        creds.app_secret().expose().to_owned()
    } else {
        "(as given with --app-secret)".to_owned()
    };
    narrator.raw(&format!(
        "{} listening on {}\n  app id:      {}\n  app secret:  {}\n  \
         connect:     OPEN_EVENT_APP_ID={} OPEN_EVENT_APP_SECRET=... openevent listen --endpoint {}\n  \
         pings every {}; events not acked with 200 are redelivered on the next connection\n",
        p.bold("openevent emulate:"),
        p.bold(&emulator.url()),
        creds.app_id(),
        secret_line,
        creds.app_id(),
        emulator.url(),
        human(args.ping_interval),
    ));
    if let Some(api) = &api {
        narrator.raw(&format!(
            "  REST API:    {} (--api-base for openevent send/reply, ApiConfig::api_base)\n",
            p.bold(&api.base_url())
        ));
    }

    if let Some(count) = args.reject_first.filter(|n| *n > 0) {
        emulator
            .reject_next_handshakes(args.reject_status, count)
            .map_err(|err| Failure::other(err.to_string()))?;
        narrator.line(
            Actor::Tool,
            Tone::Info,
            "scenario",
            &format!(
                "the first {count} handshakes get HTTP {}",
                args.reject_status
            ),
        );
    }
    let generate_every = match (&file_events, args.rate) {
        (Some(events), rate) => {
            if let Some(rate) = rate.and_then(NonZeroU32::new) {
                emulator.set_push_rate(Some(rate));
            }
            for event in events {
                emulator
                    .push_event(event.clone())
                    .map_err(|err| Failure::other(err.to_string()))?;
            }
            narrator.line(
                Actor::Tool,
                Tone::Info,
                "events",
                &format!(
                    "{} events queued from the file{}",
                    events.len(),
                    rate.filter(|r| *r > 0)
                        .map(|r| format!(", {r} per second"))
                        .unwrap_or_default()
                ),
            );
            None
        }
        (None, rate) => {
            let rate = rate.unwrap_or(1);
            if rate > 0 {
                narrator.line(
                    Actor::Tool,
                    Tone::Info,
                    "events",
                    &format!("sample events, {rate} per second while a client is connected"),
                );
                Some(Duration::from_secs(1) / rate)
            } else {
                None
            }
        }
    };

    let mut scenario = Scenario::new(args);
    let mut watcher = ReportWatcher::new();
    let start = Instant::now();
    let mut next_push = start;
    let mut generated_count = 0u64;
    while !stopper.is_requested() && args.duration.is_none_or(|d| start.elapsed() < d) {
        let now = Instant::now();
        let (seen, active) = emulator.with_report(|r| {
            let active = r
                .open_connections()
                .filter(|c| c.goaway.is_none())
                .last()
                .map(|c| (c.id, c.events_sent));
            (watcher.poll(r, now), active)
        });
        watch::tell(&narrator, seen);
        if let Some(api) = &mut api {
            api.tell(&narrator);
        }
        match active {
            Some((id, sent)) => {
                for action in scenario.due(id.get(), sent) {
                    narrator.line(
                        Actor::Tool,
                        Tone::Notable,
                        "scenario",
                        &format!(
                            "{} on {id} after {sent} event{}",
                            action.describe(),
                            if sent == 1 { "" } else { "s" }
                        ),
                    );
                    let result = match &action {
                        Action::GoAway(reason, ms) => {
                            emulator.goaway(reason.clone(), *ms).map(|_| ())
                        }
                        Action::Drop => {
                            emulator.drop_connections();
                            Ok(())
                        }
                        Action::Silence(d) => emulator.silence(*d).map(|_| ()),
                    };
                    if let Err(err) = result {
                        narrator.line(Actor::Tool, Tone::Bad, "scenario", &err.to_string());
                    }
                }
                if let Some(every) = generate_every {
                    let mut due = 0;
                    while next_push <= now && due < 1_000 {
                        next_push += every;
                        due += 1;
                    }
                    for _ in 0..due {
                        let _ = emulator.push_event(samples::rotation(generated_count));
                        generated_count += 1;
                    }
                }
            }
            None => next_push = now,
        }
        thread::sleep(TICK);
    }
    let report = emulator.report();
    watch::tell(&narrator, watcher.poll(&report, Instant::now()));
    // Close frames to every client, a moment for their answers, then stop.
    runtime.block_on(emulator.shutdown());
    let mut text = format!("\n{}\n", p.bold("summary"));
    let mut lines = watch::summary(&report);
    if let Some(mut api) = api {
        api.tell(&narrator);
        lines.push(api.summary());
        runtime.block_on(api.shutdown());
    }
    for line in lines {
        text.push_str(&format!("  {line}\n"));
    }
    narrator.raw(&text);
    Ok(())
}

/// One scenario action.
#[derive(Debug, Clone, PartialEq)]
enum Action {
    GoAway(GoAwayReason, Option<u64>),
    Drop,
    Silence(Duration),
}

impl Action {
    fn describe(&self) -> String {
        match self {
            Self::GoAway(reason, Some(ms)) => format!("GoAway {reason} (reconnect_ms {ms})"),
            Self::GoAway(reason, None) => format!("GoAway {reason}"),
            Self::Drop => "dropping the connection".to_owned(),
            Self::Silence(d) => format!("silence for {}", human(*d)),
        }
    }
}

/// The scenario flags, applied once per connection each.
#[derive(Debug)]
struct Scenario {
    goaway: Option<(u64, GoAwayReason, Option<u64>)>,
    drop_every: Option<u64>,
    silence: Option<(u64, Duration)>,
    /// `(connection number, which action)` already done.
    done: HashSet<(u64, u8)>,
}

impl Scenario {
    fn new(args: &EmulateArgs) -> Self {
        Self {
            goaway: args.goaway_after.map(|n| {
                (
                    n,
                    GoAwayReason::from(args.goaway_reason.as_str()),
                    args.goaway_reconnect_ms,
                )
            }),
            drop_every: args.drop_every,
            silence: args.silence_after.zip(args.silence_for),
            done: HashSet::new(),
        }
    }

    /// The actions due on connection `conn` once `sent` events went out on it.
    fn due(&mut self, conn: u64, sent: u64) -> Vec<Action> {
        let mut due = Vec::new();
        if let Some((n, d)) = self.silence
            && sent >= n
            && self.done.insert((conn, 0))
        {
            due.push(Action::Silence(d));
        }
        if let Some((n, reason, ms)) = &self.goaway
            && sent >= *n
            && self.done.insert((conn, 1))
        {
            due.push(Action::GoAway(reason.clone(), *ms));
            return due;
        }
        if let Some(n) = self.drop_every
            && sent >= n
            && self.done.insert((conn, 2))
        {
            due.push(Action::Drop);
        }
        due
    }
}

/// Reads a JSONL file of events: `{"topic","operation","data"}` per line, `data` any JSON
/// value or a string holding the data text, optional integer `time`. Blank lines and lines
/// starting with `#` are skipped.
pub(crate) fn load_events(path: &Path) -> Result<Vec<EventSpec>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Failure::other(format!(
            "cannot read {} ({err}); check the path given with --file",
            path.display()
        ))
    })?;
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{} line {}", path.display(), i + 1);
        let value: Value = serde_json::from_str(line)
            .map_err(|err| Failure::other(format!("{}: not JSON ({err})", at())))?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    Failure::other(format!(
                        "{}: needs a non-empty string \"{name}\", e.g. \
                         {{\"topic\":\"kso.app_chat\",\"operation\":\"create\",\"data\":{{}}}}",
                        at()
                    ))
                })
        };
        let topic = field("topic")?;
        let operation = field("operation")?;
        let data = match value.get("data") {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        };
        let mut spec = EventSpec::new(topic, operation, data);
        match value.get("time") {
            None | Some(Value::Null) => {}
            Some(time) => {
                let time = time.as_i64().ok_or_else(|| {
                    Failure::other(format!(
                        "{}: \"time\" must be an integer (seconds since the Unix epoch)",
                        at()
                    ))
                })?;
                spec = spec.time(time);
            }
        }
        events.push(spec);
    }
    Ok(events)
}

pub(crate) fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_lines_become_events() {
        let path =
            std::env::temp_dir().join(format!("openevent-emulate-{}.jsonl", std::process::id()));
        std::fs::write(
            &path,
            "# a comment\n\
             {\"topic\":\"kso.app_chat\",\"operation\":\"create\",\"data\":{\"chat_id\":\"c1\"}}\n\
             \n\
             {\"topic\":\"kso.x\",\"operation\":\"y\",\"data\":\"raw text\",\"time\":1704067200}\n",
        )
        .unwrap();
        let events = load_events(&path).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_code(), "kso.app_chat.create");
        assert_eq!(events[0].data, r#"{"chat_id":"c1"}"#);
        assert_eq!(events[1].data, "raw text");
        assert_eq!(events[1].time, Some(1_704_067_200));
        std::fs::write(&path, "{\"topic\":\"t\"}\n").unwrap();
        let err = load_events(&path).unwrap_err();
        assert!(
            err.message.contains("line 1") && err.message.contains("operation"),
            "{err}"
        );
        let _ = std::fs::remove_file(&path);
    }
}
