//! The loop that drives one `Connection` on tokio (the core's drive-loop contract), plus the
//! writer task of each transport.
//!
//! Everything that can block runs elsewhere and reports back through channels: the connect
//! attempt and the writer are tasks per transport, handlers are tasks per delivery. The loop
//! itself only reads the WebSocket (when not paused), feeds the core and performs its actions.

use std::sync::Arc;
use std::time::Instant;

use async_tungstenite::WebSocketReceiver;
use async_tungstenite::WebSocketSender;
use async_tungstenite::tokio::TokioAdapter;
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
use crate::connect::{Connector, MaybeTls, Ws};

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

/// What the per-transport tasks report, tagged with their transport's generation.
enum Report {
    Opened(u64, Result<Box<Ws>, OpenError>),
    Sent(u64, SendId),
    WriteFailed(u64, CloseInfo),
}

/// What the writer task is asked to do.
enum WriteCmd {
    /// Write a text frame; `Sent` once flushed.
    Text(SendId, String),
    /// Flush only: writes the pong tungstenite queued itself when it read the ping (sending our
    /// own would make two, or replace it). `Sent` once flushed.
    Flush(SendId),
    /// Send a close frame with code 1000.
    Close,
}

/// The current transport (open or being opened).
enum Transport {
    None,
    Connecting {
        task: JoinHandle<()>,
    },
    Open {
        reader: WebSocketReceiver<TokioAdapter<MaybeTls>>,
        writer: mpsc::UnboundedSender<WriteCmd>,
        writer_task: JoinHandle<()>,
        /// The peer's close frame, once one arrived (the stream ends after it).
        close: Option<CloseInfo>,
    },
}

impl Transport {
    /// Drops the transport at once (aborting its connect attempt or writer).
    fn drop_now(&mut self) {
        match std::mem::replace(self, Self::None) {
            Self::None => {}
            Self::Connecting { task } => task.abort(),
            Self::Open { writer_task, .. } => writer_task.abort(),
        }
    }
}

impl Driver {
    pub(crate) async fn run(self) -> Result<(), StopReason> {
        tracing::debug!(target: "open_event", seed = self.seed, "starting the event connection");
        let mut conn = Connection::new(Arc::clone(&self.config), Instant::now(), self.seed);
        let (report_tx, mut report_rx) = mpsc::unbounded_channel::<Report>();
        let (outcome_tx, mut outcome_rx) = mpsc::unbounded_channel::<(DeliveryToken, Outcome)>();
        let mut transport = Transport::None;
        let mut generation = 0u64;
        let mut paused = false;
        let mut stop_seen = false;

        let sleep = tokio::time::sleep(std::time::Duration::ZERO);
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;

        loop {
            if !stop_seen && self.status.stop_requested() {
                stop_seen = true;
                conn.close(Instant::now());
            }
            // Perform every action the last input or command produced, in order.
            while let Some(action) = conn.poll_action() {
                match action {
                    Action::Connect(request) => {
                        transport.drop_now();
                        generation += 1;
                        let connector = self.connector.clone();
                        let reports = report_tx.clone();
                        let id = generation;
                        let task = tokio::spawn(async move {
                            let result = connector.open(request).await.map(Box::new);
                            let _ = reports.send(Report::Opened(id, result));
                        });
                        transport = Transport::Connecting { task };
                    }
                    Action::Send(transmit) => {
                        if let Transport::Open { writer, .. } = &transport {
                            let cmd = match transmit.message {
                                Message::Pong(_) => WriteCmd::Flush(transmit.id),
                                Message::Ack { text, .. } => WriteCmd::Text(transmit.id, text),
                            };
                            // A closed writer already reported its failure.
                            let _ = writer.send(cmd);
                        }
                    }
                    Action::Deliver(delivery) => {
                        let outcome = self.dispatcher.handle(delivery.event);
                        let outcomes = outcome_tx.clone();
                        let token = delivery.token;
                        tokio::spawn(async move {
                            // `handle` turns errors and panics into outcomes.
                            let outcome = outcome.await;
                            let _ = outcomes.send((token, outcome));
                        });
                    }
                    Action::PauseReading => paused = true,
                    Action::ResumeReading => paused = false,
                    Action::Close => {
                        if let Transport::Open { writer, .. } = &transport {
                            let _ = writer.send(WriteCmd::Close);
                        }
                    }
                    Action::Disconnect => transport.drop_now(),
                    Action::Notify(notice) => self.notifier.notify(&notice),
                }
            }
            self.status.publish(conn.state(), conn.stats());
            if conn.is_stopped() {
                break;
            }

            // The single timer: re-armed only when the deadline changed, and the clock is
            // checked here first rather than trusting the sleep (quinn's `drive_timer`).
            let deadline = conn.poll_timeout();
            if let Some(at) = deadline
                && Instant::now() >= at
            {
                conn.handle_timeout(Instant::now());
                continue;
            }
            if deadline != armed {
                armed = deadline;
                if let Some(at) = deadline {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(at));
                }
            }
            let reading = !paused && matches!(transport, Transport::Open { .. });

            tokio::select! {
                // Wakes the loop for a stop request; the top of the loop acts on it.
                () = std::future::poll_fn(|cx| self.status.poll_stop(cx)), if !stop_seen => {}
                Some((token, outcome)) = outcome_rx.recv() => {
                    // Tokens come from this connection and are completed once: cannot fail.
                    if let Err(err) = conn.complete(Instant::now(), token, outcome) {
                        tracing::error!(target: "open_event", "{err}");
                    }
                }
                Some(report) = report_rx.recv() => {
                    on_report(&mut conn, &mut transport, generation, report, &report_tx);
                }
                message = next_message(&mut transport), if reading => {
                    on_message(&mut conn, &mut transport, message);
                }
                () = &mut sleep, if armed.is_some() => {
                    conn.handle_timeout(Instant::now());
                }
            }
        }
        transport.drop_now();
        match conn.stop_reason() {
            Some(StopReason::Requested) | None => Ok(()),
            Some(reason) => Err(reason.clone()),
        }
    }
}

type ReportSender = mpsc::UnboundedSender<Report>;

/// Feeds what a transport task reported; reports of an abandoned transport are ignored.
fn on_report(
    conn: &mut Connection,
    transport: &mut Transport,
    generation: u64,
    report: Report,
    reports: &ReportSender,
) {
    let now = Instant::now();
    match report {
        Report::Opened(id, _) | Report::Sent(id, _) | Report::WriteFailed(id, _)
            if id != generation => {}
        Report::Opened(_, Ok(ws)) => {
            if !matches!(transport, Transport::Connecting { .. }) {
                return;
            }
            let (sink, reader) = (*ws).split();
            let (writer, commands) = mpsc::unbounded_channel();
            let writer_task = tokio::spawn(write_loop(sink, commands, reports.clone(), generation));
            *transport = Transport::Open {
                reader,
                writer,
                writer_task,
                close: None,
            };
            conn.handle_input(now, Input::Opened);
        }
        Report::Opened(_, Err(err)) => {
            if matches!(transport, Transport::Connecting { .. }) {
                *transport = Transport::None;
                conn.handle_input(now, Input::OpenFailed(&err));
            }
        }
        // The transport was dropped after this report was queued.
        Report::Sent(..) | Report::WriteFailed(..)
            if !matches!(transport, Transport::Open { .. }) => {}
        Report::Sent(_, id) => conn.handle_input(now, Input::Sent(id)),
        Report::WriteFailed(_, info) => {
            // After the peer's close frame, writes fail by design: report the close instead.
            let info = match transport {
                Transport::Open {
                    close: Some(frame), ..
                } => frame.clone(),
                _ => info,
            };
            transport.drop_now();
            conn.handle_input(now, Input::Closed(&info));
        }
    }
}

/// The next message of the open transport (only polled while one is open).
async fn next_message(
    transport: &mut Transport,
) -> Option<Result<WsMessage, async_tungstenite::tungstenite::Error>> {
    match transport {
        Transport::Open { reader, .. } => reader.next().await,
        _ => std::future::pending().await,
    }
}

fn on_message(
    conn: &mut Connection,
    transport: &mut Transport,
    message: Option<Result<WsMessage, async_tungstenite::tungstenite::Error>>,
) {
    let now = Instant::now();
    let Transport::Open { close, .. } = transport else {
        return;
    };
    match message {
        Some(Ok(WsMessage::Text(text))) => conn.handle_input(now, Input::Text(text.as_str())),
        Some(Ok(WsMessage::Binary(data))) => conn.handle_input(now, Input::Binary(&data)),
        Some(Ok(WsMessage::Ping(data))) => conn.handle_input(now, Input::Ping(&data)),
        Some(Ok(WsMessage::Pong(data))) => conn.handle_input(now, Input::Pong(&data)),
        Some(Ok(WsMessage::Close(frame))) => {
            // Keep reading: the next read sends tungstenite's close reply and ends the stream.
            *close = Some(close_frame_info(frame.as_ref()));
        }
        Some(Ok(WsMessage::Frame(_))) => {}
        None => {
            let info = close.take().unwrap_or_else(|| CloseInfo::clean(None, ""));
            transport.drop_now();
            conn.handle_input(now, Input::Closed(&info));
        }
        Some(Err(err)) => {
            let seen = close.take();
            let info = match seen {
                Some(frame) if !close_info(&err, true).error => frame,
                Some(_) | None => close_info(&err, false),
            };
            transport.drop_now();
            conn.handle_input(now, Input::Closed(&info));
        }
    }
}

/// Writes what the loop sends, in order; batches what is queued into one flush and reports
/// the last id as `Sent` (the core confirms every earlier id with it).
async fn write_loop(
    mut sink: WebSocketSender<TokioAdapter<MaybeTls>>,
    mut commands: mpsc::UnboundedReceiver<WriteCmd>,
    reports: ReportSender,
    generation: u64,
) {
    while let Some(first) = commands.recv().await {
        let mut last = None;
        let mut next = Some(first);
        let mut result = Ok(());
        while let Some(cmd) = next.take() {
            result = match cmd {
                WriteCmd::Text(id, text) => {
                    last = Some(id);
                    sink.feed(WsMessage::text(text)).await
                }
                WriteCmd::Flush(id) => {
                    last = Some(id);
                    Ok(())
                }
                WriteCmd::Close => {
                    let frame = CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    };
                    sink.feed(WsMessage::Close(Some(frame))).await
                }
            };
            if result.is_err() {
                break;
            }
            next = commands.try_recv().ok();
        }
        if result.is_ok() {
            result = sink.flush().await;
        }
        match result {
            Ok(()) => {
                if let Some(id) = last {
                    let _ = reports.send(Report::Sent(generation, id));
                }
            }
            Err(err) => {
                let _ = reports.send(Report::WriteFailed(generation, close_info(&err, false)));
                return;
            }
        }
    }
}
