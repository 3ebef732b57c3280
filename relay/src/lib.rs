//! Relay WPS open platform events into a durable broker, and run standby instances that take
//! over the one platform connection an app may hold (PROTOCOL.md §8).
//!
//! The platform allows one live long connection per app: a second one replaces the first. So
//! availability and scale come from a hand-off: the one process that holds the connection
//! stores every event in a broker and acks the platform only after the broker confirmed
//! (at-least-once into the broker, duplicates removed by nonce within the dedup window);
//! workers consume the broker at their own pace; standby relays wait on a leader lease and
//! connect when the holder is gone.
//!
//! | piece | what |
//! |---|---|
//! | [`Sink`] | "store this event durably; resolve when the broker confirmed" |
//! | [`RedisSink`] | `XADD` to a Redis stream, once per nonce (Lua: `SET NX PX` + `XADD`) |
//! | [`JetStreamSink`] | publish to `SUBJECT.<event code>` with `Nats-Msg-Id`, await the `PublishAck` |
//! | [`Lease`] | one holder at a time, with a fencing token: [`RedisLease`], [`KvLease`] |
//! | [`leadership`] | the lease's decisions as a pure state machine |
//! | [`Relay`] | the tokio client whose handler stores, with or without a lease |
//! | [`Tail`] | reads back what was stored |
//!
//! ```no_run
//! use open_event_relay::{BrokerAddress, RedisSink, RedisSinkOptions, Relay};
//! use open_event_tokio::Client;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let stream = BrokerAddress::parse("redis://127.0.0.1:6379/wps-events")?;
//! let sink = RedisSink::connect(&stream, RedisSinkOptions::default()).await?;
//! Relay::builder(sink, || Client::builder("AK20240101TEST", "your app secret"))
//!     .build()
//!     .run()
//!     .await?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod address;
mod jetstream;
mod kv_lease;
pub mod leadership;
mod lease;
mod redis_lease;
mod relay;
mod sink;
mod streams;
mod tail;

pub use crate::address::{AddressError, Broker, BrokerAddress};
pub use crate::jetstream::{JetStreamOptions, JetStreamSink};
pub use crate::kv_lease::KvLease;
pub use crate::leadership::Role;
pub use crate::lease::{Lease, LeaseError};
pub use crate::redis_lease::RedisLease;
pub use crate::relay::{Relay, RelayBuilder, RelayError, RelayHandle, RelayStatus};
pub use crate::sink::{Sink, SinkError, Stored};
pub use crate::streams::{RedisSink, RedisSinkOptions};
pub use crate::tail::{StoredEvent, Tail};
