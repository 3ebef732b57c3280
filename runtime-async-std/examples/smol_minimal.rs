//! The smallest program on smol: print every event and ack it; Ctrl+C stops it gracefully
//! (in-flight events are finished and acked, then the close handshake).
//!
//! ```sh
//! OPEN_EVENT_ENDPOINT=ws://127.0.0.1:7000/v7/event/ws \
//! OPEN_EVENT_APP_ID=AKLOCAL OPEN_EVENT_APP_SECRET=local-secret \
//!     cargo run -p open-event-async-std --example smol_minimal
//! ```
//! Without `OPEN_EVENT_ENDPOINT` it connects to the production endpoint; every other setting
//! has its `OPEN_EVENT_*` variable too (`ClientBuilder::from_env`).

use async_signal::{Signal, Signals};
use open_event_async_std::ClientBuilder;
use smol::stream::StreamExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every setting from OPEN_EVENT_* (the app id and secret, OPEN_EVENT_ENDPOINT, ...).
    let client = ClientBuilder::from_env()?
        .handler(|event| async move {
            println!("{} {} {}", event.event_code(), event.nonce, event.data);
            Ok::<(), std::io::Error>(())
        })
        .on_notice(|notice| eprintln!("{notice}"))
        .build()?;

    let handle = client.handle();
    let mut signals = Signals::new([Signal::Int])?;
    smol::block_on(async {
        let _on_ctrl_c = smol::spawn(async move {
            if signals.next().await.is_some() {
                eprintln!("stopping: finishing in-flight events first (Ctrl+C again to abort)");
                handle.stop();
                if signals.next().await.is_some() {
                    std::process::exit(130);
                }
            }
        });
        client.run().await
    })?;
    Ok(())
}
