//! A worker of the relay pattern: consumes the Redis stream the relay fills, in a consumer
//! group (`XREADGROUP`), and acknowledges each entry (`XACK`) after handling it. Run as many
//! as you like (each with its own `CONSUMER` name): the group spreads the entries over them,
//! and an entry a worker took but did not acknowledge (it crashed) is read again by it on
//! restart, since it first reads its own pending entries.
//!
//! ```sh
//! REDIS=redis://127.0.0.1:6379 STREAM=wps-events GROUP=workers CONSUMER=worker-1 \
//!     cargo run -p open-event-relay --example redis_worker
//! ```

use redis::AsyncCommands;
use redis::streams::{StreamReadOptions, StreamReadReply};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = redis::Client::open(env("REDIS", "redis://127.0.0.1:6379"))?;
    // Blocking reads wait up to 5 s: give responses more time than that.
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(std::time::Duration::from_secs(10)));
    let mut conn = client.get_connection_manager_with_config(config).await?;
    let (stream, group, consumer) = (
        env("STREAM", "wps-events"),
        env("GROUP", "workers"),
        env("CONSUMER", "worker-1"),
    );
    // The group starts at the beginning of the stream; it exists already after the first run.
    let created: redis::RedisResult<()> = conn.xgroup_create_mkstream(&stream, &group, "0").await;
    if let Err(err) = created
        && err.code() != Some("BUSYGROUP")
    {
        return Err(err.into());
    }
    // First our own pending entries (taken before a crash, never acknowledged), then new ones.
    let mut start = "0".to_owned();
    loop {
        let options = StreamReadOptions::default()
            .group(&group, &consumer)
            .count(100)
            .block(5_000);
        let reply: StreamReadReply = conn.xread_options(&[&stream], &[&start], &options).await?;
        let entries: Vec<_> = reply.keys.into_iter().flat_map(|k| k.ids).collect();
        if entries.is_empty() && start == "0" {
            start = ">".to_owned(); // no pending left: switch to new entries
            continue;
        }
        for entry in entries {
            let code: String = entry.get("code").unwrap_or_default();
            let nonce: String = entry.get("nonce").unwrap_or_default();
            let data: String = entry.get("data").unwrap_or_default();
            // Handle the event here; a duplicate (same nonce) can only come from a redelivery
            // after the dedup window, so handlers that must be exactly-once check the nonce.
            println!("{} {code} {nonce} {data}", entry.id);
            let _: u64 = conn.xack(&stream, &group, &[&entry.id]).await?;
        }
    }
}
