//! In-flight deliveries are bounded; past the bound events queue in a bounded backlog, then
//! the adapter is told to pause reading. Pings, GoAway and close are still handled promptly.

use std::time::Duration;

use open_event_core::codec::GoAwayReason;
use open_event_core::connection::{Action, Message, Notice, State, Transmit};
use open_event_tests::sim::Sim;

fn full_sim() -> (Sim, Vec<String>) {
    let mut sim = Sim::new(|c| c.max_in_flight(4).read_backlog(2), 1);
    sim.open();
    let nonces: Vec<String> = (0..6)
        .map(|_| sim.event("kso.app_chat", "create", "{}"))
        .collect();
    (sim, nonces)
}

#[test]
fn deliveries_stop_at_the_bound_and_reading_pauses_when_the_backlog_fills() {
    let (mut sim, nonces) = full_sim();
    assert_eq!(sim.delivered(), nonces[..4].to_vec());
    assert_eq!(sim.conn.in_flight(), 4);
    assert!(sim.conn.is_reading_paused());
    assert_eq!(
        sim.trace
            .iter()
            .filter(|(_, r)| *r == Action::PauseReading)
            .count(),
        1
    );
    // Completing one delivery moves one queued event into the free slot ...
    sim.complete_ok(&nonces[0]);
    assert_eq!(sim.delivered(), nonces[..5].to_vec());
    // ... and reading resumes once the backlog is half empty.
    assert!(!sim.conn.is_reading_paused());
    assert_eq!(sim.trace.last().unwrap().1, Action::ResumeReading);
    sim.complete_ok(&nonces[1]);
    assert_eq!(sim.delivered(), nonces.to_vec());
    assert_eq!(sim.acks().len(), 2);
}

#[test]
fn pings_are_answered_while_deliveries_are_full() {
    let mut sim = Sim::new(|c| c.max_in_flight(2).read_backlog(8), 1);
    sim.open();
    for _ in 0..4 {
        sim.event("kso.app_chat", "create", "{}");
    }
    assert_eq!(sim.conn.in_flight(), 2);
    let mark = sim.trace.len();
    sim.ping(b"still here");
    let after = sim.since(mark);
    assert!(
        matches!(
            after.as_slice(),
            [Action::Send(Transmit { message: Message::Pong(p), .. })] if p == b"still here"
        ),
        "{after:?}"
    );
}

#[test]
fn goaway_and_close_are_handled_while_full() {
    let mut sim = Sim::new(|c| c.max_in_flight(1).read_backlog(4), 1);
    sim.open();
    sim.event("kso.app_chat", "create", "{}");
    sim.event("kso.app_chat", "create", "{}");
    sim.goaway(GoAwayReason::ServerShutdown, Some(500));
    assert!(matches!(sim.notices().last(), Some(Notice::GoAway(_))));
    sim.server_close();
    assert_eq!(sim.conn.state(), State::Waiting);
    sim.advance(Duration::from_millis(500));
    assert_eq!(sim.connects(), 2);
}

#[test]
fn a_paused_reader_is_not_mistaken_for_a_silent_server() {
    let (mut sim, nonces) = full_sim();
    sim.advance(Duration::from_secs(600));
    assert_eq!(
        sim.conn.state(),
        State::Open,
        "paused: our silence, not the server's"
    );
    sim.complete_ok(&nonces[0]);
    sim.advance(Duration::from_secs(90));
    assert_eq!(
        sim.conn.state(),
        State::Waiting,
        "liveness re-armed on resume"
    );
}

#[test]
fn a_dropped_backlog_is_taken_as_new_when_redelivered() {
    let (mut sim, nonces) = full_sim();
    sim.drop_transport();
    sim.advance(Duration::from_secs(2));
    sim.open();
    assert!(!sim.conn.is_reading_paused());
    // The two queued events were never delivered: their redeliveries are delivered now.
    for nonce in &nonces[4..] {
        sim.complete_ok(&nonces[nonces.iter().position(|n| n == nonce).unwrap() - 4]);
        sim.event_with_nonce(nonce, "kso.app_chat", "create", "{}");
    }
    assert_eq!(sim.delivered(), nonces.to_vec());
}
