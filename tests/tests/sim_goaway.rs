//! GoAway handling per docs/protocol.md §3; the close after a GoAway is expected.

use std::time::Duration;

use open_event_core::codec::GoAwayReason;
use open_event_core::connection::{Action, DisconnectCause, Notice, State, StopReason};
use open_event_tests::sim::Sim;

fn stable_sim() -> Sim {
    let mut sim = Sim::new(|c| c.pong_timeout(Duration::from_secs(3600)), 9);
    sim.open();
    sim.advance(Duration::from_secs(31)); // stable: backoff reset
    sim
}

#[test]
fn server_shutdown_reconnects_after_reconnect_ms_once_then_backoff() {
    let mut sim = stable_sim();
    sim.goaway(GoAwayReason::ServerShutdown, Some(5000));
    sim.server_close();
    let Some(Notice::Reconnecting { delay, .. }) = sim.notices().last().cloned() else {
        panic!()
    };
    assert_eq!(delay, Duration::from_millis(5000));
    assert!(
        sim.notices()
            .contains(&Notice::Disconnected(DisconnectCause::GoAway(
                GoAwayReason::ServerShutdown
            )))
    );
    let before = sim.elapsed();
    sim.advance(Duration::from_millis(5000));
    assert_eq!(
        *sim.connect_times().last().unwrap(),
        before + Duration::from_millis(5000)
    );
    // The next failure uses the normal formula (attempt 2), not 5000 ms again.
    sim.drop_transport();
    let Some(Notice::Reconnecting { attempt, delay, .. }) = sim.notices().last().cloned() else {
        panic!()
    };
    assert_eq!(attempt, 2);
    assert!((1600..=2400).contains(&delay.as_millis()), "{delay:?}");
}

#[test]
fn connection_replaced_stops_for_good() {
    let mut sim = stable_sim();
    sim.goaway(GoAwayReason::ConnectionReplaced, None);
    sim.server_close();
    let Some(StopReason::ConnectionReplaced { message }) = sim.conn.stop_reason().cloned() else {
        panic!("{:?}", sim.conn.stop_reason())
    };
    assert_eq!(message, "sim");
    sim.advance(Duration::from_secs(3600));
    assert_eq!(sim.connects(), 1);
    assert!(sim.conn.is_stopped());
}

#[test]
fn heartbeat_timeout_and_unknown_reasons_reconnect_with_backoff() {
    for reason in [
        GoAwayReason::HeartbeatTimeout,
        GoAwayReason::Other("something_new".into()),
    ] {
        let mut sim = stable_sim();
        sim.goaway(reason.clone(), None);
        sim.server_close();
        let Some(Notice::Reconnecting { attempt, delay, .. }) = sim.notices().last().cloned()
        else {
            panic!()
        };
        assert_eq!(attempt, 1, "{reason:?}");
        assert!(
            (800..=1200).contains(&delay.as_millis()),
            "{reason:?}: {delay:?}"
        );
    }
}

#[test]
fn a_server_that_never_closes_after_goaway_is_dropped() {
    let mut sim = stable_sim();
    sim.goaway(GoAwayReason::ServerShutdown, Some(100));
    let mark = sim.trace.len();
    sim.advance(Duration::from_secs(10));
    let after = sim.since(mark);
    assert_eq!(after[0], Action::Disconnect);
    assert_eq!(sim.conn.state(), State::Waiting);
}

#[test]
fn acks_still_go_out_between_goaway_and_close() {
    let mut sim = stable_sim();
    let n = sim.event("kso.app_chat", "create", "{}");
    sim.goaway(GoAwayReason::ServerShutdown, None);
    sim.complete_ok(&n);
    assert_eq!(sim.acks(), vec![(n, 200, None)]);
}

#[test]
fn an_absurd_reconnect_ms_is_clamped_not_a_crash() {
    let mut sim = stable_sim();
    sim.text(r#"{"type":"goaway","reason":"server_shutdown","reconnect_ms":18446744073709551615}"#);
    sim.server_close();
    let Some(Notice::Reconnecting { delay, .. }) = sim.notices().last().cloned() else {
        panic!()
    };
    assert_eq!(delay, open_event_core::connection::MAX_SERVER_DELAY);
}
