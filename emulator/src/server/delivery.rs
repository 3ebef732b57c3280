//! Pending events: queueing, paced sending, acks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use open_event_core::codec::Ack;

use super::{
    AckRecord, AckStatus, ClientError, ConnId, EventSpec, Live, PUMP_BATCH, Pending, Redelivery,
    Server, ServerAction, ServerFrame, slot, unix_secs,
};

impl Server {
    // ----- events --------------------------------------------------------------------------

    pub(super) fn enqueue(&mut self, now: Instant, event: &EventSpec) -> String {
        let time = event.time.unwrap_or_else(|| unix_secs(self.wall_at(now)));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(
            seq,
            Pending {
                topic: event.topic.as_str().into(),
                operation: event.operation.as_str().into(),
                data: event.data.as_str().into(),
                time,
                sends: 0,
                last_sent: None,
            },
        );
        self.report.events_pushed += 1;
        self.nonce(seq)
    }

    pub(super) fn enqueue_many(
        &mut self,
        now: Instant,
        count: u32,
        event: &EventSpec,
    ) -> Vec<String> {
        let time = event.time.unwrap_or_else(|| unix_secs(self.wall_at(now)));
        let topic: Arc<str> = event.topic.as_str().into();
        let operation: Arc<str> = event.operation.as_str().into();
        let data: Arc<str> = event.data.as_str().into();
        let mut nonces = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.pending.insert(
                seq,
                Pending {
                    topic: Arc::clone(&topic),
                    operation: Arc::clone(&operation),
                    data: Arc::clone(&data),
                    time,
                    sends: 0,
                    last_sent: None,
                },
            );
            nonces.push(self.nonce(seq));
        }
        self.report.events_pushed += u64::from(count);
        nonces
    }

    /// Sends pending events the active connection has not had yet, in order, within the rate
    /// and the batch size.
    pub(super) fn pump(&mut self, now: Instant) {
        self.pump_more = false;
        let Some(idx) = self.active_index() else {
            return;
        };
        if self.live[idx].is_silent(now) {
            return;
        }
        let interval = self
            .config
            .push_rate
            .map(|rate| Duration::from_secs(1) / rate.get());
        let mut budget = PUMP_BATCH;
        loop {
            let Some(seq) = self
                .pending
                .range(self.live[idx].cursor..)
                .next()
                .map(|(s, _)| *s)
            else {
                // Idle: a later burst is paced from now, not from the past.
                self.next_push_at = self.next_push_at.max(now);
                break;
            };
            if interval.is_some() && self.next_push_at > now {
                break;
            }
            if budget == 0 {
                self.pump_more = true;
                break;
            }
            budget -= 1;
            self.live[idx].cursor = seq + 1;
            self.send_event(now, idx, seq);
            if let Some(interval) = interval {
                self.next_push_at += interval;
            }
        }
    }

    pub(super) fn send_event(&mut self, now: Instant, idx: usize, seq: u64) {
        let nonce = self.nonce(seq);
        let Live { id, ack_mode, .. } = self.live[idx];
        let Some(event) = self.pending.get_mut(&seq) else {
            return;
        };
        // Topic and operation were checked at the push and the nonce has 16 characters, so
        // sealing cannot fail; an event that somehow cannot be sealed is dropped, not sent.
        let Ok(frame) = self.cipher.seal(
            &event.topic,
            &event.operation,
            event.time,
            &nonce,
            &event.data,
        ) else {
            self.pending.remove(&seq);
            return;
        };
        event.sends += 1;
        event.last_sent = Some(now);
        if event.sends > 1 {
            self.report.redeliveries.push(Redelivery {
                nonce,
                conn: id,
                at: now,
                delivery: event.sends,
            });
        }
        if !ack_mode {
            // Without ACK mode a sent event is done.
            self.pending.remove(&seq);
        }
        self.report.events_sent += 1;
        self.report.connections[slot(id)].events_sent += 1;
        self.actions.push_back(ServerAction::Send {
            conn: id,
            frame: ServerFrame::Text(frame.to_json()),
        });
    }

    pub(super) fn on_ack(&mut self, now: Instant, conn: ConnId, ack: Ack) {
        let seq = self.seq_of(&ack.nonce);
        let (status, latency) = match seq.and_then(|s| self.pending.get(&s).map(|p| (s, p))) {
            Some((seq, event)) => {
                let latency = event.last_sent.map(|t| now.saturating_duration_since(t));
                if ack.code == 200 {
                    self.pending.remove(&seq);
                    (AckStatus::Accepted, latency)
                } else {
                    (AckStatus::Negative, latency)
                }
            }
            None if seq.is_some() => (AckStatus::Duplicate, None),
            None => (AckStatus::Unknown, None),
        };
        let counts = &mut self.report.ack_counts;
        match status {
            AckStatus::Accepted => counts.accepted += 1,
            AckStatus::Negative => counts.negative += 1,
            AckStatus::Duplicate => counts.duplicate += 1,
            AckStatus::Unknown => counts.unknown += 1,
        }
        self.report.connections[slot(conn)].acks += 1;
        if self.config.record_acks {
            self.report.acks.push(AckRecord {
                conn,
                at: now,
                nonce: ack.nonce,
                code: ack.code,
                msg: ack.msg,
                status,
                latency,
            });
        }
    }

    pub(super) fn client_error(&mut self, now: Instant, conn: ConnId, problem: String) {
        self.report.client_errors.push(ClientError {
            conn,
            at: now,
            problem,
        });
    }

    pub(super) fn nonce(&self, seq: u64) -> String {
        format!("{:016x}", self.config.nonce_base().wrapping_add(seq))
    }

    /// The sequence number of one of our event nonces.
    pub(super) fn seq_of(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != 16
            || !nonce
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let value = u64::from_str_radix(nonce, 16).ok()?;
        let seq = value.wrapping_sub(self.config.nonce_base());
        (1..self.next_seq).contains(&seq).then_some(seq)
    }
}
