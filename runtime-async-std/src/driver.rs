//! The drive loop: one future that runs the core's [`Connection`] and everything it asks for.
//!
//! Everything a client does happens inside the future of [`Client::run`](crate::Client::run),
//! polled by whatever executor awaits it: the connect attempt, reading, writing, the one timer
//! and the handlers' futures (in a [`FuturesUnordered`]). Each of them is polled on every turn,
//! so a slow handler, a stuck write or a quiet socket never holds up the others. Nothing is
//! spawned, which is why the same code runs under `smol::block_on`, `async_std::task::block_on`
//! or any other executor, as long as the async-io reactor (which smol and async-std both use)
//! drives the sockets and the timer.
//!
//! The file follows the driver skeleton of `open_event_transport::drive` (the same names and
//! order as the tokio and blocking drivers).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use async_io::Timer;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{self, Message as WsMessage};
use futures_util::stream::{FusedStream, FuturesUnordered, Stream};
use futures_util::{Sink, StreamExt};
use open_event_core::connection::{
    Action, CloseInfo, ConnectRequest, Connection, DeliveryToken, Input, Message, OpenError,
    Outcome, SendId, Transmit,
};
use open_event_transport::drive::{self, PeerClose, Spans};
use open_event_transport::{Notifier, Prepared, RunError, StatusBoard};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::connect::{Dialer, Ws};
use crate::{Dispatcher, Handler};

/// How many loop turns one poll may take before it yields to the executor (so a flood of
/// frames cannot starve other tasks on the same thread).
const TURNS_PER_POLL: u32 = 64;

/// The most messages read in one turn (those already buffered or on the socket): the handlers
/// of a burst then run in the next turn together and their acks leave in one flush.
const READ_BATCH: usize = 64;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The transport as the driver sees it.
enum Link {
    /// No transport.
    Down,
    /// A connect attempt in progress (dropping it abandons the attempt).
    Connecting(BoxFuture<Result<Ws, OpenError>>),
    /// An open WebSocket.
    Up(Box<Up>),
}

/// One open WebSocket with its write queue.
struct Up {
    ws: Ws,
    /// The peer's close frame, once it arrived.
    peer: PeerClose,
    queue: VecDeque<Outgoing>,
    /// The last send handed to the socket and not yet flushed.
    unflushed: Option<SendId>,
    /// Something was handed to the socket since the last flush.
    dirty: bool,
    /// Our close frame is queued or sent: read even while reading is paused, to see the reply.
    closing: bool,
}

/// The state of one client while it runs.
pub(crate) struct Driver {
    conn: Connection,
    link: Link,
    /// The id of the newest connect attempt (an older one is dropped with its future).
    attempt: u64,
    /// The core asked us to stop reading.
    paused: bool,
    /// A read returned `Pending` in this `poll`: the waker is registered for the socket, so
    /// reading again before it fires would only cost a `recv` that fails and an `epoll_ctl`
    /// that re-arms (async-io registers interest on every `Pending`). Cleared by each `poll`
    /// and by a new link.
    read_blocked: bool,
    /// `ClientHandle::stop` was seen and passed on to the core.
    stop_seen: bool,
    dialer: Arc<Dialer>,
    dispatcher: Dispatcher,
    notifier: Notifier,
    /// The stop request from the handles, and the snapshot published for them.
    status: Arc<StatusBoard>,
    /// Handlers running now; each yields its delivery's token and outcome.
    handlers: FuturesUnordered<Running>,
    /// The one sleep, until `poll_timeout`.
    timer: Timer,
    /// The deadline `timer` is set to (`None`: not armed, or it fired).
    armed: Option<Instant>,
    /// The client's span (entered while polling, so every log line names the client), the
    /// current connection's and each handler's.
    spans: Spans,
}

impl Driver {
    pub(crate) fn new(prepared: Prepared<Handler>) -> Self {
        tracing::debug!(target: "open_event", seed = prepared.seed, "starting the event connection");
        let spans = Spans::new(&prepared.config);
        Self {
            conn: Connection::new(prepared.config, Instant::now(), prepared.seed),
            link: Link::Down,
            attempt: 0,
            paused: false,
            read_blocked: false,
            stop_seen: false,
            dialer: Arc::new(Dialer::new(prepared.tls, prepared.proxy)),
            dispatcher: prepared.dispatcher,
            notifier: prepared.notifier,
            status: prepared.status,
            handlers: FuturesUnordered::new(),
            timer: Timer::never(),
            armed: None,
            spans,
        }
    }

    /// Runs until the connection stops; `Ok(())` after a requested stop.
    pub(crate) async fn run(mut self) -> Result<(), RunError> {
        // `Connection::new` already queued the first `Connect`.
        self.check_stop();
        self.drain();
        std::future::poll_fn(|cx| self.poll(cx)).await;
        self.drop_link();
        drive::finish(&self.conn, &self.status)
    }

    /// Turns the handle's stop request into a graceful close (once).
    fn check_stop(&mut self) -> bool {
        if self.stop_seen || !self.status.stop_requested() {
            return false;
        }
        self.stop_seen = true;
        self.conn.close(Instant::now());
        self.drain();
        true
    }

    // ----- waiting (the runtime's part) ----------------------------------------------------

    /// Drives everything until the core is stopped.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let span = self.spans.client().clone();
        let _entered = span.enter();
        self.status.register(cx.waker());
        self.read_blocked = false;
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
        let mut progress = self.check_stop();
        progress |= self.poll_connect(cx);
        // Outcomes first: their acks then go out in this same pass.
        progress |= self.poll_outcomes(cx);
        progress |= self.poll_write(cx);
        progress |= self.poll_read(cx);
        progress |= self.poll_timer(cx);
        progress
    }

    fn poll_connect(&mut self, cx: &mut Context<'_>) -> bool {
        let Link::Connecting(attempt) = &mut self.link else {
            return false;
        };
        let Poll::Ready(result) = attempt.as_mut().poll(cx) else {
            return false;
        };
        self.on_opened(result);
        true
    }

    fn poll_outcomes(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while !self.handlers.is_terminated() {
            let Poll::Ready(Some((token, outcome))) = self.handlers.poll_next_unpin(cx) else {
                break;
            };
            self.on_outcome(token, outcome);
            progress = true;
        }
        progress
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> bool {
        let Link::Up(up) = &mut self.link else {
            return false;
        };
        match up.poll_write(cx) {
            Poll::Pending | Poll::Ready(Ok(None)) => false,
            Poll::Ready(Ok(Some(id))) => {
                self.on_flushed(id);
                true
            }
            Poll::Ready(Err(err)) => {
                let info = up.peer.failed(&err);
                self.on_ended(&info);
                true
            }
        }
    }

    /// Reads the messages that are there (unless paused), at most [`READ_BATCH`]; one only
    /// while a close is under way, so our close frame is written (in the next pass's
    /// `poll_write`) before a read can meet the stream's end and drop the link.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        for _ in 0..READ_BATCH {
            let Some(message) = self.poll_read_one(cx) else {
                break;
            };
            progress = true;
            if !message {
                // After an error or the end, the core's answer (e.g. our 1007 close) is
                // written before anything more is read.
                break;
            }
            // Closing: the close frame is written before anything more is read.
            if matches!(&self.link, Link::Up(up) if up.closing) {
                break;
            }
        }
        progress
    }

    /// Reads one message (unless paused): `None` if there was none, `Some(true)` for a
    /// message, `Some(false)` for an error or the stream's end.
    fn poll_read_one(&mut self, cx: &mut Context<'_>) -> Option<bool> {
        let Link::Up(up) = &mut self.link else {
            return None;
        };
        // After our close frame, keep reading regardless of a pause: the peer's close (or the
        // end of the stream) is what finishes the close handshake.
        if (self.paused && !up.closing) || self.read_blocked {
            return None;
        }
        let Poll::Ready(read) = up.ws.poll_next_unpin(cx) else {
            self.read_blocked = true;
            return None;
        };
        match read {
            Some(Ok(message)) => {
                self.on_read(message);
                Some(true)
            }
            Some(Err(err)) if drive::is_invalid_text(&err) => {
                self.conn.handle_input(Instant::now(), Input::InvalidText);
                self.drain();
                Some(false)
            }
            Some(Err(err)) => {
                let info = up.peer.failed(&err);
                self.on_ended(&info);
                Some(false)
            }
            None => {
                let info = up.peer.ended();
                self.on_ended(&info);
                Some(false)
            }
        }
    }

    /// The single sleep until the core's next deadline; a deadline already due is handled
    /// without sleeping. The timer is re-armed only when the deadline moves earlier than the
    /// armed one: the core's deadlines move later with almost every frame (the silence and
    /// write timers restart), and re-arming async-io's timer costs the reactor a wake-up and a
    /// `timerfd_settime`. A timer that fires before the (moved) deadline is harmless:
    /// `handle_timeout` before any deadline does nothing, and the next pass arms the new one.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.conn.poll_timeout() else {
            return false;
        };
        let now = Instant::now();
        if deadline > now {
            if self.armed.is_none_or(|armed| deadline < armed) {
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

    // ----- inputs --------------------------------------------------------------------------

    /// The connect attempt reported.
    fn on_opened(&mut self, result: Result<Ws, OpenError>) {
        self.link = Link::Down;
        match result {
            Ok(ws) => {
                self.link = Link::Up(Box::new(Up::new(ws)));
                self.read_blocked = false;
                self.conn.handle_input(Instant::now(), Input::Opened);
            }
            Err(err) => self
                .conn
                .handle_input(Instant::now(), Input::OpenFailed(&err)),
        }
        self.drain();
    }

    /// A message arrived.
    fn on_read(&mut self, message: WsMessage) {
        let now = Instant::now();
        match message {
            WsMessage::Text(text) => self.conn.handle_input(now, Input::Text(text.as_str())),
            WsMessage::Binary(data) => self.conn.handle_input(now, Input::Binary(&data)),
            // async-tungstenite has already queued the pong for this ping; the core's
            // `Send(Pong)` that follows only flushes it (see `Up::poll_write`).
            WsMessage::Ping(data) => self.conn.handle_input(now, Input::Ping(&data)),
            WsMessage::Pong(data) => self.conn.handle_input(now, Input::Pong(&data)),
            WsMessage::Close(frame) => {
                // Keep reading: the next read sends async-tungstenite's reply and ends the
                // stream, which `poll_read` reports.
                if let Link::Up(up) = &mut self.link {
                    up.peer.close_frame(frame.as_ref());
                    // If the server keeps the TCP connection open, the core drops it after
                    // its close timeout.
                    if let Some(info) = up.peer.info().cloned() {
                        self.conn.handle_input(now, Input::CloseReceived(&info));
                    }
                }
            }
            // Raw frames are never read.
            WsMessage::Frame(_) => {}
        }
        self.drain();
    }

    /// Every send up to `id` is flushed.
    fn on_flushed(&mut self, id: SendId) {
        self.conn.handle_input(Instant::now(), Input::Sent(id));
        self.drain();
    }

    /// The transport ended (the stream's end, a read or write error): drop it, tell the core.
    fn on_ended(&mut self, info: &CloseInfo) {
        self.drop_link();
        self.conn.handle_input(Instant::now(), Input::Closed(info));
        self.drain();
    }

    /// A handler finished.
    fn on_outcome(&mut self, token: DeliveryToken, outcome: Outcome) {
        drive::complete(&mut self.conn, Instant::now(), token, outcome);
        self.drain();
    }

    // ----- actions -------------------------------------------------------------------------

    /// Performs every queued action, in order.
    fn drain(&mut self) {
        while let Some(action) = self.conn.poll_action() {
            let span = self.spans.connection().clone();
            let _entered = span.enter();
            self.perform(action);
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Connect(request) => self.connect(request),
            Action::Send(transmit) => self.send(transmit),
            Action::Deliver(delivery) => {
                drive::delivered(&delivery);
                let token = delivery.token;
                let span = self.spans.event(&delivery.event);
                let outcome = span.in_scope(|| self.dispatcher.handle(delivery.event));
                self.handlers.push(Running {
                    token,
                    outcome: outcome.instrument(span),
                });
            }
            Action::PauseReading => self.paused = true,
            Action::ResumeReading => self.paused = false,
            Action::Close => self.close(drive::close_frame()),
            Action::Fail(failure) => self.close(drive::failure_frame(&failure)),
            Action::Disconnect => self.drop_link(),
            Action::Notify(notice) => self.notifier.notify(&notice),
        }
    }

    /// Starts a connect attempt (dropping the transport first); it is polled with the rest.
    fn connect(&mut self, request: ConnectRequest) {
        self.drop_link();
        self.attempt += 1;
        let span = self.spans.connect(self.attempt);
        span.in_scope(|| tracing::debug!(target: "open_event", "connect attempt"));
        let dialer = Arc::clone(&self.dialer);
        self.link = Link::Connecting(Box::pin(
            async move { dialer.open(request).await }.instrument(span),
        ));
    }

    /// Queues one message for `poll_write`.
    fn send(&mut self, transmit: Transmit) {
        let Link::Up(up) = &mut self.link else {
            // The transport is gone; the core forgot this send when it learned that.
            return;
        };
        up.queue.push_back(match transmit.message {
            Message::Pong(_) => Outgoing::Pong(transmit.id),
            Message::Ack { text, .. } => Outgoing::Ack(transmit.id, text),
        });
    }

    /// Queues our close frame; the peer's reply (or the stream's end) ends the transport.
    fn close(&mut self, frame: CloseFrame) {
        let Link::Up(up) = &mut self.link else {
            drive::nothing_to_close(&mut self.conn, Instant::now());
            return;
        };
        up.closing = true;
        up.queue.push_back(Outgoing::Close(frame));
    }

    /// Drops the transport at once: abandons a connect attempt, or closes the socket.
    fn drop_link(&mut self) {
        self.link = Link::Down;
    }
}

/// A running handler with its delivery's token (no second box around the handler's future).
struct Running {
    token: DeliveryToken,
    /// The handler's future, polled in the event's span.
    outcome: Instrumented<BoxFuture<Outcome>>,
}

impl Future for Running {
    type Output = (DeliveryToken, Outcome);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = ready!(Pin::new(&mut self.outcome).poll(cx));
        Poll::Ready((self.token, outcome))
    }
}

/// Something to write, in the order the core emitted it.
enum Outgoing {
    /// An ack text frame.
    Ack(SendId, String),
    /// The pong for a ping: async-tungstenite queued it when it read the ping, so this only
    /// flushes (sending our own would make two pongs, or replace the queued one).
    Pong(SendId),
    /// Our close frame.
    Close(CloseFrame),
}

impl Up {
    fn new(ws: Ws) -> Self {
        Self {
            ws,
            peer: PeerClose::default(),
            queue: VecDeque::new(),
            unflushed: None,
            dirty: false,
            closing: false,
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
                Outgoing::Close(frame) => {
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
}
