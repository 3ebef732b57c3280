//! [`Tail`]: read back what a relay stored, from the start of the stream and then as it grows
//! (for `openevent relay tail` and for trying the pattern; real workers use consumer groups,
//! see the `redis_worker` example).

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};

use crate::address::{Broker, BrokerAddress};
use crate::jetstream::{client, default_stream_name};
use crate::sink::SinkError;
use crate::streams::manager;

/// One stored event as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredEvent {
    /// Its position: the Redis stream entry id, or the JetStream sequence number.
    pub id: String,
    /// The event code (`kso.app_chat.message.create`).
    pub code: String,
    /// The platform's nonce.
    pub nonce: String,
    /// The event time in seconds since the Unix epoch.
    pub time: i64,
    /// The decrypted payload.
    pub data: String,
}

enum Source {
    Redis {
        conn: ConnectionManager,
        stream: String,
        last: String,
        buffered: std::collections::VecDeque<StoredEvent>,
    },
    Nats {
        messages: Box<consumer::pull::Ordered>,
    },
}

/// Reads a Redis stream or a JetStream stream from its first entry on, then waits for more.
pub struct Tail {
    source: Source,
    shown: String,
}

impl Tail {
    /// Opens the stream `address` names: `redis://HOST:PORT/STREAM`, or
    /// `nats://HOST:PORT/SUBJECT` with the stream `stream` (default: the name
    /// [`JetStreamSink`](crate::JetStreamSink) gives it).
    ///
    /// # Errors
    /// [`SinkError::Broker`] when the broker cannot be reached or the stream does not exist.
    pub async fn open(address: &BrokerAddress, stream: Option<&str>) -> Result<Self, SinkError> {
        let shown = address.to_string();
        let source = match address.broker() {
            Broker::Redis => Source::Redis {
                conn: manager(address, Duration::from_secs(2), Duration::from_secs(10))?,
                stream: address.name().to_owned(),
                last: "0".to_owned(),
                buffered: std::collections::VecDeque::new(),
            },
            Broker::Nats => {
                let js = jetstream::new(client(address, Duration::from_secs(5)).await?);
                let subject = address.name().trim_end_matches(".>");
                let name = stream.map_or_else(|| default_stream_name(subject), str::to_owned);
                let stream = js.get_stream(&name).await.map_err(|err| {
                    SinkError::nats(format!("no stream {name} at {address}: {err}"))
                })?;
                let consumer = stream
                    .create_consumer(consumer::pull::OrderedConfig::default())
                    .await
                    .map_err(SinkError::nats)?;
                let messages = consumer.messages().await.map_err(SinkError::nats)?;
                Source::Nats {
                    messages: Box::new(messages),
                }
            }
        };
        Ok(Self { source, shown })
    }

    /// The next stored event, waiting for one when the stream has no more yet.
    ///
    /// # Errors
    /// [`SinkError::Broker`] when reading fails.
    pub async fn next(&mut self) -> Result<StoredEvent, SinkError> {
        match &mut self.source {
            Source::Redis {
                conn,
                stream,
                last,
                buffered,
            } => loop {
                if let Some(event) = buffered.pop_front() {
                    return Ok(event);
                }
                let options = StreamReadOptions::default().count(500).block(5_000);
                let reply: Option<StreamReadReply> = redis::cmd("XREAD")
                    .arg(&options)
                    .arg("STREAMS")
                    .arg(&*stream)
                    .arg(&*last)
                    .query_async(conn)
                    .await
                    .map_err(SinkError::redis)?;
                for key in reply.into_iter().flat_map(|r| r.keys) {
                    for entry in key.ids {
                        let field = |name: &str| entry.get::<String>(name).unwrap_or_default();
                        *last = entry.id.clone();
                        buffered.push_back(StoredEvent {
                            code: field("code"),
                            nonce: field("nonce"),
                            time: field("time").parse().unwrap_or_default(),
                            data: field("data"),
                            id: entry.id.clone(),
                        });
                    }
                }
            },
            Source::Nats { messages } => {
                let message = messages
                    .next()
                    .await
                    .ok_or_else(|| SinkError::nats("the stream's consumer ended"))?
                    .map_err(SinkError::nats)?;
                let header = |name: &str| {
                    message
                        .headers
                        .as_ref()
                        .and_then(|h| h.get(name))
                        .map(ToString::to_string)
                        .unwrap_or_default()
                };
                let id = message
                    .info()
                    .map(|info| info.stream_sequence.to_string())
                    .unwrap_or_default();
                Ok(StoredEvent {
                    id,
                    code: header("Open-Event-Code"),
                    nonce: header("Open-Event-Nonce"),
                    time: header("Open-Event-Time").parse().unwrap_or_default(),
                    data: String::from_utf8_lossy(&message.payload).into_owned(),
                })
            }
        }
    }
}

impl fmt::Debug for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tail")
            .field("stream", &self.shown)
            .finish_non_exhaustive()
    }
}
