//! The smallest program on the async-std executor (async-std is discontinued; prefer smol for new code).
//!
//! ```sh
//! OPEN_EVENT_ENDPOINT=ws://127.0.0.1:8080/v7/event/ws \
//! OPEN_EVENT_APP_ID=AK20240101TEST OPEN_EVENT_APP_SECRET=... \
//!     cargo run -p open-event-async-std --example async_std_minimal
//! ```
//! Without `OPEN_EVENT_ENDPOINT` it connects to the production endpoint.

use open_event_async_std::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app_id = std::env::var("OPEN_EVENT_APP_ID").map_err(|_| "set OPEN_EVENT_APP_ID")?;
    let secret = std::env::var("OPEN_EVENT_APP_SECRET").map_err(|_| "set OPEN_EVENT_APP_SECRET")?;
    let mut builder = Client::builder(app_id, secret)
        .handler(|event| async move {
            println!("{} {} {}", event.event_code(), event.nonce, event.data);
            Ok::<(), std::io::Error>(())
        })
        .on_notice(|notice| eprintln!("{notice}"));
    if let Ok(endpoint) = std::env::var("OPEN_EVENT_ENDPOINT") {
        builder = builder.endpoint(endpoint);
    }
    let client = builder.build()?;
    async_std::task::block_on(client.run())?;
    Ok(())
}
