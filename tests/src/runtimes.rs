//! One scenario, every runtime: an adapter that starts a real client of any of the runtime crates
//! against the loopback [`Emulator`], so each integration scenario in `tests/tests/runtime_*.rs`
//! is written once and run on tokio, the async-std executor, the smol executor and plain threads.
//!
//! - [`Runtime`] names an adapter and executor; [`runtime_tests!`](crate::runtime_tests)
//!   turns a scenario `async fn(Runtime)` into one `#[test]` per runtime (`tokio`, `async_std`,
//!   `smol`, `blocking`), so a failure names the runtime.
//! - [`ClientSpec`] describes a client once (endpoint, credentials, the config knobs the
//!   scenarios tune, a CA file, the jitter seed); [`start`] builds it with the chosen runtime's
//!   `ClientBuilder` and runs it on its own thread, returning a [`RunningClient`].
//! - The handler's behaviour is chosen per event by its data ([`Behaviour`]): acknowledge, fail
//!   with a message, sleep then acknowledge, or panic. Every call is recorded (nonce, in start
//!   order) and so is every lifecycle notice.
//! - The emulator runs on the test's own tokio runtime ([`run`]); every emulator binds
//!   `127.0.0.1:0`, so scenarios run in parallel safely.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use open_event_core::backoff::Backoff;
use open_event_core::config::Config;
use open_event_core::connection::{Notice, State};
use open_event_core::stats::Stats;
use open_event_core::{AppSecret, Event};
use open_event_emulator::server::{EventSpec, ServerConfig};
use open_event_emulator::{Emulator, EmulatorHandle, EmulatorOptions};
use tokio::sync::oneshot;

/// What every runtime's `run()` returns when it gives up (one type, shared by the three).
pub use open_event_tokio::RunError;

pub use crate::pki::TestPki;

/// How long one scenario may take before it fails as hung.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);

/// A generous bound for things that normally take milliseconds (connects, acks, stops). Waits
/// return as soon as their condition holds, so this only matters when something is broken.
pub const WAIT: Duration = Duration::from_secs(10);

/// How much later than the client's own timer the emulator may see a timed event (a reconnect,
/// a liveness drop): the TCP and WebSocket handshakes, thread wake-ups and scheduling on a
/// loaded 2-core machine. Windows are `[expected, expected + SLACK]`.
pub const SLACK: Duration = Duration::from_millis(100);

/// How much *earlier* than the client's timer the emulator may see it: the emulator records the
/// end of a connection when it reads the client's side of it, a hair after the client acted.
pub const EARLY: Duration = Duration::from_millis(10);

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A runtime adapter and the executor that drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// `open-event-tokio` on a multi-threaded tokio runtime.
    Tokio,
    /// `open-event-async-std` under `async_std::task::block_on`.
    AsyncStd,
    /// `open-event-async-std` under `smol::block_on`.
    Smol,
    /// `open-event-blocking` on plain threads.
    Blocking,
}

impl Runtime {
    /// Every runtime, in a fixed order.
    pub const ALL: [Self; 4] = [Self::Tokio, Self::AsyncStd, Self::Smol, Self::Blocking];

    /// The name used in test names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::AsyncStd => "async_std",
            Self::Smol => "smol",
            Self::Blocking => "blocking",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `scenario` for `runtime` on a fresh two-worker tokio runtime (the emulator's), failing
/// it when it takes longer than [`SCENARIO_TIMEOUT`].
pub fn run<F, Fut>(runtime: Runtime, scenario: F)
where
    F: FnOnce(Runtime) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the emulator's tokio runtime starts");
    rt.block_on(async {
        if tokio::time::timeout(SCENARIO_TIMEOUT, scenario(runtime))
            .await
            .is_err()
        {
            panic!("[{runtime}] the scenario did not finish within {SCENARIO_TIMEOUT:?}");
        }
    });
}

/// Turns each scenario `async fn name(runtime: Runtime)` in scope into a module `name` with one
/// test per runtime: `name::tokio`, `name::async_std`, `name::smol`, `name::blocking`.
///
/// ```no_run
/// use open_event_tests::runtimes::{ClientSpec, Runtime, WAIT, emulator, start};
///
/// async fn connects(runtime: Runtime) {
///     let emu = emulator(|server| server).await;
///     let mut client = start(runtime, &ClientSpec::for_emulator(&emu));
///     emu.wait_for_connections(1, WAIT).await.unwrap();
///     assert_eq!(client.stop_and_join().await, Ok(()));
/// }
///
/// open_event_tests::runtime_tests!(connects);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! runtime_tests {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[test]
            fn tokio() {
                $crate::runtimes::run($crate::runtimes::Runtime::Tokio, super::$scenario);
            }
            #[test]
            fn async_std() {
                $crate::runtimes::run($crate::runtimes::Runtime::AsyncStd, super::$scenario);
            }
            #[test]
            fn smol() {
                $crate::runtimes::run($crate::runtimes::Runtime::Smol, super::$scenario);
            }
            #[test]
            fn blocking() {
                $crate::runtimes::run($crate::runtimes::Runtime::Blocking, super::$scenario);
            }
        }
    )+};
}

/// Starts an emulator with generated credentials (a fresh seed each time) and the given server
/// settings, on `127.0.0.1:0`.
pub async fn emulator(config: impl FnOnce(ServerConfig) -> ServerConfig) -> EmulatorHandle {
    Emulator::start(EmulatorOptions::new(config(ServerConfig::generated(
        fresh_seed(),
    ))))
    .await
    .expect("the emulator starts")
}

/// Starts a `wss://` emulator serving `pki`'s certificate ([`TestPki`], the one test CA of
/// every TLS scenario).
pub async fn tls_emulator(
    pki: &TestPki,
    config: impl FnOnce(ServerConfig) -> ServerConfig,
) -> EmulatorHandle {
    let options = EmulatorOptions::new(config(ServerConfig::generated(fresh_seed())))
        .tls(Arc::clone(&pki.server));
    Emulator::start(options).await.expect("the emulator starts")
}

/// A seed nobody else in this process uses.
pub fn fresh_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (COUNTER.fetch_add(1, Ordering::Relaxed) << 48) ^ u64::from(std::process::id())
}

// ----- handler behaviour ------------------------------------------------------------------

/// What the test handler does with an event; carried in the event's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Returns `Ok` at once (acked 200).
    Ok,
    /// Returns `Err(message)` at once (acked 500 with the message).
    Fail(String),
    /// Sleeps (the runtime's own sleep: async for the async runtimes), then returns `Ok`.
    Sleep(Duration),
    /// Panics with [`PANIC_MESSAGE`].
    Panic,
}

/// What a [`Behaviour::Panic`] handler panics with.
pub const PANIC_MESSAGE: &str = "the test handler panics on purpose";

/// The `tracing` target of the test handler's "handler called" log line.
pub const HANDLER_TARGET: &str = "open_event_tests::handler";

/// The topic of the events [`Behaviour::event`] builds.
pub const TOPIC: &str = "kso.test.behaviour";

impl Behaviour {
    /// Handled after `n` milliseconds.
    pub fn sleep_ms(n: u64) -> Self {
        Self::Sleep(ms(n))
    }

    /// Fails with `message`.
    pub fn fail(message: &str) -> Self {
        Self::Fail(message.to_owned())
    }

    /// The event data asking for this behaviour (JSON).
    pub fn data(&self) -> String {
        let value = match self {
            Self::Ok => serde_json::json!({ "behaviour": "ok" }),
            Self::Fail(message) => serde_json::json!({ "behaviour": "fail", "message": message }),
            Self::Sleep(d) => {
                serde_json::json!({ "behaviour": "sleep", "ms": d.as_millis() as u64 })
            }
            Self::Panic => serde_json::json!({ "behaviour": "panic" }),
        };
        value.to_string()
    }

    /// An event for the emulator to push that asks for this behaviour.
    pub fn event(&self) -> EventSpec {
        EventSpec::new(TOPIC, "run", self.data())
    }

    /// The behaviour `event` asks for; anything unrecognised is [`Behaviour::Ok`].
    pub fn of(event: &Event) -> Self {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&event.data) else {
            return Self::Ok;
        };
        match value["behaviour"].as_str() {
            Some("fail") => Self::Fail(value["message"].as_str().unwrap_or("").to_owned()),
            Some("sleep") => Self::Sleep(ms(value["ms"].as_u64().unwrap_or(0))),
            Some("panic") => Self::Panic,
            _ => Self::Ok,
        }
    }
}

/// Applies a [`ClientSpec`]'s config knobs to any builder with the core's setter names (the
/// core's `ConfigBuilder` and every runtime's `ClientBuilder`).
macro_rules! configure {
    ($builder:expr, $spec:expr) => {{
        let spec: &ClientSpec = $spec;
        let mut builder = $builder
            .endpoint(spec.endpoint.clone())
            .reconnect_base(spec.reconnect_base)
            .reconnect_max(spec.reconnect_max)
            .pong_timeout(spec.pong_timeout)
            .connect_timeout(spec.connect_timeout)
            .stable_period(spec.stable_period)
            .drain_timeout(spec.drain_timeout)
            .write_timeout(spec.write_timeout)
            .max_retries(spec.max_retries)
            .auto_reconnect(spec.auto_reconnect);
        if let Some((in_flight, backlog)) = spec.flow {
            builder = builder.max_in_flight(in_flight).read_backlog(backlog);
        }
        for (name, value) in &spec.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        for (name, value) in &spec.query {
            builder = builder.query(name.clone(), value.clone());
        }
        if let Some(capacity) = spec.dedup_capacity {
            builder = builder.dedup_capacity(capacity);
        }
        builder
    }};
}

/// Applies the client-only settings (seed, CA file, callbacks, handler) of a spec.
macro_rules! finish_builder {
    ($builder:expr, $spec:expr, $record:expr, $handler:expr) => {{
        let spec: &ClientSpec = $spec;
        let record: &Record = $record;
        let notices = Arc::clone(&record.notices);
        let mut builder = configure!($builder, spec)
            .seed(spec.seed)
            .on_notice(move |notice| {
                lock(&notices).push(Noticed {
                    at: Instant::now(),
                    notice: notice.clone(),
                })
            })
            .handler($handler);
        if let Some(ca_file) = &spec.ca_file {
            builder = builder.ca_file(ca_file.clone());
        }
        if let Some(proxy) = &spec.proxy {
            builder = builder.proxy(proxy.clone());
        }
        builder.build().expect("the test client builds")
    }};
}

// ----- client description -----------------------------------------------------------------

/// A client, described once for every runtime. Start from [`ClientSpec::for_emulator`] and
/// change fields with struct update syntax.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// The endpoint URL.
    pub endpoint: String,
    /// The app id.
    pub app_id: String,
    /// The app secret.
    pub app_secret: AppSecret,
    /// Backoff base (default here 50 ms).
    pub reconnect_base: Duration,
    /// Backoff cap (default here 5 s).
    pub reconnect_max: Duration,
    /// Server silence bound (default here 2 s: far above the test ping intervals).
    pub pong_timeout: Duration,
    /// Connect bound (default here 5 s).
    pub connect_timeout: Duration,
    /// Stable period (default 30 s: a test's drops all count as consecutive attempts).
    pub stable_period: Duration,
    /// Graceful close drain bound (default here 5 s).
    pub drain_timeout: Duration,
    /// Bound on a write's confirmation (default 10 s, the SDK's).
    pub write_timeout: Duration,
    /// Retry budget (default unlimited).
    pub max_retries: Option<u32>,
    /// Auto reconnect (default on).
    pub auto_reconnect: bool,
    /// `max_in_flight` and `read_backlog` (default: the core's defaults).
    pub flow: Option<(usize, usize)>,
    /// `dedup_capacity` (default: the core's 10 000).
    pub dedup_capacity: Option<usize>,
    /// A CA file to trust in addition to the WebPKI roots.
    pub ca_file: Option<PathBuf>,
    /// An HTTP CONNECT proxy URL (default: none, and the environment is not read).
    pub proxy: Option<String>,
    /// Ask for the stop before `run` is called (default off).
    pub stop_before_run: bool,
    /// The jitter seed.
    pub seed: u64,
    /// Extra handshake headers (default none).
    pub headers: Vec<(String, String)>,
    /// Extra query parameters of the endpoint (default none).
    pub query: Vec<(String, String)>,
}

impl ClientSpec {
    /// A client of the emulator's app, at its URL, with the short test defaults.
    pub fn for_emulator(emulator: &EmulatorHandle) -> Self {
        let credentials = emulator.credentials();
        Self {
            endpoint: emulator.url(),
            app_id: credentials.app_id().to_owned(),
            app_secret: credentials.app_secret().clone(),
            reconnect_base: ms(50),
            reconnect_max: Duration::from_secs(5),
            pong_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            stable_period: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_retries: None,
            auto_reconnect: true,
            flow: None,
            dedup_capacity: None,
            ca_file: None,
            proxy: None,
            stop_before_run: false,
            seed: fresh_seed(),
            headers: Vec::new(),
            query: Vec::new(),
        }
    }

    /// The core configuration the runtimes build from this spec (for backoff bounds).
    pub fn config(&self) -> Config {
        configure!(
            Config::builder(self.app_id.clone(), self.app_secret.clone()),
            self
        )
        .build()
        .expect("a valid test configuration")
    }

    /// The jitter bounds of reconnect attempt `n` (1-based) under this spec's config.
    pub fn backoff_bounds(&self, attempt: u32) -> (Duration, Duration) {
        Backoff::new(&self.config(), self.seed).bounds(attempt)
    }

    /// The delays this spec's client draws for attempts 1, 2, ... (its seed makes them exact).
    pub fn backoff_delays(&self, count: usize) -> Vec<Duration> {
        let mut backoff = Backoff::new(&self.config(), self.seed);
        (0..count)
            .map(|_| backoff.next_delay().expect("unlimited retries"))
            .collect()
    }
}

// ----- running clients --------------------------------------------------------------------

/// A notice and when the client reported it.
#[derive(Debug, Clone)]
pub struct Noticed {
    /// When the `on_notice` callback ran.
    pub at: Instant,
    /// The notice.
    pub notice: Notice,
}

/// What a client's callbacks record.
#[derive(Debug, Clone, Default)]
struct Record {
    notices: Arc<Mutex<Vec<Noticed>>>,
    handled: Arc<Mutex<Vec<String>>>,
}

impl Record {
    /// Notes that the handler started on `event` (and logs it at debug level, in the span
    /// the runtime runs the handler in), and says what it must do.
    fn begin(&self, event: &Event) -> Behaviour {
        tracing::debug!(target: HANDLER_TARGET, nonce = event.nonce.as_str(), "handler called");
        lock(&self.handled).push(event.nonce.clone());
        Behaviour::of(event)
    }
}

enum Handle {
    Tokio(open_event_tokio::ClientHandle),
    Async(open_event_async_std::ClientHandle),
    Blocking(open_event_blocking::ClientHandle),
}

/// A client running on its own thread.
pub struct RunningClient {
    runtime: Runtime,
    handle: Handle,
    record: Record,
    result: Option<oneshot::Receiver<Result<(), RunError>>>,
    thread: Option<JoinHandle<()>>,
}

/// Builds the client `spec` describes with `runtime`'s crate and runs it on a new thread.
pub fn start(runtime: Runtime, spec: &ClientSpec) -> RunningClient {
    let record = Record::default();
    let (tx, rx) = oneshot::channel();
    let name = format!("client-{runtime}");
    let spawn = thread::Builder::new().name(name);
    let (handle, thread) = match runtime {
        Runtime::Tokio => {
            let calls = record.clone();
            let client = finish_builder!(
                open_event_tokio::Client::builder(spec.app_id.clone(), spec.app_secret.clone()),
                spec,
                &record,
                move |event: Event| {
                    let behaviour = calls.begin(&event);
                    async move {
                        match behaviour {
                            Behaviour::Ok => Ok(()),
                            Behaviour::Fail(message) => Err(message),
                            Behaviour::Sleep(d) => {
                                tokio::time::sleep(d).await;
                                Ok(())
                            }
                            Behaviour::Panic => panic!("{PANIC_MESSAGE}"),
                        }
                    }
                }
            );
            let handle = Handle::Tokio(client.handle());
            if spec.stop_before_run {
                client.handle().stop();
            }
            let thread = spawn.spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("the client's tokio runtime starts");
                let _ = tx.send(rt.block_on(client.run()));
            });
            (handle, thread)
        }
        Runtime::AsyncStd | Runtime::Smol => {
            let calls = record.clone();
            let client = finish_builder!(
                open_event_async_std::Client::builder(spec.app_id.clone(), spec.app_secret.clone()),
                spec,
                &record,
                move |event: Event| {
                    let behaviour = calls.begin(&event);
                    async move {
                        match behaviour {
                            Behaviour::Ok => Ok(()),
                            Behaviour::Fail(message) => Err(message),
                            Behaviour::Sleep(d) => {
                                if runtime == Runtime::Smol {
                                    smol::Timer::after(d).await;
                                } else {
                                    async_std::task::sleep(d).await;
                                }
                                Ok(())
                            }
                            Behaviour::Panic => panic!("{PANIC_MESSAGE}"),
                        }
                    }
                }
            );
            let handle = Handle::Async(client.handle());
            if spec.stop_before_run {
                client.handle().stop();
            }
            let thread = spawn.spawn(move || {
                let result = if runtime == Runtime::Smol {
                    smol::block_on(client.run())
                } else {
                    async_std::task::block_on(client.run())
                };
                let _ = tx.send(result);
            });
            (handle, thread)
        }
        Runtime::Blocking => {
            let calls = record.clone();
            let client = finish_builder!(
                open_event_blocking::Client::builder(spec.app_id.clone(), spec.app_secret.clone()),
                spec,
                &record,
                move |event: Event| match calls.begin(&event) {
                    Behaviour::Ok => Ok(()),
                    Behaviour::Fail(message) => Err(message),
                    Behaviour::Sleep(d) => {
                        thread::sleep(d);
                        Ok(())
                    }
                    Behaviour::Panic => panic!("{PANIC_MESSAGE}"),
                }
            );
            let handle = Handle::Blocking(client.handle());
            if spec.stop_before_run {
                client.handle().stop();
            }
            let thread = spawn.spawn(move || {
                let _ = tx.send(client.run());
            });
            (handle, thread)
        }
    };
    RunningClient {
        runtime,
        handle,
        record,
        result: Some(rx),
        thread: Some(thread.expect("the client thread starts")),
    }
}

impl RunningClient {
    /// The runtime it runs on.
    pub fn runtime(&self) -> Runtime {
        self.runtime
    }

    /// Asks for a graceful stop.
    pub fn stop(&self) {
        match &self.handle {
            Handle::Tokio(h) => h.stop(),
            Handle::Async(h) => h.stop(),
            Handle::Blocking(h) => h.stop(),
        }
    }

    /// The client's state, as its handle reports it.
    pub fn state(&self) -> State {
        match &self.handle {
            Handle::Tokio(h) => h.state(),
            Handle::Async(h) => h.state(),
            Handle::Blocking(h) => h.state(),
        }
    }

    /// The client's counters, as its handle reports them.
    pub fn stats(&self) -> Stats {
        match &self.handle {
            Handle::Tokio(h) => h.stats(),
            Handle::Async(h) => h.stats(),
            Handle::Blocking(h) => h.stats(),
        }
    }

    /// Whether the handle says the client stopped.
    pub fn is_stopped(&self) -> bool {
        match &self.handle {
            Handle::Tokio(h) => h.is_stopped(),
            Handle::Async(h) => h.is_stopped(),
            Handle::Blocking(h) => h.is_stopped(),
        }
    }

    /// Every notice so far, in order.
    pub fn notices(&self) -> Vec<Notice> {
        lock(&self.record.notices)
            .iter()
            .map(|n| n.notice.clone())
            .collect()
    }

    /// Every notice so far with the time it was reported.
    pub fn notices_timed(&self) -> Vec<Noticed> {
        lock(&self.record.notices).clone()
    }

    /// The nonces of every handler call so far, in start order (a redelivered event handled
    /// twice would appear twice).
    pub fn handled(&self) -> Vec<String> {
        lock(&self.record.handled).clone()
    }

    /// `(attempt, delay)` of every `Reconnecting` notice so far.
    pub fn reconnects(&self) -> Vec<(u32, Duration)> {
        lock(&self.record.notices)
            .iter()
            .filter_map(|n| match n.notice {
                Notice::Reconnecting { attempt, delay, .. } => Some((attempt, delay)),
                _ => None,
            })
            .collect()
    }

    /// Polls until `condition` holds; panics naming `what` and the runtime after `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut condition: impl FnMut(&Self) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !condition(self) {
            assert!(
                Instant::now() < deadline,
                "[{}] {what}: not within {timeout:?}; notices: {:?}",
                self.runtime,
                self.notices()
            );
            tokio::time::sleep(ms(2)).await;
        }
    }

    /// Waits until the handle reports [`State::Open`].
    pub async fn wait_open(&self) {
        self.wait_until("the client is open", WAIT, |c| c.state() == State::Open)
            .await;
    }

    /// Waits until the client has opened `count` transports in all (its `Connected` notice is
    /// recorded by then).
    pub async fn wait_connects(&self, count: u64) {
        self.wait_until(&format!("{count} connects"), WAIT, |c| {
            c.stats().connects >= count
        })
        .await;
    }

    /// Waits for `run` to return, at most `timeout`, and returns its result. The client's
    /// records stay readable afterwards.
    ///
    /// # Panics
    /// When `run` does not return in time, or when called twice.
    pub async fn join(&mut self, timeout: Duration) -> Result<(), RunError> {
        let rx = self.result.as_mut().expect("joined once");
        let result = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => panic!(
                "[{}] the client thread ended without a result",
                self.runtime
            ),
            Err(_) => panic!(
                "[{}] run did not return within {timeout:?}; notices: {:?}",
                self.runtime,
                self.notices()
            ),
        };
        self.result = None;
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the client thread ends cleanly");
        }
        result
    }

    /// Whether `run` is still running (its thread has not finished).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the client gracefully and returns `run`'s result.
    pub async fn stop_and_join(&mut self) -> Result<(), RunError> {
        self.stop();
        self.join(WAIT).await
    }
}

impl Drop for RunningClient {
    /// A scenario that fails midway still stops its client (without waiting for it).
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

impl fmt::Debug for RunningClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningClient")
            .field("runtime", &self.runtime)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
