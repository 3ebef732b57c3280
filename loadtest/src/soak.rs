//! `loadtest soak`: a long run through the emulator with chaos on (a random transport drop every
//! ~1 000 acks, 10 % of the acks lost on the server side so their events are redelivered, and
//! read stalls now and then), on each runtime. Checks: nothing lost (every event acked with 200
//! and handled), each nonce handled exactly once (the client's dedup suppresses every
//! redelivery), memory flat (the peak RSS of the second half of the run no higher than the
//! first half's, within a slack).
//!
//! ```text
//! cargo run --release -p open-event-loadtest -- soak --events 1000000 [--runtime tokio] [--json]
//! ```
//!
//! With every runtime (the default) each one runs in a fresh process of its own (this program
//! with `--runtime NAME --json`), and each of those starts the chaos emulator in a child
//! process (`soak-serve`), so the peak RSS is the client's alone.

mod server;

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use open_event_core::Event;
use open_event_core::connection::State;
use open_event_core::stats::Stats;
use serde::{Deserialize, Serialize};

use self::server::SoakServerReport;
pub(crate) use self::server::{SoakServeArgs, run as serve};
use crate::client::Runtime;
use crate::measure;
use crate::protocol::Hello;

/// How long a client may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the RSS is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// The second half's peak RSS may exceed the first half's by this much (allocator noise, a
/// redelivery landing in a read stall) before the memory counts as growing.
const RSS_SLACK_KIB: u64 = 8 * 1024;

/// Options of `soak`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SoakArgs {
    /// Events to push.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) events: u32,
    /// The runtime to soak (default: tokio, async-std, smol and blocking, each in its own
    /// process).
    #[arg(long, value_enum)]
    pub(crate) runtime: Option<Runtime>,
    /// Print one JSON line per runtime instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
    /// The chaos.
    #[command(flatten)]
    pub(crate) chaos: SoakServeArgs,
}

/// The result of one runtime's soak.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SoakResult {
    pub(crate) runtime: Runtime,
    pub(crate) events: u32,
    /// What the server saw.
    pub(crate) server: SoakServerReport,
    /// Handler runs in all.
    pub(crate) handler_runs: u64,
    /// Distinct nonces the handler ran on.
    pub(crate) handled: u64,
    /// Handler runs on a nonce it had run on before.
    pub(crate) duplicates: u64,
    /// Handler runs on a nonce that is not one of the pushed events'.
    pub(crate) unknown: u64,
    /// Events neither handled nor acked (pending on the server, or acked but never handled).
    pub(crate) lost: u64,
    /// Redeliveries the client's dedup suppressed.
    pub(crate) suppressed: u64,
    /// The client's reconnects.
    pub(crate) reconnects: u64,
    /// Peak RSS of the client process over the first and the second half of the run, in KiB.
    pub(crate) peak_rss_first_half_kib: Option<u64>,
    pub(crate) peak_rss_second_half_kib: Option<u64>,
    /// Peak RSS of the client process over the whole run (`VmHWM`), in KiB.
    pub(crate) peak_rss_kib: Option<u64>,
    /// What went wrong (there should be nothing).
    pub(crate) problems: Vec<String>,
}

/// Runs the soak: every runtime in a process of its own, or the one asked for in this process.
/// `Ok(false)` when a check failed.
pub(crate) fn run(args: &SoakArgs) -> Result<bool, String> {
    let results = match args.runtime {
        Some(runtime) => vec![soak(runtime, args)?],
        None => Runtime::ALL
            .iter()
            .map(|&runtime| soak_in_child(runtime, args))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if args.json {
        for result in &results {
            println!(
                "{}",
                serde_json::to_string(result).map_err(|e| e.to_string())?
            );
        }
    } else {
        print_table(args, &results);
    }
    Ok(results.iter().all(|r| r.problems.is_empty()))
}

fn soak_in_child(runtime: Runtime, args: &SoakArgs) -> Result<SoakResult, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find this program to start a soak process: {e}"))?;
    let chaos = &args.chaos;
    let output = Command::new(exe)
        .args(["soak", "--json", "--runtime", runtime.name()])
        .args(["--events", &args.events.to_string()])
        .args(["--seed", &chaos.seed.to_string()])
        .args(["--drop-every", &chaos.drop_every.to_string()])
        .args([
            "--ack-loss-per-mille",
            &chaos.ack_loss_per_mille.to_string(),
        ])
        .args(["--stall-every", &chaos.stall_every.to_string()])
        .args(["--stall-ms", &chaos.stall_ms.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start the {} soak process: {e}", runtime.name()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| {
        format!(
            "the {} soak process ({}) printed no result ({e}): {stdout}",
            runtime.name(),
            output.status
        )
    })
}

fn print_table(args: &SoakArgs, results: &[SoakResult]) {
    let chaos = &args.chaos;
    println!(
        "soak: {} events per runtime; a drop every ~{} acks, {}‰ of the acks lost, a {} ms \
         read stall every ~{} acks",
        args.events, chaos.drop_every, chaos.ack_loss_per_mille, chaos.stall_ms, chaos.stall_every
    );
    println!(
        "{:<10} {:>8} {:>7} {:>9} {:>7} {:>12} {:>6} {:>10} {:>10} {:>9} {:>9} {:>7}",
        "runtime",
        "conns",
        "drops",
        "acks lost",
        "stalls",
        "redelivered",
        "lost",
        "duplicates",
        "suppressed",
        "peak MiB",
        "2nd half",
        "secs"
    );
    for r in results {
        let mib = |kib: Option<u64>| {
            kib.map_or_else(|| "-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
        };
        println!(
            "{:<10} {:>8} {:>7} {:>9} {:>7} {:>12} {:>6} {:>10} {:>10} {:>9} {:>9} {:>7.1}",
            r.runtime.name(),
            r.server.connections,
            r.server.drops + r.server.idle_drops,
            r.server.acks_lost,
            r.server.read_stalls,
            r.server.redeliveries,
            r.lost,
            r.duplicates,
            r.suppressed,
            mib(r.peak_rss_kib),
            mib(r.peak_rss_second_half_kib),
            r.server.elapsed_s
        );
        for problem in &r.problems {
            println!("  {}: {problem}", r.runtime.name());
        }
    }
    println!(
        "(acks lost: on purpose, by the server; lost: events never handled or acked; duplicates: \
         handler runs on a nonce handled before; suppressed: redeliveries the dedup answered)"
    );
}

/// Soaks `runtime` in this process.
fn soak(runtime: Runtime, args: &SoakArgs) -> Result<SoakResult, String> {
    if matches!(runtime, Runtime::Baseline) {
        return Err(
            "the baseline is not an SDK client: soak tokio, tokio-current-thread, \
                    async-std, smol or blocking"
                .to_owned(),
        );
    }
    let mut server = SoakServer::spawn(&args.chaos)?;
    let tally = Arc::new(Tally::new(args.events));
    let client = SoakClient::start(runtime, &server.hello, &tally)?;
    wait_until(CONNECT_TIMEOUT, || client.state() == State::Open)
        .map_err(|()| "the client did not connect".to_owned())?;

    measure::reset_peak_rss();
    let sampler = RssSampler::start(Arc::clone(&tally), u64::from(args.events));
    let report = server.push(args.events);
    let (first_half, second_half) = sampler.finish();
    let peak_rss_kib = measure::peak_rss_kib();
    let stats = client.stop()?;
    server.quit();
    let report = report?;

    let handler_runs = tally.runs.load(Ordering::Relaxed);
    let handled = tally.distinct.load(Ordering::Relaxed);
    let duplicates = tally.duplicates.load(Ordering::Relaxed);
    let unknown = tally.unknown.load(Ordering::Relaxed);
    let lost = u64::from(args.events) - handled.min(report.acked).min(u64::from(args.events));
    let mut problems = Vec::new();
    if !report.complete {
        problems.push(format!(
            "{} events were still not acked with 200 when the time ran out",
            report.pending
        ));
    }
    let mut expect = |what: &str, got: u64, want: u64| {
        if got != want {
            problems.push(format!("{what}: {got}, expected {want}"));
        }
    };
    expect("events lost", lost, 0);
    expect("handler runs on an already handled nonce", duplicates, 0);
    expect("handler runs on an unknown nonce", unknown, 0);
    expect("negative acks (server)", report.negative_acks, 0);
    expect("unknown acks (server)", report.unknown_acks, 0);
    if let (Some(first), Some(second)) = (first_half, second_half)
        && second > first + RSS_SLACK_KIB
    {
        problems.push(format!(
            "memory grows: peak RSS {second} KiB over the second half of the run, {first} KiB \
             over the first"
        ));
    }
    Ok(SoakResult {
        runtime,
        events: args.events,
        server: report,
        handler_runs,
        handled,
        duplicates,
        unknown,
        lost,
        suppressed: stats.duplicates,
        reconnects: stats.reconnects,
        peak_rss_first_half_kib: first_half,
        peak_rss_second_half_kib: second_half,
        peak_rss_kib,
        problems,
    })
}

// ----- counting handler runs per nonce ------------------------------------------------------

/// Handler runs per nonce, in a bitset allocated up front (so it does not count as growth).
/// The emulator's nonces are a seed-derived base with the low 32 bits free plus the event's
/// sequence number (1, 2, ...), so the low 32 bits index the set.
struct Tally {
    seen: Vec<AtomicU64>,
    events: u64,
    runs: AtomicU64,
    distinct: AtomicU64,
    duplicates: AtomicU64,
    unknown: AtomicU64,
}

impl Tally {
    fn new(events: u32) -> Self {
        let words = (events as usize).div_ceil(64) + 1;
        Self {
            seen: std::iter::repeat_with(|| AtomicU64::new(0))
                .take(words)
                .collect(),
            events: u64::from(events),
            runs: AtomicU64::new(0),
            distinct: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
        }
    }

    fn record(&self, event: &Event) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let seq = u64::from_str_radix(&event.nonce, 16).map(|n| n & 0xffff_ffff);
        let Ok(seq) = seq.map(|s| s.wrapping_sub(1)) else {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if seq >= self.events {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.seen[word].fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            self.distinct.fetch_add(1, Ordering::Relaxed);
        } else {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// ----- the client under test ---------------------------------------------------------------

/// Builds a client of one runtime crate with the soak's settings: reconnect at once (a drop
/// is routine here), everything else the defaults, the dedup memory's 10 000 nonces included
/// (a run pushes far more distinct events than that within the dedup window; the memory
/// forgets the nonces whose acks the server has had and keeps those a redelivery may bring).
macro_rules! soak_client {
    ($krate:ident, $hello:expr, $handler:expr) => {
        $krate::Client::builder($hello.app_id.as_str(), $hello.app_secret.as_str())
            .endpoint($hello.url.as_str())
            .seed(1)
            .reconnect_base(Duration::from_millis(1))
            .reconnect_max(Duration::from_millis(20))
            .stable_period(Duration::ZERO)
            .handler($handler)
            .build()
            .map_err(|e| e.to_string())
    };
}

enum ClientHandle {
    Tokio(open_event_tokio::ClientHandle),
    AsyncIo(open_event_async_std::ClientHandle),
    Blocking(open_event_blocking::ClientHandle),
}

struct SoakClient {
    handle: ClientHandle,
    thread: JoinHandle<Result<(), String>>,
}

impl SoakClient {
    fn start(runtime: Runtime, hello: &Hello, tally: &Arc<Tally>) -> Result<Self, String> {
        let spawn = |f: Box<dyn FnOnce() -> Result<(), String> + Send>| {
            std::thread::Builder::new()
                .name(format!("soak-{}", runtime.name()))
                .spawn(f)
                .map_err(|e| format!("cannot start the client thread: {e}"))
        };
        let tally = Arc::clone(tally);
        match runtime {
            Runtime::Tokio | Runtime::TokioCurrentThread => {
                let client = soak_client!(open_event_tokio, hello, move |event: Event| {
                    tally.record(&event);
                    std::future::ready(Ok::<(), std::convert::Infallible>(()))
                })?;
                let handle = ClientHandle::Tokio(client.handle());
                let multi = runtime == Runtime::Tokio;
                let thread = spawn(Box::new(move || {
                    let mut builder = if multi {
                        tokio::runtime::Builder::new_multi_thread()
                    } else {
                        tokio::runtime::Builder::new_current_thread()
                    };
                    let rt = builder
                        .enable_all()
                        .build()
                        .map_err(|e| format!("cannot start tokio: {e}"))?;
                    rt.block_on(client.run()).map_err(|e| e.to_string())
                }))?;
                Ok(Self { handle, thread })
            }
            Runtime::AsyncStd | Runtime::Smol => {
                let client = soak_client!(open_event_async_std, hello, move |event: Event| {
                    tally.record(&event);
                    std::future::ready(Ok::<(), std::convert::Infallible>(()))
                })?;
                let handle = ClientHandle::AsyncIo(client.handle());
                let smol = runtime == Runtime::Smol;
                let thread = spawn(Box::new(move || {
                    let result = if smol {
                        smol::block_on(client.run())
                    } else {
                        async_std::task::block_on(client.run())
                    };
                    result.map_err(|e| e.to_string())
                }))?;
                Ok(Self { handle, thread })
            }
            Runtime::Blocking => {
                let client = soak_client!(open_event_blocking, hello, move |event: Event| {
                    tally.record(&event);
                    Ok::<(), std::convert::Infallible>(())
                })?;
                let handle = ClientHandle::Blocking(client.handle());
                let thread = spawn(Box::new(move || client.run().map_err(|e| e.to_string())))?;
                Ok(Self { handle, thread })
            }
            Runtime::BlockingInline => {
                let client = open_event_blocking::Client::builder(
                    hello.app_id.as_str(),
                    hello.app_secret.as_str(),
                )
                .endpoint(hello.url.as_str())
                .seed(1)
                .reconnect_base(Duration::from_millis(1))
                .reconnect_max(Duration::from_millis(20))
                .stable_period(Duration::ZERO)
                .inline_handlers(true)
                .handler(move |event: Event| {
                    tally.record(&event);
                    Ok::<(), std::convert::Infallible>(())
                })
                .build()
                .map_err(|e| e.to_string())?;
                let handle = ClientHandle::Blocking(client.handle());
                let thread = spawn(Box::new(move || client.run().map_err(|e| e.to_string())))?;
                Ok(Self { handle, thread })
            }
            Runtime::Baseline => Err("the baseline is not an SDK client".to_owned()),
        }
    }

    fn state(&self) -> State {
        match &self.handle {
            ClientHandle::Tokio(h) => h.state(),
            ClientHandle::AsyncIo(h) => h.state(),
            ClientHandle::Blocking(h) => h.state(),
        }
    }

    /// Stops the client gracefully; its final counters.
    fn stop(self) -> Result<Stats, String> {
        match &self.handle {
            ClientHandle::Tokio(h) => h.stop(),
            ClientHandle::AsyncIo(h) => h.stop(),
            ClientHandle::Blocking(h) => h.stop(),
        }
        self.thread
            .join()
            .map_err(|_| "the client thread panicked".to_owned())?
            .map_err(|e| format!("the client stopped with an error: {e}"))?;
        Ok(match &self.handle {
            ClientHandle::Tokio(h) => h.stats(),
            ClientHandle::AsyncIo(h) => h.stats(),
            ClientHandle::Blocking(h) => h.stats(),
        })
    }
}

// ----- the emulator child ------------------------------------------------------------------

struct SoakServer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    hello: Hello,
}

impl SoakServer {
    fn spawn(chaos: &SoakServeArgs) -> Result<Self, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program to start the emulator: {e}"))?;
        let mut child = Command::new(exe)
            .arg("soak-serve")
            .args(["--seed", &chaos.seed.to_string()])
            .args(["--drop-every", &chaos.drop_every.to_string()])
            .args([
                "--ack-loss-per-mille",
                &chaos.ack_loss_per_mille.to_string(),
            ])
            .args(["--stall-every", &chaos.stall_every.to_string()])
            .args(["--stall-ms", &chaos.stall_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the emulator child process: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the emulator child has no stdin or stdout pipe".to_owned());
        };
        let mut stdout = BufReader::new(stdout);
        let hello = match read_json(&mut stdout) {
            Ok(hello) => hello,
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the emulator child did not start: {err}"));
            }
        };
        Ok(Self {
            child,
            stdin: Some(stdin),
            stdout,
            hello,
        })
    }

    fn push(&mut self, events: u32) -> Result<SoakServerReport, String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| "the emulator child was told to quit already".to_owned())?;
        writeln!(stdin, "push {events}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot send `push` to the emulator child: {e}"))?;
        read_json(&mut self.stdout)
    }

    fn quit(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
        }
    }
}

impl Drop for SoakServer {
    fn drop(&mut self) {
        self.quit();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(reader: &mut impl BufRead) -> Result<T, String> {
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|e| format!("cannot read from the emulator child: {e}"))?;
    if n == 0 {
        return Err("the emulator child exited (see its messages above)".to_owned());
    }
    serde_json::from_str(&line)
        .map_err(|e| format!("the emulator child said something unexpected ({e}): {line}"))
}

// ----- RSS over the run --------------------------------------------------------------------

/// Samples `VmRSS` every [`SAMPLE_EVERY`]; keeps the peak of the samples taken before half of
/// the events were handled and the peak of those after.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(Option<u64>, Option<u64>)>,
}

impl RssSampler {
    fn start(tally: Arc<Tally>, events: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peaks = (None::<u64>, None::<u64>);
            while !stopped.load(Ordering::Relaxed) {
                if let Some(rss) = measure::rss_kib() {
                    let second = tally.distinct.load(Ordering::Relaxed) * 2 >= events;
                    let slot = if second { &mut peaks.1 } else { &mut peaks.0 };
                    *slot = Some(slot.map_or(rss, |p| p.max(rss)));
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
            peaks
        });
        Self { stop, thread }
    }

    fn finish(self) -> (Option<u64>, Option<u64>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Calls `done` every millisecond until it returns true or `timeout` passes.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> Result<(), ()> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return Err(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(nonce: &str) -> Event {
        Event::new("kso.app_chat.message", "create", 0, nonce, "{}")
    }

    #[test]
    fn the_tally_counts_runs_per_nonce() {
        let tally = Tally::new(100);
        let base = 0x1234_5678_0000_0000_u64;
        for seq in [1, 2, 100, 2] {
            tally.record(&event(&format!("{:016x}", base + seq)));
        }
        tally.record(&event(&format!("{:016x}", base + 101)));
        tally.record(&event("not hex"));
        assert_eq!(tally.runs.load(Ordering::Relaxed), 6);
        assert_eq!(tally.distinct.load(Ordering::Relaxed), 3);
        assert_eq!(tally.duplicates.load(Ordering::Relaxed), 1);
        assert_eq!(tally.unknown.load(Ordering::Relaxed), 2);
    }
}
