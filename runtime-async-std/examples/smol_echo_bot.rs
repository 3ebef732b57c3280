//! An echo bot on smol (or async-std): answers every chat message with its own text.
//!
//! The async API client is reqwest's, which needs tokio; on async-io executors the blocking
//! client runs on smol's blocking pool instead (`smol::unblock`; `async_std::task::spawn_blocking`
//! under async-std).
//!
//! ```sh
//! # against the emulator, which serves the REST API too with --api-listen:
//! cargo run -p openevent -- emulate --listen 127.0.0.1:7000 --api-listen 127.0.0.1:7001 \
//!     --app-id AKLOCAL --app-secret local-secret
//! OPEN_EVENT_ENDPOINT=ws://127.0.0.1:7000/v7/event/ws OPEN_EVENT_API_BASE=http://127.0.0.1:7001 \
//! OPEN_EVENT_APP_ID=AKLOCAL OPEN_EVENT_APP_SECRET=local-secret \
//!     cargo run -p open-event-async-std --example smol_echo_bot
//! ```
//!
//! Without `OPEN_EVENT_ENDPOINT` / `OPEN_EVENT_API_BASE` it talks to the platform.

use async_signal::{Signal, Signals};
use open_event_api::{ApiConfig, BlockingClient, ReplyExt};
use open_event_async_std::model::AppChatMessageCreate;
use open_event_async_std::{Client, Dispatcher, Event};
use smol::stream::StreamExt;

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
        let api = api.clone();
        async move {
            let text = msg.text().unwrap_or("(not a text message)");
            let reply = msg.reply_text(format!("echo: {text}"))?;
            smol::unblock(move || api.reply(reply)).await?;
            Ok::<(), open_event_api::ApiError>(())
        }
    });

    let mut builder = Client::builder(app_id, app_secret).dispatcher(dispatcher);
    if let Ok(endpoint) = std::env::var("OPEN_EVENT_ENDPOINT") {
        builder = builder.endpoint(endpoint);
    }
    let client = builder.build()?;

    // Ctrl+C: a graceful stop (in-flight replies finish and are acked, then the close).
    let handle = client.handle();
    let mut signals = Signals::new([Signal::Int])?;
    smol::block_on(async {
        let _on_ctrl_c = smol::spawn(async move {
            if signals.next().await.is_some() {
                handle.stop();
            }
        });
        client.run().await
    })?;
    Ok(())
}
