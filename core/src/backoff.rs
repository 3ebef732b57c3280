//! The reconnect policy (docs/protocol.md §6).
//!
//! `delay(n) = min(base * multiplier^(n-1), max) * (1 ± jitter)`, where `n` counts consecutive
//! attempts since the last *stable* connection. The jitter comes from a seeded PRNG, so a run
//! is reproducible from its seed.
//!
//! ```
//! use std::time::Duration;
//! use open_event_core::backoff::Backoff;
//! use open_event_core::config::Config;
//!
//! let config = Config::builder("AK123456", "sk098765").build().unwrap();
//! let mut backoff = Backoff::new(&config, 7);
//! let first = backoff.next_delay().unwrap();
//! assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200));
//! let second = backoff.next_delay().unwrap();
//! assert!(second >= Duration::from_millis(1600) && second <= Duration::from_millis(2400));
//! ```

use std::time::Duration;

use crate::config::Config;

/// Exponential backoff with jitter, a retry budget, a one-shot server delay and a reset that
/// only a stable connection earns.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    multiplier: f64,
    jitter: f64,
    max_retries: Option<u32>,
    attempt: u32,
    server_delay: Option<Duration>,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A policy with the config's settings and a PRNG seeded with `seed`.
    pub fn new(config: &Config, seed: u64) -> Self {
        Self {
            base: config.reconnect_base(),
            max: config.reconnect_max(),
            multiplier: config.reconnect_multiplier(),
            jitter: config.reconnect_jitter(),
            max_retries: config.max_retries(),
            attempt: 0,
            server_delay: None,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Counts one more attempt and returns how long to wait before it, or `None` when the retry
    /// budget is spent.
    ///
    /// A delay set by [`Backoff::set_server_delay`] is used once, exactly, instead of the
    /// formula (docs/protocol.md §6: a GoAway's `reconnect_ms` applies to the next attempt only).
    pub fn next_delay(&mut self) -> Option<Duration> {
        let attempt = self.attempt.saturating_add(1);
        if self.max_retries.is_some_and(|max| attempt > max) {
            self.server_delay = None;
            return None;
        }
        self.attempt = attempt;
        if let Some(delay) = self.server_delay.take() {
            return Some(delay);
        }
        let nominal = self.nominal(attempt);
        let factor = 1.0 + self.jitter * (2.0 * self.rng.f64() - 1.0);
        Some(Duration::from_secs_f64(nominal.as_secs_f64() * factor))
    }

    /// The delay of attempt `n` (1-based) before jitter: `min(base * multiplier^(n-1), max)`.
    pub fn nominal(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(1024) as i32;
        let scaled = self.base.as_secs_f64() * self.multiplier.powi(exponent);
        if scaled.is_finite() && scaled < self.max.as_secs_f64() {
            Duration::from_secs_f64(scaled)
        } else {
            self.max
        }
    }

    /// The bounds every delay of attempt `n` falls in: nominal × (1 ± jitter).
    pub fn bounds(&self, attempt: u32) -> (Duration, Duration) {
        let nominal = self.nominal(attempt).as_secs_f64();
        (
            Duration::from_secs_f64(nominal * (1.0 - self.jitter)),
            Duration::from_secs_f64(nominal * (1.0 + self.jitter)),
        )
    }

    /// Uses `delay` for the next attempt only (a GoAway's `reconnect_ms`).
    pub fn set_server_delay(&mut self, delay: Duration) {
        self.server_delay = Some(delay);
    }

    /// Forgets the attempt count: called once a connection has stayed up for the stable period.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Consecutive attempts since the last stable connection.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(
        f: impl FnOnce(crate::config::ConfigBuilder) -> crate::config::ConfigBuilder,
    ) -> Backoff {
        Backoff::new(&f(Config::builder("a", "s")).build().unwrap(), 1)
    }

    #[test]
    fn default_schedule_matches_protocol_table() {
        let mut b = backoff(|c| c);
        let table = [
            (800, 1200),
            (1600, 2400),
            (3200, 4800),
            (6400, 9600),
            (12_800, 19_200),
            (25_600, 38_400),
            (48_000, 72_000),
            (48_000, 72_000),
        ];
        for (lo, hi) in table {
            let d = b.next_delay().unwrap().as_millis();
            assert!((lo..=hi).contains(&d), "{d} not in {lo}..={hi}");
        }
    }

    #[test]
    fn server_delay_applies_once() {
        let mut b = backoff(|c| c.reconnect_jitter(0.0));
        b.set_server_delay(Duration::from_millis(5000));
        assert_eq!(b.next_delay(), Some(Duration::from_millis(5000)));
        assert_eq!(b.next_delay(), Some(Duration::from_millis(2000)));
    }

    #[test]
    fn retries_run_out_and_reset_restores_them() {
        let mut b = backoff(|c| c.max_retries(Some(2)));
        assert!(b.next_delay().is_some());
        assert!(b.next_delay().is_some());
        assert_eq!(b.next_delay(), None);
        b.reset();
        assert!(b.next_delay().is_some());
    }

    #[test]
    fn huge_attempts_saturate_at_max() {
        let b = backoff(|c| c.reconnect_jitter(0.0));
        assert_eq!(b.nominal(u32::MAX), Duration::from_secs(60));
    }
}
