//! Each ping is answered with exactly one pong carrying its payload.

use std::time::Duration;

use open_event_core::connection::{Action, Message, Transmit};
use open_event_tests::sim::Sim;

#[test]
fn each_ping_gets_exactly_one_pong_with_its_payload() {
    let mut sim = Sim::new(|c| c, 2);
    sim.open();
    let payloads: Vec<Vec<u8>> = (0..50u32).map(|i| i.to_be_bytes().to_vec()).collect();
    for p in &payloads {
        sim.ping(p);
        sim.advance(Duration::from_secs(30));
    }
    assert_eq!(sim.sent_pongs(), payloads);
    assert_eq!(sim.conn.stats().pings, 50);
}

#[test]
fn empty_and_maximal_payloads_are_echoed() {
    let mut sim = Sim::new(|c| c, 2);
    sim.open();
    sim.ping(b"");
    sim.ping(&[0xAB; 125]);
    assert_eq!(sim.sent_pongs(), vec![vec![], vec![0xAB; 125]]);
}

#[test]
fn pings_before_open_or_after_stop_get_no_pong() {
    let mut sim = Sim::new(|c| c, 2);
    sim.ping(b"early");
    sim.open();
    sim.conn.close(sim.now);
    sim.drain();
    sim.server_close();
    sim.ping(b"late");
    assert!(sim.sent_pongs().is_empty());
    assert!(!sim.trace.iter().any(|(_, r)| matches!(
        r,
        Action::Send(Transmit {
            message: Message::Pong(_),
            ..
        })
    )));
}
