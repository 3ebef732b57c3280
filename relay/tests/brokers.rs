//! The sinks and leases against real brokers (`redis-server`, `nats-server -js`).

mod servers;

use std::time::Duration;

use futures_util::StreamExt;
use open_event_core::Event;
use open_event_relay::{
    BrokerAddress, JetStreamOptions, JetStreamSink, KvLease, Lease, RedisLease, RedisSink,
    RedisSinkOptions, Sink, Stored,
};
use redis::AsyncCommands;
use servers::{NatsServer, RedisServer};

fn event(nonce: &str) -> Event {
    Event::new(
        "kso.app_chat.message",
        "create",
        1_704_067_201,
        nonce,
        r#"{"text":"hi"}"#,
    )
}

async fn redis_conn(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://{}", server.addr()))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_sink_appends_each_nonce_once_with_every_field() {
    let server = RedisServer::start();
    let address = BrokerAddress::parse(&server.url("events")).unwrap();
    let sink = RedisSink::connect(&address, RedisSinkOptions::default())
        .await
        .unwrap();
    assert_eq!(sink.store(event("n1")).await.unwrap(), Stored::New);
    assert_eq!(sink.store(event("n1")).await.unwrap(), Stored::Duplicate);
    assert_eq!(sink.store(event("n2")).await.unwrap(), Stored::New);

    let mut conn = redis_conn(&server).await;
    let entries: redis::streams::StreamRangeReply = conn.xrange_all("events").await.unwrap();
    let nonces: Vec<String> = entries
        .ids
        .iter()
        .map(|e| e.get::<String>("nonce").unwrap())
        .collect();
    assert_eq!(nonces, ["n1", "n2"]);
    let first = &entries.ids[0];
    assert_eq!(
        first.get::<String>("code").unwrap(),
        "kso.app_chat.message.create"
    );
    assert_eq!(first.get::<i64>("time").unwrap(), 1_704_067_201);
    assert_eq!(first.get::<String>("data").unwrap(), r#"{"text":"hi"}"#);
    // The nonce key lives for the dedup window.
    let ttl: i64 = conn.pttl("{events}:nonce:n1").await.unwrap();
    assert!((590_000..=600_000).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn redis_sink_trims_with_maxlen_and_fails_while_redis_is_down() {
    let mut server = RedisServer::start();
    let address = BrokerAddress::parse(&server.url("trimmed")).unwrap();
    let options = RedisSinkOptions {
        max_len: Some(10),
        ..RedisSinkOptions::default()
    };
    let sink = RedisSink::connect(&address, options).await.unwrap();
    for i in 0..500 {
        sink.store(event(&format!("n{i}"))).await.unwrap();
    }
    let mut conn = redis_conn(&server).await;
    let len: u64 = conn.xlen("trimmed").await.unwrap();
    assert!(len < 500, "MAXLEN ~ trims approximately: {len}");

    server.kill();
    let err = sink.store(event("during-outage")).await.unwrap_err();
    assert!(err.to_string().contains("redis"), "{err}");
    server.restart();
    // The connection manager reconnects with backoff; the next store succeeds.
    let mut stored = None;
    for _ in 0..100 {
        if let Ok(result) = sink.store(event("after-outage")).await {
            stored = Some(result);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored, Some(Stored::New));
    // What was confirmed before the kill survived it (append-only file, fsync always).
    let mut conn = redis_conn(&server).await;
    let dup = sink.store(event("n499")).await.unwrap();
    assert_eq!(dup, Stored::Duplicate);
    let len_after: u64 = conn.xlen("trimmed").await.unwrap();
    assert_eq!(len_after, len + 1);
}

#[tokio::test]
async fn jetstream_sink_creates_the_stream_and_drops_repeated_nonces() {
    let server = NatsServer::start();
    let address = BrokerAddress::parse(&server.url("wps")).unwrap();
    let sink = JetStreamSink::connect(&address, JetStreamOptions::default())
        .await
        .unwrap();
    assert_eq!(sink.stream(), "WPS");
    assert_eq!(sink.store(event("n1")).await.unwrap(), Stored::New);
    assert_eq!(sink.store(event("n1")).await.unwrap(), Stored::Duplicate);
    assert_eq!(sink.store(event("n2")).await.unwrap(), Stored::New);
    // A second sink finds the stream instead of failing.
    let again = JetStreamSink::connect(&address, JetStreamOptions::default())
        .await
        .unwrap();
    assert_eq!(again.store(event("n2")).await.unwrap(), Stored::Duplicate);

    let client = async_nats::connect(server.addr().to_string())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("WPS").await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.subjects, ["wps.>"]);
    assert_eq!(info.state.messages, 2);
    let message = stream.get_raw_message(1).await.unwrap();
    assert_eq!(&*message.subject, "wps.kso.app_chat.message.create");
    assert_eq!(&message.payload[..], br#"{"text":"hi"}"#);
    let headers = message.headers;
    assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), "n1");
    assert_eq!(
        headers.get("Open-Event-Time").unwrap().as_str(),
        "1704067201"
    );
}

/// The contract every lease keeps: one holder, growing tokens, renew only by the holder,
/// release, and expiry after the TTL.
async fn lease_contract(a: &dyn Lease, b: &dyn Lease, ttl: Duration) {
    let t1 = a.acquire().await.unwrap().expect("a free lease is granted");
    assert_eq!(b.acquire().await.unwrap(), None, "held by a");
    assert!(a.renew(t1).await.unwrap());
    assert!(!b.renew(t1).await.unwrap(), "only the holder renews");
    a.release(t1).await.unwrap();
    let t2 = b.acquire().await.unwrap().expect("released");
    assert!(t2 > t1, "fencing tokens grow: {t1} then {t2}");
    assert!(!a.renew(t1).await.unwrap(), "a's old grant is gone");
    // b stops renewing: after the TTL the lease is free again.
    tokio::time::sleep(ttl + ttl / 2).await;
    let mut t3 = None;
    for _ in 0..40 {
        t3 = a.acquire().await.unwrap();
        if t3.is_some() {
            break;
        }
        tokio::time::sleep(ttl / 10).await;
    }
    let t3 = t3.expect("expired lease is granted again");
    assert!(t3 > t2);
    assert!(
        !b.renew(t2).await.unwrap(),
        "b's expired grant cannot be renewed"
    );
}

#[tokio::test]
async fn redis_lease_keeps_the_lease_contract() {
    let server = RedisServer::start();
    let address = BrokerAddress::parse(&server.url("leader")).unwrap();
    let ttl = Duration::from_millis(600);
    let a = RedisLease::new(&address, ttl).unwrap();
    let b = RedisLease::new(&address, ttl).unwrap();
    lease_contract(&a, &b, ttl).await;
}

#[tokio::test]
async fn nats_kv_lease_keeps_the_lease_contract() {
    let server = NatsServer::start();
    let address = BrokerAddress::parse(&server.url("leader")).unwrap();
    let ttl = Duration::from_secs(1);
    let a = KvLease::connect(&address, ttl).await.unwrap();
    let b = KvLease::connect(&address, ttl).await.unwrap();
    lease_contract(&a, &b, ttl).await;
    let err = KvLease::connect(&address, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_age"), "{err}");
}

#[tokio::test]
async fn watching_a_stream_sees_what_the_sink_stored() {
    // A consumer's view of a JetStream sink: an ordered consumer over the stream.
    let server = NatsServer::start();
    let address = BrokerAddress::parse(&server.url("tail")).unwrap();
    let sink = JetStreamSink::connect(&address, JetStreamOptions::default())
        .await
        .unwrap();
    for i in 0..3 {
        sink.store(event(&format!("t{i}"))).await.unwrap();
    }
    let client = async_nats::connect(server.addr().to_string())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("TAIL").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap().take(3);
    let mut nonces = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        let headers = message.headers.as_ref().unwrap();
        nonces.push(headers.get("Open-Event-Nonce").unwrap().to_string());
    }
    assert_eq!(nonces, ["t0", "t1", "t2"]);
}

async fn tail_reads_back(sink: &dyn Sink, address: &BrokerAddress) {
    for i in 0..3 {
        sink.store(event(&format!("r{i}"))).await.unwrap();
    }
    let mut tail = open_event_relay::Tail::open(address, None).await.unwrap();
    let mut read = Vec::new();
    for _ in 0..3 {
        read.push(tail.next().await.unwrap());
    }
    let nonces: Vec<_> = read.iter().map(|e| e.nonce.as_str()).collect();
    assert_eq!(nonces, ["r0", "r1", "r2"]);
    assert_eq!(read[0].code, "kso.app_chat.message.create");
    assert_eq!(
        (read[0].time, read[0].data.as_str()),
        (1_704_067_201, r#"{"text":"hi"}"#)
    );
    // Then it follows the stream as it grows.
    sink.store(event("r3")).await.unwrap();
    assert_eq!(tail.next().await.unwrap().nonce, "r3");
}

#[tokio::test]
async fn tail_reads_a_redis_stream_from_the_start_and_follows_it() {
    let server = RedisServer::start();
    let address = BrokerAddress::parse(&server.url("events")).unwrap();
    let sink = RedisSink::connect(&address, RedisSinkOptions::default())
        .await
        .unwrap();
    tail_reads_back(&sink, &address).await;
}

#[tokio::test]
async fn tail_reads_a_jetstream_stream_from_the_start_and_follows_it() {
    let server = NatsServer::start();
    let address = BrokerAddress::parse(&server.url("events")).unwrap();
    let sink = JetStreamSink::connect(&address, JetStreamOptions::default())
        .await
        .unwrap();
    tail_reads_back(&sink, &address).await;
}
