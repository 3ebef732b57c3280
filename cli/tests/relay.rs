//! `openevent relay` and `openevent relay tail` as processes, against an emulator hosted in
//! the test and a real `redis-server`: events stored and printed back, and `kill -9` of the
//! leading instance with a standby taking over.

mod common;
#[path = "../../relay/tests/servers/mod.rs"]
mod servers;

use std::collections::HashSet;
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{TestEmulator, event, lines, openevent, run, wait};
use serde_json::Value;
use servers::RedisServer;

const LIMIT: Duration = Duration::from_secs(30);

/// Starts `openevent relay` with these extra arguments; stderr lines come over the channel.
fn relay(emu: &TestEmulator, args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = openevent()
        .arg("relay")
        .args(emu.client_args())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines(child.stderr.take().unwrap());
    (child, stderr)
}

/// Waits for a stderr line containing `needle`; returns every line read so far.
fn wait_line(stderr: &Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        if let Ok(line) = stderr.recv_timeout(Duration::from_millis(50)) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return;
            }
        }
    }
    panic!("no `{needle}` on stderr:\n{}", seen.join("\n"));
}

fn terminate(child: &Child) {
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// The nonces `relay tail` prints for the first `count` entries.
fn tail(url: &str, count: usize) -> Vec<String> {
    let finished = run(
        openevent().args([
            "relay",
            "tail",
            "--from",
            url,
            "--json",
            "--count",
            &count.to_string(),
        ]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    finished
        .stdout
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["code"], "kso.app_chat.create");
            value["nonce"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn chat(n: usize) -> open_event_emulator::server::EventSpec {
    event(
        "kso.app_chat",
        "create",
        &format!(r#"{{"chat_id":"c{n}"}}"#),
    )
}

#[test]
fn relay_stores_every_event_and_tail_prints_them_back() {
    let emu = TestEmulator::start();
    let redis = RedisServer::start();
    let stream = redis.url("events");
    // One store at a time keeps the stream in arrival order.
    let (child, stderr) = relay(
        &emu,
        &[
            "--to",
            &stream,
            "--status-every",
            "100ms",
            "--max-in-flight",
            "1",
        ],
    );
    let mut seen = Vec::new();
    wait_line(&stderr, "leader: connected", &mut seen);
    let pushed: Vec<String> = (0..20).map(|n| emu.push(chat(n))).collect();
    emu.wait_for(|r| r.ack_counts.accepted >= 20, LIMIT);
    wait_line(&stderr, "stored 20", &mut seen);

    let printed = tail(&stream, 20);
    assert_eq!(printed, pushed, "stored once each, in order");

    terminate(&child);
    let finished = wait(child, LIMIT);
    assert_eq!(finished.code(), Some(0));
    let text = seen.join("\n");
    assert!(text.contains("relaying to redis stream"), "{text}");
}

#[test]
fn kill_9_of_the_leading_relay_hands_over_to_the_standby_and_loses_nothing() {
    let emu = TestEmulator::start();
    let redis = RedisServer::start();
    let stream = redis.url("events");
    let lease = redis.url("leader");
    let args = ["--to", &stream, "--lease", &lease, "--lease-ttl", "1s"];
    let (mut a, a_err) = relay(&emu, &args);
    let (mut a_seen, mut b_seen) = (Vec::new(), Vec::new());
    wait_line(&a_err, "leader (lease token", &mut a_seen);
    let (b, b_err) = relay(&emu, &args);
    wait_line(&b_err, "standby: waiting for the lease", &mut b_seen);

    let mut pushed: Vec<String> = (0..50).map(|n| emu.push(chat(n))).collect();
    emu.wait_for(|r| r.ack_counts.accepted >= 50, LIMIT);
    a.kill().unwrap(); // SIGKILL: no drain, no release
    a.wait().unwrap();
    wait_line(&b_err, "leader (lease token", &mut b_seen);
    pushed.extend((50..100).map(|n| emu.push(chat(n))));
    emu.wait_for(|r| r.ack_counts.accepted >= 100, LIMIT);

    let report = emu.report();
    assert!(
        report.overlapping_connections().is_empty(),
        "two connections at once: {:?}",
        report.overlapping_connections()
    );
    let printed = tail(&stream, 100);
    let distinct: HashSet<&String> = printed.iter().collect();
    assert_eq!(distinct.len(), 100, "each event stored once");
    assert_eq!(distinct, pushed.iter().collect::<HashSet<_>>(), "none lost");

    terminate(&b);
    let finished = wait(b, LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", b_seen.join("\n"));
}
