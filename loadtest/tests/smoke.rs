//! The benchmark harness itself works: every runtime, every phase, tiny counts. Only what the
//! runs did is checked (every event handled and acked once, the samples taken), never how fast:
//! the figures belong in BENCHMARKS.md, not in assertions.

use std::process::Command;

use serde_json::Value;

#[test]
fn every_runtime_runs_every_phase_and_acks_every_event_once() {
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "--runtime",
            "all",
            "--events",
            "300",
            "--rate",
            "200",
            "--duration",
            "1",
            "--memory-check",
            "400",
            "--sample-every",
            "200",
            "--json",
        ])
        .output()
        .expect("the loadtest binary starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 0: every target met; 2: measured, but a (timing) target missed, as a debug build may.
    let code = output.status.code();
    assert!(matches!(code, Some(0 | 2)), "exit {code:?}\n{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON on stdout ({e}):\n{stderr}"));
    let warmup = report["warmup_events"].as_u64().expect("warmup_events");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 4 * 3, "{report:#}");

    for result in results {
        let name = format!("{} {}", result["runtime"], result["phase"]);
        assert_eq!(result["problems"], Value::Array(Vec::new()), "{name}");
        assert_eq!(
            result["unexpected_notices"],
            Value::Array(Vec::new()),
            "{name}"
        );
        let events = result["events"].as_u64().expect("events");
        assert_eq!(
            result["server"]["acked"].as_u64(),
            Some(warmup + events),
            "{name}"
        );
        assert_eq!(result["handled"].as_u64(), Some(warmup + events), "{name}");
        match result["phase"].as_str() {
            Some("throughput") => assert_eq!(events, 300, "{name}"),
            Some("latency") => {
                assert_eq!(events, 200, "{name}");
                assert_eq!(result["latency"]["samples"].as_u64(), Some(200), "{name}");
            }
            Some("memory") => {
                assert_eq!(events, 400, "{name}");
                // At the start, after 200 and after 400 events.
                let samples = result["rss_samples"].as_array().expect("rss_samples");
                if cfg!(target_os = "linux") {
                    assert_eq!(samples.len(), 3, "{name}: {samples:?}");
                }
            }
            other => panic!("unknown phase {other:?}"),
        }
    }
    let runtimes: Vec<&str> = results
        .iter()
        .filter_map(|r| r["runtime"].as_str())
        .collect();
    for runtime in ["tokio", "async-std", "smol", "blocking"] {
        assert!(
            runtimes.contains(&runtime),
            "{runtime} missing: {runtimes:?}"
        );
    }
}
