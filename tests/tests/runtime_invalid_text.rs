//! A hostile server sends a text frame that is not UTF-8, on every runtime: the client fails the
//! connection with a close frame of code 1007 (RFC 6455 §8.1; it used to drop the TCP
//! connection without one), reports it, and reconnects.

use std::time::Duration;

use open_event_core::connection::{DisconnectCause, Failure, Notice};
use open_event_tests::hostile::{OP_CLOSE, OP_TEXT, RawServer};
use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{ClientSpec, Runtime, WAIT, emulator, start};

async fn a_text_frame_that_is_not_utf8_gets_a_1007_close(runtime: Runtime) {
    let server = RawServer::bind().await;
    // The emulator only lends its app's credentials; the raw server accepts any.
    let emu = emulator(|s| s).await;
    let spec = ClientSpec {
        endpoint: server.url(),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    let mut conn = tokio::time::timeout(WAIT, server.accept())
        .await
        .expect("the client dials");
    client.wait_open().await;

    conn.send(OP_TEXT, b"{\"type\":\"event\",\"nonce\":\"\xff\xfe\"}")
        .await;
    let close = loop {
        let frame = tokio::time::timeout(WAIT, conn.read_frame())
            .await
            .unwrap_or_else(|_| panic!("[{runtime}] no close frame within {WAIT:?}"))
            .unwrap_or_else(|| panic!("[{runtime}] the connection ended without a close frame"));
        if frame.opcode == OP_CLOSE {
            break frame;
        }
    };
    assert_eq!(close.close_code(), Some(1007), "[{runtime}] {close:?}");
    assert!(
        close.close_reason().contains("UTF-8"),
        "[{runtime}] {:?}",
        close.close_reason()
    );
    // Answer the close and end the connection: the client reconnects.
    conn.send(OP_CLOSE, &1007u16.to_be_bytes()).await;
    drop(conn);
    let _again = tokio::time::timeout(WAIT, server.accept())
        .await
        .unwrap_or_else(|_| panic!("[{runtime}] no reconnect"));
    client
        .wait_until("the failure is reported", WAIT, |c| {
            c.notices()
                .contains(&Notice::Disconnected(DisconnectCause::Failed(
                    Failure::INVALID_UTF8,
                )))
        })
        .await;
    client.stop();
    // The raw server does not answer the stop's close frame: the close timeout ends it.
    assert_eq!(
        client.join(WAIT + Duration::from_secs(2)).await,
        Ok(()),
        "[{runtime}]"
    );
}

runtime_tests!(a_text_frame_that_is_not_utf8_gets_a_1007_close);
