//! The relay against the emulator with real brokers: every event stored once, acked with 200
//! only after the broker confirmed it, nothing lost across a broker crash or a redelivery.

mod scenario;
mod servers;

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use open_event_core::codec::GoAwayReason;
use open_event_emulator::server::AckStatus;
use open_event_emulator::{Emulator, EmulatorHandle, EmulatorOptions, EventSpec};
use open_event_relay::Role;
use scenario::{
    Broker, Confirmations, Kind, assert_acked_after_confirmation, assert_all_accepted,
    assert_stored_once, relay,
};

const WAIT: Duration = Duration::from_secs(60);

/// Asks the emulator to redeliver what is pending (as the platform does later on its own) with
/// a `server_shutdown` GoAway and a short reconnect delay, until `count` events were acked
/// with 200.
async fn redeliver_until_accepted(emulator: &EmulatorHandle, count: u64) {
    for _ in 0..60 {
        if emulator
            .wait_for_acks(count, Duration::from_millis(700))
            .await
            .is_ok()
        {
            return;
        }
        let _ = emulator.goaway(GoAwayReason::ServerShutdown, Some(20));
    }
    let report = emulator.report();
    panic!(
        "only {} of {count} accepted (pending {}, {} connections, {} handshakes, last end {:?})",
        report.ack_counts.accepted,
        report.pending,
        report.connections.len(),
        report.handshakes.len(),
        report.connections.last().and_then(|c| c.end.clone()),
    );
}

async fn ten_thousand_events(kind: Kind) {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let broker = Broker::start(kind);
    let sink = Confirmations::new(broker.sink().await);
    let relay = relay(&emulator, sink.clone()).build();
    let handle = relay.handle();
    let task = tokio::spawn(relay.run());
    let pushed = emulator
        .push_many(10_000, &EventSpec::chat_message("hello"))
        .unwrap();
    emulator.wait_for_acks(10_000, WAIT).await.unwrap();
    assert_eq!(handle.status().role, Role::Leader);
    handle.stop();
    task.await.unwrap().unwrap();

    emulator.with_report(|report| {
        assert_eq!(report.ack_counts.accepted, 10_000);
        assert_eq!(report.ack_counts.negative, 0, "no store failed");
        assert!(report.acks.iter().all(|a| a.code == 200));
    });
    assert_acked_after_confirmation(&emulator, &sink);
    assert_stored_once(&broker, &pushed).await;
    let status = handle.status();
    assert_eq!(
        (status.stored, status.failed, status.pending),
        (10_000, 0, 0)
    );
    assert_eq!(status.role, Role::Stopped);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_into_redis_are_stored_once_and_acked_after_confirmation() {
    ten_thousand_events(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_into_jetstream_are_stored_once_and_acked_after_confirmation() {
    ten_thousand_events(Kind::Nats).await;
}

async fn broker_crash_mid_stream(kind: Kind) {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let mut broker = Broker::start(kind);
    let sink = Confirmations::new(broker.sink().await);
    let relay = relay(&emulator, sink.clone())
        .store_timeout(Duration::from_millis(500))
        .build();
    let handle = relay.handle();
    let task = tokio::spawn(relay.run());
    emulator.set_push_rate(NonZeroU32::new(2_000));
    let pushed = emulator
        .push_many(3_000, &EventSpec::chat_message("hello"))
        .unwrap();
    emulator.wait_for_acks(500, WAIT).await.unwrap();

    broker.kill();
    let killed_at = Instant::now();
    // The outage: stores fail or time out, so acks are 500 (or not sent yet), never 200.
    emulator
        .wait_for(|r| r.ack_counts.negative >= 20, WAIT)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restarted_at = Instant::now();
    broker.restart();
    redeliver_until_accepted(&emulator, 3_000).await;
    handle.stop();
    task.await.unwrap().unwrap();

    emulator.with_report(|report| {
        // Stores confirmed just before the kill may be acked a moment after it.
        let grace = killed_at + Duration::from_millis(300);
        let during: Vec<_> = report
            .acks
            .iter()
            .filter(|a| a.code == 200 && a.at > grace && a.at < restarted_at)
            .collect();
        assert!(during.is_empty(), "200 during the outage: {during:?}");
        assert!(report.ack_counts.negative >= 20);
    });
    assert_acked_after_confirmation(&emulator, &sink);
    assert_all_accepted(&emulator, &pushed);
    assert_stored_once(&broker, &pushed).await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_stream_loses_nothing_and_stores_nothing_twice() {
    broker_crash_mid_stream(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_mid_stream_loses_nothing_and_stores_nothing_twice() {
    broker_crash_mid_stream(Kind::Nats).await;
}

async fn redelivered_batch(kind: Kind) {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let broker = Broker::start(kind);
    // The first 50 events are stored but their acks are lost (as if the relay died between
    // the broker's confirmation and its ack): the platform redelivers them.
    let sink = Confirmations::new(broker.sink().await).losing_acks(50);
    let relay = relay(&emulator, sink.clone()).build();
    let handle = relay.handle();
    let task = tokio::spawn(relay.run());
    let pushed = emulator
        .push_many(200, &EventSpec::chat_message("hello"))
        .unwrap();
    emulator
        .wait_for(
            |r| r.ack_counts.accepted + r.ack_counts.negative >= 200,
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(emulator.report().ack_counts.negative, 50);
    redeliver_until_accepted(&emulator, 200).await;
    handle.stop();
    task.await.unwrap().unwrap();

    emulator.with_report(|report| {
        assert!(
            report.redeliveries.len() >= 50,
            "{}",
            report.redeliveries.len()
        );
        let accepted = report
            .acks
            .iter()
            .filter(|a| a.status == AckStatus::Accepted)
            .count();
        assert_eq!(accepted, 200);
    });
    assert_stored_once(&broker, &pushed).await;
    let status = handle.status();
    // 150 stored and acked; 50 stored, "lost" their ack, and came back as duplicates.
    assert_eq!((status.stored, status.failed), (150, 50), "{status:?}");
    assert_eq!(status.duplicates, 50, "{status:?}");
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_redelivered_to_redis_is_stored_once() {
    redelivered_batch(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_redelivered_to_jetstream_is_stored_once() {
    redelivered_batch(Kind::Nats).await;
}
