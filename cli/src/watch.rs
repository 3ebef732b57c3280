//! What the client did, as the emulator saw it: turns the growing emulator report into log
//! lines (handshakes and their validity, acks with codes, pongs per ping, GoAways, connection
//! ends, redeliveries), each at the moment it happened. Shared by `demo` and `emulate`.

use std::time::{Duration, Instant};

use open_event_emulator::server::{AckStatus, ConnectionEnd, HandshakeResult, PreviousEnd, Report};

use crate::duration::human;
use crate::narrator::{Actor, Narrator, Tone};

/// One thing the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observation {
    pub(crate) at: Instant,
    pub(crate) tone: Tone,
    pub(crate) tag: &'static str,
    pub(crate) text: String,
}

/// Remembers how much of the report was already told.
#[derive(Debug, Default)]
pub(crate) struct ReportWatcher {
    handshakes: usize,
    acks: usize,
    redeliveries: usize,
    client_errors: usize,
    script: usize,
    conns: Vec<ConnSeen>,
}

#[derive(Debug, Default, Clone)]
struct ConnSeen {
    pings: usize,
    goaway: bool,
    ended: bool,
}

impl ReportWatcher {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Everything new in `report` since the last call, oldest first.
    pub(crate) fn poll(&mut self, report: &Report, now: Instant) -> Vec<Observation> {
        let mut out = Vec::new();
        self.handshakes(report, &mut out);
        self.connections(report, now, &mut out);
        for r in report.redeliveries.iter().skip(self.redeliveries) {
            out.push(Observation {
                at: r.at,
                tone: Tone::Notable,
                tag: "redeliver",
                text: format!(
                    "{} again on {} (send #{}): it was never acked with 200",
                    r.nonce, r.conn, r.delivery
                ),
            });
        }
        self.redeliveries = report.redeliveries.len();
        for a in report.acks.iter().skip(self.acks) {
            let latency = a
                .latency
                .map(|l| format!(", {} after the send", human_ms(l)))
                .unwrap_or_default();
            let msg = a
                .msg
                .as_ref()
                .map(|m| format!(": {m:?}"))
                .unwrap_or_default();
            let (tone, note) = match a.status {
                AckStatus::Accepted => (Tone::Good, ""),
                AckStatus::Negative => (
                    Tone::Bad,
                    " (the event stays pending: redelivered on the next connection)",
                ),
                AckStatus::Duplicate => (Tone::Notable, " (the event was already acked)"),
                AckStatus::Unknown => (Tone::Bad, " (no event has this nonce)"),
                _ => (Tone::Info, ""),
            };
            out.push(Observation {
                at: a.at,
                tone,
                tag: "ack",
                text: format!(
                    "{} for {} on {}{latency}{msg}{note}",
                    a.code, a.nonce, a.conn
                ),
            });
        }
        self.acks = report.acks.len();
        for e in report.client_errors.iter().skip(self.client_errors) {
            out.push(Observation {
                at: e.at,
                tone: Tone::Bad,
                tag: "bad frame",
                text: format!("from the client on {}: {}", e.conn, e.problem),
            });
        }
        self.client_errors = report.client_errors.len();
        for s in report.script.iter().skip(self.script) {
            if let Some(reason) = &s.skipped {
                out.push(Observation {
                    at: s.at,
                    tone: Tone::Bad,
                    tag: "script",
                    text: format!("step {} ({}) skipped: {reason}", s.index, s.step),
                });
            }
        }
        self.script = report.script.len();
        out.sort_by_key(|o| o.at);
        out
    }

    fn handshakes(&mut self, report: &Report, out: &mut Vec<Observation>) {
        for h in report.handshakes.iter().skip(self.handshakes) {
            let after = report
                .reconnects
                .iter()
                .find(|r| r.handshake_at == h.at)
                .map(|r| {
                    let what = match r.after {
                        PreviousEnd::Connection(id) => format!("{id} ended"),
                        PreviousEnd::Rejected { status } => format!("the {status} rejection"),
                        _ => "the previous attempt".to_owned(),
                    };
                    format!(", {} after {what}", human_ms(r.delay))
                })
                .unwrap_or_default();
            let (tone, tag, text) = match &h.result {
                HandshakeResult::Accepted(id) => (
                    Tone::Good,
                    "handshake",
                    format!(
                        "valid KSO-1 signature{} -> {id}{after}",
                        if h.ack_mode {
                            ", ACK mode"
                        } else {
                            ", no ACK mode"
                        }
                    ),
                ),
                HandshakeResult::Rejected {
                    status,
                    reason,
                    scripted,
                } => (
                    Tone::Bad,
                    "handshake",
                    format!(
                        "rejected with HTTP {status}{}: {reason}{after}",
                        if *scripted { " (scripted)" } else { "" }
                    ),
                ),
                _ => (Tone::Info, "handshake", format!("answered{after}")),
            };
            out.push(Observation {
                at: h.at,
                tone,
                tag,
                text,
            });
        }
        self.handshakes = report.handshakes.len();
    }

    fn connections(&mut self, report: &Report, now: Instant, out: &mut Vec<Observation>) {
        if self.conns.len() < report.connections.len() {
            self.conns
                .resize(report.connections.len(), ConnSeen::default());
        }
        for (c, seen) in report.connections.iter().zip(self.conns.iter_mut()) {
            if let (Some(goaway), false) = (&c.goaway, seen.goaway) {
                seen.goaway = true;
                let reconnect = goaway
                    .reconnect_ms
                    .map(|ms| format!(", reconnect_ms {ms}"))
                    .unwrap_or_default();
                out.push(Observation {
                    at: now,
                    tone: Tone::Notable,
                    tag: "goaway",
                    text: format!("{} sent on {}{reconnect}", goaway.reason, c.id),
                });
            }
            while let Some(ping) = c.pings.get(seen.pings) {
                let payload = String::from_utf8_lossy(&ping.payload);
                match ping.pongs.as_slice() {
                    [] if c.is_open() => break,
                    [] => out.push(Observation {
                        at: c.closed_at.unwrap_or(now),
                        tone: Tone::Notable,
                        tag: "ping",
                        text: format!("{payload} on {} got no pong before it ended", c.id),
                    }),
                    [pong] => out.push(Observation {
                        at: *pong,
                        tone: Tone::Quiet,
                        tag: "ping",
                        text: format!(
                            "{payload} -> 1 pong, {}",
                            human_ms(pong.saturating_duration_since(ping.sent_at))
                        ),
                    }),
                    pongs => out.push(Observation {
                        at: pongs[0],
                        tone: Tone::Bad,
                        tag: "ping",
                        text: format!(
                            "{payload} -> {} pongs (a client must send exactly one)",
                            pongs.len()
                        ),
                    }),
                }
                seen.pings += 1;
            }
            if let (Some(end), Some(at), false) = (&c.end, c.closed_at, seen.ended) {
                seen.ended = true;
                let (tone, text) = match end {
                    ConnectionEnd::Dropped => (
                        Tone::Notable,
                        format!("{} dropped by the server (no close frame)", c.id),
                    ),
                    ConnectionEnd::ClosedByServer { code } => (
                        Tone::Quiet,
                        format!("{} closed by the server (code {code})", c.id),
                    ),
                    ConnectionEnd::ClosedByClient { code, reason } => {
                        let code =
                            code.map_or_else(|| "no code".to_owned(), |c| format!("code {c}"));
                        let reason = if reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {reason}")
                        };
                        (
                            Tone::Quiet,
                            format!("{} closed by the client ({code}{reason})", c.id),
                        )
                    }
                    ConnectionEnd::Lost { reason } => {
                        (Tone::Notable, format!("{} lost: {reason}", c.id))
                    }
                    _ => (Tone::Quiet, format!("{} ended", c.id)),
                };
                out.push(Observation {
                    at,
                    tone,
                    tag: "closed",
                    text,
                });
            }
        }
    }
}

/// Prints observations as server lines.
pub(crate) fn tell(narrator: &Narrator, observations: Vec<Observation>) {
    for o in observations {
        narrator.line_at(o.at, Actor::Server, o.tone, o.tag, &o.text, &[]);
    }
}

/// The server's side of a run in a few lines.
pub(crate) fn summary(report: &Report) -> Vec<String> {
    let pongs = report.pongs_per_ping();
    let answered = pongs.iter().filter(|&&n| n > 0).count();
    let exactly_one = pongs.iter().all(|&n| n <= 1);
    let delays: Vec<String> = report
        .reconnect_delays()
        .into_iter()
        .map(human_ms)
        .collect();
    let counts = report.ack_counts;
    vec![
        format!(
            "handshakes: {} accepted, {} rejected",
            report.accepted(),
            report.rejected()
        ),
        format!(
            "events: {} pushed, {} sent ({} redelivered), {} still pending",
            report.events_pushed,
            report.events_sent,
            report.redeliveries.len(),
            report.pending
        ),
        format!(
            "acks: {} x 200, {} negative, {} duplicate, {} unknown",
            counts.accepted, counts.negative, counts.duplicate, counts.unknown
        ),
        format!(
            "heartbeats: {} pings, {answered} answered, {}",
            pongs.len(),
            if exactly_one {
                "never more than one pong per ping"
            } else {
                "SOME PINGS GOT SEVERAL PONGS"
            }
        ),
        if delays.is_empty() {
            "reconnects: none".to_owned()
        } else {
            format!("reconnect delays: {}", delays.join(", "))
        },
    ]
}

/// Milliseconds with one decimal under 10 ms, whole above.
fn human_ms(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1_000.0)
    } else if d < Duration::from_secs(10) {
        format!("{} ms", d.as_millis())
    } else {
        human(d)
    }
}
