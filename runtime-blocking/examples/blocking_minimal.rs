//! The smallest blocking client: prints every event and every lifecycle notice; Ctrl+C stops
//! it gracefully (in-flight events are finished and acked, then the close handshake).
//!
//! ```sh
//! OPEN_EVENT_ENDPOINT=ws://127.0.0.1:7000/v7/event/ws \
//! OPEN_EVENT_APP_ID=AKLOCAL OPEN_EVENT_APP_SECRET=local-secret \
//!     cargo run -p open-event-blocking --example blocking_minimal
//! ```
//!
//! `OPEN_EVENT_ENDPOINT` is optional (default: the platform's production endpoint); every
//! other setting has its `OPEN_EVENT_*` variable too (`ClientBuilder::from_env`).

use std::sync::atomic::{AtomicBool, Ordering};

use open_event_blocking::ClientBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every setting from OPEN_EVENT_* (the app id and secret, OPEN_EVENT_ENDPOINT, ...).
    let client = ClientBuilder::from_env()?
        .handler(|event| {
            println!("{} {} {}", event.event_code(), event.nonce, event.data);
            Ok::<(), std::io::Error>(())
        })
        .on_notice(|notice| eprintln!("{notice}"))
        .build()?;

    // ClientHandle::stop works from any thread, the signal handler's too.
    let handle = client.handle();
    let pressed = AtomicBool::new(false);
    ctrlc::set_handler(move || {
        if pressed.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("stopping: finishing in-flight events first (Ctrl+C again to abort)");
        handle.stop();
    })?;
    // Blocks until the stop completes (Ok) or the client gives up (e.g. credentials rejected).
    client.run()?;
    Ok(())
}
