//! `openevent listen` against an emulator hosted in the test.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::{TestEmulator, closed_port, event, openevent, run, temp_path, wait};
use open_event_emulator::server::AckStatus;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);

fn chat(id: &str) -> open_event_emulator::server::EventSpec {
    event(
        "kso.app_chat",
        "create",
        &format!(r#"{{"chat_id":"{id}","creator":{{"type":"user","id":"u1"}},"company_id":"c1"}}"#),
    )
}

fn ndjson(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn ndjson_on(runtime: &str) {
    let emu = TestEmulator::start();
    let nonces = [
        chat("c1"),
        chat("c2"),
        // JSON that is not an object (a plaintext that is not JSON at all is rejected by the
        // core and never printed: core/src/event.rs, `Event::check_json`).
        event("kso.x.raw", "update", r#""plain text""#),
    ]
    .map(|e| emu.push(e.time(1_704_067_200)));
    let file = temp_path("events.ndjson");
    let finished = run(
        openevent()
            .args([
                "listen",
                "--json",
                "--max-events",
                "3",
                "--runtime",
                runtime,
            ])
            .arg("--output")
            .arg(&file)
            .args(emu.client_args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let lines = ndjson(&finished.stdout);
    assert_eq!(lines.len(), 3, "{}", finished.dump());
    for (line, nonce) in lines.iter().zip(&nonces) {
        assert_eq!(line["time"], "2024-01-01T00:00:00Z");
        assert_eq!(line["nonce"], nonce.as_str());
        for key in ["event_code", "topic", "operation"] {
            assert!(line[key].is_string(), "{key}: {line}");
        }
    }
    assert_eq!(lines[0]["event_code"], "kso.app_chat.create");
    assert_eq!(lines[0]["topic"], "kso.app_chat");
    assert_eq!(lines[0]["operation"], "create");
    assert_eq!(lines[0]["data"]["chat_id"], "c1");
    assert_eq!(
        lines[2]["data"], "plain text",
        "a JSON string stays a string"
    );
    let saved = std::fs::read_to_string(&file).unwrap();
    assert_eq!(ndjson(&saved), lines, "--output holds the same NDJSON");
    let _ = std::fs::remove_file(&file);
    // Status lines went to stderr; every event was acked 200 before the exit.
    assert!(
        finished.stderr.contains("connected to ws://"),
        "{}",
        finished.dump()
    );
    assert!(
        finished.stderr.contains("--max-events"),
        "{}",
        finished.dump()
    );
    assert_eq!(emu.report().ack_counts.accepted, 3);
}

#[test]
fn json_lines_have_the_documented_fields_on_tokio() {
    ndjson_on("tokio");
}

#[test]
fn json_lines_on_blocking_threads() {
    ndjson_on("blocking");
}

#[test]
fn json_lines_on_smol() {
    ndjson_on("smol");
}

#[test]
fn json_lines_on_async_std() {
    ndjson_on("async-std");
}

#[test]
fn the_events_filter_keeps_matches_and_acks_the_rest() {
    let emu = TestEmulator::start();
    emu.push(chat("c1"));
    let other = emu.push(event("kso.xz.app.group_chat", "delete", "{}"));
    emu.push(event("kso.app_chat.message", "create", "{}"));
    let finished = run(
        openevent()
            .args(["listen", "--json", "--max-events", "2"])
            .args(["--events", "kso.app_chat.*"])
            .args(emu.client_args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let codes: Vec<Value> = ndjson(&finished.stdout)
        .into_iter()
        .map(|v| v["event_code"].clone())
        .collect();
    assert_eq!(
        codes,
        ["kso.app_chat.create", "kso.app_chat.message.create"]
    );
    let report = emu.report();
    let skipped = report.acks.iter().find(|a| a.nonce == other).unwrap();
    assert_eq!((skipped.code, skipped.status), (200, AckStatus::Accepted));
    assert!(
        finished.stderr.contains("1 filtered out"),
        "{}",
        finished.dump()
    );
}

#[test]
fn exec_acks_by_exit_status_with_stderr_as_the_message() {
    let emu = TestEmulator::start();
    let good = emu.push(chat("c1"));
    let bad = emu.push(event("kso.x", "fail", r#"{"n":1}"#));
    let dir = temp_path("exec");
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        r#"cat > "{}/$OPEN_EVENT_NONCE.json"; if [ "$OPEN_EVENT_CODE" = kso.x.fail ]; then echo "  cannot handle kso.x.fail  " >&2; exit 3; fi"#,
        dir.display()
    );
    let finished = run(
        openevent()
            .args(["listen", "--max-events", "2", "--exec", &script])
            .args(emu.client_args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let report = emu.report();
    let ack = |nonce: &str| {
        report
            .acks
            .iter()
            .find(|a| a.nonce == nonce)
            .unwrap()
            .clone()
    };
    assert_eq!(ack(&good).code, 200);
    let failed = ack(&bad);
    assert_eq!(failed.code, 500);
    assert_eq!(failed.msg.as_deref(), Some("cannot handle kso.x.fail"));
    // The command got the event's JSON on stdin.
    let input: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{bad}.json"))).unwrap())
            .unwrap();
    assert_eq!(input["event_code"], "kso.x.fail");
    assert_eq!(input["data"]["n"], 1);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        finished
            .stderr
            .contains("ack 500: cannot handle kso.x.fail"),
        "{}",
        finished.dump()
    );
}

#[test]
fn exec_timeout_kills_the_command_and_acks_500() {
    let emu = TestEmulator::start();
    let nonce = emu.push(chat("c1"));
    let finished = run(
        openevent()
            .args(["listen", "--max-events", "1", "--exec", "sleep 10"])
            .args(["--exec-timeout", "100ms"])
            .args(emu.client_args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let report = emu.report();
    let ack = report.acks.iter().find(|a| a.nonce == nonce).unwrap();
    assert_eq!(ack.code, 500);
    assert!(
        ack.msg
            .as_deref()
            .unwrap_or("")
            .contains("timed out after 100 ms"),
        "{ack:?}"
    );
}

#[test]
fn a_wrong_secret_exits_1_and_says_what_to_check() {
    let emu = TestEmulator::start();
    let finished = run(
        openevent().args([
            "listen",
            "--endpoint",
            &emu.url(),
            "--app-id",
            emu.credentials().app_id(),
            "--app-secret",
            "not-the-secret",
        ]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(1), "{}", finished.dump());
    assert!(finished.stderr.contains("HTTP 401"), "{}", finished.dump());
    assert!(
        finished.stderr.contains("check the app id and app secret"),
        "{}",
        finished.dump()
    );
    assert!(!finished.stderr.contains("not-the-secret"), "secret leaked");
}

#[test]
fn missing_credentials_without_a_terminal_exit_1_with_the_flags_to_set() {
    let finished = run(openevent().arg("listen"), LIMIT);
    assert_eq!(finished.code(), Some(1), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "--app-id",
        "OPEN_EVENT_APP_ID",
        "--app-secret",
        "OPEN_EVENT_APP_SECRET",
        "terminal",
    ]);
}

#[test]
fn credentials_come_from_the_environment() {
    let emu = TestEmulator::start();
    emu.push(chat("c1"));
    let finished = run(
        openevent()
            .args([
                "listen",
                "--json",
                "--max-events",
                "1",
                "--endpoint",
                &emu.url(),
            ])
            .env("APP_ID", emu.credentials().app_id())
            .env(
                "OPEN_EVENT_APP_SECRET",
                emu.credentials().app_secret().expose(),
            ),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    assert_eq!(ndjson(&finished.stdout).len(), 1);
}

#[test]
fn retries_exhausted_exit_2_with_the_next_step() {
    let finished = run(
        openevent().args([
            "listen",
            "--app-id",
            "AK123456",
            "--app-secret",
            "s",
            "--endpoint",
            &format!("ws://127.0.0.1:{}/v7/event/ws", closed_port()),
            "--max-retries",
            "1",
            "--reconnect-base",
            "10ms",
        ]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    assert!(
        finished.stderr.contains("gave up after 2"),
        "{}",
        finished.dump()
    );
    assert!(
        finished.stderr.contains("--max-retries"),
        "{}",
        finished.dump()
    );
}

#[test]
fn a_bad_setting_exits_3_naming_its_flag() {
    let finished = run(
        openevent().args([
            "listen",
            "--app-id",
            "A",
            "--app-secret",
            "s",
            "--max-in-flight",
            "0",
        ]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    assert!(
        finished.stderr.contains("--max-in-flight"),
        "{}",
        finished.dump()
    );
    let finished = run(
        openevent().args(["listen", "--pong-timeout", "soon"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    assert!(finished.stderr.contains("500ms"), "{}", finished.dump());
}

#[test]
fn a_closed_stdout_stops_cleanly_with_exit_0() {
    let emu = TestEmulator::start();
    emu.push(chat("c1"));
    let mut child = openevent()
        .args(["listen", "--json"])
        .args(emu.client_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("kso.app_chat.create"), "{first}");
    drop(stdout);
    emu.push(chat("c2"));
    emu.push(chat("c3"));
    let finished = wait(child, LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    assert!(
        finished.stderr.contains("stdout was closed"),
        "{}",
        finished.dump()
    );
    // The event that hit the closed pipe was not acked 200: the platform redelivers it.
    emu.wait_for(|r| r.open_connections().next().is_none(), LIMIT);
    assert!(emu.report().pending >= 1);
}

#[test]
fn without_json_events_are_printed_for_people() {
    let emu = TestEmulator::start();
    emu.push(chat("c7").time(1_704_067_200));
    let finished = run(
        openevent()
            .args(["listen", "--max-events", "1"])
            .args(emu.client_args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    finished.assert_stdout_has(&[
        "2024-01-01T00:00:00Z  kso.app_chat.create",
        "user u1 opened chat c7 with the app",
        "  {\n    \"chat_id\": \"c7\",",
    ]);
}

#[test]
fn sigterm_drains_the_event_in_flight_and_exits_0() {
    let emu = TestEmulator::start();
    let nonce = emu.push(chat("c1"));
    let child = openevent()
        .args(["listen", "--json", "--exec", "sleep 0.4"])
        .args(emu.client_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    emu.wait_for(|r| r.events_sent >= 1, LIMIT);
    std::thread::sleep(Duration::from_millis(100));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let finished = wait(child, LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    assert!(
        finished.stderr.contains("stopping gracefully"),
        "{}",
        finished.dump()
    );
    // The command finished during the drain and its event was acked before the close.
    let report = emu.report();
    let ack = report.acks.iter().find(|a| a.nonce == nonce).unwrap();
    assert_eq!(ack.code, 200, "{ack:?}");
    assert_eq!(report.pending, 0);
}
