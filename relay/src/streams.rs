//! [`RedisSink`]: events into a Redis stream, once per nonce.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use open_event_core::Event;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::address::{Broker, BrokerAddress};
use crate::sink::{Sink, SinkError, Stored};

/// Marks the nonce (`SET NX PX`) and appends the event (`XADD`) in one atomic step: a nonce
/// already marked appends nothing and answers nil.
const STORE_SCRIPT: &str = r"
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return false
end
if ARGV[2] ~= '0' then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
    'code', ARGV[3], 'nonce', ARGV[4], 'time', ARGV[5], 'data', ARGV[6])
end
return redis.call('XADD', KEYS[2], '*',
  'code', ARGV[3], 'nonce', ARGV[4], 'time', ARGV[5], 'data', ARGV[6])
";

/// Settings of a [`RedisSink`].
#[derive(Debug, Clone)]
pub struct RedisSinkOptions {
    /// How long a nonce is remembered (the TTL of its `SET NX` key). Default 10 minutes, the
    /// platform's redelivery horizon and the core's dedup window.
    pub dedup_window: Duration,
    /// `MAXLEN ~ N` on every `XADD`; `None` (default): the stream is never trimmed.
    pub max_len: Option<u64>,
    /// Reconnect backoff ceiling. Default 2 s.
    pub max_reconnect_delay: Duration,
    /// Per-command response timeout. Default 2 s.
    pub response_timeout: Duration,
}

impl Default for RedisSinkOptions {
    fn default() -> Self {
        Self {
            dedup_window: Duration::from_secs(600),
            max_len: None,
            max_reconnect_delay: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
        }
    }
}

/// Appends every event to a Redis stream with the fields `code`, `nonce`, `time` and `data`,
/// exactly once per nonce within the dedup window: a Lua script sets the key
/// `{STREAM}:nonce:NONCE` with `SET NX PX window` and runs the `XADD` only when that set
/// succeeded, atomically (the hash tag keeps both keys in one cluster slot).
///
/// The connection is a [`ConnectionManager`]: it reconnects with exponential backoff, and a
/// command during an outage fails (the event is acked with 500 and delivered again). For an
/// event to survive a crash of Redis too, run Redis with `appendonly yes` and
/// `appendfsync always`.
///
/// ```no_run
/// use open_event_relay::{BrokerAddress, RedisSink, RedisSinkOptions};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let address = BrokerAddress::parse("redis://127.0.0.1:6379/wps-events")?;
/// let sink = RedisSink::connect(&address, RedisSinkOptions::default()).await?;
/// # let _ = sink;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisSink {
    conn: ConnectionManager,
    stream: Arc<str>,
    shown: Arc<str>,
    options: RedisSinkOptions,
    script: Arc<redis::Script>,
}

impl RedisSink {
    /// Prepares the sink for the stream `address.name()`. The first connect happens in the
    /// background; until it succeeds, stores fail (and are retried by the platform).
    ///
    /// # Errors
    /// [`SinkError::Broker`] when the address is not a `redis://` one or the client rejects it.
    #[allow(clippy::unused_async)]
    pub async fn connect(
        address: &BrokerAddress,
        options: RedisSinkOptions,
    ) -> Result<Self, SinkError> {
        let conn = manager(
            address,
            options.max_reconnect_delay,
            options.response_timeout,
        )?;
        Ok(Self {
            conn,
            stream: address.name().into(),
            shown: address.to_string().into(),
            options,
            script: Arc::new(redis::Script::new(STORE_SCRIPT)),
        })
    }

    /// The dedup key of `nonce` for `stream`.
    fn nonce_key(stream: &str, nonce: &str) -> String {
        format!("{{{stream}}}:nonce:{nonce}")
    }
}

/// A lazily connecting [`ConnectionManager`] for a `redis://` address.
pub(crate) fn manager(
    address: &BrokerAddress,
    max_delay: Duration,
    response_timeout: Duration,
) -> Result<ConnectionManager, SinkError> {
    if address.broker() != Broker::Redis {
        return Err(SinkError::redis(format!(
            "{address} is not a redis:// address"
        )));
    }
    let client = redis::Client::open(address.server_url()).map_err(SinkError::redis)?;
    let config = ConnectionManagerConfig::new()
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(max_delay)
        .set_number_of_retries(2)
        .set_connection_timeout(Some(response_timeout))
        .set_response_timeout(Some(response_timeout));
    ConnectionManager::new_lazy_with_config(client, config).map_err(SinkError::redis)
}

impl Sink for RedisSink {
    fn store(&self, event: Event) -> BoxFuture<'static, Result<Stored, SinkError>> {
        let mut conn = self.conn.clone();
        let script = Arc::clone(&self.script);
        let key = Self::nonce_key(&self.stream, &event.nonce);
        let stream = Arc::clone(&self.stream);
        let window_ms = u64::try_from(self.options.dedup_window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let max_len = self.options.max_len.unwrap_or(0);
        Box::pin(async move {
            let id: Option<String> = script
                .key(key)
                .key(&*stream)
                .arg(window_ms)
                .arg(max_len)
                .arg(event.event_code())
                .arg(&event.nonce)
                .arg(event.time)
                .arg(&event.data)
                .invoke_async(&mut conn)
                .await
                .map_err(SinkError::redis)?;
            Ok(if id.is_some() {
                Stored::New
            } else {
                Stored::Duplicate
            })
        })
    }

    fn describe(&self) -> String {
        format!("redis stream {}", self.shown)
    }
}

impl fmt::Debug for RedisSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSink")
            .field("stream", &self.shown)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
