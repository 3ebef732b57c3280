//! A delivery's outcome becomes an ack on the transport that carried the event; an outcome
//! arriving after that transport died sends nothing and is counted.

use std::time::Duration;

use open_event_core::connection::{Action, Message, Notice, Outcome, Transmit};
use open_event_tests::sim::Sim;

#[test]
fn ok_and_error_outcomes_become_200_and_500_acks() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    let a = sim.event("kso.app_chat", "create", "{}");
    let b = sim.event("kso.app_chat", "create", "{}");
    let c = sim.event("kso.app_chat", "create", "{}");
    sim.complete(&b, Outcome::Error("database unavailable".into()));
    sim.complete_ok(&a);
    sim.complete(&c, Outcome::Unhandled);
    assert_eq!(
        sim.acks(),
        vec![
            (b.clone(), 500, Some("database unavailable".into())),
            (a.clone(), 200, None),
            (c.clone(), 200, None),
        ]
    );
    let ack_of = |r: &Action| matches!(r, Action::Send(Transmit { message: Message::Ack { nonce, .. }, .. }) if *nonce == a);
    let Some((
        _,
        Action::Send(Transmit {
            message: Message::Ack { text, .. },
            ..
        }),
    )) = sim.trace.iter().find(|(_, r)| ack_of(r))
    else {
        panic!()
    };
    assert_eq!(
        text,
        &format!(r#"{{"type":"ack","nonce":"{a}","code":200}}"#)
    );
    let stats = sim.conn.stats();
    assert_eq!(
        (stats.acked_ok, stats.acked_error, stats.unhandled),
        (2, 1, 1)
    );
}

#[test]
fn a_long_error_is_truncated_to_256_characters() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    let n = sim.event("kso.app_chat", "create", "{}");
    sim.complete(&n, Outcome::Error("错".repeat(300)));
    let (_, _, msg) = sim.acks().pop().unwrap();
    let msg = msg.unwrap();
    assert_eq!(msg.chars().count(), 256);
    assert!(msg.ends_with("..."));
    assert_eq!(msg.chars().filter(|c| *c == '错').count(), 253);
}

#[test]
fn an_outcome_after_its_transport_died_sends_nothing_and_is_counted() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    let n = sim.event("kso.app_chat", "create", "{}");
    sim.drop_transport();
    sim.advance(Duration::from_secs(2));
    sim.open();
    let mark = sim.trace.len();
    sim.complete_ok(&n);
    assert_eq!(
        sim.since(mark),
        vec![Action::Notify(Notice::LateOutcome { nonce: n.clone() })]
    );
    assert!(sim.acks().is_empty());
    assert_eq!(sim.conn.stats().late_outcomes, 1);
}

#[test]
fn no_acks_without_ack_mode() {
    let mut sim = Sim::new(|c| c.ack_mode(false), 1);
    let Action::Connect(_) = sim.trace[0].1 else {
        panic!()
    };
    sim.open();
    let n = sim.event("kso.app_chat", "create", "{}");
    sim.complete_ok(&n);
    assert!(sim.acks().is_empty());
    assert_eq!(sim.conn.stats().late_outcomes, 0);
}

#[test]
fn completing_twice_is_a_usage_error() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    sim.event("kso.app_chat", "create", "{}");
    let delivery = sim.pending.pop().unwrap();
    sim.conn
        .complete(sim.now, delivery.token, Outcome::Ok)
        .unwrap();
    let err = sim
        .conn
        .complete(sim.now, delivery.token, Outcome::Ok)
        .unwrap_err();
    assert!(err.to_string().contains("exactly once"));
}
