//! Load bench of the standalone webhook server under the emulator's webhook pusher, keep-alive.
//!
//! ```text
//! cargo run --release -p open-event-webhook --example webhook_load -- [EVENTS] [CONNECTIONS]
//! ```
//!
//! The server runs in a child process (this binary with `serve`), so its CPU time is its own:
//! `utime + stime` of `/proc/self/stat` (Linux) over the run, divided by the events. The parent
//! seals every event first, then posts them over CONNECTIONS keep-alive connections (one
//! request at a time each) and reports requests/s. Default: 100 000 events, 1 and 4
//! connections.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use open_event_core::Credentials;
use open_event_emulator::server::EventSpec;
use open_event_emulator::webhook::{PushOptions, WebhookPusher};
use open_event_webhook::Webhook;

const APP_ID: &str = "AK20240101BENCH";
const SECRET: &str = "sk_bench_secret_0123456789abcdef";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve();
    }
    let events: usize = args.first().map_or(Ok(100_000), |a| a.parse())?;
    let connections: Vec<usize> = match args.get(1) {
        Some(n) => vec![n.parse()?],
        None => vec![1, 4],
    };
    println!("| connections | events | requests/s | server CPU per event | server CPU use |");
    println!("|---:|---:|---:|---:|---:|");
    for conns in connections {
        let row = run(events, conns)?;
        println!("{row}");
    }
    Ok(())
}

/// One measured run against a fresh server process.
fn run(events: usize, conns: usize) -> Result<String, Box<dyn std::error::Error>> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let url = line.trim().to_owned();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let wall = runtime.block_on(async {
        let mut pushers = Vec::new();
        for c in 0..conns {
            let options = PushOptions {
                seed: u64::try_from(c)? + 1,
                ..PushOptions::default()
            };
            let mut pusher = WebhookPusher::new(&url, Credentials::new(APP_ID, SECRET), options)?;
            pusher.challenge().await?;
            let share = events / conns + usize::from(c < events % conns);
            let mut bodies = Vec::with_capacity(share);
            for i in 0..share {
                let spec = EventSpec::chat_message(&format!("load {c} {i}")).time(1_704_067_200);
                bodies.push(pusher.seal(&spec)?.0);
            }
            pushers.push((pusher, bodies));
        }
        // Start the server's CPU clock now: the challenges and the sealing are not counted.
        stdin.write_all(b"mark\n")?;
        let mut ack = String::new();
        stdout.read_line(&mut ack)?;
        let failures = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let tasks: Vec<_> = pushers
            .into_iter()
            .map(|(mut pusher, bodies)| {
                let failures = Arc::clone(&failures);
                tokio::spawn(async move {
                    for body in bodies {
                        if !pusher.post(body, Duration::from_secs(3)).await.is_ok() {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        let wall = started.elapsed();
        let failed = failures.load(Ordering::Relaxed);
        if failed > 0 {
            return Err(format!("{failed} requests were not answered 200").into());
        }
        Ok::<_, Box<dyn std::error::Error>>(wall)
    })?;
    stdin.write_all(b"stop\n")?;
    let mut report = String::new();
    stdout.read_line(&mut report)?;
    child.wait()?;
    let mut fields = report.split_whitespace();
    let cpu_ms: f64 = fields.next().ok_or("no cpu")?.parse()?;
    let delivered: u64 = fields.next().ok_or("no count")?.parse()?;
    if delivered != u64::try_from(events)? {
        return Err(format!("{delivered} of {events} events delivered").into());
    }
    let per_event_us = cpu_ms * 1e3 / events as f64;
    Ok(format!(
        "| {conns} | {events} | {:.0} | {per_event_us:.1} µs | {:.0} % |",
        events as f64 / wall.as_secs_f64(),
        cpu_ms / 10.0 / wall.as_secs_f64()
    ))
}

/// The server process: prints its URL, answers `mark` (CPU clock start) and `stop` (prints
/// `cpu_ms delivered`).
fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let webhook = Webhook::builder(APP_ID, SECRET)
            .path("/events")
            .handler(|_event| async { Ok::<(), std::io::Error>(()) })
            .build()?;
        let handle = webhook.handle();
        let server = webhook.bind("127.0.0.1:0").await?;
        println!("http://{}/events", server.local_addr()?);
        let serving = tokio::spawn(server.run());
        let commands = tokio::task::spawn_blocking(move || {
            let mut mark = 0.0;
            for line in std::io::stdin().lock().lines() {
                match line.as_deref() {
                    Ok("mark") => {
                        mark = cpu_ms();
                        println!("ok");
                    }
                    _ => return cpu_ms() - mark,
                }
            }
            cpu_ms() - mark
        });
        let cpu = commands.await?;
        let delivered = handle.stats().events_delivered;
        handle.stop();
        serving.await??;
        println!("{cpu:.1} {delivered}");
        Ok(())
    })
}

/// CPU time of this process (every thread), in ms: utime + stime of `/proc/self/stat`.
fn cpu_ms() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line (11 and 12 after the name), in ticks
    // of 100 Hz.
    (ticks(11) + ticks(12)) * 10.0
}
