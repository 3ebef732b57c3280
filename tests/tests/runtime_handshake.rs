//! The KSO-1 handshake against the loopback emulator, on every runtime: a correct one is
//! accepted, a wrong secret is refused with 401 and the client stops without retrying.

use open_event_core::connection::{DisconnectCause, Notice, OpenError, State, StopReason};
use open_event_emulator::server::{ConnectionEnd, HandshakeResult};
use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{ClientSpec, RunError, Runtime, WAIT, emulator, ms, start};

async fn correct_handshake_is_accepted(runtime: Runtime) {
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let mut client = start(runtime, &ClientSpec::for_emulator(&emu));
    emu.wait_for_connections(1, WAIT).await.unwrap();
    client.wait_open().await;

    let report = emu.report();
    assert_eq!(
        report.handshakes.len(),
        1,
        "[{runtime}] {:?}",
        report.handshakes
    );
    let handshake = &report.handshakes[0];
    assert!(
        handshake.is_accepted(),
        "[{runtime}] handshake refused: {:?}",
        handshake.result
    );
    assert_eq!(handshake.path_and_query, "/v7/event/ws");
    assert_eq!(
        handshake.app_id.as_deref(),
        Some(emu.credentials().app_id())
    );
    assert!(handshake.ack_mode, "[{runtime}] ACK mode is the default");
    assert!(report.connections[0].ack_mode);
    assert_eq!(
        client.notices(),
        [Notice::Connected { reconnect: false }],
        "[{runtime}]"
    );
    assert_eq!(client.stats().connects, 1);

    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
    emu.wait_for_all_closed(WAIT).await.unwrap();
    let report = emu.report();
    assert_eq!(
        report.handshakes.len(),
        1,
        "[{runtime}] no second handshake"
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

async fn wrong_secret_is_rejected_once(runtime: Runtime) {
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let spec = ClientSpec {
        app_secret: "not-the-app-secret-0123456789abcd".into(),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    match client.join(WAIT).await {
        Err(RunError::AuthRejected { status: 401, hint }) => {
            assert!(hint.contains("app secret"), "[{runtime}] {hint}");
        }
        other => panic!("[{runtime}] expected AuthRejected 401, got {other:?}"),
    }
    assert_eq!(client.state(), State::Stopped, "[{runtime}]");
    assert!(client.is_stopped());
    match client.notices().as_slice() {
        [
            Notice::Disconnected(DisconnectCause::ConnectFailed(OpenError::Status { status: 401 })),
            Notice::Stopped(StopReason::AuthRejected { status: 401, .. }),
        ] => {}
        other => panic!("[{runtime}] unexpected notices {other:?}"),
    }
    assert_eq!(client.stats().connects, 0);

    // Stopped for good: several backoff bases later there is still only the one handshake.
    tokio::time::sleep(ms(200)).await;
    let report = emu.report();
    assert_eq!(
        report.handshakes.len(),
        1,
        "[{runtime}] {:?}",
        report.handshakes
    );
    assert_eq!(report.accepted(), 0);
    match &report.handshakes[0].result {
        HandshakeResult::Rejected {
            status: 401,
            scripted: false,
            reason,
        } => assert!(!reason.is_empty()),
        other => panic!("[{runtime}] expected a 401 from validation, got {other:?}"),
    }
}

runtime_tests!(correct_handshake_is_accepted, wrong_secret_is_rejected_once);
