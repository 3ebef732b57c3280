//! Every counter moves with what happened.

use std::time::Duration;

use open_event_core::codec::{GoAwayReason, RejectKind};
use open_event_core::connection::Outcome;
use open_event_tests::sim::Sim;

#[test]
fn every_counter_is_kept() {
    let mut sim = Sim::new(|c| c, 4);
    sim.open();
    sim.ping(b"1");
    sim.ping(b"2");
    let a = sim.event("kso.app_chat", "create", "{}");
    let b = sim.event("kso.app_chat", "create", "{}");
    let c = sim.event("kso.app_chat", "create", "{}");
    sim.complete_ok(&a);
    sim.complete(&b, Outcome::Error("x".into()));
    sim.event_with_nonce(&a, "kso.app_chat", "create", "{}"); // duplicate, acked 200 again
    sim.text("garbage");
    sim.goaway(GoAwayReason::HeartbeatTimeout, None);
    sim.server_close();
    sim.advance(Duration::from_secs(3));
    sim.open();
    sim.complete(&c, Outcome::Unhandled); // late
    let last_frame = sim.now;
    sim.ping(b"3");

    let s = sim.conn.stats().clone();
    assert_eq!(s.events_received, 4);
    assert_eq!(s.events_delivered, 3);
    assert_eq!(s.acked_ok, 2);
    assert_eq!(s.acked_error, 1);
    assert_eq!(s.unhandled, 1);
    assert_eq!(s.duplicates, 1);
    assert_eq!(s.late_outcomes, 1);
    assert_eq!(s.rejected(RejectKind::Malformed), 1);
    assert_eq!(s.rejected_total(), 1);
    assert_eq!(s.goaways, 1);
    assert_eq!(s.connects, 2);
    assert_eq!(s.reconnects, 1);
    assert_eq!(s.pings, 3);
    assert_eq!(s.last_frame_at, Some(last_frame));
}
