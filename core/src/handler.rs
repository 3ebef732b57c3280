//! Handler types shared by the runtimes: [`AsyncHandler`] for tokio and async-std/smol,
//! [`BlockingHandler`] for threads. Both turn a handler's result, or its panic, into an
//! [`Outcome`] for [`crate::connection::Connection::complete`].
//!
//! ```
//! use open_event_core::Event;
//! use open_event_core::connection::Outcome;
//! use open_event_core::dispatcher::Dispatcher;
//! use open_event_core::handler::BlockingHandler;
//! use open_event_core::model::AppChatCreate;
//!
//! let mut dispatcher: Dispatcher<BlockingHandler> = Dispatcher::new();
//! dispatcher.on_app_chat_create(|_event: Event, chat: AppChatCreate| {
//!     println!("new chat {}", chat.chat_id);
//!     Ok::<(), std::io::Error>(())
//! });
//! dispatcher.on("kso.user.status.update", BlockingHandler::new(|_event| Err("not yet")));
//!
//! let chat = Event::new("kso.app_chat", "create", 0, "0123456789abcdef",
//!     r#"{"chat_id":"c1","creator":{"type":"user","id":"u1"},"company_id":"x"}"#);
//! assert_eq!(dispatcher.handle(chat), Outcome::Ok);
//! let status = Event::new("kso.user.status", "update", 0, "0123456789abcdef", "{}");
//! assert_eq!(dispatcher.handle(status), Outcome::Error("not yet".into()));
//! let other = Event::new("kso.other", "create", 0, "0123456789abcdef", "{}");
//! assert_eq!(dispatcher.handle(other), Outcome::Unhandled);
//! ```

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::Event;
use crate::connection::Outcome;
use crate::dispatcher::{Dispatcher, FromTyped, Route, typed_payload_error};
use crate::model::TypedEvent;

/// The error a handler returns: anything that converts into a boxed error (`std::io::Error`,
/// `String`, `&str`, `anyhow::Error`, ...). Its text becomes the ack's `msg`.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed, sendable future (std only: no runtime needed).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

type AsyncFn = dyn Fn(Event) -> BoxFuture<Result<(), HandlerError>> + Send + Sync;
type BlockingFn = dyn Fn(Event) -> Result<(), HandlerError> + Send + Sync;

/// An async event handler: a closure `Fn(Event) -> impl Future<Output = Result<(), E>>`.
#[derive(Clone)]
pub struct AsyncHandler(Arc<AsyncFn>);

impl AsyncHandler {
    /// Wraps an async closure.
    ///
    /// ```
    /// use open_event_core::handler::AsyncHandler;
    ///
    /// let handler = AsyncHandler::new(|event| async move {
    ///     println!("{}: {}", event.event_code(), event.data);
    ///     Ok::<(), std::io::Error>(())
    /// });
    /// # let _ = handler;
    /// ```
    pub fn new<F, Fut, E>(f: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HandlerError> + 'static,
    {
        Self(Arc::new(move |event| {
            let fut = f(event);
            Box::pin(async move { fut.await.map_err(Into::into) })
        }))
    }

    /// Runs the handler; its error or panic becomes [`Outcome::Error`].
    ///
    /// The closure is called right away, on the calling thread; only the future it returns
    /// is left to the caller. The async runtimes call this on the client's loop as each event
    /// is delivered, so what a closure does before its first `.await` (e.g. queueing the
    /// event's output) happens in delivery order, while the futures run concurrently.
    pub fn call(&self, event: Event) -> impl Future<Output = Outcome> + Send + 'static {
        let inner = match catch_unwind(AssertUnwindSafe(|| (self.0)(event))) {
            Ok(future) => Ok(future),
            Err(panic) => Err(Some(panicked(&panic))),
        };
        CatchUnwind { inner }
    }
}

impl<T, F, Fut, E> FromTyped<T, F> for AsyncHandler
where
    T: TypedEvent,
    F: Fn(Event, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<HandlerError> + 'static,
{
    fn from_typed(f: F) -> Self {
        let f = Arc::new(f);
        Self(Arc::new(move |event: Event| {
            let f = Arc::clone(&f);
            Box::pin(async move {
                let payload = event
                    .parse::<T>()
                    .map_err(|err| typed_payload_error(&event, &err))?;
                f(event, payload).await.map_err(Into::into)
            })
        }))
    }
}

impl fmt::Debug for AsyncHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AsyncHandler")
    }
}

/// A blocking event handler: a closure `Fn(Event) -> Result<(), E>`, run on a worker thread.
#[derive(Clone)]
pub struct BlockingHandler(Arc<BlockingFn>);

impl BlockingHandler {
    /// Wraps a closure.
    pub fn new<F, E>(f: F) -> Self
    where
        F: Fn(Event) -> Result<(), E> + Send + Sync + 'static,
        E: Into<HandlerError> + 'static,
    {
        Self(Arc::new(move |event| f(event).map_err(Into::into)))
    }

    /// Runs the handler; its error or panic becomes [`Outcome::Error`].
    pub fn call(&self, event: Event) -> Outcome {
        match catch_unwind(AssertUnwindSafe(|| (self.0)(event))) {
            Ok(result) => outcome(result),
            Err(panic) => panicked(&panic),
        }
    }
}

impl<T, F, E> FromTyped<T, F> for BlockingHandler
where
    T: TypedEvent,
    F: Fn(Event, T) -> Result<(), E> + Send + Sync + 'static,
    E: Into<HandlerError> + 'static,
{
    fn from_typed(f: F) -> Self {
        Self(Arc::new(move |event: Event| {
            let payload = event
                .parse::<T>()
                .map_err(|err| typed_payload_error(&event, &err))?;
            f(event, payload).map_err(Into::into)
        }))
    }
}

impl fmt::Debug for BlockingHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlockingHandler")
    }
}

impl Dispatcher<AsyncHandler> {
    /// Routes `event` and returns a future of its outcome ([`Outcome::Unhandled`] when no
    /// handler and no fallback take it).
    pub fn handle(&self, event: Event) -> BoxFuture<Outcome> {
        match self.route(event.event_code()) {
            Route::Handler(h) | Route::Fallback(h) => Box::pin(h.call(event)),
            Route::Unhandled => Box::pin(std::future::ready(Outcome::Unhandled)),
        }
    }
}

impl Dispatcher<BlockingHandler> {
    /// Routes `event` and runs its handler on the calling thread.
    pub fn handle(&self, event: Event) -> Outcome {
        match self.route(event.event_code()) {
            Route::Handler(h) | Route::Fallback(h) => h.call(event),
            Route::Unhandled => Outcome::Unhandled,
        }
    }
}

/// Polls a boxed handler future, turning a panic into an error outcome; or yields the outcome
/// of a closure that panicked before returning its future.
struct CatchUnwind {
    inner: Result<BoxFuture<Result<(), HandlerError>>, Option<Outcome>>,
}

impl Future for CatchUnwind {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let inner = match &mut self.inner {
            Ok(inner) => inner,
            Err(outcome) => {
                return Poll::Ready(outcome.take().unwrap_or_else(|| {
                    Outcome::Error("the handler's future was polled after it finished".into())
                }));
            }
        };
        match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(outcome(result)),
            Err(panic) => Poll::Ready(panicked(&panic)),
        }
    }
}

fn outcome(result: Result<(), HandlerError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Ok,
        Err(err) => Outcome::Error(err.to_string()),
    }
}

fn panicked(panic: &Box<dyn Any + Send>) -> Outcome {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    Outcome::Error(format!("handler panicked: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    fn event() -> Event {
        Event::new("kso.app_chat", "create", 0, "0123456789abcdef", "{}")
    }

    #[test]
    fn async_results_and_panics_become_outcomes() {
        let ok = AsyncHandler::new(|_| async { Ok::<(), String>(()) });
        assert_eq!(block_on(ok.call(event())), Outcome::Ok);
        let err = AsyncHandler::new(|_| async { Err::<(), _>("boom") });
        assert_eq!(block_on(err.call(event())), Outcome::Error("boom".into()));
        let panics = AsyncHandler::new(|_| async {
            if true {
                panic!("oops");
            }
            Ok::<(), String>(())
        });
        assert_eq!(
            block_on(panics.call(event())),
            Outcome::Error("handler panicked: oops".into())
        );
    }

    #[test]
    fn async_closures_run_at_the_call_and_their_futures_when_polled() {
        use std::sync::Mutex;
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&log);
        let handler = AsyncHandler::new(move |e: Event| {
            seen.lock().unwrap().push(format!("call {}", e.nonce));
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().unwrap().push(format!("poll {}", e.nonce));
                Ok::<(), String>(())
            }
        });
        let first = handler.call(Event::new("kso.app_chat", "create", 0, "n1", "{}"));
        let second = handler.call(Event::new("kso.app_chat", "create", 0, "n2", "{}"));
        assert_eq!(*log.lock().unwrap(), ["call n1", "call n2"]);
        assert_eq!(block_on(second), Outcome::Ok);
        assert_eq!(block_on(first), Outcome::Ok);
        assert_eq!(
            *log.lock().unwrap(),
            ["call n1", "call n2", "poll n2", "poll n1"]
        );

        let panics_early = AsyncHandler::new(|e: Event| {
            if e.nonce == "n3" {
                panic!("before the future");
            }
            async { Ok::<(), String>(()) }
        });
        let future = panics_early.call(Event::new("kso.app_chat", "create", 0, "n3", "{}"));
        assert_eq!(
            block_on(future),
            Outcome::Error("handler panicked: before the future".into())
        );
    }

    #[test]
    fn blocking_panics_become_outcomes() {
        let handler =
            BlockingHandler::new(|e: Event| -> Result<(), String> { panic!("bad {}", e.topic) });
        assert_eq!(
            handler.call(event()),
            Outcome::Error("handler panicked: bad kso.app_chat".into())
        );
    }

    #[test]
    fn typed_payload_mismatch_is_an_error_outcome() {
        let mut d: Dispatcher<AsyncHandler> = Dispatcher::new();
        d.on_app_chat_create(|_e: Event, _p: crate::model::AppChatCreate| async {
            Ok::<(), String>(())
        });
        let Outcome::Error(msg) = block_on(d.handle(event())) else {
            panic!("expected an error")
        };
        assert!(
            msg.starts_with("payload of kso.app_chat.create does not match"),
            "{msg}"
        );
    }
}
