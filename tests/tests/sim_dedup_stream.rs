//! A steady stream of more events than `dedup_capacity` within the dedup window stays
//! deduplicated: the memory forgets nonces whose acks the server has had, and keeps the recent
//! ones and those whose acks may have died with a connection (with the admission-only policy,
//! the memory filled with the first `capacity` nonces and every later redelivery ran the
//! handler again).

use std::time::Duration;

use open_event_core::connection::Notice;
use open_event_tests::sim::Sim;

/// A client whose reconnect backoff resets at once, so drops do not stretch the run.
fn sim(capacity: usize) -> Sim {
    let mut sim = Sim::new(
        |c| c.dedup_capacity(capacity).stable_period(Duration::ZERO),
        1,
    );
    sim.open();
    sim
}

/// Delivers a fresh event, completes it and moves the clock by `gap`; returns its nonce.
fn fresh(sim: &mut Sim, gap: Duration) -> String {
    let nonce = sim.event("kso.app_chat", "create", "{}");
    sim.complete_ok(&nonce);
    sim.advance(gap);
    nonce
}

/// The server redelivers `nonces` in order; returns how many reached the handler.
fn redeliver(sim: &mut Sim, nonces: &[String]) -> usize {
    let before = sim.delivered().len();
    for nonce in nonces {
        sim.event_with_nonce(nonce, "kso.app_chat", "create", "{}");
        if !sim.pending.is_empty() {
            sim.complete_ok(nonce);
        }
    }
    sim.delivered().len() - before
}

fn reconnect(sim: &mut Sim) {
    sim.drop_transport();
    sim.advance(Duration::from_secs(2));
    sim.open();
}

#[test]
fn the_last_events_of_a_long_stream_are_still_suppressed_after_a_drop() {
    // 3 000 events in 300 s (six times the capacity, all within the 600 s window), 10 a
    // second: 200 nonces are younger than the settle time (twice the 10 s write timeout).
    let mut sim = sim(500);
    let nonces: Vec<String> = (0..3_000)
        .map(|_| fresh(&mut sim, Duration::from_millis(100)))
        .collect();
    assert!(sim.conn.dedup_len() <= 500);
    // The connection dies; the server redelivers the last 100 (their acks were lost).
    reconnect(&mut sim);
    let runs = redeliver(&mut sim, &nonces[2_900..]);
    assert_eq!(runs, 0, "every redelivery suppressed");
    assert_eq!(sim.conn.stats().duplicates, 100);
    // The full memory was reported: it forgot acked nonces, it refused none.
    let full: Vec<Notice> = sim
        .notices()
        .into_iter()
        .filter(|n| matches!(n, Notice::DedupFull { .. }))
        .collect();
    assert!(!full.is_empty());
    for notice in &full {
        let Notice::DedupFull {
            unremembered,
            evicted,
            ..
        } = notice
        else {
            unreachable!()
        };
        assert_eq!(*unremembered, 0, "{notice}");
        assert!(*evicted > 0, "{notice}");
        assert!(notice.to_string().contains("forgotten"), "{notice}");
    }
}

#[test]
fn frequent_drops_with_lost_acks_stay_deduplicated_beyond_the_capacity() {
    // The soak's pattern: 5 000 events (ten times the capacity), a drop every 100 events, the
    // server redelivering the last 30 of each connection before new ones.
    let mut sim = sim(500);
    let mut handled = 0;
    let mut previous: Vec<String> = Vec::new();
    for _ in 0..50 {
        let redelivered = previous.len().saturating_sub(30);
        assert_eq!(redeliver(&mut sim, &previous[redelivered..]), 0);
        previous = (0..100)
            .map(|_| fresh(&mut sim, Duration::from_millis(10)))
            .collect();
        handled += 100;
        reconnect(&mut sim);
    }
    assert_eq!(sim.delivered().len(), handled, "no handler ran twice");
    assert_eq!(sim.conn.stats().duplicates, 49 * 30);
    assert!(sim.conn.dedup_len() <= 500);
}

#[test]
fn a_redelivery_of_an_old_connection_still_finds_its_nonces_after_later_traffic() {
    // Connection 1 dies with 200 fresh acks at risk; connection 2 carries 1 000 new events
    // (twice the capacity) and lives long enough for them to settle, then connection 1's
    // events come back: the memory kept them, and made room from connection 2's settled ones.
    let mut sim = sim(500);
    let first: Vec<String> = (0..200)
        .map(|_| fresh(&mut sim, Duration::from_millis(10)))
        .collect();
    reconnect(&mut sim);
    for _ in 0..1_000 {
        fresh(&mut sim, Duration::from_millis(100));
    }
    let runs = redeliver(&mut sim, &first);
    assert_eq!(runs, 0);
}
