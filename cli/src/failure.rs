//! How the program ends: exit codes and the error message that goes with them.

use std::fmt;
use std::process::ExitCode;

use open_event_core::config::ConfigError;
use open_event_core::connect_hint::connect_hint;
use open_event_core::connection::DisconnectCause;
use open_event_core::duration_text::friendly_durations;
use open_event_tokio::RunError;

use crate::style::plural;

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
        let bound = match err.field() {
            "reconnect_max" => {
                "; the lower bound is --reconnect-base (default 1s): raise --reconnect-max or \
                 lower --reconnect-base"
            }
            _ => "",
        };
        Self::new(
            exit,
            format!(
                "invalid {flag}: {}; expected {}{bound}",
                friendly_durations(err.problem()),
                friendly_durations(err.allowed())
            ),
        )
    }

    /// Why the client stopped for good, with the next step for each reason.
    pub(crate) fn stopped(reason: &RunError) -> Self {
        Self::stopped_after(reason, false)
    }

    /// Like [`Failure::stopped`]; `hinted` says the hint for the last cause (see
    /// [`cause_hint`]) was already printed, so it is not repeated.
    pub(crate) fn stopped_after(reason: &RunError, hinted: bool) -> Self {
        let hint = |cause: &DisconnectCause, otherwise: &str| match cause_hint(cause) {
            Some(_) if hinted => String::new(),
            Some(hint) => format!("\n  ({hint})"),
            None => format!("\n  ({otherwise})"),
        };
        match reason {
            RunError::AuthRejected { .. } => Self::new(
                Exit::Credentials,
                format!(
                    "{reason}\n  (credentials come from --app-id/--app-secret, \
                     OPEN_EVENT_APP_ID/OPEN_EVENT_APP_SECRET or APP_ID/APP_SECRET)"
                ),
            ),
            RunError::RetriesExhausted { attempts, last } => Self::new(
                Exit::Connection,
                format!(
                    "gave up after {} (last: {last}){}",
                    plural(u64::from(*attempts), "consecutive failed attempt"),
                    hint(
                        last,
                        "check the network, --endpoint/--base-url and --proxy, or raise \
                         --max-retries"
                    )
                ),
            ),
            RunError::ConnectionLost(cause) => Self::new(
                Exit::Connection,
                format!(
                    "{reason}{}",
                    hint(cause, "leave out --no-reconnect to reconnect automatically")
                ),
            ),
            RunError::ConnectionReplaced { .. } => Self::new(Exit::Connection, reason.to_string()),
            _ => Self::new(Exit::Other, reason.to_string()),
        }
    }
}

/// The core's hint for a failed connect whose cause points at a wrong URL (e.g. HTTP 404: the
/// path), with the flags that set the URL. Printed once per run.
pub(crate) fn cause_hint(cause: &DisconnectCause) -> Option<String> {
    connect_hint(cause).map(|hint| format!("{hint} (--endpoint, --base-url)"))
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
