//! What the client process measures about itself: CPU time (`getrusage(RUSAGE_SELF)`, every
//! thread of the process) and memory (`VmRSS` / `VmHWM` of `/proc/self/status`). Linux only;
//! elsewhere the figures are missing (`None`), never made up.

use std::time::Duration;

/// User and system CPU time of the whole process so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuTime {
    pub(crate) user: Duration,
    pub(crate) system: Duration,
}

impl CpuTime {
    /// The CPU time between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Self) -> Self {
        Self {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub(crate) fn total(self) -> Duration {
        self.user + self.system
    }
}

/// The process's CPU time (microsecond resolution), or `None` where `getrusage` is missing.
#[cfg(unix)]
pub(crate) fn cpu_time() -> Option<CpuTime> {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike as _;

    let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_micros(t.num_microseconds().max(0).unsigned_abs())
    };
    Some(CpuTime {
        user: micros(usage.user_time()),
        system: micros(usage.system_time()),
    })
}

/// The process's CPU time, or `None` where `getrusage` is missing.
#[cfg(not(unix))]
pub(crate) fn cpu_time() -> Option<CpuTime> {
    None
}

/// Resident set size now, in KiB (`VmRSS`).
pub(crate) fn rss_kib() -> Option<u64> {
    status_field("VmRSS")
}

/// Peak resident set size since the start or the last [`reset_peak_rss`], in KiB (`VmHWM`).
pub(crate) fn peak_rss_kib() -> Option<u64> {
    status_field("VmHWM")
}

/// Resets the peak RSS to the current RSS (`echo 5 > /proc/self/clear_refs`, Linux 4.0+), so
/// that [`peak_rss_kib`] covers what follows only. Returns whether it worked.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_kib(&status, name)
}

/// The value in KiB of the line `name:   1234 kB` of a `/proc/*/status` text.
pub(crate) fn parse_status_kib(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let mut words = rest.split_whitespace();
        let value = words.next()?.parse().ok()?;
        (words.next() == Some("kB")).then_some(value)
    })
}

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: u64 = 100;

/// CPU time of every process on the machine, from `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MachineCpu {
    /// Busy time summed over every CPU (user, nice, system, irq, softirq).
    pub(crate) busy: Duration,
    /// Time the hypervisor ran something else while a CPU wanted to run.
    pub(crate) steal: Duration,
}

/// The machine's CPU time so far (10 ms resolution).
pub(crate) fn machine_cpu() -> Option<MachineCpu> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_cpu(&stat)
}

/// Parses the `cpu` line of a `/proc/stat` text.
pub(crate) fn parse_machine_cpu(stat: &str) -> Option<MachineCpu> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    Some(MachineCpu {
        busy: ticks_to_duration(busy),
        steal: ticks_to_duration(at(7)),
    })
}

/// User plus system CPU time of process `pid` (every thread) so far, from `/proc/PID/stat`
/// (10 ms resolution).
pub(crate) fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_process_cpu(&stat)
}

/// Parses `utime` and `stime` (fields 14 and 15) of a `/proc/PID/stat` text.
pub(crate) fn parse_process_cpu(stat: &str) -> Option<Duration> {
    // The command name (field 2) may contain spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ticks_to_duration(utime + stime))
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * (1000 / USER_HZ))
}

/// A short description of the machine: CPU model, logical CPUs, kernel.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(
        |_| std::env::consts::OS.to_owned(),
        |k| format!("Linux {}", k.trim()),
    );
    format!("{cpu}, {cpus} logical CPUs, {kernel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_parsed_by_exact_name() {
        let status = "Name:\tloadtest\nVmHWM:\t   10240 kB\nVmRSS:\t    8192 kB\nVmRSSx:\t 1 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(10240));
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(8192));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        assert_eq!(parse_status_kib("VmRSS:\t12 MB\n", "VmRSS"), None);
    }

    #[test]
    fn cpu_time_differences_never_go_negative() {
        let a = CpuTime {
            user: Duration::from_millis(5),
            system: Duration::from_millis(2),
        };
        let b = CpuTime {
            user: Duration::from_millis(9),
            system: Duration::from_millis(1),
        };
        let d = b.since(a);
        assert_eq!(d.user, Duration::from_millis(4));
        assert_eq!(d.system, Duration::ZERO);
        assert_eq!(d.total(), Duration::from_millis(4));
    }

    #[test]
    fn proc_stat_texts_are_parsed() {
        let stat = "cpu  100 5 50 9000 7 3 2 4 0 0\ncpu0 50 2 25 4500 3 1 1 2 0 0\n";
        let cpu = parse_machine_cpu(stat).unwrap();
        assert_eq!(cpu.busy, Duration::from_millis(1600));
        assert_eq!(cpu.steal, Duration::from_millis(40));
        let process = "4242 (loadtest (x) y) S 1 2 3 0 -1 4194560 500 0 0 0 250 30 0 0 20 0 5";
        assert_eq!(
            parse_process_cpu(process),
            Some(Duration::from_millis(2800))
        );
        assert_eq!(parse_process_cpu("4242 (short) S 1"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_read_its_own_figures() {
        assert!(rss_kib().is_some_and(|kib| kib > 0));
        assert!(peak_rss_kib().is_some_and(|kib| kib > 0));
        let cpu = cpu_time().expect("getrusage works on Linux");
        assert!(cpu.total() < Duration::from_secs(24 * 3600));
        assert!(process_cpu(std::process::id()).is_some());
        assert!(machine_cpu().is_some_and(|m| m.busy > Duration::ZERO));
    }
}
