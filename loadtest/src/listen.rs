//! `loadtest listen`: the real `openevent listen` binary as the client process, under the
//! emulator of this process.
//!
//! Each run starts a fresh emulator here and `openevent listen` as a child process (credentials
//! and endpoint in `OPEN_EVENT_*`, stdout to a file or `/dev/null`, stderr to a file), pushes
//! [`WARMUP_EVENTS`] events, then the measured burst, then stops the child with SIGINT. The
//! child's CPU time (`/proc/PID/stat`, 10 ms resolution) and peak RSS (`VmHWM`, reset through
//! `/proc/PID/clear_refs` at the burst's start) are the client's; this process's own CPU time
//! is the emulator's (and the checker's).
//!
//! Checks of every run: the emulator saw one connection, no redelivery, no invalid frame, and
//! every event acked exactly once with 200; the child's summary says the same. With the output
//! in a file, also: every event's nonce is printed exactly once, in arrival order (without
//! `--exec`), and — sampled every millisecond during the burst — once event #k was acked the
//! file held at least k events (an ack that left before its line was written would show as a
//! deficit). Whether the acks came in arrival order is reported, not required.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use open_event_emulator::server::{AckStatus, EventSpec, ServerConfig};
use open_event_emulator::{Emulator, EmulatorHandle, EmulatorOptions};
use serde::Serialize;

use crate::client::WARMUP_EVENTS;
use crate::measure;

/// The text of every pushed event (the same chat message as the SDK phases: a 456-byte frame).
const EVENT_TEXT: &str = "load test";

/// How long the child may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// How often the ack counter (and, with a file, the output) is looked at during the burst.
const POLL: Duration = Duration::from_millis(1);

/// Where the child's stdout goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Sink {
    /// A file in `--dir` (enables the output checks).
    File,
    /// `/dev/null`.
    Null,
}

/// How the child prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Format {
    /// `--json`: one line per event.
    Json,
    /// The readable blocks (the default of `openevent listen`).
    Readable,
}

/// Options of `loadtest listen`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ListenArgs {
    /// The `openevent` binary (default: `openevent` next to this program, i.e. build it with
    /// `cargo build --release -p openevent`).
    #[arg(long, value_name = "PATH")]
    pub(crate) openevent: Option<PathBuf>,
    /// Events of the measured burst (after the warm-up).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) events: u32,
    /// Events of the measured burst in `--exec` runs (one process per event).
    #[arg(long, default_value_t = 2_000)]
    pub(crate) exec_events: u32,
    /// Where the child's stdout goes (repeatable; default: file and null).
    #[arg(long = "to", value_enum, value_delimiter = ',')]
    pub(crate) sinks: Vec<Sink>,
    /// How the child prints (repeatable; default: json and readable).
    #[arg(long = "format", value_enum, value_delimiter = ',')]
    pub(crate) formats: Vec<Format>,
    /// Also measure with `--exec CMD` (json, to a file); e.g. `cat >/dev/null`.
    #[arg(long, value_name = "CMD")]
    pub(crate) exec: Option<String>,
    /// Only the `--exec` runs.
    #[arg(long, requires = "exec")]
    pub(crate) exec_only: bool,
    /// `openevent listen --runtime`.
    #[arg(long, default_value = "tokio")]
    pub(crate) cli_runtime: String,
    /// Runs of each variant (each a fresh emulator and child).
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: u32,
    /// Directory of the output files (removed after each run unless `--keep`).
    #[arg(long, default_value = "target/loadtest-listen")]
    pub(crate) dir: PathBuf,
    /// Keep the output files.
    #[arg(long)]
    pub(crate) keep: bool,
    /// Worker threads of the emulator's tokio runtime.
    #[arg(long, default_value_t = 2)]
    pub(crate) server_threads: usize,
    /// More arguments for `openevent listen` (after `--`), e.g. `-- --max-in-flight 8`.
    #[arg(last = true)]
    pub(crate) extra: Vec<String>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// One variant: how the child is started.
#[derive(Debug, Clone, Serialize)]
struct Variant {
    format: Format,
    sink: Sink,
    exec: Option<String>,
    events: u32,
}

impl Variant {
    fn name(&self) -> String {
        let format = match self.format {
            Format::Json => "--json",
            Format::Readable => "readable",
        };
        let sink = match self.sink {
            Sink::File => "> file",
            Sink::Null => "> /dev/null",
        };
        match &self.exec {
            Some(cmd) => format!("{format} --exec '{cmd}' {sink}"),
            None => format!("{format} {sink}"),
        }
    }

    /// Whether the output must keep arrival order (`--exec` output may come in any order).
    fn ordered(&self) -> bool {
        self.exec.is_none()
    }
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
struct RunResult {
    variant: Variant,
    run: u32,
    elapsed_s: f64,
    events_per_s: f64,
    /// Child CPU over the burst (user + system, 10 ms resolution).
    cpu_s: Option<f64>,
    cpu_us_per_event: Option<f64>,
    /// Child user and system time separately.
    cpu_user_s: Option<f64>,
    cpu_system_s: Option<f64>,
    /// Child `VmHWM` over the burst.
    peak_rss_kib: Option<u64>,
    peak_reset: bool,
    /// This process (emulator + checker) over the burst.
    emulator_cpu_s: Option<f64>,
    /// Everything else on the machine over the burst.
    other_cpu_s: Option<f64>,
    /// Checker samples taken during the burst (file output only).
    samples: u64,
    /// Whether the acks came in arrival order (not required: with several events in flight
    /// their handlers may finish in any order once their lines are written).
    acks_in_order: bool,
    problems: Vec<String>,
}

/// Runs every asked variant `--runs` times; prints a table (or JSON). `Ok(false)` when a check
/// failed.
pub(crate) fn run(args: &ListenArgs) -> Result<bool, String> {
    let openevent = match &args.openevent {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this program: {e}"))?
            .with_file_name("openevent"),
    };
    if !openevent.is_file() {
        return Err(format!(
            "{} does not exist: build it with `cargo build --release -p openevent` or pass \
             --openevent PATH",
            openevent.display()
        ));
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| format!("cannot create {}: {e}", args.dir.display()))?;
    let variants = variants(args);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the emulator's tokio runtime: {e}"))?;
    let mut results = Vec::new();
    for variant in &variants {
        for run in 1..=args.runs.max(1) {
            eprintln!(
                "loadtest: openevent listen {} ({} events), run {run} ...",
                variant.name(),
                variant.events
            );
            let result = measure_run(&runtime, args, &openevent, variant, run)?;
            if !result.problems.is_empty() {
                eprintln!("loadtest: problems: {:?}", result.problems);
            }
            results.push(result);
        }
    }
    let ok = results.iter().all(|r| r.problems.is_empty());
    if args.json {
        let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", render(&results, &args.cli_runtime));
    }
    Ok(ok)
}

fn variants(args: &ListenArgs) -> Vec<Variant> {
    let mut out = Vec::new();
    if !args.exec_only {
        let formats = if args.formats.is_empty() {
            vec![Format::Json, Format::Readable]
        } else {
            args.formats.clone()
        };
        let sinks = if args.sinks.is_empty() {
            vec![Sink::File, Sink::Null]
        } else {
            args.sinks.clone()
        };
        for &format in &formats {
            for &sink in &sinks {
                out.push(Variant {
                    format,
                    sink,
                    exec: None,
                    events: args.events,
                });
            }
        }
    }
    if let Some(cmd) = &args.exec {
        out.push(Variant {
            format: Format::Json,
            sink: Sink::File,
            exec: Some(cmd.clone()),
            events: args.exec_events,
        });
    }
    out
}

/// The child `openevent listen`; killed on drop if still running.
struct ListenChild {
    child: Child,
}

impl Drop for ListenChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn measure_run(
    runtime: &tokio::runtime::Runtime,
    args: &ListenArgs,
    openevent: &Path,
    variant: &Variant,
    run: u32,
) -> Result<RunResult, String> {
    let config = ServerConfig::generated(u64::from(run)).record_acks(true);
    let emulator = runtime
        .block_on(Emulator::start(EmulatorOptions::new(config)))
        .map_err(|e| e.to_string())?;
    let out_path = args.dir.join(format!("stdout-{}.txt", std::process::id()));
    let err_path = args.dir.join(format!("stderr-{}.txt", std::process::id()));
    let result = drive(
        runtime, args, openevent, variant, run, &emulator, &out_path, &err_path,
    );
    runtime.block_on(emulator.shutdown());
    if !args.keep {
        let _ = std::fs::remove_file(&out_path);
        let _ = std::fs::remove_file(&err_path);
    }
    result
}

#[allow(clippy::too_many_lines, clippy::too_many_arguments)]
fn drive(
    runtime: &tokio::runtime::Runtime,
    args: &ListenArgs,
    openevent: &Path,
    variant: &Variant,
    run: u32,
    emulator: &EmulatorHandle,
    out_path: &Path,
    err_path: &Path,
) -> Result<RunResult, String> {
    let stdout = match variant.sink {
        Sink::File => File::create(out_path),
        Sink::Null => File::create("/dev/null"),
    }
    .map_err(|e| format!("cannot create the child's stdout: {e}"))?;
    let stderr =
        File::create(err_path).map_err(|e| format!("cannot create {}: {e}", err_path.display()))?;
    let credentials = emulator.credentials();
    let mut command = std::process::Command::new(openevent);
    command
        .arg("listen")
        .args(["--runtime", &args.cli_runtime])
        .env("OPEN_EVENT_APP_ID", credentials.app_id())
        .env("OPEN_EVENT_APP_SECRET", credentials.app_secret().expose())
        .env("OPEN_EVENT_ENDPOINT", emulator.url())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    if variant.format == Format::Json {
        command.arg("--json");
    }
    if let Some(cmd) = &variant.exec {
        command.args(["--exec", cmd]);
    }
    command.args(&args.extra);
    let child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", openevent.display()))?;
    let mut child = ListenChild { child };
    let pid = child.child.id();
    runtime
        .block_on(emulator.wait_for_connections(1, CONNECT_TIMEOUT))
        .map_err(|e| format!("openevent listen did not connect: {e}"))?;

    let event = EventSpec::chat_message(EVENT_TEXT);
    let mut pushed = push(emulator, WARMUP_EVENTS, &event)?;
    wait_for_acks(emulator, u64::from(WARMUP_EVENTS), Instant::now(), &child)?;

    std::thread::scope(|scope| {
        let watcher = match variant.sink {
            Sink::File => Some(Watcher::start(scope, emulator, out_path, &pushed[0])?),
            Sink::Null => None,
        };
        let peak_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let machine_before = measure::machine_cpu();
        let child_before = child_cpu(pid);
        let own_before = measure::cpu_time();
        let start = Instant::now();
        pushed.extend(push(emulator, variant.events, &event)?);
        let total = u64::from(WARMUP_EVENTS) + u64::from(variant.events);
        let elapsed = wait_for_acks(emulator, total, start, &child)?;
        let child_after = child_cpu(pid);
        let own = measure::cpu_time()
            .zip(own_before)
            .map(|(after, before)| after.since(before).total());
        let machine = measure::machine_cpu()
            .zip(machine_before)
            .map(|(after, before)| after.busy.saturating_sub(before.busy));
        let peak_rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| measure::parse_status_kib(&s, "VmHWM"));
        let child_cpu = child_after
            .zip(child_before)
            .map(|((au, asys), (bu, bsys))| (au.saturating_sub(bu), asys.saturating_sub(bsys)));
        let samples = match watcher {
            Some(w) => w.finish(),
            None => WatchReport::default(),
        };

        let mut problems = samples.problems.clone();
        stop(&mut child, &mut problems);
        let ordered = variant.ordered();
        let acks_in_order = check_acks(emulator, &pushed, &mut problems);
        if variant.sink == Sink::File {
            check_output(out_path, &pushed, ordered, &mut problems);
        }
        let summary = std::fs::read_to_string(err_path).unwrap_or_default();
        let want = format!("acked {total} x 200, 0 x 500");
        if !summary.contains(&want) {
            problems.push(format!(
                "the child's summary does not say `{want}`: {}",
                summary.lines().last().unwrap_or("(no stderr)")
            ));
        }

        let cpu_total = child_cpu.map(|(u, s)| u + s);
        let other = machine
            .zip(cpu_total)
            .zip(own)
            .map(|((m, c), o)| m.saturating_sub(c).saturating_sub(o));
        Ok(RunResult {
            variant: variant.clone(),
            run,
            elapsed_s: elapsed.as_secs_f64(),
            events_per_s: f64::from(variant.events) / elapsed.as_secs_f64(),
            cpu_s: cpu_total.map(|d| d.as_secs_f64()),
            cpu_us_per_event: cpu_total
                .map(|d| d.as_secs_f64() * 1e6 / f64::from(variant.events.max(1))),
            cpu_user_s: child_cpu.map(|(u, _)| u.as_secs_f64()),
            cpu_system_s: child_cpu.map(|(_, s)| s.as_secs_f64()),
            peak_rss_kib,
            peak_reset,
            emulator_cpu_s: own.map(|d| d.as_secs_f64()),
            other_cpu_s: other.map(|d| d.as_secs_f64()),
            samples: samples.samples,
            acks_in_order,
            problems,
        })
    })
}

/// Queues `events` in chunks of 10 000 (sending starts after the first); their nonces in order.
fn push(emulator: &EmulatorHandle, events: u32, event: &EventSpec) -> Result<Vec<String>, String> {
    let mut nonces = Vec::with_capacity(events as usize);
    let mut left = events;
    while left > 0 {
        let n = left.min(10_000);
        nonces.extend(emulator.push_many(n, event).map_err(|e| e.to_string())?);
        left -= n;
    }
    Ok(nonces)
}

/// Polls the ack counter every [`POLL`] until it reaches `target`; the time since `start`.
fn wait_for_acks(
    emulator: &EmulatorHandle,
    target: u64,
    start: Instant,
    child: &ListenChild,
) -> Result<Duration, String> {
    // Generous: slower than 2 000 events/s (or 100/s with --exec) is a failure worth a message.
    let timeout = Duration::from_secs(60) + Duration::from_millis(10 * target);
    loop {
        let now = Instant::now();
        let acked = emulator.with_report(|r| r.ack_counts.accepted);
        if acked >= target {
            return Ok(now - start);
        }
        if now - start > timeout {
            return Err(format!(
                "only {acked} of {target} events were acked within {timeout:?}"
            ));
        }
        if !Path::new(&format!("/proc/{}", child.child.id())).exists() {
            return Err(format!("openevent listen exited early ({acked} acks)"));
        }
        std::thread::sleep(POLL);
    }
}

/// User and system CPU time of process `pid` (every thread), from `/proc/PID/stat`.
fn child_cpu(pid: u32) -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Option<Duration> {
        let t: u64 = fields.get(i)?.parse().ok()?;
        Some(Duration::from_millis(t * 10))
    };
    Some((ticks(11)?, ticks(12)?))
}

/// Stops the child with SIGINT and waits for it; a non-zero exit is a problem.
fn stop(child: &mut ListenChild, problems: &mut Vec<String>) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.child.id()).unwrap_or(i32::MAX));
    if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT) {
        problems.push(format!("cannot send SIGINT to openevent listen: {e}"));
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match child.child.try_wait() {
            Ok(Some(status)) if status.success() => return,
            Ok(Some(status)) => {
                problems.push(format!(
                    "openevent listen exited with {status} after SIGINT"
                ));
                return;
            }
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                problems.push("openevent listen did not stop within 20 s of SIGINT".to_owned());
                return;
            }
            Err(e) => {
                problems.push(format!("cannot wait for openevent listen: {e}"));
                return;
            }
        }
    }
}

/// The acks the emulator recorded: every pushed event acked exactly once, with 200, on one
/// connection, no redelivery, no invalid frame. Returns whether they came in arrival order.
fn check_acks(emulator: &EmulatorHandle, pushed: &[String], problems: &mut Vec<String>) -> bool {
    emulator.with_report(|r| {
        let mut expect = |what: &str, got: u64, want: u64| {
            if got != want {
                problems.push(format!("{what}: {got}, expected {want}"));
            }
        };
        expect("connections", r.accepted() as u64, 1);
        expect("redeliveries", r.redeliveries.len() as u64, 0);
        expect("invalid client frames", r.client_errors.len() as u64, 0);
        expect("acks recorded", r.acks.len() as u64, pushed.len() as u64);
        expect(
            "acks that are not a first 200",
            r.acks
                .iter()
                .filter(|a| a.status != AckStatus::Accepted || a.code != 200)
                .count() as u64,
            0,
        );
        r.acks
            .iter()
            .zip(pushed)
            .all(|(ack, nonce)| &ack.nonce == nonce)
    })
}

/// The output file: every pushed nonce printed exactly once; in arrival order when `ordered`.
fn check_output(path: &Path, pushed: &[String], ordered: bool, problems: &mut Vec<String>) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(format!("cannot read the output file: {e}"));
            return;
        }
    };
    let known: HashMap<&str, usize> = pushed
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let printed: Vec<usize> = nonces(&text)
        .filter_map(|n| known.get(n).copied())
        .collect();
    let mut seen = vec![0u32; pushed.len()];
    for &i in &printed {
        seen[i] += 1;
    }
    let missing = seen.iter().filter(|&&c| c == 0).count();
    let repeated = seen.iter().filter(|&&c| c > 1).count();
    if missing > 0 || repeated > 0 {
        problems.push(format!(
            "output: {missing} events never printed, {repeated} printed more than once"
        ));
    }
    if !ordered {
        return;
    }
    if let Some(at) = printed.iter().enumerate().position(|(k, &i)| k != i) {
        problems.push(format!(
            "output: the event printed #{} is event #{} (not in arrival order)",
            at + 1,
            printed[at] + 1
        ));
    }
}

/// Every 16-character word of lowercase hex digits in `text` (the emulator's nonces), in order.
fn nonces(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 16 && w.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the watcher found.
#[derive(Debug, Default)]
struct WatchReport {
    samples: u64,
    problems: Vec<String>,
}

/// Samples, every [`POLL`], the emulator's acks and then the events in the output file. The
/// output is in arrival order, so once event #k was acked the file must hold at least k events
/// (a `k` above the count printed is an ack that left before its line was written).
struct Watcher<'scope> {
    stop: Arc<AtomicBool>,
    thread: ScopedJoinHandle<'scope, WatchReport>,
}

impl<'scope> Watcher<'scope> {
    fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        emulator: &'env EmulatorHandle,
        path: &Path,
        first_nonce: &str,
    ) -> Result<Self, String> {
        let first = u64::from_str_radix(first_nonce, 16)
            .map_err(|e| format!("the emulator's nonce {first_nonce} is not hex: {e}"))?;
        let mut file =
            File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = scope.spawn(move || {
            let mut report = WatchReport::default();
            let mut pending = Vec::new();
            let mut chunk = vec![0u8; 1 << 16];
            let mut printed = 0u64;
            let mut deficits = 0u64;
            let mut first_deficit = None;
            let mut seen_acks = 0;
            // The highest arrival number (1 = the first event) of an acked event so far.
            let mut acked = 0u64;
            while !stopped.load(Ordering::Relaxed) {
                emulator.with_report(|r| {
                    for ack in &r.acks[seen_acks..] {
                        if let Ok(n) = u64::from_str_radix(&ack.nonce, 16) {
                            acked = acked.max(n.wrapping_sub(first) + 1);
                        }
                    }
                    seen_acks = r.acks.len();
                });
                // Everything written so far.
                loop {
                    match file.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => pending.extend_from_slice(&chunk[..n]),
                    }
                }
                if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
                    let lines = String::from_utf8_lossy(&pending[..=end]);
                    printed += nonces(&lines).count() as u64;
                    pending.drain(..=end);
                }
                report.samples += 1;
                if printed < acked {
                    deficits += 1;
                    first_deficit.get_or_insert((acked, printed));
                }
                std::thread::sleep(POLL);
            }
            if let Some((acked, printed)) = first_deficit {
                report.problems.push(format!(
                    "in {deficits} of {} samples the emulator had an ack for an event the \
                     output file did not hold yet (first: event #{acked} acked, {printed} \
                     printed): an ack left before its line was written",
                    report.samples
                ));
            }
            report
        });
        Ok(Self { stop, thread })
    }

    fn finish(self) -> WatchReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Median, smallest and largest of `values`.
fn spread(values: &mut [f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some((
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    ))
}

fn render(results: &[RunResult], runtime: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nmachine: {}", measure::machine());
    let _ = writeln!(
        out,
        "client: openevent listen --runtime {runtime}, ACK mode, ws:// loopback, emulator in \
         this process; {WARMUP_EVENTS} warm-up events per run (not measured)\n"
    );
    let _ = writeln!(
        out,
        "| variant | events | runs | events/s median (min–max) | client CPU µs/event median (min–max) | sys share | peak RSS MiB (max) | other load (CPUs, max) | acks in arrival order | checks |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
    let mut names: Vec<String> = results.iter().map(|r| r.variant.name()).collect();
    names.dedup();
    for name in names {
        let runs: Vec<&RunResult> = results
            .iter()
            .filter(|r| r.variant.name() == name)
            .collect();
        let mut rates: Vec<f64> = runs.iter().map(|r| r.events_per_s).collect();
        let mut cpus: Vec<f64> = runs.iter().filter_map(|r| r.cpu_us_per_event).collect();
        let sys: f64 = runs.iter().filter_map(|r| r.cpu_system_s).sum::<f64>()
            / runs.iter().filter_map(|r| r.cpu_s).sum::<f64>().max(1e-9);
        let rss = runs.iter().filter_map(|r| r.peak_rss_kib).max();
        let other = runs
            .iter()
            .filter_map(|r| r.other_cpu_s.map(|o| o / r.elapsed_s))
            .fold(0.0, f64::max);
        let fmt = |s: Option<(f64, f64, f64)>, d: usize| {
            s.map_or_else(
                || "n/a".to_owned(),
                |(m, lo, hi)| format!("{m:.d$} ({lo:.d$}–{hi:.d$})"),
            )
        };
        let problems: usize = runs.iter().map(|r| r.problems.len()).sum();
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {:.0}% | {} | {other:.2} | {}/{} | {} |",
            runs[0].variant.events,
            runs.len(),
            fmt(spread(&mut rates), 0),
            fmt(spread(&mut cpus), 1),
            sys * 100.0,
            rss.map_or_else(|| "n/a".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0)),
            runs.iter().filter(|r| r.acks_in_order).count(),
            runs.len(),
            if problems == 0 {
                "passed".to_owned()
            } else {
                format!("{problems} problems")
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_found_in_json_and_readable_output() {
        let json = r#"{"time":"x","nonce":"00000000000000a1","data":{"id":"zz"}}"#;
        assert_eq!(nonces(json).collect::<Vec<_>>(), ["00000000000000a1"]);
        let readable = "2026-01-01T00:00:00Z  kso.app_chat.message.create  00000000000000a2\n  \
                        text \"load test\"\n";
        assert_eq!(nonces(readable).collect::<Vec<_>>(), ["00000000000000a2"]);
        assert_eq!(nonces("0000000000000a3 00000000000000g4").count(), 0);
    }

    #[test]
    fn spread_is_median_min_max() {
        assert_eq!(spread(&mut [3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(spread(&mut []), None);
    }
}
