//! Graceful stop against the loopback emulator, on every runtime: in-flight events are acked
//! before the close frame, within `drain_timeout`; a stop before `run` or during a connect
//! attempt ends `run` with `Ok` at once.

use std::time::Instant;

use open_event_core::connection::{Notice, State, StopReason};
use open_event_emulator::server::ConnectionEnd;
use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{
    Behaviour, ClientSpec, Runtime, SLACK, WAIT, emulator, ms, start,
};

async fn stop_acks_in_flight_events_before_closing(runtime: Runtime) {
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let mut client = start(runtime, &ClientSpec::for_emulator(&emu));
    emu.wait_for_connections(1, WAIT).await.unwrap();

    let nonce = emu.push_event(Behaviour::sleep_ms(300).event()).unwrap();
    client
        .wait_until("the handler started", WAIT, |c| c.handled().len() == 1)
        .await;
    let stopped_at = Instant::now();
    client.stop();
    assert_eq!(client.join(WAIT).await, Ok(()), "[{runtime}]");
    assert_eq!(client.state(), State::Stopped);
    assert!(client.is_stopped());
    assert!(
        matches!(
            client.notices().last(),
            Some(Notice::Stopped(StopReason::Requested))
        ),
        "[{runtime}] {:?}",
        client.notices()
    );

    emu.wait_for_all_closed(WAIT).await.unwrap();
    let report = emu.report();
    let conn = &report.connections[0];
    let [ack] = report.acks.as_slice() else {
        panic!("[{runtime}] expected one ack, got {:?}", report.acks);
    };
    assert_eq!(
        (ack.nonce.as_str(), ack.code),
        (nonce.as_str(), 200),
        "[{runtime}]"
    );
    assert!(
        ack.at >= stopped_at,
        "[{runtime}] the ack came after the stop request"
    );
    let closed_at = conn.closed_at.expect("closed");
    assert!(
        ack.at <= closed_at,
        "[{runtime}] the ack came before the close"
    );
    assert_eq!(
        conn.end,
        Some(ConnectionEnd::ClosedByClient {
            code: Some(1000),
            reason: String::new()
        }),
        "[{runtime}]"
    );
    assert_eq!(report.pending, 0);
    assert_eq!(
        report.handshakes.len(),
        1,
        "[{runtime}] no reconnect after the stop"
    );
}

async fn stop_gives_up_on_handlers_after_the_drain_timeout(runtime: Runtime) {
    let drain = ms(150);
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let spec = ClientSpec {
        drain_timeout: drain,
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();

    let nonce = emu.push_event(Behaviour::sleep_ms(1_000).event()).unwrap();
    client
        .wait_until("the handler started", WAIT, |c| c.handled().len() == 1)
        .await;
    let stopped_at = Instant::now();
    client.stop();
    assert_eq!(client.join(WAIT).await, Ok(()), "[{runtime}]");
    let took = stopped_at.elapsed();
    assert!(
        took >= drain && took <= drain + 2 * SLACK,
        "[{runtime}] run returned {took:?} after the stop, drain timeout {drain:?}"
    );

    emu.wait_for_all_closed(WAIT).await.unwrap();
    let report = emu.report();
    assert!(report.acks.is_empty(), "[{runtime}] {:?}", report.acks);
    assert_eq!(
        report.pending, 1,
        "[{runtime}] the platform will redeliver {nonce}"
    );
    assert_eq!(
        report.connections[0].end,
        Some(ConnectionEnd::ClosedByClient {
            code: Some(1000),
            reason: String::new()
        }),
        "[{runtime}]"
    );
}

async fn a_stop_before_run_returns_ok_without_connecting(runtime: Runtime) {
    let emu = emulator(|s| s).await;
    let spec = ClientSpec {
        stop_before_run: true,
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    assert_eq!(client.join(WAIT).await, Ok(()), "[{runtime}]");
    assert_eq!(client.state(), State::Stopped);
    assert_eq!(client.stats().connects, 0, "[{runtime}]");
    assert!(
        matches!(
            client.notices().as_slice(),
            [Notice::Stopped(StopReason::Requested)]
        ),
        "[{runtime}] {:?}",
        client.notices()
    );
}

async fn a_stop_during_a_connect_attempt_abandons_it(runtime: Runtime) {
    // A server that accepts TCP and never answers the WebSocket upgrade.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let emu = emulator(|s| s).await;
    let spec = ClientSpec {
        endpoint: format!("ws://127.0.0.1:{port}/v7/event/ws"),
        connect_timeout: std::time::Duration::from_secs(30),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    let (_held, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the client dials")
        .unwrap();
    assert_eq!(client.state(), State::Connecting);
    client.stop();
    // Well before `connect_timeout`: the attempt is dropped, not waited for.
    assert_eq!(client.join(WAIT).await, Ok(()), "[{runtime}]");
    assert_eq!(client.stats().connects, 0, "[{runtime}]");
}

runtime_tests!(
    stop_acks_in_flight_events_before_closing,
    stop_gives_up_on_handlers_after_the_drain_timeout,
    a_stop_before_run_returns_ok_without_connecting,
    a_stop_during_a_connect_attempt_abandons_it,
);
