//! The default command: runs every asked phase of every asked runtime, each in a fresh client
//! process (`loadtest client ...`, which starts its own emulator child), then prints a table or
//! JSON and checks the targets.

use std::fmt::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::{Phase, PhaseResult, Runtime, WARMUP_EVENTS};
use crate::measure;

/// Throughput tokio must reach (events/s, acks included).
const TOKIO_MIN_THROUGHPUT: f64 = 100_000.0;
/// The p99 ack latency every runtime must stay under at the latency phase's rate, in µs.
const MAX_P99_US: f64 = 1_000.0;
/// How far the other runtimes may be from tokio.
const MAX_FACTOR: f64 = 2.0;
/// RSS growth over the memory check (from the first interval's sample on) that still counts as
/// flat, in KiB.
const FLAT_TOLERANCE_KIB: u64 = 2_048;
/// Average CPUs kept busy by other processes above which a run is flagged as noisy.
const NOISY_LOAD: f64 = 0.05;

/// Which runtimes to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RuntimeChoice {
    /// tokio, async-std, smol and blocking.
    All,
    /// `open-event-tokio`, multi-thread runtime.
    Tokio,
    /// `open-event-tokio`, current-thread runtime (not part of `all`).
    TokioCurrentThread,
    /// `open-event-async-std` under the async-std executor.
    AsyncStd,
    /// `open-event-async-std` under the smol executor.
    Smol,
    /// `open-event-blocking`.
    Blocking,
    /// `open-event-blocking` with `inline_handlers(true)` (not part of `all`).
    BlockingInline,
    /// Not the SDK: a minimal hand-written acker (one write per ack), for scale (not part of
    /// `all`).
    Baseline,
}

impl RuntimeChoice {
    fn runtimes(self) -> Vec<Runtime> {
        match self {
            Self::All => Runtime::ALL.to_vec(),
            Self::Tokio => vec![Runtime::Tokio],
            Self::TokioCurrentThread => vec![Runtime::TokioCurrentThread],
            Self::AsyncStd => vec![Runtime::AsyncStd],
            Self::Smol => vec![Runtime::Smol],
            Self::Blocking => vec![Runtime::Blocking],
            Self::BlockingInline => vec![Runtime::BlockingInline],
            Self::Baseline => vec![Runtime::Baseline],
        }
    }
}

/// Options of the benchmark.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BenchArgs {
    /// The runtime(s) to measure.
    #[arg(long, value_enum, default_value = "all")]
    pub(crate) runtime: RuntimeChoice,
    /// Events of the throughput phase.
    #[arg(long, default_value_t = 200_000)]
    pub(crate) events: u32,
    /// Push rate of the latency phase, events per second.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) rate: u32,
    /// Length of the latency phase, seconds.
    #[arg(long, default_value_t = 5)]
    pub(crate) duration: u32,
    /// Also run the memory check with this many events (e.g. 1000000).
    #[arg(long, value_name = "EVENTS")]
    pub(crate) memory_check: Option<u32>,
    /// RSS sample interval of the memory check, in events.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) sample_every: u32,
    /// Worker threads of the emulator child's tokio runtime.
    #[arg(long, default_value_t = 2)]
    pub(crate) server_threads: usize,
    /// Skip the throughput phase.
    #[arg(long)]
    pub(crate) no_throughput: bool,
    /// Skip the latency phase.
    #[arg(long)]
    pub(crate) no_latency: bool,
    /// Before each run, wait up to this many seconds for the machine to be quiet (other
    /// processes using less than 5% of one CPU over a second); 0 does not wait.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub(crate) wait_quiet: u64,
    /// Print the results as JSON instead of tables.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) tuning: crate::client::Tuning,
}

/// Everything `--json` prints.
#[derive(Debug, Serialize)]
struct Output {
    machine: String,
    warmup_events: u32,
    results: Vec<PhaseResult>,
    targets: Vec<TargetCheck>,
}

/// One target, checked.
#[derive(Debug, Clone, Serialize)]
struct TargetCheck {
    target: String,
    runtime: Runtime,
    measured: String,
    met: bool,
}

/// Runs the benchmark.
pub(crate) fn run(args: &BenchArgs) -> Result<bool, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find this program to start the client processes: {e}"))?;
    let mut phases = Vec::new();
    if !args.no_throughput {
        phases.push((Phase::Throughput, args.events));
    }
    if !args.no_latency {
        phases.push((Phase::Latency, args.rate.saturating_mul(args.duration)));
    }
    if let Some(events) = args.memory_check {
        phases.push((Phase::Memory, events));
    }
    if phases.is_empty() {
        return Err("every phase is switched off: nothing to measure".to_owned());
    }
    if args.rate == 0 {
        return Err("--rate must be at least 1 event per second".to_owned());
    }

    let mut results = Vec::new();
    for runtime in args.runtime.runtimes() {
        for &(phase, events) in &phases {
            if args.wait_quiet > 0 {
                wait_quiet(Duration::from_secs(args.wait_quiet));
            }
            eprintln!(
                "loadtest: {} {phase:?}, {events} events ...",
                runtime.name()
            );
            let output = std::process::Command::new(&exe)
                .args(["client", "--runtime", runtime.name(), "--phase"])
                .arg(phase_name(phase))
                .args(["--events", &events.to_string()])
                .args(["--rate", &args.rate.to_string()])
                .args(["--sample-every", &args.sample_every.to_string()])
                .args(["--server-threads", &args.server_threads.to_string()])
                .args(args.tuning.to_args())
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot start a client process: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "the {} {phase:?} run failed ({}): {}",
                    runtime.name(),
                    output.status,
                    String::from_utf8_lossy(&output.stdout).trim()
                ));
            }
            let result: PhaseResult = serde_json::from_slice(&output.stdout).map_err(|e| {
                format!(
                    "the {} {phase:?} run printed no result: {e}",
                    runtime.name()
                )
            })?;
            results.push(result);
        }
    }

    let targets = check_targets(&results);
    let all_met = targets.iter().all(|t| t.met)
        && results
            .iter()
            .all(|r| r.problems.is_empty() && r.unexpected_notices.is_empty());
    let output = Output {
        machine: measure::machine(),
        warmup_events: WARMUP_EVENTS,
        results,
        targets,
    };
    if args.json {
        let text = serde_json::to_string_pretty(&output).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", render(&output));
    }
    Ok(all_met)
}

/// Waits until the machine's CPUs were less than [`NOISY_LOAD`] busy over one second, at most
/// `max`.
fn wait_quiet(max: Duration) {
    let start = Instant::now();
    let mut said = false;
    loop {
        let Some(before) = measure::machine_cpu() else {
            return;
        };
        std::thread::sleep(Duration::from_secs(1));
        let Some(after) = measure::machine_cpu() else {
            return;
        };
        let load = after.busy.saturating_sub(before.busy).as_secs_f64();
        if load < NOISY_LOAD {
            return;
        }
        if start.elapsed() >= max {
            eprintln!("loadtest: the machine is still busy ({load:.2} CPUs); measuring anyway");
            return;
        }
        if !said {
            eprintln!("loadtest: waiting for the machine to be quiet ({load:.2} CPUs busy) ...");
            said = true;
        }
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Throughput => "throughput",
        Phase::Latency => "latency",
        Phase::Memory => "memory",
    }
}

fn find(results: &[PhaseResult], runtime: Runtime, phase: Phase) -> Option<&PhaseResult> {
    results
        .iter()
        .find(|r| r.runtime == runtime && r.phase == phase)
}

fn check_targets(results: &[PhaseResult]) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    let tokio_tp = find(results, Runtime::Tokio, Phase::Throughput);
    let tokio_lat = find(results, Runtime::Tokio, Phase::Latency).and_then(|r| r.latency);
    if let Some(tokio) = tokio_tp {
        checks.push(TargetCheck {
            target: format!("throughput >= {TOKIO_MIN_THROUGHPUT:.0} events/s with acks"),
            runtime: Runtime::Tokio,
            measured: format!("{:.0} events/s", tokio.events_per_s),
            met: tokio.events_per_s >= TOKIO_MIN_THROUGHPUT,
        });
    }
    for result in results {
        let name = result.runtime;
        match result.phase {
            Phase::Throughput if name != Runtime::Tokio => {
                if let Some(tokio) = tokio_tp {
                    checks.push(TargetCheck {
                        target: format!("throughput within {MAX_FACTOR}x of tokio"),
                        runtime: name,
                        measured: format!(
                            "{:.0} events/s = tokio / {:.2}",
                            result.events_per_s,
                            tokio.events_per_s / result.events_per_s
                        ),
                        met: result.events_per_s * MAX_FACTOR >= tokio.events_per_s,
                    });
                }
            }
            Phase::Latency => {
                let Some(latency) = result.latency else {
                    continue;
                };
                checks.push(TargetCheck {
                    target: format!(
                        "p99 ack latency <= {MAX_P99_US:.0} us at {} events/s",
                        result.rate.unwrap_or_default()
                    ),
                    runtime: name,
                    measured: format!("p99 {:.0} us", latency.p99_us),
                    met: latency.p99_us <= MAX_P99_US,
                });
                if let Some(tokio) = tokio_lat.filter(|_| name != Runtime::Tokio) {
                    checks.push(TargetCheck {
                        target: format!("p99 ack latency within {MAX_FACTOR}x of tokio"),
                        runtime: name,
                        measured: format!(
                            "p99 {:.0} us = tokio x {:.2}",
                            latency.p99_us,
                            latency.p99_us / tokio.p99_us
                        ),
                        met: latency.p99_us <= tokio.p99_us * MAX_FACTOR,
                    });
                }
            }
            Phase::Memory => {
                let (met, measured) = flatness(&result.rss_samples);
                checks.push(TargetCheck {
                    target: format!(
                        "RSS flat over {} events (growth after the first {} <= {} KiB)",
                        result.events,
                        result.rss_samples.get(1).map_or(0, |s| s.events),
                        FLAT_TOLERANCE_KIB
                    ),
                    runtime: name,
                    measured,
                    met,
                });
            }
            Phase::Throughput => {}
        }
    }
    checks
}

/// Whether the RSS stayed flat after the first interval: the samples from the second one on
/// never exceed it by more than [`FLAT_TOLERANCE_KIB`].
fn flatness(samples: &[crate::client::RssSample]) -> (bool, String) {
    let Some(base) = samples.get(1) else {
        return (false, "fewer than two RSS samples".to_owned());
    };
    let max = samples[1..]
        .iter()
        .map(|s| s.rss_kib)
        .max()
        .unwrap_or(base.rss_kib);
    let last = samples.last().map_or(base.rss_kib, |s| s.rss_kib);
    let growth = max.saturating_sub(base.rss_kib);
    (
        growth <= FLAT_TOLERANCE_KIB,
        format!(
            "{} KiB at {} events, {} KiB at {} events, max growth {} KiB",
            base.rss_kib,
            base.events,
            last,
            samples.last().map_or(0, |s| s.events),
            growth
        ),
    )
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "n/a".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.decimals$}"))
}

/// The emulator child's CPU time per measured event, µs.
fn server_us_per_event(r: &PhaseResult) -> Option<f64> {
    r.server_cpu_s.map(|s| s * 1e6 / f64::from(r.events.max(1)))
}

/// How many CPUs other processes kept busy on average during the phase.
fn other_load(r: &PhaseResult) -> Option<f64> {
    r.other_cpu_s.map(|s| s / r.elapsed_s)
}

/// The human-readable report.
fn render(output: &Output) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nmachine: {}", output.machine);
    let _ = writeln!(
        out,
        "client: ACK mode, no-op handler, ws:// loopback; emulator in a child process; \
         {} warm-up events per run (not measured)",
        output.warmup_events
    );
    let results = &output.results;

    let throughput: Vec<&PhaseResult> = results
        .iter()
        .filter(|r| r.phase == Phase::Throughput)
        .collect();
    if !throughput.is_empty() {
        let _ = writeln!(
            out,
            "\nThroughput (push all at once; first push -> last ack)"
        );
        let _ = writeln!(
            out,
            "| runtime | events | events/s | client CPU µs/event (user+sys) | client peak RSS MiB | emulator CPU µs/event | other load (CPUs) |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for r in throughput {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {} | {} | {} | {} |",
                r.runtime.name(),
                r.events,
                r.events_per_s,
                opt(r.cpu_us_per_event, 2),
                mib(r.peak_rss_kib),
                opt(server_us_per_event(r), 1),
                opt(other_load(r), 2)
            );
        }
    }

    let latency: Vec<&PhaseResult> = results
        .iter()
        .filter(|r| r.phase == Phase::Latency)
        .collect();
    if !latency.is_empty() {
        let _ = writeln!(
            out,
            "\nAck latency (server side: event frame handed to the writer -> ack read), µs"
        );
        let _ = writeln!(
            out,
            "| runtime | rate/s | events | min | p50 | p90 | p99 | p99.9 | max | client CPU µs/event | client peak RSS MiB | other load (CPUs) |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in latency {
            let l = r.latency.unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} |",
                r.runtime.name(),
                r.rate.unwrap_or_default(),
                r.events,
                l.min_us,
                l.p50_us,
                l.p90_us,
                l.p99_us,
                l.p999_us,
                l.max_us,
                opt(r.cpu_us_per_event, 2),
                mib(r.peak_rss_kib),
                opt(other_load(r), 2)
            );
        }
    }

    let memory: Vec<&PhaseResult> = results
        .iter()
        .filter(|r| r.phase == Phase::Memory)
        .collect();
    if !memory.is_empty() {
        let _ = writeln!(out, "\nMemory check (client VmRSS, MiB, by events handled)");
        for r in memory {
            let samples: Vec<String> = r
                .rss_samples
                .iter()
                .map(|s| format!("{}k: {}", s.events / 1000, mib(Some(s.rss_kib))))
                .collect();
            let _ = writeln!(
                out,
                "- {}: {} events at {:.0} events/s, {} µs CPU/event, peak {} MiB; before the \
                 client {} MiB, connected {} MiB; {}",
                r.runtime.name(),
                r.events,
                r.events_per_s,
                opt(r.cpu_us_per_event, 2),
                mib(r.peak_rss_kib),
                mib(r.rss_before_client_kib),
                mib(r.rss_connected_kib),
                samples.join(", ")
            );
        }
    }

    let _ = writeln!(out, "\nChecks");
    for r in results {
        if let Some(load) = other_load(r).filter(|&l| l > NOISY_LOAD) {
            let _ = writeln!(
                out,
                "- NOISY {} {:?}: other processes kept {load:.2} CPUs busy during the run; \
                 rerun on a quiet machine",
                r.runtime.name(),
                r.phase
            );
        }
    }
    for r in results {
        if !r.problems.is_empty() || !r.unexpected_notices.is_empty() {
            let _ = writeln!(
                out,
                "- PROBLEM {} {:?}: {} {}",
                r.runtime.name(),
                r.phase,
                r.problems.join("; "),
                r.unexpected_notices.join("; ")
            );
        }
    }
    for r in results {
        if !r.dedup_full_notices.is_empty() {
            let _ = writeln!(
                out,
                "- NOTE {} {:?}: dedup memory full ({} notice(s)), as expected when a burst passes \
                 dedup_capacity within the settle time (docs/protocol.md §7): later events of the \
                 burst are not remembered for redeliveries",
                r.runtime.name(),
                r.phase,
                r.dedup_full_notices.len()
            );
        }
    }
    let _ = writeln!(
        out,
        "- every run: each event handled once and acked once with 200 on one connection: {}",
        if results.iter().all(|r| r.problems.is_empty()) {
            "yes"
        } else {
            "NO (see above)"
        }
    );
    for t in &output.targets {
        let _ = writeln!(
            out,
            "- [{}] {} {}: {}",
            if t.met { "met" } else { "MISSED" },
            t.runtime.name(),
            t.target,
            t.measured
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RssSample;

    fn samples(rss: &[u64]) -> Vec<RssSample> {
        rss.iter()
            .zip(0u64..)
            .map(|(&rss_kib, i)| RssSample {
                events: i * 100_000,
                rss_kib,
            })
            .collect()
    }

    #[test]
    fn memory_is_flat_when_it_stops_growing_after_the_first_interval() {
        // Growth during the first interval (buffers, dedup set filling up) is allowed.
        let (met, text) = flatness(&samples(&[8_000, 14_000, 14_100, 13_900, 14_500]));
        assert!(met, "{text}");
        assert!(text.contains("max growth 500 KiB"), "{text}");
        let (met, text) = flatness(&samples(&[8_000, 14_000, 16_000, 18_000, 20_000]));
        assert!(!met, "{text}");
        let (met, _) = flatness(&samples(&[8_000]));
        assert!(!met);
    }
}
