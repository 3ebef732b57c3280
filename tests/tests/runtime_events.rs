//! Events, acks, heartbeats and bad input against the loopback emulator, on every runtime: an
//! ack leaves when its handler returns (not with the next frame), and a full backlog pauses
//! reading until the handlers catch up.

use std::time::{Duration, Instant};

use open_event_core::codec::{FrameError, RejectKind};
use open_event_core::connection::Notice;
use open_event_emulator::server::{AckRecord, AckStatus, Malformed, Report};
use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{
    Behaviour, ClientSpec, PANIC_MESSAGE, Runtime, WAIT, emulator, ms, start,
};

/// The acks of `nonce`, in arrival order.
fn acks_of<'r>(report: &'r Report, nonce: &str) -> Vec<&'r AckRecord> {
    report.acks.iter().filter(|a| a.nonce == nonce).collect()
}

/// The one ack of `nonce`.
fn only_ack<'r>(report: &'r Report, nonce: &str, runtime: Runtime) -> &'r AckRecord {
    match acks_of(report, nonce).as_slice() {
        [ack] => ack,
        other => panic!("[{runtime}] expected one ack of {nonce}, got {other:?}"),
    }
}

async fn events_are_acked_and_failures_are_acked_500(runtime: Runtime) {
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let mut client = start(runtime, &ClientSpec::for_emulator(&emu));
    emu.wait_for_connections(1, WAIT).await.unwrap();

    let ok = emu.push_many(5, &Behaviour::Ok.event()).unwrap();
    let failing = emu
        .push_event(Behaviour::fail("the database is down").event())
        .unwrap();
    let panicking = emu.push_event(Behaviour::Panic.event()).unwrap();
    emu.wait_for(
        |r| r.ack_counts.accepted >= 5 && r.ack_counts.negative >= 2,
        WAIT,
    )
    .await
    .unwrap();

    let report = emu.report();
    for nonce in &ok {
        let ack = only_ack(&report, nonce, runtime);
        assert_eq!((ack.code, ack.msg.as_deref()), (200, None), "[{runtime}]");
        assert_eq!(ack.status, AckStatus::Accepted);
    }
    let ack = only_ack(&report, &failing, runtime);
    assert_eq!(
        (ack.code, ack.msg.as_deref(), ack.status),
        (500, Some("the database is down"), AckStatus::Negative),
        "[{runtime}]"
    );
    let ack = only_ack(&report, &panicking, runtime);
    assert_eq!(
        (ack.code, ack.status),
        (500, AckStatus::Negative),
        "[{runtime}]"
    );
    let msg = ack.msg.as_deref().unwrap_or_default();
    assert!(
        msg.contains("panicked") && msg.contains(PANIC_MESSAGE),
        "[{runtime}] {msg:?}"
    );
    assert_eq!(report.ack_counts.total(), 7, "[{runtime}] no extra acks");
    assert!(
        report.client_errors.is_empty(),
        "{:?}",
        report.client_errors
    );

    // Every event reached the handler exactly once.
    let mut handled = client.handled();
    handled.sort();
    let mut pushed: Vec<String> = ok.iter().cloned().chain([failing, panicking]).collect();
    pushed.sort();
    assert_eq!(handled, pushed, "[{runtime}]");

    client
        .wait_until("the stats count the acks", WAIT, |c| {
            c.stats().acked_ok == 5 && c.stats().acked_error == 2
        })
        .await;
    let stats = client.stats();
    assert_eq!(stats.events_received, 7);
    assert_eq!(stats.events_delivered, 7);
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn exactly_one_pong_per_ping(runtime: Runtime) {
    let interval = ms(30);
    let emu = emulator(|s| s.ping_interval(interval)).await;
    let mut client = start(runtime, &ClientSpec::for_emulator(&emu));
    emu.wait_for_connections(1, WAIT).await.unwrap();

    // Acks interleave with the pongs: an ack's flush must not add or replace a pong.
    for _ in 0..10 {
        emu.push_many(3, &Behaviour::Ok.event()).unwrap();
        tokio::time::sleep(ms(45)).await;
    }
    emu.wait_for(
        |r| r.ack_counts.accepted >= 30 && r.connections[0].pings.len() >= 25,
        WAIT,
    )
    .await
    .unwrap();
    let taken = Instant::now();
    let report = emu.report();
    let conn = &report.connections[0];
    // Pings of the last moment may still be on their way back.
    let settled: Vec<usize> = conn
        .pings
        .iter()
        .filter(|p| taken.saturating_duration_since(p.sent_at) > ms(300))
        .map(|p| p.pongs.len())
        .collect();
    assert!(
        settled.len() >= 15,
        "[{runtime}] only {} pings",
        settled.len()
    );
    assert!(
        settled.iter().all(|&n| n == 1),
        "[{runtime}] pongs per ping: {settled:?}"
    );
    assert!(
        report.pongs_per_ping().iter().all(|&n| n <= 1),
        "[{runtime}] {:?}",
        report.pongs_per_ping()
    );
    assert_eq!(conn.unmatched_pongs, 0, "[{runtime}]");
    assert_eq!(report.accepted(), 1, "[{runtime}] no reconnect");
    assert!(client.stats().pings >= settled.len() as u64);
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn every_malformed_frame_is_survived(runtime: Runtime) {
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let mut client = start(runtime, &ClientSpec::for_emulator(&emu));
    emu.wait_for_connections(1, WAIT).await.unwrap();

    let mut valid = Vec::new();
    for (i, kind) in Malformed::ALL.into_iter().enumerate() {
        emu.send_malformed(kind).unwrap();
        valid.push(emu.push_event(Behaviour::Ok.event()).unwrap());
        if emu
            .wait_for(|r| r.ack_counts.accepted > i as u64, WAIT)
            .await
            .is_err()
        {
            panic!("[{runtime}] the event after {kind} was not acked");
        }
    }

    let report = emu.report();
    assert_eq!(report.accepted(), 1, "[{runtime}] the connection survived");
    assert!(report.connections[0].is_open());
    assert_eq!(report.acked_nonces(), valid, "[{runtime}]");
    assert_eq!(
        report.ack_counts.total(),
        valid.len() as u64,
        "[{runtime}] bad frames are never acked"
    );
    assert_eq!(
        client.handled(),
        valid,
        "[{runtime}] only valid events are handled"
    );

    let rejected: Vec<FrameError> = client
        .notices()
        .into_iter()
        .filter_map(|n| match n {
            Notice::Rejected(err) => Some(err),
            _ => None,
        })
        .collect();
    assert_eq!(
        rejected.len(),
        Malformed::ALL.len(),
        "[{runtime}] {rejected:?}"
    );
    for (kind, err) in Malformed::ALL.into_iter().zip(&rejected) {
        match (kind, err) {
            (Malformed::NotJson, FrameError::NotJson(_)) => {}
            _ => assert_eq!(*err, kind.expected_error(), "[{runtime}] {kind}"),
        }
    }
    client
        .wait_until("the stats count every rejection", WAIT, |c| {
            c.stats().rejected_total() == Malformed::ALL.len() as u64
        })
        .await;
    let stats = client.stats();
    for kind in RejectKind::ALL {
        let expected = Malformed::ALL
            .iter()
            .filter(|m| m.expected_reject() == kind)
            .count() as u64;
        assert_eq!(stats.rejected(kind), expected, "[{runtime}] {kind:?}");
    }
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn a_slow_handler_delays_neither_pongs_nor_other_acks(runtime: Runtime) {
    let interval = ms(50);
    let sleep = ms(600);
    let emu = emulator(|s| s.ping_interval(interval)).await;
    let mut client = start(runtime, &ClientSpec::for_emulator(&emu));
    emu.wait_for_connections(1, WAIT).await.unwrap();

    let slow = emu.push_event(Behaviour::Sleep(sleep).event()).unwrap();
    let fast = emu.push_event(Behaviour::Ok.event()).unwrap();
    emu.wait_for_acks(2, WAIT).await.unwrap();

    let report = emu.report();
    let slow_ack = only_ack(&report, &slow, runtime);
    let fast_ack = only_ack(&report, &fast, runtime);
    assert_eq!((slow_ack.code, fast_ack.code), (200, 200));
    assert!(
        fast_ack.at < slow_ack.at,
        "[{runtime}] the fast event pushed second was acked after the slow one"
    );
    let fast_latency = fast_ack.latency.expect("our nonce");
    assert!(
        fast_latency < ms(200),
        "[{runtime}] the fast ack took {fast_latency:?}"
    );
    let slow_latency = slow_ack.latency.expect("our nonce");
    assert!(slow_latency >= sleep, "[{runtime}] {slow_latency:?}");

    // Pings sent while the handler slept (up to a margin before it finished) were answered
    // at once: a pong blocked behind the handler would take until its end.
    let started = slow_ack.at - slow_latency;
    let busy: Vec<Duration> = report.connections[0]
        .pings
        .iter()
        .filter(|p| p.sent_at >= started && p.sent_at + ms(250) <= slow_ack.at)
        .map(|p| {
            assert_eq!(p.pongs.len(), 1, "[{runtime}] {p:?}");
            p.pongs[0] - p.sent_at
        })
        .collect();
    assert!(
        busy.len() >= 4,
        "[{runtime}] only {} pings while the handler slept",
        busy.len()
    );
    assert!(
        busy.iter().all(|rtt| *rtt < ms(200)),
        "[{runtime}] pong delays while the handler slept: {busy:?}"
    );
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn an_ack_leaves_when_its_handler_returns(runtime: Runtime) {
    // The server sends nothing after the event (no pings within the test), so the ack cannot
    // ride on a later frame: the handler's outcome must wake the loop by itself.
    let emu = emulator(|s| s.ping_interval(Duration::from_secs(3600))).await;
    let spec = ClientSpec {
        pong_timeout: Duration::from_secs(3600),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();
    for _ in 0..3 {
        // The handler returns after the loop went idle on its read.
        emu.push_event(Behaviour::sleep_ms(50).event()).unwrap();
    }
    emu.wait_for_acks(3, WAIT).await.unwrap();
    assert!(
        emu.report().connections[0].pings.is_empty(),
        "[{runtime}] the server pinged"
    );
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn a_full_backlog_pauses_reading_until_handlers_catch_up(runtime: Runtime) {
    let sleep = ms(800);
    let emu = emulator(|s| s.ping_interval(ms(100))).await;
    let spec = ClientSpec {
        flow: Some((1, 1)),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();
    // One delivery in flight, one in the backlog: then the client stops reading.
    let slow = emu.push_event(Behaviour::Sleep(sleep).event()).unwrap();
    let queued: Vec<String> = (0..2)
        .map(|_| emu.push_event(Behaviour::Ok.event()).unwrap())
        .collect();
    emu.wait_for_acks(3, WAIT).await.unwrap();

    let report = emu.report();
    let slow_ack = only_ack(&report, &slow, runtime).clone();
    for nonce in &queued {
        assert!(
            only_ack(&report, nonce, runtime).at >= slow_ack.at,
            "[{runtime}]"
        );
    }
    // Pings sent while reading was paused (well inside the handler's sleep) stay unread and
    // unanswered until the handler returned; then each gets its one pong.
    let started = slow_ack.at - slow_ack.latency.expect("our nonce");
    let while_paused = |p: &&open_event_emulator::server::PingRecord| {
        p.sent_at >= started + ms(200) && p.sent_at + ms(200) <= slow_ack.at
    };
    emu.wait_for(
        |r| {
            r.connections[0]
                .pings
                .iter()
                .filter(while_paused)
                .all(|p| !p.pongs.is_empty())
        },
        WAIT,
    )
    .await
    .unwrap();
    let report = emu.report();
    let paused: Vec<_> = report.connections[0]
        .pings
        .iter()
        .filter(while_paused)
        .collect();
    assert!(!paused.is_empty(), "[{runtime}] no ping while paused");
    for ping in paused {
        assert_eq!(ping.pongs.len(), 1, "[{runtime}] {ping:?}");
        assert!(
            ping.pongs[0] + ms(10) >= slow_ack.at,
            "[{runtime}] a ping sent while paused was answered before the handler returned"
        );
    }
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

runtime_tests!(
    an_ack_leaves_when_its_handler_returns,
    a_full_backlog_pauses_reading_until_handlers_catch_up,
    events_are_acked_and_failures_are_acked_500,
    exactly_one_pong_per_ping,
    every_malformed_frame_is_survived,
    a_slow_handler_delays_neither_pongs_nor_other_acks,
);
