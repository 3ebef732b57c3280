//! Ctrl+C on tokio: SIGINT to the `tokio_minimal` example against the loopback emulator ends it with the
//! close handshake (the emulator sees the client's close frame with code 1000) and exit code 0.
//! The examples are built with this crate's tests (`cargo test -p open-event-tokio`).
#![cfg(unix)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use open_event_emulator::server::{ConnectionEnd, EventSpec, ServerConfig};
use open_event_emulator::{Emulator, EmulatorOptions};

const WAIT: Duration = Duration::from_secs(20);

/// The example binary `name`, built beside this test (`target/<profile>/examples/`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test -p open-event-tokio` (it builds the examples)",
        path.display()
    );
    path
}

/// Runs `name` against a fresh emulator, lets it handle one event, sends SIGINT and checks the
/// graceful end.
fn ctrl_c_stops(name: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the emulator's runtime starts");
    rt.block_on(async {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64);
        let emu = Emulator::start(EmulatorOptions::new(ServerConfig::generated(seed)))
            .await
            .expect("the emulator starts");
        let credentials = emu.credentials();
        let mut child = Command::new(example(name))
            .env("OPEN_EVENT_ENDPOINT", emu.url())
            .env("OPEN_EVENT_APP_ID", credentials.app_id())
            .env("OPEN_EVENT_APP_SECRET", credentials.app_secret().expose())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example starts");
        emu.wait_for_connections(1, WAIT)
            .await
            .expect("it connects");
        emu.push_event(EventSpec::new(
            "kso.app_chat",
            "create",
            r#"{"chat_id":"c1"}"#,
        ))
        .expect("an event is queued");
        emu.wait_for_acks(1, WAIT)
            .await
            .expect("it handles the event");

        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("the example can be waited for") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{name} still runs {WAIT:?} after SIGINT"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let stderr = child
            .wait_with_output()
            .map(|out| String::from_utf8_lossy(&out.stderr).into_owned())
            .unwrap_or_default();
        assert_eq!(
            status.code(),
            Some(0),
            "{name} exited with {status}; stderr:\n{stderr}"
        );
        emu.wait_for(
            |report| {
                report.connections.iter().any(|c| {
                    matches!(
                        &c.end,
                        Some(ConnectionEnd::ClosedByClient {
                            code: Some(1000),
                            ..
                        })
                    )
                })
            },
            WAIT,
        )
        .await
        .unwrap_or_else(|err| panic!("{name}: no clean close from the client: {err}\n{stderr}"));
    });
}

#[test]
fn ctrl_c_stops_tokio_minimal_with_the_close_handshake() {
    ctrl_c_stops("tokio_minimal");
}
