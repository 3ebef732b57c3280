//! What the relay scenarios share: a real broker of either kind with a way to read back what
//! it stored, a sink wrapper that records when the broker confirmed each nonce, and relays
//! pointed at the emulator.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use open_event_core::Event;
use open_event_emulator::EmulatorHandle;
use open_event_emulator::server::AckStatus;
use open_event_relay::{
    BrokerAddress, JetStreamOptions, JetStreamSink, RedisSink, RedisSinkOptions, Relay,
    RelayBuilder, Sink, SinkError, Stored,
};
use open_event_tokio::Client;
use redis::AsyncCommands;

use crate::servers::{NatsServer, RedisServer};

/// Which broker a scenario runs against.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Redis,
    Nats,
}

/// A running broker and the name events go to.
pub enum Broker {
    Redis(RedisServer),
    Nats(NatsServer),
}

pub const STREAM: &str = "events";

impl Broker {
    pub fn start(kind: Kind) -> Self {
        match kind {
            Kind::Redis => Self::Redis(RedisServer::start()),
            Kind::Nats => Self::Nats(NatsServer::start()),
        }
    }

    /// Where events go: `redis://…/events` or `nats://…/events`.
    pub fn address(&self) -> BrokerAddress {
        let url = match self {
            Self::Redis(s) => s.url(STREAM),
            Self::Nats(s) => s.url(STREAM),
        };
        BrokerAddress::parse(&url).unwrap()
    }

    pub async fn sink(&self) -> Box<dyn Sink> {
        let address = self.address();
        match self {
            Self::Redis(_) => Box::new(
                RedisSink::connect(&address, RedisSinkOptions::default())
                    .await
                    .unwrap(),
            ),
            Self::Nats(_) => Box::new(
                JetStreamSink::connect(&address, JetStreamOptions::default())
                    .await
                    .unwrap(),
            ),
        }
    }

    pub fn kill(&mut self) {
        match self {
            Self::Redis(s) => s.kill(),
            Self::Nats(s) => s.kill(),
        }
    }

    pub fn restart(&mut self) {
        match self {
            Self::Redis(s) => s.restart(),
            Self::Nats(s) => s.restart(),
        }
    }

    /// Every nonce in the stream, in stream order.
    pub async fn stored_nonces(&self) -> Vec<String> {
        match self {
            Self::Redis(s) => {
                let mut conn = redis::Client::open(format!("redis://{}", s.addr()))
                    .unwrap()
                    .get_multiplexed_async_connection()
                    .await
                    .unwrap();
                // Page through the stream (one huge reply would hit the response timeout).
                let mut nonces = Vec::new();
                let mut start = "-".to_owned();
                loop {
                    let reply: redis::streams::StreamRangeReply =
                        conn.xrange_count(STREAM, &start, "+", 1000).await.unwrap();
                    let Some(last) = reply.ids.last() else {
                        return nonces;
                    };
                    start = format!("({}", last.id);
                    nonces.extend(reply.ids.iter().map(|e| e.get::<String>("nonce").unwrap()));
                }
            }
            Self::Nats(s) => {
                let client = async_nats::connect(s.addr().to_string()).await.unwrap();
                let js = async_nats::jetstream::new(client);
                let mut stream = js.get_stream("EVENTS").await.unwrap();
                let count = stream.info().await.unwrap().state.messages;
                if count == 0 {
                    return Vec::new();
                }
                let consumer = stream
                    .create_consumer(
                        async_nats::jetstream::consumer::pull::OrderedConfig::default(),
                    )
                    .await
                    .unwrap();
                let mut messages = consumer
                    .messages()
                    .await
                    .unwrap()
                    .take(usize::try_from(count).unwrap());
                let mut nonces = Vec::new();
                while let Some(message) = messages.next().await {
                    let message = message.unwrap();
                    let headers = message.headers.as_ref().unwrap();
                    nonces.push(headers.get("Open-Event-Nonce").unwrap().to_string());
                }
                nonces
            }
        }
    }
}

/// Wraps a real sink and records when the broker confirmed each nonce (the first time).
#[derive(Clone)]
pub struct Confirmations {
    inner: Arc<dyn Sink>,
    pub at: Arc<Mutex<HashMap<String, Instant>>>,
    /// Fail (after storing) the first this many events: the ack is lost, as if the relay had
    /// crashed between the broker's confirmation and its ack.
    lose_acks: Arc<AtomicU64>,
}

impl Confirmations {
    pub fn new(inner: Box<dyn Sink>) -> Self {
        Self {
            inner: Arc::from(inner),
            at: Arc::default(),
            lose_acks: Arc::default(),
        }
    }

    pub fn losing_acks(self, count: u64) -> Self {
        self.lose_acks.store(count, Ordering::Relaxed);
        self
    }

    pub fn confirmed_at(&self, nonce: &str) -> Option<Instant> {
        self.at.lock().unwrap().get(nonce).copied()
    }
}

impl Sink for Confirmations {
    fn store(&self, event: Event) -> BoxFuture<'static, Result<Stored, SinkError>> {
        let this = self.clone();
        Box::pin(async move {
            let nonce = event.nonce.clone();
            let stored = this.inner.store(event).await?;
            this.at
                .lock()
                .unwrap()
                .entry(nonce)
                .or_insert_with(Instant::now);
            let lose = this
                .lose_acks
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok();
            if lose {
                return Err(SinkError::Timeout(Duration::ZERO));
            }
            Ok(stored)
        })
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// A relay builder into `sink` for the emulator's app.
pub fn relay(emulator: &EmulatorHandle, sink: impl Sink) -> RelayBuilder {
    let credentials = emulator.credentials().clone();
    let url = emulator.url();
    Relay::builder(sink, move || {
        Client::builder(credentials.app_id(), credentials.app_secret().clone())
            .endpoint(url.clone())
            .seed(1)
    })
}

/// Checks what the emulator recorded against the broker's confirmations: every ack with 200
/// came after the broker confirmed that nonce.
pub fn assert_acked_after_confirmation(emulator: &EmulatorHandle, sink: &Confirmations) {
    emulator.with_report(|report| {
        for ack in report.acks.iter().filter(|a| a.code == 200) {
            let confirmed = sink
                .confirmed_at(&ack.nonce)
                .unwrap_or_else(|| panic!("{} acked 200 but never confirmed", ack.nonce));
            assert!(
                confirmed <= ack.at,
                "{} acked {:?} before the broker confirmed it",
                ack.nonce,
                confirmed - ack.at
            );
        }
    });
}

/// Each pushed nonce is in the stream exactly once, and nothing else is.
pub async fn assert_stored_once(broker: &Broker, pushed: &[String]) {
    let stored = broker.stored_nonces().await;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for nonce in &stored {
        *counts.entry(nonce.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let lost: Vec<_> = pushed
        .iter()
        .filter(|n| !counts.contains_key(n.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    assert_eq!(
        stored.len(),
        pushed.len(),
        "only the pushed events are stored"
    );
}

/// Every pushed event was completed with 200 exactly once (acks that completed an event).
pub fn assert_all_accepted(emulator: &EmulatorHandle, pushed: &[String]) {
    emulator.with_report(|report| {
        let accepted: Vec<&str> = report
            .acks
            .iter()
            .filter(|a| a.status == AckStatus::Accepted)
            .map(|a| a.nonce.as_str())
            .collect();
        assert_eq!(accepted.len(), pushed.len());
        assert_eq!(report.pending, 0);
    });
}
