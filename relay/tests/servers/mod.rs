//! Real brokers for the relay's tests: `redis-server` and `nats-server -js`, each on a free
//! loopback port in its own temporary directory, killed when dropped.
//!
//! A missing binary fails the test with the install hint (never a skip): `scripts/test`
//! installs both.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const INSTALL_HINT: &str = "run `scripts/test` (it installs redis-server and nats-server with \
                            apt-get), or install them yourself: `apt-get install redis-server \
                            nats-server`, `brew install redis nats-server`, or put both binaries \
                            on PATH";

/// Finds a broker binary on PATH or in the sbin directories Debian uses.
fn binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: {INSTALL_HINT}"))
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
    listener.local_addr().expect("local addr").port()
}

/// Waits until `ready` says the server answers, or panics with its log.
fn wait_ready(name: &str, log: &Path, child: &mut Child, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{name} exited with {status} at start:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    panic!("{name} did not answer within 10 s:\n{text}");
}

fn stop(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A `redis-server` with an append-only file synced on every write (what the relay needs from
/// Redis so that a confirmed event survives a crash of the broker).
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// Starts one on a free port.
    pub fn start() -> Self {
        let dir = TempDir::new().expect("temp dir");
        let mut server = Self {
            child: None,
            port: free_port(),
            dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("redis.log");
        let mut child = Command::new(binary("redis-server"))
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start redis-server ({err}): {INSTALL_HINT}"));
        let addr = self.addr();
        wait_ready("redis-server", &log, &mut child, || redis_ping(addr));
        self.child = Some(child);
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `redis://127.0.0.1:PORT/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("redis://{}/{path}", self.addr())
    }

    /// `kill -9`: the process dies at once (what was confirmed is in the append-only file).
    pub fn kill(&mut self) {
        stop(&mut self.child);
    }

    /// Starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        stop(&mut self.child);
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn redis_ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

/// A `nats-server -js` with its JetStream store in a temporary directory.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl NatsServer {
    /// Starts one on a free port.
    pub fn start() -> Self {
        let dir = TempDir::new().expect("temp dir");
        let mut server = Self {
            child: None,
            port: free_port(),
            dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("nats.log");
        let store = self.dir.path().join("jetstream");
        let mut child = Command::new(binary("nats-server"))
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-sd")
            .arg(&store)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start nats-server ({err}): {INSTALL_HINT}"));
        let addr = self.addr();
        wait_ready("nats-server", &log, &mut child, || {
            nats_info(addr)
                && std::fs::read_to_string(&log).is_ok_and(|t| t.contains("Server is ready"))
        });
        self.child = Some(child);
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `nats://127.0.0.1:PORT/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("nats://{}/{path}", self.addr())
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        stop(&mut self.child);
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        stop(&mut self.child);
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn nats_info(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 8];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"INFO"))
}
