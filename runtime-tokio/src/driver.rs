//! The loop that drives one `Connection` on tokio (the core's drive-loop contract).
//!
//! The loop owns the whole WebSocket: it reads it (when not paused) and writes to it through
//! the `Sink` half (`poll_ready` / `start_send` / `poll_flush`), both from one future polled
//! in its `select!`, so a write that waits for the socket never holds up reading, the timer or
//! the handlers' outcomes. Every message already buffered is read in the same turn (at most
//! [`READ_BATCH`]), so the acks of a burst leave in one flush. What may take long runs elsewhere
//! and reports back through channels: the connect attempt is a task per transport; a handler is
//! polled once on the loop right after the turn that delivered it (`start_handlers`, as long as
//! [`drive::Inline`] allows), and only one that is not finished by then becomes a task (they run
//! in parallel on a multi-thread runtime), so a handler that is ready at once costs no
//! cross-thread hand-off.
//!
//! The file follows the driver skeleton of `open_event_transport::drive` (the same names and
//! order as the async-io and blocking drivers).

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Instant;

use async_tungstenite::tungstenite::Error as WsError;
use async_tungstenite::tungstenite::Message as WsMessage;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use futures_util::{FutureExt, SinkExt, StreamExt};
use open_event_core::connection::{
    Action, CloseInfo, ConnectRequest, Connection, DeliveryToken, Input, Message, OpenError,
    Outcome, SendId, Transmit,
};
use open_event_core::handler::BoxFuture;
use open_event_transport::drive::{self, Inline, PeerClose, Spans};
use open_event_transport::{Notifier, Prepared, RunError, StatusBoard};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::connect::{Dialer, Ws};
use crate::{Dispatcher, Handler};

/// The most messages read in one turn (those already buffered or on the socket) before the
/// loop looks at its other sources again.
const READ_BATCH: usize = 64;

/// The transport as the driver sees it.
enum Link {
    /// No transport.
    Down,
    /// A connect attempt runs as a task; it reports on `opened` with its attempt id.
    Connecting { task: JoinHandle<()> },
    /// An open WebSocket.
    Up(Box<Up>),
}

/// One open WebSocket with its write queue.
struct Up {
    ws: Ws,
    /// The peer's close frame, once it arrived (the stream ends after it).
    peer: PeerClose,
    queue: VecDeque<Outgoing>,
    /// The last send handed to the socket and not yet flushed.
    unflushed: Option<SendId>,
    /// Something was handed to the socket since the last flush.
    dirty: bool,
    /// Our close frame is queued or sent: read even while reading is paused, to see the reply.
    closing: bool,
}

/// What a connect attempt reports, tagged with its attempt id.
struct Opened(u64, Result<Box<Ws>, OpenError>);

/// The state of one client while it runs.
pub(crate) struct Driver {
    conn: Connection,
    link: Link,
    /// The id of the newest connect attempt; the report of an older one is dropped.
    attempt: u64,
    /// The core asked us to stop reading.
    paused: bool,
    /// `ClientHandle::stop` was seen and passed on to the core.
    stop_seen: bool,
    dialer: Arc<Dialer>,
    dispatcher: Arc<Dispatcher>,
    notifier: Notifier,
    /// The client's, the current connection's and each handler's `tracing` span.
    spans: Spans,
    /// The stop request from the handles, and the snapshot published for them.
    status: Arc<StatusBoard>,
    opened_tx: mpsc::UnboundedSender<Opened>,
    opened_rx: mpsc::UnboundedReceiver<Opened>,
    outcome_tx: mpsc::UnboundedSender<(DeliveryToken, Outcome)>,
    outcome_rx: mpsc::UnboundedReceiver<(DeliveryToken, Outcome)>,
    /// Delivered handlers not started yet (`start_handlers` runs them after the turn).
    fresh: VecDeque<(DeliveryToken, BoxFuture<Outcome>, tracing::Span)>,
    /// Whether a handler may run inline on the loop.
    inline: Inline,
}

/// What the open WebSocket produced.
enum Io {
    /// Everything up to this send is flushed.
    Flushed(SendId),
    /// A write or flush failed.
    WriteFailed(WsError),
    /// The next message, or the end of the stream.
    Read(Option<Result<WsMessage, WsError>>),
}

impl Driver {
    pub(crate) fn new(prepared: Prepared<Handler>) -> Self {
        tracing::debug!(target: "open_event", seed = prepared.seed, "starting the event connection");
        let (opened_tx, opened_rx) = mpsc::unbounded_channel();
        let (outcome_tx, outcome_rx) = mpsc::unbounded_channel();
        let spans = Spans::new(&prepared.config);
        Self {
            conn: Connection::new(prepared.config, Instant::now(), prepared.seed),
            link: Link::Down,
            attempt: 0,
            paused: false,
            stop_seen: false,
            dialer: Arc::new(Dialer::new(prepared.tls, prepared.proxy)),
            dispatcher: Arc::new(prepared.dispatcher),
            notifier: prepared.notifier,
            spans,
            status: prepared.status,
            opened_tx,
            opened_rx,
            outcome_tx,
            outcome_rx,
            fresh: VecDeque::new(),
            inline: Inline::default(),
        }
    }

    /// Runs until the connection stops; `Ok(())` after a requested stop.
    pub(crate) async fn run(mut self) -> Result<(), RunError> {
        // `Connection::new` already queued the first `Connect`.
        self.check_stop();
        self.drain();

        let sleep = tokio::time::sleep(std::time::Duration::ZERO);
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;

        loop {
            self.check_stop();
            self.start_handlers();
            self.status.publish(self.conn.state(), self.conn.stats());
            if self.conn.is_stopped() {
                break;
            }

            // The single timer: re-armed only when the deadline changed, and the clock is
            // checked here first rather than trusting the sleep (quinn's `drive_timer`).
            let deadline = self.conn.poll_timeout();
            if let Some(at) = deadline
                && Instant::now() >= at
            {
                self.on_timeout();
                continue;
            }
            if deadline != armed {
                armed = deadline;
                if let Some(at) = deadline {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(at));
                }
            }
            let reading = match &self.link {
                Link::Up(up) => !self.paused || up.closing,
                _ => false,
            };
            let up = matches!(self.link, Link::Up(_));
            let stop_seen = self.stop_seen;

            tokio::select! {
                // Wakes the loop for a stop request; the top of the loop acts on it.
                () = std::future::poll_fn(|cx| self.status.poll_stop(cx)), if !stop_seen => {}
                Some((token, outcome)) = self.outcome_rx.recv() => {
                    self.on_outcome(token, outcome);
                    // Every other outcome ready now, in the same turn: their acks then go
                    // out in one flush.
                    while let Ok((token, outcome)) = self.outcome_rx.try_recv() {
                        self.on_outcome(token, outcome);
                    }
                }
                Some(Opened(attempt, result)) = self.opened_rx.recv() => {
                    self.on_opened(attempt, result);
                }
                io = std::future::poll_fn(|cx| poll_io(&mut self.link, reading, cx)), if up => {
                    // More messages only after a message (see `read_ready`).
                    let message = matches!(io, Io::Read(Some(Ok(_))));
                    self.on_io(io);
                    if message {
                        self.read_ready();
                    }
                }
                () = &mut sleep, if armed.is_some() => self.on_timeout(),
            }
        }
        self.drop_link();
        drive::finish(&self.conn, &self.status)
    }

    /// Turns the handle's stop request into a graceful close (once).
    fn check_stop(&mut self) {
        if !self.stop_seen && self.status.stop_requested() {
            self.stop_seen = true;
            self.conn.close(Instant::now());
            self.drain();
        }
    }

    // ----- waiting (the runtime's part) ----------------------------------------------------

    /// Feeds what the open WebSocket produced.
    fn on_io(&mut self, io: Io) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        match io {
            Io::Flushed(id) => self.on_flushed(id),
            Io::WriteFailed(err) => {
                let info = up.peer.failed(&err);
                self.on_ended(&info);
            }
            Io::Read(Some(Ok(message))) => self.on_read(message),
            Io::Read(Some(Err(err))) if drive::is_invalid_text(&err) => {
                self.conn.handle_input(Instant::now(), Input::InvalidText);
                self.drain();
            }
            Io::Read(Some(Err(err))) => {
                let info = up.peer.failed(&err);
                self.on_ended(&info);
            }
            Io::Read(None) => {
                let info = up.peer.ended();
                self.on_ended(&info);
            }
        }
    }

    /// After a message: reads the ones already there too (at most [`READ_BATCH`] in all),
    /// without waiting, while reading is on and no close is under way. The next `select!` polls the stream again with the loop's waker.
    fn read_ready(&mut self) {
        for _ in 1..READ_BATCH {
            let Link::Up(up) = &mut self.link else {
                return;
            };
            // Closing, the close frame is written first (`poll_io` writes before it reads):
            // reading on here could meet the stream's end and drop the link before it left.
            if self.paused || up.closing {
                return;
            }
            let Some(next) = up.ws.next().now_or_never() else {
                return;
            };
            // After an error or the end, the core's answer (e.g. our 1007 close) is written
            // before anything more is read.
            let message = matches!(next, Some(Ok(_)));
            self.on_io(Io::Read(next));
            if !message {
                return;
            }
        }
    }

    /// Starts every delivered handler, in delivery order: polled once here (inline) while
    /// [`Inline`] allows, its outcome completed at once if it is ready; a task otherwise.
    fn start_handlers(&mut self) {
        while let Some((token, mut outcome, span)) = self.fresh.pop_front() {
            if self.inline.allowed() {
                let started = Instant::now();
                // A future that is not ready is polled again by its task, with the task's
                // waker: the one given here is never needed.
                let polled = span.in_scope(|| {
                    outcome
                        .as_mut()
                        .poll(&mut Context::from_waker(Waker::noop()))
                });
                self.inline.ran(started.elapsed());
                if let Poll::Ready(outcome) = polled {
                    // May deliver more (the backlog): they join `fresh`.
                    self.on_outcome(token, outcome);
                    continue;
                }
            }
            let outcomes = self.outcome_tx.clone();
            tokio::spawn(
                async move {
                    // `handle` turns errors and panics into outcomes.
                    let outcome = outcome.await;
                    let _ = outcomes.send((token, outcome));
                }
                .instrument(span),
            );
        }
    }

    /// The core's deadline passed.
    fn on_timeout(&mut self) {
        self.conn.handle_timeout(Instant::now());
        self.drain();
    }

    // ----- inputs --------------------------------------------------------------------------

    /// A connect attempt reported; the report of an abandoned attempt is dropped.
    fn on_opened(&mut self, attempt: u64, result: Result<Box<Ws>, OpenError>) {
        if attempt != self.attempt || !matches!(self.link, Link::Connecting { .. }) {
            return;
        }
        self.link = Link::Down;
        match result {
            Ok(ws) => {
                self.link = Link::Up(Box::new(Up::new(*ws)));
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
                // stream, which `on_io` reports.
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
                let span = self.spans.event(&delivery.event);
                // The closure runs now, in delivery order and in its span; its future after
                // the turn.
                let outcome = span.in_scope(|| self.dispatcher.handle(delivery.event));
                self.fresh.push_back((delivery.token, outcome, span));
            }
            Action::PauseReading => self.paused = true,
            Action::ResumeReading => self.paused = false,
            Action::Close => self.close(drive::close_frame()),
            Action::Fail(failure) => self.close(drive::failure_frame(&failure)),
            Action::Disconnect => self.drop_link(),
            Action::Notify(notice) => self.notifier.notify(&notice),
        }
    }

    /// Starts a connect attempt as a task (dropping the transport first).
    fn connect(&mut self, request: ConnectRequest) {
        self.drop_link();
        self.attempt += 1;
        let attempt = self.attempt;
        let span = self.spans.connect(attempt);
        let dialer = Arc::clone(&self.dialer);
        let reports = self.opened_tx.clone();
        let task = tokio::spawn(
            async move {
                let result = dialer.open(request).await.map(Box::new);
                let _ = reports.send(Opened(attempt, result));
            }
            .instrument(span),
        );
        self.link = Link::Connecting { task };
    }

    /// Queues one message for `Up::poll_write`.
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

    /// Drops the transport at once: aborts a connect attempt, or closes the socket.
    fn drop_link(&mut self) {
        if let Link::Connecting { task } = std::mem::replace(&mut self.link, Link::Down) {
            task.abort();
        }
    }
}

/// Writes and reads the open WebSocket (only polled while one is open).
fn poll_io(link: &mut Link, reading: bool, cx: &mut Context<'_>) -> Poll<Io> {
    match link {
        Link::Up(up) => up.poll_io(reading, cx),
        _ => Poll::Pending,
    }
}

/// Something to write, in the order the core emitted it.
enum Outgoing {
    /// An ack text frame; `Sent` once flushed.
    Ack(SendId, String),
    /// Flush only: writes the pong tungstenite queued itself when it read the ping (sending our
    /// own would make two, or replace it). `Sent` once flushed.
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

    /// Hands queued messages to the socket and flushes them, batching whatever is queued into
    /// one flush. `Ok(Some(id))`: everything up to `id` is flushed (the core confirms every
    /// earlier send with it); `Ok(None)`: nothing to report.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<SendId>, WsError>> {
        while let Some(next) = self.queue.front() {
            // Text and close frames need room in the socket's write buffer; a pong does not.
            if !matches!(next, Outgoing::Pong(_)) {
                ready!(self.ws.poll_ready_unpin(cx))?;
            }
            match self.queue.pop_front() {
                Some(Outgoing::Ack(id, text)) => {
                    self.ws.start_send_unpin(WsMessage::text(text))?;
                    self.unflushed = Some(id);
                }
                Some(Outgoing::Pong(id)) => self.unflushed = Some(id),
                Some(Outgoing::Close(frame)) => {
                    self.ws.start_send_unpin(WsMessage::Close(Some(frame)))?;
                }
                None => break,
            }
            self.dirty = true;
        }
        if !self.dirty {
            return Poll::Ready(Ok(None));
        }
        ready!(self.ws.poll_flush_unpin(cx))?;
        self.dirty = false;
        Poll::Ready(Ok(self.unflushed.take()))
    }

    /// Makes progress on the write queue, then reads (if `reading`); ready with the first
    /// thing to report.
    fn poll_io(&mut self, reading: bool, cx: &mut Context<'_>) -> Poll<Io> {
        match self.poll_write(cx) {
            Poll::Ready(Err(err)) => return Poll::Ready(Io::WriteFailed(err)),
            Poll::Ready(Ok(Some(id))) => return Poll::Ready(Io::Flushed(id)),
            Poll::Ready(Ok(None)) | Poll::Pending => {}
        }
        if reading {
            return self.ws.poll_next_unpin(cx).map(Io::Read);
        }
        Poll::Pending
    }
}
