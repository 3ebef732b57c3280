//! The platform's webhook side (docs/protocol.md §11): POST the address check, then signed and
//! encrypted events, to an app's HTTP endpoint, retrying what is not answered 200 in time.
//!
//! - [`WebhookPusher::challenge`] posts `{"challenge":"…"}` and fails loudly when the answer is
//!   not the same JSON with 200, or comes later than 1 s (the platform's limit).
//! - [`WebhookPusher::push`] seals an [`EventSpec`], posts it, and retries a non-200 answer,
//!   a timeout (3 s, the platform's limit) or a broken connection with the core's backoff;
//!   the [`Delivered`] report lists every attempt and what the app answered.
//! - [`WebhookPusher::post`] posts a body once, as is (tampered or duplicated bodies in tests).
//!
//! One keep-alive HTTP/1.1 connection is reused and reopened when it breaks. `http://` only:
//! for loopback tests, demos and benchmarks.
//!
//! ```no_run
//! use open_event_core::Credentials;
//! use open_event_emulator::server::EventSpec;
//! use open_event_emulator::webhook::{PushOptions, WebhookPusher};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::new("AK20240101TEST", "sk_test_secret_0123456789abcdef");
//! let mut pusher = WebhookPusher::new("http://127.0.0.1:8080/events", credentials, PushOptions::default())?;
//! let echoed_in = pusher.challenge().await?;
//! let report = pusher.push(EventSpec::chat_message("hello")).await?;
//! println!("challenge {echoed_in:?}; {} answered {:?}", report.nonce, report.last_status());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use open_event_core::Credentials;
use open_event_core::backoff::Backoff;
use open_event_core::config::Config;
use open_event_core::crypto::EventCipher;
use tokio::net::TcpStream;

use crate::server::EventSpec;
use crate::server::PushError;

/// How the pusher behaves; the defaults are the platform's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// How long the app has to echo the challenge. Default 1 s.
    pub challenge_timeout: Duration,
    /// How long the app has to answer an event. Default 3 s.
    pub timeout: Duration,
    /// Attempts after the first before an event is given up. Default 3.
    pub retries: u32,
    /// The first retry delay (it doubles per attempt, ±20 % jitter). Default 200 ms.
    pub retry_base: Duration,
    /// The longest retry delay. Default 5 s.
    pub retry_max: Duration,
    /// Seeds the nonces and the jitter. Default 1.
    pub seed: u64,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            challenge_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
            retries: 3,
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(5),
            seed: 1,
        }
    }
}

/// What the app answered one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// An HTTP response.
    Status {
        /// Its status code.
        status: u16,
        /// Its body as text (lossy UTF-8).
        body: String,
        /// Its `Retry-After` header, if any.
        retry_after: Option<String>,
        /// From sending to the whole body.
        elapsed: Duration,
    },
    /// No answer within the timeout.
    TimedOut(Duration),
    /// The connection failed or broke.
    Failed(String),
}

impl Answer {
    /// The status code, if there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the platform takes the event as delivered.
    pub fn is_ok(&self) -> bool {
        self.status() == Some(200)
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status {
                status,
                body,
                elapsed,
                ..
            } => write!(
                f,
                "{status} in {:.1} ms: {body}",
                elapsed.as_secs_f64() * 1e3
            ),
            Self::TimedOut(after) => write!(f, "no answer within {after:?}"),
            Self::Failed(err) => write!(f, "failed: {err}"),
        }
    }
}

/// Every attempt to deliver one event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivered {
    /// The event's nonce.
    pub nonce: String,
    /// `topic.operation`.
    pub event_code: String,
    /// What each attempt got, in order; the last is 200 unless the retries ran out.
    pub attempts: Vec<Answer>,
}

impl Delivered {
    /// Whether the last attempt was answered 200.
    pub fn is_delivered(&self) -> bool {
        self.attempts.last().is_some_and(Answer::is_ok)
    }

    /// The status of the last attempt.
    pub fn last_status(&self) -> Option<u16> {
        self.attempts.last().and_then(Answer::status)
    }
}

/// Why the pusher could not do what was asked. Messages name the cause and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookPushError {
    /// The URL is not `http://host[:port]/path`.
    #[error("webhook URL {0:?} is not http://host[:port]/path: give the app's webhook address")]
    Url(String),
    /// The challenge was not echoed right.
    #[error(
        "the app answered the challenge with {answer}, not 200 with {{\"challenge\":{expected:?}}}: echo the challenge JSON as is"
    )]
    ChallengeWrong {
        /// What was sent.
        expected: String,
        /// What came back.
        answer: String,
    },
    /// The challenge was echoed, but too late.
    #[error(
        "the app echoed the challenge after {elapsed:?}; the platform gives up after {limit:?}: answer it before anything slow"
    )]
    ChallengeLate {
        /// How long it took.
        elapsed: Duration,
        /// The limit.
        limit: Duration,
    },
    /// The event cannot be sealed.
    #[error(transparent)]
    Event(#[from] PushError),
}

/// Posts the challenge and events to one webhook URL.
pub struct WebhookPusher {
    authority: String,
    host: String,
    port: u16,
    path: String,
    cipher: EventCipher,
    options: PushOptions,
    backoff: Backoff,
    next_nonce: u64,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl fmt::Debug for WebhookPusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookPusher")
            .field(
                "url",
                &format_args!("http://{}{}", self.authority, self.path),
            )
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl WebhookPusher {
    /// A pusher to `url` signing with `credentials` (the app's).
    ///
    /// # Errors
    /// [`WebhookPushError::Url`] for anything but `http://host[:port][/path]`.
    pub fn new(
        url: &str,
        credentials: Credentials,
        options: PushOptions,
    ) -> Result<Self, WebhookPushError> {
        let bad = || WebhookPushError::Url(url.to_owned());
        let uri: Uri = url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("http") {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let config = Config::builder(credentials.app_id(), credentials.app_secret().clone())
            .reconnect_base(options.retry_base)
            .reconnect_max(options.retry_max.max(options.retry_base))
            .max_retries(Some(options.retries))
            .build()
            .map_err(|_| bad())?;
        let mut rng = fastrand::Rng::with_seed(options.seed);
        Ok(Self {
            authority: authority.as_str().to_owned(),
            host: authority.host().trim_matches(['[', ']']).to_owned(),
            port: authority.port_u16().unwrap_or(80),
            path,
            cipher: EventCipher::new(&credentials),
            backoff: Backoff::new(&config, options.seed),
            next_nonce: rng.u64(..) & !0xffff_ffff,
            options,
            sender: None,
        })
    }

    /// Posts a fresh challenge and checks the echo; returns how long it took.
    ///
    /// # Errors
    /// [`WebhookPushError::ChallengeWrong`] (not 200, not the same JSON, no answer) or
    /// [`WebhookPushError::ChallengeLate`] (past [`PushOptions::challenge_timeout`]).
    pub async fn challenge(&mut self) -> Result<Duration, WebhookPushError> {
        let challenge = format!("emu-challenge-{:016x}", self.next_nonce ^ 0x5a5a_5a5a);
        let body = serde_json::json!({ "challenge": challenge }).to_string();
        // Waits past the limit, so that a late answer is told apart from none.
        let limit = self.options.challenge_timeout;
        let answer = self.post(body, limit * 3).await;
        let Answer::Status {
            status: 200,
            body,
            elapsed,
            ..
        } = &answer
        else {
            return Err(WebhookPushError::ChallengeWrong {
                expected: challenge,
                answer: answer.to_string(),
            });
        };
        let echoed = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| Some(v.get("challenge")?.as_str()? == challenge));
        if echoed != Some(true) {
            return Err(WebhookPushError::ChallengeWrong {
                expected: challenge,
                answer: answer.to_string(),
            });
        }
        if *elapsed > limit {
            return Err(WebhookPushError::ChallengeLate {
                elapsed: *elapsed,
                limit,
            });
        }
        Ok(*elapsed)
    }

    /// Seals `event` with a fresh nonce: the body the platform would post, and its nonce.
    ///
    /// # Errors
    /// [`WebhookPushError::Event`] for an empty topic or operation.
    pub fn seal(&mut self, event: &EventSpec) -> Result<(String, String), WebhookPushError> {
        event.check()?;
        let nonce = format!("{:016x}", self.next_nonce);
        self.next_nonce = self.next_nonce.wrapping_add(1);
        let time = event.time.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        });
        let frame = self
            .cipher
            .seal(&event.topic, &event.operation, time, &nonce, &event.data)
            .map_err(|_| PushError::EmptyTopic)?;
        Ok((frame.to_json(), nonce))
    }

    /// Seals and delivers `event`, retrying until it is answered 200 or the retries run out.
    ///
    /// # Errors
    /// Only for an event that cannot be sealed; an undelivered event is a [`Delivered`] whose
    /// last attempt is not 200.
    pub async fn push(&mut self, event: EventSpec) -> Result<Delivered, WebhookPushError> {
        let (body, nonce) = self.seal(&event)?;
        Ok(self.deliver(body, nonce, event.event_code()).await)
    }

    /// Delivers an already sealed body (a redelivery of the same nonce, say), with retries.
    pub async fn deliver(&mut self, body: String, nonce: String, event_code: String) -> Delivered {
        self.backoff.reset();
        let mut attempts = Vec::new();
        loop {
            let answer = self.post(body.clone(), self.options.timeout).await;
            let done = answer.is_ok();
            attempts.push(answer);
            if done {
                break;
            }
            match self.backoff.next_delay() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break,
            }
        }
        Delivered {
            nonce,
            event_code,
            attempts,
        }
    }

    /// Posts `body` once as `application/json` and waits up to `timeout` for the whole answer.
    pub async fn post(&mut self, body: String, timeout: Duration) -> Answer {
        let started = Instant::now();
        match tokio::time::timeout(timeout, self.round_trip(body)).await {
            Ok(Ok((status, body, retry_after))) => Answer::Status {
                status,
                body,
                retry_after,
                elapsed: started.elapsed(),
            },
            Ok(Err(err)) => {
                self.sender = None;
                Answer::Failed(err)
            }
            Err(_) => {
                // The connection still carries the unanswered request: use a new one.
                self.sender = None;
                Answer::TimedOut(timeout)
            }
        }
    }

    async fn round_trip(&mut self, body: String) -> Result<(u16, String, Option<String>), String> {
        let sender = match &mut self.sender {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.sender.insert(self.open().await?),
        };
        sender.ready().await.map_err(|e| e.to_string())?;
        let request = http::Request::post(self.path.as_str())
            .header(http::header::HOST, self.authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((
            status,
            String::from_utf8_lossy(&bytes).into_owned(),
            retry_after,
        ))
    }

    async fn open(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect to {}: {e}", self.authority))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}
