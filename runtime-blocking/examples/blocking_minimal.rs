//! The smallest blocking client: prints every event and every lifecycle notice.
//!
//! ```sh
//! OPEN_EVENT_APP_ID=AK... OPEN_EVENT_APP_SECRET=... \
//! OPEN_EVENT_ENDPOINT=ws://127.0.0.1:8080/v7/event/ws \
//!     cargo run -p open-event-blocking --example blocking_minimal
//! ```
//!
//! `OPEN_EVENT_ENDPOINT` is optional (default: the platform's production endpoint).

use std::env;
use std::process::ExitCode;

use open_event_blocking::Client;

fn main() -> ExitCode {
    let (Ok(app_id), Ok(app_secret)) = (
        env::var("OPEN_EVENT_APP_ID"),
        env::var("OPEN_EVENT_APP_SECRET"),
    ) else {
        eprintln!(
            "set OPEN_EVENT_APP_ID and OPEN_EVENT_APP_SECRET (and optionally OPEN_EVENT_ENDPOINT)"
        );
        return ExitCode::from(2);
    };
    let mut builder = Client::builder(app_id, app_secret)
        .handler(|event| {
            println!("{} {} {}", event.event_code(), event.nonce, event.data);
            Ok::<(), std::io::Error>(())
        })
        .on_notice(|notice| eprintln!("{notice}"));
    if let Ok(endpoint) = env::var("OPEN_EVENT_ENDPOINT") {
        builder = builder.endpoint(endpoint);
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    // Blocks until the client stops for good (e.g. the app id and secret are rejected).
    match client.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("stopped: {reason}");
            ExitCode::FAILURE
        }
    }
}
