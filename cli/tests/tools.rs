//! `decode`, `emulate`, `version` and the help texts.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{lines, openevent, run, run_with_input, wait};
use open_event_core::Credentials;
use open_event_core::crypto::EventCipher;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);

fn frame(credentials: &Credentials) -> String {
    EventCipher::new(credentials)
        .seal(
            "kso.app_chat",
            "create",
            1_704_067_200,
            "b38c06ba3330d2a3",
            r#"{"chat_id":"chat_9","creator":{"type":"user","id":"u1"},"company_id":"c1"}"#,
        )
        .unwrap()
        .to_json()
}

#[test]
fn decode_prints_a_valid_frame() {
    let creds = Credentials::new("AK20240101TEST", "sk_test_secret");
    let text = frame(&creds);
    let finished = run_with_input(
        openevent().args([
            "decode",
            "--app-id",
            "AK20240101TEST",
            "--app-secret",
            "sk_test_secret",
        ]),
        Some(&text),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    finished.assert_stdout_has(&[
        "kso.app_chat.create",
        "2024-01-01T00:00:00Z",
        "b38c06ba3330d2a3",
        "\"chat_id\": \"chat_9\"",
        "user u1 opened chat chat_9",
    ]);
    let finished = run_with_input(
        openevent()
            .args(["decode", "--json"])
            .env("OPEN_EVENT_APP_ID", "AK20240101TEST")
            .env("OPEN_EVENT_APP_SECRET", "sk_test_secret"),
        Some(&text),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let v: Value = serde_json::from_str(finished.stdout.trim()).unwrap();
    assert_eq!(v["event_code"], "kso.app_chat.create");
    assert_eq!(v["data"]["chat_id"], "chat_9");
}

#[test]
fn decode_of_a_tampered_frame_exits_1_with_the_reason() {
    let creds = Credentials::new("AK20240101TEST", "sk_test_secret");
    let mut v: Value = serde_json::from_str(&frame(&creds)).unwrap();
    v["topic"] = "kso.app_chat.message".into();
    let finished = run_with_input(
        openevent().args([
            "decode",
            "--app-id",
            "AK20240101TEST",
            "--app-secret",
            "sk_test_secret",
        ]),
        Some(&v.to_string()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(1), "{}", finished.dump());
    assert!(
        finished.stderr.contains("event signature does not match"),
        "{}",
        finished.dump()
    );
    let finished = run_with_input(
        openevent().args(["decode", "--app-id", "A", "--app-secret", "s"]),
        Some("{not json"),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(1), "{}", finished.dump());
    assert!(
        finished.stderr.contains("not valid JSON"),
        "{}",
        finished.dump()
    );
}

#[test]
fn emulate_serves_listen_and_reports_what_the_client_did() {
    let mut emulate = openevent()
        .args([
            "emulate",
            "--rate",
            "20",
            "--ping-interval",
            "100ms",
            "--duration",
            "15s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(emulate.stdout.take().unwrap());
    let (mut url, mut id, mut secret) = (None, None, None);
    let deadline = Instant::now() + LIMIT;
    let mut seen = Vec::new();
    while url.is_none() || id.is_none() || secret.is_none() {
        let line = out
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("emulate prints its URL and credentials");
        if let Some(rest) = line.strip_prefix("openevent emulate: listening on ") {
            url = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.trim().strip_prefix("app id:") {
            id = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.trim().strip_prefix("app secret:") {
            secret = Some(rest.trim().to_owned());
        }
        seen.push(line);
    }
    let finished = run(
        openevent()
            .args([
                "listen",
                "--json",
                "--max-events",
                "5",
                "--endpoint",
                url.as_deref().unwrap(),
            ])
            .env("OPEN_EVENT_APP_ID", id.unwrap())
            .env("OPEN_EVENT_APP_SECRET", secret.unwrap()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    assert_eq!(finished.stdout.lines().count(), 5, "{}", finished.dump());
    // SIGTERM stops the emulator gracefully with a summary.
    std::thread::sleep(Duration::from_millis(300));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &emulate.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let stderr = emulate.stderr.take();
    let status = wait_status(&mut emulate);
    drop(stderr);
    while let Ok(line) = out.recv_timeout(Duration::from_secs(2)) {
        seen.push(line);
    }
    let text = seen.join("\n");
    assert_eq!(status.code(), Some(0), "{text}");
    for needle in [
        "handshake valid KSO-1 signature, ACK mode -> conn#1",
        "ack       200 for",
        "-> 1 pong",
        "closed by the client (code 1000)",
        "summary",
        "handshakes: 1 accepted, 0 rejected",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
}

fn wait_status(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "emulate did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn emulate_rejects_handshakes_when_told_and_a_client_retries() {
    let mut emulate = openevent()
        .args([
            "emulate",
            "--reject-first",
            "2",
            "--reject-status",
            "503",
            "--rate",
            "0",
        ])
        .args([
            "--app-id",
            "AK123",
            "--app-secret",
            "s3cret",
            "--duration",
            "10s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(emulate.stdout.take().unwrap());
    let first = out.recv_timeout(LIMIT).unwrap();
    let url = first
        .strip_prefix("openevent emulate: listening on ")
        .unwrap()
        .trim()
        .to_owned();
    let mut seen = vec![first];
    let listen = openevent()
        .args([
            "listen",
            "--endpoint",
            &url,
            "--app-id",
            "AK123",
            "--app-secret",
            "s3cret",
        ])
        .args([
            "--reconnect-base",
            "20ms",
            "--max-retries",
            "3",
            "--stable-period",
            "0s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Two rejections, then the third attempt gets in; once the emulator is gone the retries run
    // out: exit code 2.
    let deadline = Instant::now() + LIMIT;
    while !seen.iter().any(|l| l.contains("-> conn#1")) {
        seen.push(
            out.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no accepted handshake:\n{}", seen.join("\n"))),
        );
    }
    let text = seen.join("\n");
    assert_eq!(
        text.matches("rejected with HTTP 503 (scripted)").count(),
        2,
        "{text}"
    );
    assert!(
        !text.contains("s3cret"),
        "a given secret is not echoed:\n{text}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &emulate.id().to_string()])
        .status();
    let finished = wait(listen, LIMIT);
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    assert!(
        finished.stderr.contains("gave up after"),
        "{}",
        finished.dump()
    );
    assert!(
        finished.stderr.contains("--max-retries"),
        "{}",
        finished.dump()
    );
    assert!(
        finished.stderr.matches("HTTP 503").count() >= 2,
        "{}",
        finished.dump()
    );
    let _ = wait_status(&mut emulate);
}

#[test]
fn version_lists_the_protocol_and_every_runtime() {
    let finished = run(openevent().arg("version"), LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    assert!(
        finished.stdout.starts_with("openevent 0."),
        "{}",
        finished.dump()
    );
    finished.assert_stdout_has(&["/v7/event/ws", "tokio", "async-std", "smol", "blocking"]);
}

#[test]
fn every_subcommand_documents_examples() {
    for sub in ["listen", "demo", "emulate", "decode"] {
        let finished = run(openevent().args([sub, "--help"]), LIMIT);
        assert_eq!(finished.code(), Some(0), "{}", finished.dump());
        assert!(
            finished.stdout.contains("Examples:"),
            "{sub}: {}",
            finished.dump()
        );
    }
    let finished = run(openevent().arg("--help"), LIMIT);
    assert!(
        finished.stdout.contains("Exit codes"),
        "{}",
        finished.dump()
    );
}
