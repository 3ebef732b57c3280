//! An echo bot on plain threads: answers every chat message with its own text.
//!
//! ```sh
//! # against the emulator, which serves the REST API too with --api-listen:
//! cargo run -p openevent -- emulate --listen 127.0.0.1:7000 --api-listen 127.0.0.1:7001 \
//!     --app-id AKLOCAL --app-secret local-secret
//! OPEN_EVENT_ENDPOINT=ws://127.0.0.1:7000/v7/event/ws OPEN_EVENT_API_BASE=http://127.0.0.1:7001 \
//! OPEN_EVENT_APP_ID=AKLOCAL OPEN_EVENT_APP_SECRET=local-secret \
//!     cargo run -p open-event-blocking --example blocking_echo_bot
//! ```
//!
//! Without `OPEN_EVENT_ENDPOINT` / `OPEN_EVENT_API_BASE` it talks to the platform.

use open_event_api::{ApiConfig, BlockingClient, ReplyExt};
use open_event_blocking::model::AppChatMessageCreate;
use open_event_blocking::{Client, Dispatcher, Event};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let (app_id, app_secret) = (var("OPEN_EVENT_APP_ID")?, var("OPEN_EVENT_APP_SECRET")?);

    let mut api = ApiConfig::builder(&app_id, app_secret.as_str());
    if let Ok(base) = std::env::var("OPEN_EVENT_API_BASE") {
        api = api.api_base(base);
    }
    let api = BlockingClient::new(api.build()?)?;

    let mut dispatcher = Dispatcher::new();
    dispatcher.on_app_chat_message_create(move |_event: Event, msg: AppChatMessageCreate| {
        let text = msg.text().unwrap_or("(not a text message)");
        // Runs on a worker thread of the client: blocking here is fine.
        api.reply(msg.reply_text(format!("echo: {text}"))?)?;
        Ok::<(), open_event_api::ApiError>(())
    });

    let mut builder = Client::builder(app_id, app_secret).dispatcher(dispatcher);
    if let Ok(endpoint) = std::env::var("OPEN_EVENT_ENDPOINT") {
        builder = builder.endpoint(endpoint);
    }
    let client = builder.build()?;

    // Ctrl+C: a graceful stop (in-flight replies finish and are acked, then the close).
    let handle = client.handle();
    ctrlc::set_handler(move || handle.stop())?;
    client.run()?;
    Ok(())
}
