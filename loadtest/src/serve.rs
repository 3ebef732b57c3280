//! The hidden `serve` subcommand: the emulator, alone in its own process, obeying commands on
//! stdin (see [`crate::protocol`]). Running it apart keeps its CPU time and memory out of the
//! client process's figures.

use std::io::Write as _;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use open_event_emulator::server::{AckStatus, EventSpec, ServerConfig};
use open_event_emulator::{Emulator, EmulatorHandle, EmulatorOptions};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::protocol::{Command, Hello, Latency, Reply, ServerSummary};

/// How often the ack counter is polled while waiting (the precision of the elapsed times).
const POLL: Duration = Duration::from_millis(1);

/// The text of every pushed event (a chat message: 202 bytes of JSON data, a 456-byte frame).
const EVENT_TEXT: &str = "load test";

/// Options of `serve`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// Keep one record per ack (needed for `rate`, which reports latencies).
    #[arg(long)]
    pub(crate) record_acks: bool,
    /// Worker threads of the emulator's tokio runtime.
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
    /// Seed of the made-up app's credentials and nonces.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

/// Runs the emulator until `quit` or the end of stdin.
pub(crate) fn run(args: &ServeArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the emulator's tokio runtime: {e}"))?;
    runtime.block_on(serve(args))
}

async fn serve(args: &ServeArgs) -> Result<(), String> {
    let config = ServerConfig::generated(args.seed).record_acks(args.record_acks);
    let emulator = Emulator::start(EmulatorOptions::new(config))
        .await
        .map_err(|e| e.to_string())?;
    let credentials = emulator.credentials();
    send(&Hello {
        url: emulator.url(),
        app_id: credentials.app_id().to_owned(),
        app_secret: credentials.app_secret().expose().to_owned(),
    })?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| format!("cannot read a command from stdin: {e}"))?
    {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match Command::parse(&line) {
            Ok(Command::Quit) => {
                send(&Reply::Bye)?;
                break;
            }
            Ok(command) => execute(&emulator, args, command).await,
            Err(message) => Reply::Error { message },
        };
        send(&reply)?;
    }
    emulator.shutdown().await;
    Ok(())
}

async fn execute(emulator: &EmulatorHandle, args: &ServeArgs, command: Command) -> Reply {
    let result = match command {
        Command::Connected { timeout } => emulator
            .wait_for_connections(1, timeout)
            .await
            .map(|()| Reply::Connected)
            .map_err(|e| e.to_string()),
        Command::Push { events } => push(emulator, events).await,
        Command::Rate { rate, events } if args.record_acks => paced(emulator, rate, events).await,
        Command::Rate { .. } => Err(
            "`rate` reports ack latencies, which needs one record per ack: start `serve` with \
             --record-acks"
                .to_owned(),
        ),
        Command::Report => Ok(Reply::Report(emulator.with_report(|r| ServerSummary {
            connections: r.accepted(),
            rejected: r.rejected(),
            events_pushed: r.events_pushed,
            events_sent: r.events_sent,
            redeliveries: r.redeliveries.len(),
            acked: r.ack_counts.accepted,
            negative: r.ack_counts.negative,
            duplicate: r.ack_counts.duplicate,
            unknown: r.ack_counts.unknown,
            client_errors: r.client_errors.len(),
            pending: r.pending,
        }))),
        Command::Quit => Ok(Reply::Bye),
    };
    result.unwrap_or_else(|message| Reply::Error { message })
}

/// Pushes `events` at once and times them from the push to the last ack.
async fn push(emulator: &EmulatorHandle, events: u32) -> Result<Reply, String> {
    let target = acked(emulator) + u64::from(events);
    // Generous: a client slower than 5 000 events/s has a problem worth an error.
    let timeout = Duration::from_secs(30) + Duration::from_micros(200) * events;
    let event = EventSpec::chat_message(EVENT_TEXT);
    let start = Instant::now();
    // In chunks, so that sending starts after the first one instead of after all of them
    // (queueing holds the server's lock).
    let mut left = events;
    while left > 0 {
        let n = left.min(PUSH_CHUNK);
        emulator.push_many(n, &event).map_err(|e| e.to_string())?;
        left -= n;
    }
    let enqueue = start.elapsed();
    let elapsed = wait_for_acks(emulator, target, start, timeout).await?;
    Ok(Reply::Pushed {
        events,
        elapsed_s: elapsed.as_secs_f64(),
        enqueue_s: enqueue.as_secs_f64(),
    })
}

/// Events queued per call when pushing at once.
const PUSH_CHUNK: u32 = 10_000;

/// How far ahead of the paced sends the events of the latency phase are queued.
const FEED_PERIOD: Duration = Duration::from_millis(10);

/// Pushes `events` at `rate` per second and reports the latency of each ack: from the moment
/// the server handed the event frame to its connection's writer to the moment it read the ack.
///
/// The events are queued in small chunks just ahead of the pacing (one [`FEED_PERIOD`] worth
/// each) rather than all at once: queueing tens of thousands of events holds the server's lock
/// for milliseconds, and the events the pacing then sends late would be charged to the client.
async fn paced(emulator: &EmulatorHandle, rate: u32, events: u32) -> Result<Reply, String> {
    let first_record = emulator.with_report(|r| r.acks.len());
    let target = acked(emulator) + u64::from(events);
    let timeout = Duration::from_secs(30) + Duration::from_secs(1) * events / rate;
    let chunk = u32::try_from(u128::from(rate) * FEED_PERIOD.as_millis() / 1000)
        .unwrap_or(u32::MAX)
        .max(1);
    let event = EventSpec::chat_message(EVENT_TEXT);
    emulator.set_push_rate(NonZeroU32::new(rate));
    let start = Instant::now();
    let fed = feed(emulator, &event, events, chunk).await;
    let waited = match fed {
        Ok(()) => wait_for_acks(emulator, target, start, timeout).await,
        Err(err) => Err(err),
    };
    emulator.set_push_rate(None);
    let elapsed = waited?;
    let mut latencies: Vec<Duration> = emulator.with_report(|r| {
        r.acks[first_record..]
            .iter()
            .filter(|a| a.status == AckStatus::Accepted)
            .filter_map(|a| a.latency)
            .collect()
    });
    Ok(Reply::Paced {
        events,
        rate,
        elapsed_s: elapsed.as_secs_f64(),
        latency: Latency::of(&mut latencies),
    })
}

/// Queues `events` in chunks of `chunk`, two chunks ahead of the pacing, then one chunk every
/// [`FEED_PERIOD`].
async fn feed(
    emulator: &EmulatorHandle,
    event: &EventSpec,
    events: u32,
    chunk: u32,
) -> Result<(), String> {
    let mut left = events;
    let mut next = tokio::time::Instant::now();
    let mut ahead = 2;
    while left > 0 {
        let n = left.min(chunk);
        emulator.push_many(n, event).map_err(|e| e.to_string())?;
        left -= n;
        if ahead > 1 {
            ahead -= 1;
        } else {
            next += FEED_PERIOD;
            tokio::time::sleep_until(next).await;
        }
    }
    Ok(())
}

fn acked(emulator: &EmulatorHandle) -> u64 {
    emulator.with_report(|r| r.ack_counts.accepted)
}

/// Polls the ack counter every [`POLL`] (cheaper for the emulator than being woken on every
/// ack) until it reaches `target`; returns the time since `start`.
async fn wait_for_acks(
    emulator: &EmulatorHandle,
    target: u64,
    start: Instant,
    timeout: Duration,
) -> Result<Duration, String> {
    loop {
        let now = Instant::now();
        if acked(emulator) >= target {
            return Ok(now - start);
        }
        if now - start > timeout {
            let summary = emulator.with_report(|r| {
                format!(
                    "{} sent, {} acked, {} negative, {} pending, {} connections",
                    r.events_sent,
                    r.ack_counts.accepted,
                    r.ack_counts.negative,
                    r.pending,
                    r.accepted()
                )
            });
            return Err(format!(
                "not every event was acked within {timeout:?} (server: {summary})"
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Writes one JSON line to stdout and flushes it.
fn send(message: &impl serde::Serialize) -> Result<(), String> {
    let line = serde_json::to_string(message).map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout (the client process is gone?): {e}"))
}
