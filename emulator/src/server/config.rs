//! The emulated platform's settings.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use open_event_core::Credentials;
use open_event_core::config::ENDPOINT_PATH;

/// How the emulated server behaves. Every setting has a default close to the platform's; the
/// setters consume and return the config so they chain.
///
/// | setting | default |
/// |---|---|
/// | path | `/v7/event/ws` |
/// | ping interval | 30 s (the platform's) |
/// | heartbeat timeout (GoAway `heartbeat_timeout` when pongs stop) | 90 s |
/// | max clock skew of `X-Kso-Date` | 15 min |
/// | GoAway close delay (GoAway, then the close frame) | 100 ms |
/// | close timeout (our close frame, then the socket is dropped) | 1 s |
/// | push rate | unlimited |
/// | notify replaced (GoAway `connection_replaced` to a replaced connection) | on |
/// | record acks (one [`AckRecord`](super::AckRecord) per ack) | on |
///
/// ```
/// use std::time::Duration;
/// use open_event_core::Credentials;
/// use open_event_emulator::server::ServerConfig;
///
/// let config = ServerConfig::new(Credentials::new("AK123456", "sk098765"))
///     .ping_interval(Duration::from_millis(50));
/// assert_eq!(config.ping_interval, Duration::from_millis(50));
///
/// // Or let the emulator make up an app: the same seed gives the same credentials.
/// let a = ServerConfig::generated(7);
/// let b = ServerConfig::generated(7);
/// assert_eq!(a.credentials, b.credentials);
/// ```
#[derive(Clone)]
pub struct ServerConfig {
    /// The app the server serves (handshakes of other apps get 401).
    pub credentials: Credentials,
    /// The path of the WebSocket endpoint.
    pub path: String,
    /// How often a Ping goes out on an open connection (at least 1 ms).
    pub ping_interval: Duration,
    /// How long a ping may wait for its pong before GoAway `heartbeat_timeout`; `None` is off.
    pub heartbeat_timeout: Option<Duration>,
    /// How far `X-Kso-Date` may be from the server's clock.
    pub max_clock_skew: Duration,
    /// Delay between a GoAway and the close frame.
    pub goaway_close_delay: Duration,
    /// Wait for the client's close frame before the socket is dropped.
    pub close_timeout: Duration,
    /// Events per second at most; `None` is unlimited.
    pub push_rate: Option<NonZeroU32>,
    /// Whether a replaced connection gets GoAway `connection_replaced` (else a bare close).
    pub notify_replaced: bool,
    /// Whether every ack is kept in [`Report::acks`](super::Report::acks).
    pub record_acks: bool,
    /// Random drops, lost acks and read stalls for soak runs; `None` (the default) is off.
    pub chaos: Option<super::Chaos>,
    nonce_base: u64,
}

impl ServerConfig {
    /// The platform serving the app with these credentials, with every default.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            path: ENDPOINT_PATH.to_owned(),
            ping_interval: Duration::from_secs(30),
            heartbeat_timeout: Some(Duration::from_secs(90)),
            max_clock_skew: Duration::from_secs(15 * 60),
            goaway_close_delay: Duration::from_millis(100),
            close_timeout: Duration::from_secs(1),
            push_rate: None,
            notify_replaced: true,
            record_acks: true,
            chaos: None,
            nonce_base: 0,
        }
    }

    /// A made-up app (id `AKEMU` + 11 characters, a 32-character secret) derived from `seed`,
    /// with every default. The nonces of its events also start from a seed-derived base, so two
    /// emulators with different seeds never reuse a nonce.
    pub fn generated(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let app_id: String = std::iter::repeat_with(|| rng.uppercase())
            .take(11)
            .collect();
        let secret: String = std::iter::repeat_with(|| rng.alphanumeric())
            .take(32)
            .collect();
        let mut config = Self::new(Credentials::new(format!("AKEMU{app_id}"), secret));
        // Keep the low 32 bits free so a counter never wraps into another run's range soon.
        config.nonce_base = rng.u64(..) & !0xffff_ffff;
        config
    }

    /// The path of the WebSocket endpoint (a handshake elsewhere gets 404). Default
    /// `/v7/event/ws`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// How often a WebSocket Ping is sent on an open connection. Default 30 s; values below
    /// 1 ms are raised to 1 ms.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// When a ping has waited this long for its pong, the server sends GoAway
    /// `heartbeat_timeout` and closes. Default 90 s; `None` turns the check off.
    pub fn heartbeat_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.heartbeat_timeout = timeout;
        self
    }

    /// How far the handshake's `X-Kso-Date` may be from the server's clock. Default 15 min.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// How long after a GoAway the server sends its close frame. Default 100 ms.
    pub fn goaway_close_delay(mut self, delay: Duration) -> Self {
        self.goaway_close_delay = delay;
        self
    }

    /// How long after its close frame the server waits for the client's before it drops the
    /// socket. Default 1 s.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Events per second at most (pushes queue up behind the rate). Default `None`: as fast as
    /// they are pushed.
    pub fn push_rate(mut self, rate: Option<NonZeroU32>) -> Self {
        self.push_rate = rate;
        self
    }

    /// Whether a connection replaced by a newer one of the same app gets GoAway
    /// `connection_replaced` before it is closed (the platform's behaviour). Off: it gets only a
    /// close frame (code 1000). Default on.
    pub fn notify_replaced(mut self, notify: bool) -> Self {
        self.notify_replaced = notify;
        self
    }

    /// Whether every ack is kept as an [`AckRecord`](super::AckRecord) in the report (the
    /// counters are kept either way). Turn it off for long load runs. Default on.
    pub fn record_acks(mut self, record: bool) -> Self {
        self.record_acks = record;
        self
    }

    /// Misbehaves at random for soak runs (see [`Chaos`](super::Chaos)). Default off.
    pub fn chaos(mut self, chaos: super::Chaos) -> Self {
        self.chaos = Some(chaos);
        self
    }

    pub(crate) fn nonce_base(&self) -> u64 {
        self.nonce_base
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("credentials", &self.credentials)
            .field("path", &self.path)
            .field("ping_interval", &self.ping_interval)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("goaway_close_delay", &self.goaway_close_delay)
            .field("close_timeout", &self.close_timeout)
            .field("push_rate", &self.push_rate)
            .field("notify_replaced", &self.notify_replaced)
            .field("record_acks", &self.record_acks)
            .field("chaos", &self.chaos)
            .finish_non_exhaustive()
    }
}
