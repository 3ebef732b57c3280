//! A delivery running past the delivery budget is reported.

use std::time::Duration;

use open_event_core::connection::Notice;
use open_event_tests::sim::Sim;

fn slow_notices(sim: &Sim) -> Vec<(String, Duration)> {
    sim.notices()
        .into_iter()
        .filter_map(|n| match n {
            Notice::SlowDelivery { nonce, elapsed, .. } => Some((nonce, elapsed)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_delivery_past_three_seconds_is_reported_once() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    let fast = sim.event("kso.app_chat", "create", "{}");
    sim.advance(Duration::from_secs(1));
    let slow = sim.event("kso.app_chat", "create", "{}");
    sim.advance(Duration::from_millis(500));
    sim.complete_ok(&fast);
    sim.advance(Duration::from_millis(2_499));
    assert!(slow_notices(&sim).is_empty());
    sim.advance(Duration::from_millis(1));
    assert_eq!(
        slow_notices(&sim),
        vec![(slow.clone(), Duration::from_secs(3))]
    );
    sim.advance(Duration::from_secs(30));
    assert_eq!(slow_notices(&sim).len(), 1, "reported once");
    sim.complete_ok(&slow);
    assert_eq!(sim.acks().len(), 2, "a slow delivery is still acked");
}

#[test]
fn the_budget_is_configurable() {
    let mut sim = Sim::new(|c| c.delivery_budget(Duration::from_millis(100)), 1);
    sim.open();
    let n = sim.event("kso.app_chat.message", "create", "{}");
    sim.advance(Duration::from_millis(100));
    let Some(Notice::SlowDelivery { event_code, .. }) = sim.notices().last().cloned() else {
        panic!()
    };
    assert_eq!(event_code, "kso.app_chat.message.create");
    assert_eq!(slow_notices(&sim)[0].0, n);
}
