//! `openevent relay`: hand every event to Redis Streams or NATS JetStream (ack after the
//! broker confirmed), optionally as one of several instances behind a leader lease; and
//! `openevent relay tail`, which prints what a stream holds.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use open_event_relay::{
    Broker, BrokerAddress, JetStreamOptions, JetStreamSink, KvLease, Lease, RedisLease, RedisSink,
    RedisSinkOptions, Relay, RelayError, RelayHandle, Role, Sink, Tail,
};
use open_event_tokio::{BuildError, Client};

use crate::args::{ConnectionArgs, CredentialArgs};
use crate::client_settings;
use crate::credentials::Prompt;
use crate::duration;
use crate::environment;
use crate::failure::Failure;
use crate::listen::Status;
use crate::metrics_server::{ClientMetricsArgs, MetricsServer};
use crate::probes::{ClientProbes, RelayProbes};
use crate::stopper::{Stopper, install_signals};
use crate::style::{Palette, Stream};

pub(crate) const RELAY_HELP: &str = "\
Connects to the platform like `listen` and stores every event in a durable broker: a Redis
stream (XADD with the fields code, nonce, time, data; each nonce once within the dedup window)
or a NATS JetStream stream (subject SUBJECT.<event code>, header Nats-Msg-Id: <nonce>; the
stream SUBJECT.> is created when missing). An event is acked 200 only after the broker
confirmed it, 500 when it failed or took longer than --store-timeout, so the platform delivers
it again. Workers consume the stream at their own pace (e.g. XREADGROUP/XACK). Events are
stored concurrently (up to --max-in-flight at once), so the stream's order may differ from
the arrival order; --max-in-flight 1 keeps it, at the cost of throughput.

Standby instances: run the same command with --lease on several machines. Exactly one holds
the lease (Redis key, or a NATS KV bucket) and the platform connection; it renews every
TTL/3, and when it cannot renew it drains and closes before the lease can expire. The others
wait and connect once it expired (failover within TTL plus a reconnect).

Broker settings: Redis with `appendonly yes` and `appendfsync always` (else a crash of Redis
loses confirmed events); nats-server with JetStream (`-js`) and file storage.

Status lines (stderr): the role (leader/standby) when it changes, and every --status-every
the events stored, duplicates, failed stores and stores pending.

Examples:
  openevent relay --to redis://127.0.0.1:6379/wps-events
  openevent relay --to nats://127.0.0.1:4222/wps --lease nats://127.0.0.1:4222/wps-leader
  openevent relay --to redis://10.0.0.5:6379/wps-events --lease redis://10.0.0.5:6379/wps-leader --lease-ttl 10s
  openevent relay tail --from redis://127.0.0.1:6379/wps-events

Exit codes: as for `listen`.";

/// `openevent relay`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct RelayArgs {
    /// `openevent relay tail`.
    #[command(subcommand)]
    pub(crate) command: Option<RelayCommand>,

    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,

    /// Where events go: redis://HOST:PORT/STREAM or nats://HOST:PORT/SUBJECT.
    #[arg(long, value_name = "URL", required = true)]
    pub(crate) to: Option<String>,

    /// Hold the platform connection only while holding this lease: redis://HOST:PORT/KEY or
    /// nats://HOST:PORT/BUCKET (a KV bucket). Run the same command on every instance.
    #[arg(long, value_name = "URL")]
    pub(crate) lease: Option<String>,

    /// How long the lease lasts without renewal (the failover time after a crash).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, default_value = "10s")]
    pub(crate) lease_ttl: Duration,

    /// Only these event codes; `*` matches any run of characters (repeatable or
    /// comma-separated). Other events are acked 200 as unhandled and not stored.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    pub(crate) events: Vec<String>,

    /// A store slower than this acks the event with 500 (the platform expects 3 s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, default_value = "3s")]
    pub(crate) store_timeout: Duration,

    /// Redis: trim the stream with MAXLEN ~ N (default: never trimmed).
    #[arg(long, value_name = "N")]
    pub(crate) max_len: Option<u64>,

    /// NATS: the JetStream stream's name (default: the subject upper-cased, . as _).
    #[arg(long, value_name = "NAME")]
    pub(crate) stream: Option<String>,

    /// How often to print the counters.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, default_value = "10s")]
    pub(crate) status_every: Duration,

    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,

    #[command(flatten)]
    pub(crate) metrics: ClientMetricsArgs,
}

/// Subcommands of `openevent relay`.
#[derive(Debug, Subcommand)]
pub(crate) enum RelayCommand {
    /// Print what a stream holds, from the start, then follow it.
    Tail(TailArgs),
}

/// `openevent relay tail`.
#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// The stream: redis://HOST:PORT/STREAM or nats://HOST:PORT/SUBJECT.
    #[arg(long, value_name = "URL")]
    pub(crate) from: String,

    /// NATS: the JetStream stream's name (default: as `relay` names it).
    #[arg(long, value_name = "NAME")]
    pub(crate) stream: Option<String>,

    /// Stop after this many events (default: follow until Ctrl+C).
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,

    /// One JSON object per event (id, code, nonce, time, data) instead of readable lines.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &RelayArgs, no_color: bool) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("openevent-relay")
        .enable_all()
        .build()
        .map_err(|err| Failure::other(format!("cannot start the tokio runtime: {err}")))?;
    match &args.command {
        Some(RelayCommand::Tail(tail)) => runtime.block_on(self::tail(tail)),
        None => relay(args, no_color, &runtime),
    }
}

fn address(text: &str) -> Result<BrokerAddress, Failure> {
    BrokerAddress::parse(text).map_err(|err| Failure::other(err.to_string()))
}

fn relay(
    args: &RelayArgs,
    no_color: bool,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), Failure> {
    let status = Status::new(Palette::detect(Stream::Stderr, no_color));
    let to = address(args.to.as_deref().unwrap_or_default())?;
    let lease_address = args.lease.as_deref().map(address).transpose()?;
    let mut settings = client_settings::resolve(&args.connection)?;
    let credentials =
        client_settings::take_credentials(&mut settings, &args.credentials, Prompt::IfTerminal)?;
    let stopper = Stopper::new();
    {
        let status = status.clone();
        install_signals(Arc::clone(&stopper), move |text| status.info(text))?;
    }
    for warning in environment::misspelled_warnings() {
        status.warn(&warning);
    }
    if settings.danger_accept_invalid_certs == Some(true) {
        status.warn(
            "--insecure: TLS certificates are NOT verified; use it only against a local test \
             server; prefer --ca-file.",
        );
    }
    runtime.block_on(async {
        let sink: Box<dyn Sink> = match to.broker() {
            Broker::Redis => Box::new(
                RedisSink::connect(
                    &to,
                    RedisSinkOptions {
                        max_len: args.max_len,
                        ..RedisSinkOptions::default()
                    },
                )
                .await
                .map_err(|err| Failure::other(err.to_string()))?,
            ),
            Broker::Nats => Box::new(
                JetStreamSink::connect(
                    &to,
                    JetStreamOptions {
                        stream: args.stream.clone(),
                        ..JetStreamOptions::default()
                    },
                )
                .await
                .map_err(|err| Failure::other(err.to_string()))?,
            ),
        };
        let sink_text = sink.describe();
        let lease: Option<Box<dyn Lease>> = match &lease_address {
            None => None,
            Some(a) if a.broker() == Broker::Redis => Some(Box::new(
                RedisLease::new(a, args.lease_ttl)
                    .map_err(|err| Failure::other(err.to_string()))?,
            )),
            Some(a) => Some(Box::new(
                KvLease::connect(a, args.lease_ttl)
                    .await
                    .map_err(|err| Failure::other(err.to_string()))?,
            )),
        };
        let lease_text = lease.as_ref().map(|l| l.describe());
        let probes = ClientProbes::new(args.metrics.health_grace, Arc::clone(&stopper));
        let notices = Arc::clone(&probes);
        let mut builder = Relay::builder(sink, move || {
            let notices = Arc::clone(&notices);
            Client::builder(credentials.app_id(), credentials.app_secret().clone())
                .settings(&settings)
                .on_notice(move |notice| notices.observe(notice))
        })
        .store_timeout(args.store_timeout)
        .events(args.events.clone());
        if let Some(lease) = lease {
            builder = builder.lease(lease);
        }
        let relay = builder.build();
        let handle = relay.handle();
        let server = match args.metrics.serve.metrics {
            Some(addr) => {
                let role = handle.clone();
                let probes = RelayProbes {
                    client: probes,
                    standby: Box::new(move || role.status().role == Role::Standby),
                };
                Some(MetricsServer::start(addr, Arc::new(probes))?)
            }
            None => None,
        };
        if let Some(server) = &server {
            status.info(&server.describe());
        }
        {
            let handle = handle.clone();
            stopper.arm(move || handle.stop());
        }
        status.info(&format!(
            "relaying to {sink_text}{}",
            lease_text.map_or_else(
                || " (no lease: this is the only instance)".to_owned(),
                |l| format!(", lease {l} (ttl {})", duration::human(args.lease_ttl))
            )
        ));
        let reporter = tokio::spawn(report(handle.clone(), status.clone(), args.status_every));
        let result = relay.run().await;
        reporter.abort();
        stopper.disarm();
        status.info(&counters("stopped", &handle));
        result.map_err(|err| match err {
            RelayError::Stopped(reason) => Failure::stopped(&reason),
            RelayError::Build(BuildError::Config(config)) => Failure::config(&config),
            other => Failure::other(other.to_string()),
        })
    })
}

fn counters(what: &str, handle: &RelayHandle) -> String {
    let s = handle.status();
    format!(
        "{what}: stored {}, duplicates {}, failed {}, pending {}",
        s.stored, s.duplicates, s.failed, s.pending
    )
}

/// Prints the role when it changes and the counters every `every`.
async fn report(handle: RelayHandle, status: Status, every: Duration) {
    let mut role = None;
    let mut last_counters = tokio::time::Instant::now();
    loop {
        let now = handle.status();
        if role != Some(now.role) && now.role != Role::Stopped {
            role = Some(now.role);
            let text = match (now.role, now.token) {
                (Role::Leader, Some(token)) => {
                    format!("leader (lease token {token}): connected to the platform")
                }
                (Role::Leader, None) => "leader: connected to the platform".to_owned(),
                (Role::Standby, _) => "standby: waiting for the lease".to_owned(),
                (other, _) => other.name().to_owned(),
            };
            status.info(&text);
        }
        if last_counters.elapsed() >= every {
            last_counters = tokio::time::Instant::now();
            status.info(&counters(now.role.name(), &handle));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn tail(args: &TailArgs) -> Result<(), Failure> {
    let from = address(&args.from)?;
    let mut tail = Tail::open(&from, args.stream.as_deref())
        .await
        .map_err(|err| Failure::other(err.to_string()))?;
    let mut printed = 0;
    while args.count.is_none_or(|count| printed < count) {
        let event = tokio::select! {
            event = tail.next() => event.map_err(|err| Failure::other(err.to_string()))?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let line = if args.json {
            serde_json::json!({
                "id": event.id,
                "code": event.code,
                "nonce": event.nonce,
                "time": event.time,
                "data": event.data,
            })
            .to_string()
        } else {
            format!("{} {} {} {}", event.id, event.code, event.nonce, event.data)
        };
        println!("{line}");
        printed += 1;
    }
    Ok(())
}
