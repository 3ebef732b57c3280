//! The drive loop: one future that runs the core's [`Connection`] and everything it asks for.
//!
//! Everything a client does happens inside the future of [`Client::run`](crate::Client::run),
//! polled by whatever executor awaits it: the connect attempt, reading, writing, the one timer
//! and the handlers' futures (in a [`FuturesUnordered`]). Each of them is polled on every turn,
//! so a slow handler, a stuck write or a quiet socket never holds up the others. Nothing is
//! spawned, which is why the same code runs under `smol::block_on`, `async_std::task::block_on`
//! or any other executor, as long as the async-io reactor (which smol and async-std both use)
//! drives the sockets and the timer.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use async_io::Timer;
use async_tungstenite::tungstenite::{self, Message as WsMessage, protocol::CloseFrame};
use futures_util::stream::{FusedStream, FuturesUnordered, Stream};
use futures_util::{Sink, StreamExt};
use open_event_core::connection::{
    Action, CloseInfo, Connection, DeliveryToken, Input, Message, OpenError, Outcome, SendId,
};
use open_event_transport as transport;
use tungstenite::protocol::frame::coding::CloseCode;

use crate::Dispatcher;
use crate::connect::{Dialer, Ws};

/// How many loop turns one poll may take before it yields to the executor (so a flood of
/// frames cannot starve other tasks on the same thread).
const TURNS_PER_POLL: u32 = 64;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The state of one client while it runs.
pub(crate) struct Driver {
    conn: Connection,
    dialer: Arc<Dialer>,
    dispatcher: Dispatcher,
    notifier: transport::Notifier,
    /// The stop request from the handles, and the snapshot published for them.
    status: Arc<transport::StatusBoard>,
    /// The connect attempt in progress, if any.
    connecting: Option<BoxFuture<Result<Ws, OpenError>>>,
    /// The open WebSocket, if any.
    link: Option<Link>,
    /// Handlers running now; each yields its delivery's token and outcome.
    handlers: FuturesUnordered<BoxFuture<(DeliveryToken, Outcome)>>,
    /// The core asked us to stop reading.
    paused: bool,
    /// `ClientHandle::stop` was seen and passed on to the core.
    stop_seen: bool,
    /// The one sleep, until `poll_timeout`.
    timer: Timer,
    /// The deadline `timer` is set to (`None`: not armed, or it fired).
    armed: Option<Instant>,
    /// Entered while polling, so every log line names the client.
    span: tracing::Span,
}

impl Driver {
    pub(crate) fn new(
        conn: Connection,
        dialer: Arc<Dialer>,
        dispatcher: Dispatcher,
        notifier: transport::Notifier,
        status: Arc<transport::StatusBoard>,
        span: tracing::Span,
    ) -> Self {
        let mut driver = Self {
            conn,
            dialer,
            dispatcher,
            notifier,
            status,
            connecting: None,
            link: None,
            handlers: FuturesUnordered::new(),
            paused: false,
            stop_seen: false,
            timer: Timer::never(),
            armed: None,
            span,
        };
        // `Connection::new` already queued the first `Connect`.
        driver.drain();
        driver
    }

    /// Why the connection stopped, once it has.
    pub(crate) fn into_result(self) -> Result<(), open_event_core::connection::StopReason> {
        match self.conn.stop_reason() {
            Some(reason) if reason.is_requested() => Ok(()),
            Some(reason) => Err(reason.clone()),
            // `poll` only finishes once the core is stopped, which always records a reason.
            None => Ok(()),
        }
    }

    /// Drives everything until the core is stopped.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let span = self.span.clone();
        let _entered = span.enter();
        self.status.register(cx.waker());
        let mut turns = 0;
        let result = loop {
            if self.conn.is_stopped() {
                break Poll::Ready(());
            }
            if !self.turn(cx) {
                break Poll::Pending;
            }
            turns += 1;
            if turns == TURNS_PER_POLL {
                // Still busy: let the executor run others, then come back at once.
                cx.waker().wake_by_ref();
                break Poll::Pending;
            }
        };
        self.status.publish(self.conn.state(), self.conn.stats());
        result
    }

    /// One pass over every source; returns whether anything happened (then another pass is
    /// needed, as the core may have asked for new work).
    fn turn(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;

        if !self.stop_seen && self.status.stop_requested() {
            self.stop_seen = true;
            self.conn.close(Instant::now());
            self.drain();
            progress = true;
        }

        if let Some(attempt) = self.connecting.as_mut()
            && let Poll::Ready(result) = attempt.as_mut().poll(cx)
        {
            self.connecting = None;
            match result {
                Ok(ws) => {
                    self.link = Some(Link::new(ws));
                    self.conn.handle_input(Instant::now(), Input::Opened);
                }
                Err(err) => {
                    self.conn
                        .handle_input(Instant::now(), Input::OpenFailed(&err));
                }
            }
            self.drain();
            progress = true;
        }

        // Outcomes first: their acks then go out in this same pass.
        while !self.handlers.is_terminated() {
            let Poll::Ready(Some((token, outcome))) = self.handlers.poll_next_unpin(cx) else {
                break;
            };
            if let Err(err) = self.conn.complete(Instant::now(), token, outcome) {
                tracing::debug!(%err, "outcome not taken by the connection");
            }
            self.drain();
            progress = true;
        }

        progress |= self.poll_write(cx);
        progress |= self.poll_read(cx);
        progress |= self.poll_timer(cx);
        progress
    }

    /// Writes what is queued; reports `Sent` once flushed, `Closed` when the write fails.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(link) = self.link.as_mut() else {
            return false;
        };
        match link.poll_write(cx) {
            Poll::Pending | Poll::Ready(Ok(None)) => false,
            Poll::Ready(Ok(Some(id))) => {
                self.conn.handle_input(Instant::now(), Input::Sent(id));
                self.drain();
                true
            }
            Poll::Ready(Err(err)) => {
                let info = link.end_info(&err);
                self.transport_ended(&info);
                true
            }
        }
    }

    /// Reads one message (unless paused) and feeds it to the core.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(link) = self.link.as_mut() else {
            return false;
        };
        // After our close frame, keep reading regardless of a pause: the peer's close (or the
        // end of the stream) is what finishes the close handshake.
        if self.paused && !link.closing {
            return false;
        }
        let Poll::Ready(read) = link.poll_read(cx) else {
            return false;
        };
        let now = Instant::now();
        match read {
            Read::Message(WsMessage::Text(text)) => {
                self.conn.handle_input(now, Input::Text(text.as_str()));
            }
            Read::Message(WsMessage::Binary(data)) => {
                self.conn.handle_input(now, Input::Binary(&data));
            }
            // async-tungstenite has already queued the pong for this ping; the core's
            // `Send(Pong)` that follows only flushes it (see `Link::poll_write`).
            Read::Message(WsMessage::Ping(payload)) => {
                self.conn.handle_input(now, Input::Ping(&payload));
            }
            Read::Message(WsMessage::Pong(payload)) => {
                self.conn.handle_input(now, Input::Pong(&payload));
            }
            // Close frames are kept by `Link::poll_read`; raw frames are never read.
            Read::Message(WsMessage::Close(_) | WsMessage::Frame(_)) => {}
            Read::End(info) => {
                self.transport_ended(&info);
                return true;
            }
        }
        self.drain();
        true
    }

    /// The single sleep until the core's next deadline. The timer is re-armed only when the
    /// deadline changes; a deadline already due is handled without sleeping.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.conn.poll_timeout() else {
            return false;
        };
        let now = Instant::now();
        if deadline > now {
            if self.armed != Some(deadline) {
                self.timer.set_at(deadline);
                self.armed = Some(deadline);
            }
            // A one-shot timer yields once, then stays pending until set again.
            if Pin::new(&mut self.timer).poll_next(cx).is_pending() {
                return false;
            }
            self.armed = None;
        }
        self.conn.handle_timeout(Instant::now());
        self.drain();
        true
    }

    /// The transport is gone (read end, read or write error): tell the core, drop it.
    fn transport_ended(&mut self, info: &CloseInfo) {
        self.link = None;
        self.conn.handle_input(Instant::now(), Input::Closed(info));
        self.drain();
    }

    /// Performs every queued action, in order.
    fn drain(&mut self) {
        while let Some(action) = self.conn.poll_action() {
            match action {
                Action::Connect(request) => {
                    self.link = None;
                    let dialer = Arc::clone(&self.dialer);
                    self.connecting = Some(Box::pin(async move { dialer.open(request).await }));
                }
                Action::Send(transmit) => match self.link.as_mut() {
                    Some(link) => link.queue.push_back(match transmit.message {
                        Message::Pong(_) => Outgoing::Pong(transmit.id),
                        Message::Ack { text, .. } => Outgoing::Ack(transmit.id, text),
                    }),
                    // The core never sends without a transport; nothing to write it on.
                    None => tracing::debug!(id = ?transmit.id, "send without a transport dropped"),
                },
                Action::Deliver(delivery) => {
                    let token = delivery.token;
                    let outcome = self.dispatcher.handle(delivery.event);
                    self.handlers
                        .push(Box::pin(async move { (token, outcome.await) }));
                }
                Action::PauseReading => self.paused = true,
                Action::ResumeReading => self.paused = false,
                Action::Close => match self.link.as_mut() {
                    Some(link) => {
                        link.closing = true;
                        link.queue.push_back(Outgoing::Close);
                    }
                    // Nothing open to close: the transport is already gone.
                    None => self
                        .conn
                        .handle_input(Instant::now(), Input::Closed(&CloseInfo::clean(None, ""))),
                },
                Action::Disconnect => {
                    self.connecting = None;
                    self.link = None;
                }
                Action::Notify(notice) => self.notifier.notify(&notice),
            }
        }
    }
}

/// Something to write, in the order the core emitted it.
enum Outgoing {
    /// An ack text frame.
    Ack(SendId, String),
    /// The pong for a ping: async-tungstenite queued it when it read the ping, so this only
    /// flushes (sending our own would make two pongs, or replace the queued one).
    Pong(SendId),
    /// Our close frame (code 1000).
    Close,
}

/// What one read produced.
enum Read {
    Message(WsMessage),
    /// The stream ended; how.
    End(CloseInfo),
}

/// One open WebSocket with its write queue.
struct Link {
    ws: Ws,
    queue: VecDeque<Outgoing>,
    /// The last send handed to the socket and not yet flushed.
    unflushed: Option<SendId>,
    /// Something was handed to the socket since the last flush.
    dirty: bool,
    /// Our close frame is queued or sent.
    closing: bool,
    /// The peer's close frame, once it arrived.
    peer_close: Option<CloseInfo>,
}

impl Link {
    fn new(ws: Ws) -> Self {
        Self {
            ws,
            queue: VecDeque::new(),
            unflushed: None,
            dirty: false,
            closing: false,
            peer_close: None,
        }
    }

    /// Hands queued messages to the socket and flushes them. `Ok(Some(id))`: everything up to
    /// `id` is flushed; `Ok(None)`: nothing to report.
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<SendId>, tungstenite::Error>> {
        while !self.queue.is_empty() {
            ready!(Pin::new(&mut self.ws).poll_ready(cx))?;
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            match next {
                Outgoing::Ack(id, text) => {
                    Pin::new(&mut self.ws).start_send(WsMessage::text(text))?;
                    self.unflushed = Some(id);
                }
                Outgoing::Pong(id) => self.unflushed = Some(id),
                Outgoing::Close => {
                    let frame = CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    };
                    Pin::new(&mut self.ws).start_send(WsMessage::Close(Some(frame)))?;
                }
            }
            self.dirty = true;
        }
        if !self.dirty {
            return Poll::Ready(Ok(None));
        }
        ready!(Pin::new(&mut self.ws).poll_flush(cx))?;
        self.dirty = false;
        Poll::Ready(Ok(self.unflushed.take()))
    }

    /// Reads the next message. A close frame is remembered and reading goes on until the
    /// stream ends (which also flushes async-tungstenite's reply to it).
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Read> {
        loop {
            match ready!(self.ws.poll_next_unpin(cx)) {
                Some(Ok(WsMessage::Close(frame))) => {
                    self.peer_close = Some(transport::close_frame_info(frame.as_ref()));
                }
                Some(Ok(message)) => return Poll::Ready(Read::Message(message)),
                Some(Err(err)) => return Poll::Ready(Read::End(self.end_info(&err))),
                None => {
                    let info = self.peer_close.take().unwrap_or_else(|| {
                        CloseInfo::error("the connection ended without a close frame")
                    });
                    return Poll::Ready(Read::End(info));
                }
            }
        }
    }

    /// How the transport ended after `err`: after the peer's close frame, a clean close with
    /// its code and reason.
    fn end_info(&mut self, err: &tungstenite::Error) -> CloseInfo {
        let seen = self.peer_close.is_some();
        let info = transport::close_info(err, seen);
        match self.peer_close.take() {
            Some(peer) if !info.error => peer,
            _ => info,
        }
    }
}
