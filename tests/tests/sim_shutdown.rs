//! Shutdown timing and accounting: a graceful stop waits the short close timeout for the
//! server's close reply (not `write_timeout`), an exceeded drain is reported with the number of
//! abandoned events, and acks count as sent only once flushed.

use std::time::Duration;

use open_event_core::connection::{Action, CLOSE_TIMEOUT, Notice, State, StopReason};
use open_event_tests::sim::Sim;

#[test]
fn a_graceful_stop_waits_the_close_timeout_for_the_reply_not_the_write_timeout() {
    let mut sim = Sim::new(|c| c.write_timeout(Duration::from_secs(10)), 1);
    sim.open();
    sim.conn.close(sim.now);
    sim.drain();
    assert_eq!(sim.trace.last().unwrap().1, Action::Close);
    sim.advance(CLOSE_TIMEOUT - Duration::from_millis(1));
    assert_eq!(
        sim.conn.state(),
        State::Closing,
        "still waiting for the reply"
    );
    sim.advance(Duration::from_millis(1));
    assert_eq!(
        sim.since(sim.trace.len() - 2),
        vec![
            Action::Disconnect,
            Action::Notify(Notice::Stopped(StopReason::Requested)),
        ]
    );
}

#[test]
fn the_close_wait_fits_in_what_is_left_of_a_short_drain_budget() {
    // drain 300 ms: the handler takes 200 ms, so 100 ms are left for the close reply.
    let mut sim = Sim::new(|c| c.drain_timeout(Duration::from_millis(300)), 1);
    sim.open();
    let n = sim.event("kso.app_chat", "create", "{}");
    sim.conn.close(sim.now);
    sim.drain();
    sim.advance(Duration::from_millis(200));
    sim.complete_ok(&n);
    assert_eq!(sim.trace.last().unwrap().1, Action::Close);
    sim.advance(Duration::from_millis(99));
    assert_eq!(sim.conn.state(), State::Closing);
    sim.advance(Duration::from_millis(1));
    assert_eq!(sim.conn.state(), State::Stopped);
}

#[test]
fn an_exceeded_drain_reports_how_many_events_were_abandoned() {
    let mut sim = Sim::new(|c| c.drain_timeout(Duration::from_secs(5)), 1);
    sim.open();
    let nonces: Vec<String> = (0..3)
        .map(|_| sim.event("kso.app_chat", "create", "{}"))
        .collect();
    sim.complete_ok(&nonces[0]);
    sim.conn.close(sim.now);
    sim.drain();
    sim.advance(Duration::from_secs(5));
    let abandoned: Vec<&Notice> = sim
        .trace
        .iter()
        .filter_map(|(_, r)| match r {
            Action::Notify(n @ Notice::DrainExceeded { .. }) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(
        abandoned,
        [&Notice::DrainExceeded {
            abandoned: 2,
            drain_timeout: Duration::from_secs(5)
        }]
    );
    let text = abandoned[0].to_string();
    assert!(
        text.contains("2 events") && text.contains("drain_timeout"),
        "names the count and the setting to raise: {text}"
    );
    assert_eq!(sim.trace.last().unwrap().1, Action::Close);
}

#[test]
fn a_drain_that_finishes_in_time_reports_nothing_abandoned() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    let n = sim.event("kso.app_chat", "create", "{}");
    sim.conn.close(sim.now);
    sim.drain();
    sim.complete_ok(&n);
    sim.server_close();
    assert!(
        !sim.notices()
            .iter()
            .any(|n| matches!(n, Notice::DrainExceeded { .. })),
        "{:?}",
        sim.notices()
    );
}

#[test]
fn acks_count_as_sent_only_once_flushed() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    sim.auto_confirm = false;
    let ok = sim.event("kso.app_chat", "create", "{}");
    let failed = sim.event("kso.app_chat", "create", "{}");
    let stuck = sim.event("kso.app_chat", "create", "{}");
    sim.complete_ok(&ok);
    sim.complete(
        &failed,
        open_event_core::connection::Outcome::Error("boom".into()),
    );
    sim.complete_ok(&stuck);
    assert_eq!(sim.acks().len(), 3, "queued");
    let stats = sim.conn.stats();
    assert_eq!(
        (stats.acked_ok, stats.acked_error),
        (0, 0),
        "nothing flushed yet"
    );
    sim.confirm_sends(2);
    let stats = sim.conn.stats();
    assert_eq!((stats.acked_ok, stats.acked_error), (1, 1));
    // The third never leaves: the transport drops first.
    sim.drop_transport();
    let stats = sim.conn.stats();
    assert_eq!((stats.acked_ok, stats.acked_error), (1, 1));
    assert_eq!(stats.acks_unsent, 1);
}
