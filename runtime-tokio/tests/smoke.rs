//! Smoke test of this crate alone: one event from the loopback emulator is handled and acked,
//! and a stop ends `run` with `Ok`. Every behaviour is specified, on every runtime, by the
//! cross-runtime suite in `tests/` (see `tests/README.md`).

use std::time::Duration;

use open_event_emulator::server::{EventSpec, ServerConfig};
use open_event_emulator::{Emulator, EmulatorOptions};
use open_event_tokio::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_is_acked_and_stop_returns_ok() {
    let emu = Emulator::start(EmulatorOptions::new(ServerConfig::generated(11)))
        .await
        .unwrap();
    let credentials = emu.credentials();
    let client = Client::builder(credentials.app_id(), credentials.app_secret().clone())
        .endpoint(emu.url())
        .handler(|_event| async { Ok::<(), std::io::Error>(()) })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = tokio::spawn(client.run());
    emu.push_event(EventSpec::chat_message("hello")).unwrap();
    emu.wait_for_acks(1, Duration::from_secs(10)).await.unwrap();
    handle.stop();
    assert_eq!(run.await.unwrap(), Ok(()));
    assert!(handle.is_stopped());
    assert_eq!(handle.stats().acked_ok, 1);
}
