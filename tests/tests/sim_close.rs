//! Graceful close: stop taking events, drain in-flight deliveries (bounded), send their acks,
//! close the WebSocket, then a final Stopped notice. Terminal states are sticky.

use std::time::Duration;

use open_event_core::connection::{Action, Input, Message, Notice, State, StopReason, Transmit};
use open_event_tests::sim::Sim;

#[test]
fn close_waits_for_in_flight_acks_then_closes() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    let a = sim.event("kso.app_chat", "create", "{}");
    let b = sim.event("kso.app_chat", "create", "{}");
    sim.conn.close(sim.now);
    sim.drain();
    assert_eq!(sim.conn.state(), State::Draining);
    // New events are no longer taken (the server redelivers them later).
    sim.event("kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered(), vec![a.clone(), b.clone()]);
    // Pings are still answered while draining.
    sim.ping(b"d");
    sim.advance(Duration::from_secs(1));
    sim.complete_ok(&a);
    assert_eq!(sim.conn.state(), State::Draining);
    let mark = sim.trace.len();
    sim.complete_ok(&b);
    let after = sim.since(mark);
    assert!(
        matches!(&after[0], Action::Send(Transmit { message: Message::Ack { nonce, code: 200, .. }, .. }) if *nonce == b)
    );
    assert_eq!(after[1], Action::Close);
    assert_eq!(sim.conn.state(), State::Closing);
    sim.server_close();
    assert_eq!(
        sim.notices().last(),
        Some(&Notice::Stopped(StopReason::Requested))
    );
    assert_eq!(sim.acks().len(), 2);
    assert_eq!(sim.sent_pongs(), vec![b"d".to_vec()]);
    assert_eq!(sim.conn.result(), Some(Ok(())));
}

#[test]
fn the_drain_is_bounded_by_the_drain_timeout() {
    let mut sim = Sim::new(|c| c.drain_timeout(Duration::from_secs(5)), 1);
    sim.open();
    let n = sim.event("kso.app_chat", "create", "{}");
    sim.conn.close(sim.now);
    sim.drain();
    sim.advance(Duration::from_millis(4_999));
    assert_eq!(sim.conn.state(), State::Draining);
    sim.advance(Duration::from_millis(1));
    assert_eq!(sim.trace.last().unwrap().1, Action::Close);
    // The server never answers the close: after the write timeout we drop the transport.
    sim.advance(Duration::from_secs(10));
    assert_eq!(
        sim.since(sim.trace.len() - 2),
        vec![
            Action::Disconnect,
            Action::Notify(Notice::Stopped(StopReason::Requested)),
        ]
    );
    // The late outcome sends nothing.
    let mark = sim.trace.len();
    sim.complete_ok(&n);
    assert!(sim.since(mark).is_empty());
}

#[test]
fn close_while_waiting_or_connecting_stops_at_once() {
    let mut sim = Sim::new(|c| c, 1);
    sim.conn.close(sim.now);
    sim.drain();
    assert_eq!(
        sim.since(1),
        vec![
            Action::Disconnect,
            Action::Notify(Notice::Stopped(StopReason::Requested)),
        ]
    );
    let mut sim = Sim::new(|c| c, 1);
    sim.fail_network();
    assert_eq!(sim.conn.state(), State::Waiting);
    sim.conn.close(sim.now);
    sim.drain();
    assert!(sim.conn.is_stopped());
    sim.advance(Duration::from_secs(100));
    assert_eq!(sim.connects(), 1, "the scheduled reconnect is cancelled");
}

#[test]
fn terminal_states_are_sticky() {
    let mut sim = Sim::new(|c| c, 1);
    sim.fail_status(401);
    let reason = sim.conn.stop_reason().cloned();
    let mark = sim.trace.len();
    sim.open();
    sim.ping(b"x");
    sim.text("{}");
    sim.input(Input::Binary(b"x"));
    sim.server_close();
    sim.conn.close(sim.now);
    sim.drain();
    sim.advance(Duration::from_secs(1000));
    assert!(sim.since(mark).is_empty(), "{:?}", sim.since(mark));
    assert_eq!(sim.conn.stop_reason().cloned(), reason);
    assert_eq!(sim.conn.poll_timeout(), None);
}

#[test]
fn close_is_idempotent() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    sim.conn.close(sim.now);
    sim.conn.close(sim.now);
    sim.drain();
    assert_eq!(
        sim.trace
            .iter()
            .filter(|(_, r)| *r == Action::Close)
            .count(),
        1
    );
}

#[test]
fn a_server_close_frame_without_the_tcp_close_is_dropped_after_the_close_timeout() {
    use open_event_core::connection::{CLOSE_TIMEOUT, CloseInfo, DisconnectCause};
    let mut sim = Sim::new(|c| c.pong_timeout(Duration::from_secs(90)), 1);
    sim.open();
    let info = CloseInfo::clean(Some(4000), "maintenance");
    sim.input(Input::CloseReceived(&info));
    sim.advance(CLOSE_TIMEOUT - Duration::from_millis(1));
    assert_eq!(
        sim.conn.state(),
        State::Open,
        "the server may still end the TCP itself"
    );
    let mark = sim.trace.len();
    sim.advance(Duration::from_millis(1));
    let after = sim.since(mark);
    assert_eq!(after[0], Action::Disconnect, "{after:?}");
    assert_eq!(
        after[1],
        Action::Notify(Notice::Disconnected(DisconnectCause::Closed(info))),
        "the report keeps the server's close code"
    );
    assert_eq!(sim.conn.state(), State::Waiting);
}

#[test]
fn a_handler_that_fails_after_the_stop_reports_nothing_after_stopped() {
    // The drain ran out: the delivery is abandoned; its failure arrives after `Stopped`, which
    // must stay the last action (found by the fuzz target `connection`).
    let mut sim = Sim::new(|c| c.drain_timeout(Duration::from_secs(1)), 1);
    sim.open();
    let nonce = sim.event("kso.app_chat", "create", "{}");
    sim.conn.close(sim.now);
    sim.drain();
    sim.advance(Duration::from_secs(1));
    sim.server_close();
    assert_eq!(sim.conn.state(), State::Stopped);
    let mark = sim.trace.len();
    sim.complete(
        &nonce,
        open_event_core::connection::Outcome::Error("boom".into()),
    );
    assert_eq!(sim.since(mark), Vec::<Action>::new());
}
