//! The `metrics` feature on every runtime: one scenario (handled and failed events, a rejected
//! frame, a GoAway and its reconnect, a stop) run on tokio, async-std, smol and blocking in
//! turn, under one process-wide debugging recorder (`metrics-util`). Every runtime must report
//! the same series with the same values, and they must agree with the client's `Stats`.
//!
//! One test in its own binary: the recorder is global, so the runtimes run one after the other
//! and each one's share is what the recorder holds between two snapshots.

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use open_event_core::codec::GoAwayReason;
use open_event_core::stats::Stats;
use open_event_emulator::server::Malformed;
use open_event_tests::runtimes::{self, Behaviour, ClientSpec, Runtime, TOPIC, WAIT, emulator};

/// A series as `name{k="v",...}` with its labels sorted.
fn series(key: &metrics::Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
        .collect();
    labels.sort();
    if labels.is_empty() {
        key.name().to_owned()
    } else {
        format!("{}{{{}}}", key.name(), labels.join(","))
    }
}

/// Counters and gauges by series, histograms by their sample count.
fn values(snapshotter: &Snapshotter) -> BTreeMap<String, f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(samples) => {
                    assert!(samples.iter().all(|s| s.into_inner() >= 0.0));
                    samples.len() as f64
                }
            };
            (series(key.key()), value)
        })
        .collect()
}

/// One runtime's share: the debugging recorder's snapshot swaps counters and gauges to zero
/// and drains histograms, so each snapshot holds what was recorded since the one before.
/// Without the series that depend on the wall clock, and without zeros.
fn share(snapshotter: &Snapshotter) -> BTreeMap<String, f64> {
    values(snapshotter)
        .into_iter()
        .filter(|(name, value)| {
            !name.starts_with("open_event_last_frame_timestamp_seconds") && *value != 0.0
        })
        .collect()
}

/// The scenario; returns the client's final counters.
async fn scenario(runtime: Runtime) -> Stats {
    // No pings: their number would depend on timing.
    let hour = Duration::from_secs(3600);
    let emu = emulator(|s| s.ping_interval(hour)).await;
    let spec = ClientSpec {
        pong_timeout: hour,
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = runtimes::start(runtime, &spec);
    client.wait_open().await;
    for behaviour in [Behaviour::Ok, Behaviour::Ok, Behaviour::fail("boom")] {
        emu.push_event(behaviour.event()).unwrap();
    }
    emu.wait_for(
        |r| r.ack_counts.accepted >= 2 && r.ack_counts.negative >= 1,
        WAIT,
    )
    .await
    .unwrap();
    emu.send_malformed(Malformed::BadSignature).unwrap();
    client
        .wait_until("the rejected frame", WAIT, |c| {
            c.stats().rejected_total() == 1
        })
        .await;
    emu.goaway(GoAwayReason::ServerShutdown, Some(0)).unwrap();
    client.wait_connects(2).await;
    client.wait_open().await;
    // The failed event is redelivered on the new connection and answered from the dedup
    // memory (a duplicate, acked 500 again without running the handler).
    emu.push_event(Behaviour::sleep_ms(20).event()).unwrap();
    emu.wait_for(
        |r| r.ack_counts.accepted >= 3 && r.ack_counts.negative >= 2,
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
    client.stats()
}

#[test]
fn every_runtime_reports_the_same_series() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");

    let code = format!("code=\"{TOPIC}.run\"");
    let mut shares = Vec::new();
    // Whatever was recorded before the first scenario (nothing, normally) is not its share.
    share(&snapshotter);
    for runtime in Runtime::ALL {
        let slot = std::sync::Mutex::new(None);
        let slot_ref = &slot;
        runtimes::run(runtime, move |runtime| async move {
            let stats = scenario(runtime).await;
            *slot_ref.lock().unwrap() = Some(stats);
        });
        let stats = slot.into_inner().unwrap().expect("the scenario ran");
        let got = share(&snapshotter);

        // The series agree with the client's own counters...
        let n = |name: &str| got.get(name).copied().unwrap_or(0.0);
        assert_eq!(
            n("open_event_events_received_total"),
            stats.events_received as f64
        );
        assert_eq!(
            n("open_event_events_acked_total{status=\"200\"}"),
            stats.acked_ok as f64
        );
        assert_eq!(
            n("open_event_events_acked_total{status=\"500\"}"),
            stats.acked_error as f64
        );
        assert_eq!(n("open_event_connects_total"), stats.connects as f64);
        // ... and name what happened.
        let expected = [
            (format!("open_event_events_delivered_total{{{code}}}"), 4.0),
            (
                format!("open_event_events_handled_total{{{code},outcome=\"ok\"}}"),
                3.0,
            ),
            (
                format!("open_event_events_handled_total{{{code},outcome=\"error\"}}"),
                1.0,
            ),
            (
                format!("open_event_handler_duration_seconds{{{code}}}"),
                4.0,
            ),
            ("open_event_events_acked_total{status=\"200\"}".into(), 3.0),
            ("open_event_events_acked_total{status=\"500\"}".into(), 2.0),
            ("open_event_duplicates_total".into(), 1.0),
            (
                "open_event_events_rejected_total{reason=\"signature_mismatch\"}".into(),
                1.0,
            ),
            (
                "open_event_goaways_total{reason=\"server_shutdown\"}".into(),
                1.0,
            ),
            ("open_event_reconnects_total{cause=\"goaway\"}".into(), 1.0),
            ("open_event_connects_total".into(), 2.0),
        ];
        for (name, value) in &expected {
            assert_eq!(got.get(name), Some(value), "[{runtime}] {name}: {got:#?}");
        }
        // Connected twice and down twice; through the states and out of the gauges once run
        // returned: every gauge is back where it was.
        let gauges: Vec<&String> = got
            .keys()
            .filter(|name| {
                name.starts_with("open_event_connected")
                    || name.starts_with("open_event_connection_state")
            })
            .collect();
        assert!(gauges.is_empty(), "[{runtime}] not back to 0: {gauges:?}");
        shares.push((runtime, got));
    }
    let (first, reference) = &shares[0];
    for (runtime, got) in &shares[1..] {
        assert_eq!(got, reference, "{runtime} differs from {first}");
    }
}
