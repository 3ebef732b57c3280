//! The drive loop of one API call: [`Api`] holds what calls share (settings, token cache,
//! jitter), a [`Call`] says what to do next: send this request, wait until then, or done.
//!
//! Every decision lives here: when to fetch a token, what a 401 means, which answers are
//! retried and after how long (`Retry-After` honoured), when to give up. An adapter only sends
//! what it is told with its HTTP library, applies [`Outgoing::timeout`], sleeps, and passes
//! back what happened.
//!
//! ```
//! use std::time::{Duration, Instant, SystemTime};
//! use open_event_api::{Api, ApiConfig, Receiver, SendMessage, Step};
//!
//! let mut api = Api::new(ApiConfig::builder("AK123456", "sk098765").build()?, 7);
//! let mut call = api.call(SendMessage::text(Receiver::chat("chat_1"), "hi")?);
//! let (now, wall) = (Instant::now(), SystemTime::now());
//!
//! // First the token...
//! let Step::Send(out) = call.poll(&mut api, now, wall) else { unreachable!() };
//! assert_eq!(out.request().uri().path(), "/oauth2/token");
//! let answer = br#"{"access_token":"t1","expires_in":7200,"token_type":"bearer"}"#;
//! call.handle_response(&mut api, now, wall, http::Response::new(&answer[..]));
//!
//! // ...then the call, which a 503 with Retry-After delays...
//! let Step::Send(out) = call.poll(&mut api, now, wall) else { unreachable!() };
//! assert_eq!(out.request().uri().path(), "/v7/messages/create");
//! let busy = http::Response::builder().status(503).header("retry-after", "2").body(&b""[..])?;
//! call.handle_response(&mut api, now, wall, busy);
//! assert!(matches!(call.poll(&mut api, now, wall), Step::Wait(t) if t == now + Duration::from_secs(2)));
//!
//! // ...and the retry succeeds, with the cached token.
//! let later = now + Duration::from_secs(2);
//! let Step::Send(out) = call.poll(&mut api, later, wall) else { unreachable!() };
//! assert_eq!(out.request().headers()["authorization"], "Bearer t1");
//! let ok = br#"{"code":0,"data":{"message_id":"m1"}}"#;
//! call.handle_response(&mut api, later, wall, http::Response::new(&ok[..]));
//! let Step::Done(Ok(sent)) = call.poll(&mut api, later, wall) else { unreachable!() };
//! assert_eq!(sent.message_id.as_deref(), Some("m1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::endpoint::{parse_scrubbed, signed};
use crate::response::{Scrub, excerpt};
use crate::token::{AfterUnauthorized, TOKEN_PATH, TokenDecision};
use crate::{ApiConfig, ApiError, Endpoint, Token, TokenCache};

/// How far a retry delay is varied either way (±20 %).
const JITTER: f64 = 0.2;

/// What the calls of one app share: the settings, the token cache and the jitter generator.
///
/// Adapters keep one `Api` per app behind a lock and take it for each [`Call::poll`] and
/// `handle_*` (never across IO).
#[derive(Debug)]
pub struct Api {
    config: Arc<ApiConfig>,
    tokens: TokenCache,
    rng: fastrand::Rng,
}

impl Api {
    /// State for `config`'s app; `seed` seeds the retry jitter (so a run is reproducible).
    pub fn new(config: ApiConfig, seed: u64) -> Self {
        Self {
            tokens: TokenCache::new(config.refresh_margin()),
            config: Arc::new(config),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// The token cache.
    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// The token cache, e.g. to [`clear`](TokenCache::clear) it.
    pub fn tokens_mut(&mut self) -> &mut TokenCache {
        &mut self.tokens
    }

    /// Starts a call of `endpoint`; drive it with [`Call::poll`].
    pub fn call<E: Endpoint>(&mut self, endpoint: E) -> Call<E> {
        let seed = self.rng.u64(..);
        Call {
            name: endpoint.call_name(),
            method: endpoint.method(),
            path: endpoint.path(),
            body: endpoint.body(),
            endpoint,
            sent: 0,
            failures: 0,
            refreshed: false,
            wait_until: None,
            in_flight: None,
            outcome: None,
            done: false,
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

/// What an adapter does next for a [`Call`].
#[derive(Debug)]
pub enum Step<T> {
    /// Send this request, then pass the answer to [`Call::handle_response`] (or the failure to
    /// [`Call::handle_failure`]).
    Send(Outgoing),
    /// Sleep until this instant, then poll again.
    Wait(Instant),
    /// The call is over.
    Done(Result<T, ApiError>),
}

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Purpose {
    /// Fetching the access token.
    Token,
    /// The API call itself.
    Call,
}

/// A request to send, with the timeout to apply to it.
///
/// Its `Debug` output names the method, URI and purpose only: the headers carry the access
/// token, and a token request's body carries the app secret.
pub struct Outgoing {
    request: http::Request<Vec<u8>>,
    timeout: Duration,
    purpose: Purpose,
}

impl Outgoing {
    /// The request.
    pub fn request(&self) -> &http::Request<Vec<u8>> {
        &self.request
    }

    /// The request, to hand to an HTTP library.
    pub fn into_request(self) -> http::Request<Vec<u8>> {
        self.request
    }

    /// How long sending it and reading the whole answer may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What it is for.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .field("purpose", &self.purpose)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The connection (TCP, TLS, proxy) could not be made.
    Connect,
    /// The request or its answer took longer than [`Outgoing::timeout`].
    Timeout,
    /// Anything else (reset, broken answer).
    Other,
}

/// A request that got no answer: what kind of failure, and the HTTP library's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    /// The kind.
    pub kind: FailureKind,
    /// The library's description (it must not contain headers or bodies).
    pub detail: String,
}

#[derive(Debug, Clone, Copy)]
enum Flight {
    Token { sent_at: Instant },
    Call { generation: u64 },
}

/// One API call in progress: poll it for the next [`Step`].
pub struct Call<E: Endpoint> {
    endpoint: E,
    name: String,
    method: http::Method,
    path: String,
    body: Vec<u8>,
    sent: u32,
    failures: u32,
    refreshed: bool,
    wait_until: Option<Instant>,
    in_flight: Option<Flight>,
    outcome: Option<Result<E::Output, ApiError>>,
    done: bool,
    rng: fastrand::Rng,
}

impl<E: Endpoint> Call<E> {
    /// What to do next at `now` (`wall` dates a request's `X-Kso-Date`).
    pub fn poll(&mut self, api: &mut Api, now: Instant, wall: SystemTime) -> Step<E::Output> {
        if self.done {
            return Step::Done(Err(ApiError::Misuse(
                "the call was polled after it finished",
            )));
        }
        if let Some(outcome) = self.outcome.take() {
            self.done = true;
            return Step::Done(outcome);
        }
        if self.in_flight.is_some() {
            self.done = true;
            return Step::Done(Err(ApiError::Misuse(
                "the call was polled while its request was in flight",
            )));
        }
        if let Some(until) = self.wait_until {
            if now < until {
                return Step::Wait(until);
            }
            self.wait_until = None;
        }
        let config = Arc::clone(&api.config);
        let timeout = config.request_timeout();
        match api.tokens.decide(now) {
            TokenDecision::Use { token, generation } => {
                let request = signed(
                    &config,
                    &self.method,
                    &self.path,
                    self.body.clone(),
                    token,
                    wall,
                );
                self.sent += 1;
                self.in_flight = Some(Flight::Call { generation });
                Step::Send(Outgoing {
                    request,
                    timeout,
                    purpose: Purpose::Call,
                })
            }
            TokenDecision::Wait(until) => Step::Wait(until),
            TokenDecision::Fetch => {
                api.tokens
                    .fetch_started(now, now + timeout + config.connect_timeout());
                self.sent += 1;
                self.in_flight = Some(Flight::Token { sent_at: now });
                Step::Send(Outgoing {
                    request: Token::request(&config),
                    timeout,
                    purpose: Purpose::Token,
                })
            }
        }
    }

    /// Passes back the answer to the request of the last [`Step::Send`].
    pub fn handle_response(
        &mut self,
        api: &mut Api,
        now: Instant,
        wall: SystemTime,
        response: http::Response<&[u8]>,
    ) {
        let Some(flight) = self.in_flight.take() else {
            self.outcome = Some(Err(ApiError::Misuse(
                "an answer was passed back with no request in flight",
            )));
            return;
        };
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers(), wall);
        let secret = api.config.credentials().app_secret().expose().to_owned();
        match flight {
            Flight::Token { sent_at } => {
                let scrub = Scrub::new(&secret, None);
                match Token::parse_scrubbed(response, &scrub) {
                    Ok(token) => {
                        api.tokens.store(sent_at, token);
                    }
                    Err(err) => {
                        api.tokens.fetch_failed();
                        self.fail_or_retry(api, now, status, retry_after, err);
                    }
                }
            }
            Flight::Call { generation } => {
                let token = api.tokens.current_token().map(|t| t.expose().to_owned());
                let scrub = Scrub::new(&secret, token.as_deref());
                if status == 401 {
                    match api.tokens.on_unauthorized(generation, self.refreshed) {
                        AfterUnauthorized::Refresh => self.refreshed = true,
                        AfterUnauthorized::Fail => {
                            let body = *response.body();
                            let detail = match crate::response::platform_error(body, &scrub) {
                                Some((code, msg)) => format!("code {code}: {msg}"),
                                None => format!("body {:?}", excerpt(body, &scrub)),
                            };
                            self.outcome = Some(Err(ApiError::Unauthorized {
                                call: self.name.clone(),
                                detail,
                            }));
                        }
                    }
                    return;
                }
                match parse_scrubbed(&self.endpoint, &self.name, response, &scrub) {
                    Ok(output) => self.outcome = Some(Ok(output)),
                    Err(err) => self.fail_or_retry(api, now, status, retry_after, err),
                }
            }
        }
    }

    /// Passes back that the request of the last [`Step::Send`] got no answer.
    pub fn handle_failure(&mut self, api: &mut Api, now: Instant, failure: TransportFailure) {
        let Some(flight) = self.in_flight.take() else {
            self.outcome = Some(Err(ApiError::Misuse(
                "a failure was passed back with no request in flight",
            )));
            return;
        };
        let call = match flight {
            Flight::Token { .. } => {
                api.tokens.fetch_failed();
                format!("POST {TOKEN_PATH}")
            }
            Flight::Call { .. } => self.name.clone(),
        };
        let secret = api.config.credentials().app_secret().expose().to_owned();
        let detail = Scrub::new(&secret, None).apply(&failure.detail);
        let err = ApiError::Transport { call, detail };
        self.retry(api, now, None, err);
    }

    /// Gives the call up, e.g. because its caller went away (an async caller's future was
    /// dropped). A token fetch it had in flight is forgotten, so other calls fetch their own at
    /// once instead of waiting for its deadline. Polling it afterwards is a misuse.
    pub fn abandon(&mut self, api: &mut Api) {
        if let Some(Flight::Token { .. }) = self.in_flight.take() {
            api.tokens.fetch_failed();
        }
        self.done = true;
    }

    /// How many requests this call has sent so far (token requests included).
    pub fn requests_sent(&self) -> u32 {
        self.sent
    }

    fn fail_or_retry(
        &mut self,
        api: &Api,
        now: Instant,
        status: u16,
        retry_after: Option<Duration>,
        err: ApiError,
    ) {
        if status == 429 || (500..600).contains(&status) {
            if let Some(wait) = retry_after {
                let limit = api.config.retry().max_retry_after;
                if wait > limit {
                    self.outcome = Some(Err(ApiError::RetryAfterTooLong {
                        call: call_of(&err).unwrap_or_else(|| self.name.clone()),
                        status,
                        retry_after: wait,
                        limit,
                    }));
                    return;
                }
            }
            self.retry(api, now, retry_after, err);
        } else {
            self.outcome = Some(Err(err));
        }
    }

    fn retry(&mut self, api: &Api, now: Instant, server_delay: Option<Duration>, err: ApiError) {
        self.failures += 1;
        let policy = api.config.retry();
        if self.failures >= policy.max_attempts {
            self.outcome = Some(Err(ApiError::GaveUp {
                attempts: self.sent,
                last: Box::new(err),
            }));
            return;
        }
        let delay = server_delay.unwrap_or_else(|| {
            let nominal = policy.nominal_delay(self.failures).as_secs_f64();
            let factor = 1.0 + JITTER * (2.0 * self.rng.f64() - 1.0);
            Duration::from_secs_f64(nominal * factor)
        });
        self.wait_until = Some(now + delay);
    }
}

impl<E: Endpoint> fmt::Debug for Call<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("call", &self.name)
            .field("sent", &self.sent)
            .field("failures", &self.failures)
            .field("refreshed", &self.refreshed)
            .field("wait_until", &self.wait_until)
            .field("in_flight", &self.in_flight)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The call an error names, if it names one.
fn call_of(err: &ApiError) -> Option<String> {
    match err {
        ApiError::Platform { call, .. }
        | ApiError::Http { call, .. }
        | ApiError::InvalidResponse { call, .. }
        | ApiError::Transport { call, .. } => Some(call.clone()),
        _ => None,
    }
}

/// The `Retry-After` header as a delay: seconds, or an HTTP date relative to `wall`.
fn retry_after(headers: &http::HeaderMap, wall: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(wall).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests;
