//! A redelivery larger than the dedup memory still suppresses as many copies as the memory
//! holds (issue 8, item 1: with first-in-first-out eviction, 10 001 redelivered events ran the
//! handler 20 002 times), and a full memory is reported.

use std::time::Duration;

use open_event_core::connection::Notice;
use open_event_tests::sim::Sim;

/// Delivers `n` events (each handled and acked), drops the transport (the server lost the
/// acks), reconnects and redelivers all `n` in their original order; returns the handler runs.
fn redeliver_after_a_drop(sim: &mut Sim, n: usize) -> usize {
    sim.open();
    let nonces: Vec<String> = (0..n)
        .map(|_| {
            let nonce = sim.event("kso.app_chat", "create", "{}");
            sim.complete_ok(&nonce);
            nonce
        })
        .collect();
    sim.drop_transport();
    sim.advance(Duration::from_secs(2));
    sim.open();
    for nonce in &nonces {
        sim.event_with_nonce(nonce, "kso.app_chat", "create", "{}");
        if !sim.pending.is_empty() {
            sim.complete_ok(nonce);
        }
    }
    sim.delivered().len()
}

fn dedup_full(sim: &Sim) -> Vec<Notice> {
    sim.notices()
        .into_iter()
        .filter(|n| matches!(n, Notice::DedupFull { .. }))
        .collect()
}

#[test]
fn a_redelivery_of_10_001_events_suppresses_10_000() {
    let mut sim = Sim::new(|c| c, 1);
    let runs = redeliver_after_a_drop(&mut sim, 10_001);
    assert_eq!(
        runs, 10_002,
        "only the one nonce beyond the capacity runs twice"
    );
    assert_eq!(sim.conn.stats().duplicates, 10_000);
    assert!(sim.conn.dedup_len() <= 10_000);
    // Each suppressed copy was acked again with the first outcome.
    assert_eq!(sim.conn.stats().acked_ok, 20_002);
    // One notice tells the user the memory was full (they came within one minute).
    assert_eq!(
        dedup_full(&sim),
        vec![Notice::DedupFull {
            capacity: 10_000,
            window: Duration::from_secs(600),
            unremembered: 1,
            evicted: 0,
        }]
    );
    let text = dedup_full(&sim)[0].to_string();
    assert!(text.contains("raise dedup_capacity"), "{text}");
}

#[test]
fn a_redelivery_of_9_000_events_suppresses_all() {
    let mut sim = Sim::new(|c| c, 1);
    let runs = redeliver_after_a_drop(&mut sim, 9_000);
    assert_eq!(runs, 9_000);
    assert_eq!(sim.conn.stats().duplicates, 9_000);
    assert!(dedup_full(&sim).is_empty(), "the memory never filled");
}

#[test]
fn a_redelivery_far_beyond_a_small_capacity_suppresses_the_capacity() {
    let mut sim = Sim::new(|c| c.dedup_capacity(100), 1);
    let runs = redeliver_after_a_drop(&mut sim, 1_000);
    assert_eq!(runs, 1_000 + 900);
    assert_eq!(sim.conn.stats().duplicates, 100);
}
