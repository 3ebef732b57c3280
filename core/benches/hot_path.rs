//! The per-event hot path: a 1 KB event frame in, a delivered `Event` out.
//!
//! Run: `cargo bench -p open-event-core --bench hot_path`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use open_event_core::Credentials;
use open_event_core::codec;
use open_event_core::config::Config;
use open_event_core::connection::{Action, Connection, Input, Outcome};
use open_event_core::crypto::EventCipher;

const APP_ID: &str = "AK20240101TEST";
const APP_SECRET: &str = "sk_test_secret_0123456789abcdef";
const FRAMES: usize = 16_384;

/// A realistic 1 KB JSON payload (a chat message with a long text).
fn payload() -> String {
    let text = "x".repeat(1024 - 171);
    let data = format!(
        r#"{{"company_id":"c1","chat":{{"id":"chat_1","type":"p2p"}},"sender":{{"type":"user","id":"u1"}},"send_time":1704067200,"message":{{"id":"m1","type":"text","content":{{"text":"{text}"}}}}}}"#
    );
    assert_eq!(data.len(), 1024);
    data
}

fn frames(cipher: &EventCipher) -> Vec<String> {
    let data = payload();
    (0..FRAMES)
        .map(|i| {
            cipher
                .seal(
                    "kso.app_chat.message",
                    "create",
                    1_704_067_200,
                    &format!("{i:016x}"),
                    &data,
                )
                .unwrap()
                .to_json()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cipher = EventCipher::new(&Credentials::new(APP_ID, APP_SECRET));
    let frames = frames(&cipher);
    let mut group = c.benchmark_group("event_1kb");
    group.throughput(Throughput::Elements(1));

    group.bench_function("decode", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % FRAMES;
            black_box(codec::decode(black_box(&frames[i])).is_ok())
        });
    });

    group.bench_function("decode_verify_decrypt", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % FRAMES;
            black_box(cipher.open_text(black_box(&frames[i])).unwrap())
        });
    });

    // The whole core path: classify → verify → decrypt → dedup → Deliver action; then the
    // outcome → ack action and its confirmation, so the connection stays in steady state.
    group.bench_function("connection_deliver_and_ack", |b| {
        let config = Arc::new(
            Config::builder(APP_ID, APP_SECRET)
                .pong_timeout(Duration::from_secs(3600))
                .build()
                .unwrap(),
        );
        #[allow(clippy::disallowed_methods)] // the bench is the adapter: it owns the clock
        let now = Instant::now();
        let mut conn = Connection::new(config, now, 1);
        while conn.poll_action().is_some() {}
        conn.handle_input(now, Input::Opened);
        while conn.poll_action().is_some() {}
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % FRAMES;
            conn.handle_input(now, Input::Text(&frames[i]));
            while let Some(action) = conn.poll_action() {
                match action {
                    Action::Deliver(delivery) => {
                        black_box(&delivery.event);
                        conn.complete(now, delivery.token, Outcome::Ok).unwrap();
                    }
                    Action::Send(transmit) => conn.handle_input(now, Input::Sent(transmit.id)),
                    other => panic!("unexpected action {other:?}"),
                }
            }
        });
        assert_eq!(conn.stats().duplicates, 0);
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
