//! [`Settings`]: every setting of a client as an optional value, the form in which deployments
//! hand them in (`OPEN_EVENT_*` variables, see [`super::env`]; later layers such as a config
//! file or flags), layered with [`Settings::over`] and applied to a [`ConfigBuilder`] with
//! [`Settings::apply_to`]. The transport settings (TLS, proxy, seed) are carried here too, as
//! plain values; the runtimes apply them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigBuilder, ConfigError};
use crate::duration_text::{DURATION_FORM, friendly_durations, parse_duration};
use crate::{AppSecret, Credentials};

/// What values a setting takes, for parsing and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Any non-empty text (an app id).
    Text,
    /// A secret: never shown in messages.
    Secret,
    /// A URL.
    Url,
    /// One or more file paths.
    Paths,
    /// `true` or `false`.
    Bool,
    /// A duration such as `500ms`, `10s`, `2m`, `1h`.
    Duration,
    /// A decimal number.
    Float,
    /// A whole number.
    Count,
    /// A whole number, or `unlimited`.
    CountOrUnlimited,
}

impl Kind {
    /// What a value of this kind looks like, for messages.
    pub fn expected(self) -> &'static str {
        match self {
            Self::Text => "a non-empty text",
            Self::Secret => "a non-empty secret",
            Self::Url => "a URL",
            Self::Paths => "file paths",
            Self::Bool => "true or false (also 1/0, yes/no, on/off)",
            Self::Duration => DURATION_FORM,
            Self::Float => "a decimal number, e.g. 0.2",
            Self::Count => "a whole number, e.g. 64",
            Self::CountOrUnlimited => "a whole number, or `unlimited`",
        }
    }
}

/// One setting: its name (the builder method, and the key of a config file) and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Key {
    /// The setting's name, e.g. `pong_timeout`.
    pub name: &'static str,
    /// What values it takes.
    pub kind: Kind,
}

/// A value of a setting, parsed from text (an environment variable's value).
pub(crate) trait SettingValue: Sized {
    /// What values the type takes.
    const KIND: Kind;

    /// Parses `text` (already trimmed, non-empty); the error says what is wrong with it.
    fn from_text(text: &str) -> Result<Self, String>;
}

impl SettingValue for bool {
    const KIND: Kind = Kind::Bool;

    fn from_text(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("is not a boolean".to_owned()),
        }
    }
}

impl SettingValue for Duration {
    const KIND: Kind = Kind::Duration;

    fn from_text(text: &str) -> Result<Self, String> {
        parse_duration(text).map_err(|err| err.to_string())
    }
}

impl SettingValue for f64 {
    const KIND: Kind = Kind::Float;

    fn from_text(text: &str) -> Result<Self, String> {
        text.parse::<Self>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| "is not a number".to_owned())
    }
}

fn whole<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    if text.starts_with('-') {
        return Err("is negative".to_owned());
    }
    text.parse::<T>()
        .map_err(|_| "is not a whole number (or too large)".to_owned())
}

impl SettingValue for usize {
    const KIND: Kind = Kind::Count;

    fn from_text(text: &str) -> Result<Self, String> {
        whole(text)
    }
}

impl SettingValue for u64 {
    const KIND: Kind = Kind::Count;

    fn from_text(text: &str) -> Result<Self, String> {
        whole(text)
    }
}

impl SettingValue for Option<u32> {
    const KIND: Kind = Kind::CountOrUnlimited;

    fn from_text(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("unlimited") {
            return Ok(None);
        }
        whole(text).map(Some)
    }
}

/// Why a setting handed in from outside (a variable, a config file) cannot be used. It names
/// where the value came from (the variable or the key), the value (never a secret's), what is
/// wrong and what is expected.
#[derive(Clone, PartialEq, Eq)]
pub struct SettingsError {
    kind: SettingsErrorKind,
    origin: String,
    value: Option<String>,
    problem: String,
    expected: String,
}

/// What kind of [`SettingsError`] it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsErrorKind {
    /// A value that does not parse or is out of range.
    Invalid,
    /// A required setting (the app id or secret) is missing.
    Missing,
    /// Two settings that exclude each other are both set.
    Conflict,
    /// A config file's key that is no setting.
    UnknownKey,
    /// A config file's value of the wrong TOML type.
    WrongType,
    /// A config file that is not valid TOML.
    Syntax,
    /// A config file that cannot be read.
    Unreadable,
}

impl SettingsError {
    pub(crate) fn invalid(
        origin: impl Into<String>,
        value: Option<&str>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Self {
            kind: SettingsErrorKind::Invalid,
            origin: origin.into(),
            value: value.map(str::to_owned),
            problem: problem.into(),
            expected: expected.into(),
        }
    }

    pub(crate) fn missing(origin: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            kind: SettingsErrorKind::Missing,
            origin: origin.into(),
            value: None,
            problem: "is not set".to_owned(),
            expected: expected.into(),
        }
    }

    pub(crate) fn conflict(origin: impl Into<String>, other: &str) -> Self {
        Self {
            kind: SettingsErrorKind::Conflict,
            origin: origin.into(),
            value: None,
            problem: format!("is set together with {other}"),
            expected: "only one of them".to_owned(),
        }
    }

    pub(crate) fn unknown_key(origin: impl Into<String>, closest: Option<&str>) -> Self {
        let expected = match closest {
            Some(key) => format!("a setting: did you mean `{key}`?"),
            None => format!(
                "one of the settings: {}",
                Settings::KEYS
                    .iter()
                    .map(|k| k.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Self {
            kind: SettingsErrorKind::UnknownKey,
            origin: origin.into(),
            value: None,
            problem: "is not a setting".to_owned(),
            expected,
        }
    }

    pub(crate) fn wrong_type(
        origin: impl Into<String>,
        value: Option<&str>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Self {
            kind: SettingsErrorKind::WrongType,
            ..Self::invalid(origin, value, problem, expected)
        }
    }

    pub(crate) fn syntax(file: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            kind: SettingsErrorKind::Syntax,
            origin: file.into(),
            value: None,
            problem: problem.into(),
            expected: "valid TOML".to_owned(),
        }
    }

    /// A config file that cannot be read (for the crates that read files): names the file and
    /// the reason (the OS error's text).
    pub fn unreadable(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            kind: SettingsErrorKind::Unreadable,
            origin: file.into(),
            value: None,
            problem: reason.into(),
            expected: "a readable TOML file".to_owned(),
        }
    }

    /// What kind of error it is.
    pub fn kind(&self) -> SettingsErrorKind {
        self.kind
    }

    /// Where the value came from: the variable's name (`OPEN_EVENT_PONG_TIMEOUT`) or the key.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The bad value as it was written; `None` for a secret or a missing value.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What is wrong with the value.
    pub fn problem(&self) -> &str {
        &self.problem
    }

    /// What is expected instead.
    pub fn expected(&self) -> &str {
        &self.expected
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, &self.value) {
            (SettingsErrorKind::Invalid | SettingsErrorKind::WrongType, Some(value)) => write!(
                f,
                "invalid {}: `{value}` {}; expected {}",
                self.origin, self.problem, self.expected
            ),
            (SettingsErrorKind::UnknownKey, _) => {
                write!(f, "unknown {}; expected {}", self.origin, self.expected)
            }
            (SettingsErrorKind::Syntax, _) => {
                write!(f, "{} is not valid TOML: {}", self.origin, self.problem)
            }
            (SettingsErrorKind::Unreadable, _) => {
                write!(
                    f,
                    "cannot read config file {}: {}",
                    self.origin, self.problem
                )
            }
            (SettingsErrorKind::Invalid | SettingsErrorKind::WrongType, None) => write!(
                f,
                "invalid {}: {}; expected {}",
                self.origin, self.problem, self.expected
            ),
            _ => write!(
                f,
                "{} {}; expected {}",
                self.origin, self.problem, self.expected
            ),
        }
    }
}

impl fmt::Debug for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `main() -> Result<(), Box<dyn Error>>` prints Debug: keep it a readable sentence.
        write!(f, "SettingsError({self})")
    }
}

impl std::error::Error for SettingsError {}

/// Generates [`Settings`] (one optional field per entry of the settings table, after the
/// credentials, the endpoint and the transport settings), its key list and text setter.
macro_rules! define_settings {
    (; $(
        $(#[$get:meta])*
        $name:ident: $ty:ty = $default:expr,
        setter { $(#[$set:meta])* }
        $(check $check:ident($range:expr))?;
    )*) => {
        /// Every setting of a client, each optional: unset ones keep the builder's value (or
        /// the default). Build one from `OPEN_EVENT_*` variables with [`Settings::from_vars`],
        /// layer several with [`Settings::over`], apply it with [`Settings::apply_to`] (the
        /// runtimes' `ClientBuilder::settings` applies the transport fields too).
        ///
        /// `Debug` shows neither the secret nor the proxy URL (it may hold a password).
        #[derive(Clone, Default, PartialEq)]
        #[non_exhaustive]
        pub struct Settings {
            /// The app id.
            pub app_id: Option<String>,
            /// The app secret.
            pub app_secret: Option<AppSecret>,
            /// A full endpoint URL (excludes `base_url`).
            pub endpoint: Option<String>,
            /// A base URL to which `/v7/event/ws` is appended (excludes `endpoint`).
            pub base_url: Option<String>,
            /// Extra CA certificate files (PEM) to trust.
            pub ca_file: Vec<PathBuf>,
            /// Trust the operating system's certificate store instead of the WebPKI roots.
            pub native_roots: Option<bool>,
            /// Accept any server certificate (local tests only).
            pub danger_accept_invalid_certs: Option<bool>,
            /// An HTTP proxy URL.
            pub proxy: Option<String>,
            /// Take the proxy from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`.
            pub proxy_from_env: Option<bool>,
            /// The reconnect jitter's seed.
            pub seed: Option<u64>,
            /// Extra handshake headers (see `ConfigBuilder::header`).
            pub headers: Vec<(String, String)>,
            /// Extra query parameters of the endpoint (see `ConfigBuilder::query`).
            pub query: Vec<(String, String)>,
            $($(#[$get])* pub $name: Option<$ty>,)*
        }

        impl Settings {
            /// Every setting's name and kind, in the order of the documentation.
            pub const KEYS: &'static [Key] = &[
                Key { name: "app_id", kind: Kind::Text },
                Key { name: "app_secret", kind: Kind::Secret },
                Key { name: "endpoint", kind: Kind::Url },
                Key { name: "base_url", kind: Kind::Url },
                Key { name: "ca_file", kind: Kind::Paths },
                Key { name: "native_roots", kind: Kind::Bool },
                Key { name: "danger_accept_invalid_certs", kind: Kind::Bool },
                Key { name: "proxy", kind: Kind::Url },
                Key { name: "proxy_from_env", kind: Kind::Bool },
                Key { name: "seed", kind: Kind::Count },
                $(Key { name: stringify!($name), kind: <$ty as SettingValue>::KIND },)*
            ];

            /// Sets the setting `name` from `text` (trimmed, non-empty). `paths` splits a
            /// list of paths. `None`: no such setting; `Some(Err(problem))`: a bad value.
            pub(crate) fn set_text(
                &mut self,
                name: &str,
                text: &str,
                paths: impl Fn(&str) -> Vec<PathBuf>,
            ) -> Option<Result<(), String>> {
                let result = match name {
                    "app_id" => {
                        self.app_id = Some(text.to_owned());
                        Ok(())
                    }
                    "app_secret" => {
                        self.app_secret = Some(AppSecret::new(text));
                        Ok(())
                    }
                    "endpoint" => {
                        self.endpoint = Some(text.to_owned());
                        Ok(())
                    }
                    "base_url" => {
                        self.base_url = Some(text.to_owned());
                        Ok(())
                    }
                    "ca_file" => {
                        self.ca_file = paths(text);
                        Ok(())
                    }
                    "native_roots" => bool::from_text(text).map(|v| self.native_roots = Some(v)),
                    "danger_accept_invalid_certs" => bool::from_text(text)
                        .map(|v| self.danger_accept_invalid_certs = Some(v)),
                    "proxy" => {
                        self.proxy = Some(text.to_owned());
                        Ok(())
                    }
                    "proxy_from_env" => {
                        bool::from_text(text).map(|v| self.proxy_from_env = Some(v))
                    }
                    "seed" => u64::from_text(text).map(|v| self.seed = Some(v)),
                    $(stringify!($name) => {
                        <$ty as SettingValue>::from_text(text).map(|v| self.$name = Some(v))
                    })*
                    _ => return None,
                };
                Some(result)
            }

            /// Whether the setting `name` is set here.
            pub fn is_set(&self, name: &str) -> bool {
                match name {
                    "app_id" => self.app_id.is_some(),
                    "app_secret" => self.app_secret.is_some(),
                    "endpoint" => self.endpoint.is_some(),
                    "base_url" => self.base_url.is_some(),
                    "ca_file" => !self.ca_file.is_empty(),
                    "native_roots" => self.native_roots.is_some(),
                    "danger_accept_invalid_certs" => self.danger_accept_invalid_certs.is_some(),
                    "proxy" => self.proxy.is_some(),
                    "proxy_from_env" => self.proxy_from_env.is_some(),
                    "seed" => self.seed.is_some(),
                    // `header` is the field of a `ConfigError` about one of them.
                    "headers" | "header" => !self.headers.is_empty(),
                    "query" => !self.query.is_empty(),
                    $(stringify!($name) => self.$name.is_some(),)*
                    _ => false,
                }
            }

            /// `self` with every setting `over` sets replaced by `over`'s value: `over` is
            /// the layer of higher precedence (e.g. variables over a config file, flags over
            /// variables). An endpoint or base URL in `over` replaces both of `self`'s; a list
            /// of CA files in `over` replaces `self`'s; a header or query parameter of `over`
            /// replaces those of `self` with the same name (headers compare without case).
            #[must_use]
            pub fn over(self, over: Settings) -> Settings {
                let (endpoint, base_url) = if over.endpoint.is_some() || over.base_url.is_some() {
                    (over.endpoint, over.base_url)
                } else {
                    (self.endpoint, self.base_url)
                };
                Settings {
                    app_id: over.app_id.or(self.app_id),
                    app_secret: over.app_secret.or(self.app_secret),
                    endpoint,
                    base_url,
                    ca_file: if over.ca_file.is_empty() { self.ca_file } else { over.ca_file },
                    native_roots: over.native_roots.or(self.native_roots),
                    danger_accept_invalid_certs: over
                        .danger_accept_invalid_certs
                        .or(self.danger_accept_invalid_certs),
                    proxy: over.proxy.or(self.proxy),
                    proxy_from_env: over.proxy_from_env.or(self.proxy_from_env),
                    seed: over.seed.or(self.seed),
                    headers: merge_pairs(self.headers, over.headers, true),
                    query: merge_pairs(self.query, over.query, false),
                    $($name: over.$name.or(self.$name),)*
                }
            }

            /// Applies the protocol settings, the endpoint and the credentials that are set to
            /// `builder` (the transport settings are the runtime's to apply).
            #[must_use]
            pub fn apply_to(&self, mut builder: ConfigBuilder) -> ConfigBuilder {
                if self.app_id.is_some() || self.app_secret.is_some() {
                    let current = builder.config.credentials.clone();
                    builder.config.credentials = Credentials::new(
                        self.app_id.clone().unwrap_or_else(|| current.app_id().to_owned()),
                        self.app_secret.clone().unwrap_or_else(|| current.app_secret().clone()),
                    );
                }
                if let Some(url) = &self.endpoint {
                    builder = builder.endpoint(url.clone());
                } else if let Some(url) = &self.base_url {
                    builder = builder.base_url(url.clone());
                }
                for (name, value) in &self.headers {
                    builder = builder.header(name.clone(), value.clone());
                }
                for (name, value) in &self.query {
                    builder = builder.query(name.clone(), value.clone());
                }
                $(if let Some(value) = self.$name {
                    builder = builder.$name(value);
                })*
                builder
            }

            fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
                d.field("app_id", &self.app_id)
                    .field("app_secret", &self.app_secret)
                    .field("endpoint", &self.endpoint)
                    .field("base_url", &self.base_url)
                    .field("ca_file", &self.ca_file)
                    .field("native_roots", &self.native_roots)
                    .field("danger_accept_invalid_certs", &self.danger_accept_invalid_certs)
                    .field("proxy", &self.proxy.as_ref().map(|_| "<set>"))
                    .field("proxy_from_env", &self.proxy_from_env)
                    .field("seed", &self.seed)
                    .field(
                        "headers",
                        &self.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
                    )
                    .field("query", &self.query);
                $(d.field(stringify!($name), &self.$name);)*
            }
        }
    };
}

crate::__config_settings!({ define_settings });

/// `low`'s pairs whose name `high` does not have, then `high`'s.
fn merge_pairs(
    low: Vec<(String, String)>,
    high: Vec<(String, String)>,
    ignore_case: bool,
) -> Vec<(String, String)> {
    let same = |a: &str, b: &str| {
        if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let mut out: Vec<_> = low
        .into_iter()
        .filter(|(name, _)| !high.iter().any(|(h, _)| same(h, name)))
        .collect();
    out.extend(high);
    out
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Settings");
        self.debug_fields(&mut d);
        d.finish()
    }
}

impl Settings {
    /// The key named `name`.
    pub fn key(name: &str) -> Option<&'static Key> {
        Self::KEYS.iter().find(|key| key.name == name)
    }

    /// The credentials, when both are set and non-empty.
    pub fn credentials(&self) -> Option<Credentials> {
        match (&self.app_id, &self.app_secret) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                Some(Credentials::new(id.clone(), secret.clone()))
            }
            _ => None,
        }
    }

    /// Checks every value that is set the way [`ConfigBuilder::build`] will (ranges, the
    /// endpoint, the app id), with the defaults for what is unset, so that a bad value is
    /// reported with where it came from (`origin(name)`, e.g. the variable's name) rather than
    /// at `build`.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the origin of the first bad value.
    pub fn check(&self, origin: impl Fn(&str) -> String) -> Result<(), SettingsError> {
        self.check_under(&Self::default(), origin)
    }

    /// Like [`Settings::check`], for a layer below `over` (e.g. variables under flags): the
    /// values checked are `self` overridden by `over`, and only a bad value that comes from
    /// `self` (or a default neither sets) is reported; one of `over`'s is left to whoever
    /// reports `over`'s errors.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the origin of the first bad value of `self`.
    pub fn check_under(
        &self,
        over: &Self,
        origin: impl Fn(&str) -> String,
    ) -> Result<(), SettingsError> {
        let placeholder = Credentials::new("check", "check");
        let effective = self.clone().over(over.clone());
        let Err(err) = effective.apply_to(ConfigBuilder::new(placeholder)).build() else {
            return Ok(());
        };
        let field = err.field();
        if over.is_set(field) {
            return Ok(());
        }
        Err(self.explain(&err, &origin))
    }

    fn explain(&self, err: &ConfigError, origin: &impl Fn(&str) -> String) -> SettingsError {
        let field = err.field();
        let problem = friendly_durations(err.problem());
        let allowed = friendly_durations(err.allowed());
        let name = if self.is_set(field) {
            origin(field)
        } else {
            format!("{} (unset: its default)", origin(field))
        };
        SettingsError::invalid(name, None, problem, allowed)
    }
}

/// `Config`'s defaults.
#[cfg(test)]
pub(crate) fn default_config() -> super::Config {
    super::Config::builder("check", "check")
        .build()
        .expect("defaults are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::duration_text::format_duration;

    fn no_paths(text: &str) -> Vec<PathBuf> {
        vec![PathBuf::from(text)]
    }

    #[test]
    fn every_key_parses_its_kind() {
        let mut s = Settings::default();
        for (name, text) in [
            ("app_id", "AK1"),
            ("app_secret", "sk"),
            ("endpoint", "ws://127.0.0.1:1/v7/event/ws"),
            ("ca_file", "/tmp/ca.pem"),
            ("native_roots", "yes"),
            ("danger_accept_invalid_certs", "off"),
            ("proxy", "http://p:1"),
            ("proxy_from_env", "TRUE"),
            ("seed", "7"),
            ("ack_mode", "false"),
            ("pong_timeout", "1.5s"),
            ("reconnect_jitter", "0.5"),
            ("max_retries", "unlimited"),
            ("max_in_flight", "8"),
        ] {
            assert_eq!(s.set_text(name, text, no_paths), Some(Ok(())), "{name}");
            assert!(s.is_set(name) || name == "max_retries", "{name}");
        }
        assert_eq!(s.pong_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(s.max_retries, Some(None));
        assert_eq!(
            (s.native_roots, s.danger_accept_invalid_certs),
            (Some(true), Some(false))
        );
        assert_eq!(s.set_text("no_such_key", "1", no_paths), None);
        for (name, text) in [
            ("ack_mode", "maybe"),
            ("pong_timeout", "90"),
            ("max_in_flight", "-1"),
            ("max_retries", "forever"),
            ("reconnect_jitter", "NaN"),
            ("seed", "1.5"),
        ] {
            assert!(
                matches!(s.set_text(name, text, no_paths), Some(Err(_))),
                "{name}={text}"
            );
        }
        assert_eq!(Settings::KEYS.len(), 10 + 19);
    }

    #[test]
    fn a_higher_layer_wins_setting_by_setting() {
        let file = Settings {
            app_id: Some("file-id".into()),
            base_url: Some("https://file.example".into()),
            pong_timeout: Some(Duration::from_secs(5)),
            max_in_flight: Some(3),
            ..Settings::default()
        };
        let env = Settings {
            endpoint: Some("ws://env/v7/event/ws".into()),
            max_in_flight: Some(4),
            ..Settings::default()
        };
        let merged = file.over(env);
        assert_eq!(merged.app_id.as_deref(), Some("file-id"));
        assert_eq!(merged.endpoint.as_deref(), Some("ws://env/v7/event/ws"));
        assert_eq!(merged.base_url, None);
        assert_eq!(merged.pong_timeout, Some(Duration::from_secs(5)));
        assert_eq!(merged.max_in_flight, Some(4));
    }

    #[test]
    fn headers_and_query_merge_by_name() {
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        let file = Settings {
            headers: vec![pair("X-Tenant", "file"), pair("X-Keep", "1")],
            query: vec![pair("region", "cn"), pair("x", "1")],
            ..Settings::default()
        };
        let flags = Settings {
            headers: vec![pair("x-tenant", "flag")],
            query: vec![pair("x", "2")],
            ..Settings::default()
        };
        let merged = file.over(flags);
        assert_eq!(
            merged.headers,
            [pair("X-Keep", "1"), pair("x-tenant", "flag")]
        );
        assert_eq!(merged.query, [pair("region", "cn"), pair("x", "2")]);
        let c = merged.apply_to(Config::builder("a", "b")).build().unwrap();
        assert_eq!(c.headers().len(), 2);
        assert_eq!(c.endpoint().query(), Some("region=cn&x=2"));
        let text = format!("{merged:?}");
        assert!(text.contains("X-Keep") && !text.contains("flag"), "{text}");
    }

    #[test]
    fn apply_to_sets_only_what_is_set() {
        let s = Settings {
            app_secret: Some(AppSecret::new("other")),
            pong_timeout: Some(Duration::from_secs(5)),
            ..Settings::default()
        };
        let c = s
            .apply_to(Config::builder("AK1", "sk1").max_in_flight(3))
            .build()
            .unwrap();
        assert_eq!(c.credentials().app_id(), "AK1");
        assert_eq!(c.credentials().app_secret().expose(), "other");
        assert_eq!(
            (c.pong_timeout(), c.max_in_flight()),
            (Duration::from_secs(5), 3)
        );
        assert_eq!(c.reconnect_base(), default_config().reconnect_base());
        assert_eq!(format_duration(c.pong_timeout()), "5s");
    }

    #[test]
    fn check_names_the_origin_and_debug_hides_secrets() {
        let s = Settings {
            pong_timeout: Some(Duration::ZERO),
            ..Settings::default()
        };
        let err = s.check(|name| format!("VAR_{name}")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid VAR_pong_timeout: 0s is out of range; expected 1ms ..= 1h"
        );
        let s = Settings {
            reconnect_base: Some(Duration::from_secs(120)),
            ..Settings::default()
        };
        let err = s.check(|name| name.to_owned()).unwrap_err();
        assert!(err.origin().starts_with("reconnect_max (unset"), "{err}");
        let s = Settings {
            app_secret: Some(AppSecret::new("hunter2")),
            proxy: Some("http://u:pw@p:1".into()),
            ..Settings::default()
        };
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2") && !text.contains("pw@"), "{text}");
    }
}
