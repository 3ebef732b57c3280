//! The command line: every subcommand, flag and help text.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{address, count, duration};

/// `Duration::from_millis`, for the ranges below.
const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const EXIT_CODES: &str = "\
Exit codes:
  0  clean stop (Ctrl+C or SIGTERM after a graceful drain, --max-events reached, stdout closed)
  1  credentials missing or rejected by the server (HTTP 401/403), invalid frame (decode)
  2  connection: retries exhausted, connection replaced by another client, connection lost
  3  any other error (invalid arguments or settings, empty input (decode), I/O errors)";

/// Receive WPS open platform events over the WebSocket long connection, or try the whole
/// protocol locally.
#[derive(Debug, Parser)]
#[command(
    name = "openevent",
    version,
    about = "Receive WPS open platform events over the WebSocket long connection (v7 event ws)",
    long_about = "Receive WPS open platform events over the WebSocket long connection (v7 event \
                  ws), run a local emulator of the platform, decode event frames, or watch the \
                  whole protocol in a self-contained demo.",
    after_help = concat!("Start with `openevent demo`.\n\n", "Exit codes: 0 clean stop, 1 credentials, 2 connection, 3 other (see --help)."),
    after_long_help = EXIT_CODES,
    propagate_version = true
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Never colour the output. Colour is used only on a terminal, and never when NO_COLOR is
    /// set.
    #[arg(long, global = true)]
    pub(crate) no_color: bool,

    /// Print debug logs of the connection on stderr.
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Connect to the platform and print (or run a command for) every event.
    #[command(after_long_help = LISTEN_HELP)]
    Listen(Box<ListenArgs>),
    /// Run the whole protocol against a built-in emulator and narrate it (no account needed).
    #[command(after_long_help = DEMO_HELP)]
    Demo(DemoArgs),
    /// Run an emulator of the platform's event server for testing your own app.
    #[command(after_long_help = EMULATE_HELP)]
    Emulate(Box<EmulateArgs>),
    /// Serve the webhook endpoint and print (or run a command for) every event posted to it.
    #[command(after_long_help = crate::webhook::WEBHOOK_HELP)]
    Webhook(Box<crate::webhook::WebhookArgs>),
    /// Verify and decrypt one event frame (or webhook body) and print the event.
    #[command(after_long_help = DECODE_HELP)]
    Decode(DecodeArgs),
    /// Send a text message to a chat or a user through the REST API.
    #[command(after_long_help = crate::messages::SEND_HELP)]
    Send(Box<crate::messages::SendArgs>),
    /// Reply to a chat message event (the JSON of `listen --exec`, on stdin).
    #[command(after_long_help = crate::messages::REPLY_HELP)]
    Reply(Box<crate::messages::ReplyArgs>),
    /// Store every event in Redis Streams or NATS JetStream (ack after the broker confirmed),
    /// with standby instances behind a leader lease; `relay tail` prints a stream.
    #[command(after_long_help = crate::relay::RELAY_HELP)]
    Relay(Box<crate::relay::RelayArgs>),
    /// Print the version, the protocol and the available runtimes.
    Version,
    /// Print a shell completion script (e.g. `openevent completions bash > ~/.local/share/bash-completion/completions/openevent`).
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. `openevent man > openevent.1 && man ./openevent.1`.
    Man,
}

/// `openevent completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

const LISTEN_HELP: &str = "\
Credentials: --app-id/--app-secret, else OPEN_EVENT_APP_ID/OPEN_EVENT_APP_SECRET, else
APP_ID/APP_SECRET, else a hidden prompt when stdin is a terminal. The endpoint: --endpoint
or --base-url, else OPEN_EVENT_ENDPOINT, else wss://openapi.wps.cn/v7/event/ws.
Every setting likewise: the flag, else its OPEN_EVENT_* variable (OPEN_EVENT_PONG_TIMEOUT=45s),
else the --config FILE (TOML, one key per setting: pong_timeout = \"45s\"; [headers] and
[query] tables), else the default. --header NAME:VALUE and --query NAME=VALUE add to the
handshake (the query is signed with the request URI).

--events patterns are checked against the event codes openevent knows: one that matches
none of them and looks like a typo (`kso.app_chat` for `kso.app_chat.*`) gets a warning
with the fix, or with --strict stops the run (exit 3): events no pattern matches are acked
200 unhandled, so the platform never redelivers them.

Output: events go to stdout (readable, or NDJSON with --json: one object per event with
time (RFC 3339), event_code, topic, operation, nonce and data, the event's JSON as sent,
key order kept); status lines go to stderr.
Closing stdout (e.g. `| head -n 3`) stops the client gracefully with exit code 0.
Events are printed in the order they arrive, each acked once it was written (on --runtime
blocking they are handled one at a time for that, unless --max-in-flight is given).

--exec CMD runs CMD with `sh -c` once per event, the event's JSON on stdin and
OPEN_EVENT_CODE, OPEN_EVENT_TOPIC, OPEN_EVENT_OPERATION, OPEN_EVENT_NONCE in the environment.
Exit status 0 acks the event with 200; anything else acks it with 500 and the command's
stderr (trimmed) as the message, so the platform redelivers it later. The platform expects
an answer within 3 s (--delivery-budget reports slower handlers); --exec-timeout (default
30 s) is the hard limit after which the command is killed and the event acked with 500.
At most --max-in-flight commands (default 64) run at once, so their output may come in
any order; --max-in-flight 1 runs them one after another. The command's stdout is copied
to stdout (to stderr with --json, so the NDJSON stays valid); --quiet leaves out the
events themselves, so stdout holds only the commands' output.

Examples:
  export OPEN_EVENT_APP_ID=AK20240101XXXX OPEN_EVENT_APP_SECRET=...
  openevent listen
  openevent listen --json | jq .data
  openevent listen --events 'kso.app_chat.*' --events kso.xz.app.group_chat.delete
  openevent listen --exec './handle-event.sh' --exec-timeout 10s --quiet
  OPEN_EVENT_ENDPOINT=ws://127.0.0.1:7000/v7/event/ws openevent listen
  openevent listen --config /etc/openevent.toml --header 'X-Tenant: t1' --query region=cn
  openevent listen --json --output events.ndjson --max-events 100
  openevent listen --endpoint ws://127.0.0.1:7000/v7/event/ws --runtime blocking

Exit codes:
  0  clean stop (Ctrl+C or SIGTERM after a graceful drain, --max-events reached, stdout closed)
  1  credentials missing, or the server rejected them (HTTP 401/403)
  2  connection: retries exhausted, connection replaced by another client, connection lost
  3  any other error (invalid arguments or settings, I/O errors)";

const DEMO_HELP: &str = "\
Starts an emulator of the platform on a loopback port with made-up credentials, connects a
client to it and prints a live log of both sides: the handshake, every typed event of the
protocol plus an unknown one (with its data), the acks, replies to the chat messages through
the emulated REST API (token, KSO-1, reply), the heartbeats, a server_shutdown
GoAway with its reconnect delay, a connection dropped before an ack and the redelivery that
follows (acked again, not handled twice), and a summary. Takes about 7 s.

Examples:
  openevent demo
  openevent demo --runtime smol
  openevent demo --duration 1m      # keep pushing events for a minute
  NO_COLOR=1 openevent demo > demo.log";

const EMULATE_HELP: &str = "\
Serves the platform's side of the event long connection (ws://) on this machine: validates
the KSO-1 handshake, pings, pushes signed and encrypted events, records acks and redelivers
events not acked with 200 on the next connection. Prints the URL and credentials to use,
then everything the client does: handshakes (valid or not, and the reconnect delay before
each), acks with their codes, pongs per ping, GoAways, dropped connections. Runs until
Ctrl+C or --duration.

Events: --file pushes a JSONL file, one {\"topic\", \"operation\", \"data\"} object per line
(data is any JSON value, or a string holding the data text; an optional integer \"time\" sets
the event time), at --rate per second if given. Without --file, sample events (every typed
event of the protocol) are generated at --rate per second (default 1) while a client is
connected; --rate 0 generates none.

Examples:
  openevent emulate --listen 127.0.0.1:7000
  openevent emulate --listen localhost:7001
  openevent emulate --file events.jsonl --rate 5
  openevent emulate --goaway-after 10 --goaway-reason server_shutdown --goaway-reconnect-ms 2000
  openevent emulate --drop-every 5 --reject-first 2 --reject-status 503
  openevent emulate --silence-after 3 --silence-for 2m --ping-interval 5s
  openevent emulate --app-id AK123 --app-secret s3cret --duration 30s
  openevent emulate --api-listen 127.0.0.1:7001   # and the REST API, for replies";

const DECODE_HELP: &str = "\
Reads one event frame (the WebSocket text frame, or the identical body of a webhook POST)
from stdin or --file, verifies its signature and decrypts it with the app's credentials
(--app-id/--app-secret, else OPEN_EVENT_APP_ID/OPEN_EVENT_APP_SECRET, else APP_ID/APP_SECRET)
and prints the event. An invalid frame prints the exact reason and exits with 1; empty
input exits with 3. On a terminal it says it is waiting for the frame (end it with Ctrl+D).
--sample prints a valid frame of a made-up app, and the credentials that open it.

Examples:
  openevent decode --sample | openevent decode --app-id AK20240101SAMPLE --app-secret sk_sample_not_a_real_secret
  openevent decode < frame.json
  openevent decode --file body.json --json | jq .data
  pbpaste | openevent decode --app-id AK123 --app-secret s3cret";

/// Which async runtime (or none) drives the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuntimeKind {
    /// open-event-tokio on a tokio multi-thread runtime.
    Tokio,
    /// open-event-async-std under the async-std executor (async-std is discontinued upstream).
    AsyncStd,
    /// open-event-async-std under the smol executor.
    Smol,
    /// open-event-blocking: plain threads.
    Blocking,
}

impl RuntimeKind {
    /// Every runtime, for `openevent version`.
    pub(crate) const ALL: [Self; 4] = [Self::Tokio, Self::AsyncStd, Self::Smol, Self::Blocking];

    /// The name used on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::AsyncStd => "async-std",
            Self::Smol => "smol",
            Self::Blocking => "blocking",
        }
    }

    /// The crate and executor behind it.
    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::Tokio => "open-event-tokio on a tokio multi-thread runtime",
            Self::AsyncStd => {
                "open-event-async-std under the async-std executor (discontinued upstream; prefer smol)"
            }
            Self::Smol => "open-event-async-std under the smol executor",
            Self::Blocking => "open-event-blocking on plain threads",
        }
    }
}

/// Where the app's credentials come from.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct CredentialArgs {
    /// The app id (default: $OPEN_EVENT_APP_ID, else $APP_ID).
    #[arg(long, value_name = "ID")]
    pub(crate) app_id: Option<String>,

    /// The app secret (default: $OPEN_EVENT_APP_SECRET, else $APP_SECRET). Prefer the
    /// environment or the prompt: command lines are visible to other users of the machine.
    #[arg(long, value_name = "SECRET")]
    pub(crate) app_secret: Option<String>,
}

/// Endpoint, TLS, proxy and every protocol setting of the client. Settings left out keep the
/// library's defaults.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Connection")]
pub(crate) struct ConnectionArgs {
    /// Read the settings from this TOML file (one key per setting, named as in the README's
    /// Configuration table, e.g. `pong_timeout = "45s"`); OPEN_EVENT_* variables and flags win
    /// over its keys.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Full endpoint URL (default: $OPEN_EVENT_ENDPOINT, else wss://openapi.wps.cn/v7/event/ws).
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint: Option<String>,

    /// Base URL of a private or international deployment; /v7/event/ws is appended.
    #[arg(long, value_name = "URL", conflicts_with = "endpoint")]
    pub(crate) base_url: Option<String>,

    /// Add a header to the WebSocket handshake (repeatable). The headers the signed handshake
    /// owns (Host, Upgrade, Sec-WebSocket-*, Authorization, X-Kso-*, X-Ack-Mode, ...) are refused.
    #[arg(long, value_name = "NAME:VALUE", value_parser = crate::client_settings::header_flag)]
    pub(crate) header: Vec<(String, String)>,

    /// Add a query parameter to the endpoint URL (repeatable); it is signed with the rest of the
    /// request URI.
    #[arg(long, value_name = "NAME=VALUE", value_parser = crate::client_settings::query_flag)]
    pub(crate) query: Vec<(String, String)>,

    /// Also trust the CA certificates in this PEM file (repeatable).
    #[arg(long, value_name = "PEM")]
    pub(crate) ca_file: Vec<PathBuf>,

    /// Trust the operating system's certificate store instead of the bundled WebPKI roots.
    #[arg(long)]
    pub(crate) native_roots: bool,

    /// DANGEROUS: accept any server certificate (local tests only; prints a warning).
    #[arg(long)]
    pub(crate) insecure: bool,

    /// Connect through this HTTP proxy (`http://user:password@host:port`, user and port optional; CONNECT).
    #[arg(long, value_name = "URL")]
    pub(crate) proxy: Option<String>,

    /// Take the proxy from HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and honour NO_PROXY.
    #[arg(long)]
    pub(crate) proxy_from_env: bool,

    /// Do not ask for ACK mode and send no acks.
    #[arg(long)]
    pub(crate) no_ack: bool,

    /// Stop (exit code 2) instead of reconnecting when the connection is lost.
    #[arg(long)]
    pub(crate) no_reconnect: bool,

    /// Backoff base interval (default: 1s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Reconnect")]
    pub(crate) reconnect_base: Option<Duration>,

    /// Backoff cap (default: 60s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Reconnect")]
    pub(crate) reconnect_max: Option<Duration>,

    /// Backoff growth factor per attempt (default: 2.0).
    #[arg(
        long,
        value_name = "FACTOR",
        allow_negative_numbers = true,
        help_heading = "Reconnect"
    )]
    pub(crate) reconnect_multiplier: Option<f64>,

    /// Relative jitter of every delay, 0.0 to 1.0 (default: 0.2).
    #[arg(
        long,
        value_name = "FRACTION",
        allow_negative_numbers = true,
        help_heading = "Reconnect"
    )]
    pub(crate) reconnect_jitter: Option<f64>,

    /// Give up (exit code 2) after this many consecutive failed attempts (default: unlimited).
    #[arg(long, value_name = "N", value_parser = count::at_least(0u32), allow_negative_numbers = true, help_heading = "Reconnect")]
    pub(crate) max_retries: Option<u32>,

    /// A connection open this long resets the backoff (default: 30s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Reconnect")]
    pub(crate) stable_period: Option<Duration>,

    /// Seed of the reconnect jitter, to replay a run (default: random).
    #[arg(long, value_name = "N", value_parser = count::at_least(0u64), allow_negative_numbers = true, help_heading = "Reconnect")]
    pub(crate) seed: Option<u64>,

    /// Bound on the opening handshake (TCP, TLS, WebSocket upgrade) (default: 10s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Timeouts")]
    pub(crate) connect_timeout: Option<Duration>,

    /// Bound on every write (default: 10s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Timeouts")]
    pub(crate) write_timeout: Option<Duration>,

    /// Server silence after which the connection counts as dead (default: 90s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Timeouts")]
    pub(crate) pong_timeout: Option<Duration>,

    /// Report handlers running longer than this (the platform expects 3 s) (default: 3s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Timeouts")]
    pub(crate) delivery_budget: Option<Duration>,

    /// How long a graceful stop waits for running handlers (default: 5s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Timeouts")]
    pub(crate) drain_timeout: Option<Duration>,

    /// Events handled at once at most (default: 64).
    #[arg(long, value_name = "N", value_parser = count::at_least(0usize), allow_negative_numbers = true, help_heading = "Flow control")]
    pub(crate) max_in_flight: Option<usize>,

    /// Events queued past --max-in-flight before reading pauses (default: 64).
    #[arg(long, value_name = "N", value_parser = count::at_least(0usize), allow_negative_numbers = true, help_heading = "Flow control")]
    pub(crate) read_backlog: Option<usize>,

    /// How long a nonce is remembered to suppress redeliveries (default: 10m).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true, help_heading = "Flow control")]
    pub(crate) dedup_window: Option<Duration>,

    /// How many nonces are remembered at most (default: 10000).
    #[arg(long, value_name = "N", value_parser = count::at_least(0usize), allow_negative_numbers = true, help_heading = "Flow control")]
    pub(crate) dedup_capacity: Option<usize>,

    /// Deliver redelivered events again instead of suppressing them.
    #[arg(long, help_heading = "Flow control")]
    pub(crate) no_dedup: bool,

    /// Handle a redelivered event again when its first handling failed (default: a failed
    /// event's redelivery is acked with its first 500 without running the handler again).
    #[arg(long, help_heading = "Flow control")]
    pub(crate) dedup_retry_errors: bool,
}

/// `openevent listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,

    /// `--events`, `--strict`, `--json`, `--exec`, `--exec-timeout`, `--quiet`, `--output`,
    /// `--max-events`: shared with `webhook`.
    #[command(flatten)]
    pub(crate) handling: crate::handling::HandlingArgs,

    /// The runtime that drives the client.
    #[arg(long, value_enum, default_value = "tokio")]
    pub(crate) runtime: RuntimeKind,

    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,

    /// `--metrics`, `--health-grace`: shared with `relay`.
    #[command(flatten)]
    pub(crate) metrics: crate::metrics_server::ClientMetricsArgs,
}

/// `openevent demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The runtime that drives the client.
    #[arg(long, value_enum, default_value = "tokio")]
    pub(crate) runtime: RuntimeKind,

    /// Keep pushing events after the tour until this much time has passed since the start.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true)]
    pub(crate) duration: Option<Duration>,

    /// Show webhook mode instead: a webhook server and the platform posting to it.
    #[arg(long, conflicts_with_all = ["runtime", "duration"])]
    pub(crate) webhook: bool,
}

/// `openevent emulate`.
#[derive(Debug, Args)]
pub(crate) struct EmulateArgs {
    /// Address to listen on, HOST:PORT with an IP address or a host name such as localhost
    /// (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", value_parser = address::resolve, default_value = "127.0.0.1:0")]
    pub(crate) listen: SocketAddr,

    /// Also serve the platform's REST API (token, message create, reply) on this address,
    /// for apps that answer events (their --api-base / ApiConfig::api_base).
    #[arg(long, value_name = "ADDR")]
    pub(crate) api_listen: Option<SocketAddr>,

    /// Serve this app id (default: a generated one, printed at start).
    #[arg(long, value_name = "ID", requires = "app_secret")]
    pub(crate) app_id: Option<String>,

    /// Serve this app secret (default: a generated one, printed at start).
    #[arg(long, value_name = "SECRET", requires = "app_id")]
    pub(crate) app_secret: Option<String>,

    /// Push the events of this JSONL file ({"topic","operation","data"} per line).
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,

    /// Events per second (file: pace of the file; else: rate of sample events, default 1).
    #[arg(long, value_name = "N", value_parser = count::at_least(0u32), allow_negative_numbers = true)]
    pub(crate) rate: Option<u32>,

    /// Interval of the server's WebSocket pings (the platform's is 30 s; 10ms ..= 1h).
    #[arg(long, value_name = "DURATION", value_parser = duration::between(ms(10), ms(3_600_000)), allow_hyphen_values = true, default_value = "30s", help_heading = "Scenario")]
    pub(crate) ping_interval: Duration,

    /// Send a GoAway after N events were sent on a connection.
    #[arg(long, value_name = "N", value_parser = count::at_least(1u64), allow_negative_numbers = true, help_heading = "Scenario")]
    pub(crate) goaway_after: Option<u64>,

    /// Reason of that GoAway: server_shutdown, connection_replaced, heartbeat_timeout or any
    /// other word (an unknown reason).
    #[arg(
        long,
        value_name = "REASON",
        default_value = "server_shutdown",
        help_heading = "Scenario"
    )]
    pub(crate) goaway_reason: String,

    /// The reconnect delay that GoAway announces, in milliseconds.
    #[arg(long, value_name = "MS", value_parser = count::at_least(0u64), allow_negative_numbers = true, help_heading = "Scenario")]
    pub(crate) goaway_reconnect_ms: Option<u64>,

    /// Drop the connection (no close frame) after every N events sent on it.
    #[arg(long, value_name = "N", value_parser = count::at_least(1u64), allow_negative_numbers = true, help_heading = "Scenario")]
    pub(crate) drop_every: Option<u64>,

    /// Go silent (no pings, no events) after N events were sent on a connection...
    #[arg(long, value_name = "N", value_parser = count::at_least(1u64), allow_negative_numbers = true, requires = "silence_for", help_heading = "Scenario")]
    pub(crate) silence_after: Option<u64>,

    /// ...for this long (1ms ..= 24h).
    #[arg(long, value_name = "DURATION", value_parser = duration::between(ms(1), ms(86_400_000)), allow_hyphen_values = true, requires = "silence_after", help_heading = "Scenario")]
    pub(crate) silence_for: Option<Duration>,

    /// Redeliver events not acked with 200 on the next connection, as the platform does. On
    /// by default (this emulator always redelivers); the flag only makes it explicit.
    #[arg(long, help_heading = "Scenario")]
    pub(crate) redeliver: bool,

    /// Reject the first N handshakes with --reject-status.
    #[arg(long, value_name = "N", value_parser = count::at_least(0u32), allow_negative_numbers = true, help_heading = "Scenario")]
    pub(crate) reject_first: Option<u32>,

    /// HTTP status of those rejections (401 and 403 make clients stop for good).
    #[arg(long, value_name = "STATUS", default_value_t = 503, value_parser = clap::value_parser!(u16).range(400..600), help_heading = "Scenario")]
    pub(crate) reject_status: u16,

    /// Stop after this long (default: run until Ctrl+C).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, allow_hyphen_values = true)]
    pub(crate) duration: Option<Duration>,

    /// Play the platform's webhook side instead: post the challenge, then signed events
    /// (--file or samples at --rate), to this URL, retrying what is not answered 200.
    #[arg(long, value_name = "URL")]
    pub(crate) webhook: Option<String>,
}

/// `openevent decode`.
#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,

    /// Read the frame from FILE instead of stdin.
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,

    /// Print the event as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,

    /// Print a valid sample frame on stdout and its made-up credentials on stderr, to try
    /// decode with (`openevent decode --sample > frame.json`).
    #[arg(long, conflicts_with_all = ["file", "json"])]
    pub(crate) sample: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn listen_takes_every_setting() {
        let cli = Cli::try_parse_from([
            "openevent",
            "listen",
            "--events",
            "kso.app_chat.*,kso.xz.app.group_chat.delete",
            "--pong-timeout",
            "500ms",
            "--max-retries",
            "3",
            "--runtime",
            "async-std",
            "--no-color",
        ])
        .unwrap();
        let Command::Listen(args) = cli.command else {
            panic!("not listen")
        };
        assert_eq!(args.handling.events.len(), 2);
        assert_eq!(
            args.connection.pong_timeout,
            Some(Duration::from_millis(500))
        );
        assert_eq!(args.runtime, RuntimeKind::AsyncStd);
        assert!(cli.no_color);
    }

    #[test]
    fn a_bad_duration_names_the_format() {
        let err = Cli::try_parse_from(["openevent", "listen", "--pong-timeout", "soon"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("500ms"), "{err}");
    }
}
