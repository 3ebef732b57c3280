//! One process test per footgun found by a new user (issue 10): exit codes and messages.

mod common;

use std::time::Duration;

use common::{TestEmulator, closed_port, event, openevent, run, run_with_input};

const LIMIT: Duration = Duration::from_secs(20);

fn chat(id: &str) -> open_event_emulator::server::EventSpec {
    event(
        "kso.app_chat",
        "create",
        &format!(r#"{{"chat_id":"{id}","creator":{{"type":"user","id":"u1"}},"company_id":"c1"}}"#),
    )
}

/// `listen` with made-up credentials against a port nothing listens on, giving up at once.
fn listen_nowhere() -> std::process::Command {
    let mut cmd = openevent();
    cmd.args(["listen", "--app-id", "AK123456", "--app-secret", "s"])
        .arg("--endpoint")
        .arg(format!("ws://127.0.0.1:{}/v7/event/ws", closed_port()))
        .args(["--max-retries", "0"]);
    cmd
}

#[test]
fn an_events_pattern_that_looks_like_a_typo_warns_and_strict_makes_it_an_error() {
    let finished = run(listen_nowhere().args(["--events", "kso.app_chat"]), LIMIT);
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "warning: --events \"kso.app_chat\" matches no event code",
        "did you mean \"kso.app_chat.*\"?",
        "--strict makes this an error",
    ]);
    let finished = run(
        listen_nowhere().args(["--events", "kso.app_chat", "--strict"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "error: --events \"kso.app_chat\"",
        "\"kso.app_chat.*\"",
        "(--strict)",
    ]);
    assert!(
        !finished.stderr.contains("connecting to"),
        "{}",
        finished.dump()
    );
    // A real pattern, or a code openevent has no model for, is no typo.
    let finished = run(
        listen_nowhere().args([
            "--events",
            "kso.app_chat.*,kso.calendar.event.create",
            "--strict",
        ]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    assert!(
        !finished.stderr.contains("warning: --events"),
        "{}",
        finished.dump()
    );
}

#[test]
fn listen_takes_the_endpoint_from_open_event_endpoint() {
    let emu = TestEmulator::start();
    emu.push(chat("c1"));
    let creds = emu.credentials();
    let finished = run(
        openevent()
            .args(["listen", "--json", "--max-events", "1"])
            .env("OPEN_EVENT_ENDPOINT", emu.url())
            .env("OPEN_EVENT_APP_ID", creds.app_id())
            .env("OPEN_EVENT_APP_SECRET", creds.app_secret().expose()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    finished.assert_stderr_has(&[&format!("connected to {}", emu.url())]);
    finished.assert_stdout_has(&["\"chat_id\":\"c1\""]);
    let finished = run(
        openevent()
            .args(["listen", "--app-id", "A", "--app-secret", "s"])
            .env("OPEN_EVENT_ENDPOINT", "http://example.com/v7/event/ws"),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["invalid OPEN_EVENT_ENDPOINT", "ws://"]);
}

#[test]
fn zero_intervals_are_rejected_with_the_range() {
    let finished = run(openevent().args(["listen", "--exec-timeout", "0s"]), LIMIT);
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["--exec-timeout", "0s is out of range; expected 1ms ..= 1h"]);
    let finished = run(
        openevent().args(["emulate", "--ping-interval", "0s"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "--ping-interval",
        "0s is out of range; expected 10ms ..= 1h",
    ]);
}

#[test]
fn negative_values_reach_the_range_check() {
    for (args, needle) in [
        (
            &["listen", "--exec-timeout", "-5s"][..],
            "`-5s` is negative",
        ),
        (
            &["listen", "--pong-timeout", "-1m"][..],
            "`-1m` is negative",
        ),
        (
            &["listen", "--max-retries", "-5"][..],
            "-5 is negative; expected a whole number, 0 or more",
        ),
        (
            &["listen", "--max-events", "-1"][..],
            "-1 is negative; expected a whole number, 1 or more",
        ),
        (&["emulate", "--rate", "-1"][..], "-1 is negative"),
        (
            &["emulate", "--silence-after", "-3", "--silence-for", "1s"][..],
            "-3 is negative",
        ),
        (
            &[
                "listen",
                "--app-id",
                "A",
                "--app-secret",
                "s",
                "--reconnect-jitter",
                "-0.5",
            ][..],
            "invalid --reconnect-jitter: -0.5 is out of range; expected 0.0 ..= 1.0",
        ),
    ] {
        let finished = run(openevent().args(args), LIMIT);
        assert_eq!(finished.code(), Some(3), "{args:?}: {}", finished.dump());
        finished.assert_stderr_has(&[needle]);
        assert!(
            !finished.stderr.contains("unexpected argument"),
            "{args:?}: {}",
            finished.dump()
        );
    }
}

#[test]
fn ranges_print_in_the_units_flags_take() {
    for (flag, value, needle) in [
        (
            "--drain-timeout",
            "20m",
            "invalid --drain-timeout: 20m is out of range; expected 0s ..= 10m",
        ),
        (
            "--dedup-window",
            "99999h",
            "invalid --dedup-window: 99999h is out of range; expected 1ms ..= 24h",
        ),
        (
            "--connect-timeout",
            "0",
            "invalid --connect-timeout: 0s is out of range; expected 1ms ..= 10m",
        ),
    ] {
        let finished = run(
            openevent().args(["listen", "--app-id", "A", "--app-secret", "s", flag, value]),
            LIMIT,
        );
        assert_eq!(finished.code(), Some(3), "{}", finished.dump());
        finished.assert_stderr_has(&[needle]);
        for debug in ["0ns", "359996400s", "600s", "86400s"] {
            assert!(
                !finished.stderr.contains(debug),
                "{debug}: {}",
                finished.dump()
            );
        }
    }
}

#[test]
fn reconnect_max_below_reconnect_base_names_reconnect_base() {
    let finished = run(
        openevent().args([
            "listen",
            "--app-id",
            "A",
            "--app-secret",
            "s",
            "--reconnect-max",
            "1ms",
        ]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "invalid --reconnect-max: 1ms is out of range; expected 1s ..= 24h",
        "the lower bound is --reconnect-base",
    ]);
}

#[test]
fn an_invalid_endpoint_is_reported_before_connecting() {
    let finished = run(
        openevent().args([
            "listen",
            "--app-id",
            "A",
            "--app-secret",
            "s",
            "--endpoint",
            "ftp://example.com",
        ]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["invalid --endpoint: scheme `ftp` is not a WebSocket scheme"]);
    assert!(
        !finished.stderr.contains("connecting to"),
        "{}",
        finished.dump()
    );
}

#[test]
fn a_404_gives_one_hint_with_the_path_and_counts_attempts_right() {
    let emu = TestEmulator::start();
    let wrong = emu.url().replace("/v7/event/ws", "/events");
    let creds = emu.credentials();
    let listen = |retries: &str| {
        run(
            openevent()
                .args(["listen", "--endpoint", &wrong, "--app-id", creds.app_id()])
                .args(["--app-secret", creds.app_secret().expose()])
                .args(["--max-retries", retries, "--reconnect-base", "10ms"]),
            LIMIT,
        )
    };
    let finished = listen("1");
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    assert_eq!(
        finished.stderr.matches("its path is /v7/event/ws").count(),
        1,
        "one hint, naming the path: {}",
        finished.dump()
    );
    finished.assert_stderr_has(&[
        "HTTP 404",
        "its path is /v7/event/ws",
        "gave up after 2 consecutive failed attempts",
        "never connected (2 attempts)",
    ]);
    assert!(
        !finished.stderr.contains("reconnects"),
        "{}",
        finished.dump()
    );
    let finished = listen("0");
    assert_eq!(finished.code(), Some(2), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "gave up after 1 consecutive failed attempt (last",
        "never connected (1 attempt)",
    ]);
}

#[test]
fn one_event_is_counted_in_the_singular() {
    let emu = TestEmulator::start();
    emu.push(chat("c1"));
    let finished = run(
        openevent()
            .args(["listen", "--json", "--max-events", "1"])
            .args(emu.client_args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "handled 1 event (--max-events): stopping",
        "1 event received: 1 handled; acked 1 x 200, 0 x 500",
    ]);
}

/// The numbers in "N events received: a handled, b refused ..., c ...;".
fn received_and_parts(stderr: &str) -> (u64, Vec<u64>) {
    let line = stderr
        .lines()
        .find(|l| l.contains(" received: "))
        .unwrap_or_else(|| panic!("no summary:\n{stderr}"));
    let (head, rest) = line.split_once(" received: ").unwrap();
    let received = head.rsplit(' ').nth(1).unwrap().parse().unwrap();
    let parts = rest
        .split(';')
        .next()
        .unwrap()
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse().unwrap())
        .collect();
    (received, parts)
}

#[test]
fn the_max_events_summary_accounts_for_every_event() {
    let emu = TestEmulator::start();
    for i in 0..6 {
        emu.push(chat(&format!("c{i}")));
    }
    let finished = run(
        openevent()
            .args([
                "listen",
                "--max-events",
                "1",
                "--exec",
                "sleep 0.3",
                "--quiet",
            ])
            .args(emu.client_args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    let (received, parts) = received_and_parts(&finished.stderr);
    assert!(received >= 1, "{}", finished.dump());
    assert_eq!(parts.iter().sum::<u64>(), received, "{}", finished.dump());
    assert_eq!(parts[0], 1, "exactly one handled: {}", finished.dump());
    if received > 1 {
        finished.assert_stderr_has(&["refused after --max-events"]);
    }
}

#[test]
fn exec_with_quiet_prints_only_the_commands_output() {
    let emu = TestEmulator::start();
    let nonce = emu.push(chat("c1"));
    let finished = run(
        openevent()
            .args(["listen", "--max-events", "1", "--quiet"])
            .args(["--exec", "echo handled $OPEN_EVENT_NONCE"])
            .args(emu.client_args()),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    assert_eq!(
        finished.stdout,
        format!("handled {nonce}\n"),
        "{}",
        finished.dump()
    );
    finished.assert_stderr_has(&["-> ack 200"]);
}

#[test]
fn decode_of_empty_input_exits_3_and_says_to_check_the_input() {
    let finished = run_with_input(
        openevent().args(["decode", "--app-id", "A", "--app-secret", "s"]),
        Some("  \n"),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[
        "no frame given: stdin was empty",
        "check the input",
        "--sample",
    ]);
    assert!(!finished.stderr.contains("endpoint"), "{}", finished.dump());
    let empty = common::temp_path("empty.json");
    std::fs::write(&empty, "").unwrap();
    let finished = run(
        openevent()
            .args(["decode", "--app-id", "A", "--app-secret", "s", "--file"])
            .arg(&empty),
        LIMIT,
    );
    let _ = std::fs::remove_file(&empty);
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["empty.json is empty", "check the input"]);
    let finished = run_with_input(
        openevent().args(["decode", "--app-id", "A", "--app-secret", "s"]),
        Some("hello"),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(1), "{}", finished.dump());
    finished.assert_stderr_has(&["not valid JSON", "check the input"]);
    assert!(!finished.stderr.contains("endpoint"), "{}", finished.dump());
}

#[test]
fn decode_sample_prints_a_frame_that_its_credentials_open() {
    let sample = run(openevent().args(["decode", "--sample"]), LIMIT);
    assert_eq!(sample.code(), Some(0), "{}", sample.dump());
    let command = sample
        .stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("openevent decode --sample | openevent decode ")
        })
        .unwrap_or_else(|| panic!("no command to try: {}", sample.dump()));
    let args: Vec<&str> = command.split_whitespace().collect();
    let finished = run_with_input(
        openevent().arg("decode").args(&args),
        Some(&sample.stdout),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    finished.assert_stdout_has(&[
        "kso.app_chat.message.create",
        "user u_alice sent \"hello, bot\"",
    ]);
}

#[test]
fn emulate_listens_on_a_host_name() {
    let finished = run(
        openevent().args([
            "emulate",
            "--listen",
            "localhost:0",
            "--duration",
            "200ms",
            "--rate",
            "0",
        ]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    finished.assert_stdout_has(&["listening on ws://127.0.0.1:"]);
    let finished = run(
        openevent().args(["emulate", "--listen", "localhost"]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&["HOST:PORT", "localhost:7000"]);
}

#[test]
fn completions_and_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let finished = run(openevent().args(["completions", shell]), LIMIT);
        assert_eq!(finished.code(), Some(0), "{shell}: {}", finished.dump());
        finished.assert_stdout_has(&["openevent", "listen", "emulate"]);
    }
    let finished = run(openevent().args(["completions", "bash"]), LIMIT);
    finished.assert_stdout_has(&["--exec-timeout", "--strict", "--quiet"]);
    let finished = run(openevent().args(["completions", "tcsh"]), LIMIT);
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    let finished = run(openevent().arg("man"), LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    finished.assert_stdout_has(&[
        ".TH openevent",
        ".TH openevent-listen",
        "\\-\\-exec\\-timeout",
    ]);
}

#[test]
fn decode_on_a_terminal_says_it_waits_for_the_frame() {
    // `script` (util-linux) runs decode on a pseudo-terminal; the empty stdin ends it with EOF.
    let command = format!(
        "{} decode --app-id A --app-secret s",
        env!("CARGO_BIN_EXE_openevent")
    );
    let finished = run_with_input(
        std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("NO_COLOR", "1"),
        Some(""),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stdout_has(&[
        "reading one event frame from stdin: paste it, then press Ctrl+D",
        "no frame given",
    ]);
    // Piped input gets no such line.
    let finished = run_with_input(
        openevent().args(["decode", "--app-id", "A", "--app-secret", "s"]),
        Some(""),
        LIMIT,
    );
    assert!(
        !finished.stderr.contains("reading one event frame"),
        "{}",
        finished.dump()
    );
}
