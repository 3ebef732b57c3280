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

pub mod env;
pub mod file;
mod settings;

pub use settings::{Key, Kind, Settings, SettingsError, SettingsErrorKind};

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::duration_text::format_duration;

use http::Uri;

use crate::{AppSecret, Credentials};

/// The platform's production endpoint.
pub const DEFAULT_ENDPOINT: &str = "wss://openapi.wps.cn/v7/event/ws";
/// The path appended to a base URL (see [`ConfigBuilder::base_url`]).
pub const ENDPOINT_PATH: &str = "/v7/event/ws";
/// The protocol this crate speaks: the WPS open platform v7 event long connection.
pub const PROTOCOL: &str = "WPS open platform event long connection (v7 event ws, /v7/event/ws): \
    KSO-1 signed handshake, ACK mode, HMAC-SHA256 signed and AES-256-CBC encrypted events";

/// The settings table: every setting once, with its getter docs, type, default, setter docs and
/// allowed range. It hands the table to the macro named in braces (followed by that macro's own
/// arguments); [`Config`], [`ConfigBuilder`] and [`delegate_config_setters!`] are generated from
/// it, so adding a setting is one entry here.
///
/// Entry: `getter docs, name: type = default, setter { setter docs } [check kind(|c| range)];`.
/// The range is a closure of the config being built, so a bound may be another setting.
#[doc(hidden)]
#[macro_export]
macro_rules! __config_settings {
    ({ $($callback:tt)* } $($args:tt)*) => {
        $($callback)*! { $($args)* ;
            /// Whether the client asks for ACK mode (`X-Ack-Mode: required`) and acks each event.
            ack_mode: bool = true,
            setter {
                /// ACK mode (`X-Ack-Mode: required`, one ack per event). Default: on.
            };
            /// Whether a lost connection is re-established.
            auto_reconnect: bool = true,
            setter {
                /// Reconnect after a lost connection. Default: on. Off: a lost connection stops the
                /// client with [`crate::connection::StopReason::ConnectionLost`].
            };
            /// Backoff base interval (delay of attempt 1 before jitter).
            reconnect_base: ::std::time::Duration = ::std::time::Duration::from_millis(1000),
            setter {
                /// Backoff base interval. Default 1 s; allowed 1 ms ..= 1 h.
            }
            check duration(|_| ms(1)..=secs(3600));
            /// Backoff cap.
            reconnect_max: ::std::time::Duration = ::std::time::Duration::from_millis(60_000),
            setter {
                /// Backoff cap. Default 60 s; allowed `reconnect_base` ..= 24 h.
            }
            check duration(|c| c.reconnect_base..=secs(86_400));
            /// Backoff growth factor per attempt.
            reconnect_multiplier: f64 = 2.0,
            setter {
                /// Backoff multiplier. Default 2.0; allowed 1.0 ..= 10.0.
            }
            check float(|_| 1.0..=10.0);
            /// Relative jitter: a delay is scaled by a uniform factor in `1 ± jitter`.
            reconnect_jitter: f64 = 0.2,
            setter {
                /// Backoff jitter (±fraction). Default 0.2; allowed 0.0 ..= 1.0.
            }
            check float(|_| 0.0..=1.0);
            /// Maximum consecutive failed attempts before giving up; `None` is unlimited.
            max_retries: Option<u32> = None,
            setter {
                /// Give up after this many consecutive failed attempts. Default `None` (unlimited).
            };
            /// How long a connection must stay up before the backoff attempt counter resets.
            stable_period: ::std::time::Duration = ::std::time::Duration::from_secs(30),
            setter {
                /// A connection up this long resets the backoff. Default 30 s; allowed 0 ..= 1 h.
            }
            check duration(|_| Duration::ZERO..=secs(3600));
            /// Bound on the opening handshake (TCP, TLS and WebSocket upgrade).
            connect_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(10),
            setter {
                /// Opening handshake bound. Default 10 s; allowed 1 ms ..= 10 min.
            }
            check duration(|_| ms(1)..=secs(600));
            /// Bound on every write: a send not confirmed in time means the connection is dead.
            write_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(10),
            setter {
                /// Write bound. Default 10 s; allowed 1 ms ..= 10 min.
            }
            check duration(|_| ms(1)..=secs(600));
            /// Server silence after which the connection counts as dead.
            pong_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(90),
            setter {
                /// Server silence bound. Default 90 s; allowed 1 ms ..= 1 h.
            }
            check duration(|_| ms(1)..=secs(3600));
            /// Whether redelivered nonces are recognised and not delivered twice.
            dedup: bool = true,
            setter {
                /// Duplicate suppression. Default on.
            };
            /// How long a nonce is remembered.
            dedup_window: ::std::time::Duration = ::std::time::Duration::from_secs(600),
            setter {
                /// How long a nonce is remembered. Default 10 min; allowed 1 ms ..= 24 h.
            }
            check duration(|_| ms(1)..=secs(86_400));
            /// How many nonces are remembered at most.
            dedup_capacity: usize = 10_000,
            setter {
                /// How many nonces are remembered (about 140 bytes each). Default 10 000; allowed
                /// 1 ..= 10 000 000. When full, a new nonce takes the place of the oldest one whose
                /// ack the server has had (sent on a connection that stayed open for twice
                /// `write_timeout` after it); when every remembered nonce might still be
                /// redelivered, the new one is delivered but not remembered
                /// ([`Notice::DedupFull`](crate::connection::Notice::DedupFull); the policy is
                /// in docs/protocol.md §7).
            }
            check count(|_| 1..=10_000_000);
            /// Whether a failed nonce is forgotten so its redelivery is handled again.
            dedup_retry_errors: bool = false,
            setter {
                /// What a redelivery of an event whose handler *failed* gets. Default off: it is not
                /// delivered again and is acked with the first outcome (500 and its message), so a
                /// failing event is handled at most once per dedup window. On: the failed nonce is
                /// forgotten, and the redelivery reaches the handler again (a retry).
            };
            /// Maximum deliveries handed to the application and not yet completed.
            max_in_flight: usize = 64,
            setter {
                /// In-flight delivery bound. Default 64; allowed 1 ..= 65 536.
            }
            check count(|_| 1..=65_536);
            /// Events queued in the core while `max_in_flight` deliveries are out; when it is full
            /// too, the adapter is told to pause reading.
            read_backlog: usize = 64,
            setter {
                /// Events queued past the in-flight bound before reading pauses. Default 64; allowed
                /// 0 ..= 65 536.
            }
            check count(|_| 0..=65_536);
            /// A delivery running longer than this is reported (the platform expects 3 s).
            delivery_budget: ::std::time::Duration = ::std::time::Duration::from_secs(3),
            setter {
                /// Slow-delivery notice threshold. Default 3 s; allowed 1 ms ..= 1 h.
            }
            check duration(|_| ms(1)..=secs(3600));
            /// How long a graceful close waits for in-flight deliveries.
            drain_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(5),
            setter {
                /// Graceful close drain bound. Default 5 s; allowed 0 ..= 10 min.
            }
            check duration(|_| Duration::ZERO..=secs(600));
        }
    };
}

/// Generates `Config`, its getters and `Debug`, and `ConfigBuilder`'s defaults, setters and
/// `build` from the settings table.
macro_rules! define_config {
    (; $(
        $(#[$get:meta])*
        $name:ident: $ty:ty = $default:expr,
        setter { $(#[$set:meta])* }
        $(check $check:ident($range:expr))?;
    )*) => {
        /// A validated configuration. Build it with [`Config::builder`]; share it as `Arc<Config>`.
        ///
        /// Defaults (docs/protocol.md §6 and the choices of this project):
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
            headers: Vec<(String, String)>,
            $($(#[$get])* $name: $ty,)*
        }

        impl Config {
            /// Starts a builder with every default; only the credentials are required.
            pub fn builder(
                app_id: impl Into<String>,
                app_secret: impl Into<AppSecret>,
            ) -> ConfigBuilder {
                ConfigBuilder::new(Credentials::new(app_id, app_secret))
            }

            /// The app's credentials.
            pub fn credentials(&self) -> &Credentials {
                &self.credentials
            }

            /// The full WebSocket endpoint URL, with the query parameters of
            /// [`ConfigBuilder::query`] (part of the signed request URI).
            pub fn endpoint(&self) -> &Uri {
                &self.endpoint
            }

            /// The extra handshake headers of [`ConfigBuilder::header`], in the order set.
            pub fn headers(&self) -> &[(String, String)] {
                &self.headers
            }

            $(
                $(#[$get])*
                pub fn $name(&self) -> $ty {
                    self.$name
                }
            )*
        }

        impl fmt::Debug for Config {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Config")
                    .field("credentials", &self.credentials)
                    .field("endpoint", &self.endpoint.to_string())
                    // Values may carry tokens (a gateway's): only the names are shown.
                    .field(
                        "headers",
                        &self.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
                    )
                    $(.field(stringify!($name), &self.$name))*
                    .finish()
            }
        }

        impl ConfigBuilder {
            /// A builder with every default.
            pub fn new(credentials: Credentials) -> Self {
                Self {
                    endpoint: EndpointChoice::Default,
                    query: Vec::new(),
                    config: Config {
                        credentials,
                        endpoint: Uri::from_static(DEFAULT_ENDPOINT),
                        headers: Vec::new(),
                        $($name: $default,)*
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

    /// Adds a header to the WebSocket handshake (e.g. for a gateway in front of a private
    /// deployment). May be called more than once, also with the same name. The headers the
    /// signed handshake owns cannot be set: `Host`, `Connection`, `Upgrade`,
    /// `Sec-WebSocket-*`, `Authorization`, `Content-Type`, `Content-Length`,
    /// `Transfer-Encoding`, `X-Kso-*` and `X-Ack-Mode` are refused by [`ConfigBuilder::build`]
    /// (field `header`), as are names and values HTTP does not allow. `Debug` shows the names
    /// only.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a query parameter to the endpoint URL, after those it already has: `name=value`,
    /// both percent-encoded. It is part of the request URI that KSO-1 signs, so the server
    /// verifies it with the rest. May be called more than once. An empty name is refused by
    /// [`ConfigBuilder::build`] (field `query`).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

            $(
                $(#[$set])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.config.$name = value;
                    self
                }
            )*

            /// Validates every value and returns the config.
            ///
            /// # Errors
            /// A [`ConfigError`] naming the first bad field, the value's problem and the allowed
            /// range.
            pub fn build(self) -> Result<Config, ConfigError> {
                let Self {
                    endpoint,
                    query,
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
                c.endpoint = with_query(parse_endpoint(endpoint)?, &query)?;
                c.headers.iter().try_for_each(|(name, value)| check_header(name, value))?;
                $($(
                    let range = bounds(&c, $range);
                    $check(stringify!($name), c.$name, range)?;
                )?)*
                Ok(c)
            }
        }
    };
}

__config_settings!({ define_config });

/// Builds a [`Config`]; every setter documents its default and allowed range, and
/// [`ConfigBuilder::build`] checks them all.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    endpoint: EndpointChoice,
    /// Query parameters appended to the endpoint by `build`.
    query: Vec<(String, String)>,
    config: Config,
}

#[derive(Clone, Debug)]
enum EndpointChoice {
    Default,
    Full(String),
    Base(String),
}

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

const fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// The allowed range of a setting, given the config being built (a bound may be another setting).
fn bounds<T>(
    config: &Config,
    range: impl FnOnce(&Config) -> RangeInclusive<T>,
) -> RangeInclusive<T> {
    range(config)
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

/// Headers the signed handshake sets itself (compared case-insensitively); names starting
/// with one of [`OWNED_HEADER_PREFIXES`] too.
const OWNED_HEADERS: [&str; 9] = [
    "host",
    "connection",
    "upgrade",
    "authorization",
    "content-type",
    "content-length",
    "transfer-encoding",
    "x-ack-mode",
    "user-agent",
];

/// Prefixes of header names the signed handshake owns.
const OWNED_HEADER_PREFIXES: [&str; 2] = ["x-kso-", "sec-websocket-"];

const HEADER_ALLOWED: &str = "a header the signed handshake does not set itself (not Host, \
    Connection, Upgrade, Sec-WebSocket-*, Authorization, Content-Type, Content-Length, \
    Transfer-Encoding, User-Agent, X-Kso-* or X-Ack-Mode), with a name of letters, digits and \
    `-` and a value of printable ASCII";

fn check_header(name: &str, value: &str) -> Result<(), ConfigError> {
    let lower = name.to_ascii_lowercase();
    if OWNED_HEADERS.contains(&lower.as_str())
        || OWNED_HEADER_PREFIXES.iter().any(|p| lower.starts_with(p))
    {
        return Err(ConfigError::new(
            "header",
            format!("`{name}` is set by the signed handshake and cannot be overridden"),
            HEADER_ALLOWED,
        ));
    }
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(ConfigError::new(
            "header",
            format!("{name:?} is not a header name"),
            HEADER_ALLOWED,
        ));
    }
    if !value.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
        return Err(ConfigError::new(
            "header",
            format!("the value of `{name}` holds characters HTTP does not allow"),
            HEADER_ALLOWED,
        ));
    }
    Ok(())
}

/// `uri` with `query` appended (percent-encoded) to the query it has.
fn with_query(uri: Uri, query: &[(String, String)]) -> Result<Uri, ConfigError> {
    if query.is_empty() {
        return Ok(uri);
    }
    let allowed = "a query parameter with a non-empty name";
    let mut text = uri.to_string();
    let mut separator = if uri.query().is_some() { '&' } else { '?' };
    for (name, value) in query {
        if name.is_empty() {
            return Err(ConfigError::new("query", "a name is empty", allowed));
        }
        text.push(separator);
        separator = '&';
        percent_encode(name, &mut text);
        text.push('=');
        percent_encode(value, &mut text);
    }
    text.parse().map_err(|e| {
        ConfigError::new(
            "query",
            format!("the URL `{text}` does not parse ({e})"),
            allowed,
        )
    })
}

/// Appends `text` to `out` with every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`) as
/// `%XX`.
fn percent_encode(text: &str, out: &mut String) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

fn duration(
    field: &'static str,
    value: Duration,
    range: RangeInclusive<Duration>,
) -> Result<(), ConfigError> {
    let (min, max) = range.into_inner();
    if value < min || value > max {
        return Err(ConfigError::new(
            field,
            format!("{} is out of range", format_duration(value)),
            format!("{} ..= {}", format_duration(min), format_duration(max)),
        ));
    }
    Ok(())
}

fn float(field: &'static str, value: f64, range: RangeInclusive<f64>) -> Result<(), ConfigError> {
    let (min, max) = range.into_inner();
    if !(value.is_finite() && value >= min && value <= max) {
        return Err(ConfigError::new(
            field,
            format!("{value} is out of range"),
            format!("{min:?} ..= {max:?}"),
        ));
    }
    Ok(())
}

fn count(
    field: &'static str,
    value: usize,
    range: RangeInclusive<usize>,
) -> Result<(), ConfigError> {
    let (min, max) = range.into_inner();
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
    (@pair { $($field:ident).+ } $name:ident) => {
        #[doc = concat!("Adds a `", stringify!($name), "` (name and value); see `open_event_core::config::ConfigBuilder::", stringify!($name), "` for what is allowed.")]
        #[must_use]
        pub fn $name(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.$($field).+ = self.$($field).+.$name(name, value);
            self
        }
    };
    (@table $field:tt; $(
        $(#[$get:meta])*
        $name:ident: $ty:ty = $default:expr,
        setter { $(#[$set:meta])* }
        $(check $check:ident($range:expr))?;
    )*) => {
        $crate::delegate_config_setters!(@one $field endpoint: impl Into<String>);
        $crate::delegate_config_setters!(@one $field base_url: impl Into<String>);
        $crate::delegate_config_setters!(@pair $field header);
        $crate::delegate_config_setters!(@pair $field query);
        $($crate::delegate_config_setters!(@one $field $name: $ty);)*
    };
    ($($field:ident).+) => {
        $crate::__config_settings!({ $crate::delegate_config_setters } @table { $($field).+ });
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
    fn range_errors_name_the_value_and_the_bounds() {
        let err = builder().reconnect_jitter(-0.1).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config `reconnect_jitter`: -0.1 is out of range; expected 0.0 ..= 1.0"
        );
        // A bound may be another setting: the cap may not be below the base.
        let err = builder()
            .reconnect_base(Duration::from_secs(5))
            .reconnect_max(Duration::from_secs(4))
            .build()
            .unwrap_err();
        assert_eq!(
            (err.field(), err.allowed()),
            ("reconnect_max", "5s ..= 24h")
        );
        let err = builder()
            .drain_timeout(Duration::from_secs(601))
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config `drain_timeout`: 601s is out of range; expected 0s ..= 10m"
        );
        let err = builder()
            .reconnect_base(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.allowed(), "1ms ..= 1h");
        let err = builder().read_backlog(65_537).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config `read_backlog`: 65537 is out of range; expected 0 ..= 65536"
        );
    }

    #[test]
    fn every_setter_reaches_its_getter() {
        let c = builder()
            .ack_mode(false)
            .auto_reconnect(false)
            .reconnect_base(Duration::from_millis(5))
            .reconnect_max(Duration::from_millis(6))
            .reconnect_multiplier(1.5)
            .reconnect_jitter(0.0)
            .max_retries(Some(3))
            .stable_period(Duration::ZERO)
            .connect_timeout(Duration::from_millis(7))
            .write_timeout(Duration::from_millis(8))
            .pong_timeout(Duration::from_millis(9))
            .dedup(false)
            .dedup_window(Duration::from_millis(10))
            .dedup_capacity(11)
            .dedup_retry_errors(true)
            .max_in_flight(12)
            .read_backlog(0)
            .delivery_budget(Duration::from_millis(13))
            .drain_timeout(Duration::ZERO)
            .build()
            .unwrap();
        assert!(!c.ack_mode() && !c.auto_reconnect() && !c.dedup() && c.dedup_retry_errors());
        let ms = Duration::from_millis;
        assert_eq!((c.reconnect_base(), c.reconnect_max()), (ms(5), ms(6)));
        assert_eq!((c.reconnect_multiplier(), c.reconnect_jitter()), (1.5, 0.0));
        assert_eq!(c.max_retries(), Some(3));
        assert_eq!(
            [
                c.stable_period(),
                c.connect_timeout(),
                c.write_timeout(),
                c.pong_timeout()
            ],
            [Duration::ZERO, ms(7), ms(8), ms(9)]
        );
        assert_eq!((c.dedup_window(), c.dedup_capacity()), (ms(10), 11));
        assert_eq!((c.max_in_flight(), c.read_backlog()), (12, 0));
        assert_eq!(
            (c.delivery_budget(), c.drain_timeout()),
            (ms(13), Duration::ZERO)
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = builder().build().unwrap();
        let text = format!("{c:?} {:?}", builder());
        assert!(!text.contains("sk098765"), "{text}");
        assert!(text.contains("AK123456"));
    }
}
