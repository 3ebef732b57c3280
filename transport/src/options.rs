//! The settings every runtime's `ClientBuilder` collects, their setters
//! ([`delegate_client_setters!`](crate::delegate_client_setters)) and the checks its `build`
//! runs, written once for all runtimes.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::SystemTime;

use open_event_core::AppSecret;
use open_event_core::config::{Config, ConfigBuilder, ConfigError, Settings, SettingsError};
use open_event_core::dispatcher::Dispatcher;
use rustls::ClientConfig;

use crate::notice::TARGET;
use crate::{Notifier, ProxyOptions, Roots, StatusBoard, Target, TlsOptions, TransportError};

/// Reads every setting from the TOML config file at `path` (the IO half of
/// [`Settings::from_toml`], which documents the format); relative `ca_file` paths are taken
/// relative to the file's directory.
///
/// # Errors
/// A [`SettingsError`]: the file cannot be read, is not TOML, has a key that is no setting (with
/// the closest known key) or a bad value (with its key and line).
pub fn file_settings(path: impl AsRef<std::path::Path>) -> Result<Settings, SettingsError> {
    let path = path.as_ref();
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|err| SettingsError::unreadable(label.clone(), err.to_string()))?;
    let dir = path.parent().unwrap_or_else(|| std::path::Path::new(""));
    Ok(Settings::from_toml(&text, &label)?.relative_to(dir))
}

/// Reads every setting from the process's `OPEN_EVENT_*` variables (the IO half of
/// [`Settings::from_vars`], which has the table): the app id and secret may be missing here.
/// A variable that looks like a misspelled setting (`OPEN_EVENT_PONG_TIMOUT`) is logged at
/// WARN with the name meant.
///
/// # Errors
/// A [`SettingsError`] naming the first bad variable, its value and the form expected.
pub fn env_settings() -> Result<Settings, SettingsError> {
    let names = std::env::vars_os().map(|(name, _)| name);
    for (var, meant) in open_event_core::config::env::misspelled(names) {
        tracing::warn!(
            target: TARGET,
            "{var} is not a setting and is ignored; did you mean {meant}?"
        );
    }
    Settings::from_vars(std::env::vars_os())
}

/// What a runtime's `ClientBuilder` holds: the core's configuration, the dispatcher of the
/// runtime's handler type `H`, TLS, proxy, jitter seed and notice callback.
///
/// The runtime generates its public setters with
/// [`delegate_client_setters!`](crate::delegate_client_setters) and builds with
/// [`ClientOptions::prepare`].
#[non_exhaustive]
pub struct ClientOptions<H> {
    /// The protocol settings.
    pub config: ConfigBuilder,
    /// Where events go; `None` until the application sets a handler or dispatcher.
    pub dispatcher: Option<Dispatcher<H>>,
    /// The application asked to ack every event no route takes without a handler
    /// (`ClientBuilder::ignore_all`): building without any route is then not an error.
    pub ignore_all: bool,
    /// How the server's certificate is verified.
    pub tls: TlsOptions,
    /// Which proxy to tunnel through.
    pub proxy: ProxyOptions,
    /// The reconnect jitter's seed; `None`: from OS entropy.
    pub seed: Option<u64>,
    /// Where lifecycle notices go.
    pub notifier: Notifier,
}

impl<H> ClientOptions<H> {
    /// Every default, with the app's credentials.
    pub fn new(app_id: impl Into<String>, app_secret: impl Into<AppSecret>) -> Self {
        Self {
            config: Config::builder(app_id, app_secret),
            dispatcher: None,
            ignore_all: false,
            tls: TlsOptions::default(),
            proxy: ProxyOptions::default(),
            seed: None,
            notifier: Notifier::default(),
        }
    }

    /// Every setting from the `OPEN_EVENT_*` environment variables (the table is in
    /// [`open_event_core::config::env`]); what they leave unset keeps its default.
    ///
    /// # Errors
    /// [`BuildError::Settings`] naming the variable: `OPEN_EVENT_APP_ID` or
    /// `OPEN_EVENT_APP_SECRET` unset, or a value that does not parse or is out of range.
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_settings(env_settings()?)
    }

    /// Every setting from the TOML config file at `path`, then the `OPEN_EVENT_*` variables over
    /// it (a variable wins over the file's key, setting by setting); what neither sets keeps its
    /// default. The format is documented in [`open_event_core::config::file`].
    ///
    /// # Errors
    /// [`BuildError::Settings`]: the file cannot be read, is not TOML, has an unknown key (named,
    /// with the closest known key) or a bad value; a bad variable; no app id or secret in either.
    pub fn from_config_file(path: impl AsRef<std::path::Path>) -> Result<Self, BuildError> {
        let file = file_settings(path)?;
        Self::from_settings(file.over(env_settings()?))
    }

    /// Options from `settings`, which must hold the app id and secret.
    ///
    /// # Errors
    /// [`BuildError::Settings`] when the app id or secret is missing.
    pub fn from_settings(settings: Settings) -> Result<Self, BuildError> {
        let credentials = settings.require_credentials()?;
        let mut options = Self::new(credentials.app_id(), credentials.app_secret().clone());
        options.apply(&settings);
        Ok(options)
    }

    /// Applies every setting `settings` holds (the protocol settings, the endpoint, the
    /// credentials, TLS, proxy and seed); the others keep their values. CA files are added to
    /// those already trusted.
    pub fn apply(&mut self, settings: &Settings) {
        self.config = settings.apply_to(self.config.clone());
        self.tls
            .extra_ca_files
            .extend(settings.ca_file.iter().cloned());
        if let Some(native) = settings.native_roots {
            self.tls.roots = if native { Roots::Native } else { Roots::WebPki };
        }
        if let Some(accept) = settings.danger_accept_invalid_certs {
            self.tls.danger_accept_invalid_certs = accept;
        }
        if let Some(url) = &settings.proxy {
            self.proxy.url = Some(url.clone());
        }
        if let Some(from_env) = settings.proxy_from_env {
            self.proxy.from_env = from_env;
        }
        if let Some(seed) = settings.seed {
            self.seed = Some(seed);
        }
    }

    /// Checks every setting and builds what a client needs, so that a bad setting fails in
    /// `build` rather than at the first connect: the configuration is validated, the endpoint
    /// parsed, the proxy that applies (the explicit URL, or the environment's with
    /// `proxy_from_env`) parsed, and the rustls configuration built (CA files and the system
    /// store are read here). A client with no handler (no dispatcher, or one without any route
    /// or fallback) is refused unless `ignore_all` is set, since it would ack every event
    /// without handling it. The seed is drawn when none was set and logged at debug level.
    ///
    /// # Errors
    /// [`BuildError::Config`] for a protocol setting out of range, [`BuildError::Transport`]
    /// for an unusable endpoint, proxy URL or TLS setting (e.g. an unreadable CA file),
    /// [`BuildError::NoHandler`] for a client without any handler.
    pub fn prepare(self) -> Result<Prepared<H>, BuildError> {
        let dispatcher = match self.dispatcher {
            Some(dispatcher) if !dispatcher.is_empty() => dispatcher,
            _ if !self.ignore_all => return Err(BuildError::NoHandler),
            _ => {
                tracing::info!(
                    target: TARGET,
                    "ignore_all: every event without a route is acked 200 without being handled"
                );
                self.dispatcher.unwrap_or_default()
            }
        };
        let config = Arc::new(self.config.build()?);
        let target = Target::from_uri(config.endpoint())?;
        self.proxy.proxy_for(&target)?;
        let tls = self.tls.client_config()?;
        let seed = self.seed.unwrap_or_else(entropy_seed);
        tracing::debug!(
            target: TARGET,
            app_id = config.credentials().app_id(),
            seed,
            "client built (ClientBuilder::seed with this seed replays its reconnect jitter)"
        );
        Ok(Prepared {
            config,
            dispatcher,
            tls,
            proxy: self.proxy,
            seed,
            notifier: self.notifier,
            status: Arc::new(StatusBoard::new()),
        })
    }
}

impl<H> fmt::Debug for ClientOptions<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("config", &self.config)
            .field("dispatcher", &self.dispatcher)
            .field("ignore_all", &self.ignore_all)
            .field("tls", &self.tls)
            .field("proxy", &self.proxy.url.as_ref().map(|_| "<set>"))
            .field("proxy_from_env", &self.proxy.from_env)
            .field("seed", &self.seed)
            .field("notifier", &self.notifier)
            .finish()
    }
}

/// Checked settings, ready for a runtime's client (from [`ClientOptions::prepare`]).
#[non_exhaustive]
pub struct Prepared<H> {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Where events go.
    pub dispatcher: Dispatcher<H>,
    /// The rustls configuration for every connect.
    pub tls: Arc<ClientConfig>,
    /// Which proxy to tunnel through (read again at every connect).
    pub proxy: ProxyOptions,
    /// The reconnect jitter's seed.
    pub seed: u64,
    /// Where lifecycle notices go.
    pub notifier: Notifier,
    /// A fresh board for the client's loop and its handles.
    pub status: Arc<StatusBoard>,
}

impl<H> fmt::Debug for Prepared<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("config", &self.config)
            .field("dispatcher", &self.dispatcher)
            .field("proxy", &self.proxy.url.as_ref().map(|_| "<set>"))
            .field("proxy_from_env", &self.proxy.from_env)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A protocol setting is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A TLS, endpoint or proxy setting cannot work (e.g. an unreadable CA file).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Neither a handler nor a dispatcher with a route or a fallback was set: every event
    /// would be acked 200 without being handled (and never delivered again).
    #[error(
        "no handler: every event would be acked without being handled; add `.handler(...)` or \
         `.dispatcher(...)` (with at least one route or a fallback) to the client builder, or \
         call `.ignore_all()` to ack every event unhandled on purpose"
    )]
    NoHandler,
    /// A setting handed in from outside (an `OPEN_EVENT_*` variable) is missing or invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// A seed from OS entropy (std's per-process random hasher keys) mixed with the clock.
fn entropy_seed() -> u64 {
    RandomState::new().hash_one((SystemTime::now(), std::process::id()))
}

/// Generates the setters of a runtime's `ClientBuilder` that holds a field
/// `$options: ClientOptions<H>`: every config knob of the core (through
/// `open_event_core::delegate_config_setters!`), `ignore_all`, `settings` (all of a `Settings`
/// at once), `on_notice`, the TLS settings (`tls`,
/// `native_roots`, `ca_file`, `danger_accept_invalid_certs`), the proxy (`proxy`,
/// `proxy_from_env`) and `seed`.
///
/// With `; dispatcher: D, handler: async` (or `blocking`) it also generates `dispatcher(D)`
/// (`D` is the runtime's `Dispatcher` alias) and `handler(f)` for async handlers
/// (`Fn(Event) -> impl Future<Output = Result<(), E>>`) or blocking ones
/// (`Fn(Event) -> Result<(), E>`). The runtime adds `build`.
///
/// ```
/// use open_event_core::handler::BlockingHandler;
/// use open_event_transport::{BuildError, ClientOptions, Prepared};
///
/// pub type Dispatcher = open_event_core::dispatcher::Dispatcher<BlockingHandler>;
///
/// pub struct ClientBuilder {
///     options: ClientOptions<BlockingHandler>,
/// }
///
/// impl ClientBuilder {
///     open_event_transport::delegate_client_setters!(
///         options; dispatcher: Dispatcher, handler: blocking
///     );
///
///     pub fn build(self) -> Result<Prepared<BlockingHandler>, BuildError> {
///         self.options.prepare()
///     }
/// }
///
/// let builder = ClientBuilder { options: ClientOptions::new("AK123456", "sk098765") };
/// let prepared = builder
///     .handler(|event| Ok::<(), std::io::Error>(println!("{}", event.event_code())))
///     .max_in_flight(8)
///     .seed(7)
///     .proxy("http://proxy.local:3128")
///     .build()?;
/// assert_eq!((prepared.config.max_in_flight(), prepared.seed), (8, 7));
/// # Ok::<(), BuildError>(())
/// ```
#[macro_export]
macro_rules! delegate_client_setters {
    ($options:ident; dispatcher: $dispatcher:ty, handler: async) => {
        $crate::delegate_client_setters!($options; dispatcher: $dispatcher);

        /// Handles every event with `f` (a dispatcher with only a fallback). Its futures run
        /// concurrently with the connection and with each other, up to `max_in_flight` at
        /// once. `Ok` acks the event with 200; an error or a panic acks it with 500 and the
        /// error's text (the server may redeliver it). Replaces a dispatcher or handler set
        /// before.
        #[must_use]
        pub fn handler<F, Fut, E>(self, f: F) -> Self
        where
            F: Fn($crate::__core::Event) -> Fut + Send + Sync + 'static,
            Fut: ::std::future::Future<Output = Result<(), E>> + Send + 'static,
            E: Into<$crate::__core::handler::HandlerError> + 'static,
        {
            let mut dispatcher = <$dispatcher>::new();
            dispatcher.fallback($crate::__core::handler::AsyncHandler::new(f));
            self.dispatcher(dispatcher)
        }
    };
    ($options:ident; dispatcher: $dispatcher:ty, handler: blocking) => {
        $crate::delegate_client_setters!($options; dispatcher: $dispatcher);

        /// Handles every event with `f` (a dispatcher with only a fallback). It runs on a
        /// worker thread, up to `max_in_flight` at once. `Ok` acks the event with 200; an
        /// error or a panic acks it with 500 and the error's text (the server may redeliver
        /// it). Replaces a dispatcher or handler set before.
        #[must_use]
        pub fn handler<F, E>(self, f: F) -> Self
        where
            F: Fn($crate::__core::Event) -> Result<(), E> + Send + Sync + 'static,
            E: Into<$crate::__core::handler::HandlerError> + 'static,
        {
            let mut dispatcher = <$dispatcher>::new();
            dispatcher.fallback($crate::__core::handler::BlockingHandler::new(f));
            self.dispatcher(dispatcher)
        }
    };
    ($options:ident; dispatcher: $dispatcher:ty) => {
        $crate::delegate_client_setters!($options);

        /// Routes events with `dispatcher` (typed handlers, per-code handlers, glob routes, a
        /// fallback). Replaces a dispatcher or handler set before.
        #[must_use]
        pub fn dispatcher(mut self, dispatcher: $dispatcher) -> Self {
            self.$options.dispatcher = Some(dispatcher);
            self
        }
    };
    ($options:ident) => {
        $crate::__core::delegate_config_setters!($options.config);

        /// Acks every event that no handler takes with 200, on purpose, without handling it
        /// (counted in `Stats::unhandled`). Without this, `build` refuses a client that has no
        /// handler and no dispatcher route (`BuildError::NoHandler`), so
        /// a forgotten handler cannot silently lose every event.
        #[must_use]
        pub fn ignore_all(mut self) -> Self {
            self.$options.ignore_all = true;
            self
        }

        /// Applies every setting `settings` holds (e.g. read with
        /// `open_event_transport::env_settings()` or `Settings::from_vars`); the others keep
        /// their values. Setters called afterwards win over it.
        #[must_use]
        pub fn settings(mut self, settings: &$crate::__core::config::Settings) -> Self {
            self.$options.apply(settings);
            self
        }

        /// Calls `f` with every lifecycle notice (connected, disconnected, reconnecting,
        /// goaway, rejected frames, slow handlers, stopped, ...), in addition to the `tracing`
        /// logs (target `open_event`). It runs on the client's loop (the IO thread of
        /// `open-event-blocking`): keep it quick. A panic in it is logged and ignored.
        #[must_use]
        pub fn on_notice(
            mut self,
            f: impl Fn(&$crate::__core::connection::Notice) + Send + Sync + 'static,
        ) -> Self {
            self.$options.notifier = $crate::Notifier::new(f);
            self
        }

        /// Replaces every TLS setting at once (including those made with `native_roots`,
        /// `ca_file` and `danger_accept_invalid_certs` before).
        #[must_use]
        pub fn tls(mut self, options: $crate::TlsOptions) -> Self {
            self.$options.tls = options;
            self
        }

        /// Trusts the operating system's certificate store instead of the bundled WebPKI
        /// (Mozilla) roots. Default: off.
        #[must_use]
        pub fn native_roots(mut self, native: bool) -> Self {
            self.$options.tls.roots = if native {
                $crate::Roots::Native
            } else {
                $crate::Roots::WebPki
            };
            self
        }

        /// Also trusts the CA certificates in this PEM file (e.g. a private deployment's CA or
        /// a test CA). May be called more than once; the file is read by `build`.
        #[must_use]
        pub fn ca_file(mut self, path: impl Into<::std::path::PathBuf>) -> Self {
            self.$options.tls.extra_ca_files.push(path.into());
            self
        }

        /// Accepts any server certificate. **Dangerous**: anyone on the network path can then
        /// read and forge events and acks. For local tests against a self-signed server only;
        /// a warning is logged. Default: off.
        #[must_use]
        pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
            self.$options.tls.danger_accept_invalid_certs = accept;
            self
        }

        /// Connects through this HTTP proxy (`http://[user:password@]host[:port]`, port 80 by
        /// default) with HTTP CONNECT. Takes precedence over `proxy_from_env`; checked by
        /// `build`.
        #[must_use]
        pub fn proxy(mut self, url: impl Into<String>) -> Self {
            self.$options.proxy.url = Some(url.into());
            self
        }

        /// Uses the proxy named by `HTTPS_PROXY` / `https_proxy` (`HTTP_PROXY` for `ws://`,
        /// then `ALL_PROXY` for both) when no `proxy` is set, honouring `NO_PROXY` /
        /// `no_proxy`. Default: off.
        #[must_use]
        pub fn proxy_from_env(mut self, from_env: bool) -> Self {
            self.$options.proxy.from_env = from_env;
            self
        }

        /// Seeds the reconnect jitter (the seed from a log replays a run's backoff exactly).
        /// Default: fresh from OS entropy; the seed in use is logged at debug level when the
        /// client is built.
        #[must_use]
        pub fn seed(mut self, seed: u64) -> Self {
            self.$options.seed = Some(seed);
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use open_event_core::connection::State;
    use open_event_core::handler::BlockingHandler;

    use super::*;

    fn options() -> ClientOptions<BlockingHandler> {
        let mut options = ClientOptions::new("AK123456", "sk098765");
        let mut dispatcher = Dispatcher::new();
        dispatcher.fallback(BlockingHandler::new(|_| Ok::<(), String>(())));
        options.dispatcher = Some(dispatcher);
        options
    }

    #[test]
    fn a_client_without_any_handler_is_refused_unless_ignore_all() {
        let bare = || ClientOptions::<BlockingHandler>::new("AK123456", "sk098765");
        let err = bare().prepare().unwrap_err();
        assert!(matches!(err, BuildError::NoHandler), "{err}");
        let text = err.to_string();
        for fix in [".handler(...)", ".dispatcher(...)", ".ignore_all()"] {
            assert!(text.contains(fix), "{text}");
        }
        let mut empty = bare();
        empty.dispatcher = Some(Dispatcher::new());
        assert!(matches!(empty.prepare(), Err(BuildError::NoHandler)));

        let mut ignoring = bare();
        ignoring.ignore_all = true;
        let prepared = ignoring.prepare().unwrap();
        assert!(prepared.dispatcher.is_empty());
        // A route or a fallback is enough.
        let mut routed = bare();
        let mut dispatcher = Dispatcher::new();
        dispatcher.on(
            "kso.app_chat.*",
            BlockingHandler::new(|_| Ok::<(), String>(())),
        );
        routed.dispatcher = Some(dispatcher);
        assert!(routed.prepare().is_ok());
        assert!(options().prepare().is_ok());
    }

    #[test]
    fn prepare_checks_every_setting_up_front() {
        let mut bad = options();
        bad.config = bad.config.max_in_flight(0);
        let err = bad.prepare().unwrap_err();
        assert!(matches!(err, BuildError::Config(_)), "{err}");

        let mut bad = options();
        bad.tls.extra_ca_files.push("/nonexistent/ca.pem".into());
        let err = bad.prepare().unwrap_err();
        assert!(matches!(err, BuildError::Transport(_)), "{err}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");

        let mut bad = options();
        bad.proxy.url = Some("socks5://u:hunter2@p:1".into());
        let err = bad.prepare().unwrap_err();
        assert!(matches!(err, BuildError::Transport(_)), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn settings_reach_every_part_of_the_options() {
        let settings = Settings::from_vars([
            ("OPEN_EVENT_APP_ID", "AK1"),
            ("OPEN_EVENT_APP_SECRET", "sk1"),
            ("OPEN_EVENT_ENDPOINT", "ws://127.0.0.1:7000/v7/event/ws"),
            ("OPEN_EVENT_CA_FILE", "/a.pem"),
            ("OPEN_EVENT_NATIVE_ROOTS", "true"),
            ("OPEN_EVENT_DANGER_ACCEPT_INVALID_CERTS", "true"),
            ("OPEN_EVENT_PROXY", "http://proxy:3128"),
            ("OPEN_EVENT_PROXY_FROM_ENV", "true"),
            ("OPEN_EVENT_SEED", "9"),
            ("OPEN_EVENT_MAX_IN_FLIGHT", "3"),
        ])
        .unwrap();
        let options = ClientOptions::<BlockingHandler>::from_settings(settings).unwrap();
        assert_eq!(
            options.tls.extra_ca_files,
            ["/a.pem"].map(std::path::PathBuf::from)
        );
        assert_eq!(options.tls.roots, Roots::Native);
        assert!(options.tls.danger_accept_invalid_certs && options.proxy.from_env);
        assert_eq!(options.proxy.url.as_deref(), Some("http://proxy:3128"));
        assert_eq!(options.seed, Some(9));
        let config = options.config.build().unwrap();
        assert_eq!(config.credentials().app_id(), "AK1");
        assert_eq!(config.max_in_flight(), 3);
        assert_eq!(
            config.endpoint().to_string(),
            "ws://127.0.0.1:7000/v7/event/ws"
        );

        let missing = Settings::from_vars([("OPEN_EVENT_APP_ID", "AK1")]).unwrap();
        let err = ClientOptions::<BlockingHandler>::from_settings(missing).unwrap_err();
        assert!(matches!(err, BuildError::Settings(_)), "{err}");
        assert!(
            err.to_string()
                .starts_with("OPEN_EVENT_APP_SECRET is not set"),
            "{err}"
        );
    }

    #[test]
    fn a_config_file_is_read_with_its_paths_relative_to_it() {
        let dir = std::env::temp_dir().join(format!("oe-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.toml");
        std::fs::write(&path, "pong_timeout = \"5s\"\nca_file = \"ca.pem\"\n").unwrap();
        let s = file_settings(&path).unwrap();
        assert_eq!(s.pong_timeout, Some(std::time::Duration::from_secs(5)));
        assert_eq!(s.ca_file, [dir.join("ca.pem")]);
        std::fs::write(&path, "pong_timeout = \"5s\"\nmax_inflight = 3\n").unwrap();
        let err = file_settings(&path).unwrap_err();
        assert!(err.to_string().contains("max_inflight"), "{err}");
        assert!(
            err.to_string().contains("did you mean `max_in_flight`?"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let err = file_settings(dir.join("missing.toml")).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read config file"),
            "{err}"
        );
        assert!(err.to_string().contains("missing.toml"), "{err}");
    }

    /// Run by `from_env_reads_the_process_environment` in a child process with the variables
    /// set (a test cannot set variables in its own process safely).
    #[test]
    #[ignore = "run in a child process by from_env_reads_the_process_environment"]
    fn from_env_child() {
        let options = ClientOptions::<BlockingHandler>::from_env().unwrap();
        let config = options.config.build().unwrap();
        assert_eq!(config.credentials().app_id(), "AK-env");
        assert_eq!(config.pong_timeout(), std::time::Duration::from_secs(7));
        assert_eq!(options.seed, Some(5));
    }

    #[test]
    fn from_env_reads_the_process_environment() {
        let run = |vars: &[(&str, &str)]| {
            let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
            cmd.args(["--ignored", "--exact", "options::tests::from_env_child"]);
            for var in [
                "OPEN_EVENT_APP_ID",
                "OPEN_EVENT_APP_SECRET",
                "APP_ID",
                "APP_SECRET",
            ] {
                cmd.env_remove(var);
            }
            cmd.envs(vars.iter().copied()).output().unwrap()
        };
        let ok = run(&[
            ("OPEN_EVENT_APP_ID", "AK-env"),
            ("OPEN_EVENT_APP_SECRET", "sk-env"),
            ("OPEN_EVENT_PONG_TIMEOUT", "7s"),
            ("OPEN_EVENT_SEED", "5"),
        ]);
        let text = String::from_utf8_lossy(&ok.stdout);
        assert!(ok.status.success() && text.contains("1 passed"), "{text}");
        let bad = run(&[("OPEN_EVENT_APP_ID", "AK-env")]);
        let text = String::from_utf8_lossy(&bad.stdout);
        assert!(!bad.status.success(), "{text}");
        assert!(text.contains("OPEN_EVENT_APP_SECRET is not set"), "{text}");
    }

    #[test]
    fn prepare_keeps_a_set_seed_and_draws_one_otherwise() {
        let mut seeded = options();
        seeded.seed = Some(42);
        let prepared = seeded.prepare().unwrap();
        assert_eq!(prepared.seed, 42);
        assert_eq!(prepared.status.handle().state(), State::Connecting);
        let drawn: Vec<u64> = (0..3).map(|_| options().prepare().unwrap().seed).collect();
        assert!(drawn[0] != drawn[1] || drawn[1] != drawn[2], "{drawn:?}");
    }

    #[test]
    fn debug_hides_the_secret_and_the_proxy_password() {
        let mut options = options();
        options.proxy.url = Some("http://user:pw@proxy:1".into());
        let text = format!("{options:?}");
        assert!(
            !text.contains("sk098765") && !text.contains("pw@"),
            "{text}"
        );
        let text = format!("{:?}", options.prepare().unwrap());
        assert!(
            !text.contains("sk098765") && !text.contains("pw@"),
            "{text}"
        );
    }
}
