//! Relay every event of the app into a Redis stream; run it on two machines with `LEASE` set
//! for a standby that takes over.
//!
//! ```sh
//! export OPEN_EVENT_APP_ID=AK20240101XXXX OPEN_EVENT_APP_SECRET=...
//! # optional: OPEN_EVENT_ENDPOINT=ws://127.0.0.1:7000/v7/event/ws (e.g. `openevent emulate`)
//! STREAM=redis://127.0.0.1:6379/wps-events LEASE=redis://127.0.0.1:6379/wps-leader \
//!     cargo run -p open-event-relay --example redis_relay
//! ```
//! Then consume the stream with the `redis_worker` example.

use std::time::Duration;

use open_event_relay::{BrokerAddress, RedisLease, RedisSink, RedisSinkOptions, Relay};
use open_event_tokio::Client;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app_id = std::env::var("OPEN_EVENT_APP_ID").map_err(|_| "set OPEN_EVENT_APP_ID")?;
    let secret = std::env::var("OPEN_EVENT_APP_SECRET").map_err(|_| "set OPEN_EVENT_APP_SECRET")?;
    let endpoint = std::env::var("OPEN_EVENT_ENDPOINT").ok();
    let stream = BrokerAddress::parse(&env("STREAM", "redis://127.0.0.1:6379/wps-events"))?;

    let sink = RedisSink::connect(&stream, RedisSinkOptions::default()).await?;
    let mut builder = Relay::builder(sink, move || {
        let builder = Client::builder(app_id.clone(), secret.clone());
        match &endpoint {
            Some(url) => builder.endpoint(url.clone()),
            None => builder,
        }
    });
    if let Ok(lease) = std::env::var("LEASE") {
        let lease = BrokerAddress::parse(&lease)?;
        builder = builder.lease(RedisLease::new(&lease, Duration::from_secs(10))?);
    }
    let relay = builder.build();
    let handle = relay.handle();
    tokio::spawn({
        let handle = handle.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            handle.stop(); // in-flight events are stored and acked, then it closes
        }
    });
    tokio::spawn({
        let handle = handle.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                eprintln!("{:?}", handle.status());
            }
        }
    });
    relay.run().await?;
    eprintln!("stopped: {:?}", handle.status());
    Ok(())
}
