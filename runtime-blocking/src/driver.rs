//! The IO thread: drives the core's `Connection` exactly as its drive-loop contract says.
//!
//! The thread waits in one `mio::Poll` for whichever comes first:
//! - the WebSocket's socket (non-blocking after the handshake) becoming readable or writable;
//! - its inbox's waker: a handler finished or a connect attempt ended ([`crate::mailbox`]);
//! - the core's next deadline (`poll_timeout`), but never longer than [`STOP_TICK`]:
//!   [`ClientHandle::stop`](open_event_transport::ClientHandle::stop) only raises a flag
//!   (that keeps it safe in a signal handler), so the thread looks at the flag at least that
//!   often.
//!
//! One turn of the loop:
//! 1. a stop request (the handle's flag) becomes `Connection::close`;
//! 2. socket work: a write that could not be flushed is retried, then, while reading is allowed
//!    (not paused, or our close frame is out), messages are read until the socket has nothing
//!    more (`WouldBlock`) or [`READ_BATCH`] were read; after each message the handlers it
//!    delivered are started (on the IO thread itself with `inline_handlers`, while
//!    [`drive::Inline`] allows; on a worker otherwise) and the outcomes already back from the
//!    workers are completed;
//! 3. the inbox is emptied and everything written is flushed (`Input::Sent` once it is out);
//! 4. the thread waits in `Poll::poll` as above (not at all if a batch was cut short);
//! 5. `handle_timeout`, then the state and stats are published for the handle.
//!
//! The file follows the driver skeleton of `open_event_transport::drive` (the same names and
//! order as the tokio and async-io drivers). After every call into the core its actions are drained and performed in order. Writes go to
//! tungstenite's buffer and are flushed once per step, so acks completed together leave in one
//! write. mio's readiness is edge-triggered: the socket counts as readable from an event until
//! a read returns `WouldBlock` (data buffered by tungstenite or rustls counts too), and a flush
//! that met a full socket buffer is retried when the socket reports it is writable again; the
//! core's `write_timeout` bounds how long that may take.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use open_event_core::config::Config;
use open_event_core::connection::{
    Action, CloseInfo, ConnectRequest, Connection, Delivery, DeliveryToken, Input, Message,
    OpenError, Outcome, SendId, Transmit,
};
use open_event_transport::drive::{self, Inline, PeerClose, Spans};
use open_event_transport::{Notifier, Prepared, RunError, StatusBoard, io_open_error};
use tungstenite::WebSocket;

use crate::connect::{Attempt, Dialer};
use crate::mailbox::{Inbox, Mail, Mailbox};
use crate::pool::Pool;
use crate::stream::{Stream, is_retry};
use crate::{Dispatcher, Handler};

/// The longest the IO thread waits in one turn: it bounds how late a stop request is noticed.
/// Everything else (socket, handler outcomes, connect results, the core's timers) wakes the
/// thread when it happens.
pub(crate) const STOP_TICK: Duration = Duration::from_millis(50);

/// The most messages read in one turn before the thread looks at its stop flag, its timers and
/// its inbox again (with reading never paused, a fast server could keep it reading).
pub(crate) const READ_BATCH: usize = 64;

/// The poll token of the inbox's waker.
const WAKE: Token = Token(0);
/// The poll token of the WebSocket's socket.
const SOCKET: Token = Token(1);

/// The transport as the driver sees it.
#[derive(Debug)]
enum Link {
    /// No transport.
    Down,
    /// A connect attempt runs on its own thread.
    Connecting {
        attempt: u64,
        abandon: Arc<AtomicBool>,
    },
    /// An open WebSocket, its socket registered with the poller.
    Up(Box<Up>),
}

/// One open WebSocket with its write state.
#[derive(Debug)]
struct Up {
    ws: WebSocket<Stream>,
    /// The peer's close frame, once it arrived.
    peer: PeerClose,
    /// Something was written to tungstenite but is not flushed yet: flushed at the end of the
    /// step, or retried while the socket's send buffer is full.
    unflushed: bool,
    /// The newest send to confirm with `Input::Sent` once everything is flushed.
    unconfirmed: Option<SendId>,
    /// Messages tungstenite's write buffer had no room for (`WriteBufferFull`): not an error,
    /// only "not flushed yet". Written, in order, once a flush made room; the core's write
    /// timer alone declares the connection dead.
    held: VecDeque<tungstenite::Message>,
    /// Our close frame is queued or out: read even while reading is paused, to see the reply.
    closing: bool,
    /// A read may find a message: set by every socket event (and when the WebSocket opens or
    /// reading resumes), cleared when a read returns `WouldBlock`.
    readable: bool,
}

/// The state of one client while it runs (everything the IO thread owns).
pub(crate) struct Driver {
    conn: Connection,
    link: Link,
    /// The id of the newest connect attempt; the report of an older one is dropped.
    attempt: u64,
    /// The core asked to stop reading (kept across reconnects until `ResumeReading`).
    paused: bool,
    /// `ClientHandle::stop` was seen and passed on to the core.
    stop_seen: bool,
    config: Arc<Config>,
    dialer: Arc<Dialer>,
    notifier: Notifier,
    /// The stop request from the handles, and the snapshot published for them.
    status: Arc<StatusBoard>,
    /// Created with the first connect attempt (a failure to create it fails that attempt, and
    /// the core retries). Until it exists no socket, handler or attempt can need a wake-up, and
    /// the thread only sleeps between its timers.
    poller: Option<Poller>,
    inbox: Inbox,
    /// A posting side for connect attempts (the pool holds its own).
    mailbox: Mailbox,
    /// The worker threads that run the handlers.
    pool: Pool,
    /// The handlers, for the ones run on the IO thread.
    dispatcher: Arc<Dispatcher>,
    /// `inline_handlers`: whether (and while [`Inline`] allows) a handler runs on the IO
    /// thread; `None`: every handler runs on a worker.
    inline: Option<Inline>,
    /// Delivered events whose handler runs inline, not started yet (`start_handlers`), with
    /// their spans.
    fresh: VecDeque<(Delivery, tracing::Span)>,
    /// The client's, the current connection's and each handler's `tracing` span.
    spans: Spans,
}

impl Driver {
    pub(crate) fn new(prepared: Prepared<Handler>) -> Self {
        tracing::debug!(target: "open_event", seed = prepared.seed, "starting the event connection");
        let (mailbox, inbox) = Inbox::new();
        let dispatcher = Arc::new(prepared.dispatcher);
        let pool = Pool::new(
            Arc::clone(&dispatcher),
            mailbox.clone(),
            prepared.config.max_in_flight(),
        );
        let spans = Spans::new(&prepared.config);
        Self {
            conn: Connection::new(Arc::clone(&prepared.config), Instant::now(), prepared.seed),
            link: Link::Down,
            attempt: 0,
            paused: false,
            stop_seen: false,
            config: prepared.config,
            dialer: Arc::new(Dialer::new(prepared.tls, prepared.proxy)),
            notifier: prepared.notifier,
            status: prepared.status,
            poller: None,
            inbox,
            mailbox,
            pool,
            dispatcher,
            inline: None,
            fresh: VecDeque::new(),
            spans,
        }
    }

    /// Runs handlers on the IO thread (see `ClientBuilder::inline_handlers`).
    pub(crate) fn inline_handlers(mut self, on: bool) -> Self {
        self.inline = on.then(Inline::default);
        self
    }

    /// Runs until the connection stops; `Ok(())` after a requested stop.
    pub(crate) fn run(mut self) -> Result<(), RunError> {
        let span = self.spans.client().clone();
        let _entered = span.enter();
        // `Connection::new` already queued the first `Connect`.
        self.check_stop();
        self.drain();
        while !self.conn.is_stopped() {
            self.turn();
            self.conn.handle_timeout(Instant::now());
            self.drain();
            self.status.publish(self.conn.state(), self.conn.stats());
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

    fn turn(&mut self) {
        self.check_stop();
        self.pump();
        // The last emptying before the wait: every outcome posted from here on wakes it.
        self.inbox.lower_bell();
        self.take_inbox();
        self.start_handlers();
        self.flush();
        if self.conn.is_stopped() {
            return;
        }
        self.wait();
    }

    /// Retries a pending flush, then reads while the socket has messages and reading is
    /// allowed, at most [`READ_BATCH`] of them.
    fn pump(&mut self) {
        self.flush();
        self.start_handlers();
        for _ in 0..READ_BATCH {
            if !self.may_read() {
                return;
            }
            self.read();
            self.start_handlers();
            // Outcomes that came back meanwhile: ack them with this batch, not after it.
            self.take_inbox();
        }
    }

    /// Runs the handlers of the deliveries kept for the IO thread, in delivery order, each
    /// timed by [`Inline`] (one that ran long sends the next deliveries to the workers).
    fn start_handlers(&mut self) {
        while self.inline.is_some()
            && let Some((Delivery { token, event }, span)) = self.fresh.pop_front()
        {
            let started = Instant::now();
            // `handle` catches a panicking handler and returns an error outcome.
            let outcome = span.in_scope(|| self.dispatcher.handle(event));
            if let Some(inline) = &mut self.inline {
                inline.ran(started.elapsed());
            }
            // May deliver more (the backlog): they join `fresh` or go to a worker.
            drive::complete(&mut self.conn, Instant::now(), token, outcome);
            self.drain();
        }
    }

    /// Whether a read may find a message and reading is allowed.
    fn may_read(&self) -> bool {
        match &self.link {
            Link::Up(up) => up.readable && (!self.paused || up.closing),
            _ => false,
        }
    }

    /// Waits for a socket event, a wake-up from the inbox, the core's next deadline or the
    /// stop-check tick, whichever comes first.
    fn wait(&mut self) {
        let timeout = if self.may_read() {
            // A batch was cut short: only collect events.
            Duration::ZERO
        } else {
            self.conn
                .poll_timeout()
                .map_or(STOP_TICK, |at| at.saturating_duration_since(Instant::now()))
                .min(STOP_TICK)
        };
        let Some(poller) = &mut self.poller else {
            // No poller (yet): nothing but the timers and the stop flag to wait for.
            thread::sleep(timeout);
            return;
        };
        if let Err(err) = poller.poll.poll(&mut poller.events, Some(timeout)) {
            if err.kind() != io::ErrorKind::Interrupted {
                // Not expected from a valid poller; sleeping keeps the loop from spinning.
                tracing::error!(error = %err, "waiting for the socket failed");
                thread::sleep(timeout);
            }
            return;
        }
        // Wake-ups need no handling: the next turn empties the inbox anyway.
        if poller.events.iter().any(|event| event.token() == SOCKET)
            && let Link::Up(up) = &mut self.link
        {
            up.readable = true;
        }
    }

    fn take_inbox(&mut self) {
        while let Some(mail) = self.inbox.next() {
            match mail {
                Mail::Outcome(token, outcome) => self.on_outcome(token, outcome),
                Mail::Opened { attempt, result } => self.on_opened(attempt, result),
            }
        }
    }

    /// Reads at most one message, without waiting.
    fn read(&mut self) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        match up.ws.read() {
            Ok(message) => self.on_read(message),
            Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => {
                // Read out: the next socket event says when there is more.
                up.readable = false;
            }
            Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if drive::is_invalid_text(&err) => {
                self.conn.handle_input(Instant::now(), Input::InvalidText);
                self.drain();
            }
            Err(err) => {
                let info = up.peer.failed(&err);
                self.on_ended(&info);
            }
        }
    }

    /// Flushes what was written (or retries a flush the socket did not take), then confirms
    /// the newest send.
    fn flush(&mut self) {
        loop {
            let Link::Up(up) = &mut self.link else {
                return;
            };
            if !up.unflushed {
                return;
            }
            match up.ws.flush() {
                Ok(()) if !up.held.is_empty() => {
                    // Room again: the held messages go into the buffer, then flush again.
                    let mut wrote = false;
                    while let Some(message) = up.held.pop_front() {
                        match up.ws.write(message) {
                            Ok(()) => wrote = true,
                            Err(tungstenite::Error::WriteBufferFull(message)) if wrote => {
                                up.held.push_front(*message);
                                break;
                            }
                            Err(tungstenite::Error::Io(err)) if is_retry(&err) => {}
                            Err(err) => {
                                let info = up.peer.failed(&err);
                                self.on_ended(&info);
                                return;
                            }
                        }
                    }
                }
                Ok(()) => {
                    up.unflushed = false;
                    if let Some(id) = up.unconfirmed.take() {
                        self.on_flushed(id);
                    }
                }
                Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::Interrupted => {}
                // The send buffer is full: retried when the socket is writable again.
                Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => {
                    return;
                }
                Err(err) => {
                    let info = up.peer.failed(&err);
                    self.on_ended(&info);
                    return;
                }
            }
        }
    }

    /// Makes the socket under `ws` non-blocking, in place (tungstenite and rustls keep what
    /// they buffered), and registers it with the poller.
    fn register(&self, ws: &mut WebSocket<Stream>) -> io::Result<()> {
        let poller = self.poller.as_ref().ok_or_else(|| {
            io::Error::other("the IO thread has no poller (cannot happen: connect creates it)")
        })?;
        let socket = ws.get_mut().make_polled()?;
        poller
            .poll
            .registry()
            .register(socket, SOCKET, Interest::READABLE | Interest::WRITABLE)
    }

    // ----- inputs --------------------------------------------------------------------------

    /// A connect attempt reported; the report of an abandoned attempt is dropped (with its
    /// socket).
    fn on_opened(&mut self, attempt: u64, result: Result<Box<WebSocket<Stream>>, OpenError>) {
        if !matches!(&self.link, Link::Connecting { attempt: a, .. } if *a == attempt) {
            return;
        }
        self.link = Link::Down;
        let result = result.and_then(|mut ws| match self.register(&mut ws) {
            Ok(()) => Ok(ws),
            Err(err) => Err(io_open_error(
                "cannot switch the socket to non-blocking mode",
                &err,
            )),
        });
        match result {
            Ok(ws) => {
                self.link = Link::Up(Box::new(Up {
                    ws: *ws,
                    peer: PeerClose::default(),
                    unflushed: false,
                    unconfirmed: None,
                    held: VecDeque::new(),
                    closing: false,
                    // tungstenite may hold messages that came with the handshake.
                    readable: true,
                }));
                self.conn.handle_input(Instant::now(), Input::Opened);
            }
            Err(err) => self
                .conn
                .handle_input(Instant::now(), Input::OpenFailed(&err)),
        }
        self.drain();
    }

    /// A message arrived.
    fn on_read(&mut self, message: tungstenite::Message) {
        let now = Instant::now();
        match message {
            tungstenite::Message::Text(text) => {
                self.conn.handle_input(now, Input::Text(text.as_str()));
            }
            tungstenite::Message::Binary(data) => {
                self.conn.handle_input(now, Input::Binary(&data));
            }
            // tungstenite queued the pong already; the core's `Send(Pong)` flushes it.
            tungstenite::Message::Ping(data) => self.conn.handle_input(now, Input::Ping(&data)),
            tungstenite::Message::Pong(data) => self.conn.handle_input(now, Input::Pong(&data)),
            tungstenite::Message::Close(frame) => {
                // The peer's close (or its reply to ours): tungstenite queued the reply; write
                // it if the socket takes it, then the transport is over. Nothing is read after
                // the close frame.
                if let Link::Up(up) = &mut self.link {
                    up.peer.close_frame(frame.as_ref());
                    let _ = up.ws.flush();
                    let info = up.peer.ended();
                    self.on_ended(&info);
                }
                return;
            }
            // Raw frames are never returned by `read`.
            tungstenite::Message::Frame(_) => {}
        }
        self.drain();
    }

    /// Every send up to `id` is flushed.
    fn on_flushed(&mut self, id: SendId) {
        self.conn.handle_input(Instant::now(), Input::Sent(id));
        self.drain();
    }

    /// The transport ended (the peer's close, a read or write error): drop it, tell the core.
    fn on_ended(&mut self, info: &CloseInfo) {
        self.drop_link();
        self.conn.handle_input(Instant::now(), Input::Closed(info));
        self.drain();
    }

    /// A handler finished.
    fn on_outcome(&mut self, token: DeliveryToken, outcome: Outcome) {
        self.pool.completed();
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
                if self.inline.as_mut().is_some_and(Inline::allowed) {
                    self.fresh.push_back((delivery, span));
                } else {
                    self.pool.submit(delivery, span);
                }
            }
            Action::PauseReading => self.paused = true,
            Action::ResumeReading => {
                self.paused = false;
                // Events were not read while paused, so no new edge may come: try at once.
                if let Link::Up(up) = &mut self.link {
                    up.readable = true;
                }
            }
            Action::Close => self.close(drive::close_frame()),
            Action::Fail(failure) => self.close(drive::failure_frame(&failure)),
            Action::Disconnect => self.drop_link(),
            Action::Notify(notice) => self.notifier.notify(&notice),
        }
    }

    /// Starts a connect attempt on its own thread (dropping the transport first).
    fn connect(&mut self, request: ConnectRequest) {
        self.drop_link();
        if self.poller.is_none() {
            match Poller::new(&self.inbox) {
                Ok(poller) => self.poller = Some(poller),
                Err(err) => {
                    let err = io_open_error(
                        "cannot create the IO thread's poller (the process may be out of file \
                         descriptors)",
                        &err,
                    );
                    self.conn
                        .handle_input(Instant::now(), Input::OpenFailed(&err));
                    return;
                }
            }
        }
        self.attempt += 1;
        let attempt = self.attempt;
        let span = self.spans.connect(attempt);
        let abandon = Arc::new(AtomicBool::new(false));
        let job = Attempt {
            dialer: Arc::clone(&self.dialer),
            request,
            deadline: Instant::now() + self.config.connect_timeout(),
            abandon: Arc::clone(&abandon),
        };
        let mailbox = self.mailbox.clone();
        let spawned = thread::Builder::new()
            .name("open-event-connect".to_owned())
            .spawn(move || {
                let result = span.in_scope(|| job.run()).map(Box::new);
                // The IO thread may be gone (the client stopped): then nobody wants it.
                mailbox.post(Mail::Opened { attempt, result });
            });
        match spawned {
            Ok(_) => self.link = Link::Connecting { attempt, abandon },
            Err(err) => {
                let err = OpenError::Transport(format!("cannot start the connect thread: {err}"));
                self.conn
                    .handle_input(Instant::now(), Input::OpenFailed(&err));
            }
        }
    }

    /// Queues one message; the flush at the end of the step writes it. Pongs are already
    /// queued by tungstenite when it read the ping, so a `Pong` only asks for that flush
    /// (sending one would make two, see `Message::Pong`).
    fn send(&mut self, transmit: Transmit) {
        let Link::Up(up) = &mut self.link else {
            // The transport is gone; the core forgot this send when it learned that.
            return;
        };
        let result = match transmit.message {
            Message::Pong(_) => Ok(()),
            // Behind held messages: keep the order.
            Message::Ack { text, .. } if !up.held.is_empty() => {
                up.held.push_back(tungstenite::Message::text(text));
                Ok(())
            }
            Message::Ack { text, .. } => up.ws.write(tungstenite::Message::text(text)),
        };
        match result {
            // A write that met a full socket buffer is queued in tungstenite all the same.
            Ok(()) => {}
            Err(tungstenite::Error::Io(err)) if is_retry(&err) => {}
            // tungstenite's write buffer is full: not flushed yet, not fatal.
            Err(tungstenite::Error::WriteBufferFull(message)) => up.held.push_back(*message),
            Err(err) => {
                let info = up.peer.failed(&err);
                self.drop_link();
                self.conn.handle_input(Instant::now(), Input::Closed(&info));
                return;
            }
        }
        // Confirmed once flushed; the core's write timer declares the connection dead if that
        // takes longer than `write_timeout`.
        up.unflushed = true;
        up.unconfirmed = Some(transmit.id);
    }

    /// Sends our close frame; the server's reply ends the transport in `on_read`.
    fn close(&mut self, frame: tungstenite::protocol::CloseFrame) {
        let Link::Up(up) = &mut self.link else {
            drive::nothing_to_close(&mut self.conn, Instant::now());
            return;
        };
        up.closing = true;
        // Reading may have been paused with messages left: read on to the reply.
        up.readable = true;
        match up.ws.close(Some(frame)) {
            Ok(()) => {}
            Err(tungstenite::Error::Io(err)) if is_retry(&err) => up.unflushed = true,
            Err(err) => {
                let info = up.peer.failed(&err);
                self.drop_link();
                self.conn.handle_input(Instant::now(), Input::Closed(&info));
            }
        }
    }

    /// Drops the transport at once: abandons a connect attempt, or deregisters and closes the
    /// socket.
    fn drop_link(&mut self) {
        match std::mem::replace(&mut self.link, Link::Down) {
            Link::Down => {}
            Link::Connecting { abandon, .. } => abandon.store(true, Ordering::Relaxed),
            Link::Up(mut up) => {
                if let (Some(poller), Ok(socket)) = (&self.poller, up.ws.get_mut().make_polled()) {
                    // Closing the socket would deregister it too; this keeps it explicit.
                    let _ = poller.poll.registry().deregister(socket);
                }
            }
        }
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("state", &self.conn.state())
            .field("link", &self.link)
            .field("paused", &self.paused)
            .finish_non_exhaustive()
    }
}

/// The IO thread's `mio::Poll`; the inbox holds its waker.
#[derive(Debug)]
struct Poller {
    poll: Poll,
    events: Events,
}

impl Poller {
    fn new(inbox: &Inbox) -> io::Result<Self> {
        let poll = Poll::new()?;
        inbox.set_waker(Waker::new(poll.registry(), WAKE)?);
        Ok(Self {
            poll,
            events: Events::with_capacity(8),
        })
    }
}
