//! Where the app id and secret come from: flags, then `OPEN_EVENT_*`, then `APP_ID`/`APP_SECRET`,
//! then (for `listen` on a terminal) a prompt that does not echo the secret.

use std::io::{BufRead, IsTerminal, Write};

use open_event_core::config::Settings;
use open_event_core::{AppSecret, Credentials};

use crate::args::CredentialArgs;
use crate::environment;
use crate::failure::{Exit, Failure};

/// Whether missing credentials may be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prompt {
    /// On a terminal, ask.
    IfTerminal,
    /// Never ask (e.g. `decode`, which reads the frame from stdin).
    Never,
}

/// Resolves the credentials from the flags, else the environment's credential variables
/// (read as the SDK reads them), or explains which flag or variable to set.
pub(crate) fn resolve(args: &CredentialArgs, prompt: Prompt) -> Result<Credentials, Failure> {
    resolve_with(args, prompt, &environment::credential_settings()?)
}

/// Resolves the credentials from the flags, else `settings` (the `OPEN_EVENT_*` variables
/// already read), else the prompt.
pub(crate) fn resolve_with(
    args: &CredentialArgs,
    prompt: Prompt,
    settings: &Settings,
) -> Result<Credentials, Failure> {
    let mut app_id = args
        .app_id
        .clone()
        .filter(|v| !v.is_empty())
        .or_else(|| settings.app_id.clone());
    let mut secret = args
        .app_secret
        .clone()
        .filter(|v| !v.is_empty())
        .or_else(|| settings.app_secret.as_ref().map(|s| s.expose().to_owned()));
    if (app_id.is_none() || secret.is_none())
        && prompt == Prompt::IfTerminal
        && std::io::stdin().is_terminal()
    {
        if app_id.is_none() {
            app_id = Some(ask_app_id()?);
        }
        if secret.is_none() {
            let answer = rpassword::prompt_password("App secret (not shown): ").map_err(|err| {
                Failure::new(
                    Exit::Credentials,
                    format!(
                        "cannot read the app secret from the terminal ({err}); pass --app-secret \
                         or set OPEN_EVENT_APP_SECRET"
                    ),
                )
            })?;
            secret = Some(answer.trim().to_owned()).filter(|s| !s.is_empty());
        }
    }
    match (app_id, secret) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id.trim(), AppSecret::new(secret))),
        (id, secret) => Err(missing(id.is_none(), secret.is_none(), prompt)),
    }
}

fn ask_app_id() -> Result<String, Failure> {
    let mut err = std::io::stderr();
    let _ = write!(err, "App id: ");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        Failure::new(
            Exit::Credentials,
            format!("cannot read the app id ({e}); pass --app-id or set OPEN_EVENT_APP_ID"),
        )
    })?;
    Ok(line.trim().to_owned())
}

fn missing(id: bool, secret: bool, prompt: Prompt) -> Failure {
    let what = match (id, secret) {
        (true, true) => "no app credentials given",
        (true, false) => "no app id given",
        _ => "no app secret given",
    };
    let mut how = Vec::new();
    if id {
        how.push("--app-id or OPEN_EVENT_APP_ID (or APP_ID)");
    }
    if secret {
        how.push("--app-secret or OPEN_EVENT_APP_SECRET (or APP_SECRET)");
    }
    let tail = match prompt {
        Prompt::IfTerminal => {
            "; openevent asks for them only when stdin is a terminal, and it is not"
        }
        Prompt::Never => "",
    };
    Failure::new(
        Exit::Credentials,
        format!(
            "{what}: set {}{tail}. Both are on the app's page of the WPS open platform console.",
            how.join(" and ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_vars(pairs.iter().copied()).unwrap()
    }

    fn args(id: Option<&str>, secret: Option<&str>) -> CredentialArgs {
        CredentialArgs {
            app_id: id.map(str::to_owned),
            app_secret: secret.map(str::to_owned),
        }
    }

    #[test]
    fn flags_win_then_open_event_vars_then_plain_vars() {
        let all = env(&[
            ("OPEN_EVENT_APP_ID", "oe-id"),
            ("OPEN_EVENT_APP_SECRET", "oe-secret"),
            ("APP_ID", "id"),
            ("APP_SECRET", "secret"),
        ]);
        let c = resolve_with(&args(Some("flag-id"), None), Prompt::Never, &all).unwrap();
        assert_eq!(c.app_id(), "flag-id");
        assert_eq!(c.app_secret().expose(), "oe-secret");
        let plain = env(&[
            ("APP_ID", "id"),
            ("APP_SECRET", "secret"),
            ("OPEN_EVENT_APP_ID", ""),
        ]);
        let c = resolve_with(&args(None, None), Prompt::Never, &plain).unwrap();
        assert_eq!((c.app_id(), c.app_secret().expose()), ("id", "secret"));
    }

    #[test]
    fn missing_credentials_name_the_flags_and_variables() {
        let err = resolve_with(&args(None, None), Prompt::Never, &env(&[])).unwrap_err();
        assert_eq!(err.exit, Exit::Credentials);
        for needle in [
            "--app-id",
            "OPEN_EVENT_APP_ID",
            "--app-secret",
            "APP_SECRET",
        ] {
            assert!(err.message.contains(needle), "{needle}: {err}");
        }
        let err = resolve_with(&args(Some("x"), None), Prompt::Never, &env(&[])).unwrap_err();
        assert!(err.message.starts_with("no app secret given"), "{err}");
        assert!(!err.message.contains("--app-id"), "{err}");
    }
}
