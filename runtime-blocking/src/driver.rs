//! The IO thread: drives the core's `Connection` exactly as its drive-loop contract says.
//!
//! One turn of the loop:
//! 1. a stop request (the handle's flag) becomes `Connection::close`;
//! 2. outcomes of handlers and results of connect attempts waiting in the inbox are fed in;
//! 3. writes that could not be flushed yet are retried (`Input::Sent` once they are out);
//! 4. it blocks for at most one [`TICK`] (or until the core's next deadline): on the socket's
//!    read when a WebSocket is open and reading is not paused, on the inbox otherwise;
//! 5. `handle_timeout`, then the state and stats are published for the handle.
//!
//! After every call into the core its actions are drained and performed in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use open_event_core::config::Config;
use open_event_core::connection::{
    Action, CloseInfo, ConnectRequest, Connection, DeliveryToken, Input, Message, OpenError,
    Outcome, SendId, StopReason,
};
use open_event_transport::{Notifier, StatusBoard, close_frame_info, close_info};
use tungstenite::WebSocket;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use crate::Dispatcher;
use crate::connect::{Attempt, Dialer};
use crate::pool::Pool;
use crate::stream::{Stream, is_tick};

/// The longest the IO thread blocks in one turn: it bounds how late a stop request, a handler's
/// outcome (and so its ack) or a due timer is noticed while the socket is quiet.
pub(crate) const TICK: Duration = Duration::from_millis(20);

/// What other threads tell the IO thread.
#[derive(Debug)]
pub(crate) enum Inbox {
    /// A handler finished.
    Outcome(DeliveryToken, Outcome),
    /// A connect attempt ended.
    Opened {
        attempt: u64,
        result: Result<Box<WebSocket<Stream>>, OpenError>,
    },
}

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
    /// An open WebSocket.
    Up(Up),
}

#[derive(Debug)]
struct Up {
    ws: Box<WebSocket<Stream>>,
    /// Something was written but not flushed yet (the socket's write timeout hit): retried every
    /// turn.
    unflushed: bool,
    /// The newest send to confirm with `Input::Sent` once everything is flushed.
    unconfirmed: Option<SendId>,
    /// Our close frame is queued or out: read even while reading is paused, to see the reply.
    closing: bool,
    /// The socket's current read timeout (set only when it changes).
    read_timeout: Duration,
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
    inbox: Receiver<Inbox>,
    outbox: Sender<Inbox>,
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
        let (outbox, inbox) = channel();
        let pool = Pool::new(dispatcher, outbox.clone(), config.max_in_flight());
        Self {
            conn: Connection::new(Arc::clone(&config), Instant::now(), seed),
            config,
            dialer,
            link: Link::Down,
            next_attempt: 0,
            paused: false,
            inbox,
            outbox,
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
        self.publish();
        match self.conn.stop_reason() {
            Some(reason) if !reason.is_requested() => Err(reason.clone()),
            _ => Ok(()),
        }
    }

    fn turn(&mut self) {
        self.check_stop();
        while let Ok(message) = self.inbox.try_recv() {
            self.on_inbox(message);
        }
        self.retry_flush();
        if self.conn.is_stopped() {
            return;
        }
        let wait = self
            .conn
            .poll_timeout()
            .map_or(TICK, |at| at.saturating_duration_since(Instant::now()))
            .min(TICK);
        if wait.is_zero() {
            return;
        }
        let reading = match &self.link {
            Link::Up(up) => !self.paused || up.closing,
            _ => false,
        };
        if reading {
            self.read(wait);
        } else {
            match self.inbox.recv_timeout(wait) {
                Ok(message) => self.on_inbox(message),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
        }
    }

    /// Turns the handle's stop flag into a graceful close (once).
    fn check_stop(&mut self) {
        if !self.stop_requested && self.status.stop_requested() {
            self.stop_requested = true;
            self.conn.close(Instant::now());
            self.drain();
        }
    }

    fn on_inbox(&mut self, message: Inbox) {
        match message {
            Inbox::Outcome(token, outcome) => {
                self.pool.completed();
                if let Err(err) = self.conn.complete(Instant::now(), token, outcome) {
                    // Cannot happen: every token is completed once, by its worker.
                    tracing::error!(error = %err, "handler outcome not accepted");
                }
            }
            Inbox::Opened { attempt, result } => {
                let current =
                    matches!(&self.link, Link::Connecting { attempt: a, .. } if *a == attempt);
                if !current {
                    // The core gave this attempt up already: drop its socket.
                    return;
                }
                match result {
                    Ok(ws) => match ws.get_ref().set_timeouts(TICK, TICK) {
                        Ok(()) => {
                            self.link = Link::Up(Up {
                                ws,
                                unflushed: false,
                                unconfirmed: None,
                                closing: false,
                                read_timeout: TICK,
                            });
                            self.conn.handle_input(Instant::now(), Input::Opened);
                        }
                        Err(err) => {
                            self.link = Link::Down;
                            let err = open_event_transport::io_open_error(
                                "cannot set socket timeouts",
                                &err,
                            );
                            self.conn
                                .handle_input(Instant::now(), Input::OpenFailed(&err));
                        }
                    },
                    Err(err) => {
                        self.link = Link::Down;
                        self.conn
                            .handle_input(Instant::now(), Input::OpenFailed(&err));
                    }
                }
            }
        }
        self.drain();
    }

    /// Reads at most one message, blocking for at most `wait`.
    fn read(&mut self, wait: Duration) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        if up.read_timeout != wait {
            if let Err(err) = up.ws.get_ref().set_read_timeout(wait) {
                self.fail(&CloseInfo::error(format!(
                    "cannot set the read timeout: {err}"
                )));
                return;
            }
            up.read_timeout = wait;
        }
        let message = match up.ws.read() {
            Ok(message) => message,
            Err(tungstenite::Error::Io(err)) if is_tick(&err) => return,
            Err(err) => {
                let info = close_info(&err, false);
                self.fail(&info);
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
                self.link = Link::Down;
                self.conn.handle_input(now, Input::Closed(&info));
            }
            // Raw frames are never returned by `read`.
            tungstenite::Message::Frame(_) => {}
        }
        self.drain();
    }

    /// Retries a flush that hit the socket's write timeout.
    fn retry_flush(&mut self) {
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
                }
            }
            Err(tungstenite::Error::Io(err)) if is_tick(&err) => return,
            Err(err) => {
                let info = close_info(&err, false);
                self.fail(&info);
            }
        }
        self.drain();
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
            Action::ResumeReading => self.paused = false,
            Action::Close => self.close(),
            Action::Disconnect => {
                if let Link::Connecting { abandon, .. } = &self.link {
                    abandon.store(true, Ordering::Relaxed);
                }
                // Dropping the WebSocket closes the socket at once.
                self.link = Link::Down;
            }
            Action::Notify(notice) => self.notifier.notify(&notice),
        }
    }

    fn connect(&mut self, request: ConnectRequest) {
        if let Link::Connecting { abandon, .. } = &self.link {
            abandon.store(true, Ordering::Relaxed);
        }
        self.link = Link::Down;
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        let abandon = Arc::new(AtomicBool::new(false));
        let job = Attempt {
            dialer: Arc::clone(&self.dialer),
            request,
            deadline: Instant::now() + self.config.connect_timeout(),
            abandon: Arc::clone(&abandon),
        };
        let outbox = self.outbox.clone();
        let spawned = thread::Builder::new()
            .name("open-event-connect".to_owned())
            .spawn(move || {
                let result = job.run().map(Box::new);
                // The IO thread may be gone (the client stopped): then nobody wants it.
                let _ = outbox.send(Inbox::Opened { attempt, result });
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

    /// Writes one message. Pongs are already queued by tungstenite when it read the ping, so a
    /// `Pong` only flushes (sending one would make two, see `Message::Pong`).
    fn send(&mut self, id: SendId, message: Message) {
        let Link::Up(up) = &mut self.link else {
            // The transport is gone; the core forgot this send when it learned that.
            return;
        };
        let result = match message {
            Message::Pong(_) => up.ws.flush(),
            Message::Ack { text, .. } => up
                .ws
                .write(tungstenite::Message::text(text))
                .and_then(|()| up.ws.flush()),
        };
        match result {
            Ok(()) => {
                up.unflushed = false;
                up.unconfirmed = None;
                self.conn.handle_input(Instant::now(), Input::Sent(id));
            }
            // Queued: flushed on a later turn, and confirmed then. The core's write timer
            // declares the connection dead if that takes longer than `write_timeout`.
            Err(tungstenite::Error::Io(err)) if is_tick(&err) => {
                up.unflushed = true;
                up.unconfirmed = Some(id);
            }
            Err(err) => {
                let info = close_info(&err, false);
                self.fail(&info);
            }
        }
    }

    /// Sends our close frame (code 1000); the server's reply ends the transport in `read`.
    fn close(&mut self) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        up.closing = true;
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        match up.ws.close(Some(frame)) {
            Ok(()) => {}
            Err(tungstenite::Error::Io(err)) if is_tick(&err) => up.unflushed = true,
            Err(err) => {
                let info = close_info(&err, false);
                self.fail(&info);
            }
        }
    }

    /// The transport failed: drop it and tell the core.
    fn fail(&mut self, info: &CloseInfo) {
        self.link = Link::Down;
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
