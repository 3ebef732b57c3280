//! A nonce seen again within the window is not delivered twice; it is acked with the first
//! outcome once that is known.

use std::time::Duration;

use open_event_core::connection::{Notice, Outcome};
use open_event_tests::sim::Sim;

#[test]
fn a_redelivery_after_completion_is_acked_with_the_first_outcome() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    sim.event_with_nonce("aaaaaaaaaaaaaaaa", "kso.app_chat", "create", "{}");
    sim.complete("aaaaaaaaaaaaaaaa", Outcome::Error("first failure".into()));
    sim.event_with_nonce("aaaaaaaaaaaaaaaa", "kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered().len(), 1);
    assert_eq!(
        sim.acks(),
        vec![
            ("aaaaaaaaaaaaaaaa".into(), 500, Some("first failure".into())),
            ("aaaaaaaaaaaaaaaa".into(), 500, Some("first failure".into())),
        ]
    );
    assert_eq!(sim.conn.stats().duplicates, 1);
    assert!(sim.notices().contains(&Notice::Duplicate {
        nonce: "aaaaaaaaaaaaaaaa".into()
    }));
}

#[test]
fn a_redelivery_while_pending_waits_for_the_outcome() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    sim.event_with_nonce("bbbbbbbbbbbbbbbb", "kso.app_chat", "create", "{}");
    // The connection drops before the handler finishes; the server redelivers on the next one.
    sim.drop_transport();
    sim.advance(Duration::from_secs(2));
    sim.open();
    sim.event_with_nonce("bbbbbbbbbbbbbbbb", "kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered().len(), 1, "handled once");
    assert!(sim.acks().is_empty(), "no outcome yet");
    sim.complete_ok("bbbbbbbbbbbbbbbb");
    // The first transport is dead (late), the redelivery's transport gets the ack.
    assert_eq!(sim.acks(), vec![("bbbbbbbbbbbbbbbb".into(), 200, None)]);
    assert_eq!(sim.conn.stats().late_outcomes, 1);
}

#[test]
fn after_the_window_a_nonce_is_new_again() {
    let mut sim = Sim::new(
        |c| {
            c.dedup_window(Duration::from_secs(60))
                .pong_timeout(Duration::from_secs(3600))
        },
        1,
    );
    sim.open();
    sim.event_with_nonce("cccccccccccccccc", "kso.app_chat", "create", "{}");
    sim.complete_ok("cccccccccccccccc");
    sim.advance(Duration::from_secs(59));
    sim.event_with_nonce("cccccccccccccccc", "kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered().len(), 1);
    sim.advance(Duration::from_secs(61));
    sim.event_with_nonce("cccccccccccccccc", "kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered().len(), 2);
}

#[test]
fn capacity_bounds_the_memory() {
    let mut sim = Sim::new(|c| c.dedup_capacity(100), 1);
    sim.open();
    let mut nonces = Vec::new();
    for _ in 0..1000 {
        let n = sim.event("kso.app_chat", "create", "{}");
        sim.complete_ok(&n);
        nonces.push(n);
    }
    assert!(sim.conn.dedup_len() <= 100);
    // A full memory keeps what it holds (the first 100) and does not remember newer nonces:
    // evicting would let an in-order redelivery push out each nonce before its copy arrives.
    sim.event_with_nonce(&nonces[0], "kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered().len(), 1000);
    sim.event_with_nonce(&nonces[99], "kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered().len(), 1000);
    sim.event_with_nonce(&nonces[999], "kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered().len(), 1001);
}

#[test]
fn dedup_off_delivers_every_copy() {
    let mut sim = Sim::new(|c| c.dedup(false), 1);
    sim.open();
    for _ in 0..3 {
        sim.event_with_nonce("dddddddddddddddd", "kso.app_chat", "create", "{}");
    }
    assert_eq!(sim.delivered().len(), 3);
    assert_eq!(sim.conn.stats().duplicates, 0);
}

#[test]
fn with_retry_errors_a_failed_event_is_handled_again_on_redelivery() {
    let mut sim = Sim::new(|c| c.dedup_retry_errors(true), 1);
    sim.open();
    sim.event_with_nonce("eeeeeeeeeeeeeeee", "kso.app_chat", "create", "{}");
    sim.complete("eeeeeeeeeeeeeeee", Outcome::Error("database down".into()));
    sim.event_with_nonce("eeeeeeeeeeeeeeee", "kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered().len(), 2, "the redelivery is a retry");
    sim.complete_ok("eeeeeeeeeeeeeeee");
    // Once it succeeded, further copies are duplicates acked 200.
    sim.event_with_nonce("eeeeeeeeeeeeeeee", "kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered().len(), 2);
    let codes: Vec<u16> = sim.acks().into_iter().map(|(_, code, _)| code).collect();
    assert_eq!(codes, vec![500, 200, 200]);
}
