//! The short soak, as a test: `loadtest soak` through the chaos emulator (a random drop every
//! ~1 000 acks, 10 % of the acks lost on the server side, read stalls), one test per runtime
//! (the four run in parallel, 50 000 events in all): nothing lost, no handler run twice on a
//! nonce, and the chaos really happened.

use std::process::Command;

use serde_json::Value;

/// Events per runtime.
const EVENTS: u32 = 12_500;

fn soak(runtime: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["soak", "--json", "--runtime", runtime])
        .args(["--events", &EVENTS.to_string()])
        // Stalls more often than the long soak's default, so a short run sees some.
        .args(["--stall-every", "2000", "--stall-ms", "100"])
        .output()
        .expect("the loadtest binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("[{runtime}] no result ({e}): {stdout}\n{stderr}"));
    let get = |path: &[&str]| {
        let mut value = &result;
        for key in path {
            value = &value[*key];
        }
        value
            .as_u64()
            .unwrap_or_else(|| panic!("[{runtime}] no {path:?} in {result}"))
    };
    assert_eq!(
        result["problems"],
        Value::Array(Vec::new()),
        "[{runtime}] {result}"
    );
    assert_eq!(
        result["server"]["complete"],
        Value::Bool(true),
        "[{runtime}] {result}"
    );
    assert_eq!(get(&["lost"]), 0, "[{runtime}] {result}");
    assert_eq!(get(&["duplicates"]), 0, "[{runtime}] {result}");
    assert_eq!(get(&["handled"]), u64::from(EVENTS), "[{runtime}] {result}");
    assert_eq!(
        get(&["server", "acked"]),
        u64::from(EVENTS),
        "[{runtime}] {result}"
    );
    assert_eq!(get(&["server", "pending"]), 0, "[{runtime}] {result}");
    // The chaos happened: drops, lost acks and their redeliveries, which the dedup answered.
    assert!(get(&["server", "drops"]) >= 5, "[{runtime}] {result}");
    assert!(get(&["server", "acks_lost"]) >= 500, "[{runtime}] {result}");
    assert!(get(&["server", "read_stalls"]) >= 1, "[{runtime}] {result}");
    assert!(
        get(&["server", "redeliveries"]) >= get(&["server", "acks_lost"]),
        "[{runtime}] {result}"
    );
    assert!(get(&["suppressed"]) > 0, "[{runtime}] {result}");
    assert_eq!(output.status.code(), Some(0), "[{runtime}] {stderr}");
}

#[test]
fn tokio() {
    soak("tokio");
}

#[test]
fn async_std() {
    soak("async-std");
}

#[test]
fn smol() {
    soak("smol");
}

#[test]
fn blocking() {
    soak("blocking");
}
