//! The `OPEN_EVENT_*` variables: every setting of the client, read with the SDK's own code
//! ([`Settings::from_vars`], the table of `open_event_core::config::env`), so the CLI and
//! `ClientBuilder::from_env` take the same names and values. A flag always wins over its
//! variable (the flags are applied to the client after these settings).

use std::ffi::OsString;

use open_event_core::config::env::{APP_ID_VARS, APP_SECRET_VARS, misspelled};
use open_event_core::config::{Settings, SettingsError, SettingsErrorKind};

use crate::failure::{Exit, Failure};

/// Every setting from the process's `OPEN_EVENT_*` variables that `flags` leaves unset; a bad
/// value is reported with the variable's name, its value and the form expected.
pub(crate) fn settings_under(flags: &Settings) -> Result<Settings, Failure> {
    Settings::from_vars_under(std::env::vars_os(), flags).map_err(|err| failure(&err))
}

/// A warning per `OPEN_EVENT_*` variable that looks like a misspelled setting (it is ignored).
pub(crate) fn misspelled_warnings() -> Vec<String> {
    misspelled(std::env::vars_os().map(|(name, _)| name))
        .into_iter()
        .map(|(var, meant)| format!("{var} is not a setting and is ignored; did you mean {meant}?"))
        .collect()
}

/// Only the app id and secret from the environment, for the commands that need nothing else
/// (`decode`, `send`, `webhook`, ...): a bad `OPEN_EVENT_PONG_TIMEOUT` does not concern them.
pub(crate) fn credential_settings() -> Result<Settings, Failure> {
    credential_settings_from(std::env::vars_os())
}

fn credential_settings_from(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Settings, Failure> {
    let credential = |name: &OsString| {
        name.to_str()
            .is_some_and(|n| APP_ID_VARS.contains(&n) || APP_SECRET_VARS.contains(&n))
    };
    Settings::from_vars(vars.into_iter().filter(|(name, _)| credential(name)))
        .map_err(|err| failure(&err))
}

/// A bad variable: exit code 1 for the credentials, 3 for the rest, with a hint that a flag
/// overrides it.
fn failure(err: &SettingsError) -> Failure {
    let credentials =
        APP_ID_VARS.contains(&err.origin()) || APP_SECRET_VARS.contains(&err.origin());
    let exit = if credentials || err.kind() == SettingsErrorKind::Missing {
        Exit::Credentials
    } else {
        Exit::Other
    };
    Failure::new(
        exit,
        format!("{err} (fix or unset the variable; a flag overrides it)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn credential_commands_read_only_the_credentials() {
        let s = credential_settings_from(vars(&[
            ("OPEN_EVENT_APP_ID", "AK1"),
            ("APP_SECRET", "sk1"),
            ("OPEN_EVENT_PONG_TIMEOUT", "soon"),
        ]))
        .unwrap();
        assert_eq!(s.app_id.as_deref(), Some("AK1"));
        assert_eq!(s.pong_timeout, None);
        let err = credential_settings_from(vars(&[("OPEN_EVENT_APP_ID", "a b")])).unwrap_err();
        assert_eq!(err.exit, Exit::Credentials);
        assert!(
            err.message.starts_with("invalid OPEN_EVENT_APP_ID"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_variable_is_named_with_its_fix() {
        let err = Settings::from_vars(vars(&[("OPEN_EVENT_ENDPOINT", "http://example.com")]))
            .unwrap_err();
        let failure = failure(&err);
        assert_eq!(failure.exit, Exit::Other);
        assert!(
            failure.message.starts_with("invalid OPEN_EVENT_ENDPOINT"),
            "{failure}"
        );
        assert!(failure.message.contains("a flag overrides it"), "{failure}");
    }
}
