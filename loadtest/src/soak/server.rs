//! The soak's emulator child (`loadtest soak-serve`): the emulator with chaos on (random drops,
//! lost acks, read stalls), alone in its own process, obeying `push N` and `quit` on stdin.

use std::io::Write as _;
use std::time::{Duration, Instant};

use open_event_emulator::server::{Chaos, EventSpec, ServerConfig};
use open_event_emulator::{Emulator, EmulatorHandle, EmulatorOptions};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::protocol::Hello;

/// Events pushed and not acked with 200 yet, at most: the soak tops the queue up to this as
/// acks come in, as a platform with a steady stream of events would. It bounds what one drop
/// makes the server redeliver (far below the client's default dedup memory of 10 000 nonces).
const WINDOW: u64 = 4_000;

/// How often progress is checked and the queue topped up while the events flow.
const POLL: Duration = Duration::from_millis(5);

/// With no new 200 ack for this long while events are pending (their acks were lost and no
/// chaos drop is coming, since drops count acks), the connection is dropped so that they are
/// redelivered, as the platform does on reconnect.
const IDLE_DROP: Duration = Duration::from_secs(1);

/// Options of `soak-serve` (the chaos).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SoakServeArgs {
    /// Seed of the app's credentials and of the chaos.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Mean number of acks between two drops of the connection (0: no drops).
    #[arg(long, default_value_t = 1_000)]
    pub(crate) drop_every: u32,
    /// Acks lost on the server side, per mille.
    #[arg(long, default_value_t = 100)]
    pub(crate) ack_loss_per_mille: u16,
    /// Mean number of acks between two read stalls (0: no stalls).
    #[arg(long, default_value_t = 5_000)]
    pub(crate) stall_every: u32,
    /// How long a read stall lasts, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub(crate) stall_ms: u64,
}

/// What the soak server saw, sent back as the answer to `push N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SoakServerReport {
    /// Events pushed.
    pub(crate) events_pushed: u64,
    /// Event frames sent, redeliveries included.
    pub(crate) events_sent: u64,
    /// Redeliveries (sends of an event sent before).
    pub(crate) redeliveries: u64,
    /// Events acked with 200.
    pub(crate) acked: u64,
    /// Acks for events already acked with 200 (the client re-acks suppressed duplicates).
    pub(crate) duplicate_acks: u64,
    /// Acks with another code than 200.
    pub(crate) negative_acks: u64,
    /// Acks for nonces never sent.
    pub(crate) unknown_acks: u64,
    /// Events never acked with 200 (lost, when the run ended).
    pub(crate) pending: u64,
    /// Accepted connections.
    pub(crate) connections: u64,
    /// Drops by chaos.
    pub(crate) drops: u64,
    /// Drops after an idle spell with events pending (see `IDLE_DROP`).
    pub(crate) idle_drops: u64,
    /// Acks lost on purpose.
    pub(crate) acks_lost: u64,
    /// Read stalls.
    pub(crate) read_stalls: u64,
    /// From the push to the last 200 ack, in seconds.
    pub(crate) elapsed_s: f64,
    /// Whether every event was acked within the time allowed.
    pub(crate) complete: bool,
}

/// Runs the soak emulator until `quit` or the end of stdin.
pub(crate) fn run(args: &SoakServeArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the emulator's tokio runtime: {e}"))?;
    runtime.block_on(serve(args))
}

async fn serve(args: &SoakServeArgs) -> Result<(), String> {
    let chaos = Chaos::new(args.seed)
        .drop_every(args.drop_every)
        .lose_acks_per_mille(args.ack_loss_per_mille)
        .stall_reading(args.stall_every, Duration::from_millis(args.stall_ms));
    let config = ServerConfig::generated(args.seed)
        .record_acks(false)
        .chaos(chaos);
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
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["quit"] => break,
            ["push", n] => {
                let events: u32 = n
                    .parse()
                    .map_err(|_| format!("`{n}` is not a whole number (in `{line}`)"))?;
                let report = soak(&emulator, events).await?;
                send(&report)?;
            }
            _ => return Err(format!("unknown command `{line}`: use `push N` or `quit`")),
        }
    }
    emulator.shutdown().await;
    Ok(())
}

/// Pushes `events`, at most [`WINDOW`] of them unacked at a time, and waits until every one is
/// acked with 200 (or the time allowed passes), dropping the connection when it idles with
/// events pending.
async fn soak(emulator: &EmulatorHandle, events: u32) -> Result<SoakServerReport, String> {
    // Generous: a client slower than 2 000 events/s (debug build, loaded machine) is broken.
    let timeout = Duration::from_secs(60) + Duration::from_micros(500) * events;
    let event = EventSpec::chat_message("soak");
    let start = Instant::now();
    let mut left = u64::from(events);
    let mut idle_drops = 0;
    let mut last = (0, Instant::now());
    let complete = loop {
        let (acked, pending) = emulator.with_report(|r| (r.ack_counts.accepted, r.pending as u64));
        let now = Instant::now();
        if pending == 0 && left == 0 {
            break true;
        }
        let top_up = WINDOW.saturating_sub(pending).min(left);
        if top_up > 0 {
            // At most WINDOW, so it fits in a u32.
            emulator
                .push_many(top_up as u32, &event)
                .map_err(|e| e.to_string())?;
            left -= top_up;
        }
        if now - start > timeout {
            break false;
        }
        if acked != last.0 {
            last = (acked, now);
        } else if now - last.1 > IDLE_DROP {
            if emulator.drop_connection().is_ok() {
                idle_drops += 1;
            }
            last.1 = now;
        }
        tokio::time::sleep(POLL).await;
    };
    let elapsed_s = start.elapsed().as_secs_f64();
    Ok(emulator.with_report(|r| SoakServerReport {
        events_pushed: r.events_pushed,
        events_sent: r.events_sent,
        redeliveries: r.redeliveries.len() as u64,
        acked: r.ack_counts.accepted,
        duplicate_acks: r.ack_counts.duplicate,
        negative_acks: r.ack_counts.negative,
        unknown_acks: r.ack_counts.unknown,
        pending: r.pending as u64,
        connections: r.accepted() as u64,
        drops: r.chaos.drops,
        idle_drops,
        acks_lost: r.chaos.acks_lost,
        read_stalls: r.chaos.read_stalls,
        elapsed_s,
        complete,
    }))
}

/// Writes one JSON line to stdout and flushes it.
fn send(message: &impl Serialize) -> Result<(), String> {
    let line = serde_json::to_string(message).map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout (the client process is gone?): {e}"))
}
