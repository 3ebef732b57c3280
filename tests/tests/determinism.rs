//! Same seed ⇒ identical trace; another seed changes only the jitter (the reconnect delays).

use std::time::Duration;

use open_event_core::codec::GoAwayReason;
use open_event_core::connection::{Action, Notice, Outcome};
use open_event_tests::sim::Sim;

/// A busy scenario: events, pings, failures, a GoAway, reconnects, a close.
fn scenario(seed: u64) -> Vec<(Duration, Action)> {
    let mut sim = Sim::new(|c| c, seed);
    sim.fail_network();
    sim.step();
    sim.fail_status(503);
    sim.step();
    sim.open();
    for i in 0..20 {
        let n = sim.event("kso.app_chat", "create", "{}");
        sim.ping(&[i]);
        sim.advance(Duration::from_millis(100));
        if i % 3 == 0 {
            sim.complete(&n, Outcome::Error("no".into()));
        } else {
            sim.complete_ok(&n);
        }
    }
    sim.goaway(GoAwayReason::HeartbeatTimeout, None);
    sim.server_close();
    sim.step();
    sim.drop_transport();
    sim.step();
    sim.open();
    sim.advance(Duration::from_secs(100));
    sim.conn.close(sim.now);
    sim.drain();
    sim.trace
}

/// A recorded action as text, with the reconnect instant (relative to each run's own epoch)
/// removed and, when `erase_jitter`, the reconnect delay too.
fn shape(recorded: &Action, erase_jitter: bool) -> String {
    match recorded {
        Action::Notify(Notice::Reconnecting { attempt, delay, .. }) => {
            if erase_jitter {
                format!("Reconnecting(attempt {attempt})")
            } else {
                format!("Reconnecting(attempt {attempt}, {delay:?})")
            }
        }
        other => format!("{other:?}"),
    }
}

fn delays(trace: &[(Duration, Action)]) -> Vec<Duration> {
    trace
        .iter()
        .filter_map(|(_, r)| match r {
            Action::Notify(Notice::Reconnecting { delay, .. }) => Some(*delay),
            _ => None,
        })
        .collect()
}

#[test]
fn same_seed_gives_an_identical_trace() {
    let a = scenario(42);
    let b = scenario(42);
    let timed = |t: &[(Duration, Action)]| -> Vec<(Duration, String)> {
        t.iter().map(|(d, r)| (*d, shape(r, false))).collect()
    };
    assert_eq!(timed(&a), timed(&b));
    assert!(delays(&a).len() >= 4);
}

#[test]
fn another_seed_changes_only_the_jitter() {
    let a = scenario(42);
    let b = scenario(43);
    assert_ne!(delays(&a), delays(&b), "the jitter differs");
    let untimed = |t: &[(Duration, Action)]| -> Vec<String> {
        t.iter().map(|(_, r)| shape(r, true)).collect()
    };
    assert_eq!(untimed(&a), untimed(&b), "everything else is equal");
}
