//! Extra handshake headers and query parameters against the loopback emulator, on every
//! runtime: they arrive as set, and the emulator verifies the KSO-1 signature with the query in
//! the signed request URI (a query the signature did not cover would be refused with 401).

use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{ClientSpec, Runtime, WAIT, emulator, ms, start};

async fn extra_headers_and_query_arrive_and_the_handshake_verifies(runtime: Runtime) {
    let emu = emulator(|s| s.ping_interval(ms(50))).await;
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    let spec = ClientSpec {
        headers: vec![pair("X-Tenant", "t1"), pair("X-Trace", "abc def")],
        query: vec![pair("region", "cn"), pair("who", "a&b")],
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();
    client.wait_open().await;

    let report = emu.report();
    let handshake = &report.handshakes[0];
    assert!(
        handshake.is_accepted(),
        "[{runtime}] the signature over the query did not verify: {:?}",
        handshake.result
    );
    assert_eq!(
        handshake.path_and_query, "/v7/event/ws?region=cn&who=a%26b",
        "[{runtime}]"
    );
    let header = |name: &str| {
        handshake
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-tenant"), Some("t1"), "[{runtime}]");
    assert_eq!(header("x-trace"), Some("abc def"), "[{runtime}]");
    assert!(header("x-kso-authorization").is_some(), "[{runtime}]");
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

runtime_tests!(extra_headers_and_query_arrive_and_the_handshake_verifies);
