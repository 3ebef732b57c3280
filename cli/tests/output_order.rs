//! `openevent listen` with several events in flight (the default on tokio, async-std and
//! smol): stdout to a regular file (written by the handlers in batches) or a pipe (written by
//! the output thread), the output stays in arrival order and every event is acked 200.

mod common;

use std::fs::File;
use std::process::Stdio;
use std::time::Duration;

use common::{TestEmulator, event, openevent, temp_path, wait};

const LIMIT: Duration = Duration::from_secs(60);
const EVENTS: usize = 300;

/// Pushes `EVENTS` events before the client connects (so they arrive in a burst), runs
/// `listen --json --max-events EVENTS` with stdout to a file or a pipe; returns the nonces in
/// push order and the nonces as printed.
fn printed(runtime: &str, to_file: bool) -> (Vec<String>, Vec<String>) {
    let emu = TestEmulator::start();
    let pushed: Vec<String> = (0..EVENTS)
        .map(|i| {
            emu.push(event(
                "kso.app_chat",
                "create",
                &format!(r#"{{"chat_id":"c{i}","creator":{{"type":"user","id":"u1"}}}}"#),
            ))
        })
        .collect();
    let mut cmd = openevent();
    cmd.args(["listen", "--json", "--runtime", runtime, "--max-events"])
        .arg(EVENTS.to_string())
        .args(emu.client_args())
        .stderr(Stdio::piped());
    let path = temp_path("stdout.ndjson");
    if to_file {
        cmd.stdout(File::create(&path).unwrap());
    } else {
        cmd.stdout(Stdio::piped());
    }
    let finished = wait(cmd.spawn().expect("start openevent"), LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let text = if to_file {
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        text
    } else {
        finished.stdout.clone()
    };
    let nonces = text
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            value["nonce"].as_str().unwrap().to_owned()
        })
        .collect();
    let report = emu.report();
    assert_eq!(
        report.ack_counts.accepted,
        EVENTS as u64,
        "every event acked 200: {}",
        finished.dump()
    );
    (pushed, nonces)
}

fn in_arrival_order(runtime: &str, to_file: bool) {
    let (pushed, printed) = printed(runtime, to_file);
    assert_eq!(printed, pushed, "{runtime}, to a file: {to_file}");
}

#[test]
fn a_burst_to_a_file_is_printed_in_arrival_order_on_tokio() {
    in_arrival_order("tokio", true);
}

#[test]
fn a_burst_to_a_pipe_is_printed_in_arrival_order_on_tokio() {
    in_arrival_order("tokio", false);
}

#[test]
fn a_burst_to_a_file_is_printed_in_arrival_order_on_smol() {
    in_arrival_order("smol", true);
}

#[test]
fn a_burst_to_a_pipe_is_printed_in_arrival_order_on_async_std() {
    in_arrival_order("async-std", false);
}

#[test]
fn a_burst_to_a_file_is_printed_in_arrival_order_on_blocking() {
    in_arrival_order("blocking", true);
}
