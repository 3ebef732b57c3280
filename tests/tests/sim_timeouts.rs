//! The open and every send are bounded by timeouts; a miss means the transport is dead.

use std::time::Duration;

use open_event_core::connection::{Action, DisconnectCause, Input, Notice, State};
use open_event_tests::sim::Sim;

#[test]
fn a_connect_not_confirmed_in_time_is_abandoned_and_retried() {
    let mut sim = Sim::new(|c| c, 1);
    sim.advance(Duration::from_millis(9_999));
    assert_eq!(sim.conn.state(), State::Connecting);
    let mark = sim.trace.len();
    sim.advance(Duration::from_millis(1));
    let after = sim.since(mark);
    assert_eq!(after[0], Action::Disconnect);
    assert_eq!(
        after[1],
        Action::Notify(Notice::Disconnected(DisconnectCause::ConnectTimeout(
            Duration::from_secs(10)
        )))
    );
    assert!(matches!(
        after[2],
        Action::Notify(Notice::Reconnecting { attempt: 1, .. })
    ));
    // A late `Opened` for the abandoned attempt is ignored.
    sim.open();
    assert_eq!(sim.conn.state(), State::Waiting);
}

#[test]
fn a_send_not_confirmed_within_the_write_timeout_kills_the_transport() {
    let mut sim = Sim::new(|c| c.write_timeout(Duration::from_secs(2)), 1);
    sim.open();
    sim.auto_confirm = false;
    sim.ping(b"x");
    sim.advance(Duration::from_millis(1_999));
    assert_eq!(sim.conn.state(), State::Open);
    let mark = sim.trace.len();
    sim.advance(Duration::from_millis(1));
    let after = sim.since(mark);
    assert_eq!(after[0], Action::Disconnect);
    assert_eq!(
        after[1],
        Action::Notify(Notice::Disconnected(DisconnectCause::WriteTimeout(
            Duration::from_secs(2)
        )))
    );
    assert_eq!(sim.conn.state(), State::Waiting);
}

#[test]
fn confirmed_sends_keep_the_transport_alive() {
    let mut sim = Sim::new(|c| c.write_timeout(Duration::from_secs(2)), 1);
    sim.open();
    for i in 0..10u8 {
        sim.ping(&[i]);
        sim.advance(Duration::from_secs(1));
    }
    assert_eq!(sim.conn.state(), State::Open);
    assert!(
        !sim.notices()
            .iter()
            .any(|n| matches!(n, Notice::Disconnected(_)))
    );
}

#[test]
fn sent_confirmation_for_an_old_id_leaves_newer_sends_bounded() {
    let mut sim = Sim::new(|c| c.write_timeout(Duration::from_secs(2)), 1);
    sim.open();
    sim.auto_confirm = false;
    let mut ids = Vec::new();
    for payload in [b"a", b"b"] {
        sim.conn.handle_input(sim.now, Input::Ping(payload));
        while let Some(action) = sim.conn.poll_action() {
            if let Action::Send(t) = action {
                ids.push(t.id);
            }
        }
    }
    sim.advance(Duration::from_secs(1));
    sim.input(Input::Sent(ids[0]));
    sim.advance(Duration::from_millis(999));
    assert_eq!(sim.conn.state(), State::Open);
    sim.advance(Duration::from_millis(1));
    assert_eq!(
        sim.conn.state(),
        State::Waiting,
        "the second send was never confirmed"
    );
}
