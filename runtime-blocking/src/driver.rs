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
//!    more (`WouldBlock`) or [`READ_BATCH`] were read; after each message the outcomes already
//!    back from the workers are completed;
//! 3. the inbox is emptied and everything written is flushed (`Input::Sent` once it is out);
//! 4. the thread waits in `Poll::poll` as above (not at all if a batch was cut short);
//! 5. `handle_timeout`, then the state and stats are published for the handle.
//!
//! After every call into the core its actions are drained and performed in order. Writes go to
//! tungstenite's buffer and are flushed once per step, so acks completed together leave in one
//! write. mio's readiness is edge-triggered: the socket counts as readable from an event until
//! a read returns `WouldBlock` (data buffered by tungstenite or rustls counts too), and a flush
//! that met a full socket buffer is retried when the socket reports it is writable again; the
//! core's `write_timeout` bounds how long that may take.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use open_event_core::config::Config;
use open_event_core::connection::{
    Action, CloseInfo, ConnectRequest, Connection, Input, Message, OpenError, SendId, StopReason,
};
use open_event_transport::{Notifier, StatusBoard, close_frame_info, close_info, io_open_error};
use tungstenite::WebSocket;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use crate::Dispatcher;
use crate::connect::{Attempt, Dialer};
use crate::mailbox::{Inbox, Mail, Mailbox};
use crate::pool::Pool;
use crate::stream::{Stream, is_retry};

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

/// The transport as the IO thread sees it.
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
    Up(Up),
}

#[derive(Debug)]
struct Up {
    ws: Box<WebSocket<Stream>>,
    /// Something was written to tungstenite but is not flushed yet: flushed at the end of the
    /// step, or retried while the socket's send buffer is full.
    unflushed: bool,
    /// The newest send to confirm with `Input::Sent` once everything is flushed.
    unconfirmed: Option<SendId>,
    /// Our close frame is queued or out: read even while reading is paused, to see the reply.
    closing: bool,
    /// A read may find a message: set by every socket event (and when the WebSocket opens or
    /// reading resumes), cleared when a read returns `WouldBlock`.
    readable: bool,
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

/// Everything the IO thread owns.
pub(crate) struct Driver {
    conn: Connection,
    config: Arc<Config>,
    dialer: Arc<Dialer>,
    link: Link,
    next_attempt: u64,
    /// The core asked to stop reading (kept across reconnects until `ResumeReading`).
    paused: bool,
    /// Created with the first connect attempt (a failure to create it fails that attempt, and
    /// the core retries). Until it exists no socket, handler or attempt can need a wake-up, and
    /// the thread only sleeps between its timers.
    poller: Option<Poller>,
    inbox: Inbox,
    /// A posting side for connect attempts (the pool holds its own).
    mailbox: Mailbox,
    pool: Pool,
    notifier: Notifier,
    /// The stop request from the handles, and the snapshot published for them.
    status: Arc<StatusBoard>,
    stop_requested: bool,
}

impl Driver {
    pub(crate) fn new(
        config: Arc<Config>,
        dialer: Arc<Dialer>,
        dispatcher: Arc<Dispatcher>,
        notifier: Notifier,
        status: Arc<StatusBoard>,
        seed: u64,
    ) -> Self {
        let (mailbox, inbox) = Inbox::new();
        let pool = Pool::new(dispatcher, mailbox.clone(), config.max_in_flight());
        Self {
            conn: Connection::new(Arc::clone(&config), Instant::now(), seed),
            config,
            dialer,
            link: Link::Down,
            next_attempt: 0,
            paused: false,
            poller: None,
            inbox,
            mailbox,
            pool,
            notifier,
            status,
            stop_requested: false,
        }
    }

    /// Runs until the connection stops; `Ok(())` after a requested stop.
    pub(crate) fn run(mut self) -> Result<(), StopReason> {
        self.check_stop();
        self.drain();
        while !self.conn.is_stopped() {
            self.turn();
            self.conn.handle_timeout(Instant::now());
            self.drain();
            self.publish();
        }
        self.drop_link();
        self.publish();
        match self.conn.stop_reason() {
            Some(reason) if !reason.is_requested() => Err(reason.clone()),
            _ => Ok(()),
        }
    }

    fn turn(&mut self) {
        self.check_stop();
        self.pump();
        // The last emptying before the wait: every outcome posted from here on wakes it.
        self.inbox.lower_bell();
        self.take_inbox();
        self.flush();
        if self.conn.is_stopped() {
            return;
        }
        self.wait();
    }

    /// Turns the handle's stop flag into a graceful close (once).
    fn check_stop(&mut self) {
        if !self.stop_requested && self.status.stop_requested() {
            self.stop_requested = true;
            self.conn.close(Instant::now());
            self.drain();
        }
    }

    /// Retries a pending flush, then reads while the socket has messages and reading is
    /// allowed, at most [`READ_BATCH`] of them.
    fn pump(&mut self) {
        self.flush();
        for _ in 0..READ_BATCH {
            if !self.may_read() {
                return;
            }
            self.read_one();
            // Outcomes that came back meanwhile: ack them with this batch, not after it.
            self.take_inbox();
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
            self.on_mail(mail);
        }
    }

    fn on_mail(&mut self, mail: Mail) {
        match mail {
            Mail::Outcome(token, outcome) => {
                self.pool.completed();
                if let Err(err) = self.conn.complete(Instant::now(), token, outcome) {
                    // Cannot happen: every token is completed once, by its worker.
                    tracing::error!(error = %err, "handler outcome not accepted");
                }
            }
            Mail::Opened { attempt, result } => {
                let current =
                    matches!(&self.link, Link::Connecting { attempt: a, .. } if *a == attempt);
                if !current {
                    // The core gave this attempt up already: drop its socket.
                    return;
                }
                self.link = Link::Down;
                match result.and_then(|mut ws| match self.register(&mut ws) {
                    Ok(()) => Ok(ws),
                    Err(err) => Err(io_open_error(
                        "cannot switch the socket to non-blocking mode",
                        &err,
                    )),
                }) {
                    Ok(ws) => {
                        self.link = Link::Up(Up {
                            ws,
                            unflushed: false,
                            unconfirmed: None,
                            closing: false,
                            // tungstenite may hold messages that came with the handshake.
                            readable: true,
                        });
                        self.conn.handle_input(Instant::now(), Input::Opened);
                    }
                    Err(err) => {
                        self.conn
                            .handle_input(Instant::now(), Input::OpenFailed(&err));
                    }
                }
            }
        }
        self.drain();
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

    /// Reads at most one message, without waiting.
    fn read_one(&mut self) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        let message = match up.ws.read() {
            Ok(message) => message,
            Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => {
                // Read out: the next socket event says when there is more.
                up.readable = false;
                return;
            }
            Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::Interrupted => return,
            Err(err) => {
                let info = close_info(&err, false);
                self.fail(&info);
                self.drain();
                return;
            }
        };
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
                // the Close frame, so a TLS EOF without close_notify cannot turn into an error.
                let info = close_frame_info(frame.as_ref());
                let _ = up.ws.flush();
                self.drop_link();
                self.conn.handle_input(now, Input::Closed(&info));
            }
            // Raw frames are never returned by `read`.
            tungstenite::Message::Frame(_) => {}
        }
        self.drain();
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
                Ok(()) => {
                    up.unflushed = false;
                    if let Some(id) = up.unconfirmed.take() {
                        self.conn.handle_input(Instant::now(), Input::Sent(id));
                        self.drain();
                    }
                }
                Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::Interrupted => {}
                // The send buffer is full: retried when the socket is writable again.
                Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => {
                    return;
                }
                Err(err) => {
                    let info = close_info(&err, false);
                    self.fail(&info);
                    self.drain();
                    return;
                }
            }
        }
    }

    /// Performs every queued action, in order.
    fn drain(&mut self) {
        while let Some(action) = self.conn.poll_action() {
            self.perform(action);
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Connect(request) => self.connect(request),
            Action::Send(transmit) => self.send(transmit.id, transmit.message),
            Action::Deliver(delivery) => self.pool.submit(delivery),
            Action::PauseReading => self.paused = true,
            Action::ResumeReading => {
                self.paused = false;
                // Events were not read while paused, so no new edge may come: try at once.
                if let Link::Up(up) = &mut self.link {
                    up.readable = true;
                }
            }
            Action::Close => self.close(),
            // Dropping the WebSocket closes the socket at once.
            Action::Disconnect => self.drop_link(),
            Action::Notify(notice) => self.notifier.notify(&notice),
        }
    }

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
        let attempt = self.next_attempt;
        self.next_attempt += 1;
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
                let result = job.run().map(Box::new);
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
    fn send(&mut self, id: SendId, message: Message) {
        let Link::Up(up) = &mut self.link else {
            // The transport is gone; the core forgot this send when it learned that.
            return;
        };
        let result = match message {
            Message::Pong(_) => Ok(()),
            Message::Ack { text, .. } => up.ws.write(tungstenite::Message::text(text)),
        };
        match result {
            // A write that met a full socket buffer is queued in tungstenite all the same.
            Ok(()) => {}
            Err(tungstenite::Error::Io(err)) if is_retry(&err) => {}
            Err(err) => {
                let info = close_info(&err, false);
                self.fail(&info);
                return;
            }
        }
        // Confirmed once flushed; the core's write timer declares the connection dead if that
        // takes longer than `write_timeout`.
        up.unflushed = true;
        up.unconfirmed = Some(id);
    }

    /// Sends our close frame (code 1000); the server's reply ends the transport in `read_one`.
    fn close(&mut self) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        up.closing = true;
        // Reading may have been paused with messages left: read on to the reply.
        up.readable = true;
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        match up.ws.close(Some(frame)) {
            Ok(()) => {}
            Err(tungstenite::Error::Io(err)) if is_retry(&err) => up.unflushed = true,
            Err(err) => {
                let info = close_info(&err, false);
                self.fail(&info);
            }
        }
    }

    /// Drops the transport: abandons a connect attempt, or deregisters and closes the socket.
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

    /// The transport failed: drop it and tell the core (the caller drains).
    fn fail(&mut self, info: &CloseInfo) {
        self.drop_link();
        self.conn.handle_input(Instant::now(), Input::Closed(info));
    }

    /// Publishes the state and counters for the handle.
    fn publish(&self) {
        self.status.publish(self.conn.state(), self.conn.stats());
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
