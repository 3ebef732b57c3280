//! Helpers: run the `openevent` binary as a process with a deadline, and host an emulator in
//! the test.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use open_event_core::Credentials;
use open_event_emulator::runner::{Emulator, EmulatorHandle, EmulatorOptions};
use open_event_emulator::server::{EventSpec, Report, ServerConfig};

/// The binary, with no credentials from the environment and no colour.
pub fn openevent() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_openevent"));
    for var in [
        "OPEN_EVENT_APP_ID",
        "OPEN_EVENT_APP_SECRET",
        "APP_ID",
        "APP_SECRET",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1").stdin(Stdio::null());
    cmd
}

/// What a finished process printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Both streams, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }

    /// Asserts that stdout holds every needle (the message shows both streams).
    pub fn assert_stdout_has(&self, needles: &[&str]) {
        for needle in needles {
            assert!(self.stdout.contains(needle), "{needle}: {}", self.dump());
        }
    }

    /// Asserts that stderr holds every needle (the message shows both streams).
    pub fn assert_stderr_has(&self, needles: &[&str]) {
        for needle in needles {
            assert!(self.stderr.contains(needle), "{needle}: {}", self.dump());
        }
    }
}

/// Runs `cmd` to the end (stdin as given, stdout and stderr captured); kills it and panics
/// after `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Finished {
    run_with_input(cmd, None, limit)
}

/// Like [`run`], writing `input` to its stdin first.
pub fn run_with_input(cmd: &mut Command, input: Option<&str>, limit: Duration) -> Finished {
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start openevent");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
    }
    wait(child, limit)
}

/// Waits for a spawned child whose stdout and stderr are piped (and not taken).
pub fn wait(mut child: Child, limit: Duration) -> Finished {
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().unwrap();
            let finished = Finished {
                status,
                stdout: out.map(|h| h.join().unwrap()).unwrap_or_default(),
                stderr: err.map(|h| h.join().unwrap()).unwrap_or_default(),
            };
            panic!("openevent ran past {limit:?}:\n{}", finished.dump());
        }
        thread::sleep(Duration::from_millis(10));
    };
    Finished {
        status,
        stdout: out.map(|h| h.join().unwrap()).unwrap_or_default(),
        stderr: err.map(|h| h.join().unwrap()).unwrap_or_default(),
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Streams a pipe's lines over a channel.
pub fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// An emulator on a loopback port, on its own tokio runtime.
pub struct TestEmulator {
    pub handle: EmulatorHandle,
    runtime: tokio::runtime::Runtime,
}

static SEED: AtomicU64 = AtomicU64::new(1);

impl TestEmulator {
    /// A made-up app, pings every 50 ms.
    pub fn start() -> Self {
        let seed = SEED.fetch_add(1, Ordering::SeqCst) + u64::from(std::process::id()) * 1000;
        Self::with_config(ServerConfig::generated(seed).ping_interval(Duration::from_millis(50)))
    }

    pub fn with_config(config: ServerConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime
            .block_on(Emulator::start(EmulatorOptions::new(config)))
            .unwrap();
        Self { handle, runtime }
    }

    pub fn url(&self) -> String {
        self.handle.url()
    }

    pub fn credentials(&self) -> &Credentials {
        self.handle.credentials()
    }

    /// `--endpoint URL --app-id ID --app-secret SECRET`.
    pub fn client_args(&self) -> Vec<String> {
        vec![
            "--endpoint".into(),
            self.url(),
            "--app-id".into(),
            self.credentials().app_id().into(),
            "--app-secret".into(),
            self.credentials().app_secret().expose().into(),
        ]
    }

    pub fn push(&self, event: EventSpec) -> String {
        self.handle.push_event(event).unwrap()
    }

    pub fn report(&self) -> Report {
        self.handle.report()
    }

    /// Waits until `predicate` holds; panics with the report after `limit`.
    pub fn wait_for(&self, predicate: impl FnMut(&Report) -> bool, limit: Duration) {
        self.runtime
            .block_on(self.handle.wait_for(predicate, limit))
            .unwrap_or_else(|err| panic!("{err}"));
    }
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A fresh path in the temp directory.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "openevent-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

pub fn event(topic: &str, operation: &str, data: &str) -> EventSpec {
    EventSpec::new(topic, operation, data)
}
