//! Write backpressure, one rule for every runtime: when the writes not confirmed flushed pass
//! a bound (messages or bytes), the core pauses reading and delivering; it resumes when they
//! fall to half the bound. Only `write_timeout` declares the connection dead.

use std::time::Duration;

use open_event_core::connection::{Action, DisconnectCause, MAX_UNCONFIRMED_WRITES, Notice, State};
use open_event_tests::sim::Sim;

fn pauses(sim: &Sim) -> usize {
    sim.trace
        .iter()
        .filter(|(_, r)| *r == Action::PauseReading)
        .count()
}

#[test]
fn stuck_ack_writes_pause_reading_and_delivering_until_they_drain() {
    let mut sim = Sim::new(
        |c| {
            c.max_in_flight(65_536)
                .write_timeout(Duration::from_secs(10))
        },
        1,
    );
    sim.open();
    sim.auto_confirm = false;
    for _ in 0..MAX_UNCONFIRMED_WRITES {
        let nonce = sim.event("kso.app_chat", "create", "{}");
        sim.complete_ok(&nonce);
    }
    assert_eq!(sim.unconfirmed.len(), MAX_UNCONFIRMED_WRITES);
    assert!(
        sim.conn.is_reading_paused(),
        "the write bound pauses reading"
    );
    assert_eq!(pauses(&sim), 1);
    // Whatever the runtime still hands over is queued, not delivered.
    let delivered = sim.delivered().len();
    let late = sim.event("kso.app_chat", "create", "{}");
    assert_eq!(sim.delivered().len(), delivered, "delivering pauses too");
    // Half of the writes flush: reading and delivering resume.
    sim.confirm_sends(MAX_UNCONFIRMED_WRITES / 2);
    assert!(!sim.conn.is_reading_paused());
    assert_eq!(sim.trace.last().unwrap().1, Action::ResumeReading);
    assert_eq!(sim.delivered().last(), Some(&late));
    assert_eq!(
        sim.conn.state(),
        State::Open,
        "slow writes are not a dead connection"
    );
}

#[test]
fn only_the_write_timeout_declares_stuck_writes_dead() {
    let mut sim = Sim::new(|c| c.write_timeout(Duration::from_secs(10)), 1);
    sim.open();
    sim.auto_confirm = false;
    let nonce = sim.event("kso.app_chat", "create", "{}");
    sim.complete_ok(&nonce);
    // Far longer than any runtime's own patience (blocking gave up after 2-3 s).
    sim.advance(Duration::from_millis(9_999));
    assert_eq!(sim.conn.state(), State::Open);
    sim.confirm_sends(1);
    sim.advance(Duration::from_secs(20));
    assert_eq!(sim.conn.state(), State::Open, "confirmed in time");
    let nonce = sim.event("kso.app_chat", "create", "{}");
    sim.auto_confirm = false;
    sim.complete_ok(&nonce);
    sim.advance(Duration::from_secs(10));
    assert!(
        sim.notices()
            .iter()
            .any(|n| matches!(n, Notice::Disconnected(DisconnectCause::WriteTimeout(_)))),
        "{:?}",
        sim.notices()
    );
}
