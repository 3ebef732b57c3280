//! The webhook path (`webhook::Endpoint`) on arbitrary request sequences: never panics, every
//! answer is a known status with a JSON body that never holds the secret, a nonce is not
//! delivered again within the dedup window while its handler runs, and every held request
//! (`Step::Wait`) is released by the completion of a delivery of its nonce.
//!
//! Input: a sequence of operations, each chosen by one byte:
//! - 0: a request with an arbitrary method, content type and body;
//! - 1: a request whose body is a genuine sealed event (one of four nonces, so redeliveries
//!   happen; arbitrary data, so non-JSON plaintexts too), possibly with one byte flipped;
//! - 2: complete the oldest running delivery with ok, unhandled or an error message;
//! - 3: the time moves on (up to about 18 h, so dedup windows end);
//! - 4: a graceful stop (`close`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use open_event_core::Credentials;
use open_event_core::config::Config;
use open_event_core::connection::Outcome;
use open_event_core::crypto::EventCipher;
use open_event_core::webhook::{Delivery, Endpoint, Limits, Request, Response, Step, Waiter};
use open_event_fuzz::{APP_ID, APP_SECRET, Bytes};

const NONCES: [&str; 4] = [
    "0123456789abcdef",
    "fedcba9876543210",
    "aaaaaaaaaaaaaaaa",
    "0123456789abcdeg",
];
/// The default dedup window.
const WINDOW: Duration = Duration::from_secs(600);
const STATUSES: [u16; 9] = [200, 400, 401, 405, 408, 413, 415, 500, 503];

fn check_response(response: &Response) {
    assert!(
        STATUSES.contains(&response.status),
        "unexpected status {}",
        response.status
    );
    let body: serde_json::Value =
        serde_json::from_str(&response.body).expect("every answer body is JSON");
    assert!(body.is_object(), "{body}");
    assert!(!response.body.contains(APP_SECRET), "the secret leaked");
    assert_eq!(response.retry_after.is_some(), response.status == 503);
}

struct Run {
    endpoint: Endpoint,
    cipher: EventCipher,
    now: Instant,
    running: Vec<(Delivery, String)>,
    running_nonces: HashMap<String, Instant>,
    held: HashMap<Waiter, String>,
}

impl Run {
    /// `nonce`: the nonce of the request's body when it is an event.
    fn step(&mut self, step: Step, nonce: Option<String>) {
        match step {
            Step::Respond(response) => check_response(&response),
            Step::Deliver(delivery) => {
                let nonce = delivery.event.nonce.clone();
                if let Some(started) = self.running_nonces.insert(nonce.clone(), self.now) {
                    assert!(
                        self.now.duration_since(started) >= WINDOW,
                        "nonce {nonce} delivered twice within the window while its handler runs"
                    );
                }
                // The acceptance rule of both modes (JSON grammar, or empty) held.
                assert!(delivery.event.check_json().is_ok());
                self.running.push((delivery, nonce));
            }
            Step::Wait(waiter) => {
                // Only a copy of a running event may be held.
                let nonce = nonce.expect("only an event request can be held");
                assert!(
                    self.running_nonces.contains_key(&nonce),
                    "a request of {nonce} is held but no delivery of it runs"
                );
                self.held.insert(waiter, nonce);
            }
        }
    }

    fn complete_oldest(&mut self, input: &mut Bytes<'_>) {
        if self.running.is_empty() {
            return;
        }
        let (delivery, nonce) = self.running.remove(0);
        let outcome = match input.u8() % 3 {
            0 => Outcome::Ok,
            1 => Outcome::Unhandled,
            _ => Outcome::Error(input.string()),
        };
        let completion = self
            .endpoint
            .complete(self.now, delivery.token, outcome)
            .expect("a delivery completes once");
        check_response(&completion.response);
        for waiter in &completion.waiters {
            assert!(
                self.held.remove(waiter).is_some(),
                "released a waiter never held"
            );
        }
        if !self.running.iter().any(|(_, n)| *n == nonce) {
            self.running_nonces.remove(&nonce);
        }
        // Every held copy of this nonce is released with it.
        assert!(
            !self.held.values().any(|n| *n == nonce),
            "a held request of {nonce} was left waiting"
        );
    }
}

fn check(data: &[u8]) {
    let config = Arc::new(Config::builder(APP_ID, APP_SECRET).build().expect("config"));
    let mut run = Run {
        endpoint: Endpoint::new(config, Limits::default()),
        cipher: EventCipher::new(&Credentials::new(APP_ID, APP_SECRET)),
        now: Instant::now(),
        running: Vec::new(),
        running_nonces: HashMap::new(),
        held: HashMap::new(),
    };
    let mut input = Bytes::new(data);
    while !input.is_empty() {
        match input.u8() % 5 {
            0 => {
                let method = match input.u8() % 4 {
                    0 => "POST",
                    1 => "GET",
                    2 => "PUT",
                    _ => "post",
                };
                let content_type = match input.u8() % 4 {
                    0 => Some("application/json"),
                    1 => None,
                    2 => Some("text/plain"),
                    _ => Some("application/json; charset=utf-8"),
                };
                let body = input.slice();
                let nonce = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("nonce")?.as_str().map(str::to_owned));
                let step = run
                    .endpoint
                    .handle(run.now, Request::new(method, content_type, body));
                run.step(step, nonce);
            }
            1 => {
                let nonce = NONCES[usize::from(input.u8() % 4)];
                let data = input.string();
                let Ok(frame) =
                    run.cipher
                        .seal("kso.app_chat", "create", 1_704_067_201, nonce, &data)
                else {
                    continue;
                };
                let mut body = frame.to_json().into_bytes();
                if input.bool() && !body.is_empty() {
                    let at = usize::from(input.u16()) % body.len();
                    body[at] ^= input.u8() | 1;
                }
                let step = run.endpoint.handle(
                    run.now,
                    Request::new("POST", Some("application/json"), &body),
                );
                let nonce = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("nonce")?.as_str().map(str::to_owned));
                run.step(step, nonce);
            }
            2 => run.complete_oldest(&mut input),
            3 => run.now += Duration::from_secs(u64::from(input.u16())),
            _ => run.endpoint.close(),
        }
    }
    assert_eq!(run.endpoint.in_flight(), run.running.len());
    // Completing everything releases every held request.
    while !run.running.is_empty() {
        run.complete_oldest(&mut Bytes::new(&[0]));
    }
    assert!(
        run.held.is_empty(),
        "held requests left after every delivery completed"
    );
}

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}
