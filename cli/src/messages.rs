//! `openevent send` and `openevent reply`: one message through the platform's REST API.
//!
//! `reply` reads the event JSON that `listen --exec` gives its command on stdin (or any
//! `kso.app_chat.message.create` event's JSON, or its bare `data`), so a shell handler can
//! answer with `openevent reply --text "…"`. Both print the new message's id on stdout.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use open_event_api::{
    ApiConfig, ApiError, BlockingClient, DEFAULT_API_BASE, MessageSent, Receiver, ReplyExt,
    SendMessage, TlsOptions,
};
use open_event_core::Credentials;
use open_event_core::model::{AppChatMessageCreate, TypedEvent};
use serde_json::Value;

use crate::args::CredentialArgs;
use crate::credentials::{self, Prompt};
use crate::duration;
use crate::failure::{Exit, Failure};

/// The API settings shared by `send` and `reply`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "API")]
pub(crate) struct ApiArgs {
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,

    /// Base URL of the REST API (a private deployment, or the emulator's).
    #[arg(long, value_name = "URL", default_value = DEFAULT_API_BASE)]
    pub(crate) api_base: String,

    /// Also trust the CA certificates in this PEM file (repeatable).
    #[arg(long, value_name = "PEM")]
    pub(crate) ca_file: Vec<PathBuf>,

    /// Trust the operating system's certificate store instead of the bundled WebPKI roots.
    #[arg(long)]
    pub(crate) native_roots: bool,

    /// DANGEROUS: accept any server certificate (local tests only; prints a warning).
    #[arg(long)]
    pub(crate) insecure: bool,

    /// Bound on each request, retries not included.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, default_value = "10s")]
    pub(crate) timeout: Duration,
}

/// `openevent send`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("to").required(true).args(["chat", "user"])))]
pub(crate) struct SendArgs {
    /// Send to this chat.
    #[arg(long, value_name = "ID")]
    pub(crate) chat: Option<String>,

    /// Send to this user.
    #[arg(long, value_name = "ID")]
    pub(crate) user: Option<String>,

    /// The message text (at most 5 000 characters).
    #[arg(long, value_name = "TEXT")]
    pub(crate) text: String,

    #[command(flatten)]
    pub(crate) api: ApiArgs,
}

/// `openevent reply`.
#[derive(Debug, Args)]
pub(crate) struct ReplyArgs {
    /// The reply's text (at most 5 000 characters).
    #[arg(long, value_name = "TEXT")]
    pub(crate) text: String,

    /// Read the event from FILE instead of stdin.
    #[arg(long, value_name = "FILE")]
    pub(crate) event_file: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) api: ApiArgs,
}

/// Help of `send`.
pub(crate) const SEND_HELP: &str = "\
Sends one text message through the platform's REST API (POST /v7/messages/create): the
access token is fetched first, the call is signed with KSO-1, 429 and 5xx answers are
retried with backoff. Prints the new message's id on stdout.

Credentials: --app-id/--app-secret, else OPEN_EVENT_APP_ID/OPEN_EVENT_APP_SECRET, else
APP_ID/APP_SECRET, else a hidden prompt when stdin is a terminal.

Examples:
  openevent send --chat 123456 --text 'build finished'
  openevent send --user u_42 --text \"$(cat note.txt)\"
  openevent send --chat 1 --text hi --api-base http://127.0.0.1:7001

Exit codes:
  0  sent
  1  credentials missing, or refused by the platform
  2  the API could not be reached (retries exhausted, timeouts, rate limit beyond 60 s)
  3  any other error (the platform refused the message, invalid arguments)";

/// Help of `reply`.
pub(crate) const REPLY_HELP: &str = "\
Answers a kso.app_chat.message.create event (POST /v7/chats/{chat_id}/messages/{message_id}/
reply). The event comes from stdin or --event-file: the JSON object that `listen --exec`
gives its command (also what `listen --json` prints per line), or the event's bare data.
Prints the new message's id on stdout.

Credentials: --app-id/--app-secret, else OPEN_EVENT_APP_ID/OPEN_EVENT_APP_SECRET, else
APP_ID/APP_SECRET (never a prompt: stdin is the event).

Examples:
  openevent listen --events kso.app_chat.message.create --exec 'openevent reply --text pong'
  openevent reply --event-file event.json --text 'on it'

Exit codes:
  0  sent
  1  credentials missing, or refused by the platform
  2  the API could not be reached (retries exhausted, timeouts, rate limit beyond 60 s)
  3  any other error (not a message event, the platform refused the reply, invalid arguments)";

pub(crate) fn send(args: &SendArgs) -> Result<(), Failure> {
    let receiver = match (&args.chat, &args.user) {
        (Some(chat), _) => Receiver::chat(chat),
        (None, Some(user)) => Receiver::user(user),
        (None, None) => return Err(Failure::other("give --chat ID or --user ID")),
    };
    let message = SendMessage::text(receiver, args.text.as_str()).map_err(|e| api_failure(&e))?;
    let credentials = credentials::resolve(&args.api.credentials, Prompt::IfTerminal)?;
    let sent = client(&args.api, &credentials)?
        .send(message)
        .map_err(|e| api_failure(&e))?;
    print_sent(&sent);
    Ok(())
}

pub(crate) fn reply(args: &ReplyArgs) -> Result<(), Failure> {
    let input = match &args.event_file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            Failure::other(format!(
                "cannot read the event from {}: {e}",
                path.display()
            ))
        })?,
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::other(format!("cannot read the event from stdin: {e}")))?;
            text
        }
    };
    let event = message_event(&input)?;
    let reply = event
        .reply_text(args.text.as_str())
        .map_err(|e| api_failure(&e))?;
    let credentials = credentials::resolve(&args.api.credentials, Prompt::Never)?;
    let sent = client(&args.api, &credentials)?
        .reply(reply)
        .map_err(|e| api_failure(&e))?;
    print_sent(&sent);
    Ok(())
}

fn print_sent(sent: &MessageSent) {
    println!("{}", sent.message_id.as_deref().unwrap_or("sent"));
}

fn client(args: &ApiArgs, credentials: &Credentials) -> Result<BlockingClient, Failure> {
    let config = ApiConfig::builder(credentials.app_id(), credentials.app_secret().clone())
        .api_base(args.api_base.as_str())
        .request_timeout(args.timeout)
        .build()
        .map_err(|e| api_failure(&e))?;
    let tls = TlsOptions {
        roots: if args.native_roots {
            open_event_api::Roots::Native
        } else {
            open_event_api::Roots::WebPki
        },
        extra_ca_files: args.ca_file.clone(),
        danger_accept_invalid_certs: args.insecure,
    };
    BlockingClient::with_tls(config, &tls).map_err(|e| api_failure(&e))
}

/// The typed message event in `input`: an event record (with `event_code` and `data`) or the
/// bare data.
fn message_event(input: &str) -> Result<AppChatMessageCreate, Failure> {
    let value: Value = serde_json::from_str(input.trim()).map_err(|e| {
        Failure::other(format!(
            "the event is not JSON ({e}): pipe the event JSON of `listen --exec` (or --json) in, \
             or pass --event-file"
        ))
    })?;
    let data = match (value.get("event_code"), value.get("data")) {
        (Some(code), Some(data)) => {
            if code != AppChatMessageCreate::EVENT_CODE {
                return Err(Failure::other(format!(
                    "the event is {code}, not a {}: only chat messages can be replied to \
                     (use --events {} with listen)",
                    AppChatMessageCreate::EVENT_CODE,
                    AppChatMessageCreate::EVENT_CODE
                )));
            }
            match data {
                Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
                other => other.clone(),
            }
        }
        _ => value,
    };
    serde_json::from_value(data).map_err(|e| {
        Failure::other(format!(
            "the event's data is not a {} payload ({e}): it needs chat.id and message.id",
            AppChatMessageCreate::EVENT_CODE
        ))
    })
}

/// The exit code and message of an API error.
fn api_failure(err: &ApiError) -> Failure {
    let exit = match err {
        ApiError::Credentials { .. } | ApiError::Unauthorized { .. } => Exit::Credentials,
        ApiError::Config { setting, .. } if *setting == "app_id" || *setting == "app_secret" => {
            Exit::Credentials
        }
        ApiError::Transport { .. }
        | ApiError::RetryAfterTooLong { .. }
        | ApiError::GaveUp { .. } => Exit::Connection,
        _ => Exit::Other,
    };
    let hint = match err {
        ApiError::Config {
            setting: "api_base",
            ..
        } => "\n  (set --api-base to the API's base URL)",
        ApiError::Credentials { .. } | ApiError::Unauthorized { .. } => {
            "\n  (credentials come from --app-id/--app-secret, OPEN_EVENT_APP_ID/OPEN_EVENT_APP_SECRET or APP_ID/APP_SECRET)"
        }
        _ => "",
    };
    Failure::new(exit, format!("{err}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = r#"{"company_id":"c","chat":{"id":"chat_1","type":"p2p"},"sender":{"type":"user","id":"u"},"send_time":1,"message":{"id":"m1","type":"text","content":{"text":"hi"}}}"#;

    #[test]
    fn reads_event_records_and_bare_data() {
        let record = format!(
            r#"{{"time":"2024-01-01T00:00:00Z","event_code":"kso.app_chat.message.create","topic":"kso.app_chat.message","operation":"create","nonce":"n","data":{DATA}}}"#
        );
        assert_eq!(message_event(&record).unwrap().message.id, "m1");
        assert_eq!(message_event(DATA).unwrap().chat.id, "chat_1");
        let as_text =
            serde_json::json!({"event_code": "kso.app_chat.message.create", "data": DATA});
        assert_eq!(
            message_event(&as_text.to_string()).unwrap().message.id,
            "m1"
        );
    }

    #[test]
    fn other_events_and_junk_are_explained() {
        let err = message_event(r#"{"event_code":"kso.app_chat.create","data":{}}"#).unwrap_err();
        assert!(err.message.contains("only chat messages"), "{err}");
        let err = message_event("not json").unwrap_err();
        assert!(err.message.contains("--event-file"), "{err}");
        let err = message_event(r#"{"chat":{}}"#).unwrap_err();
        assert!(err.message.contains("chat.id and message.id"), "{err}");
    }

    #[test]
    fn exit_codes_follow_the_cause() {
        let credentials = ApiError::Credentials {
            status: 400,
            code: 1,
            msg: "bad".into(),
        };
        assert_eq!(api_failure(&credentials).exit, Exit::Credentials);
        let unreachable = ApiError::GaveUp {
            attempts: 4,
            last: Box::new(ApiError::Transport {
                call: "POST /x".into(),
                detail: "refused".into(),
            }),
        };
        assert_eq!(api_failure(&unreachable).exit, Exit::Connection);
        assert_eq!(
            api_failure(&ApiError::TextTooLong {
                chars: 5001,
                max: 5000
            })
            .exit,
            Exit::Other
        );
    }
}
