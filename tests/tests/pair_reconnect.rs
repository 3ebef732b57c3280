//! Reconnect timing against the emulator's server, in memory under a virtual clock.

use std::time::Duration;

use open_event_core::connection::{Notice, StopReason};
use open_event_emulator::server::{Script, Step};
use open_event_tests::pair::Pair;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// docs/protocol.md §6 with the defaults: attempt `n` waits `min(1 s × 2^(n-1), 60 s) × (1 ± 0.2)`.
fn bounds(n: u32) -> (Duration, Duration) {
    let nominal = (1000u64 << (n - 1).min(10)).min(60_000) as f64;
    (
        Duration::from_secs_f64(nominal * 0.8 / 1000.0),
        Duration::from_secs_f64(nominal * 1.2 / 1000.0),
    )
}

fn assert_in_bounds(delays: &[Duration], first_attempt: u32) {
    for (i, delay) in delays.iter().enumerate() {
        let n = first_attempt + i as u32;
        let (lo, hi) = bounds(n);
        assert!(
            (lo..=hi).contains(delay),
            "attempt {n}: {delay:?} outside {lo:?}..={hi:?} (all: {delays:?})"
        );
    }
}

/// Waits for a connection, then drops it at once, `times` times.
fn drop_each_connection(pair: &mut Pair, times: usize) {
    for _ in 0..times {
        pair.run_until(1_000, |p| p.server.active().is_some());
        pair.with_server(|server, now| server.drop_connection(now))
            .unwrap();
    }
}

#[test]
fn abrupt_drops_are_followed_by_backoff_delays() {
    let mut pair = Pair::new(|c| c, |s| s, 11);
    drop_each_connection(&mut pair, 6);
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 7);

    let server_delays = pair.server.report().reconnect_delays();
    assert_eq!(server_delays.len(), 6);
    assert_in_bounds(&server_delays, 1);
    // Without latency the server sees exactly the delays the client chose.
    assert_eq!(server_delays, pair.client_delays());
    let attempts: Vec<u32> = pair
        .notices
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::Reconnecting { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn latency_adds_two_trips_to_what_the_server_sees() {
    let latency = ms(7);
    let mut pair = Pair::new(|c| c, |s| s, 12);
    pair.set_latency(latency);
    drop_each_connection(&mut pair, 4);
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 5);
    let client = pair.client_delays();
    assert_in_bounds(&client, 1);
    // The reset reaches the client one latency after the drop, its handshake the server one
    // latency after it dials.
    let expected: Vec<Duration> = client.iter().map(|d| *d + 2 * latency).collect();
    assert_eq!(pair.server.report().reconnect_delays(), expected);
}

#[test]
fn a_server_that_accepts_and_drops_at_once_gets_growing_delays_not_a_storm() {
    let mut pair = Pair::new(|c| c, |s| s, 13);
    pair.set_latency(ms(1));
    let mut script = Script::new();
    for _ in 0..50 {
        script = script
            .then(Duration::ZERO, Step::WaitForConnection)
            .then(Duration::ZERO, Step::Drop);
    }
    pair.with_server(|server, now| server.play(now, script));
    pair.run_for(Duration::from_secs(120), 10_000);

    let report = pair.server.report();
    // 1 s, 2 s, 4 s, ... (±20 %): within 120 s that is 7 or 8 handshakes, where a backoff reset
    // on every open would have made about 120.
    let handshakes = report.handshakes.len();
    assert!((7..=8).contains(&handshakes), "{handshakes} handshakes");
    assert!(report.connections.iter().all(|c| !c.is_open()));
    let delays = pair.client_delays();
    assert_in_bounds(&delays, 1);
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "delays must grow: {delays:?}"
    );
    // Each connection lived for no time at all.
    assert!(
        report
            .connections
            .iter()
            .all(|c| c.closed_at == Some(c.opened_at))
    );
}

#[test]
fn a_stable_connection_resets_the_backoff() {
    let mut pair = Pair::new(|c| c, |s| s, 14);
    drop_each_connection(&mut pair, 3);
    pair.run_until(1_000, |p| p.server.active().is_some());
    // The default stable period is 30 s.
    pair.run_for(Duration::from_secs(31), 1_000);
    pair.with_server(|server, now| server.drop_connection(now))
        .unwrap();
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 5);

    let delays = pair.client_delays();
    assert_eq!(delays.len(), 4);
    assert_in_bounds(&delays[..3], 1);
    assert_in_bounds(&delays[3..], 1);
    assert!(matches!(
        pair.notices
            .iter()
            .rev()
            .find(|(_, n)| matches!(n, Notice::Reconnecting { .. })),
        Some((_, Notice::Reconnecting { attempt: 1, .. }))
    ));
    // The server's pings kept the long-lived connection alive: one pong per ping.
    let long_lived = &pair.server.report().connections[3];
    assert_eq!(long_lived.pongs_per_ping(), [1]);
}

#[test]
fn a_short_connection_does_not_reset_the_backoff() {
    let mut pair = Pair::new(|c| c, |s| s, 15);
    drop_each_connection(&mut pair, 2);
    pair.run_until(1_000, |p| p.server.active().is_some());
    pair.run_for(Duration::from_secs(29), 1_000);
    pair.with_server(|server, now| server.drop_connection(now))
        .unwrap();
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 4);
    assert_in_bounds(&pair.client_delays(), 1);
}

#[test]
fn rejected_handshakes_back_off_and_401_stops_for_good() {
    let mut pair = Pair::new(|c| c, |s| s, 16);
    pair.with_server(|server, _| server.reject_next_handshakes(503, 3))
        .unwrap();
    pair.run_until(1_000, |p| p.server.active().is_some());
    let report = pair.server.report();
    assert_eq!(report.rejected(), 3);
    assert_in_bounds(&report.reconnect_delays(), 1);

    pair.with_server(|server, _| server.reject_next_handshakes(401, 1))
        .unwrap();
    pair.with_server(|server, now| server.drop_connection(now))
        .unwrap();
    pair.run_until(1_000, Pair::is_stopped);
    assert!(matches!(
        pair.client.stop_reason(),
        Some(StopReason::AuthRejected { status: 401, .. })
    ));
    pair.run_for(Duration::from_secs(600), 10_000);
    assert_eq!(pair.server.report().handshakes.len(), 5);
}

#[test]
fn a_down_link_is_retried_with_backoff_until_it_is_back() {
    let mut pair = Pair::new(|c| c, |s| s, 17);
    pair.set_link_down(true);
    pair.run_until(1_000, |p| p.connects.len() == 5);
    pair.set_link_down(false);
    pair.run_until(1_000, |p| p.server.active().is_some());
    let delays = pair.client_delays();
    assert_eq!(delays.len(), 5);
    assert_in_bounds(&delays, 1);
    assert_eq!(pair.server.report().handshakes.len(), 1);
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut pair = Pair::new(|c| c, |s| s, seed);
        pair.set_latency(ms(3));
        drop_each_connection(&mut pair, 5);
        pair.run_until(1_000, |p| p.server.report().handshakes.len() == 6);
        (pair.client_trace, pair.server_trace)
    };
    assert_eq!(run(21), run(21));
    assert_ne!(run(21).0, run(22).0);
}

#[test]
fn server_silence_past_the_pong_timeout_makes_the_client_reconnect() {
    let mut pair = Pair::new(
        |c| c.pong_timeout(Duration::from_secs(5)),
        |s| s.ping_interval(Duration::from_secs(1)),
        18,
    );
    pair.set_latency(ms(1));
    pair.run_until(1_000, |p| p.server.active().is_some());
    pair.run_for(Duration::from_millis(2_500), 1_000);
    let silent_from = pair.elapsed();
    pair.silence(Duration::from_secs(20)).unwrap();
    pair.run_until(1_000, |p| p.server.report().handshakes.len() == 2);

    // The last ping arrived at 2.001 s; 5 s of silence later the client gives up on the
    // connection, then waits attempt 1's backoff.
    let report = pair.server.report();
    let first = &report.connections[0];
    let last_ping = first.pings.last().unwrap().sent_at - pair.epoch;
    assert!(last_ping < silent_from);
    let dead_at = last_ping + ms(1) + Duration::from_secs(5);
    assert!(
        pair.client_trace
            .iter()
            .any(|(at, line)| *at == dead_at && line == "disconnect")
    );
    assert!(matches!(
        first.end,
        Some(open_event_emulator::server::ConnectionEnd::Lost { .. })
    ));
    let (lo, hi) = bounds(1);
    assert_in_bounds(&pair.client_delays(), 1);
    let reconnect = report.handshakes[1].at - pair.epoch;
    assert!(reconnect >= dead_at + lo && reconnect <= dead_at + hi + ms(1));
}
