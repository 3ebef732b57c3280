//! The echo bot end to end over loopback: the event emulator pushes a chat message, a tokio
//! client's typed handler answers it through the REST API client, the emulated API records the
//! reply, and only then is the event acked with 200.

use std::time::Duration;

use open_event_api::{ApiConfig, AsyncClient, ReplyExt};
use open_event_core::Credentials;
use open_event_emulator::api::{
    ApiEmulator, ApiEmulatorOptions, ApiServerConfig, Fault, MessageCall,
};
use open_event_emulator::runner::{Emulator, EmulatorOptions};
use open_event_emulator::server::{EventSpec, ServerConfig};
use open_event_tokio::model::AppChatMessageCreate;
use open_event_tokio::{Client, Dispatcher, Event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_bot_answers_a_chat_message() {
    let credentials = Credentials::new("AKECHO", "echo-secret-value");
    let events = Emulator::start(EmulatorOptions::new(ServerConfig::new(credentials.clone())))
        .await
        .unwrap();
    let api = ApiEmulator::start(ApiEmulatorOptions::new(ApiServerConfig::new(
        credentials.clone(),
    )))
    .await
    .unwrap();
    // The first reply attempt meets a 429: the handler's call retries before it acks.
    api.fail_next(Fault::rate_limited(0), 1);

    let client = AsyncClient::new(
        ApiConfig::builder(credentials.app_id(), credentials.app_secret().clone())
            .api_base(api.base_url())
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut dispatcher = Dispatcher::new();
    dispatcher.on_app_chat_message_create(move |_event: Event, msg: AppChatMessageCreate| {
        let client = client.clone();
        async move {
            let text = msg.text().unwrap_or_default().to_owned();
            client
                .reply(msg.reply_text(format!("echo: {text}"))?)
                .await?;
            Ok::<(), open_event_api::ApiError>(())
        }
    });
    let bot = Client::builder(credentials.app_id(), credentials.app_secret().clone())
        .endpoint(events.url())
        .dispatcher(dispatcher)
        .build()
        .unwrap();
    let handle = bot.handle();
    let running = tokio::spawn(bot.run());

    events
        .wait_for_connections(1, Duration::from_secs(10))
        .await
        .unwrap();
    let nonce = events.push_event(EventSpec::chat_message("ping")).unwrap();
    events
        .wait_for_acks(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(events.report().acked_nonces(), [nonce.as_str()]);

    let report = api.report();
    assert_eq!(report.texts(), ["echo: ping"]);
    assert_eq!(
        report.messages[0].call,
        MessageCall::Reply {
            chat_id: "emu-chat".into(),
            message_id: "emu-msg".into()
        }
    );
    assert_eq!((report.tokens_issued, report.faults_served), (1, 1));

    handle.stop();
    running.await.unwrap().unwrap();
    events.shutdown().await;
    api.shutdown().await;
}
