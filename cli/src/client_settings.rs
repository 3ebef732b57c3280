//! The settings of a client, layered in order of precedence: the `--config` file, then the
//! `OPEN_EVENT_*` variables, then the flags (a later layer wins setting by setting; a flag's
//! variable is not even read). One [`Settings`] comes out and is applied to the runtime's
//! `ClientBuilder` with its `settings` method, so every runtime gets the same values.

use open_event_core::Credentials;
use open_event_core::config::{Settings, SettingsErrorKind};

use crate::args::{ConnectionArgs, CredentialArgs};
use crate::credentials::{self, Prompt};
use crate::environment;
use crate::failure::{Exit, Failure};

/// The config file, the variables and the flags, merged (the credentials included, for
/// [`take_credentials`]).
pub(crate) fn resolve(connection: &ConnectionArgs) -> Result<Settings, Failure> {
    let flags = from_flags(connection);
    let file = match &connection.config {
        Some(path) => open_event_transport::file_settings(path).map_err(|err| {
            let exit = match err.origin() {
                o if o.starts_with("`app_id`") || o.starts_with("`app_secret`") => {
                    Exit::Credentials
                }
                _ => Exit::Other,
            };
            let hint = match err.kind() {
                SettingsErrorKind::UnknownKey => {
                    " (the keys are the settings of the README's Configuration table)"
                }
                _ => "",
            };
            Failure::new(exit, format!("{err}{hint}"))
        })?,
        None => Settings::default(),
    };
    let env = environment::settings_under(&flags)?;
    Ok(file.over(env).over(flags))
}

/// The credentials: the flags, else `settings` (the variables over the file), else the
/// prompt. They are taken out of `settings`, so that applying it cannot replace them.
pub(crate) fn take_credentials(
    settings: &mut Settings,
    args: &CredentialArgs,
    prompt: Prompt,
) -> Result<Credentials, Failure> {
    let credentials = credentials::resolve_with(args, prompt, settings)?;
    settings.app_id = None;
    settings.app_secret = None;
    Ok(credentials)
}

/// `--header NAME:VALUE` (spaces around the value are dropped).
pub(crate) fn header_flag(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!(
            "`{text}` is not NAME:VALUE, e.g. --header 'X-Tenant: t1'"
        )),
    }
}

/// `--query NAME=VALUE` (the value may be empty; it is percent-encoded when sent).
pub(crate) fn query_flag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!(
            "`{text}` is not NAME=VALUE, e.g. --query region=cn"
        )),
    }
}

/// The settings the flags set (a flag left out sets nothing).
pub(crate) fn from_flags(c: &ConnectionArgs) -> Settings {
    let on = |flag: bool, value: bool| flag.then_some(value);
    let mut s = Settings::default();
    s.endpoint.clone_from(&c.endpoint);
    s.base_url.clone_from(&c.base_url);
    s.headers.clone_from(&c.header);
    s.query.clone_from(&c.query);
    s.ca_file.clone_from(&c.ca_file);
    s.native_roots = on(c.native_roots, true);
    s.danger_accept_invalid_certs = on(c.insecure, true);
    s.proxy.clone_from(&c.proxy);
    s.proxy_from_env = on(c.proxy_from_env, true);
    s.seed = c.seed;
    s.ack_mode = on(c.no_ack, false);
    s.auto_reconnect = on(c.no_reconnect, false);
    s.reconnect_base = c.reconnect_base;
    s.reconnect_max = c.reconnect_max;
    s.reconnect_multiplier = c.reconnect_multiplier;
    s.reconnect_jitter = c.reconnect_jitter;
    s.max_retries = c.max_retries.map(Some);
    s.stable_period = c.stable_period;
    s.connect_timeout = c.connect_timeout;
    s.write_timeout = c.write_timeout;
    s.pong_timeout = c.pong_timeout;
    s.delivery_budget = c.delivery_budget;
    s.drain_timeout = c.drain_timeout;
    s.max_in_flight = c.max_in_flight;
    s.read_backlog = c.read_backlog;
    s.dedup_window = c.dedup_window;
    s.dedup_capacity = c.dedup_capacity;
    s.dedup = on(c.no_dedup, false);
    s.dedup_retry_errors = on(c.dedup_retry_errors, true);
    s
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn listen(args: &[&str]) -> ConnectionArgs {
        let cli = Cli::try_parse_from(["openevent", "listen"].iter().chain(args)).unwrap();
        let Command::Listen(listen) = cli.command else {
            panic!("not listen")
        };
        listen.connection
    }

    #[test]
    fn every_flag_sets_its_setting() {
        let c = listen(&[
            "--endpoint",
            "ws://127.0.0.1:1/v7/event/ws",
            "--ca-file",
            "/a.pem",
            "--native-roots",
            "--insecure",
            "--proxy",
            "http://p:1",
            "--proxy-from-env",
            "--no-ack",
            "--no-reconnect",
            "--reconnect-base",
            "2s",
            "--reconnect-max",
            "3s",
            "--reconnect-multiplier",
            "1.5",
            "--reconnect-jitter",
            "0.1",
            "--max-retries",
            "4",
            "--stable-period",
            "5s",
            "--seed",
            "6",
            "--connect-timeout",
            "7s",
            "--write-timeout",
            "8s",
            "--pong-timeout",
            "9s",
            "--delivery-budget",
            "10s",
            "--drain-timeout",
            "11s",
            "--max-in-flight",
            "12",
            "--read-backlog",
            "13",
            "--dedup-window",
            "14s",
            "--dedup-capacity",
            "15",
            "--no-dedup",
            "--dedup-retry-errors",
            "--header",
            "X-Tenant: t1",
            "--query",
            "region=cn",
        ]);
        let s = from_flags(&c);
        for key in Settings::KEYS {
            let expected = !matches!(key.name, "app_id" | "app_secret" | "base_url");
            assert_eq!(s.is_set(key.name), expected, "{}", key.name);
        }
        assert_eq!(s.ack_mode, Some(false));
        assert_eq!(s.max_retries, Some(Some(4)));
        assert_eq!(s.pong_timeout, Some(Duration::from_secs(9)));
        assert!(!from_flags(&listen(&[])).is_set("ack_mode"));
        assert_eq!(s.headers, [("X-Tenant".to_owned(), "t1".to_owned())]);
        assert_eq!(s.query, [("region".to_owned(), "cn".to_owned())]);
    }

    #[test]
    fn header_and_query_flags_need_their_separator() {
        assert_eq!(
            header_flag("X-A:b:c"),
            Ok(("X-A".to_owned(), "b:c".to_owned()))
        );
        assert!(header_flag("X-A").unwrap_err().contains("NAME:VALUE"));
        assert!(header_flag(":v").is_err());
        assert_eq!(query_flag("a="), Ok(("a".to_owned(), String::new())));
        assert!(query_flag("a").unwrap_err().contains("NAME=VALUE"));
    }
}
