//! Relay benchmark on loopback: throughput (events/s with the broker's confirmation), ack
//! latency at a steady rate, and failover time after the leader dies, against brokers you
//! started (see BENCHMARKS.md for the commands).
//!
//! ```sh
//! cargo run --release -p open-event-relay --example relay_bench -- \
//!     redis://127.0.0.1:6390/bench nats://127.0.0.1:4290/bench
//! ```
//! Optional environment: `EVENTS` (throughput run, default 20000), `RATE` (events/s of the
//! latency run, default 2000), `SECONDS` (its length, default 5), `TTL` (lease TTL of the
//! failover run in seconds, default 10).

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use open_event_emulator::{Emulator, EmulatorHandle, EmulatorOptions, EventSpec};
use open_event_relay::{
    Broker, BrokerAddress, JetStreamOptions, JetStreamSink, KvLease, Lease, RedisLease, RedisSink,
    RedisSinkOptions, Relay, Role, Sink,
};
use open_event_tokio::Client;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn sink(address: &BrokerAddress) -> Box<dyn Sink> {
    match address.broker() {
        Broker::Redis => Box::new(
            RedisSink::connect(address, RedisSinkOptions::default())
                .await
                .unwrap(),
        ),
        Broker::Nats => Box::new(
            JetStreamSink::connect(address, JetStreamOptions::default())
                .await
                .unwrap(),
        ),
    }
}

async fn lease(address: &BrokerAddress, ttl: Duration) -> Box<dyn Lease> {
    let url = format!(
        "{}://{}/{}-leader",
        match address.broker() {
            Broker::Redis => "redis",
            Broker::Nats => "nats",
        },
        address.server(),
        address.name()
    );
    let at = BrokerAddress::parse(&url).unwrap();
    match address.broker() {
        Broker::Redis => Box::new(RedisLease::new(&at, ttl).unwrap()),
        Broker::Nats => Box::new(KvLease::connect(&at, ttl).await.unwrap()),
    }
}

fn relay(emulator: &EmulatorHandle, sink: Box<dyn Sink>) -> open_event_relay::RelayBuilder {
    let credentials = emulator.credentials().clone();
    let url = emulator.url();
    Relay::builder(sink, move || {
        Client::builder(credentials.app_id(), credentials.app_secret().clone())
            .endpoint(url.clone())
            .max_in_flight(256)
            .read_backlog(256)
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn throughput_and_latency(address: &BrokerAddress) {
    let events = env("EVENTS", 20_000);
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let relay = relay(&emulator, sink(address).await).build();
    let handle = relay.handle();
    let task = tokio::spawn(relay.run());
    emulator
        .wait_for_connections(1, Duration::from_secs(10))
        .await
        .unwrap();
    // Warm-up, then everything at once: events/s with the broker's confirmation.
    emulator
        .push_many(1_000, &EventSpec::chat_message("warm-up"))
        .unwrap();
    emulator
        .wait_for_acks(1_000, Duration::from_secs(60))
        .await
        .unwrap();
    let data = "x".repeat(1_000);
    let start = Instant::now();
    emulator
        .push_many(
            u32::try_from(events).unwrap(),
            &EventSpec::chat_message(&data),
        )
        .unwrap();
    emulator
        .wait_for_acks(1_000 + events, Duration::from_secs(300))
        .await
        .unwrap();
    let elapsed = start.elapsed();
    println!(
        "{address}: {events} events of 1 KB in {:.2} s = {:.0} events/s (acked after confirmation)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );
    // Latency at a steady rate: from the event's send to its ack.
    let rate = env("RATE", 2_000);
    let seconds = env("SECONDS", 5);
    let before = emulator.with_report(|r| r.acks.len());
    emulator.set_push_rate(NonZeroU32::new(u32::try_from(rate).unwrap()));
    let count = rate * seconds;
    emulator
        .push_many(
            u32::try_from(count).unwrap(),
            &EventSpec::chat_message(&data),
        )
        .unwrap();
    emulator
        .wait_for_acks(
            1_000 + events + count,
            Duration::from_secs(seconds * 4 + 30),
        )
        .await
        .unwrap();
    let mut latencies: Vec<Duration> = emulator.with_report(|r| {
        r.acks[before..]
            .iter()
            .filter(|a| a.code == 200)
            .filter_map(|a| a.latency)
            .collect()
    });
    latencies.sort();
    println!(
        "{address}: at {rate}/s for {seconds} s: ack latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    handle.stop();
    task.await.unwrap().unwrap();
    emulator.shutdown().await;
}

async fn failover(address: &BrokerAddress) {
    let ttl = Duration::from_secs(env("TTL", 10));
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let a = relay(&emulator, sink(address).await)
        .lease(lease(address, ttl).await)
        .build();
    let a_handle = a.handle();
    let a_task = tokio::spawn(a.run());
    while a_handle.status().role != Role::Leader {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let b = relay(&emulator, sink(address).await)
        .lease(lease(address, ttl).await)
        .build();
    let b_handle = b.handle();
    let b_task = tokio::spawn(b.run());
    emulator.set_push_rate(NonZeroU32::new(200));
    emulator
        .push_many(100_000, &EventSpec::chat_message("x"))
        .unwrap();
    emulator
        .wait_for_acks(500, Duration::from_secs(30))
        .await
        .unwrap();
    a_task.abort(); // the leader dies: no drain, no release
    let killed = Instant::now();
    let (acked_before, connections_before) =
        emulator.with_report(|r| (r.ack_counts.accepted, r.accepted()));
    emulator
        .wait_for_connections(connections_before + 1, ttl * 3)
        .await
        .unwrap();
    let connected = Instant::now();
    emulator
        .wait_for_acks(acked_before + 1, Duration::from_secs(30))
        .await
        .unwrap();
    let resumed = Instant::now();
    println!(
        "{address}: lease ttl {:?}: after the leader's death the standby connected in {:.2} s, \
         events resumed in {:.2} s; overlapping connections: {} (of {})",
        ttl,
        (connected - killed).as_secs_f64(),
        (resumed - killed).as_secs_f64(),
        emulator.with_report(|r| r.overlapping_connections().len()),
        emulator.with_report(|r| r.accepted()),
    );
    b_handle.stop();
    b_task.await.unwrap().unwrap();
    emulator.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let urls: Vec<String> = std::env::args().skip(1).collect();
    assert!(
        !urls.is_empty(),
        "usage: relay_bench redis://HOST:PORT/STREAM nats://HOST:PORT/SUBJECT ..."
    );
    for url in urls {
        let address = BrokerAddress::parse(&url).unwrap();
        throughput_and_latency(&address).await;
        failover(&address).await;
    }
}
