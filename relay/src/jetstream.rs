//! [`JetStreamSink`]: events into a NATS JetStream stream, once per nonce.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use open_event_core::Event;

use crate::address::{Broker, BrokerAddress};
use crate::sink::{Sink, SinkError, Stored};

/// Settings of a [`JetStreamSink`].
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    /// The stream's name; `None` (default): the subject upper-cased, other characters than
    /// letters, digits, `-` and `_` replaced with `_` (`wps.events` → `WPS_EVENTS`).
    pub stream: Option<String>,
    /// The stream's duplicate window when this sink creates it. Default 10 minutes.
    pub dedup_window: Duration,
    /// Client request timeout (publish acks included). Default 2 s.
    pub request_timeout: Duration,
}

impl Default for JetStreamOptions {
    fn default() -> Self {
        Self {
            stream: None,
            dedup_window: Duration::from_secs(600),
            request_timeout: Duration::from_secs(2),
        }
    }
}

/// Publishes every event to `SUBJECT.<event code>` with the header `Nats-Msg-Id: <nonce>`, so
/// the stream's duplicate window drops a redelivered or retried event, and resolves on the
/// stream's `PublishAck`. The payload is the event's data; the headers `Open-Event-Code`,
/// `Open-Event-Nonce` and `Open-Event-Time` carry the rest.
///
/// [`JetStreamSink::connect`] creates the stream (subjects `SUBJECT.>`, file storage) when it
/// does not exist. The client reconnects by itself with backoff; a publish during an outage
/// fails and the event is acked with 500.
///
/// ```no_run
/// use open_event_relay::{BrokerAddress, JetStreamOptions, JetStreamSink};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let address = BrokerAddress::parse("nats://127.0.0.1:4222/wps")?;
/// let sink = JetStreamSink::connect(&address, JetStreamOptions::default()).await?;
/// # let _ = sink;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JetStreamSink {
    context: jetstream::Context,
    subject: Arc<str>,
    stream: Arc<str>,
    shown: Arc<str>,
}

/// A NATS client for a `nats://` address that reconnects forever with capped backoff.
pub(crate) async fn client(
    address: &BrokerAddress,
    request_timeout: Duration,
) -> Result<async_nats::Client, SinkError> {
    if address.broker() != Broker::Nats {
        return Err(SinkError::nats(format!(
            "{address} is not a nats:// address"
        )));
    }
    async_nats::ConnectOptions::new()
        .connection_timeout(request_timeout)
        .request_timeout(Some(request_timeout))
        .reconnect_delay_callback(|attempts| {
            let exp = u32::try_from(attempts.min(6)).unwrap_or(6);
            Duration::from_millis(50 * 2u64.pow(exp)).min(Duration::from_secs(2))
        })
        .connect(address.server_url())
        .await
        .map_err(|err| SinkError::nats(format!("cannot connect to {address}: {err}")))
}

impl JetStreamSink {
    /// Connects and makes sure the stream exists.
    ///
    /// # Errors
    /// [`SinkError::Broker`] when the server cannot be reached, JetStream is off (start
    /// `nats-server -js`), or the stream cannot be created.
    pub async fn connect(
        address: &BrokerAddress,
        options: JetStreamOptions,
    ) -> Result<Self, SinkError> {
        let client = client(address, options.request_timeout).await?;
        let context = jetstream::new(client);
        let subject = address.name().trim_end_matches(".>").to_owned();
        let stream = options
            .stream
            .clone()
            .unwrap_or_else(|| default_stream_name(&subject));
        context
            .get_or_create_stream(stream::Config {
                name: stream.clone(),
                subjects: vec![format!("{subject}.>")],
                duplicate_window: options.dedup_window,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|err| {
                SinkError::nats(format!(
                    "cannot find or create the stream {stream} for {subject}.> ({err}); is \
                     JetStream enabled (nats-server -js)?"
                ))
            })?;
        Ok(Self {
            context,
            shown: format!("{address} (stream {stream})").into(),
            subject: subject.into(),
            stream: stream.into(),
        })
    }

    /// The stream events go to.
    pub fn stream(&self) -> &str {
        &self.stream
    }
}

/// `wps.events` → `WPS_EVENTS`.
pub(crate) fn default_stream_name(subject: &str) -> String {
    subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// An event code as subject tokens: characters NATS reserves become `_`.
fn subject_tokens(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c.is_whitespace() || c == '*' || c == '>' {
                '_'
            } else {
                c
            }
        })
        .collect::<String>()
        .split('.')
        .map(|token| if token.is_empty() { "_" } else { token })
        .collect::<Vec<_>>()
        .join(".")
}

impl Sink for JetStreamSink {
    fn store(&self, event: Event) -> BoxFuture<'static, Result<Stored, SinkError>> {
        let context = self.context.clone();
        let subject = format!("{}.{}", self.subject, subject_tokens(event.event_code()));
        Box::pin(async move {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.nonce.as_str());
            headers.insert("Open-Event-Code", event.event_code());
            headers.insert("Open-Event-Nonce", event.nonce.as_str());
            headers.insert("Open-Event-Time", event.time.to_string().as_str());
            let ack = context
                .publish_with_headers(subject, headers, Bytes::from(event.data))
                .await
                .map_err(SinkError::nats)?
                .await
                .map_err(SinkError::nats)?;
            Ok(if ack.duplicate {
                Stored::Duplicate
            } else {
                Stored::New
            })
        })
    }

    fn describe(&self) -> String {
        format!("nats jetstream {}", self.shown)
    }
}

impl fmt::Debug for JetStreamSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamSink")
            .field("subject", &self.subject)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_subjects_are_valid_for_nats() {
        assert_eq!(default_stream_name("wps.events"), "WPS_EVENTS");
        assert_eq!(subject_tokens("kso.app_chat.create"), "kso.app_chat.create");
        assert_eq!(subject_tokens("a..b *>"), "a._.b___");
    }
}
