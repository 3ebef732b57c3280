//! GoAway handling against the emulator's server, in memory under a virtual clock.

use std::time::Duration;

use open_event_core::codec::GoAwayReason;
use open_event_core::connection::{Notice, StopReason};
use open_event_emulator::server::ConnectionEnd;
use open_event_tests::pair::Pair;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// docs/protocol.md §6 with the defaults.
fn bounds(n: u32) -> (Duration, Duration) {
    let nominal = (1000u64 << (n - 1).min(10)).min(60_000) as f64;
    (
        Duration::from_secs_f64(nominal * 0.8 / 1000.0),
        Duration::from_secs_f64(nominal * 1.2 / 1000.0),
    )
}

fn connected(latency: Duration, seed: u64) -> Pair {
    let mut pair = Pair::new(|c| c, |s| s, seed);
    pair.set_latency(latency);
    pair.run_until(1_000, |p| {
        p.server.active().is_some() && p.client.stats().connects == 1
    });
    pair
}

fn goaway(pair: &mut Pair, reason: GoAwayReason, reconnect_ms: Option<u64>) {
    pair.with_server(|server, now| server.goaway(now, reason, reconnect_ms))
        .unwrap();
}

#[test]
fn server_shutdown_reconnects_after_exactly_reconnect_ms_then_backs_off_normally() {
    let mut pair = connected(ms(5), 31);
    goaway(&mut pair, GoAwayReason::ServerShutdown, Some(5_000));
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 2);

    assert_eq!(pair.client_delays(), [ms(5_000)]);
    // From the server's close (answered one round trip later) to the next handshake, the
    // latencies cancel out.
    let report = pair.server.report();
    assert_eq!(report.reconnect_delays(), [ms(5_000)]);
    assert_eq!(
        report.connections[0].end,
        Some(ConnectionEnd::ClosedByServer { code: 1001 })
    );
    assert!(pair.notices.iter().any(|(_, n)| matches!(
        n,
        Notice::GoAway(g) if g.reason == GoAwayReason::ServerShutdown && g.reconnect_ms == Some(5_000)
    )));

    // The server's delay was for that one reconnect only: the next failure backs off from the
    // formula (attempt 2), not from 5 s.
    pair.run_until(1_000, |p| p.server.active().is_some());
    pair.with_server(|server, now| server.drop_connection(now))
        .unwrap();
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 3);
    let (lo, hi) = bounds(2);
    let next = pair.client_delays()[1];
    assert!((lo..=hi).contains(&next), "{next:?}");
}

#[test]
fn connection_replaced_stops_for_good() {
    let mut pair = connected(ms(2), 32);
    goaway(&mut pair, GoAwayReason::ConnectionReplaced, Some(1_000));
    pair.run_until(1_000, Pair::is_stopped);
    assert!(matches!(
        pair.client.stop_reason(),
        Some(StopReason::ConnectionReplaced { .. })
    ));
    assert!(pair.client_delays().is_empty());
    pair.run_for(Duration::from_secs(600), 10_000);
    let report = pair.server.report();
    assert_eq!(report.handshakes.len(), 1);
    assert!(report.connections.iter().all(|c| !c.is_open()));
    assert!(pair.client.poll_timeout().is_none());
}

#[test]
fn heartbeat_timeout_after_lost_pongs_reconnects_with_backoff() {
    let mut pair = Pair::new(
        |c| c,
        |s| {
            s.ping_interval(Duration::from_secs(1))
                .heartbeat_timeout(Some(Duration::from_secs(3)))
        },
        33,
    );
    pair.run_until(1_000, |p| p.server.active().is_some());
    pair.run_for(Duration::from_secs(2), 1_000);
    // The client's pongs stop reaching the server; its pings still reach the client.
    pair.set_uplink_lost(true);
    pair.run_until(1_000, |p| {
        p.notices
            .iter()
            .any(|(_, n)| matches!(n, Notice::GoAway(_)))
    });
    pair.set_uplink_lost(false);
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 2);

    let record = &pair.server.report().connections[0];
    assert_eq!(
        record.goaway.as_ref().map(|g| g.reason.clone()),
        Some(GoAwayReason::HeartbeatTimeout)
    );
    let answered = record.pongs_per_ping();
    assert_eq!(&answered[..2], [1, 1], "{answered:?}");
    assert!(answered[2..].iter().all(|&n| n == 0), "{answered:?}");
    let (lo, hi) = bounds(1);
    let delays = pair.client_delays();
    assert_eq!(delays.len(), 1);
    assert!((lo..=hi).contains(&delays[0]), "{delays:?}");
}

#[test]
fn heartbeat_timeout_goaway_uses_normal_backoff() {
    let mut pair = connected(ms(1), 34);
    goaway(&mut pair, GoAwayReason::HeartbeatTimeout, None);
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 2);
    let (lo, hi) = bounds(1);
    let delay = pair.client_delays()[0];
    assert!((lo..=hi).contains(&delay), "{delay:?}");
}

#[test]
fn an_unknown_reason_reconnects_with_backoff_and_is_reported() {
    let mut pair = connected(ms(1), 35);
    goaway(&mut pair, GoAwayReason::Other("rebalance".into()), None);
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 2);
    let (lo, hi) = bounds(1);
    let delay = pair.client_delays()[0];
    assert!((lo..=hi).contains(&delay), "{delay:?}");
    let line = pair
        .notices
        .iter()
        .find_map(|(_, n)| matches!(n, Notice::GoAway(_)).then(|| n.to_string()))
        .unwrap();
    assert!(
        line.contains("rebalance") && line.contains("unknown reason"),
        "{line}"
    );
    assert!(!pair.is_stopped());
}

#[test]
fn the_goaway_close_is_expected_not_an_error() {
    let mut pair = connected(Duration::ZERO, 36);
    goaway(&mut pair, GoAwayReason::ServerShutdown, Some(300));
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 2);
    let disconnect = pair
        .notices
        .iter()
        .find_map(|(_, n)| match n {
            Notice::Disconnected(cause) => Some(cause.to_string()),
            _ => None,
        })
        .unwrap();
    assert!(
        disconnect.contains("went away (server_shutdown)"),
        "{disconnect}"
    );
    // Closed 100 ms (the server's GoAway close delay) after the GoAway, then exactly 300 ms.
    let goaway_at = pair
        .server_trace
        .iter()
        .find(|(_, line)| line.contains("goaway"))
        .unwrap()
        .0;
    assert_eq!(pair.connects[1] - goaway_at, ms(400));
}
