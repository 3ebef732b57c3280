//! The `OPEN_EVENT_*` variables that stand in for flags (credentials are in
//! [`crate::credentials`]): a flag always wins over its variable.

use open_event_core::config::Config;

use crate::args::ConnectionArgs;
use crate::failure::Failure;

/// The endpoint URL, when neither `--endpoint` nor `--base-url` is given.
pub(crate) const ENDPOINT_VAR: &str = "OPEN_EVENT_ENDPOINT";

/// Fills `connection.endpoint` from [`ENDPOINT_VAR`] when no flag chose the endpoint; a bad
/// value is reported with the variable's name.
pub(crate) fn apply(connection: &mut ConnectionArgs) -> Result<(), Failure> {
    apply_with(connection, |name| std::env::var(name).ok())
}

fn apply_with(
    connection: &mut ConnectionArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), Failure> {
    if connection.endpoint.is_some() || connection.base_url.is_some() {
        return Ok(());
    }
    let Some(url) = env(ENDPOINT_VAR).map(|v| v.trim().to_owned()) else {
        return Ok(());
    };
    if url.is_empty() {
        return Ok(());
    }
    if let Err(err) = Config::builder("check", "check")
        .endpoint(url.clone())
        .build()
    {
        return Err(Failure::other(format!(
            "invalid {ENDPOINT_VAR}: {}; expected {} (or unset it and pass --endpoint)",
            err.problem(),
            err.allowed()
        )));
    }
    connection.endpoint = Some(url);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_fills_in_only_when_no_flag_chose() {
        let env = |name: &str| {
            (name == ENDPOINT_VAR).then(|| "ws://127.0.0.1:7000/v7/event/ws".to_owned())
        };
        let mut c = ConnectionArgs::default();
        apply_with(&mut c, env).unwrap();
        assert_eq!(
            c.endpoint.as_deref(),
            Some("ws://127.0.0.1:7000/v7/event/ws")
        );
        let mut c = ConnectionArgs {
            base_url: Some("https://example.com".into()),
            ..ConnectionArgs::default()
        };
        apply_with(&mut c, env).unwrap();
        assert_eq!(c.endpoint, None);
        let bad = |_: &str| Some("http://example.com".to_owned());
        let err = apply_with(&mut ConnectionArgs::default(), bad).unwrap_err();
        assert!(
            err.message.starts_with("invalid OPEN_EVENT_ENDPOINT"),
            "{err}"
        );
    }
}
