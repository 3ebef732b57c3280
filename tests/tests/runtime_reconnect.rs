//! Lost connections against the loopback emulator, on every runtime: abrupt drops are followed
//! by backoff delays, a silent server trips the liveness timeout, and events in flight at a drop
//! are redelivered without loss or double handling; refused connects use up `max_retries`.

use std::collections::HashMap;

use open_event_core::connection::{CloseInfo, DisconnectCause, Notice};
use open_event_emulator::EmulatorHandle;
use open_event_emulator::server::{ConnectionEnd, PreviousEnd};
use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{
    Behaviour, ClientSpec, EARLY, RunError, Runtime, SLACK, WAIT, emulator, ms, start,
};

/// The delay the emulator saw between the end of connection `id` and the next handshake.
fn server_delay_after(emu: &EmulatorHandle, id: u64) -> std::time::Duration {
    let report = emu.report();
    report
        .reconnects
        .iter()
        .find(|r| matches!(r.after, PreviousEnd::Connection(c) if c.get() == id))
        .map(|r| r.delay)
        .unwrap_or_else(|| panic!("no reconnect after conn#{id}: {:?}", report.reconnects))
}

async fn abrupt_drops_follow_the_backoff(runtime: Runtime) {
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let spec = ClientSpec {
        reconnect_base: ms(100),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    let drops = 3;
    for n in 1..=drops {
        emu.wait_for_connections(n, WAIT).await.unwrap();
        client.wait_connects(n as u64).await;
        assert_eq!(emu.drop_connections().len(), 1);
    }
    emu.wait_for_connections(drops + 1, WAIT).await.unwrap();
    client.wait_connects(drops as u64 + 1).await;

    // The client drew exactly the seeded delays, each within its attempt's jitter bounds.
    let chosen = spec.backoff_delays(drops);
    let reconnects = client.reconnects();
    let expected: Vec<(u32, std::time::Duration)> = (1..).zip(chosen.iter().copied()).collect();
    assert_eq!(reconnects, expected, "[{runtime}]");
    for (n, delay) in &reconnects {
        let (lo, hi) = spec.backoff_bounds(*n);
        assert!(
            (lo..=hi).contains(delay),
            "[{runtime}] attempt {n}: {delay:?} outside {lo:?}..={hi:?}"
        );
    }
    // The emulator saw the same pauses, plus the time to connect.
    for (i, delay) in chosen.iter().enumerate() {
        let n = i as u32 + 1;
        let (lo, hi) = spec.backoff_bounds(n);
        let seen = server_delay_after(&emu, n as u64);
        assert!(
            seen + EARLY >= *delay && seen <= *delay + SLACK,
            "[{runtime}] attempt {n}: the emulator saw {seen:?}, the client waited {delay:?}"
        );
        assert!(
            seen + EARLY >= lo && seen <= hi + SLACK,
            "[{runtime}] attempt {n}: {seen:?} outside {lo:?}..={hi:?} (+ slack)"
        );
    }
    let report = emu.report();
    for conn in &report.connections[..drops] {
        assert_eq!(conn.end, Some(ConnectionEnd::Dropped), "[{runtime}]");
    }
    let lost = client
        .notices()
        .into_iter()
        .filter(|n| {
            matches!(
                n,
                Notice::Disconnected(DisconnectCause::Closed(CloseInfo { error: true, .. }))
            )
        })
        .count();
    assert_eq!(lost, drops, "[{runtime}] {:?}", client.notices());
    assert_eq!(client.stats().reconnects, drops as u64);
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn a_silent_server_trips_the_liveness_timeout(runtime: Runtime) {
    let pong_timeout = ms(300);
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let spec = ClientSpec {
        pong_timeout,
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();
    client.wait_open().await;
    emu.wait_for(
        |r| {
            r.connections[0]
                .pings
                .iter()
                .filter(|p| !p.pongs.is_empty())
                .count()
                >= 2
        },
        WAIT,
    )
    .await
    .unwrap();

    emu.silence(ms(5_000)).unwrap();
    emu.wait_for_connections(2, WAIT).await.unwrap();
    client.wait_connects(2).await;

    let notices = client.notices();
    let at = notices
        .iter()
        .position(|n| matches!(n, Notice::Disconnected(_)))
        .unwrap_or_else(|| panic!("[{runtime}] no disconnect: {notices:?}"));
    let chosen = spec.backoff_delays(1)[0];
    match &notices[at..] {
        [
            Notice::Disconnected(DisconnectCause::ServerSilent(timeout)),
            Notice::Reconnecting {
                attempt: 1, delay, ..
            },
            Notice::Connected { reconnect: true },
            ..,
        ] => {
            assert_eq!(*timeout, pong_timeout, "[{runtime}]");
            assert_eq!(*delay, chosen, "[{runtime}]");
        }
        other => panic!("[{runtime}] unexpected notices {other:?}"),
    }

    // The client dropped the socket one pong timeout after the last frame it got.
    let report = emu.report();
    let first = &report.connections[0];
    assert!(
        matches!(first.end, Some(ConnectionEnd::Lost { .. })),
        "[{runtime}] {:?}",
        first.end
    );
    let last_ping = first
        .pings
        .last()
        .expect("pings before the silence")
        .sent_at;
    let closed = first.closed_at.expect("closed");
    let silent_for = closed - last_ping;
    assert!(
        silent_for >= pong_timeout && silent_for <= pong_timeout + SLACK,
        "[{runtime}] dropped {silent_for:?} after the last ping, pong timeout {pong_timeout:?}"
    );
    // The new connection is not silent: events flow.
    let nonce = emu.push_event(Behaviour::Ok.event()).unwrap();
    emu.wait_for_acks(1, WAIT).await.unwrap();
    assert_eq!(emu.report().acks[0].nonce, nonce);
    assert_eq!(emu.report().acks[0].conn.get(), 2);
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn redelivery_after_a_drop_loses_nothing_and_handles_nothing_twice(runtime: Runtime) {
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let spec = ClientSpec {
        reconnect_base: ms(100),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();

    let fast = emu.push_many(3, &Behaviour::Ok.event()).unwrap();
    emu.wait_for_acks(3, WAIT).await.unwrap();
    // Handlers still running when the connection drops: the short ones may finish before the
    // reconnect (their outcome is remembered), the long ones after it (the redelivery waits).
    let mut slow = Vec::new();
    for d in [100, 400, 100, 400] {
        slow.push(emu.push_event(Behaviour::sleep_ms(d).event()).unwrap());
    }
    client
        .wait_until("every event reached the handler", WAIT, |c| {
            c.handled().len() == 7
        })
        .await;
    assert_eq!(emu.drop_connections().len(), 1);
    emu.wait_for(|r| r.pending == 0 && r.ack_counts.accepted >= 7, WAIT)
        .await
        .unwrap();

    let report = emu.report();
    let mut all: Vec<String> = fast.iter().chain(&slow).cloned().collect();
    all.sort();
    // Nothing lost: every event acked 200 exactly once.
    let mut acked: Vec<String> = report
        .acked_nonces()
        .into_iter()
        .map(String::from)
        .collect();
    acked.sort();
    assert_eq!(acked, all, "[{runtime}]");
    assert_eq!(report.pending, 0);
    assert_eq!(
        (
            report.ack_counts.negative,
            report.ack_counts.duplicate,
            report.ack_counts.unknown
        ),
        (0, 0, 0),
        "[{runtime}] {:?}",
        report.acks
    );
    // Nothing handled twice: the redeliveries were recognised.
    let mut handled = client.handled();
    handled.sort();
    assert_eq!(handled, all, "[{runtime}]");

    // The long handlers outlived the first connection: redelivered and acked on the second.
    let redelivered: Vec<&str> = report
        .redeliveries
        .iter()
        .map(|r| r.nonce.as_str())
        .collect();
    for nonce in [&slow[1], &slow[3]] {
        assert!(
            redelivered.contains(&nonce.as_str()),
            "[{runtime}] {redelivered:?}"
        );
        let ack = report.acks.iter().find(|a| &a.nonce == nonce).unwrap();
        assert_eq!((ack.code, ack.conn.get()), (200, 2), "[{runtime}]");
    }
    assert!(
        report
            .redeliveries
            .iter()
            .all(|r| r.conn.get() == 2 && r.delivery == 2)
    );
    assert!(
        redelivered.iter().all(|n| slow.iter().any(|s| s == n)),
        "[{runtime}] only unacked events come back: {redelivered:?}"
    );

    client
        .wait_until("the stats are published", WAIT, |c| {
            c.stats().duplicates == redelivered.len() as u64
        })
        .await;
    let mut duplicates: HashMap<String, usize> = HashMap::new();
    for notice in client.notices() {
        if let Notice::Duplicate { nonce } = notice {
            *duplicates.entry(nonce).or_default() += 1;
        }
    }
    assert_eq!(
        duplicates.len(),
        redelivered.len(),
        "[{runtime}] {duplicates:?}"
    );
    assert!(duplicates.values().all(|&n| n == 1));
    assert!(
        client.stats().late_outcomes >= 2,
        "[{runtime}] {:?}",
        client.stats()
    );
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn refused_connections_use_up_the_retries(runtime: Runtime) {
    let emu = emulator(|s| s).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let spec = ClientSpec {
        endpoint: format!("ws://127.0.0.1:{port}/v7/event/ws"),
        max_retries: Some(2),
        reconnect_base: ms(20),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    match client.join(WAIT).await {
        // The first attempt and two retries.
        Err(RunError::RetriesExhausted { attempts: 3, last }) => {
            let text = last.to_string();
            assert!(
                text.contains("TCP connect to") && text.contains(&port.to_string()),
                "[{runtime}] {text}"
            );
        }
        other => panic!("[{runtime}] expected RetriesExhausted, got {other:?}"),
    }
    let stats = client.stats();
    assert_eq!((stats.connects, stats.reconnects), (0, 2), "[{runtime}]");
}

runtime_tests!(
    refused_connections_use_up_the_retries,
    abrupt_drops_follow_the_backoff,
    a_silent_server_trips_the_liveness_timeout,
    redelivery_after_a_drop_loses_nothing_and_handles_nothing_twice,
);
