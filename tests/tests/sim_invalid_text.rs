//! A text frame that is not UTF-8 fails the connection with close code 1007 (RFC 6455 §8.1),
//! decided by the core: the adapter reports `Input::InvalidText`, the core answers
//! `Action::Fail` (1007 and a reason), takes nothing more from that transport, and reconnects
//! once it ends (issue 8 item 7: the drivers used to end the TCP connection without a close
//! frame).

use std::time::Duration;

use open_event_core::connection::{
    Action, CLOSE_TIMEOUT, DisconnectCause, Failure, Input, Notice, State,
};
use open_event_tests::sim::Sim;

fn failed(sim: &Sim) -> Vec<Failure> {
    sim.trace
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Fail(failure) => Some(failure.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn invalid_utf8_text_fails_the_connection_with_1007_then_reconnects() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    let before = sim.event("kso.app_chat", "create", "{}");
    sim.input(Input::InvalidText);
    let failures = failed(&sim);
    assert_eq!(failures, vec![Failure::INVALID_UTF8]);
    assert_eq!(failures[0].code, 1007);
    assert!(failures[0].reason.contains("UTF-8"));
    assert!(failures[0].reason.len() <= 123, "fits a close frame");

    // Nothing more is processed or sent on the failed transport: no new delivery, no pong,
    // and the outcome of the event in flight is not acked (the server redelivers it).
    let mark = sim.trace.len();
    sim.event("kso.app_chat", "create", "{}");
    sim.ping(b"p");
    sim.input(Input::InvalidText);
    sim.complete_ok(&before);
    let after = sim.since(mark);
    assert!(
        after
            .iter()
            .all(|a| matches!(a, Action::Notify(Notice::LateOutcome { .. }))),
        "{after:?}"
    );
    assert_eq!(failed(&sim).len(), 1, "failed once");

    // The server answers the close and ends the transport: reported as our failure, and the
    // client reconnects with the backoff.
    sim.server_close();
    assert!(
        sim.notices()
            .contains(&Notice::Disconnected(DisconnectCause::Failed(
                Failure::INVALID_UTF8
            ))),
        "{:?}",
        sim.notices()
    );
    assert_eq!(sim.conn.state(), State::Waiting);
    let text = DisconnectCause::Failed(Failure::INVALID_UTF8).to_string();
    assert!(text.contains("1007") && text.contains("UTF-8"), "{text}");
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.connects(), 2);
    sim.open();
    let next = sim.event("kso.app_chat", "create", "{}");
    sim.complete_ok(&next);
    assert_eq!(sim.acks().last().map(|a| a.0.clone()), Some(next));
}

#[test]
fn a_server_that_never_ends_the_failed_transport_is_dropped_after_the_close_timeout() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    sim.input(Input::InvalidText);
    let mark = sim.trace.len();
    sim.advance(CLOSE_TIMEOUT);
    let after = sim.since(mark);
    assert_eq!(after.first(), Some(&Action::Disconnect), "{after:?}");
    assert!(
        after.contains(&Action::Notify(Notice::Disconnected(
            DisconnectCause::Failed(Failure::INVALID_UTF8)
        ))),
        "{after:?}"
    );
    assert_eq!(sim.conn.state(), State::Waiting);
}

#[test]
fn invalid_text_before_open_or_after_stop_changes_nothing() {
    let mut sim = Sim::new(|c| c, 1);
    sim.input(Input::InvalidText);
    assert!(failed(&sim).is_empty());
    sim.open();
    sim.conn.close(sim.now);
    sim.drain();
    sim.server_close();
    assert_eq!(sim.conn.state(), State::Stopped);
    sim.input(Input::InvalidText);
    assert!(failed(&sim).is_empty());
}
