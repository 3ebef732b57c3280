//! `openevent webhook`, `openevent emulate --webhook` and `openevent demo --webhook` as
//! processes on loopback.

mod common;

use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{closed_port, lines, openevent, run, wait};
use open_event_core::Credentials;
use open_event_emulator::server::EventSpec;
use open_event_emulator::webhook::{PushOptions, WebhookPusher};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);
const APP_ID: &str = "AK20240101TEST";
const SECRET: &str = "sk_test_secret_0123456789abcdef";

/// Starts `openevent webhook` with `extra` arguments on a free port; returns the child, its
/// URL, and the rest of its stderr.
fn start_webhook(extra: &[&str]) -> (Child, String, Receiver<String>) {
    let mut child = openevent()
        .args(["webhook", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("OPEN_EVENT_APP_ID", APP_ID)
        .env("OPEN_EVENT_APP_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + LIMIT;
    let url = loop {
        let line = stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the webhook announces its address");
        if let Some(rest) = line.split("webhook listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    (child, url, stderr)
}

#[test]
fn webhook_prints_each_event_as_ndjson_and_stops_after_max_events() {
    let (child, url, _stderr) = start_webhook(&["--json", "--max-events", "2"]);
    assert!(url.ends_with("/events"), "{url}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let nonces = runtime.block_on(async {
        let mut pusher = WebhookPusher::new(
            &url,
            Credentials::new(APP_ID, SECRET),
            PushOptions::default(),
        )
        .unwrap();
        pusher.challenge().await.unwrap();
        let mut nonces = Vec::new();
        for text in ["one", "two"] {
            let report = pusher.push(EventSpec::chat_message(text)).await.unwrap();
            assert!(report.is_delivered(), "{report:?}");
            nonces.push(report.nonce);
        }
        nonces
    });
    let finished = wait(child, LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let events: Vec<Value> = finished
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{}", finished.dump());
    for (event, nonce) in events.iter().zip(&nonces) {
        assert_eq!(event["nonce"], nonce.as_str());
        assert_eq!(event["event_code"], "kso.app_chat.message.create");
    }
}

#[test]
fn emulate_webhook_posts_events_to_the_webhook_command() {
    let (child, url, stderr) = start_webhook(&["--max-events", "3"]);
    let pushed = run(
        openevent().args([
            "emulate",
            "--webhook",
            &url,
            "--app-id",
            APP_ID,
            "--app-secret",
            SECRET,
            "--rate",
            "20",
            "--duration",
            "3s",
        ]),
        LIMIT,
    );
    let served = wait(child, LIMIT);
    assert_eq!(served.code(), Some(0), "{}", served.dump());
    let status: String = stderr.iter().collect::<Vec<_>>().join("\n");
    for needle in ["3 events received", "3 handled", "1 challenge echoed"] {
        assert!(status.contains(needle), "{needle:?} not in:\n{status}");
    }
    pushed.assert_stdout_has(&["challenge", "echoed in", "-> 200"]);
}

#[test]
fn webhook_quiet_exec_prints_only_the_commands_output_and_accounts_for_the_event() {
    let (child, url, stderr) = start_webhook(&[
        "--quiet",
        "--exec",
        "echo handled $OPEN_EVENT_NONCE",
        "--max-events",
        "1",
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let nonce = runtime.block_on(async {
        let mut pusher = WebhookPusher::new(
            &url,
            Credentials::new(APP_ID, SECRET),
            PushOptions::default(),
        )
        .unwrap();
        pusher.challenge().await.unwrap();
        let report = pusher.push(EventSpec::chat_message("one")).await.unwrap();
        assert!(report.is_delivered(), "{report:?}");
        report.nonce
    });
    let finished = wait(child, LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    assert_eq!(
        finished.stdout,
        format!("handled {nonce}\n"),
        "{}",
        finished.dump()
    );
    let status: String = stderr.iter().collect::<Vec<_>>().join("\n");
    for needle in [
        "-> ack 200",
        "handled 1 event (--max-events): stopping",
        "1 event received: 1 handled; answered 1 x 200, 0 x 500",
        "1 challenge echoed",
    ] {
        assert!(status.contains(needle), "{needle:?} not in:\n{status}");
    }
}

#[test]
fn webhook_strict_refuses_an_events_typo_before_listening() {
    let finished = run(
        openevent()
            .args(["webhook", "--listen", "127.0.0.1:0"])
            .args(["--events", "kso.app_chat", "--strict"])
            .env("OPEN_EVENT_APP_ID", APP_ID)
            .env("OPEN_EVENT_APP_SECRET", SECRET),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "error: --events \"kso.app_chat\"",
        "\"kso.app_chat.*\"",
        "(--strict)",
    ]);
    assert!(
        !finished.stderr.contains("webhook listening"),
        "{}",
        finished.dump()
    );
}

#[test]
fn emulate_webhook_fails_loudly_when_nobody_answers_the_challenge() {
    let url = format!("http://127.0.0.1:{}/events", closed_port());
    let finished = run(openevent().args(["emulate", "--webhook", &url]), LIMIT);
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    finished.assert_stderr_has(&["challenge"]);
}

#[test]
fn webhook_refuses_a_used_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let finished = run(
        openevent()
            .args(["webhook", "--listen", &addr])
            .env("OPEN_EVENT_APP_ID", APP_ID)
            .env("OPEN_EVENT_APP_SECRET", SECRET),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["cannot listen on", "--listen"]);
}

#[test]
fn demo_webhook_shows_the_mode_end_to_end() {
    let finished = run(openevent().args(["demo", "--webhook"]), LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    finished.assert_stdout_has(&[
        "challenge echoed",
        "answered from memory",
        "forged -> 401",
        "(retry 1) -> 200",
        "stopped gracefully",
    ]);
}
