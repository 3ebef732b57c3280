//! `openevent demo` runs the whole tour on every runtime, exits 0 and narrates each milestone.

mod common;

use std::time::Duration;

use common::{openevent, run};

/// What the client says, in the order it must say it (client lines come from one causal
/// sequence; server lines are read from the report in between and may land on either side).
const CLIENT_ORDER: &[&str] = &[
    "client  connected the WebSocket is open: events flow",
    "event     kso.app_chat.create",
    "event     kso.app_chat.message.create",
    "event     kso.xz.app.group_chat.member.robot.create",
    "event     kso.xz.app.group_chat.member.user.create",
    "event     kso.calendar.event.create",
    "no typed model for this event code",
    "goaway from the server: server_shutdown",
    "reconnecting in 1000 ms",
    "reconnected",
    "event     kso.xz.app.group_chat.member.user.delete",
    "this one is delivered twice and handled once",
    "arrived after its connection closed; not acked",
    "reconnected",
    "duplicate event",
    "event     kso.xz.app.group_chat.member.robot.delete",
    "event     kso.xz.app.group_chat.delete",
    "stopped as requested",
    "summary",
];

/// What the server must have seen, anywhere in the log.
const SERVER_SAW: &[&str] = &[
    "server  handshake valid KSO-1 signature, ACK mode -> conn#1",
    "-> conn#2, 10",
    "-> conn#3",
    "ack       200 for",
    "-> 1 pong",
    "server_shutdown sent on conn#1, reconnect_ms 1000",
    "conn#2 dropped by the server (no close frame)",
    "again on conn#3 (send #2)",
    "closed by the client (code 1000)",
    "tour complete",
];

fn tour(runtime: &str) {
    let finished = run(
        openevent().args(["demo", "--runtime", runtime]),
        Duration::from_secs(25),
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let out = &finished.stdout;
    let mut from = 0;
    for milestone in CLIENT_ORDER {
        match out[from..].find(milestone) {
            Some(at) => from += at + milestone.len(),
            None => panic!(
                "{runtime}: `{milestone}` missing (in order):\n{}",
                finished.dump()
            ),
        }
    }
    for seen in SERVER_SAW {
        assert!(
            out.contains(seen),
            "{runtime}: `{seen}` missing:\n{}",
            finished.dump()
        );
    }
    assert!(
        out.contains("1 duplicate (not handled twice)"),
        "{}",
        finished.dump()
    );
    assert!(out.contains("0 still pending"), "{}", finished.dump());
    assert!(
        out.contains("never more than one pong per ping"),
        "{}",
        finished.dump()
    );
    assert!(!out.contains('\u{1b}'), "colour despite NO_COLOR");
    // The log's times never go backwards, though server lines are read from its report late.
    let times: Vec<f64> = out
        .lines()
        .filter_map(|line| line.trim_start().split_once("s  "))
        .filter_map(|(secs, _)| secs.parse().ok())
        .collect();
    assert!(times.len() > 30, "{runtime}: too few timed lines:\n{out}");
    for pair in times.windows(2) {
        assert!(
            pair[0] <= pair[1],
            "{runtime}: {} printed before {}:\n{out}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn demo_on_tokio() {
    tour("tokio");
}

#[test]
fn demo_on_blocking_threads() {
    tour("blocking");
}

#[test]
fn demo_on_smol() {
    tour("smol");
}

#[test]
fn demo_on_async_std() {
    tour("async-std");
}
