//! Redelivery of events not acked with 200, against the emulator's server, in memory.

use std::time::Duration;

use open_event_core::connection::Notice;
use open_event_emulator::server::{AckStatus, EventSpec};
use open_event_tests::pair::{Pair, Reply};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn connected(seed: u64, handler_time: Duration) -> Pair {
    let mut pair = Pair::new(|c| c, |s| s, seed);
    pair.set_latency(ms(2));
    pair.set_handler(move |_| Reply::ok_after(handler_time));
    pair.run_until(1_000, |p| {
        p.server.active().is_some() && p.client.stats().connects == 1
    });
    pair
}

fn push(pair: &mut Pair, text: &str) -> String {
    pair.with_server(|server, now| server.push_event(now, EventSpec::chat_message(text)))
        .unwrap()
}

#[test]
fn dropped_before_the_ack_the_event_is_redelivered_handled_once_and_acked() {
    let mut pair = connected(41, ms(500));
    let nonce = push(&mut pair, "once");
    pair.run_until(100, |p| p.handled.len() == 1);
    pair.run_for(ms(100), 100);
    // The handler is still running: the connection goes before the ack.
    pair.with_server(|server, now| server.drop_connection(now))
        .unwrap();
    pair.run_until(1_000, |p| p.server.report().pending == 0);

    assert_eq!(pair.handled_nonces(), [nonce.as_str()]);
    assert!(
        pair.notices
            .iter()
            .any(|(_, n)| matches!(n, Notice::LateOutcome { nonce: late } if *late == nonce))
    );
    let report = pair.server.report();
    assert_eq!(report.connections.len(), 2);
    assert_eq!(report.redeliveries.len(), 1);
    assert_eq!(report.redeliveries[0].nonce, nonce);
    assert_eq!(report.redeliveries[0].conn, report.connections[1].id);
    // The redelivery is recognised and acked with the remembered outcome, on the new connection.
    assert_eq!(report.acks.len(), 1);
    let ack = &report.acks[0];
    assert_eq!(
        (ack.nonce.as_str(), ack.code, ack.status),
        (nonce.as_str(), 200, AckStatus::Accepted)
    );
    assert_eq!(ack.conn, report.connections[1].id);
    assert!(
        pair.notices
            .iter()
            .any(|(_, n)| matches!(n, Notice::Duplicate { .. }))
    );
}

#[test]
fn redelivered_while_still_handled_it_is_acked_once_the_handler_finishes() {
    let mut pair = connected(42, Duration::from_secs(3));
    let nonce = push(&mut pair, "slow");
    pair.run_until(100, |p| p.handled.len() == 1);
    let handled_at = pair.handled[0].0;
    pair.with_server(|server, now| server.drop_connection(now))
        .unwrap();
    // Reconnects after about a second; the event comes again while the handler still runs.
    pair.run_until(1_000, |p| p.server.report().redeliveries.len() == 1);
    assert!(pair.elapsed() < handled_at + Duration::from_secs(3));
    pair.run_until(1_000, |p| p.server.report().pending == 0);

    assert_eq!(pair.handled_nonces(), [nonce.as_str()]);
    let report = pair.server.report();
    assert_eq!(report.acks.len(), 1);
    assert_eq!(report.acks[0].conn, report.connections[1].id);
    assert_eq!(report.acks[0].status, AckStatus::Accepted);
    // Acked as soon as the one handler run finished (plus one trip on the link).
    assert_eq!(
        report.acks[0].at - pair.epoch,
        handled_at + Duration::from_secs(3) + ms(2)
    );
}

#[test]
fn acked_events_are_not_redelivered_and_order_is_kept() {
    let mut pair = connected(43, Duration::ZERO);
    let first: Vec<String> = (0..3).map(|i| push(&mut pair, &format!("a{i}"))).collect();
    pair.run_until(1_000, |p| p.server.report().pending == 0);
    // Pushed while no connection is up: delivered in order on the next one.
    pair.with_server(|server, now| server.drop_connection(now))
        .unwrap();
    let second: Vec<String> = (0..3).map(|i| push(&mut pair, &format!("b{i}"))).collect();
    pair.run_until(1_000, |p| p.server.report().pending == 0);

    let all: Vec<&str> = first.iter().chain(&second).map(String::as_str).collect();
    assert_eq!(pair.handled_nonces(), all);
    let report = pair.server.report();
    assert!(report.redeliveries.is_empty());
    assert_eq!(report.acked_nonces(), all);
    assert_eq!(report.ack_counts.duplicate, 0);
}

#[test]
fn an_error_ack_keeps_the_event_pending_for_the_next_connection() {
    let mut pair = connected(44, Duration::ZERO);
    pair.set_handler(|_| Reply::error("database down"));
    let nonce = push(&mut pair, "fails");
    pair.run_until(1_000, |p| p.server.report().ack_counts.negative == 1);
    let report = pair.server.report();
    assert_eq!(report.acks[0].msg.as_deref(), Some("database down"));
    assert_eq!(report.pending, 1);

    pair.set_handler(|_| Reply::ok());
    pair.with_server(|server, now| server.drop_connection(now))
        .unwrap();
    pair.run_until(1_000, |p| p.server.report().redeliveries.len() == 1);
    let report = pair.server.report();
    assert_eq!(report.redeliveries[0].nonce, nonce);
    assert_eq!(report.redeliveries[0].conn, report.connections[1].id);
}
