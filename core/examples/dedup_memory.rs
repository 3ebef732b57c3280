//! Measures the memory one remembered nonce costs in the duplicate-suppression memory: feeds
//! `N` handled events with distinct 16-character nonces (the platform's) through a
//! [`Connection`] whose dedup memory holds them all, and divides the growth of the resident set
//! by `N`. Linux only (reads `/proc/self/statm`).
//!
//! ```text
//! cargo run --release -p open-event-core --features testing --example dedup_memory [N]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use open_event_core::Credentials;
use open_event_core::config::Config;
use open_event_core::connection::{Action, Connection, Input, Outcome};
use open_event_core::crypto::EventCipher;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("statm's second field is the resident page count");
    pages * 4096
}

#[allow(clippy::disallowed_methods)] // an example may read the clock; the core never does
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().expect("N is a count"));
    let config = Config::builder("AK20240101TEST", "sk_test_secret_0123456789abcdef")
        .dedup_capacity(n)
        .dedup_window(Duration::from_secs(86_400))
        .build()
        .expect("valid config");
    let cipher = EventCipher::new(&Credentials::new(
        "AK20240101TEST",
        "sk_test_secret_0123456789abcdef",
    ));
    let now = Instant::now();
    let mut conn = Connection::new(Arc::new(config), now, 1);
    conn.handle_input(now, Input::Opened);
    // Every ack is reported flushed, as a driver would: the connection then holds nothing for
    // the event but its nonce's entry in the dedup memory.
    let run = |conn: &mut Connection| {
        while let Some(action) = conn.poll_action() {
            match action {
                Action::Deliver(delivery) => conn
                    .complete(now, delivery.token, Outcome::Ok)
                    .expect("fresh token"),
                Action::Send(transmit) => conn.handle_input(now, Input::Sent(transmit.id)),
                _ => {}
            }
        }
    };
    run(&mut conn);
    let frame = |i: usize| {
        cipher
            .seal(
                "kso.app_chat",
                "create",
                1_704_067_200,
                &format!("{i:016x}"),
                "{}",
            )
            .expect("sealable")
            .to_json()
    };
    let before = resident_bytes();
    for i in 0..n {
        conn.handle_input(now, Input::Text(&frame(i)));
        run(&mut conn);
    }
    let after = resident_bytes();
    assert_eq!(conn.dedup_len(), n, "every nonce is remembered");
    println!(
        "{n} nonces remembered: resident set grew {} bytes, {:.1} bytes per nonce",
        after - before,
        (after - before) as f64 / n as f64
    );
}
