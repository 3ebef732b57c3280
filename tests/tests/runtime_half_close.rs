//! A hostile server that sends a close frame and keeps the TCP connection open, on every
//! runtime: the client answers the close, waits the short close timeout, drops the TCP
//! connection and reconnects (with its usual first backoff, not after the pong timeout), and the
//! disconnect notice keeps the server's close code.

use std::time::{Duration, Instant};

use open_event_core::connection::{CLOSE_TIMEOUT, DisconnectCause, Notice};
use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{ClientSpec, Runtime, WAIT, emulator, start};

async fn a_close_frame_without_the_tcp_close_ends_the_connection_after_the_close_timeout(
    runtime: Runtime,
) {
    let emu = emulator(|s| s).await;
    let spec = ClientSpec {
        // Far above the close timeout: the old behaviour waited for it.
        pong_timeout: Duration::from_secs(30),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();
    client.wait_open().await;

    let closed_at = Instant::now();
    emu.close_and_hold(4000, "maintenance", Duration::from_secs(40))
        .unwrap();
    emu.wait_for_handshakes(2, WAIT).await.unwrap();
    let reconnect = emu.report().handshakes[1].at - closed_at;
    let (_, backoff) = spec.backoff_bounds(1);
    // Generous slack for a loaded machine; the failure this catches is the 30 s pong timeout.
    let bound = CLOSE_TIMEOUT + backoff + Duration::from_secs(2);
    assert!(
        reconnect <= bound,
        "[{runtime}] reconnected {reconnect:?} after the close frame, expected at most {bound:?}"
    );
    let disconnects: Vec<DisconnectCause> = client
        .notices()
        .into_iter()
        .filter_map(|n| match n {
            Notice::Disconnected(cause) => Some(cause),
            _ => None,
        })
        .collect();
    let [cause] = disconnects.as_slice() else {
        panic!("[{runtime}] expected one disconnect, got {disconnects:?}");
    };
    let text = cause.to_string();
    assert!(
        text.contains("4000") && text.contains("maintenance"),
        "[{runtime}] the notice keeps the close code and reason: {text}"
    );
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

runtime_tests!(a_close_frame_without_the_tcp_close_ends_the_connection_after_the_close_timeout);
