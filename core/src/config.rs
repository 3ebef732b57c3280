//! Configuration: every knob of the protocol with its default, validated when built.
//!
//! ```
//! use std::time::Duration;
//! use open_event_core::config::Config;
//!
//! let config = Config::builder("AK123456", "sk098765")
//!     .pong_timeout(Duration::from_secs(60))
//!     .max_in_flight(16)
//!     .build()
//!     .expect("valid config");
//! assert_eq!(config.endpoint().to_string(), "wss://openapi.wps.cn/v7/event/ws");
//!
//! let err = Config::builder("AK123456", "sk098765").reconnect_jitter(1.5).build().unwrap_err();
//! assert_eq!(err.field(), "reconnect_jitter");
//! ```

use std::fmt;
use std::time::Duration;

use http::Uri;

use crate::{AppSecret, Credentials};

/// The platform's production endpoint.
pub const DEFAULT_ENDPOINT: &str = "wss://openapi.wps.cn/v7/event/ws";
/// The path appended to a base URL (see [`ConfigBuilder::base_url`]).
pub const ENDPOINT_PATH: &str = "/v7/event/ws";
/// The protocol this crate speaks: the WPS open platform v7 event long connection.
pub const PROTOCOL: &str = "WPS open platform event long connection (v7 event ws, /v7/event/ws): \
    KSO-1 signed handshake, ACK mode, HMAC-SHA256 signed and AES-256-CBC encrypted events";

/// A validated configuration. Build it with [`Config::builder`]; share it as `Arc<Config>`.
///
/// Defaults (PROTOCOL.md §4 and the choices of this project):
///
/// | setting | default |
/// |---|---|
/// | endpoint | `wss://openapi.wps.cn/v7/event/ws` |
/// | ack mode | on |
/// | auto reconnect | on |
/// | reconnect base / max / multiplier / jitter | 1 s / 60 s / 2.0 / 0.2 |
/// | max retries | unlimited |
/// | stable period (backoff resets after) | 30 s |
/// | connect timeout / write timeout | 10 s / 10 s |
/// | pong timeout (server silence) | 90 s |
/// | dedup | on, 10 min window, 10 000 nonces; a failed event's redelivery is acked with its first outcome |
/// | max in flight deliveries | 64 |
/// | read backlog (events queued past the in-flight bound) | 64 |
/// | delivery budget (slow-handler notice) | 3 s |
/// | drain timeout (graceful close) | 5 s |
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    credentials: Credentials,
    endpoint: Uri,
    /// Whether the client asks for ACK mode (`X-Ack-Mode: required`) and acks each event.
    ack_mode: bool,
    /// Whether a lost connection is re-established.
    auto_reconnect: bool,
    /// Backoff base interval (delay of attempt 1 before jitter).
    reconnect_base: Duration,
    /// Backoff cap.
    reconnect_max: Duration,
    /// Backoff growth factor per attempt.
    reconnect_multiplier: f64,
    /// Relative jitter: a delay is scaled by a uniform factor in `1 ± jitter`.
    reconnect_jitter: f64,
    /// Maximum consecutive failed attempts before giving up; `None` is unlimited.
    max_retries: Option<u32>,
    /// How long a connection must stay up before the backoff attempt counter resets.
    stable_period: Duration,
    /// Bound on the opening handshake (TCP, TLS and WebSocket upgrade).
    connect_timeout: Duration,
    /// Bound on every write: a send not confirmed in time means the connection is dead.
    write_timeout: Duration,
    /// Server silence after which the connection counts as dead.
    pong_timeout: Duration,
    /// Whether redelivered nonces are recognised and not delivered twice.
    dedup: bool,
    /// How long a nonce is remembered.
    dedup_window: Duration,
    /// How many nonces are remembered at most.
    dedup_capacity: usize,
    /// Whether a nonce whose handler failed is forgotten, so a redelivery runs the handler again.
    dedup_retry_errors: bool,
    /// Maximum deliveries handed to the application and not yet completed.
    max_in_flight: usize,
    /// Events queued in the core while `max_in_flight` deliveries are out; when it is full too,
    /// the adapter is told to pause reading.
    read_backlog: usize,
    /// A delivery running longer than this is reported (the platform expects 3 s).
    delivery_budget: Duration,
    /// How long a graceful close waits for in-flight deliveries.
    drain_timeout: Duration,
}

impl Config {
    /// Starts a builder with every default; only the credentials are required.
    pub fn builder(app_id: impl Into<String>, app_secret: impl Into<AppSecret>) -> ConfigBuilder {
        ConfigBuilder::new(Credentials::new(app_id, app_secret))
    }

    /// The app's credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The full WebSocket endpoint URL.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }

    /// Whether the client asks for ACK mode (`X-Ack-Mode: required`) and acks each event.
    pub fn ack_mode(&self) -> bool {
        self.ack_mode
    }

    /// Whether a lost connection is re-established.
    pub fn auto_reconnect(&self) -> bool {
        self.auto_reconnect
    }

    /// Backoff base interval (delay of attempt 1 before jitter).
    pub fn reconnect_base(&self) -> Duration {
        self.reconnect_base
    }

    /// Backoff cap.
    pub fn reconnect_max(&self) -> Duration {
        self.reconnect_max
    }

    /// Backoff growth factor per attempt.
    pub fn reconnect_multiplier(&self) -> f64 {
        self.reconnect_multiplier
    }

    /// Relative jitter: a delay is scaled by a uniform factor in `1 ± jitter`.
    pub fn reconnect_jitter(&self) -> f64 {
        self.reconnect_jitter
    }

    /// Maximum consecutive failed attempts before giving up; `None` is unlimited.
    pub fn max_retries(&self) -> Option<u32> {
        self.max_retries
    }

    /// How long a connection must stay up before the backoff attempt counter resets.
    pub fn stable_period(&self) -> Duration {
        self.stable_period
    }

    /// Bound on the opening handshake (TCP, TLS and WebSocket upgrade).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Bound on every write: a send not confirmed in time means the connection is dead.
    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// Server silence after which the connection counts as dead.
    pub fn pong_timeout(&self) -> Duration {
        self.pong_timeout
    }

    /// Whether redelivered nonces are recognised and not delivered twice.
    pub fn dedup(&self) -> bool {
        self.dedup
    }

    /// How long a nonce is remembered.
    pub fn dedup_window(&self) -> Duration {
        self.dedup_window
    }

    /// How many nonces are remembered at most.
    pub fn dedup_capacity(&self) -> usize {
        self.dedup_capacity
    }

    /// Whether a failed nonce is forgotten so its redelivery is handled again.
    pub fn dedup_retry_errors(&self) -> bool {
        self.dedup_retry_errors
    }

    /// Maximum deliveries handed to the application and not yet completed.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Events queued in the core while `max_in_flight` deliveries are out; when it is full too,
    /// the adapter is told to pause reading.
    pub fn read_backlog(&self) -> usize {
        self.read_backlog
    }

    /// A delivery running longer than this is reported (the platform expects 3 s).
    pub fn delivery_budget(&self) -> Duration {
        self.delivery_budget
    }

    /// How long a graceful close waits for in-flight deliveries.
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("credentials", &self.credentials)
            .field("endpoint", &self.endpoint.to_string())
            .field("ack_mode", &self.ack_mode)
            .field("auto_reconnect", &self.auto_reconnect)
            .field("reconnect_base", &self.reconnect_base)
            .field("reconnect_max", &self.reconnect_max)
            .field("reconnect_multiplier", &self.reconnect_multiplier)
            .field("reconnect_jitter", &self.reconnect_jitter)
            .field("max_retries", &self.max_retries)
            .field("stable_period", &self.stable_period)
            .field("connect_timeout", &self.connect_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("pong_timeout", &self.pong_timeout)
            .field("dedup", &self.dedup)
            .field("dedup_window", &self.dedup_window)
            .field("dedup_capacity", &self.dedup_capacity)
            .field("dedup_retry_errors", &self.dedup_retry_errors)
            .field("max_in_flight", &self.max_in_flight)
            .field("read_backlog", &self.read_backlog)
            .field("delivery_budget", &self.delivery_budget)
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

/// Builds a [`Config`]; every setter documents its default and allowed range, and
/// [`ConfigBuilder::build`] checks them all.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    endpoint: EndpointChoice,
    config: Config,
}

#[derive(Clone, Debug)]
enum EndpointChoice {
    Default,
    Full(String),
    Base(String),
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = value;
                self
            }
        )*
    };
}

impl ConfigBuilder {
    /// A builder with every default.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            endpoint: EndpointChoice::Default,
            config: Config {
                credentials,
                endpoint: Uri::from_static(DEFAULT_ENDPOINT),
                ack_mode: true,
                auto_reconnect: true,
                reconnect_base: Duration::from_millis(1000),
                reconnect_max: Duration::from_millis(60_000),
                reconnect_multiplier: 2.0,
                reconnect_jitter: 0.2,
                max_retries: None,
                stable_period: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(10),
                write_timeout: Duration::from_secs(10),
                pong_timeout: Duration::from_secs(90),
                dedup: true,
                dedup_window: Duration::from_secs(600),
                dedup_capacity: 10_000,
                dedup_retry_errors: false,
                max_in_flight: 64,
                read_backlog: 64,
                delivery_budget: Duration::from_secs(3),
                drain_timeout: Duration::from_secs(5),
            },
        }
    }

    /// A full endpoint URL (`ws://` or `wss://`, with host; path and query are kept and signed).
    /// Default: `wss://openapi.wps.cn/v7/event/ws`. Overrides [`ConfigBuilder::base_url`].
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = EndpointChoice::Full(url.into());
        self
    }

    /// A base URL (scheme and host, e.g. for private deployments) to which `/v7/event/ws` is
    /// appended. `https://` becomes `wss://` and `http://` becomes `ws://`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint = EndpointChoice::Base(url.into());
        self
    }

    setters! {
        /// ACK mode (`X-Ack-Mode: required`, one ack per event). Default: on.
        ack_mode: bool;
        /// Reconnect after a lost connection. Default: on. Off: a lost connection stops the
        /// client with [`crate::connection::StopReason::ConnectionLost`].
        auto_reconnect: bool;
        /// Backoff base interval. Default 1 s; allowed 1 ms ..= 1 h.
        reconnect_base: Duration;
        /// Backoff cap. Default 60 s; allowed `reconnect_base` ..= 24 h.
        reconnect_max: Duration;
        /// Backoff multiplier. Default 2.0; allowed 1.0 ..= 10.0.
        reconnect_multiplier: f64;
        /// Backoff jitter (±fraction). Default 0.2; allowed 0.0 ..= 1.0.
        reconnect_jitter: f64;
        /// Give up after this many consecutive failed attempts. Default `None` (unlimited).
        max_retries: Option<u32>;
        /// A connection up this long resets the backoff. Default 30 s; allowed 0 ..= 1 h.
        stable_period: Duration;
        /// Opening handshake bound. Default 10 s; allowed 1 ms ..= 10 min.
        connect_timeout: Duration;
        /// Write bound. Default 10 s; allowed 1 ms ..= 10 min.
        write_timeout: Duration;
        /// Server silence bound. Default 90 s; allowed 1 ms ..= 1 h.
        pong_timeout: Duration;
        /// Duplicate suppression. Default on.
        dedup: bool;
        /// How long a nonce is remembered. Default 10 min; allowed 1 ms ..= 24 h.
        dedup_window: Duration;
        /// How many nonces are remembered (about 200 bytes each). Default 10 000; allowed
        /// 1 ..= 10 000 000. When full, new nonces are delivered but not remembered until old
        /// ones leave the window ([`Notice::DedupFull`](crate::connection::Notice::DedupFull)).
        dedup_capacity: usize;
        /// What a redelivery of an event whose handler *failed* gets. Default off: it is not
        /// delivered again and is acked with the first outcome (500 and its message), so a
        /// failing event is handled at most once per dedup window. On: the failed nonce is
        /// forgotten, and the redelivery reaches the handler again (a retry).
        dedup_retry_errors: bool;
        /// In-flight delivery bound. Default 64; allowed 1 ..= 65 536.
        max_in_flight: usize;
        /// Events queued past the in-flight bound before reading pauses. Default 64; allowed
        /// 0 ..= 65 536.
        read_backlog: usize;
        /// Slow-delivery notice threshold. Default 3 s; allowed 1 ms ..= 1 h.
        delivery_budget: Duration;
        /// Graceful close drain bound. Default 5 s; allowed 0 ..= 10 min.
        drain_timeout: Duration;
    }

    /// Validates every value and returns the config.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad field, the value's problem and the allowed range.
    pub fn build(self) -> Result<Config, ConfigError> {
        let Self {
            endpoint,
            config: mut c,
        } = self;
        check_app_id(c.credentials.app_id())?;
        if c.credentials.app_secret().is_empty() {
            return Err(ConfigError::new(
                "app_secret",
                "is empty",
                "the app secret shown with your app id on the WPS open platform console",
            ));
        }
        c.endpoint = parse_endpoint(endpoint)?;
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        check_duration("reconnect_base", c.reconnect_base, ms(1), secs(3600))?;
        check_duration(
            "reconnect_max",
            c.reconnect_max,
            c.reconnect_base,
            secs(86_400),
        )?;
        check_f64("reconnect_multiplier", c.reconnect_multiplier, 1.0, 10.0)?;
        check_f64("reconnect_jitter", c.reconnect_jitter, 0.0, 1.0)?;
        check_duration("stable_period", c.stable_period, Duration::ZERO, secs(3600))?;
        check_duration("connect_timeout", c.connect_timeout, ms(1), secs(600))?;
        check_duration("write_timeout", c.write_timeout, ms(1), secs(600))?;
        check_duration("pong_timeout", c.pong_timeout, ms(1), secs(3600))?;
        check_duration("dedup_window", c.dedup_window, ms(1), secs(86_400))?;
        check_count("dedup_capacity", c.dedup_capacity, 1, 10_000_000)?;
        check_count("max_in_flight", c.max_in_flight, 1, 65_536)?;
        check_count("read_backlog", c.read_backlog, 0, 65_536)?;
        check_duration("delivery_budget", c.delivery_budget, ms(1), secs(3600))?;
        check_duration("drain_timeout", c.drain_timeout, Duration::ZERO, secs(600))?;
        Ok(c)
    }
}

/// A configuration value out of its allowed range. Names the field, the problem and what is
/// allowed; never contains the app secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config `{field}`: {problem}; expected {allowed}")]
pub struct ConfigError {
    field: &'static str,
    problem: String,
    allowed: String,
}

impl ConfigError {
    fn new(field: &'static str, problem: impl Into<String>, allowed: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
            allowed: allowed.into(),
        }
    }

    /// The name of the bad field (the builder method's name).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with the value.
    pub fn problem(&self) -> &str {
        &self.problem
    }

    /// What the field accepts.
    pub fn allowed(&self) -> &str {
        &self.allowed
    }
}

fn check_app_id(app_id: &str) -> Result<(), ConfigError> {
    let allowed = "the app id shown on the WPS open platform console (non-empty, printable ASCII, \
                   no spaces or `:`)";
    if app_id.is_empty() {
        return Err(ConfigError::new("app_id", "is empty", allowed));
    }
    if let Some(bad) = app_id.chars().find(|c| !c.is_ascii_graphic() || *c == ':') {
        return Err(ConfigError::new(
            "app_id",
            format!("contains {bad:?}"),
            allowed,
        ));
    }
    Ok(())
}

fn parse_endpoint(choice: EndpointChoice) -> Result<Uri, ConfigError> {
    let (field, text) = match choice {
        EndpointChoice::Default => return Ok(Uri::from_static(DEFAULT_ENDPOINT)),
        EndpointChoice::Full(url) => ("endpoint", url),
        EndpointChoice::Base(base) => {
            let base = base.trim_end_matches('/');
            let base = if let Some(rest) = base.strip_prefix("https://") {
                format!("wss://{rest}")
            } else if let Some(rest) = base.strip_prefix("http://") {
                format!("ws://{rest}")
            } else {
                base.to_owned()
            };
            ("base_url", format!("{base}{ENDPOINT_PATH}"))
        }
    };
    let allowed = "a ws:// or wss:// URL with a host, e.g. wss://openapi.wps.cn/v7/event/ws";
    let uri: Uri = text
        .parse()
        .map_err(|e| ConfigError::new(field, format!("`{text}` is not a URL ({e})"), allowed))?;
    match uri.scheme_str() {
        Some("ws" | "wss") => {}
        Some(other) => {
            return Err(ConfigError::new(
                field,
                format!("scheme `{other}` is not a WebSocket scheme"),
                allowed,
            ));
        }
        None => {
            return Err(ConfigError::new(
                field,
                format!("`{text}` has no scheme"),
                allowed,
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(ConfigError::new(
            field,
            format!("`{text}` has no host"),
            allowed,
        ));
    }
    Ok(uri)
}

fn check_duration(
    field: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::new(
            field,
            format!("{value:?} is out of range"),
            format!("{min:?} ..= {max:?}"),
        ));
    }
    Ok(())
}

fn check_f64(field: &'static str, value: f64, min: f64, max: f64) -> Result<(), ConfigError> {
    if !(value.is_finite() && value >= min && value <= max) {
        return Err(ConfigError::new(
            field,
            format!("{value} is out of range"),
            format!("{min:?} ..= {max:?}"),
        ));
    }
    Ok(())
}

fn check_count(
    field: &'static str,
    value: usize,
    min: usize,
    max: usize,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::new(
            field,
            format!("{value} is out of range"),
            format!("{min} ..= {max}"),
        ));
    }
    Ok(())
}

/// Generates, on a builder type with a field `$field: ConfigBuilder`, one delegating setter per
/// knob of [`ConfigBuilder`] (same names, same defaults and ranges), so every runtime's
/// `ClientBuilder` offers every config knob without repeating them by hand. The field may be
/// nested: `delegate_config_setters!(options.config)` reaches `self.options.config`.
///
/// ```
/// use open_event_core::config::ConfigBuilder;
///
/// pub struct MyBuilder {
///     config: ConfigBuilder,
/// }
///
/// impl MyBuilder {
///     open_event_core::delegate_config_setters!(config);
/// }
///
/// let b = MyBuilder { config: open_event_core::config::Config::builder("a", "s") };
/// let config = b.max_in_flight(8).ack_mode(false).config.build().unwrap();
/// assert_eq!(config.max_in_flight(), 8);
///
/// pub struct Options {
///     config: ConfigBuilder,
/// }
///
/// pub struct NestedBuilder {
///     options: Options,
/// }
///
/// impl NestedBuilder {
///     open_event_core::delegate_config_setters!(options.config);
/// }
///
/// let options = Options { config: open_event_core::config::Config::builder("a", "s") };
/// let b = NestedBuilder { options }.dedup(false);
/// assert!(!b.options.config.build().unwrap().dedup());
/// ```
#[macro_export]
macro_rules! delegate_config_setters {
    (@one { $($field:ident).+ } $name:ident: $ty:ty) => {
        #[doc = concat!("Sets `", stringify!($name), "`; see `open_event_core::config::ConfigBuilder::", stringify!($name), "` for its default and allowed range.")]
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.$($field).+ = self.$($field).+.$name(value);
            self
        }
    };
    (@each $field:tt; $($name:ident: $ty:ty,)*) => {
        $($crate::delegate_config_setters!(@one $field $name: $ty);)*
    };
    ($($field:ident).+) => {
        $crate::delegate_config_setters!(@each { $($field).+ };
            endpoint: impl Into<String>,
            base_url: impl Into<String>,
            ack_mode: bool,
            auto_reconnect: bool,
            reconnect_base: ::std::time::Duration,
            reconnect_max: ::std::time::Duration,
            reconnect_multiplier: f64,
            reconnect_jitter: f64,
            max_retries: Option<u32>,
            stable_period: ::std::time::Duration,
            connect_timeout: ::std::time::Duration,
            write_timeout: ::std::time::Duration,
            pong_timeout: ::std::time::Duration,
            dedup: bool,
            dedup_window: ::std::time::Duration,
            dedup_capacity: usize,
            dedup_retry_errors: bool,
            max_in_flight: usize,
            read_backlog: usize,
            delivery_budget: ::std::time::Duration,
            drain_timeout: ::std::time::Duration,
        );
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ConfigBuilder {
        Config::builder("AK123456", "sk098765")
    }

    #[test]
    fn defaults_match_the_protocol() {
        let c = builder().build().unwrap();
        assert!(c.ack_mode() && c.auto_reconnect() && c.dedup());
        assert_eq!(c.reconnect_base(), Duration::from_secs(1));
        assert_eq!(c.reconnect_max(), Duration::from_secs(60));
        assert_eq!(c.reconnect_multiplier(), 2.0);
        assert_eq!(c.reconnect_jitter(), 0.2);
        assert_eq!(c.max_retries(), None);
        assert_eq!(c.write_timeout(), Duration::from_secs(10));
        assert_eq!(c.connect_timeout(), Duration::from_secs(10));
        assert_eq!(c.pong_timeout(), Duration::from_secs(90));
        assert_eq!(c.stable_period(), Duration::from_secs(30));
        assert_eq!(c.dedup_window(), Duration::from_secs(600));
        assert_eq!(c.dedup_capacity(), 10_000);
        assert_eq!(c.max_in_flight(), 64);
        assert_eq!(c.delivery_budget(), Duration::from_secs(3));
        assert_eq!(c.drain_timeout(), Duration::from_secs(5));
        assert_eq!(c.endpoint().to_string(), DEFAULT_ENDPOINT);
    }

    #[test]
    fn base_url_gets_the_path_and_a_ws_scheme() {
        let c = builder().base_url("https://example.com/").build().unwrap();
        assert_eq!(c.endpoint().to_string(), "wss://example.com/v7/event/ws");
        let c = builder().base_url("http://127.0.0.1:8080").build().unwrap();
        assert_eq!(c.endpoint().to_string(), "ws://127.0.0.1:8080/v7/event/ws");
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases: Vec<(ConfigBuilder, &str)> = vec![
            (Config::builder("", "s"), "app_id"),
            (Config::builder("a:b", "s"), "app_id"),
            (Config::builder("a b", "s"), "app_id"),
            (Config::builder("a", ""), "app_secret"),
            (builder().endpoint("https://x/ws"), "endpoint"),
            (builder().endpoint("not a url"), "endpoint"),
            (builder().endpoint("/v7/event/ws"), "endpoint"),
            (builder().base_url("ftp://x"), "base_url"),
            (builder().reconnect_base(Duration::ZERO), "reconnect_base"),
            (
                builder().reconnect_max(Duration::from_millis(10)),
                "reconnect_max",
            ),
            (builder().reconnect_multiplier(0.5), "reconnect_multiplier"),
            (
                builder().reconnect_multiplier(f64::NAN),
                "reconnect_multiplier",
            ),
            (builder().reconnect_jitter(-0.1), "reconnect_jitter"),
            (builder().connect_timeout(Duration::ZERO), "connect_timeout"),
            (builder().write_timeout(Duration::ZERO), "write_timeout"),
            (builder().pong_timeout(Duration::ZERO), "pong_timeout"),
            (builder().dedup_capacity(0), "dedup_capacity"),
            (builder().max_in_flight(0), "max_in_flight"),
            (builder().delivery_budget(Duration::ZERO), "delivery_budget"),
            (
                builder().drain_timeout(Duration::from_secs(601)),
                "drain_timeout",
            ),
        ];
        for (b, field) in cases {
            let err = b.build().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().contains(field));
            assert!(!err.to_string().contains("sk098765"));
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = builder().build().unwrap();
        let text = format!("{c:?} {:?}", builder());
        assert!(!text.contains("sk098765"), "{text}");
        assert!(text.contains("AK123456"));
    }
}
