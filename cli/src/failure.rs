//! How the program ends: exit codes and the error message that goes with them.

use std::fmt;
use std::process::ExitCode;

use open_event_core::config::ConfigError;
use open_event_core::connection::StopReason;

use crate::flag_hints;

/// The documented exit codes (`openevent --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Clean stop.
    Ok = 0,
    /// Credentials missing or rejected; an invalid frame for `decode`.
    Credentials = 1,
    /// Retries exhausted, connection replaced, connection lost.
    Connection = 2,
    /// Anything else.
    Other = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit as u8)
    }
}

/// An error that ends the program: what went wrong and what to do next, with its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

impl Failure {
    /// A failure with this exit code.
    /// SDK setting names in the message become the CLI's flags ([`flag_hints`]).
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            exit,
            message: flag_hints::as_flags(&message).into_owned(),
        }
    }

    /// Exit code 3.
    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self::new(Exit::Other, message)
    }

    /// A setting out of range, named by its command-line flag.
    pub(crate) fn config(err: &ConfigError) -> Self {
        let exit = match err.field() {
            "app_id" | "app_secret" => Exit::Credentials,
            _ => Exit::Other,
        };
        let flag = format!("--{}", err.field().replace('_', "-"));
        Self::new(
            exit,
            format!(
                "invalid {flag}: {}; expected {}",
                err.problem(),
                err.allowed()
            ),
        )
    }

    /// Why the client stopped for good, with the next step for each reason.
    pub(crate) fn stopped(reason: &StopReason) -> Self {
        match reason {
            StopReason::AuthRejected { .. } => Self::new(
                Exit::Credentials,
                format!(
                    "{reason}\n  (credentials come from --app-id/--app-secret, \
                     OPEN_EVENT_APP_ID/OPEN_EVENT_APP_SECRET or APP_ID/APP_SECRET)"
                ),
            ),
            StopReason::RetriesExhausted { .. } => Self::new(
                Exit::Connection,
                format!(
                    "{reason}\n  (check --endpoint/--base-url and --proxy, or raise --max-retries)"
                ),
            ),
            StopReason::ConnectionLost(_) => Self::new(
                Exit::Connection,
                format!("{reason}\n  (leave out --no-reconnect to reconnect automatically)"),
            ),
            StopReason::ConnectionReplaced { .. } => {
                Self::new(Exit::Connection, reason.to_string())
            }
            _ => Self::new(Exit::Other, reason.to_string()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
