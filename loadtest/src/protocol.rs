//! What the client process and the emulator child say to each other over the child's stdin and
//! stdout: one command per line in, one JSON line out.
//!
//! The child first prints a [`Hello`] (where to connect, with which credentials), then answers
//! every command line with one [`Reply`]:
//!
//! | command | reply |
//! |---|---|
//! | `connected MS` | [`Reply::Connected`] once a client connected (at most `MS` ms) |
//! | `push N` | [`Reply::Pushed`]: `N` events pushed at once, time from the push to the last ack |
//! | `rate R N` | [`Reply::Paced`]: `N` events at `R` per second, with the ack latencies |
//! | `report` | [`Reply::Report`]: the server's counters |
//! | `quit` | [`Reply::Bye`], then the child exits (it also exits when stdin closes) |

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The child's first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Hello {
    /// The emulator's `ws://` endpoint.
    pub(crate) url: String,
    /// The app id to connect with.
    pub(crate) app_id: String,
    /// The made-up app secret of this emulator run (not a real credential).
    pub(crate) app_secret: String,
}

/// A command line, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Wait until a client has connected.
    Connected { timeout: Duration },
    /// Push `events` at once; reply when all are acked.
    Push { events: u32 },
    /// Push `events` at `rate` per second; reply when all are acked.
    Rate { rate: u32, events: u32 },
    /// The server's counters.
    Report,
    /// Shut down.
    Quit,
}

impl Command {
    /// Parses one command line.
    pub(crate) fn parse(line: &str) -> Result<Self, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let number = |word: &str| -> Result<u32, String> {
            word.parse::<u32>()
                .map_err(|_| format!("`{word}` is not a whole number (in `{line}`)"))
        };
        match words.as_slice() {
            ["connected", ms] => Ok(Self::Connected {
                timeout: Duration::from_millis(u64::from(number(ms)?)),
            }),
            ["push", n] => Ok(Self::Push { events: number(n)? }),
            ["rate", r, n] if number(r)? > 0 => Ok(Self::Rate {
                rate: number(r)?,
                events: number(n)?,
            }),
            ["rate", _, _] => Err("the rate must be at least 1 event per second".to_owned()),
            ["report"] => Ok(Self::Report),
            ["quit"] => Ok(Self::Quit),
            _ => Err(format!(
                "unknown command `{line}`: use `connected MS`, `push N`, `rate R N`, `report` or \
                 `quit`"
            )),
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connected { timeout } => write!(f, "connected {}", timeout.as_millis()),
            Self::Push { events } => write!(f, "push {events}"),
            Self::Rate { rate, events } => write!(f, "rate {rate} {events}"),
            Self::Report => f.write_str("report"),
            Self::Quit => f.write_str("quit"),
        }
    }
}

/// The child's answer to one command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub(crate) enum Reply {
    /// A client is connected.
    Connected,
    /// Every pushed event was acked.
    Pushed {
        /// Events pushed.
        events: u32,
        /// From just before the push to the moment the last ack was seen (±1 ms: the child
        /// polls the ack counter every millisecond).
        elapsed_s: f64,
        /// How long queueing the events in the server took (in chunks; the first ones are sent
        /// meanwhile).
        enqueue_s: f64,
    },
    /// Every paced event was acked.
    Paced {
        /// Events pushed.
        events: u32,
        /// The push rate asked for (events per second).
        rate: u32,
        /// From just before the push to the last ack.
        elapsed_s: f64,
        /// Ack latencies of the events acked with 200.
        latency: Latency,
    },
    /// The server's counters.
    Report(ServerSummary),
    /// The child is shutting down.
    Bye,
    /// The command failed.
    Error {
        /// Why.
        message: String,
    },
}

/// A latency distribution, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Latency {
    /// How many latencies.
    pub(crate) samples: usize,
    /// Smallest.
    pub(crate) min_us: f64,
    /// Mean.
    pub(crate) mean_us: f64,
    /// Median.
    pub(crate) p50_us: f64,
    /// 90th percentile.
    pub(crate) p90_us: f64,
    /// 99th percentile.
    pub(crate) p99_us: f64,
    /// 99.9th percentile.
    pub(crate) p999_us: f64,
    /// Largest.
    pub(crate) max_us: f64,
}

impl Latency {
    /// Nearest-rank percentiles of `samples` (sorted in place); all zero when empty.
    pub(crate) fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let us = |d: Duration| d.as_nanos() as f64 / 1000.0;
        // Nearest rank, in integers: the smallest value with at least `permille`/1000 of the
        // samples at or below it.
        let rank = |permille: usize| {
            let n = samples.len();
            let k = (permille * n).div_ceil(1000);
            us(samples[k.clamp(1, n) - 1])
        };
        let total: Duration = samples.iter().sum();
        let mean_us = us(total) / samples.len() as f64;
        Self {
            samples: samples.len(),
            min_us: us(samples[0]),
            mean_us,
            p50_us: rank(500),
            p90_us: rank(900),
            p99_us: rank(990),
            p999_us: rank(999),
            max_us: rank(1000),
        }
    }
}

/// What the emulator saw, summed up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServerSummary {
    /// Handshakes accepted.
    pub(crate) connections: usize,
    /// Handshakes rejected.
    pub(crate) rejected: usize,
    /// Events pushed.
    pub(crate) events_pushed: u64,
    /// Event frames sent, redeliveries included.
    pub(crate) events_sent: u64,
    /// Redeliveries.
    pub(crate) redeliveries: usize,
    /// Acks with 200 that completed an event.
    pub(crate) acked: u64,
    /// Acks with another code.
    pub(crate) negative: u64,
    /// Acks for events already done.
    pub(crate) duplicate: u64,
    /// Acks for nonces never sent.
    pub(crate) unknown: u64,
    /// Frames from the client that were not valid acks.
    pub(crate) client_errors: usize,
    /// Events not acked yet.
    pub(crate) pending: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_bad_ones_say_what_is_accepted() {
        for command in [
            Command::Connected {
                timeout: Duration::from_millis(2500),
            },
            Command::Push { events: 200_000 },
            Command::Rate {
                rate: 10_000,
                events: 50_000,
            },
            Command::Report,
            Command::Quit,
        ] {
            assert_eq!(Command::parse(&command.to_string()), Ok(command));
        }
        let err = Command::parse("push lots").unwrap_err();
        assert!(err.contains("`lots` is not a whole number"), "{err}");
        let err = Command::parse("rate 0 10").unwrap_err();
        assert!(err.contains("at least 1"), "{err}");
        let err = Command::parse("jump").unwrap_err();
        assert!(err.contains("`push N`"), "{err}");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=1000).rev().map(Duration::from_micros).collect();
        let latency = Latency::of(&mut samples);
        assert_eq!(latency.samples, 1000);
        assert_eq!(latency.min_us, 1.0);
        assert_eq!(latency.p50_us, 500.0);
        assert_eq!(latency.p90_us, 900.0);
        assert_eq!(latency.p99_us, 990.0);
        assert_eq!(latency.p999_us, 999.0);
        assert_eq!(latency.max_us, 1000.0);
        assert!((latency.mean_us - 500.5).abs() < 1e-6);

        let mut one = vec![Duration::from_micros(42)];
        let latency = Latency::of(&mut one);
        assert_eq!(
            (latency.p50_us, latency.p99_us, latency.max_us),
            (42.0, 42.0, 42.0)
        );
        assert_eq!(Latency::of(&mut []), Latency::default());
    }

    #[test]
    fn replies_are_one_json_line_each() {
        let reply = Reply::Pushed {
            events: 3,
            elapsed_s: 0.5,
            enqueue_s: 0.001,
        };
        let line = serde_json::to_string(&reply).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""reply":"pushed""#), "{line}");
        let back: Reply = serde_json::from_str(&line).unwrap();
        assert!(matches!(back, Reply::Pushed { events: 3, .. }));
    }
}
