//! The request path: what the [`open_event_core::webhook::Endpoint`] decides, carried out over
//! `http` types. Mount it with [`WebhookService`] (tower) or run it with
//! [`crate::Webhook::serve`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytes::{Buf, BufMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use open_event_core::connection::Outcome;
use open_event_core::webhook::{Completion, Delivery, Endpoint, Request, Response, Step, Waiter};
use tokio::sync::{Notify, oneshot};

use crate::Dispatcher;

/// How long, and how many bytes of it, the body of a refused request is still read after the
/// answer. A connection closed with unread data is reset, and a client still writing its body
/// then loses the answer (a 413 became "connection reset"); servers linger for this reason.
const DRAIN_TIME: Duration = Duration::from_secs(5);
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// A body read up to the limit.
enum BodyRead<B> {
    Read(Bytes),
    /// Past the limit: the rest of the body, still to be drained.
    TooLarge(Pin<Box<B>>),
    /// The body failed (the client went away or broke the framing).
    Failed,
}

/// Reads `body` whole if it has at most `limit` bytes. (Not `http_body_util::Limited`: it
/// drops the body at the limit, and the rest must still be drained.)
async fn read_body<B: Body>(mut body: Pin<Box<B>>, limit: usize) -> BodyRead<B> {
    let mut read = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return BodyRead::Failed;
        };
        // Trailers carry nothing the endpoint reads.
        if let Ok(data) = frame.into_data() {
            if read.len().saturating_add(data.remaining()) > limit {
                return BodyRead::TooLarge(body);
            }
            read.put(data);
        }
    }
    BodyRead::Read(Bytes::from(read))
}

/// Reads and drops what is left of a refused request's body, in the background, for at most
/// [`DRAIN_TIME`] and [`DRAIN_BYTES`], so the answer reaches the client.
fn drain_later<B>(mut body: Pin<Box<B>>)
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    tokio::spawn(async move {
        let drain = async {
            let mut dropped = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    dropped = dropped.saturating_add(data.remaining());
                    if dropped > DRAIN_BYTES {
                        return;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    });
}

/// The HTTP response type of the service.
pub type HttpResponse = http::Response<Full<Bytes>>;

/// What every request of one webhook shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) body_timeout: Duration,
    /// Woken when the last running delivery completes (graceful stop waits on it).
    pub(crate) idle: Notify,
}

/// The endpoint and the requests that wait for a running delivery, under one lock so that a
/// [`Step::Wait`] is registered before its delivery can complete.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) endpoint: Endpoint,
    waiters: HashMap<Waiter, oneshot::Sender<Response>>,
}

impl Shared {
    pub(crate) fn new(endpoint: Endpoint, dispatcher: Dispatcher, body_timeout: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                endpoint,
                waiters: HashMap::new(),
            }),
            dispatcher,
            body_timeout,
            idle: Notify::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent: a panic elsewhere poisons nothing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers one request.
    pub(crate) async fn respond<B>(self: Arc<Self>, request: http::Request<B>) -> HttpResponse
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("(not ASCII)"));
        let content_length = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let method = parts.method.as_str();
        let limit = {
            let mut state = self.lock();
            if let Err(response) = state
                .endpoint
                .check_head(method, content_type, content_length)
            {
                drop(state);
                drain_later(Box::pin(body));
                return finish(response, started);
            }
            state.endpoint.limits().body_limit()
        };
        let read = tokio::time::timeout(self.body_timeout, read_body(Box::pin(body), limit));
        let bytes = match read.await {
            Ok(BodyRead::Read(bytes)) => bytes,
            Ok(BodyRead::TooLarge(rest)) => {
                drain_later(rest);
                let response = self.lock().endpoint.body_too_large();
                return finish(response, started);
            }
            Ok(BodyRead::Failed) => return finish(self.lock().endpoint.body_unread(None), started),
            Err(_) => {
                let response = self.lock().endpoint.body_unread(Some(self.body_timeout));
                return finish(response, started);
            }
        };
        let waiting = {
            let mut state = self.lock();
            let step = state
                .endpoint
                .handle(Instant::now(), Request::new(method, content_type, &bytes));
            match step {
                Step::Respond(response) => {
                    drop(state);
                    return finish(response, started);
                }
                Step::Wait(waiter) => {
                    let (tx, rx) = oneshot::channel();
                    state.waiters.insert(waiter, tx);
                    rx
                }
                Step::Deliver(delivery) => {
                    drop(state);
                    let (tx, rx) = oneshot::channel();
                    // A task of its own: the handler finishes (and its outcome is remembered
                    // for the redelivery) even when this client goes away.
                    tokio::spawn(Arc::clone(&self).run(delivery, tx));
                    rx
                }
            }
        };
        match waiting.await {
            Ok(response) => finish(response, started),
            // The delivery task ended without an outcome: only a runtime shutting down does that.
            Err(_) => {
                let response = self.lock().endpoint.delivery_lost();
                finish(response, started)
            }
        }
    }

    /// Runs one delivery's handler and answers its request and the requests waiting on it.
    async fn run(self: Arc<Self>, delivery: Delivery, reply: oneshot::Sender<Response>) {
        let Delivery {
            token,
            event,
            deadline,
            ..
        } = delivery;
        let (code, nonce) = (event.event_code().to_owned(), event.nonce.clone());
        let handler = self.dispatcher.handle(event);
        tokio::pin!(handler);
        let outcome = tokio::select! {
            outcome = &mut handler => outcome,
            () = tokio::time::sleep_until(deadline.into()) => {
                tracing::warn!(
                    target: "open_event::webhook",
                    event_code = %code,
                    nonce = %nonce,
                    "handler still running past the delivery budget: the platform will deliver it again"
                );
                handler.await
            }
        };
        if let Outcome::Error(message) = &outcome {
            // A failed or panicking handler, visible by default (as on the long connection):
            // the platform gets a 500 and delivers the event again.
            tracing::warn!(
                target: "open_event::webhook",
                event_code = %code,
                nonce = %nonce,
                error = %message,
                "handler failed; answered 500, the platform will deliver it again"
            );
        }
        let (completion, waiters, drained) = {
            let mut state = self.lock();
            let Ok(completion) = state.endpoint.complete(Instant::now(), token, outcome) else {
                return;
            };
            let waiters: Vec<_> = completion
                .waiters
                .iter()
                .filter_map(|w| state.waiters.remove(w))
                .collect();
            let drained = state.endpoint.in_flight() == 0;
            (completion, waiters, drained)
        };
        let Completion {
            response, elapsed, ..
        } = completion;
        tracing::debug!(
            target: "open_event::webhook",
            event_code = %code,
            nonce = %nonce,
            status = response.status,
            elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "handler done"
        );
        for waiter in waiters {
            let _ = waiter.send(response.clone());
        }
        // The client may have gone away; the outcome is remembered all the same.
        let _ = reply.send(response);
        if drained {
            self.idle.notify_waiters();
        }
    }
}

/// Logs the request and turns the core's response into an HTTP one.
fn finish(response: Response, started: Instant) -> HttpResponse {
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (code, nonce) = response
        .event
        .as_ref()
        .map_or(("", ""), |e| (e.event_code.as_str(), e.nonce.as_str()));
    if response.status >= 400 && response.reason != "handler_error" {
        tracing::warn!(
            target: "open_event::webhook",
            status = response.status,
            reason = response.reason,
            event_code = code,
            nonce = nonce,
            elapsed_ms,
            "webhook request refused"
        );
    } else {
        tracing::info!(
            target: "open_event::webhook",
            status = response.status,
            reason = response.reason,
            event_code = code,
            nonce = nonce,
            elapsed_ms,
            "webhook request answered"
        );
    }
    to_http(response)
}

pub(crate) fn to_http(response: Response) -> HttpResponse {
    let mut http = http::Response::new(Full::new(Bytes::from(response.body.clone())));
    *http.status_mut() = http::StatusCode::from_u16(response.status)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in response.headers() {
        if let Ok(value) = HeaderValue::try_from(value) {
            http.headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    http
}

/// The webhook as a [`tower::Service`]: mount it in an axum `Router` with `route_service`, or
/// serve it with any hyper server. Cheap to clone; every clone shares one endpoint (dedup
/// memory, concurrency bound, stats). It answers every path it is given: route it.
#[derive(Debug, Clone)]
pub struct WebhookService {
    pub(crate) shared: Arc<Shared>,
}

impl<B> tower::Service<http::Request<B>> for WebhookService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness is decided per request: past the bound the core answers 503.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { Ok(shared.respond(request).await) })
    }
}
