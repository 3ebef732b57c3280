//! Where `listen` takes its settings from (issue 10, configuration for deployments): the
//! `--config` TOML file, then the `OPEN_EVENT_*` variables (read with the SDK's code), then the
//! flags, each winning over the one before.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{TestEmulator, closed_port, event, openevent, run, temp_path};

const LIMIT: Duration = Duration::from_secs(20);

/// `listen` with made-up credentials and the endpoint, from variables, of a port nothing
/// listens on.
fn listen_nowhere() -> (Command, String) {
    let url = format!("ws://127.0.0.1:{}/v7/event/ws", closed_port());
    let mut cmd = openevent();
    cmd.args(["listen", "--app-id", "AK123456", "--app-secret", "s"])
        .env("OPEN_EVENT_ENDPOINT", &url)
        .env("OPEN_EVENT_RECONNECT_BASE", "1ms");
    (cmd, url)
}

#[test]
fn variables_set_the_client_and_a_flag_wins_over_its_variable() {
    // OPEN_EVENT_MAX_RETRIES=0 gives up after the first failure: without it the client would
    // retry until the deadline.
    let (mut cmd, url) = listen_nowhere();
    let finished = run(
        cmd.env("OPEN_EVENT_MAX_RETRIES", "0")
            .env("OPEN_EVENT_PONG_TIMOUT", "5s"),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    finished.assert_stderr_has(&[
        &format!("connecting to {url}"),
        "1 attempt",
        "warning: OPEN_EVENT_PONG_TIMOUT is not a setting and is ignored; did you mean \
         OPEN_EVENT_PONG_TIMEOUT?",
    ]);

    // A flag wins: --max-retries 1 makes two attempts.
    let (mut cmd, _) = listen_nowhere();
    let finished = run(
        cmd.env("OPEN_EVENT_MAX_RETRIES", "0")
            .args(["--max-retries", "1"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    finished.assert_stderr_has(&["2 attempts"]);
}

#[test]
fn a_bad_variable_names_itself_its_value_and_the_form_unless_a_flag_overrides_it() {
    let (mut cmd, _) = listen_nowhere();
    let finished = run(
        cmd.env("OPEN_EVENT_MAX_RETRIES", "0")
            .env("OPEN_EVENT_PONG_TIMEOUT", "soon"),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "invalid OPEN_EVENT_PONG_TIMEOUT: `soon` is not a duration; expected a number with a \
         unit, e.g. 500ms, 10s, 2m or 1h",
    ]);
    assert!(
        !finished.stderr.contains("connecting to"),
        "{}",
        finished.dump()
    );

    let (mut cmd, _) = listen_nowhere();
    let finished = run(
        cmd.env("OPEN_EVENT_MAX_RETRIES", "0")
            .env("OPEN_EVENT_PONG_TIMEOUT", "soon")
            .args(["--pong-timeout", "5s"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());

    let (mut cmd, _) = listen_nowhere();
    let finished = run(cmd.env("OPEN_EVENT_MAX_IN_FLIGHT", "0"), LIMIT);
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "invalid OPEN_EVENT_MAX_IN_FLIGHT: 0 is out of range; expected 1 ..= 65536",
    ]);
}

/// A config file with `body` after the credentials and the endpoint of a closed port.
fn config_file(body: &str) -> (std::path::PathBuf, String) {
    let url = format!("ws://127.0.0.1:{}/v7/event/ws", closed_port());
    let path = temp_path("openevent.toml");
    let text = format!(
        "app_id = \"AK-file\"\napp_secret = \"file-secret\"\nendpoint = \"{url}\"\nreconnect_base = \"1ms\"\n{body}"
    );
    std::fs::write(&path, text).unwrap();
    (path, url)
}

fn listen_with(path: &std::path::Path) -> Command {
    let mut cmd = openevent();
    cmd.arg("listen").arg("--config").arg(path);
    cmd
}

#[test]
fn the_file_then_the_variables_then_the_flags() {
    // The file alone: its credentials, endpoint and max_retries = 0 (one attempt).
    let (path, url) = config_file("max_retries = 0\n");
    let finished = run(&mut listen_with(&path), LIMIT);
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    finished.assert_stderr_has(&[&format!("connecting to {url} as AK-file"), "(1 attempt)"]);

    // A variable wins over the file's key.
    let (path, _) = config_file("max_retries = 3\n");
    let finished = run(listen_with(&path).env("OPEN_EVENT_MAX_RETRIES", "0"), LIMIT);
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    finished.assert_stderr_has(&["(1 attempt)"]);
    let finished = run(listen_with(&path).env("OPEN_EVENT_APP_ID", "AK-env"), LIMIT).stderr;
    assert!(finished.contains("as AK-env"), "{finished}");

    // A flag wins over both.
    let finished = run(
        listen_with(&path).env("OPEN_EVENT_MAX_RETRIES", "0").args([
            "--max-retries",
            "1",
            "--app-id",
            "AK-flag",
        ]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    finished.assert_stderr_has(&["as AK-flag", "(2 attempts)"]);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn an_unknown_key_or_a_wrong_type_is_named_with_its_line_before_connecting() {
    let (path, _) = config_file("max_retries = 0\npong_timout = \"5s\"\n");
    let finished = run(&mut listen_with(&path), LIMIT);
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[&format!(
        "unknown key `pong_timout` (line 6 of {}); expected a setting: did you mean \
         `pong_timeout`?",
        path.display()
    )]);
    assert!(
        !finished.stderr.contains("connecting to"),
        "{}",
        finished.dump()
    );

    let (path, _) = config_file("max_retries = \"three\"\n");
    let finished = run(&mut listen_with(&path), LIMIT);
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "invalid `max_retries` (line 5 of",
        "`three` is a string",
        "expected a whole number, or \"unlimited\"",
    ]);

    let finished = run(
        openevent().args(["listen", "--config", "/nonexistent/openevent.toml"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["cannot read config file /nonexistent/openevent.toml"]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn header_and_query_flags_reach_the_server_and_the_signature_covers_the_query() {
    let emu = TestEmulator::start();
    emu.push(event("kso.app_chat", "create", r#"{"chat_id":"c1"}"#));
    let finished = run(
        openevent()
            .args(["listen", "--json", "--max-events", "1"])
            .args(emu.client_args())
            .args(["--header", "X-Tenant: t1", "--query", "region=cn"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let report = emu.report();
    let handshake = &report.handshakes[0];
    assert!(handshake.is_accepted(), "{:?}", handshake.result);
    assert_eq!(handshake.path_and_query, "/v7/event/ws?region=cn");
    assert!(
        handshake
            .headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("x-tenant") && v == "t1"),
        "{:?}",
        handshake.headers
    );
    finished.assert_stderr_has(&[&format!("connecting to {}?region=cn", emu.url())]);
}

#[test]
fn a_header_the_signed_handshake_owns_is_refused_before_connecting() {
    let (mut cmd, _) = listen_nowhere();
    let finished = run(cmd.args(["--header", "X-Kso-Date: yesterday"]), LIMIT);
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "invalid --header: `X-Kso-Date` is set by the signed handshake and cannot be overridden",
    ]);
    assert!(
        !finished.stderr.contains("connected"),
        "{}",
        finished.dump()
    );

    let (mut cmd, _) = listen_nowhere();
    let finished = run(cmd.args(["--header", "no-colon"]), LIMIT);
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["`no-colon` is not NAME:VALUE"]);

    let (path, _) = config_file("[headers]\nHost = \"evil.example\"\n");
    let finished = run(&mut listen_with(&path), LIMIT);
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["`Host` is set by the signed handshake"]);
    std::fs::remove_file(&path).unwrap();
}
