//! The hidden `client` subcommand: one phase of one runtime in this process, against an emulator
//! child; prints one [`PhaseResult`] as JSON.
//!
//! The process holds the client and nothing else that works (the emulator runs in the child), so
//! its CPU time and peak RSS are the client's.

use std::io::{BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use open_event_core::connection::{Notice, State};
use open_event_core::stats::Stats;
use serde::{Deserialize, Serialize};

use crate::baseline;
use crate::measure::{self, CpuTime};
use crate::protocol::{Command, Hello, Latency, Reply, ServerSummary};

/// Events pushed and acked before anything is measured (connection set up, buffers grown).
pub(crate) const WARMUP_EVENTS: u32 = 1_000;

/// How long a client may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A runtime crate and the executor it runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Runtime {
    /// `open-event-tokio` under a multi-thread tokio runtime (one worker per CPU), `run` awaited
    /// in `block_on` (what `#[tokio::main]` does).
    Tokio,
    /// `open-event-tokio` under a current-thread tokio runtime.
    TokioCurrentThread,
    /// `open-event-async-std` under `async_std::task::block_on`.
    AsyncStd,
    /// `open-event-async-std` under `smol::block_on`.
    Smol,
    /// `open-event-blocking` (an IO thread and a handler thread pool).
    Blocking,
    /// `open-event-blocking` with `inline_handlers(true)`: the handler runs on the IO thread.
    BlockingInline,
    /// Not the SDK: a minimal hand-written acker (see `baseline.rs`), for scale.
    Baseline,
}

impl Runtime {
    /// The runtimes `--runtime all` measures.
    pub(crate) const ALL: [Self; 4] = [Self::Tokio, Self::AsyncStd, Self::Smol, Self::Blocking];

    /// The name on the command line and in tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::TokioCurrentThread => "tokio-current-thread",
            Self::AsyncStd => "async-std",
            Self::Smol => "smol",
            Self::Blocking => "blocking",
            Self::BlockingInline => "blocking-inline",
            Self::Baseline => "baseline",
        }
    }
}

/// What one client process measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Phase {
    /// Push every event at once; events/s from the push to the last ack.
    Throughput,
    /// Push at a fixed rate; ack latency percentiles.
    Latency,
    /// Push many events at once; RSS sampled along the way.
    Memory,
}

/// Options of `client`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClientArgs {
    /// The runtime to run.
    #[arg(long, value_enum)]
    pub(crate) runtime: Runtime,
    /// What to measure.
    #[arg(long, value_enum)]
    pub(crate) phase: Phase,
    /// Events to push (after the warm-up).
    #[arg(long)]
    pub(crate) events: u32,
    /// Push rate of the latency phase (events per second).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) rate: u32,
    /// RSS sample interval of the memory phase, in events.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) sample_every: u32,
    /// Worker threads of the emulator child's tokio runtime.
    #[arg(long, default_value_t = 2)]
    pub(crate) server_threads: usize,
    #[command(flatten)]
    pub(crate) tuning: Tuning,
}

/// Client settings the bench can change from their defaults, to see what each one costs
/// (memory above all: `loadtest --memory-check 1000000 --dedup-capacity 1000`). Unset, a
/// setting keeps the SDK's default. The baseline acker ignores them.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Tuning {
    /// The client's `dedup_capacity` (nonces remembered, about 140 bytes each; default 10 000).
    #[arg(long, value_name = "NONCES")]
    pub(crate) dedup_capacity: Option<usize>,
    /// Switch the client's duplicate suppression off (`dedup(false)`: no nonce memory at all).
    #[arg(long)]
    pub(crate) no_dedup: bool,
    /// The client's `max_in_flight` (default 64).
    #[arg(long, value_name = "N")]
    pub(crate) max_in_flight: Option<usize>,
    /// The client's `read_backlog` (default 64).
    #[arg(long, value_name = "N")]
    pub(crate) read_backlog: Option<usize>,
    /// Worker threads of the client's multi-thread tokio runtime (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub(crate) worker_threads: Option<usize>,
}

impl Tuning {
    /// The same settings as command-line arguments, for a client process.
    pub(crate) fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut add = |flag: &str, value: Option<usize>| {
            if let Some(value) = value {
                args.extend([flag.to_owned(), value.to_string()]);
            }
        };
        add("--dedup-capacity", self.dedup_capacity);
        add("--max-in-flight", self.max_in_flight);
        add("--read-backlog", self.read_backlog);
        add("--worker-threads", self.worker_threads);
        if self.no_dedup {
            args.push("--no-dedup".to_owned());
        }
        args
    }
}

/// Applies a [`Tuning`] to any runtime's client builder (they share the setter names).
macro_rules! tune {
    ($builder:expr, $tuning:expr) => {{
        let tuning: &Tuning = $tuning;
        let mut builder = $builder;
        if let Some(n) = tuning.dedup_capacity {
            builder = builder.dedup_capacity(n);
        }
        if tuning.no_dedup {
            builder = builder.dedup(false);
        }
        if let Some(n) = tuning.max_in_flight {
            builder = builder.max_in_flight(n);
        }
        if let Some(n) = tuning.read_backlog {
            builder = builder.read_backlog(n);
        }
        builder
    }};
}

/// One RSS sample of the memory phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RssSample {
    /// Events handled when it was taken (after the warm-up).
    pub(crate) events: u64,
    /// `VmRSS` then, in KiB.
    pub(crate) rss_kib: u64,
}

/// The result of one phase of one runtime.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PhaseResult {
    pub(crate) runtime: Runtime,
    pub(crate) phase: Phase,
    /// Events measured (the warm-up excluded).
    pub(crate) events: u32,
    /// The push rate asked for (latency phase only).
    pub(crate) rate: Option<u32>,
    /// From the push to the last ack, as the server saw it.
    pub(crate) elapsed_s: f64,
    /// How long the server took to queue the events, in chunks while the first ones were
    /// already flowing (throughput and memory phases).
    pub(crate) enqueue_s: Option<f64>,
    /// `events / elapsed_s`.
    pub(crate) events_per_s: f64,
    /// Ack latencies (latency phase only).
    pub(crate) latency: Option<Latency>,
    /// Client CPU time over the phase (every thread of the client process), user and system.
    pub(crate) cpu_user_s: Option<f64>,
    pub(crate) cpu_system_s: Option<f64>,
    /// Client CPU time per event, in microseconds.
    pub(crate) cpu_us_per_event: Option<f64>,
    /// CPU time of the emulator child over the phase (10 ms resolution).
    pub(crate) server_cpu_s: Option<f64>,
    /// CPU time of everything else on the machine over the phase (busy time of every CPU
    /// minus the client's and the emulator's; 10 ms resolution). Other work running at the same
    /// time makes the figures worse; more than a few % of one CPU means a noisy run.
    pub(crate) other_cpu_s: Option<f64>,
    /// CPU time the hypervisor stole over the phase.
    pub(crate) steal_s: Option<f64>,
    /// Client process peak RSS over the phase (`VmHWM`, reset at the phase start when the
    /// kernel allows), in KiB.
    pub(crate) peak_rss_kib: Option<u64>,
    /// Whether the peak was reset at the phase start (else it covers the whole process life).
    pub(crate) peak_reset: bool,
    /// Client process RSS at the end of the phase, in KiB.
    pub(crate) rss_end_kib: Option<u64>,
    /// RSS samples (memory phase only).
    pub(crate) rss_samples: Vec<RssSample>,
    /// Client process RSS before the client was built (the bench process and its emulator
    /// pipes only), in KiB: the floor no client setting changes.
    pub(crate) rss_before_client_kib: Option<u64>,
    /// Client process RSS once the client is connected, before any event, in KiB.
    pub(crate) rss_connected_kib: Option<u64>,
    /// What the server saw over the whole run (warm-up included).
    pub(crate) server: ServerSummary,
    /// The client's own counters at the end.
    pub(crate) client_events_received: u64,
    pub(crate) client_acked_ok: u64,
    pub(crate) client_acked_error: u64,
    pub(crate) client_reconnects: u64,
    /// Events the handler saw (warm-up included).
    pub(crate) handled: u64,
    /// Lifecycle notices other than connected / stopped / dedup memory full (there should be
    /// none).
    pub(crate) unexpected_notices: Vec<String>,
    /// `Notice::DedupFull` texts: expected when a burst passes `dedup_capacity` within the time
    /// a nonce takes to settle (the bench keeps the default capacity), and no fault: every
    /// event is still handled and acked once, which `problems` checks.
    pub(crate) dedup_full_notices: Vec<String>,
    /// Problems found by the end-of-run checks (there should be none).
    pub(crate) problems: Vec<String>,
}

/// Runs one phase and prints its result as one JSON line.
pub(crate) fn run(args: &ClientArgs) -> Result<(), String> {
    let result = measure_phase(args)?;
    let line = serde_json::to_string(&result).map_err(|e| e.to_string())?;
    println!("{line}");
    Ok(())
}

fn measure_phase(args: &ClientArgs) -> Result<PhaseResult, String> {
    let mut server = ServerChild::spawn(args.phase == Phase::Latency, args.server_threads)?;
    let hello = server.hello.clone();
    let handled = Arc::new(AtomicU64::new(0));
    let notices = Notices::default();
    let rss_before_client_kib = measure::rss_kib();
    let client = RunningClient::start(args.runtime, &hello, &handled, &notices, &args.tuning)?;

    server.expect_connected()?;
    wait_until(CONNECT_TIMEOUT, || client.handle.state() == State::Open)
        .map_err(|()| "the client did not reach the Open state".to_owned())?;
    let rss_connected_kib = measure::rss_kib();
    match server.command(Command::Push {
        events: WARMUP_EVENTS,
    })? {
        Reply::Pushed { .. } => {}
        other => return Err(format!("warm-up failed: {other:?}")),
    }

    let peak_reset = measure::reset_peak_rss();
    let machine_before = measure::machine_cpu();
    let server_before = measure::process_cpu(server.child.id());
    let cpu_before = measure::cpu_time();
    let mut enqueue_s = None;
    let (elapsed_s, latency, rss_samples) = match args.phase {
        Phase::Throughput => {
            let (elapsed, enqueue) = server.push(args.events)?;
            enqueue_s = Some(enqueue);
            (elapsed, None, Vec::new())
        }
        Phase::Latency => {
            let (elapsed, latency) = server.paced(args.rate, args.events)?;
            (elapsed, Some(latency), Vec::new())
        }
        Phase::Memory => {
            let sampler = Sampler::start(
                Arc::clone(&handled),
                u64::from(WARMUP_EVENTS),
                u64::from(args.sample_every.max(1)),
                u64::from(args.events),
            );
            let pushed = server.push(args.events);
            let samples = sampler.finish();
            let (elapsed, enqueue) = pushed?;
            enqueue_s = Some(enqueue);
            (elapsed, None, samples)
        }
    };
    let cpu = measure::cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.since(before));
    let server_cpu = measure::process_cpu(server.child.id())
        .zip(server_before)
        .map(|(after, before)| after.saturating_sub(before));
    let machine = measure::machine_cpu().zip(machine_before);
    let other_cpu = machine
        .zip(cpu)
        .zip(server_cpu)
        .map(|(((after, before), cpu), server)| {
            (after.busy.saturating_sub(before.busy))
                .saturating_sub(cpu.total())
                .saturating_sub(server)
        });
    let steal = machine.map(|(after, before)| after.steal.saturating_sub(before.steal));
    let peak_rss_kib = measure::peak_rss_kib();
    let rss_end_kib = measure::rss_kib();

    // The notices of the measured part only (stopping brings its own).
    let unexpected_notices = std::mem::take(&mut *lock(&notices.unexpected));
    let dedup_full_notices = std::mem::take(&mut *lock(&notices.dedup_full));
    let stats = client.stop()?;
    let summary = match server.command(Command::Report)? {
        Reply::Report(summary) => summary,
        other => return Err(format!("unexpected reply to `report`: {other:?}")),
    };
    server.quit();

    let handled = handled.load(Ordering::Relaxed);
    let total = u64::from(WARMUP_EVENTS) + u64::from(args.events);
    let problems = check(&summary, &stats, handled, total);
    Ok(PhaseResult {
        runtime: args.runtime,
        phase: args.phase,
        events: args.events,
        rate: (args.phase == Phase::Latency).then_some(args.rate),
        elapsed_s,
        enqueue_s,
        events_per_s: f64::from(args.events) / elapsed_s,
        latency,
        cpu_user_s: cpu.map(|c| c.user.as_secs_f64()),
        cpu_system_s: cpu.map(|c| c.system.as_secs_f64()),
        cpu_us_per_event: cpu.map(|c| per_event_us(c, args.events)),
        server_cpu_s: server_cpu.map(|d| d.as_secs_f64()),
        other_cpu_s: other_cpu.map(|d| d.as_secs_f64()),
        steal_s: steal.map(|d| d.as_secs_f64()),
        peak_rss_kib,
        peak_reset,
        rss_end_kib,
        rss_samples,
        rss_before_client_kib,
        rss_connected_kib,
        server: summary,
        client_events_received: stats.events_received,
        client_acked_ok: stats.acked_ok,
        client_acked_error: stats.acked_error,
        client_reconnects: stats.reconnects,
        handled,
        unexpected_notices,
        dedup_full_notices,
        problems,
    })
}

fn per_event_us(cpu: CpuTime, events: u32) -> f64 {
    cpu.total().as_secs_f64() * 1e6 / f64::from(events.max(1))
}

/// Everything that must hold after a clean run: every event handled once and acked once with
/// 200 on one connection.
fn check(server: &ServerSummary, client: &Stats, handled: u64, total: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |what: &str, got: u64, want: u64| {
        if got != want {
            problems.push(format!("{what}: {got}, expected {want}"));
        }
    };
    expect("events acked with 200 (server)", server.acked, total);
    expect("negative acks (server)", server.negative, 0);
    expect("duplicate acks (server)", server.duplicate, 0);
    expect("unknown acks (server)", server.unknown, 0);
    expect(
        "invalid client frames (server)",
        server.client_errors as u64,
        0,
    );
    expect("redeliveries (server)", server.redeliveries as u64, 0);
    expect("connections (server)", server.connections as u64, 1);
    expect("events handled (client)", handled, total);
    expect("acks with 200 (client)", client.acked_ok, total);
    expect("error acks (client)", client.acked_error, 0);
    expect("reconnects (client)", client.reconnects, 0);
    problems
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ----- the emulator child ------------------------------------------------------------------

/// The emulator, running as `loadtest serve` in a child process.
struct ServerChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    hello: Hello,
}

impl ServerChild {
    fn spawn(record_acks: bool, threads: usize) -> Result<Self, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program to start the emulator: {e}"))?;
        let mut command = std::process::Command::new(exe);
        command.args(["serve", "--threads", &threads.to_string()]);
        if record_acks {
            command.arg("--record-acks");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the emulator child process: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err("the emulator child has no stdin or stdout pipe".to_owned());
        };
        let mut stdout = BufReader::new(stdout);
        let hello: Hello = match read_json(&mut stdout) {
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

    fn command(&mut self, command: Command) -> Result<Reply, String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| "the emulator child was told to quit already".to_owned())?;
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot send `{command}` to the emulator child: {e}"))?;
        match read_json(&mut self.stdout)? {
            Reply::Error { message } => Err(format!("emulator: `{command}` failed: {message}")),
            reply => Ok(reply),
        }
    }

    fn expect_connected(&mut self) -> Result<(), String> {
        match self.command(Command::Connected {
            timeout: CONNECT_TIMEOUT,
        })? {
            Reply::Connected => Ok(()),
            other => Err(format!("unexpected reply to `connected`: {other:?}")),
        }
    }

    /// `push N`: the elapsed seconds, and the part of them the server spent queueing.
    fn push(&mut self, events: u32) -> Result<(f64, f64), String> {
        match self.command(Command::Push { events })? {
            Reply::Pushed {
                elapsed_s,
                enqueue_s,
                ..
            } => Ok((elapsed_s, enqueue_s)),
            other => Err(format!("unexpected reply to `push`: {other:?}")),
        }
    }

    /// `rate R N`: the elapsed seconds and the latencies.
    fn paced(&mut self, rate: u32, events: u32) -> Result<(f64, Latency), String> {
        match self.command(Command::Rate { rate, events })? {
            Reply::Paced {
                elapsed_s, latency, ..
            } => Ok((elapsed_s, latency)),
            other => Err(format!("unexpected reply to `rate`: {other:?}")),
        }
    }

    fn quit(&mut self) {
        let _ = self.command(Command::Quit);
        self.stdin = None;
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // Closing stdin makes the child shut down; give it a moment, then make sure.
        self.stdin = None;
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

fn read_json<T: for<'de> Deserialize<'de>>(
    reader: &mut impl std::io::BufRead,
) -> Result<T, String> {
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

// ----- the client under test ---------------------------------------------------------------

/// A stop-and-read handle of whichever runtime runs.
enum Handle {
    Tokio(open_event_tokio::ClientHandle),
    AsyncIo(open_event_async_std::ClientHandle),
    Blocking(open_event_blocking::ClientHandle),
    Baseline(Arc<baseline::Shared>),
}

impl Handle {
    fn stop(&self) {
        match self {
            Self::Tokio(h) => h.stop(),
            Self::AsyncIo(h) => h.stop(),
            Self::Blocking(h) => h.stop(),
            // `notify_one` keeps the permit if the task is not waiting right now.
            Self::Baseline(shared) => shared.stop.notify_one(),
        }
    }

    fn state(&self) -> State {
        match self {
            Self::Tokio(h) => h.state(),
            Self::AsyncIo(h) => h.state(),
            Self::Blocking(h) => h.state(),
            Self::Baseline(shared) if shared.open.load(Ordering::Acquire) => State::Open,
            Self::Baseline(_) => State::Connecting,
        }
    }

    fn stats(&self) -> Stats {
        match self {
            Self::Tokio(h) => h.stats(),
            Self::AsyncIo(h) => h.stats(),
            Self::Blocking(h) => h.stats(),
            Self::Baseline(shared) => {
                let mut stats = Stats::default();
                stats.events_received = shared.received.load(Ordering::Relaxed);
                stats.events_delivered = shared.acked.load(Ordering::Relaxed);
                stats.acked_ok = shared.acked.load(Ordering::Relaxed);
                stats.acked_error = shared.failed.load(Ordering::Relaxed);
                stats.connects = 1;
                stats
            }
        }
    }
}

/// A client running on its own thread.
struct RunningClient {
    handle: Handle,
    thread: JoinHandle<Result<(), String>>,
}

/// The notices of a run that are worth reporting, by kind.
#[derive(Clone, Default)]
struct Notices {
    /// Notices that should not happen in a clean run.
    unexpected: Arc<Mutex<Vec<String>>>,
    /// The dedup memory was full (expected in a burst past `dedup_capacity`).
    dedup_full: Arc<Mutex<Vec<String>>>,
}

/// Keeps the notices worth reporting.
fn notice_recorder(notices: &Notices) -> impl Fn(&Notice) + Send + Sync + 'static {
    let notices = notices.clone();
    move |notice: &Notice| {
        if matches!(notice, Notice::DedupFull { .. }) {
            lock(&notices.dedup_full).push(notice.to_string());
        } else if !matches!(notice, Notice::Connected { reconnect: false }) && !is_stopped(notice) {
            lock(&notices.unexpected).push(notice.to_string());
        }
    }
}

fn is_stopped(notice: &Notice) -> bool {
    matches!(notice, Notice::Stopped(reason) if reason.is_requested())
}

impl RunningClient {
    fn start(
        runtime: Runtime,
        hello: &Hello,
        handled: &Arc<AtomicU64>,
        notices: &Notices,
        tuning: &Tuning,
    ) -> Result<Self, String> {
        let handled = Arc::clone(handled);
        let spawn = |name: &str, f: Box<dyn FnOnce() -> Result<(), String> + Send>| {
            std::thread::Builder::new()
                .name(format!("client-{name}"))
                .spawn(f)
                .map_err(|e| format!("cannot start the client thread: {e}"))
        };
        match runtime {
            Runtime::Tokio | Runtime::TokioCurrentThread => {
                let client = tune!(
                    open_event_tokio::Client::builder(
                        hello.app_id.as_str(),
                        hello.app_secret.as_str()
                    ),
                    tuning
                )
                .endpoint(hello.url.as_str())
                .seed(1)
                .handler(move |_event| {
                    handled.fetch_add(1, Ordering::Relaxed);
                    std::future::ready(Ok::<(), std::convert::Infallible>(()))
                })
                .on_notice(notice_recorder(notices))
                .build()
                .map_err(|e| e.to_string())?;
                let handle = Handle::Tokio(client.handle());
                let multi = runtime == Runtime::Tokio;
                let workers = tuning.worker_threads;
                let thread = spawn(
                    runtime.name(),
                    Box::new(move || {
                        let mut builder = if multi {
                            let mut builder = tokio::runtime::Builder::new_multi_thread();
                            if let Some(n) = workers {
                                builder.worker_threads(n.max(1));
                            }
                            builder
                        } else {
                            tokio::runtime::Builder::new_current_thread()
                        };
                        let rt = builder
                            .enable_all()
                            .build()
                            .map_err(|e| format!("cannot start tokio: {e}"))?;
                        rt.block_on(client.run()).map_err(|e| e.to_string())
                    }),
                )?;
                Ok(Self { handle, thread })
            }
            Runtime::AsyncStd | Runtime::Smol => {
                let client = tune!(
                    open_event_async_std::Client::builder(
                        hello.app_id.as_str(),
                        hello.app_secret.as_str()
                    ),
                    tuning
                )
                .endpoint(hello.url.as_str())
                .seed(1)
                .handler(move |_event| {
                    handled.fetch_add(1, Ordering::Relaxed);
                    std::future::ready(Ok::<(), std::convert::Infallible>(()))
                })
                .on_notice(notice_recorder(notices))
                .build()
                .map_err(|e| e.to_string())?;
                let handle = Handle::AsyncIo(client.handle());
                let smol = runtime == Runtime::Smol;
                let thread = spawn(
                    runtime.name(),
                    Box::new(move || {
                        let result = if smol {
                            smol::block_on(client.run())
                        } else {
                            async_std::task::block_on(client.run())
                        };
                        result.map_err(|e| e.to_string())
                    }),
                )?;
                Ok(Self { handle, thread })
            }
            Runtime::Blocking | Runtime::BlockingInline => {
                let client = tune!(
                    open_event_blocking::Client::builder(
                        hello.app_id.as_str(),
                        hello.app_secret.as_str()
                    ),
                    tuning
                )
                .endpoint(hello.url.as_str())
                .seed(1)
                .inline_handlers(runtime == Runtime::BlockingInline)
                .handler(move |_event| {
                    handled.fetch_add(1, Ordering::Relaxed);
                    Ok::<(), std::convert::Infallible>(())
                })
                .on_notice(notice_recorder(notices))
                .build()
                .map_err(|e| e.to_string())?;
                let handle = Handle::Blocking(client.handle());
                let thread = spawn(
                    runtime.name(),
                    Box::new(move || client.run().map_err(|e| e.to_string())),
                )?;
                Ok(Self { handle, thread })
            }
            Runtime::Baseline => {
                let shared = Arc::new(baseline::Shared::default());
                let (hello, run_shared) = (hello.clone(), Arc::clone(&shared));
                let thread = spawn(
                    runtime.name(),
                    Box::new(move || baseline::run(&hello, &handled, &run_shared)),
                )?;
                Ok(Self {
                    handle: Handle::Baseline(shared),
                    thread,
                })
            }
        }
    }

    /// Stops the client gracefully; its final counters.
    fn stop(self) -> Result<Stats, String> {
        self.handle.stop();
        let joined = self
            .thread
            .join()
            .map_err(|_| "the client thread panicked".to_owned())?;
        joined.map_err(|e| format!("the client stopped with an error: {e}"))?;
        Ok(self.handle.stats())
    }
}

// ----- RSS sampling ------------------------------------------------------------------------

/// Samples `VmRSS` each time the handled-event counter passes the next multiple of `every`.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<RssSample>>,
}

impl Sampler {
    fn start(handled: Arc<AtomicU64>, offset: u64, every: u64, total: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let mut take = |events: u64| {
                if let Some(rss_kib) = measure::rss_kib() {
                    samples.push(RssSample { events, rss_kib });
                }
            };
            take(handled.load(Ordering::Relaxed).saturating_sub(offset));
            let mut next = every;
            while next <= total {
                let done = handled.load(Ordering::Relaxed).saturating_sub(offset);
                if done >= next {
                    take(done);
                    next += every;
                } else if stopped.load(Ordering::Relaxed) {
                    break;
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            samples
        });
        Self { stop, thread }
    }

    fn finish(self) -> Vec<RssSample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}
