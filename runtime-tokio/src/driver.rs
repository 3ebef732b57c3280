//! The loop that drives one `Connection` on tokio (the core's drive-loop contract).
//!
//! The loop owns the whole WebSocket: it reads it (when not paused) and writes to it through
//! the `Sink` half (`poll_ready` / `start_send` / `poll_flush`), both from one future polled
//! in its `select!`, so a write that waits for the socket never holds up reading, the timer or
//! the handlers' outcomes. What may take long runs elsewhere and reports back through
//! channels: the connect attempt is a task per transport, handlers are tasks per delivery
//! (they run in parallel on a multi-thread runtime).

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use async_tungstenite::tungstenite::Error as WsError;
use async_tungstenite::tungstenite::Message as WsMessage;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use futures_util::{SinkExt, StreamExt};
use open_event_core::config::Config;
use open_event_core::connection::{
    Action, CloseInfo, Connection, DeliveryToken, Input, Message, OpenError, Outcome, SendId,
    StopReason,
};
use open_event_transport::{Notifier, StatusBoard, close_frame_info, close_info};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::Dispatcher;
use crate::connect::{Connector, Ws};

/// Everything one `run` needs.
pub(crate) struct Driver {
    pub(crate) config: Arc<Config>,
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) connector: Connector,
    pub(crate) notifier: Notifier,
    pub(crate) seed: u64,
    /// The stop request from the handles, and the snapshot published for them.
    pub(crate) status: Arc<StatusBoard>,
}

/// What a connect attempt reports, tagged with its transport's generation.
struct Opened(u64, Result<Box<Ws>, OpenError>);

/// The current transport (open or being opened).
enum Transport {
    None,
    Connecting { task: JoinHandle<()> },
    Open(Box<Link>),
}

impl Transport {
    /// Drops the transport at once (aborting its connect attempt, or closing the socket).
    fn drop_now(&mut self) {
        if let Self::Connecting { task } = std::mem::replace(self, Self::None) {
            task.abort();
        }
    }
}

/// Something to write, in the order the core emitted it.
enum Outgoing {
    /// An ack text frame; `Sent` once flushed.
    Ack(SendId, String),
    /// Flush only: writes the pong tungstenite queued itself when it read the ping (sending our
    /// own would make two, or replace it). `Sent` once flushed.
    Pong(SendId),
    /// Our close frame (code 1000).
    Close,
}

/// One open WebSocket with its write queue.
struct Link {
    ws: Box<Ws>,
    queue: VecDeque<Outgoing>,
    /// The last send handed to the socket and not yet flushed.
    unflushed: Option<SendId>,
    /// Something was handed to the socket since the last flush.
    dirty: bool,
    /// The peer's close frame, once one arrived (the stream ends after it).
    close: Option<CloseInfo>,
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

impl Link {
    fn new(ws: Box<Ws>) -> Self {
        Self {
            ws,
            queue: VecDeque::new(),
            unflushed: None,
            dirty: false,
            close: None,
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
                Some(Outgoing::Close) => {
                    let frame = CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    };
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

/// The loop's state between turns.
struct State {
    conn: Connection,
    transport: Transport,
    /// Counts transports; a connect attempt's report names the one it was made for.
    generation: u64,
    /// The core asked us to stop reading.
    paused: bool,
    opened_tx: mpsc::UnboundedSender<Opened>,
    outcome_tx: mpsc::UnboundedSender<(DeliveryToken, Outcome)>,
}

impl Driver {
    pub(crate) async fn run(self) -> Result<(), StopReason> {
        tracing::debug!(target: "open_event", seed = self.seed, "starting the event connection");
        let (opened_tx, mut opened_rx) = mpsc::unbounded_channel::<Opened>();
        let (outcome_tx, mut outcome_rx) = mpsc::unbounded_channel::<(DeliveryToken, Outcome)>();
        let mut st = State {
            conn: Connection::new(Arc::clone(&self.config), Instant::now(), self.seed),
            transport: Transport::None,
            generation: 0,
            paused: false,
            opened_tx,
            outcome_tx,
        };
        let mut stop_seen = false;

        let sleep = tokio::time::sleep(std::time::Duration::ZERO);
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;

        loop {
            if !stop_seen && self.status.stop_requested() {
                stop_seen = true;
                st.conn.close(Instant::now());
            }
            // Perform every action the last input or command produced, in order.
            self.perform(&mut st);
            self.status.publish(st.conn.state(), st.conn.stats());
            if st.conn.is_stopped() {
                break;
            }

            // The single timer: re-armed only when the deadline changed, and the clock is
            // checked here first rather than trusting the sleep (quinn's `drive_timer`).
            let deadline = st.conn.poll_timeout();
            if let Some(at) = deadline
                && Instant::now() >= at
            {
                st.conn.handle_timeout(Instant::now());
                continue;
            }
            if deadline != armed {
                armed = deadline;
                if let Some(at) = deadline {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(at));
                }
            }
            let reading = !st.paused;
            let open = matches!(st.transport, Transport::Open(_));

            tokio::select! {
                // Wakes the loop for a stop request; the top of the loop acts on it.
                () = std::future::poll_fn(|cx| self.status.poll_stop(cx)), if !stop_seen => {}
                Some((token, outcome)) = outcome_rx.recv() => {
                    self.complete(&mut st, token, outcome);
                    // Every other outcome ready now, in the same turn: their acks then go
                    // out in one flush.
                    while let Ok((token, outcome)) = outcome_rx.try_recv() {
                        self.perform(&mut st);
                        self.complete(&mut st, token, outcome);
                    }
                }
                Some(opened) = opened_rx.recv() => on_opened(&mut st, opened),
                io = std::future::poll_fn(|cx| poll_io(&mut st.transport, reading, cx)), if open => {
                    on_io(&mut st, io);
                }
                () = &mut sleep, if armed.is_some() => {
                    st.conn.handle_timeout(Instant::now());
                }
            }
        }
        st.transport.drop_now();
        match st.conn.stop_reason() {
            Some(StopReason::Requested) | None => Ok(()),
            Some(reason) => Err(reason.clone()),
        }
    }

    /// Feeds one handler's outcome to the core.
    fn complete(&self, st: &mut State, token: DeliveryToken, outcome: Outcome) {
        // Tokens come from this connection and are completed once: cannot fail.
        if let Err(err) = st.conn.complete(Instant::now(), token, outcome) {
            tracing::error!(target: "open_event", "{err}");
        }
    }

    /// Performs every queued action, in order.
    fn perform(&self, st: &mut State) {
        while let Some(action) = st.conn.poll_action() {
            match action {
                Action::Connect(request) => {
                    st.transport.drop_now();
                    st.generation += 1;
                    let connector = self.connector.clone();
                    let reports = st.opened_tx.clone();
                    let id = st.generation;
                    let task = tokio::spawn(async move {
                        let result = connector.open(request).await.map(Box::new);
                        let _ = reports.send(Opened(id, result));
                    });
                    st.transport = Transport::Connecting { task };
                }
                Action::Send(transmit) => {
                    if let Transport::Open(link) = &mut st.transport {
                        link.queue.push_back(match transmit.message {
                            Message::Pong(_) => Outgoing::Pong(transmit.id),
                            Message::Ack { text, .. } => Outgoing::Ack(transmit.id, text),
                        });
                    }
                }
                Action::Deliver(delivery) => {
                    let outcome = self.dispatcher.handle(delivery.event);
                    let outcomes = st.outcome_tx.clone();
                    let token = delivery.token;
                    tokio::spawn(async move {
                        // `handle` turns errors and panics into outcomes.
                        let outcome = outcome.await;
                        let _ = outcomes.send((token, outcome));
                    });
                }
                Action::PauseReading => st.paused = true,
                Action::ResumeReading => st.paused = false,
                Action::Close => {
                    if let Transport::Open(link) = &mut st.transport {
                        link.queue.push_back(Outgoing::Close);
                    }
                }
                Action::Disconnect => st.transport.drop_now(),
                Action::Notify(notice) => self.notifier.notify(&notice),
            }
        }
    }
}

/// Feeds what a connect attempt reported; reports of an abandoned attempt are ignored.
fn on_opened(st: &mut State, Opened(id, result): Opened) {
    if id != st.generation || !matches!(st.transport, Transport::Connecting { .. }) {
        return;
    }
    let now = Instant::now();
    match result {
        Ok(ws) => {
            st.transport = Transport::Open(Box::new(Link::new(ws)));
            st.conn.handle_input(now, Input::Opened);
        }
        Err(err) => {
            st.transport = Transport::None;
            st.conn.handle_input(now, Input::OpenFailed(&err));
        }
    }
}

/// Writes and reads the open transport (only polled while one is open).
fn poll_io(transport: &mut Transport, reading: bool, cx: &mut Context<'_>) -> Poll<Io> {
    match transport {
        Transport::Open(link) => link.poll_io(reading, cx),
        _ => Poll::Pending,
    }
}

/// Feeds what the open transport produced.
fn on_io(st: &mut State, io: Io) {
    let now = Instant::now();
    let Transport::Open(link) = &mut st.transport else {
        return;
    };
    let ended = match io {
        Io::Flushed(id) => {
            st.conn.handle_input(now, Input::Sent(id));
            return;
        }
        Io::WriteFailed(err) => {
            // After the peer's close frame, writes fail by design: report the close instead.
            link.close.take().unwrap_or_else(|| close_info(&err, false))
        }
        Io::Read(Some(Ok(message))) => {
            match message {
                WsMessage::Text(text) => st.conn.handle_input(now, Input::Text(text.as_str())),
                WsMessage::Binary(data) => st.conn.handle_input(now, Input::Binary(&data)),
                // async-tungstenite has already queued the pong for this ping; the core's
                // `Send(Pong)` that follows only flushes it (see `Link::poll_write`).
                WsMessage::Ping(data) => st.conn.handle_input(now, Input::Ping(&data)),
                WsMessage::Pong(data) => st.conn.handle_input(now, Input::Pong(&data)),
                WsMessage::Close(frame) => {
                    // Keep reading: the next read sends tungstenite's close reply and ends
                    // the stream.
                    link.close = Some(close_frame_info(frame.as_ref()));
                }
                WsMessage::Frame(_) => {}
            }
            return;
        }
        Io::Read(None) => link
            .close
            .take()
            .unwrap_or_else(|| CloseInfo::clean(None, "")),
        Io::Read(Some(Err(err))) => match link.close.take() {
            Some(frame) if !close_info(&err, true).error => frame,
            Some(_) | None => close_info(&err, false),
        },
    };
    st.transport.drop_now();
    st.conn.handle_input(now, Input::Closed(&ended));
}
