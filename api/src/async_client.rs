//! The async client: the sans-IO [`Call`](crate::Call) driven with reqwest (rustls, ring) on
//! tokio.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use open_event_transport::{TlsOptions, USER_AGENT, describe_error};

use crate::{
    Api, ApiConfig, ApiError, Call, Endpoint, FailureKind, MessageSent, ReplyMessage, SendMessage,
    Step, TransportFailure,
};

/// The REST API client for async code, on reqwest with rustls (needs a tokio runtime).
///
/// Cheap to clone: clones share the connection pool and the access token. Every request has
/// the config's timeouts; 429 and 5xx answers and network errors are retried with backoff
/// (honouring `Retry-After`); a 401 fetches a new token once. Redirects are not followed (the
/// bearer token must not travel to another host). Proxies come from the usual environment
/// variables (`HTTPS_PROXY`, `NO_PROXY`), as reqwest reads them.
///
/// ```no_run
/// use open_event_api::{ApiConfig, AsyncClient, Receiver, SendMessage};
///
/// # async fn demo() -> Result<(), open_event_api::ApiError> {
/// let api = AsyncClient::new(ApiConfig::builder("AK123456", "app secret").build()?)?;
/// let sent = api.send(SendMessage::text(Receiver::chat("chat_1"), "hello")?).await?;
/// println!("sent {:?}", sent.message_id);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncClient {
    http: reqwest::Client,
    api: Arc<Mutex<Api>>,
}

impl AsyncClient {
    /// A client with the default TLS settings (the Mozilla roots of `webpki-roots`).
    ///
    /// # Errors
    /// [`ApiError::Config`] when the HTTP client cannot be built.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        Self::with_tls(config, &TlsOptions::default())
    }

    /// A client trusting what `tls` says: the same options as the event client's (roots, extra
    /// CA files, `danger_accept_invalid_certs`).
    ///
    /// # Errors
    /// [`ApiError::Config`] (setting `tls`) for unreadable CA files or an unusable trust store.
    pub fn with_tls(config: ApiConfig, tls: &TlsOptions) -> Result<Self, ApiError> {
        let rustls = tls.client_config().map_err(|e| ApiError::Config {
            setting: "tls",
            problem: e.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*rustls).clone())
            .connect_timeout(config.connect_timeout())
            .timeout(config.request_timeout())
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::Config {
                setting: "tls",
                problem: format!("the HTTP client cannot be built: {}", describe_error(&e)),
            })?;
        Ok(Self {
            http,
            api: Arc::new(Mutex::new(Api::new(config, fastrand::u64(..)))),
        })
    }

    /// Sends a message.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn send(&self, message: SendMessage) -> Result<MessageSent, ApiError> {
        self.execute(message).await
    }

    /// Replies to a message.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn reply(&self, reply: ReplyMessage) -> Result<MessageSent, ApiError> {
        self.execute(reply).await
    }

    /// Runs any API call to its end: token, retries, the 401 refresh.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn execute<E: Endpoint>(&self, endpoint: E) -> Result<E::Output, ApiError> {
        let call = self.lock().call(endpoint);
        // Dropping the future mid-call (a timeout, a cancelled handler) abandons the call.
        let mut guard = Abandon {
            call,
            api: &self.api,
        };
        let call = &mut guard.call;
        loop {
            let step = call.poll(&mut self.lock(), Instant::now(), SystemTime::now());
            match step {
                Step::Done(result) => return result,
                Step::Wait(until) => tokio::time::sleep_until(until.into()).await,
                Step::Send(out) => {
                    let timeout = out.timeout();
                    let outcome = match reqwest::Request::try_from(out.into_request()) {
                        Ok(mut request) => {
                            *request.timeout_mut() = Some(timeout);
                            self.round_trip(request).await
                        }
                        Err(e) => Err(failure(&e)),
                    };
                    let mut api = self.lock();
                    match outcome {
                        Ok((head, body)) => {
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

    /// Sends `request` and reads the whole answer.
    async fn round_trip(
        &self,
        request: reqwest::Request,
    ) -> Result<(http::response::Parts, Vec<u8>), TransportFailure> {
        let response = self.http.execute(request).await.map_err(|e| failure(&e))?;
        let mut head = http::Response::new(());
        *head.status_mut() = response.status();
        *head.headers_mut() = response.headers().clone();
        let body = response.bytes().await.map_err(|e| failure(&e))?;
        Ok((head.into_parts().0, body.to_vec()))
    }

    fn lock(&self) -> MutexGuard<'_, Api> {
        lock(&self.api)
    }
}

/// The state stays consistent across a panic elsewhere: every update is one assignment.
fn lock(api: &Mutex<Api>) -> MutexGuard<'_, Api> {
    api.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A call being driven; abandoned (see [`Call::abandon`]) when dropped before its end.
struct Abandon<'a, E: Endpoint> {
    call: Call<E>,
    api: &'a Mutex<Api>,
}

impl<E: Endpoint> Drop for Abandon<'_, E> {
    fn drop(&mut self) {
        self.call.abandon(&mut lock(self.api));
    }
}

fn failure(err: &reqwest::Error) -> TransportFailure {
    let kind = if err.is_timeout() {
        FailureKind::Timeout
    } else if err.is_connect() {
        FailureKind::Connect
    } else {
        FailureKind::Other
    };
    TransportFailure {
        kind,
        detail: chain(err),
    }
}

/// The error and its sources on one line, with the transport's hints for TLS and IO errors.
fn chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let hint = describe_error(err);
    if hint != text {
        text.push_str(": ");
        text.push_str(&hint);
    }
    text
}
