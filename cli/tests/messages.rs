//! `openevent send` and `openevent reply` against the emulated REST API, and `listen --exec
//! 'openevent reply …'` answering a chat message end to end.

mod common;

use std::time::Duration;

use common::{TestEmulator, closed_port, openevent, run, run_with_input, temp_path};
use open_event_core::Credentials;
use open_event_emulator::api::{
    ApiEmulator, ApiEmulatorHandle, ApiEmulatorOptions, ApiReport, ApiServerConfig, Fault,
    MessageCall,
};
use open_event_emulator::server::EventSpec;

const LIMIT: Duration = Duration::from_secs(20);

/// The emulated API on its own runtime.
struct TestApi {
    handle: ApiEmulatorHandle,
    _runtime: tokio::runtime::Runtime,
}

impl TestApi {
    fn start(credentials: &Credentials) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime
            .block_on(ApiEmulator::start(ApiEmulatorOptions::new(
                ApiServerConfig::new(credentials.clone()),
            )))
            .unwrap();
        Self {
            handle,
            _runtime: runtime,
        }
    }

    fn app() -> Self {
        Self::start(&Credentials::new("AKCLIAPI", "cli-api-secret-value"))
    }

    /// `--api-base URL --app-id ID --app-secret SECRET`.
    fn args(&self) -> Vec<String> {
        let credentials = self.handle.credentials();
        vec![
            "--api-base".into(),
            self.handle.base_url(),
            "--app-id".into(),
            credentials.app_id().into(),
            "--app-secret".into(),
            credentials.app_secret().expose().into(),
        ]
    }

    fn report(&self) -> ApiReport {
        self.handle.report()
    }
}

const EVENT: &str = r#"{"time":"2024-01-01T00:00:00Z","event_code":"kso.app_chat.message.create","topic":"kso.app_chat.message","operation":"create","nonce":"n1","data":{"company_id":"c","chat":{"id":"chat_9","type":"p2p"},"sender":{"type":"user","id":"u"},"send_time":1,"message":{"id":"m_9","type":"text","content":{"text":"ping"}}}}"#;

#[test]
fn send_to_a_chat_and_to_a_user() {
    let api = TestApi::app();
    let finished = run(
        openevent()
            .args(["send", "--chat", "chat_1", "--text", "build finished"])
            .args(api.args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    assert_eq!(finished.stdout.trim(), "emu-msg-1");
    let finished = run(
        openevent()
            .args(["send", "--user", "u_42", "--text", "hello"])
            .args(api.args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let report = api.report();
    assert_eq!(report.texts(), ["build finished", "hello"]);
    assert_eq!(
        report.messages[0].receiver.as_ref().unwrap()["type"],
        "chat"
    );
    assert_eq!(
        report.messages[1].receiver.as_ref().unwrap()["receiver_id"],
        "u_42"
    );
}

#[test]
fn reply_reads_the_event_from_stdin_or_a_file() {
    let api = TestApi::app();
    let finished = run_with_input(
        openevent()
            .args(["reply", "--text", "pong"])
            .args(api.args()),
        Some(EVENT),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let file = temp_path("event.json");
    std::fs::write(&file, EVENT).unwrap();
    let finished = run(
        openevent()
            .args(["reply", "--text", "again", "--event-file"])
            .arg(&file)
            .args(api.args()),
        LIMIT,
    );
    let _ = std::fs::remove_file(&file);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let report = api.report();
    assert_eq!(report.texts(), ["pong", "again"]);
    assert_eq!(
        report.messages[0].call,
        MessageCall::Reply {
            chat_id: "chat_9".into(),
            message_id: "m_9".into()
        }
    );
}

#[test]
fn failures_have_their_exit_codes_and_no_secret() {
    let api = TestApi::app();
    let secret = "cli-api-secret-value";

    // Wrong secret: 1, naming where credentials come from.
    let finished = run(
        openevent()
            .args(["send", "--chat", "c", "--text", "x", "--api-base"])
            .arg(api.handle.base_url())
            .args(["--app-id", "AKCLIAPI", "--app-secret", "wrong-secret"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(1), "{}", finished.dump());
    finished.assert_stderr_has(&["invalid client_secret", "OPEN_EVENT_APP_SECRET"]);
    assert!(
        !finished.stderr.contains("wrong-secret"),
        "{}",
        finished.dump()
    );

    // A platform error: 3, with its code and message.
    api.handle
        .fail_next(Fault::error(403, 403001, "the app has no permission"), 1);
    let finished = run(
        openevent()
            .args(["send", "--chat", "c", "--text", "x"])
            .args(api.args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["code 403001: the app has no permission", "grant the app"]);

    // Too long: 3, and nothing reaches the API.
    let before = api.report().requests;
    let finished = run(
        openevent()
            .args(["send", "--chat", "c", "--text"])
            .arg("x".repeat(5001))
            .args(api.args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["5001 characters", "split it"]);
    assert_eq!(api.report().requests, before);

    // Not a message event: 3.
    let finished = run_with_input(
        openevent().args(["reply", "--text", "x"]).args(api.args()),
        Some(r#"{"event_code":"kso.app_chat.create","data":{"chat_id":"c"}}"#),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["only chat messages"]);

    // No receiver: a usage error, 3.
    let finished = run(
        openevent().args(["send", "--text", "x"]).args(api.args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());

    // The emulator's refusal texts never echo the secret either.
    assert!(
        api.report()
            .refusals
            .iter()
            .all(|r| !r.msg.contains(secret))
    );
}

#[test]
fn an_unreachable_api_exits_with_2() {
    let finished = run(
        openevent()
            .args(["send", "--chat", "c", "--text", "x", "--timeout", "2s"])
            .args(["--api-base", &format!("http://127.0.0.1:{}", closed_port())])
            .args(["--app-id", "AK1", "--app-secret", "s3cret-value"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    finished.assert_stderr_has(&["gave up after 4 attempts", "check the network"]);
    assert!(!finished.stderr.contains("s3cret-value"));
}

#[test]
fn listen_exec_reply_answers_each_chat_message() {
    let events = TestEmulator::start();
    let api = TestApi::start(events.credentials());
    let command = format!(
        "{} reply --api-base {} --text pong",
        env!("CARGO_BIN_EXE_openevent"),
        api.handle.base_url()
    );
    let mut cmd = openevent();
    cmd.args(["listen", "--max-events", "1", "--endpoint", &events.url()])
        .args([
            "--events",
            "kso.app_chat.message.create",
            "--exec",
            &command,
        ])
        .env("OPEN_EVENT_APP_ID", events.credentials().app_id())
        .env(
            "OPEN_EVENT_APP_SECRET",
            events.credentials().app_secret().expose(),
        );
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    events.wait_for(|r| !r.connections.is_empty(), LIMIT);
    events.push(EventSpec::chat_message("ping"));
    let finished = common::wait(child, LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let report = api.report();
    assert_eq!(report.texts(), ["pong"], "{}", finished.dump());
    assert_eq!(
        report.messages[0].call,
        MessageCall::Reply {
            chat_id: "emu-chat".into(),
            message_id: "emu-msg".into()
        }
    );
    // The reply's message id went to listen's stdout, the event was acked 200.
    finished.assert_stdout_has(&["emu-msg-1"]);
    assert_eq!(events.report().acked_nonces().len(), 1);
}

#[test]
fn emulate_serves_the_api_for_send_and_tells_what_it_accepted() {
    let mut emulate = openevent()
        .args(["emulate", "--rate", "0", "--duration", "15s"])
        .args(["--api-listen", "127.0.0.1:0"])
        .args(["--app-id", "AKEMUAPI", "--app-secret", "emu-api-secret"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = common::lines(emulate.stdout.take().unwrap());
    let deadline = std::time::Instant::now() + LIMIT;
    let mut seen = Vec::new();
    let base = loop {
        let line = out
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("emulate prints the API's URL");
        seen.push(line.clone());
        if let Some(rest) = line.trim().strip_prefix("REST API:") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let finished = run(
        openevent()
            .args([
                "send",
                "--chat",
                "chat_1",
                "--text",
                "hi",
                "--api-base",
                &base,
            ])
            .args(["--app-id", "AKEMUAPI", "--app-secret", "emu-api-secret"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let told = loop {
        let line = out
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| panic!("emulate did not tell the message:\n{}", seen.join("\n")));
        seen.push(line.clone());
        if line.contains("accepted as emu-msg-1") {
            break line;
        }
    };
    assert!(told.contains(r#": "hi""#), "{told}");
    assert!(
        seen.iter().any(|l| l.contains("access token #1 issued")),
        "{}",
        seen.join("\n")
    );
    let _ = emulate.kill();
    let _ = emulate.wait();
}
