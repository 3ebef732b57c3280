//! Smoke test of this crate alone, under smol and under async-std: one event from the loopback
//! emulator is handled and acked, and a stop ends `run` with `Ok`. Every behaviour is
//! specified, on every runtime, by the cross-runtime suite in `tests/` (see `tests/README.md`).

use std::time::Duration;

use open_event_async_std::{Client, RunError};
use open_event_emulator::server::{EventSpec, ServerConfig};
use open_event_emulator::{Emulator, EmulatorOptions};

fn one_event_is_acked_and_stop_returns_ok(block_on: fn(Client) -> Result<(), RunError>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt
        .block_on(Emulator::start(EmulatorOptions::new(
            ServerConfig::generated(12),
        )))
        .unwrap();
    let credentials = emu.credentials();
    let client = Client::builder(credentials.app_id(), credentials.app_secret().clone())
        .endpoint(emu.url())
        .handler(|_event| async { Ok::<(), std::io::Error>(()) })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = std::thread::spawn(move || block_on(client));
    emu.push_event(EventSpec::chat_message("hello")).unwrap();
    rt.block_on(emu.wait_for_acks(1, Duration::from_secs(10)))
        .unwrap();
    handle.stop();
    assert_eq!(run.join().unwrap(), Ok(()));
    assert!(handle.is_stopped());
    assert_eq!(handle.stats().acked_ok, 1);
}

#[test]
fn under_smol() {
    one_event_is_acked_and_stop_returns_ok(|client| smol::block_on(client.run()));
}

#[test]
fn under_async_std() {
    one_event_is_acked_and_stop_returns_ok(|client| async_std::task::block_on(client.run()));
}
