//! GoAway handling against the loopback emulator, on every runtime: `server_shutdown` with
//! `reconnect_ms`, `connection_replaced` by a second client, `heartbeat_timeout`.

use open_event_core::codec::{GoAway, GoAwayReason};
use open_event_core::connection::{DisconnectCause, Notice, State, StopReason};
use open_event_emulator::EmulatorHandle;
use open_event_emulator::server::{ConnectionEnd, PreviousEnd, ReconnectDelay};
use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{
    Behaviour, ClientSpec, EARLY, RunError, RunningClient, Runtime, SLACK, WAIT, emulator, ms,
    start,
};

/// The reconnect that followed connection `id`.
fn reconnect_after(emu: &EmulatorHandle, id: u64) -> ReconnectDelay {
    let report = emu.report();
    report
        .reconnects
        .iter()
        .find(|r| matches!(r.after, PreviousEnd::Connection(c) if c.get() == id))
        .cloned()
        .unwrap_or_else(|| panic!("no reconnect after conn#{id}: {:?}", report.reconnects))
}

/// The notices from the GoAway on, without `Rejected`/`Duplicate` noise (there is none here).
fn notices_from_goaway(client: &RunningClient) -> Vec<Notice> {
    let notices = client.notices();
    let at = notices
        .iter()
        .position(|n| matches!(n, Notice::GoAway(_)))
        .unwrap_or_else(|| panic!("[{}] no GoAway notice: {notices:?}", client.runtime()));
    notices[at..].to_vec()
}

async fn server_shutdown_reconnects_after_reconnect_ms(runtime: Runtime) {
    let reconnect_ms = 300;
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    // The backoff base (50 ms) is far from reconnect_ms: the server's delay must win.
    let mut client = start(runtime, &ClientSpec::for_emulator(&emu));
    emu.wait_for_connections(1, WAIT).await.unwrap();
    let before = emu.push_event(Behaviour::Ok.event()).unwrap();
    emu.wait_for_acks(1, WAIT).await.unwrap();

    emu.goaway(GoAwayReason::ServerShutdown, Some(reconnect_ms))
        .unwrap();
    emu.wait_for_connections(2, WAIT).await.unwrap();
    client.wait_connects(2).await;
    let delay = reconnect_after(&emu, 1).delay;
    let expected = ms(reconnect_ms);
    assert!(
        delay >= expected.mul_f64(0.8) && delay <= expected.mul_f64(1.2),
        "[{runtime}] reconnected {delay:?} after the close, expected {expected:?} ± 20 %"
    );
    assert!(delay + EARLY >= expected, "[{runtime}] {delay:?} is early");

    // Events flow on the new connection.
    let after = emu.push_event(Behaviour::Ok.event()).unwrap();
    emu.wait_for_acks(2, WAIT).await.unwrap();
    let report = emu.report();
    let acked: Vec<(String, u64)> = report
        .acks
        .iter()
        .map(|a| (a.nonce.clone(), a.conn.get()))
        .collect();
    assert_eq!(acked, [(before, 1), (after, 2)], "[{runtime}]");
    let first = &report.connections[0];
    assert_eq!(
        first.goaway.as_ref().map(|g| (&g.reason, g.reconnect_ms)),
        Some((&GoAwayReason::ServerShutdown, Some(reconnect_ms)))
    );
    assert_eq!(
        first.end,
        Some(ConnectionEnd::ClosedByServer { code: 1001 }),
        "[{runtime}]"
    );

    match notices_from_goaway(&client).as_slice() {
        [
            Notice::GoAway(GoAway {
                reason: GoAwayReason::ServerShutdown,
                reconnect_ms: Some(300),
                ..
            }),
            Notice::Disconnected(DisconnectCause::GoAway(GoAwayReason::ServerShutdown)),
            Notice::Reconnecting {
                attempt: 1, delay, ..
            },
            Notice::Connected { reconnect: true },
        ] => assert_eq!(*delay, expected, "[{runtime}] exactly reconnect_ms"),
        other => panic!("[{runtime}] unexpected notices {other:?}"),
    }
    assert_eq!(client.stats().goaways, 1);
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn connection_replaced_stops_without_reconnecting(runtime: Runtime) {
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let spec = ClientSpec::for_emulator(&emu);
    let mut first = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();
    first.wait_open().await;

    // A second client of the same app takes over.
    let mut second = start(runtime, &spec);
    match first.join(WAIT).await {
        Err(RunError::ConnectionReplaced { message }) => {
            assert!(
                message.contains("newer connection"),
                "[{runtime}] {message}"
            );
        }
        other => panic!("[{runtime}] expected ConnectionReplaced, got {other:?}"),
    }
    assert_eq!(first.state(), State::Stopped);
    match notices_from_goaway(&first).as_slice() {
        [
            Notice::GoAway(GoAway {
                reason: GoAwayReason::ConnectionReplaced,
                ..
            }),
            Notice::Disconnected(DisconnectCause::GoAway(GoAwayReason::ConnectionReplaced)),
            Notice::Stopped(StopReason::ConnectionReplaced { .. }),
        ] => {}
        other => panic!("[{runtime}] unexpected notices {other:?}"),
    }

    // Several backoff bases later: still two handshakes, the second client's connection open.
    tokio::time::sleep(ms(300)).await;
    let report = emu.report();
    assert_eq!(
        report.handshakes.len(),
        2,
        "[{runtime}] {:?}",
        report.handshakes
    );
    assert_eq!(
        report.connections[0].goaway.as_ref().map(|g| &g.reason),
        Some(&GoAwayReason::ConnectionReplaced)
    );
    assert!(report.connections[1].is_open(), "[{runtime}]");

    // Events go to the second client only.
    let nonce = emu.push_event(Behaviour::Ok.event()).unwrap();
    emu.wait_for_acks(1, WAIT).await.unwrap();
    assert_eq!(second.handled(), [nonce], "[{runtime}]");
    assert!(first.handled().is_empty());
    assert_eq!(emu.report().acks[0].conn.get(), 2);
    assert_eq!(second.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn heartbeat_timeout_reconnects_with_backoff(runtime: Runtime) {
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let spec = ClientSpec {
        reconnect_base: ms(100),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();
    client.wait_open().await;

    emu.goaway(GoAwayReason::HeartbeatTimeout, None).unwrap();
    emu.wait_for_connections(2, WAIT).await.unwrap();
    client.wait_connects(2).await;

    let (lo, hi) = spec.backoff_bounds(1);
    let chosen = spec.backoff_delays(1)[0];
    match notices_from_goaway(&client).as_slice() {
        [
            Notice::GoAway(GoAway {
                reason: GoAwayReason::HeartbeatTimeout,
                reconnect_ms: None,
                ..
            }),
            Notice::Disconnected(DisconnectCause::GoAway(GoAwayReason::HeartbeatTimeout)),
            Notice::Reconnecting {
                attempt: 1, delay, ..
            },
            Notice::Connected { reconnect: true },
        ] => {
            assert!(
                (lo..=hi).contains(delay),
                "[{runtime}] {delay:?} outside {lo:?}..={hi:?}"
            );
            assert_eq!(*delay, chosen, "[{runtime}] the seeded jitter");
        }
        other => panic!("[{runtime}] unexpected notices {other:?}"),
    }
    let seen = reconnect_after(&emu, 1).delay;
    assert!(
        seen + EARLY >= chosen && seen <= chosen + SLACK,
        "[{runtime}] the emulator saw {seen:?}, the client waited {chosen:?}"
    );
    assert!(
        seen + EARLY >= lo && seen <= hi + SLACK,
        "[{runtime}] {seen:?} outside attempt 1's {lo:?}..={hi:?}"
    );
    let nonce = emu.push_event(Behaviour::Ok.event()).unwrap();
    emu.wait_for_acks(1, WAIT).await.unwrap();
    assert_eq!(emu.report().acked_nonces(), [nonce.as_str()]);
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

runtime_tests!(
    server_shutdown_reconnects_after_reconnect_ms,
    connection_replaced_stops_without_reconnecting,
    heartbeat_timeout_reconnects_with_backoff,
);
