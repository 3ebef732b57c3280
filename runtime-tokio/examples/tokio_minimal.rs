//! The smallest working program: print every event, stop gracefully on Ctrl+C.
//!
//! ```sh
//! OPEN_EVENT_APP_ID=AK... OPEN_EVENT_APP_SECRET=... cargo run -p open-event-tokio --example tokio_minimal
//! ```
//!
//! Environment: `OPEN_EVENT_APP_ID`, `OPEN_EVENT_APP_SECRET` (required), `OPEN_EVENT_ENDPOINT`
//! (optional, e.g. the emulator's `ws://127.0.0.1:PORT/v7/event/ws`; default: the platform),
//! `OPEN_EVENT_CA_FILE` (optional PEM CA for a `wss://` endpoint with a private certificate),
//! and one `OPEN_EVENT_*` variable per setting (`ClientBuilder::from_env`).

use std::io::IsTerminal;

use open_event_tokio::ClientBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    // Every setting from OPEN_EVENT_* (the app id and secret, OPEN_EVENT_ENDPOINT, ...).
    let client = ClientBuilder::from_env()?
        .handler(|event| async move {
            println!("{} {} {}", event.event_code(), event.nonce, event.data);
            Ok::<(), std::io::Error>(())
        })
        .build()?;

    let handle = client.handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: finishing in-flight events first (Ctrl+C again to abort)");
            handle.stop();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    client.run().await?;
    Ok(())
}
