//! Any frame from the server is proof of life; `pong_timeout` of silence kills the transport.

use std::time::Duration;

use open_event_core::connection::{Action, DisconnectCause, Input, Notice, State};
use open_event_tests::sim::Sim;

#[test]
fn silence_for_the_pong_timeout_drops_and_reconnects() {
    let mut sim = Sim::new(|c| c, 5);
    sim.open();
    sim.advance(Duration::from_millis(89_999));
    assert_eq!(sim.conn.state(), State::Open);
    let mark = sim.trace.len();
    sim.advance(Duration::from_millis(1));
    let after = sim.since(mark);
    assert_eq!(after[0], Action::Disconnect);
    assert_eq!(
        after[1],
        Action::Notify(Notice::Disconnected(DisconnectCause::ServerSilent(
            Duration::from_secs(90)
        )))
    );
    let Action::Notify(Notice::Reconnecting { delay, .. }) = after[2] else {
        panic!("{:?}", after[2])
    };
    sim.advance(delay);
    assert_eq!(sim.connects(), 2);
}

#[test]
fn every_kind_of_frame_counts_as_life() {
    let mut sim = Sim::new(|c| c.pong_timeout(Duration::from_secs(10)), 5);
    sim.open();
    for i in 0..20 {
        sim.advance(Duration::from_secs(9));
        match i % 4 {
            0 => sim.ping(b"p"),
            1 => sim.input(Input::Pong(b"q")),
            2 => sim.text("not json at all"),
            _ => sim.input(Input::Binary(b"\x00\x01")),
        }
    }
    assert_eq!(sim.conn.state(), State::Open);
    assert_eq!(sim.connects(), 1);
    assert_eq!(sim.conn.stats().last_frame_at, Some(sim.now));
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.conn.state(), State::Waiting);
}
