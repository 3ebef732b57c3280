//! Where `listen` takes its settings from (issue 10, configuration for deployments): the
//! `OPEN_EVENT_*` variables, read with the SDK's code, and the flags, which win.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{closed_port, openevent, run};

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
    let finished = run(cmd.env("OPEN_EVENT_MAX_RETRIES", "0"), LIMIT);
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    finished.assert_stderr_has(&[&format!("connecting to {url}"), "1 attempt"]);

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
