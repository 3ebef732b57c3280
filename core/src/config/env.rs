//! `OPEN_EVENT_*` environment variables: every setting of a client, named `OPEN_EVENT_` plus
//! the setting's name in capitals. The variables are handed in as `(name, value)` pairs (the
//! runtimes pass `std::env::vars_os()`; the core reads no environment), and
//! [`Settings::from_vars`] turns them into [`Settings`] or a [`SettingsError`] naming the
//! variable, the bad value and the form expected. The `openevent` CLI reads the same variables
//! with the same code; its flags win over them.
//!
//! | variable | setting | value | default |
//! |---|---|---|---|
//! | `OPEN_EVENT_APP_ID` (else `APP_ID`) | app id | text | required |
//! | `OPEN_EVENT_APP_SECRET` (else `APP_SECRET`) | app secret | text | required |
//! | `OPEN_EVENT_ENDPOINT` | full endpoint URL | `ws://` or `wss://` URL | `wss://openapi.wps.cn/v7/event/ws` |
//! | `OPEN_EVENT_BASE_URL` | base URL, `/v7/event/ws` appended (not with `ENDPOINT`) | URL | |
//! | `OPEN_EVENT_CA_FILE` | extra CA files (PEM) to trust | paths, separated like `PATH` | none |
//! | `OPEN_EVENT_NATIVE_ROOTS` | trust the OS certificate store | bool | false |
//! | `OPEN_EVENT_DANGER_ACCEPT_INVALID_CERTS` | accept any certificate (local tests only) | bool | false |
//! | `OPEN_EVENT_PROXY` | HTTP proxy (CONNECT) | `http://[user:pw@]host[:port]` | none |
//! | `OPEN_EVENT_PROXY_FROM_ENV` | proxy from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, honouring `NO_PROXY` | bool | false |
//! | `OPEN_EVENT_SEED` | reconnect jitter seed | whole number | random |
//! | `OPEN_EVENT_ACK_MODE` | ACK mode | bool | true |
//! | `OPEN_EVENT_AUTO_RECONNECT` | reconnect after a lost connection | bool | true |
//! | `OPEN_EVENT_RECONNECT_BASE` | backoff base | duration, 1ms ..= 1h | 1s |
//! | `OPEN_EVENT_RECONNECT_MAX` | backoff cap | duration, `RECONNECT_BASE` ..= 24h | 60s |
//! | `OPEN_EVENT_RECONNECT_MULTIPLIER` | backoff growth | number, 1.0 ..= 10.0 | 2.0 |
//! | `OPEN_EVENT_RECONNECT_JITTER` | backoff jitter (± fraction) | number, 0.0 ..= 1.0 | 0.2 |
//! | `OPEN_EVENT_MAX_RETRIES` | give up after this many failed attempts | whole number or `unlimited` | unlimited |
//! | `OPEN_EVENT_STABLE_PERIOD` | a connection up this long resets the backoff | duration, 0s ..= 1h | 30s |
//! | `OPEN_EVENT_CONNECT_TIMEOUT` | opening handshake bound | duration, 1ms ..= 10m | 10s |
//! | `OPEN_EVENT_WRITE_TIMEOUT` | write bound | duration, 1ms ..= 10m | 10s |
//! | `OPEN_EVENT_PONG_TIMEOUT` | server silence bound | duration, 1ms ..= 1h | 90s |
//! | `OPEN_EVENT_DEDUP` | duplicate suppression | bool | true |
//! | `OPEN_EVENT_DEDUP_WINDOW` | how long a nonce is remembered | duration, 1ms ..= 24h | 10m |
//! | `OPEN_EVENT_DEDUP_CAPACITY` | how many nonces are remembered | 1 ..= 10 000 000 | 10000 |
//! | `OPEN_EVENT_DEDUP_RETRY_ERRORS` | a failed event's redelivery runs the handler again | bool | false |
//! | `OPEN_EVENT_MAX_IN_FLIGHT` | deliveries out at once | 1 ..= 65 536 | 64 |
//! | `OPEN_EVENT_READ_BACKLOG` | events queued past that before reading pauses | 0 ..= 65 536 | 64 |
//! | `OPEN_EVENT_DELIVERY_BUDGET` | slow-handler notice threshold | duration, 1ms ..= 1h | 3s |
//! | `OPEN_EVENT_DRAIN_TIMEOUT` | graceful stop waits this long for handlers | duration, 0s ..= 10m | 5s |
//!
//! Booleans are `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`); durations are a number
//! and a unit (`500ms`, `10s`, `2m`, `1h`, `1.5s`). A variable set to the empty string counts as
//! unset. Other `OPEN_EVENT_*` variables are ignored (the CLI's `--exec` sets
//! `OPEN_EVENT_CODE`, `OPEN_EVENT_NONCE`, ... for its commands).
//!
//! ```
//! use std::time::Duration;
//! use open_event_core::config::Settings;
//!
//! let vars = [
//!     ("OPEN_EVENT_APP_ID", "AK123456"),
//!     ("OPEN_EVENT_APP_SECRET", "sk098765"),
//!     ("OPEN_EVENT_ENDPOINT", "ws://127.0.0.1:7000/v7/event/ws"),
//!     ("OPEN_EVENT_PONG_TIMEOUT", "45s"),
//!     ("HOME", "/root"),
//! ];
//! let settings = Settings::from_vars(vars)?;
//! assert_eq!(settings.pong_timeout, Some(Duration::from_secs(45)));
//! let config = settings.apply_to(open_event_core::config::Config::builder("", "")).build()?;
//! assert_eq!(config.credentials().app_id(), "AK123456");
//!
//! let err = Settings::from_vars([("OPEN_EVENT_PONG_TIMEOUT", "soon")]).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid OPEN_EVENT_PONG_TIMEOUT: `soon` is not a duration; \
//!      expected a number with a unit, e.g. 500ms, 10s, 2m or 1h"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::PathBuf;

use super::settings::{Kind, Settings, SettingsError};
use crate::Credentials;

/// The prefix of every variable.
pub const PREFIX: &str = "OPEN_EVENT_";

/// The variables read for the app id, in order of precedence.
pub const APP_ID_VARS: [&str; 2] = ["OPEN_EVENT_APP_ID", "APP_ID"];

/// The variables read for the app secret, in order of precedence.
pub const APP_SECRET_VARS: [&str; 2] = ["OPEN_EVENT_APP_SECRET", "APP_SECRET"];

/// What the app id and secret are, for the messages about missing ones.
const APP_ID_HELP: &str = "the app id shown on the WPS open platform console (APP_ID is read too)";
const APP_SECRET_HELP: &str = "the app secret shown with the app id on the WPS open platform console (APP_SECRET is read too)";

/// The variable of the setting `name`: `OPEN_EVENT_` and the name in capitals.
///
/// ```
/// assert_eq!(open_event_core::config::env::var_name("pong_timeout"), "OPEN_EVENT_PONG_TIMEOUT");
/// ```
pub fn var_name(name: &str) -> String {
    format!("{PREFIX}{}", name.to_ascii_uppercase())
}

impl Settings {
    /// Reads every setting from `OPEN_EVENT_*` variables (see the [module docs](self) for the
    /// table), ignoring other variables, and checks each value as the builder will (so a bad
    /// value is reported with its variable, not at `build`). The app id and secret are
    /// optional here; [`Settings::require_credentials`] asks for them.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the first bad variable (in the order of the table), its
    /// value (never the secret's) and the form expected; or both `OPEN_EVENT_ENDPOINT` and
    /// `OPEN_EVENT_BASE_URL` set.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        Self::from_vars_under(vars, &Self::default())
    }

    /// Like [`Settings::from_vars`], for variables under a layer of higher precedence (the
    /// CLI's flags): the variables of the settings `over` sets are not read at all (a flag wins
    /// over its variable, even a bad one), and the others are checked together with `over`'s
    /// values (see [`Settings::check_under`]). An endpoint or base URL in `over` leaves out both
    /// `OPEN_EVENT_ENDPOINT` and `OPEN_EVENT_BASE_URL`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use open_event_core::config::Settings;
    ///
    /// let mut flags = Settings::default();
    /// flags.reconnect_base = Some(Duration::from_millis(100));
    /// flags.pong_timeout = Some(Duration::from_secs(5));
    /// let vars = [("OPEN_EVENT_RECONNECT_MAX", "500ms"), ("OPEN_EVENT_PONG_TIMEOUT", "soon")];
    /// let env = Settings::from_vars_under(vars, &flags)?;
    /// assert_eq!(env.reconnect_max, Some(Duration::from_millis(500)));
    /// assert_eq!(env.pong_timeout, None);
    /// # Ok::<(), open_event_core::config::SettingsError>(())
    /// ```
    ///
    /// # Errors
    /// As [`Settings::from_vars`].
    pub fn from_vars_under<I, K, V>(vars: I, over: &Self) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let endpoint_chosen = over.endpoint.is_some() || over.base_url.is_some();
        let skipped = |name: &str| {
            over.is_set(name) || (endpoint_chosen && matches!(name, "endpoint" | "base_url"))
        };
        let mut found: BTreeMap<String, Result<String, ()>> = BTreeMap::new();
        for (name, value) in vars {
            let Some(name) = name.as_ref().to_str() else {
                continue;
            };
            let known = name
                .strip_prefix(PREFIX)
                .is_some_and(|rest| Self::key(&rest.to_ascii_lowercase()).is_some())
                || APP_ID_VARS.contains(&name)
                || APP_SECRET_VARS.contains(&name);
            if !known
                || name
                    .strip_prefix(PREFIX)
                    .is_some_and(|r| r != r.to_ascii_uppercase())
            {
                continue;
            }
            let value = value
                .as_ref()
                .to_str()
                .map(|v| v.trim().to_owned())
                .ok_or(());
            match value {
                Ok(v) if v.is_empty() => {}
                Ok(v) => {
                    found.insert(name.to_owned(), Ok(v));
                }
                Err(()) => {
                    found.insert(name.to_owned(), Err(()));
                }
            }
        }
        let mut settings = Self::default();
        for key in Self::KEYS.iter().filter(|key| !skipped(key.name)) {
            let (var, fallback) = match key.name {
                "app_id" => (APP_ID_VARS[0].to_owned(), Some(APP_ID_VARS[1])),
                "app_secret" => (APP_SECRET_VARS[0].to_owned(), Some(APP_SECRET_VARS[1])),
                name => (var_name(name), None),
            };
            let (var, value) = match found.get(&var) {
                Some(value) => (var, value),
                None => match fallback.and_then(|f| found.get(f).map(|v| (f.to_owned(), v))) {
                    Some(pair) => pair,
                    None => continue,
                },
            };
            let secret = key.kind == Kind::Secret;
            let shown = |text: &str| (!secret).then(|| text.to_owned());
            let Ok(text) = value else {
                return Err(SettingsError::invalid(
                    var,
                    None,
                    "is not valid UTF-8",
                    key.kind.expected(),
                ));
            };
            if let Some(Err(problem)) = settings.set_text(key.name, text, split_paths) {
                return Err(SettingsError::invalid(
                    var,
                    shown(text).as_deref(),
                    problem,
                    key.kind.expected(),
                ));
            }
        }
        if settings.endpoint.is_some() && settings.base_url.is_some() {
            return Err(SettingsError::conflict(
                var_name("base_url"),
                &var_name("endpoint"),
            ));
        }
        settings.check_under(over, |name| match name {
            "app_id" if !found.contains_key(APP_ID_VARS[0]) => APP_ID_VARS[1].to_owned(),
            "app_secret" if !found.contains_key(APP_SECRET_VARS[0]) => {
                APP_SECRET_VARS[1].to_owned()
            }
            name => var_name(name),
        })?;
        Ok(settings)
    }

    /// The app id and secret, or an error naming the variable to set (`OPEN_EVENT_APP_ID`,
    /// `OPEN_EVENT_APP_SECRET`) and what it holds.
    ///
    /// ```
    /// use open_event_core::config::Settings;
    ///
    /// let err = Settings::from_vars([("OPEN_EVENT_APP_ID", "AK1")])?
    ///     .require_credentials()
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("OPEN_EVENT_APP_SECRET is not set"));
    /// # Ok::<(), open_event_core::config::SettingsError>(())
    /// ```
    ///
    /// # Errors
    /// [`SettingsError`] of kind [`Missing`](super::SettingsErrorKind::Missing).
    pub fn require_credentials(&self) -> Result<Credentials, SettingsError> {
        if self.app_id.as_ref().is_none_or(String::is_empty) {
            return Err(SettingsError::missing(APP_ID_VARS[0], APP_ID_HELP));
        }
        self.credentials()
            .ok_or_else(|| SettingsError::missing(APP_SECRET_VARS[0], APP_SECRET_HELP))
    }
}

/// The `OPEN_EVENT_*` names among `names` that are no setting but look like a misspelling of
/// one, each with the variable meant (`OPEN_EVENT_PONG_TIMOUT` → `OPEN_EVENT_PONG_TIMEOUT`).
/// [`Settings::from_vars`] ignores them, so a deployment should warn about them.
///
/// ```
/// use open_event_core::config::env::misspelled;
///
/// let names = ["OPEN_EVENT_PONG_TIMOUT", "OPEN_EVENT_APP_ID", "OPEN_EVENT_NONCE", "PATH"];
/// assert_eq!(
///     misspelled(names),
///     [("OPEN_EVENT_PONG_TIMOUT".to_owned(), "OPEN_EVENT_PONG_TIMEOUT".to_owned())]
/// );
/// ```
pub fn misspelled<I, K>(names: I) -> Vec<(String, String)>
where
    I: IntoIterator<Item = K>,
    K: AsRef<OsStr>,
{
    let mut out: Vec<(String, String)> = names
        .into_iter()
        .filter_map(|name| {
            let name = name.as_ref().to_str()?;
            let rest = name.strip_prefix(PREFIX)?;
            if Settings::key(&rest.to_ascii_lowercase()).is_some() {
                return None;
            }
            let meant = super::file::closest_key(rest)?;
            Settings::key(meant).map(|_| (name.to_owned(), var_name(meant)))
        })
        .collect();
    out.sort();
    out
}

/// A list of paths as `PATH` writes them (`:`-separated on Unix, `;` on Windows).
fn split_paths(text: &str) -> Vec<PathBuf> {
    std::env::split_paths(text)
        .filter(|p| !p.as_os_str().is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::settings::{SettingsErrorKind, default_config};
    use super::*;

    #[test]
    fn every_setting_has_a_variable_in_the_table_and_the_readme() {
        let docs = include_str!("env.rs");
        let readme = include_str!("../../../README.md");
        for key in Settings::KEYS {
            let var = var_name(key.name);
            assert!(
                docs.contains(&format!("| `{var}`")),
                "{var} not in the docs"
            );
            assert!(
                readme.contains(&format!("`{var}`")),
                "{var} not in README.md"
            );
        }
    }

    #[test]
    fn every_variable_reaches_its_setting() {
        let vars = [
            ("OPEN_EVENT_APP_ID", "AK1"),
            ("OPEN_EVENT_APP_SECRET", "sk1"),
            ("OPEN_EVENT_BASE_URL", "http://127.0.0.1:7000"),
            ("OPEN_EVENT_CA_FILE", "/a.pem:/b.pem"),
            ("OPEN_EVENT_NATIVE_ROOTS", "1"),
            ("OPEN_EVENT_DANGER_ACCEPT_INVALID_CERTS", "true"),
            ("OPEN_EVENT_PROXY", "http://proxy:3128"),
            ("OPEN_EVENT_PROXY_FROM_ENV", "on"),
            ("OPEN_EVENT_SEED", "42"),
            ("OPEN_EVENT_ACK_MODE", "false"),
            ("OPEN_EVENT_AUTO_RECONNECT", "no"),
            ("OPEN_EVENT_RECONNECT_BASE", "2s"),
            ("OPEN_EVENT_RECONNECT_MAX", "2m"),
            ("OPEN_EVENT_RECONNECT_MULTIPLIER", "1.5"),
            ("OPEN_EVENT_RECONNECT_JITTER", "0"),
            ("OPEN_EVENT_MAX_RETRIES", "5"),
            ("OPEN_EVENT_STABLE_PERIOD", "0"),
            ("OPEN_EVENT_CONNECT_TIMEOUT", "3s"),
            ("OPEN_EVENT_WRITE_TIMEOUT", "4s"),
            ("OPEN_EVENT_PONG_TIMEOUT", "45s"),
            ("OPEN_EVENT_DEDUP", "off"),
            ("OPEN_EVENT_DEDUP_WINDOW", "1h"),
            ("OPEN_EVENT_DEDUP_CAPACITY", "100"),
            ("OPEN_EVENT_DEDUP_RETRY_ERRORS", "yes"),
            ("OPEN_EVENT_MAX_IN_FLIGHT", "8"),
            ("OPEN_EVENT_READ_BACKLOG", "0"),
            ("OPEN_EVENT_DELIVERY_BUDGET", "500ms"),
            ("OPEN_EVENT_DRAIN_TIMEOUT", "1m"),
        ];
        let s = Settings::from_vars(vars).unwrap();
        for key in Settings::KEYS {
            assert!(
                s.is_set(key.name) || key.name == "endpoint",
                "{} unset",
                key.name
            );
        }
        let c = s
            .apply_to(super::super::Config::builder("x", "y"))
            .build()
            .unwrap();
        let secs = Duration::from_secs;
        assert_eq!(c.endpoint().to_string(), "ws://127.0.0.1:7000/v7/event/ws");
        assert_eq!(c.credentials().app_secret().expose(), "sk1");
        assert!(!c.ack_mode() && !c.auto_reconnect() && !c.dedup() && c.dedup_retry_errors());
        assert_eq!(
            (c.reconnect_base(), c.reconnect_max()),
            (secs(2), secs(120))
        );
        assert_eq!((c.reconnect_multiplier(), c.reconnect_jitter()), (1.5, 0.0));
        assert_eq!(c.max_retries(), Some(5));
        assert_eq!(
            [
                c.stable_period(),
                c.connect_timeout(),
                c.write_timeout(),
                c.pong_timeout()
            ],
            [Duration::ZERO, secs(3), secs(4), secs(45)]
        );
        assert_eq!((c.dedup_window(), c.dedup_capacity()), (secs(3600), 100));
        assert_eq!((c.max_in_flight(), c.read_backlog()), (8, 0));
        assert_eq!(
            (c.delivery_budget(), c.drain_timeout()),
            (Duration::from_millis(500), secs(60))
        );
        assert_eq!(s.ca_file.len(), 2);
        assert_eq!(
            (
                s.native_roots,
                s.danger_accept_invalid_certs,
                s.proxy_from_env,
                s.seed
            ),
            (Some(true), Some(true), Some(true), Some(42))
        );
    }

    #[test]
    fn bad_values_name_the_variable_the_value_and_the_form() {
        for (var, value, needle) in [
            ("OPEN_EVENT_PONG_TIMEOUT", "90", "a number with a unit"),
            ("OPEN_EVENT_PONG_TIMEOUT", "0s", "1ms ..= 1h"),
            ("OPEN_EVENT_ACK_MODE", "maybe", "true or false"),
            ("OPEN_EVENT_MAX_IN_FLIGHT", "many", "a whole number"),
            ("OPEN_EVENT_MAX_IN_FLIGHT", "0", "1 ..= 65536"),
            ("OPEN_EVENT_RECONNECT_JITTER", "2", "0.0 ..= 1.0"),
            ("OPEN_EVENT_MAX_RETRIES", "-1", "`unlimited`"),
            (
                "OPEN_EVENT_ENDPOINT",
                "http://example.com/v7/event/ws",
                "ws://",
            ),
            ("OPEN_EVENT_APP_ID", "a b", "app id"),
        ] {
            let err = Settings::from_vars([(var, value)]).unwrap_err();
            assert_eq!(err.kind(), SettingsErrorKind::Invalid, "{err}");
            assert_eq!(err.origin(), var, "{err}");
            let text = err.to_string();
            assert!(text.starts_with(&format!("invalid {var}: ")), "{text}");
            assert!(
                text.contains(value) || var != "OPEN_EVENT_PONG_TIMEOUT",
                "{text}"
            );
            assert!(text.contains(needle), "{needle}: {text}");
        }
        let err = Settings::from_vars([
            ("OPEN_EVENT_RECONNECT_BASE", "5s"),
            ("OPEN_EVENT_RECONNECT_MAX", "4s"),
        ])
        .unwrap_err();
        assert_eq!(err.origin(), "OPEN_EVENT_RECONNECT_MAX", "{err}");
        let err = Settings::from_vars([
            ("OPEN_EVENT_ENDPOINT", "ws://a/v7/event/ws"),
            ("OPEN_EVENT_BASE_URL", "https://b"),
        ])
        .unwrap_err();
        assert_eq!(err.kind(), SettingsErrorKind::Conflict, "{err}");
        assert!(err.to_string().contains("OPEN_EVENT_ENDPOINT"), "{err}");
    }

    #[test]
    fn the_secret_never_shows_and_missing_credentials_name_their_variable() {
        let err = Settings::from_vars([("OPEN_EVENT_APP_ID", "AK1")])
            .unwrap()
            .require_credentials()
            .unwrap_err();
        assert_eq!(err.kind(), SettingsErrorKind::Missing);
        assert_eq!(err.origin(), "OPEN_EVENT_APP_SECRET");
        assert!(!format!("{err:?}").contains("NotPresent"), "{err:?}");
        let err = Settings::default().require_credentials().unwrap_err();
        assert_eq!(
            err.to_string(),
            "OPEN_EVENT_APP_ID is not set; expected the app id shown on the WPS open platform \
             console (APP_ID is read too)"
        );
        let s =
            Settings::from_vars([("OPEN_EVENT_APP_SECRET", "hunter2"), ("APP_ID", "AK9")]).unwrap();
        let c = s.require_credentials().unwrap();
        assert_eq!((c.app_id(), c.app_secret().expose()), ("AK9", "hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn the_prefixed_variable_wins_empty_ones_are_unset_and_others_are_ignored() {
        let s = Settings::from_vars([
            ("APP_ID", "plain"),
            ("OPEN_EVENT_APP_ID", "prefixed"),
            ("OPEN_EVENT_PONG_TIMEOUT", "  "),
            ("OPEN_EVENT_CODE", "kso.app_chat.message.create"),
            ("OPEN_EVENT_NONCE", "n1"),
            ("open_event_max_in_flight", "0"),
        ])
        .unwrap();
        assert_eq!(s.app_id.as_deref(), Some("prefixed"));
        assert_eq!(s.pong_timeout, None);
        assert_eq!(s.max_in_flight, None);
        assert_eq!(
            s.apply_to(super::super::Config::builder("a", "b"))
                .build()
                .unwrap()
                .pong_timeout(),
            default_config().pong_timeout()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_value_that_is_not_utf8_is_named() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;

        let err = Settings::from_vars([(
            OsString::from("OPEN_EVENT_PROXY"),
            OsString::from_vec(vec![0xff, 0xfe]),
        )])
        .unwrap_err();
        assert_eq!(err.origin(), "OPEN_EVENT_PROXY");
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    }
}
