//! `wss://` against the loopback emulator, on every runtime: a server certificate from a test
//! CA passed with `ca_file` works; one from an unknown CA fails with an error naming the
//! certificate.

use open_event_core::connection::{DisconnectCause, Notice, OpenError, StopReason};
use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{
    Behaviour, ClientSpec, RunError, Runtime, TestPki, WAIT, ms, start, tls_emulator,
};

async fn wss_with_the_test_ca_works(runtime: Runtime) {
    let pki = TestPki::new("trusted");
    let emu = tls_emulator(&pki, |s| s.ping_interval(ms(50))).await;
    assert!(emu.url().starts_with("wss://127.0.0.1:"));
    let spec = ClientSpec {
        ca_file: Some(pki.ca_file.clone()),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();

    let nonce = emu.push_event(Behaviour::Ok.event()).unwrap();
    emu.wait_for_acks(1, WAIT).await.unwrap();
    let report = emu.report();
    assert_eq!(report.acked_nonces(), [nonce.as_str()], "[{runtime}]");
    assert!(report.handshakes[0].is_accepted());
    // Pongs go through TLS too, one per ping.
    emu.wait_for(
        |r| {
            r.connections[0]
                .pings
                .iter()
                .filter(|p| !p.pongs.is_empty())
                .count()
                >= 3
        },
        WAIT,
    )
    .await
    .unwrap();
    assert!(emu.report().pongs_per_ping().iter().all(|&n| n <= 1));
    assert!(
        emu.transport_errors().is_empty(),
        "{:?}",
        emu.transport_errors()
    );
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn an_untrusted_certificate_fails_clearly(runtime: Runtime) {
    let served = TestPki::new("served");
    let trusted = TestPki::new("other-ca");
    let emu = tls_emulator(&served, |s| s).await;
    let spec = ClientSpec {
        ca_file: Some(trusted.ca_file.clone()),
        max_retries: Some(0),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    let reason = match client.join(WAIT).await {
        Err(reason @ RunError::RetriesExhausted { attempts: 1, .. }) => reason,
        other => panic!("[{runtime}] expected RetriesExhausted after one attempt, got {other:?}"),
    };
    let text = reason.to_string();
    assert!(
        text.contains("TLS certificate not trusted") && text.contains("ca_file"),
        "[{runtime}] {text}"
    );
    match client.notices().as_slice() {
        [
            Notice::Disconnected(DisconnectCause::ConnectFailed(OpenError::Transport(detail))),
            Notice::Stopped(StopReason::RetriesExhausted { .. }),
        ] => assert!(detail.contains("certificate"), "[{runtime}] {detail}"),
        other => panic!("[{runtime}] unexpected notices {other:?}"),
    }
    assert_eq!(client.stats().connects, 0);
    // The server never saw a WebSocket handshake; its side of TLS failed.
    assert!(emu.report().handshakes.is_empty(), "[{runtime}]");
    let deadline = std::time::Instant::now() + WAIT;
    while emu.transport_errors().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(ms(5)).await;
    }
    let errors = emu.transport_errors();
    assert!(
        errors.iter().any(|e| e.contains("TLS handshake")),
        "[{runtime}] {errors:?}"
    );
}

runtime_tests!(
    wss_with_the_test_ca_works,
    an_untrusted_certificate_fails_clearly
);
