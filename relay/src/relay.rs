//! [`Relay`]: the platform connection of open-event-tokio whose handler stores every event in
//! a [`Sink`], optionally only while this instance holds a [`Lease`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use open_event_core::Event;
use open_event_tokio::{BuildError, ClientBuilder, ClientHandle, Dispatcher, Handler, RunError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::leadership::{ConnectionEnd, Leadership, Role, Step};
use crate::lease::Lease;
use crate::sink::{Sink, SinkError, Stored};

type ClientFactory = dyn Fn() -> ClientBuilder + Send + Sync;

/// Relays every event of the app into a [`Sink`]: an event is acked with 200 only after the
/// sink confirmed it, with 500 when the sink failed or did not confirm within the store
/// timeout (the platform delivers it again). While the broker is down, stores fail or wait,
/// and the client's in-flight bound (`max_in_flight`, `read_backlog`) pauses reading instead
/// of piling events up in memory.
///
/// With a [`Lease`] every instance runs the same relay; only the holder of the lease keeps
/// the platform connection (see [`leadership`](crate::leadership) for the timing), the others
/// wait and take over when it expires.
///
/// ```no_run
/// use std::time::Duration;
/// use open_event_relay::{BrokerAddress, RedisLease, RedisSink, RedisSinkOptions, Relay};
/// use open_event_tokio::Client;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let stream = BrokerAddress::parse("redis://127.0.0.1:6379/wps-events")?;
/// let sink = RedisSink::connect(&stream, RedisSinkOptions::default()).await?;
/// let lease_key = BrokerAddress::parse("redis://127.0.0.1:6379/wps-relay-leader")?;
/// let relay = Relay::builder(sink, || Client::builder("AK20240101TEST", "your app secret"))
///     .lease(RedisLease::new(&lease_key, Duration::from_secs(10))?)
///     .events(["kso.app_chat.*"])
///     .build();
/// let handle = relay.handle();
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     handle.stop(); // drains, acks, closes, releases the lease
/// });
/// relay.run().await?;
/// # Ok(())
/// # }
/// ```
pub struct Relay {
    sink: Arc<dyn Sink>,
    client: Arc<ClientFactory>,
    lease: Option<Arc<dyn Lease>>,
    events: Vec<String>,
    store_timeout: Duration,
    shared: Arc<Shared>,
}

/// Builds a [`Relay`].
pub struct RelayBuilder {
    relay: Relay,
}

impl Relay {
    /// A relay into `sink` over clients made by `client` (called once per leadership term:
    /// set credentials, endpoint, TLS and protocol settings there; the relay adds its handler
    /// and `dedup_retry_errors(true)`, so an event whose store failed is stored on its
    /// redelivery).
    pub fn builder<S, F>(sink: S, client: F) -> RelayBuilder
    where
        S: Sink,
        F: Fn() -> ClientBuilder + Send + Sync + 'static,
    {
        RelayBuilder {
            relay: Self {
                sink: Arc::new(sink),
                client: Arc::new(client),
                lease: None,
                events: Vec::new(),
                store_timeout: Duration::from_secs(3),
                shared: Arc::new(Shared::new()),
            },
        }
    }

    /// A handle to stop the relay and read its status, from any task or thread.
    pub fn handle(&self) -> RelayHandle {
        RelayHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs until stopped ([`RelayHandle::stop`]) or until the platform connection gives up.
    ///
    /// # Errors
    /// [`RelayError::Build`] for a client setting the client builder rejects;
    /// [`RelayError::Stopped`] when the connection gave up (credentials rejected, retries
    /// exhausted, or, without a lease, replaced by another connection).
    pub async fn run(self) -> Result<(), RelayError> {
        let result = match self.lease.clone() {
            None => self.run_alone().await,
            Some(lease) => self.run_with_lease(lease).await,
        };
        self.shared.set_role(Role::Stopped);
        result
    }

    async fn run_alone(&self) -> Result<(), RelayError> {
        let mut stop = self.shared.stop.subscribe();
        let mut client = self.start_client(None)?;
        self.shared.set_role(Role::Leader);
        tokio::select! {
            ended = &mut client.task => return flatten(ended),
            _ = stop.wait_for(|stop| *stop) => client.handle.stop(),
        }
        flatten((&mut client.task).await)
    }

    async fn run_with_lease(&self, lease: Arc<dyn Lease>) -> Result<(), RelayError> {
        let mut stop = self.shared.stop.subscribe();
        let mut stop_seen = false;
        let mut machine = Leadership::new(Instant::now(), lease.ttl());
        let mut op: Option<BoxFuture<'static, LeaseAnswer>> = None;
        let mut client: Option<ClientTask> = None;
        let mut failure: Option<RelayError> = None;
        loop {
            while let Some(step) = machine.poll_step() {
                match step {
                    Step::Acquire => {
                        let lease = Arc::clone(&lease);
                        let timeout = machine.retry_interval();
                        op = Some(Box::pin(async move {
                            let sent = Instant::now();
                            let result = with_timeout(timeout, lease.acquire()).await;
                            LeaseAnswer::Acquired(sent, result)
                        }));
                    }
                    Step::Renew { token } => {
                        let lease = Arc::clone(&lease);
                        let timeout = machine.retry_interval();
                        op = Some(Box::pin(async move {
                            let sent = Instant::now();
                            let result = with_timeout(timeout, lease.renew(token)).await;
                            LeaseAnswer::Renewed(sent, result)
                        }));
                    }
                    Step::Connect { token } => {
                        tracing::info!(
                            target: "open_event_relay",
                            token,
                            lease = %lease.describe(),
                            "leader: connecting to the platform"
                        );
                        self.shared.token.store(token, Ordering::Relaxed);
                        match self.start_client(Some(machine.drain_allowance())) {
                            Ok(task) => client = Some(task),
                            Err(err) => {
                                failure = Some(err);
                                machine.connection_ended(Instant::now(), ConnectionEnd::Failed);
                            }
                        }
                    }
                    Step::Disconnect => {
                        tracing::warn!(
                            target: "open_event_relay",
                            "stepping down: draining and closing the platform connection"
                        );
                        if let Some(client) = &client {
                            client.handle.stop();
                        }
                    }
                    Step::Abort => {
                        tracing::warn!(
                            target: "open_event_relay",
                            "the graceful stop took too long: dropping the platform connection \
                             before the lease can expire"
                        );
                        if let Some(client) = &client {
                            client.task.abort();
                        }
                    }
                    Step::Release { token } => {
                        let lease = Arc::clone(&lease);
                        let timeout = machine.retry_interval();
                        tokio::spawn(async move {
                            if let Err(err) = with_timeout(timeout, lease.release(token)).await {
                                tracing::debug!(
                                    target: "open_event_relay",
                                    "release failed (the lease expires anyway): {err}"
                                );
                            }
                        });
                    }
                }
            }
            let role = machine.role();
            self.shared.set_role(role);
            if role == Role::Stopped {
                return failure.map_or(Ok(()), Err);
            }
            let deadline = machine.poll_timeout();
            tokio::select! {
                () = sleep_until(deadline) => machine.handle_timeout(Instant::now()),
                answer = poll_op(&mut op) => match answer {
                    LeaseAnswer::Acquired(sent, result) => {
                        if let Err(err) = &result {
                            tracing::warn!(target: "open_event_relay", "{err}");
                        }
                        machine.acquired(Instant::now(), sent, result.map_err(drop));
                    }
                    LeaseAnswer::Renewed(sent, result) => {
                        if let Err(err) = &result {
                            tracing::warn!(target: "open_event_relay", "renew failed: {err}");
                        }
                        machine.renewed(Instant::now(), sent, result.map_err(drop));
                    }
                },
                ended = poll_client(&mut client) => {
                    client = None;
                    let end = match ended {
                        Ok(()) => ConnectionEnd::Stopped,
                        Err(RelayError::Stopped(RunError::ConnectionReplaced { .. })) => {
                            tracing::warn!(
                                target: "open_event_relay",
                                "another instance took over the connection: standby"
                            );
                            ConnectionEnd::Replaced
                        }
                        Err(err) => {
                            failure = Some(err);
                            ConnectionEnd::Failed
                        }
                    };
                    machine.connection_ended(Instant::now(), end);
                }
                _ = stop.wait_for(|stop| *stop), if !stop_seen => {
                    stop_seen = true;
                    machine.stop();
                }
            }
        }
    }

    /// Builds a client whose handler stores every (matching) event, and spawns its run.
    fn start_client(&self, drain: Option<Duration>) -> Result<ClientTask, RelayError> {
        let store = StoreHandler {
            sink: Arc::clone(&self.sink),
            timeout: self.store_timeout,
            shared: Arc::clone(&self.shared),
        };
        let handler = Handler::new(move |event| store.store(event));
        let mut builder = (self.client)().dedup_retry_errors(true);
        if let Some(drain) = drain {
            builder = builder.drain_timeout(drain);
        }
        let builder = if self.events.is_empty() {
            let mut dispatcher = Dispatcher::new();
            dispatcher.fallback(handler);
            builder.dispatcher(dispatcher)
        } else {
            let mut dispatcher = Dispatcher::new();
            for pattern in &self.events {
                dispatcher.on(pattern.clone(), handler.clone());
            }
            builder.dispatcher(dispatcher)
        };
        let client = builder.build().map_err(RelayError::Build)?;
        let handle = client.handle();
        Ok(ClientTask {
            task: tokio::spawn(client.run()),
            handle,
        })
    }
}

/// The running client: dropping it (the relay's future was dropped, e.g. its task aborted)
/// drops the platform connection too.
struct ClientTask {
    task: JoinHandle<Result<(), RunError>>,
    handle: ClientHandle,
}

impl Drop for ClientTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum LeaseAnswer {
    Acquired(Instant, Result<Option<u64>, String>),
    Renewed(Instant, Result<bool, String>),
}

async fn with_timeout<T, E: fmt::Display>(
    timeout: Duration,
    op: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, op).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!(
            "the lease broker did not answer within {timeout:?}"
        )),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn poll_op(op: &mut Option<BoxFuture<'static, LeaseAnswer>>) -> LeaseAnswer {
    match op {
        Some(fut) => {
            let answer = fut.as_mut().await;
            *op = None;
            answer
        }
        None => std::future::pending().await,
    }
}

async fn poll_client(client: &mut Option<ClientTask>) -> Result<(), RelayError> {
    match client {
        Some(client) => flatten((&mut client.task).await),
        None => std::future::pending().await,
    }
}

/// A client task's result: an aborted task is a stopped connection.
fn flatten(joined: Result<Result<(), RunError>, tokio::task::JoinError>) -> Result<(), RelayError> {
    match joined {
        Ok(result) => result.map_err(RelayError::Stopped),
        Err(err) if err.is_cancelled() => Ok(()),
        Err(err) => Err(RelayError::Panicked(err.to_string())),
    }
}

/// The handler: store, with a timeout, and count.
#[derive(Clone)]
struct StoreHandler {
    sink: Arc<dyn Sink>,
    timeout: Duration,
    shared: Arc<Shared>,
}

impl StoreHandler {
    fn store(&self, event: Event) -> impl Future<Output = Result<(), SinkError>> + use<> {
        let this = self.clone();
        async move {
            this.shared.storing.fetch_add(1, Ordering::Relaxed);
            let result = match tokio::time::timeout(this.timeout, this.sink.store(event)).await {
                Ok(result) => result,
                Err(_) => Err(SinkError::Timeout(this.timeout)),
            };
            this.shared.storing.fetch_sub(1, Ordering::Relaxed);
            let counter = match &result {
                Ok(Stored::New) => &this.shared.stored,
                Ok(Stored::Duplicate) => &this.shared.duplicates,
                Err(_) => &this.shared.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            result.map(drop)
        }
    }
}

impl RelayBuilder {
    /// Hold the platform connection only while holding `lease`; run the same relay on every
    /// instance for standbys that take over.
    pub fn lease(mut self, lease: impl Lease) -> Self {
        self.relay.lease = Some(Arc::new(lease));
        self
    }

    /// Relay only events whose code matches one of these patterns (`*` globs, as in the
    /// dispatcher); others are acked as unhandled. Default: every event.
    pub fn events<I, P>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.relay.events = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// How long a store may take before the event is acked with 500. Default 3 s (the
    /// platform's delivery budget).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.relay.store_timeout = timeout;
        self
    }

    /// The relay.
    pub fn build(self) -> Relay {
        self.relay
    }
}

/// Stops a [`Relay`] and reads its status.
#[derive(Clone)]
pub struct RelayHandle {
    shared: Arc<Shared>,
}

impl RelayHandle {
    /// Stops gracefully: in-flight events are stored and acked, the connection closes, the
    /// lease is released.
    pub fn stop(&self) {
        self.shared.stop.send_replace(true);
    }

    /// A snapshot of the relay's role and counters.
    pub fn status(&self) -> RelayStatus {
        let s = &self.shared;
        RelayStatus {
            role: s.role(),
            token: Some(s.token.load(Ordering::Relaxed)).filter(|t| *t != 0),
            stored: s.stored.load(Ordering::Relaxed),
            duplicates: s.duplicates.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            pending: s.storing.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for RelayHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RelayHandle").field(&self.status()).finish()
    }
}

/// What a relay is doing, from [`RelayHandle::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStatus {
    /// Leader (connected), standby, stepping down or stopped. Without a lease a running relay
    /// is always the leader.
    pub role: Role,
    /// The fencing token of the latest lease held, if any.
    pub token: Option<u64>,
    /// Events the broker confirmed as new.
    pub stored: u64,
    /// Events the broker already had (redeliveries and retries, stored once).
    pub duplicates: u64,
    /// Stores that failed or timed out (acked with 500).
    pub failed: u64,
    /// Stores waiting for the broker's confirmation now.
    pub pending: u64,
}

/// Why a relay stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The client builder rejected a setting.
    #[error(transparent)]
    Build(BuildError),
    /// The platform connection gave up.
    #[error(transparent)]
    Stopped(RunError),
    /// The client's task panicked (a bug: please report it).
    #[error("the client task failed: {0}")]
    Panicked(String),
}

struct Shared {
    stop: watch::Sender<bool>,
    role: AtomicU8,
    token: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    failed: AtomicU64,
    storing: AtomicU64,
}

impl Shared {
    fn new() -> Self {
        Self {
            stop: watch::Sender::new(false),
            role: AtomicU8::new(0),
            token: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            storing: AtomicU64::new(0),
        }
    }

    fn set_role(&self, role: Role) {
        let n = match role {
            Role::Standby => 0,
            Role::Leader => 1,
            Role::SteppingDown => 2,
            Role::Stopped => 3,
        };
        self.role.store(n, Ordering::Relaxed);
    }

    fn role(&self) -> Role {
        match self.role.load(Ordering::Relaxed) {
            0 => Role::Standby,
            1 => Role::Leader,
            2 => Role::SteppingDown,
            _ => Role::Stopped,
        }
    }
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("sink", &self.sink.describe())
            .field("lease", &self.lease.as_ref().map(|l| l.describe()))
            .field("events", &self.events)
            .field("store_timeout", &self.store_timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RelayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RelayBuilder").field(&self.relay).finish()
    }
}
