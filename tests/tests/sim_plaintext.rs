//! A signed event whose plaintext is not JSON is rejected like any invalid event: counted by
//! reason, reported, never delivered and never acked (issue 8, item 7: it was acked 200). The
//! protocol's plaintext is UTF-8 JSON text; an empty one (an event without a payload) is valid.

use open_event_core::codec::{FrameError, RejectKind};
use open_event_core::connection::Notice;
use open_event_tests::sim::Sim;

#[test]
fn a_plaintext_that_is_not_json_is_rejected_without_an_ack() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    sim.event("kso.app_chat", "create", "hello, not json");
    sim.event("kso.app_chat", "create", r#"{"chat_id":"c1""#);
    assert!(sim.delivered().is_empty());
    assert!(sim.acks().is_empty(), "an invalid event gets no ack");
    assert_eq!(sim.conn.stats().rejected(RejectKind::PlaintextNotJson), 2);
    let rejected: Vec<_> = sim
        .notices()
        .into_iter()
        .filter(|n| matches!(n, Notice::Rejected(FrameError::PlaintextNotJson(_))))
        .collect();
    assert_eq!(rejected.len(), 2);
    assert!(
        rejected[0].to_string().contains("not JSON"),
        "{}",
        rejected[0]
    );
}

#[test]
fn json_and_empty_plaintexts_are_delivered() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    let a = sim.event("kso.app_chat", "create", r#"{"chat_id":"c1"}"#);
    let b = sim.event("kso.app_chat", "create", "");
    let c = sim.event("kso.app_chat", "create", " [1, 2] ");
    assert_eq!(sim.delivered(), vec![a, b, c]);
    assert_eq!(sim.conn.stats().rejected_total(), 0);
}
