//! Property tests: arbitrary input sequences never panic and keep the core's invariants;
//! backoff always stays in its bounds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use open_event_core::backoff::Backoff;
use open_event_core::config::Config;
use open_event_core::connection::{
    Action, CloseInfo, Connection, DeliveryToken, Input, OpenError, Outcome, SendId,
};
use open_event_core::crypto::EventCipher;
use open_event_tests::sim::{APP_ID, APP_SECRET};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Advance(u32),
    Opened,
    OpenFailed(u16),
    Network,
    Text(String),
    Event(u8),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    Closed(bool),
    ConfirmAll,
    Complete(usize, u8),
    Close,
    Timeout,
    GoAway(u8, Option<u64>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u32..200_000).prop_map(Op::Advance),
        Just(Op::Opened),
        prop_oneof![Just(401u16), Just(403), Just(429), Just(500), 100u16..600]
            .prop_map(Op::OpenFailed),
        Just(Op::Network),
        ".{0,64}".prop_map(Op::Text),
        any::<u8>().prop_map(Op::Event),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(Op::Binary),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Op::Ping),
        Just(Op::Pong),
        any::<bool>().prop_map(Op::Closed),
        Just(Op::ConfirmAll),
        (any::<usize>(), 0u8..3).prop_map(|(i, o)| Op::Complete(i, o)),
        Just(Op::Close),
        Just(Op::Timeout),
        (0u8..4, proptest::option::of(any::<u64>())).prop_map(|(r, ms)| Op::GoAway(r, ms)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_input_sequences_never_panic(
        seed in any::<u64>(),
        max_in_flight in 1usize..4,
        ops in proptest::collection::vec(op(), 0..120),
    ) {
        let config = Config::builder(APP_ID, APP_SECRET)
            .max_in_flight(max_in_flight)
            .read_backlog(2)
            .max_retries(Some(50))
            .build()
            .unwrap();
        let cipher = EventCipher::new(config.credentials());
        let epoch = Instant::now();
        let mut now = epoch;
        let mut conn = Connection::new(Arc::new(config), now, seed);
        let mut tokens: Vec<DeliveryToken> = Vec::new();
        let mut last_send: Option<SendId> = None;
        let mut stopped_seen = 0;
        for op in ops {
            match op {
                Op::Advance(ms) => now += Duration::from_millis(u64::from(ms)),
                Op::Opened => conn.handle_input(now, Input::Opened),
                Op::OpenFailed(status) => {
                    conn.handle_input(now, Input::OpenFailed(&OpenError::Status { status }));
                }
                Op::Network => conn.handle_input(
                    now,
                    Input::OpenFailed(&OpenError::Transport("refused".into())),
                ),
                Op::Text(text) => conn.handle_input(now, Input::Text(&text)),
                Op::Event(n) => {
                    let nonce = format!("{:016x}", n % 8);
                    let frame = cipher.seal("kso.t", "op", 1, &nonce, "{}").unwrap().to_json();
                    conn.handle_input(now, Input::Text(&frame));
                }
                Op::Binary(bytes) => conn.handle_input(now, Input::Binary(&bytes)),
                Op::Ping(p) => conn.handle_input(now, Input::Ping(&p)),
                Op::Pong => conn.handle_input(now, Input::Pong(b"")),
                Op::Closed(error) => {
                    let info = if error { CloseInfo::error("reset") } else { CloseInfo::clean(Some(1000), "") };
                    conn.handle_input(now, Input::Closed(&info));
                }
                Op::ConfirmAll => {
                    if let Some(id) = last_send {
                        conn.handle_input(now, Input::Sent(id));
                    }
                }
                Op::Complete(i, o) => {
                    if !tokens.is_empty() {
                        let token = tokens.swap_remove(i % tokens.len());
                        let outcome = match o {
                            0 => Outcome::Ok,
                            1 => Outcome::Error("x".repeat(300)),
                            _ => Outcome::Unhandled,
                        };
                        prop_assert!(conn.complete(now, token, outcome).is_ok());
                    }
                }
                Op::Close => conn.close(now),
                Op::GoAway(reason, ms) => {
                    let reason = ["server_shutdown", "connection_replaced", "heartbeat_timeout", "new"][usize::from(reason)];
                    let frame = match ms {
                        Some(ms) => format!(r#"{{"type":"goaway","reason":"{reason}","reconnect_ms":{ms}}}"#),
                        None => format!(r#"{{"type":"goaway","reason":"{reason}"}}"#),
                    };
                    conn.handle_input(now, Input::Text(&frame));
                }
                Op::Timeout => {
                    if let Some(at) = conn.poll_timeout() {
                        now = now.max(at);
                    }
                    conn.handle_timeout(now);
                }
            }
            while let Some(action) = conn.poll_action() {
                match action {
                    Action::Deliver(d) => tokens.push(d.token),
                    Action::Send(t) => last_send = Some(t.id),
                    Action::Notify(open_event_core::connection::Notice::Stopped(_)) => {
                        stopped_seen += 1;
                    }
                    _ => {}
                }
            }
            // Invariants.
            prop_assert!(conn.in_flight() <= max_in_flight);
            prop_assert_eq!(conn.in_flight(), tokens.len());
            prop_assert!(stopped_seen <= 1, "Stopped is reported once");
            prop_assert_eq!(conn.is_stopped(), stopped_seen == 1);
            if conn.is_stopped() {
                prop_assert_eq!(conn.poll_timeout(), None);
            } else {
                // A live connection always has a deadline, except while reading is paused
                // for deliveries the application still holds: then its `complete` is what
                // moves things on (and the server's silence is not measured).
                prop_assert!(
                    conn.poll_timeout().is_some()
                        || (conn.is_reading_paused() && conn.in_flight() > 0),
                    "a live connection without a deadline must be waiting on the application"
                );
            }
        }
    }

    #[test]
    fn backoff_stays_within_its_bounds(
        seed in any::<u64>(),
        base_ms in 1u64..5_000,
        max_factor in 1u64..100,
        multiplier in 1.0f64..10.0,
        jitter in 0.0f64..=1.0,
        attempts in 1usize..80,
    ) {
        let config = Config::builder(APP_ID, APP_SECRET)
            .reconnect_base(Duration::from_millis(base_ms))
            .reconnect_max(Duration::from_millis(base_ms * max_factor))
            .reconnect_multiplier(multiplier)
            .reconnect_jitter(jitter)
            .build()
            .unwrap();
        let mut backoff = Backoff::new(&config, seed);
        for n in 1..=attempts {
            let delay = backoff.next_delay().unwrap();
            let (lo, hi) = backoff.bounds(n as u32);
            prop_assert!(delay + Duration::from_micros(1) >= lo && delay <= hi + Duration::from_micros(1),
                "attempt {}: {:?} not in {:?}..={:?}", n, delay, lo, hi);
            prop_assert!(delay.as_secs_f64() <= config.reconnect_max().as_secs_f64() * (1.0 + jitter) + 1e-6);
        }
    }
}
