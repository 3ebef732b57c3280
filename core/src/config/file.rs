//! Config files: every setting in a TOML document, one top-level key per setting, named as the
//! builder method (the keys of the README's Configuration table). Parsing is pure:
//! [`Settings::from_toml`] takes the text (the runtimes and the CLI read the file). A key that
//! is no setting is refused with its name, its line and the closest known key; a value of the
//! wrong type with the key, the line and the type expected.
//!
//! ```toml
//! app_id = "AK20240101XXXX"
//! # app_secret = "..."        # better in OPEN_EVENT_APP_SECRET, out of the file
//! endpoint = "wss://openapi.wps.cn/v7/event/ws"
//! pong_timeout = "45s"        # durations are strings: "500ms", "10s", "2m", "1h"
//! max_in_flight = 16
//! reconnect_jitter = 0.1
//! max_retries = "unlimited"   # or a whole number
//! ack_mode = true
//! ca_file = ["certs/private-ca.pem"]   # relative to the file's directory
//!
//! [headers]                   # extra handshake headers (not those the signed request owns)
//! X-Tenant = "t1"
//!
//! [query]                     # extra query parameters of the endpoint (signed with it)
//! region = "cn"
//! ```
//!
//! Where settings come from, in order of precedence (a later one wins, setting by setting):
//! the defaults, the config file, the `OPEN_EVENT_*` variables ([`super::env`]), then the
//! builder's setters (the CLI's flags).
//!
//! ```
//! use std::time::Duration;
//! use open_event_core::config::{Settings, SettingsErrorKind};
//!
//! let settings = Settings::from_toml("pong_timeout = \"45s\"\nmax_in_flight = 16\n", "app.toml")?;
//! assert_eq!(settings.pong_timeout, Some(Duration::from_secs(45)));
//!
//! let err = Settings::from_toml("pong_timout = \"45s\"\n", "app.toml").unwrap_err();
//! assert_eq!(err.kind(), SettingsErrorKind::UnknownKey);
//! assert_eq!(
//!     err.to_string(),
//!     "unknown key `pong_timout` (line 1 of app.toml); expected a setting: did you mean `pong_timeout`?"
//! );
//!
//! let err = Settings::from_toml("pong_timeout = 45\n", "app.toml").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid `pong_timeout` (line 1 of app.toml): `45` is an integer; \
//!      expected a string with a duration, e.g. \"500ms\", \"10s\", \"2m\" or \"1h\""
//! );
//! # Ok::<(), open_event_core::config::SettingsError>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::settings::{Kind, Settings, SettingsError};

/// The keys that hold tables of `name = "value"` strings: extra handshake headers and query
/// parameters.
const TABLES: [&str; 2] = ["headers", "query"];

/// What a key of the kind takes in a TOML file, for messages.
fn toml_expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Text | Kind::Secret => "a non-empty string",
        Kind::Url => "a string with a URL",
        Kind::Paths => "a string or an array of strings (file paths)",
        Kind::Bool => "true or false",
        Kind::Duration => "a string with a duration, e.g. \"500ms\", \"10s\", \"2m\" or \"1h\"",
        Kind::Float => "a number, e.g. 0.2",
        Kind::Count => "a whole number, e.g. 64",
        Kind::CountOrUnlimited => "a whole number, or \"unlimited\"",
    }
}

/// The TOML type of a value, for messages.
fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The line (from 1) of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The edit distance of `a` and `b` (insertions, deletions, substitutions).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The known key closest to `key` when it looks like a misspelling of one (also the variable
/// form `OPEN_EVENT_PONG_TIMEOUT` and the flag form `pong-timeout`).
///
/// ```
/// use open_event_core::config::file::closest_key;
///
/// assert_eq!(closest_key("pong_timout"), Some("pong_timeout"));
/// assert_eq!(closest_key("max-in-flight"), Some("max_in_flight"));
/// assert_eq!(closest_key("OPEN_EVENT_SEED"), Some("seed"));
/// assert_eq!(closest_key("colour"), None);
/// ```
pub fn closest_key(key: &str) -> Option<&'static str> {
    let normal = key.to_ascii_lowercase().replace('-', "_");
    let normal = normal.strip_prefix("open_event_").unwrap_or(&normal);
    let (best, d) = Settings::KEYS
        .iter()
        .map(|k| k.name)
        .chain(TABLES)
        .map(|name| (name, distance(normal, name)))
        .min_by_key(|(_, d)| *d)?;
    (d <= (best.len() / 3).clamp(1, 3)).then_some(best)
}

/// The `name = "value"` pairs of the table `key`, in the file's order.
fn string_table(
    value: &DeValue<'_>,
    text: &str,
    file: &str,
    key: &str,
) -> Result<Vec<(String, String)>, SettingsError> {
    let expected = "a table of `name = \"value\"` strings";
    let DeValue::Table(table) = value else {
        return Err(SettingsError::wrong_type(
            format!("`{key}` in {file}"),
            None,
            format!("is {}", type_name(value)),
            expected,
        ));
    };
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(name, _)| name.span().start);
    entries
        .into_iter()
        .map(|(name, value)| match value.get_ref() {
            DeValue::String(s) => Ok((name.get_ref().to_string(), s.to_string())),
            other => Err(SettingsError::wrong_type(
                format!(
                    "`{key}.{}` (line {} of {file})",
                    name.get_ref(),
                    line_of(text, name.span().start)
                ),
                None,
                format!("is {}", type_name(other)),
                "a string",
            )),
        })
        .collect()
}

impl Settings {
    /// Reads every setting from the TOML document `text` (see the [module docs](self));
    /// `file` names it in messages (e.g. its path). Values are checked as the builder will.
    /// Relative `ca_file` paths are kept as written: [`Settings::relative_to`] resolves them.
    ///
    /// # Errors
    /// A [`SettingsError`]: a TOML syntax error (with its line and column), a key that is no
    /// setting (with the closest known key), a value of the wrong type or out of range (with
    /// the key, its line and what is expected).
    pub fn from_toml(text: &str, file: &str) -> Result<Self, SettingsError> {
        let table = DeTable::parse(text).map_err(|mut err| {
            err.set_input(Some(text));
            SettingsError::syntax(file, err.to_string().trim_end())
        })?;
        let mut entries: Vec<_> = table.get_ref().iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        let mut settings = Self::default();
        let mut lines: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (key, value) in entries {
            let line = line_of(text, key.span().start);
            let name = key.get_ref().as_ref();
            let origin = format!("`{name}` (line {line} of {file})");
            if TABLES.contains(&name) {
                let pairs = string_table(value.get_ref(), text, file, name)?;
                if name == "headers" {
                    settings.headers = pairs;
                } else {
                    settings.query = pairs;
                }
                lines.insert(if name == "headers" { "header" } else { "query" }, line);
                continue;
            }
            let Some(known) = Self::key(name) else {
                return Err(SettingsError::unknown_key(
                    format!("key {origin}"),
                    closest_key(name),
                ));
            };
            lines.insert(known.name, line);
            let raw = text.get(value.span()).unwrap_or_default();
            settings.set_toml(known.name, known.kind, value.get_ref(), raw, &origin)?;
        }
        settings.check(|name| {
            // A `ConfigError` names one header `header`; the file's key is `headers`.
            let key = if name == "header" { "headers" } else { name };
            lines.get(name).map_or_else(
                || format!("`{key}` in {file}"),
                |line| format!("`{key}` (line {line} of {file})"),
            )
        })?;
        Ok(settings)
    }

    /// `self` with every relative `ca_file` path joined to `dir` (a config file's directory,
    /// so that its paths mean the same from any working directory).
    #[must_use]
    pub fn relative_to(mut self, dir: &Path) -> Self {
        for path in &mut self.ca_file {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
        self
    }

    fn set_toml(
        &mut self,
        name: &'static str,
        kind: Kind,
        value: &DeValue<'_>,
        raw: &str,
        origin: &str,
    ) -> Result<(), SettingsError> {
        let raw = match value {
            DeValue::String(s) => s.as_ref(),
            _ => raw,
        };
        let shown = (kind != Kind::Secret).then_some(raw);
        let wrong = || {
            SettingsError::wrong_type(
                origin,
                shown,
                format!("is {}", type_name(value)),
                toml_expected(kind),
            )
        };
        let text = match (kind, value) {
            (Kind::Paths, DeValue::String(path)) => {
                self.ca_file = vec![PathBuf::from(path.as_ref())];
                return Ok(());
            }
            (Kind::Paths, DeValue::Array(paths)) => {
                let mut out = Vec::new();
                for path in paths.iter() {
                    match path.get_ref() {
                        DeValue::String(p) if !p.is_empty() => out.push(PathBuf::from(p.as_ref())),
                        other => {
                            return Err(SettingsError::wrong_type(
                                origin,
                                shown,
                                format!("holds {}", type_name(other)),
                                toml_expected(kind),
                            ));
                        }
                    }
                }
                self.ca_file = out;
                return Ok(());
            }
            (Kind::Text | Kind::Secret | Kind::Url, DeValue::String(s)) if s.is_empty() => {
                return Err(SettingsError::invalid(
                    origin,
                    None,
                    "is empty",
                    toml_expected(kind),
                ));
            }
            (Kind::Text | Kind::Secret | Kind::Url | Kind::Duration, DeValue::String(s)) => {
                s.to_string()
            }
            (Kind::CountOrUnlimited, DeValue::String(s)) if s.eq_ignore_ascii_case("unlimited") => {
                s.to_string()
            }
            (Kind::Bool, DeValue::Boolean(b)) => b.to_string(),
            (Kind::Float, DeValue::Float(f)) => f.as_str().to_owned(),
            (Kind::Float | Kind::Count | Kind::CountOrUnlimited, DeValue::Integer(i)) => {
                match i128::from_str_radix(i.as_str(), i.radix()) {
                    Ok(n) => n.to_string(),
                    Err(_) => return Err(wrong()),
                }
            }
            _ => return Err(wrong()),
        };
        match self.set_text(name, &text, |p| vec![PathBuf::from(p)]) {
            Some(Ok(())) => Ok(()),
            Some(Err(problem)) => Err(SettingsError::invalid(
                origin,
                shown,
                problem,
                toml_expected(kind),
            )),
            None => unreachable!("`{name}` is a key of Settings::KEYS"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::settings::SettingsErrorKind;
    use super::*;

    const EVERY_KEY: &str = r#"
app_id = "AK1"
app_secret = "sk1"
base_url = "https://example.com"
ca_file = ["a.pem", "/etc/b.pem"]
native_roots = true
danger_accept_invalid_certs = false
proxy = "http://proxy:3128"
proxy_from_env = true
seed = 42
ack_mode = false
auto_reconnect = false
reconnect_base = "2s"
reconnect_max = "2m"
reconnect_multiplier = 3
reconnect_jitter = 0.5
max_retries = 7
stable_period = "0s"
connect_timeout = "3s"
write_timeout = "4s"
pong_timeout = "1.5s"
dedup = false
dedup_window = "1h"
dedup_capacity = 100
dedup_retry_errors = true
max_in_flight = 8
read_backlog = 0
delivery_budget = "500ms"
drain_timeout = "1m"
"#;

    #[test]
    fn every_key_reaches_its_setting() {
        let s = Settings::from_toml(EVERY_KEY, "t.toml").unwrap();
        for key in Settings::KEYS {
            assert!(s.is_set(key.name) || key.name == "endpoint", "{}", key.name);
        }
        assert_eq!(s.pong_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(s.reconnect_multiplier, Some(3.0));
        assert_eq!(s.max_retries, Some(Some(7)));
        assert_eq!(s.seed, Some(42));
        let s = s.relative_to(Path::new("/srv/app"));
        assert_eq!(
            s.ca_file,
            [PathBuf::from("/srv/app/a.pem"), PathBuf::from("/etc/b.pem")]
        );
        let s =
            Settings::from_toml("max_retries = \"unlimited\"\nca_file = \"c.pem\"", "t").unwrap();
        assert_eq!((s.max_retries, s.ca_file.len()), (Some(None), 1));
    }

    #[test]
    fn unknown_keys_name_the_key_its_line_and_the_closest_one() {
        for (text, key, hint) in [
            (
                "\n\npong_timout = \"5s\"",
                "`pong_timout` (line 3 of t)",
                Some("pong_timeout"),
            ),
            (
                "max-in-flight = 3",
                "`max-in-flight` (line 1 of t)",
                Some("max_in_flight"),
            ),
            ("[client]\nseed = 1", "`client` (line 1 of t)", None),
            ("colour = true", "`colour` (line 1 of t)", None),
        ] {
            let err = Settings::from_toml(text, "t").unwrap_err();
            assert_eq!(err.kind(), SettingsErrorKind::UnknownKey, "{err}");
            assert_eq!(err.origin(), format!("key {key}"), "{err}");
            match hint {
                Some(h) => assert!(
                    err.to_string().contains(&format!("did you mean `{h}`?")),
                    "{err}"
                ),
                None => assert!(!err.to_string().contains("did you mean"), "{err}"),
            }
        }
    }

    #[test]
    fn wrong_types_and_bad_values_name_the_key_and_what_is_expected() {
        for (text, needle) in [
            (
                "pong_timeout = 90",
                "`90` is an integer; expected a string with a duration",
            ),
            ("pong_timeout = \"90\"", "`90` is not a duration"),
            ("ack_mode = \"yes\"", "is a string; expected true or false"),
            ("max_in_flight = 1.5", "is a float; expected a whole number"),
            ("max_in_flight = -1", "`-1` is negative"),
            (
                "max_in_flight = 0",
                "0 is out of range; expected 1 ..= 65536",
            ),
            (
                "endpoint = 1",
                "is an integer; expected a string with a URL",
            ),
            ("endpoint = \"\"", "is empty"),
            ("ca_file = [1]", "expected a string or an array of strings"),
            (
                "reconnect_jitter = 2.0",
                "2 is out of range; expected 0.0 ..= 1.0",
            ),
            (
                "app_secret = 5",
                "invalid `app_secret` (line 1 of t): is an integer",
            ),
        ] {
            let err = Settings::from_toml(text, "t").unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
            assert!(err.origin().contains("line 1 of t"), "{text}: {err}");
        }
        let err = Settings::from_toml("app_secret = \"\"", "t").unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
    }

    #[test]
    fn headers_and_query_are_tables_of_strings() {
        let text =
            "seed = 1\n[headers]\nX-Tenant = \"t1\"\nX-Trace = \"a\"\n[query]\nregion = \"cn\"\n";
        let s = Settings::from_toml(text, "t").unwrap();
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(s.headers, [pair("X-Tenant", "t1"), pair("X-Trace", "a")]);
        assert_eq!(s.query, [pair("region", "cn")]);
        let err = Settings::from_toml("[headers]\nHost = \"evil\"\n", "t").unwrap_err();
        assert!(
            err.to_string()
                .contains("`Host` is set by the signed handshake"),
            "{err}"
        );
        assert_eq!(err.origin(), "`headers` (line 1 of t)", "{err}");
        let err = Settings::from_toml("[headers]\nX-Count = 3\n", "t").unwrap_err();
        assert_eq!(err.origin(), "`headers.X-Count` (line 2 of t)", "{err}");
        let err = Settings::from_toml("headers = \"X: y\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("a table of"), "{err}");
        let err = Settings::from_toml("[header]\nX = \"y\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("did you mean `headers`?"), "{err}");
    }

    #[test]
    fn a_syntax_error_names_the_file_and_the_line() {
        let err = Settings::from_toml("seed = 1\nmax_in_flight = = 3\n", "app.toml").unwrap_err();
        assert_eq!(err.kind(), SettingsErrorKind::Syntax);
        let text = err.to_string();
        assert!(text.starts_with("app.toml is not valid TOML"), "{text}");
        assert!(text.contains("line 2"), "{text}");
        let err = Settings::from_toml("seed = 1\nseed = 2\n", "app.toml").unwrap_err();
        assert_eq!(err.kind(), SettingsErrorKind::Syntax, "{err}");
    }

    #[test]
    fn the_readme_example_is_a_valid_config_file() {
        let readme = include_str!("../../../README.md");
        let example = readme
            .split("### Config file")
            .nth(1)
            .and_then(|rest| rest.split("```toml\n").nth(1))
            .and_then(|block| block.split("```").next())
            .expect("the README has a config file example");
        let s = Settings::from_toml(example, "README.md").unwrap();
        assert_eq!(s.pong_timeout, Some(Duration::from_secs(45)));
        assert_eq!(s.headers.len(), 1);
        assert_eq!(s.query.len(), 1);
    }

    #[test]
    fn the_secret_is_never_shown() {
        let err = Settings::from_toml("app_secret = [\"hunter2\"]", "t").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}
