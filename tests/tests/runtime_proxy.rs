//! An HTTP CONNECT proxy on the way to the loopback emulator, on every runtime: the client
//! asks it for a tunnel to the endpoint's host and port, and events flow through it (`ws://`,
//! and `wss://` with TLS end to end through the tunnel).

use open_event_tests::proxy::ConnectProxy;
use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{
    Behaviour, ClientSpec, Runtime, TestPki, WAIT, emulator, start, tls_emulator,
};

async fn events_flow_through_a_connect_proxy(runtime: Runtime) {
    let emu = emulator(|s| s).await;
    let proxy = ConnectProxy::start().await;
    let spec = ClientSpec {
        proxy: Some(proxy.url()),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();
    emu.push_event(Behaviour::Ok.event()).unwrap();
    emu.wait_for_acks(1, WAIT).await.unwrap();
    let port = emu.addr().port();
    assert_eq!(
        proxy.requests(),
        vec![format!("CONNECT 127.0.0.1:{port} HTTP/1.1")],
        "[{runtime}]"
    );
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

async fn wss_flows_through_a_connect_proxy(runtime: Runtime) {
    let pki = TestPki::new("proxied");
    let emu = tls_emulator(&pki, |s| s).await;
    let proxy = ConnectProxy::start().await;
    let spec = ClientSpec {
        proxy: Some(proxy.url()),
        ca_file: Some(pki.ca_file().to_owned()),
        ..ClientSpec::for_emulator(&emu)
    };
    assert!(spec.endpoint.starts_with("wss://"), "{}", spec.endpoint);
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();
    emu.push_event(Behaviour::Ok.event()).unwrap();
    emu.wait_for_acks(1, WAIT).await.unwrap();
    assert_eq!(
        proxy.requests().len(),
        1,
        "[{runtime}] {:?}",
        proxy.requests()
    );
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

runtime_tests!(
    events_flow_through_a_connect_proxy,
    wss_flows_through_a_connect_proxy
);
