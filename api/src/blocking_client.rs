//! The blocking client: the sans-IO [`Call`](crate::Call) driven with ureq (rustls, ring).

use std::io::{self, Read};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use open_event_transport::{TlsOptions, USER_AGENT, describe_error};

use crate::{
    Api, ApiConfig, ApiError, Endpoint, FailureKind, MessageSent, Outgoing, ReplyMessage,
    SendMessage, Step, TransportFailure,
};

/// The most of an answer's body that is read (the API's answers are a few hundred bytes).
const MAX_BODY: u64 = 1 << 20;

/// The REST API client for blocking code, on ureq with rustls.
///
/// Cheap to clone and safe to share between threads: clones share the connection pool and the
/// access token. Every request has the config's timeouts; 429 and 5xx answers and network
/// errors are retried with backoff (honouring `Retry-After`, sleeping the calling thread); a 401
/// fetches a new token once. Redirects are not followed. Proxies come from the usual environment
/// variables (`HTTPS_PROXY`, `NO_PROXY`).
///
/// ```no_run
/// use open_event_api::{ApiConfig, BlockingClient, ReplyMessage};
///
/// let api = BlockingClient::new(ApiConfig::builder("AK123456", "app secret").build()?)?;
/// api.reply(ReplyMessage::text("chat_1", "msg_1", "pong")?)?;
/// # Ok::<(), open_event_api::ApiError>(())
/// ```
#[derive(Clone)]
pub struct BlockingClient {
    agent: ureq::Agent,
    api: Arc<Mutex<Api>>,
}

impl std::fmt::Debug for BlockingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingClient")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl BlockingClient {
    /// A client with the default TLS settings (the Mozilla roots of `webpki-roots`).
    ///
    /// # Errors
    /// [`ApiError::Config`] when the TLS configuration cannot be built.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        Self::with_tls(config, &TlsOptions::default())
    }

    /// A client trusting what `tls` says: the same options as the event client's.
    ///
    /// # Errors
    /// [`ApiError::Config`] (setting `tls`) for unreadable CA files or an unusable trust store.
    pub fn with_tls(config: ApiConfig, tls: &TlsOptions) -> Result<Self, ApiError> {
        let rustls = tls.client_config().map_err(|e| ApiError::Config {
            setting: "tls",
            problem: e.to_string(),
        })?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(rustls)
            .timeout_connect(config.connect_timeout())
            .timeout(config.request_timeout())
            .redirects(0)
            .user_agent(USER_AGENT)
            .try_proxy_from_env(true)
            .build();
        Ok(Self {
            agent,
            api: Arc::new(Mutex::new(Api::new(config, fastrand::u64(..)))),
        })
    }

    /// Sends a message.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub fn send(&self, message: SendMessage) -> Result<MessageSent, ApiError> {
        self.execute(message)
    }

    /// Replies to a message.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub fn reply(&self, reply: ReplyMessage) -> Result<MessageSent, ApiError> {
        self.execute(reply)
    }

    /// Runs any API call to its end: token, retries, the 401 refresh.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub fn execute<E: Endpoint>(&self, endpoint: E) -> Result<E::Output, ApiError> {
        let mut call = self.lock().call(endpoint);
        loop {
            let step = call.poll(&mut self.lock(), Instant::now(), SystemTime::now());
            match step {
                Step::Done(result) => return result,
                Step::Wait(until) => {
                    std::thread::sleep(until.saturating_duration_since(Instant::now()));
                }
                Step::Send(out) => {
                    let outcome = self.round_trip(out);
                    let mut api = self.lock();
                    match outcome {
                        Ok(response) => {
                            let (head, body) = response.into_parts();
                            let response = http::Response::from_parts(head, body.as_slice());
                            call.handle_response(
                                &mut api,
                                Instant::now(),
                                SystemTime::now(),
                                response,
                            );
                        }
                        Err(failure) => call.handle_failure(&mut api, Instant::now(), failure),
                    }
                }
            }
        }
    }

    /// Sends the request and reads the whole answer.
    fn round_trip(&self, out: Outgoing) -> Result<http::Response<Vec<u8>>, TransportFailure> {
        let timeout = out.timeout();
        let (head, body) = out.into_request().into_parts();
        let mut request = self
            .agent
            .request(head.method.as_str(), &head.uri.to_string())
            .timeout(timeout);
        for (name, value) in &head.headers {
            if let Ok(value) = value.to_str() {
                request = request.set(name.as_str(), value);
            }
        }
        let response = match request.send_bytes(&body) {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(transport)) => return Err(transport_failure(&transport)),
        };
        let mut answer = http::Response::builder().status(response.status());
        for name in response.headers_names() {
            for value in response.all(&name) {
                answer = answer.header(name.as_str(), value);
            }
        }
        let mut body = Vec::new();
        response
            .into_reader()
            .take(MAX_BODY)
            .read_to_end(&mut body)
            .map_err(|e| io_failure(&e))?;
        answer.body(body).map_err(|e| TransportFailure {
            kind: FailureKind::Other,
            detail: format!("unusable answer: {e}"),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Api> {
        // The state stays consistent across a panic elsewhere: every update is one assignment.
        self.api.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn transport_failure(err: &ureq::Transport) -> TransportFailure {
    let io = std::error::Error::source(err).and_then(|e| e.downcast_ref::<io::Error>());
    let kind = match (err.kind(), io.map(io::Error::kind)) {
        (_, Some(io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)) => FailureKind::Timeout,
        (ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed, _) => FailureKind::Connect,
        _ => FailureKind::Other,
    };
    let mut detail = err.to_string();
    let hint = describe_error(err);
    if hint != detail {
        detail.push_str(": ");
        detail.push_str(&hint);
    }
    TransportFailure { kind, detail }
}

fn io_failure(err: &io::Error) -> TransportFailure {
    let kind = match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => FailureKind::Timeout,
        _ => FailureKind::Other,
    };
    TransportFailure {
        kind,
        detail: format!("reading the answer failed: {}", describe_error(err)),
    }
}
