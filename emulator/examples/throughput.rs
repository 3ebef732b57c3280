//! Measures how fast the loopback runner pushes events to one client.
//!
//! ```text
//! cargo run --release -p open-event-emulator --example throughput -- [COUNT] [--ack]
//! ```
//!
//! The client reads every frame; with `--ack` it also opens each event and acks it, and the run
//! ends when the server has every ack.

use std::time::{Duration, Instant, SystemTime};

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use futures_util::{SinkExt as _, StreamExt as _};
use open_event_core::{codec, kso1};
use open_event_emulator::server::{EventSpec, ServerConfig};
use open_event_emulator::{Emulator, EmulatorOptions};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut count: u32 = 200_000;
    let mut ack = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--ack" => ack = true,
            n => count = n.parse()?,
        }
    }
    let emulator = Emulator::start(EmulatorOptions::new(
        ServerConfig::generated(1).record_acks(false),
    ))
    .await?;
    let url = emulator.url();
    let mut request = url.as_str().into_client_request()?;
    let headers = kso1::handshake_headers(
        emulator.credentials(),
        &url.parse()?,
        SystemTime::now(),
        true,
    );
    for (name, value) in headers.iter() {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes())?,
            value.parse()?,
        );
    }
    let (ws, _) = async_tungstenite::tokio::connect_async(request).await?;
    emulator
        .wait_for_connections(1, Duration::from_secs(5))
        .await?;
    let (mut sink, mut stream) = ws.split();
    let cipher = emulator.cipher();
    let (acks, mut acks_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader = tokio::spawn(async move {
        let mut seen = 0u32;
        while seen < count {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => {
                    if ack {
                        let event = cipher.open_text(text.as_str()).expect("valid event");
                        let _ = acks.send(codec::encode_ack(&event.nonce, 200, None));
                    }
                    seen += 1;
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        seen
    });
    tokio::spawn(async move {
        while let Some(ack) = acks_rx.recv().await {
            let _ = sink.feed(Message::text(ack)).await;
            while let Ok(ack) = acks_rx.try_recv() {
                let _ = sink.feed(Message::text(ack)).await;
            }
            let _ = sink.flush().await;
        }
    });

    let started = Instant::now();
    emulator.push_many(count, &EventSpec::chat_message("load test"))?;
    let seen = reader.await?;
    let received = started.elapsed();
    if ack {
        emulator
            .wait_for_acks(u64::from(count), Duration::from_secs(120))
            .await?;
    }
    let done = started.elapsed();
    println!(
        "{seen} events received in {received:.2?}: {:.0} events/s",
        f64::from(seen) / received.as_secs_f64()
    );
    if ack {
        println!(
            "all {count} acked in {done:.2?}: {:.0} events/s round trip",
            f64::from(count) / done.as_secs_f64()
        );
    }
    emulator.shutdown().await;
    Ok(())
}
