//! `--exec`: one shell command per event, on its own threads, awaited by the handler on any
//! runtime (the result comes back over a oneshot channel).

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::duration;

/// Output kept per stream; more is read and dropped, so a chatty command cannot exhaust memory.
const KEEP: usize = 1 << 20;

/// How long the output of a finished command may still take to arrive.
const READ_GRACE: Duration = Duration::from_secs(1);

/// Runs the `--exec` command.
#[derive(Debug, Clone)]
pub(crate) struct Exec {
    command: Arc<str>,
    timeout: Duration,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Kill every running command (set at exit).
    cancel: AtomicBool,
    running: AtomicUsize,
    /// Process groups of the commands running now (each command leads its own).
    groups: Mutex<Vec<u32>>,
}

/// How one run ended.
#[derive(Debug)]
pub(crate) struct ExecResult {
    pub(crate) ending: Ending,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) elapsed: Duration,
}

/// Why the command ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// It exited (or was killed by a signal).
    Exited(ExitStatus),
    /// It ran past `--exec-timeout` and was killed.
    TimedOut,
    /// openevent is exiting and killed it.
    Cancelled,
    /// It could not be started.
    SpawnFailed(String),
}

impl ExecResult {
    /// The ack this result earns: `Ok` for exit status 0, else the error text for the ack's msg.
    pub(crate) fn verdict(&self, timeout: Duration) -> Result<(), String> {
        let stderr = String::from_utf8_lossy(&self.stderr);
        let stderr = stderr.trim();
        match &self.ending {
            Ending::Exited(status) if status.success() => Ok(()),
            Ending::Exited(_) if !stderr.is_empty() => Err(stderr.to_owned()),
            Ending::Exited(status) => Err(match status.code() {
                Some(code) => format!("command exited with status {code}"),
                None => format!("command ended by a signal ({status})"),
            }),
            Ending::TimedOut => Err(format!(
                "command timed out after {} and was killed (--exec-timeout)",
                duration::human(timeout)
            )),
            Ending::Cancelled => Err("openevent stopped before the command finished".to_owned()),
            Ending::SpawnFailed(err) => Err(format!("cannot run the command: {err}")),
        }
    }
}

impl Exec {
    /// A runner of `command` (through `sh -c`) with this hard timeout.
    pub(crate) fn new(command: &str, timeout: Duration) -> Self {
        Self {
            command: command.into(),
            timeout,
            shared: Arc::default(),
        }
    }

    /// The hard timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs the command with `stdin` as its input and `env` added to its environment.
    pub(crate) async fn run(&self, stdin: Vec<u8>, env: Vec<(&'static str, String)>) -> ExecResult {
        let (tx, rx) = oneshot::channel();
        let this = self.clone();
        this.shared.running.fetch_add(1, Ordering::SeqCst);
        let spawned = thread::Builder::new()
            .name("openevent-exec".into())
            .spawn(move || {
                let result = this.run_blocking(stdin, &env);
                this.shared.running.fetch_sub(1, Ordering::SeqCst);
                let _ = tx.send(result);
            });
        if let Err(err) = spawned {
            self.shared.running.fetch_sub(1, Ordering::SeqCst);
            return ExecResult {
                ending: Ending::SpawnFailed(format!("no thread for the command: {err}")),
                stdout: Vec::new(),
                stderr: Vec::new(),
                elapsed: Duration::ZERO,
            };
        }
        rx.await.unwrap_or_else(|_| ExecResult {
            ending: Ending::SpawnFailed("the command's thread ended without a result".into()),
            stdout: Vec::new(),
            stderr: Vec::new(),
            elapsed: Duration::ZERO,
        })
    }

    /// Kills every running command and waits (up to `grace`) for their threads to notice.
    pub(crate) fn cancel_all(&self, grace: Duration) {
        self.shared.cancel.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        while self.shared.running.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the process group of every running command at once, without waiting: for a
    /// forced quit, so no command outlives openevent (their events stay unacked and are
    /// redelivered, but nothing runs twice at the same time).
    pub(crate) fn kill_now(&self) {
        for &group in self.groups().iter() {
            kill_group(group);
        }
    }

    fn groups(&self) -> std::sync::MutexGuard<'_, Vec<u32>> {
        self.shared
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn run_blocking(&self, stdin: Vec<u8>, env: &[(&'static str, String)]) -> ExecResult {
        let started = Instant::now();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&*self.command)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so a timeout kills what the shell started too (and the
        // terminal's Ctrl+C reaches openevent only, which then drains gracefully).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let spawned = command.spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => {
                return ExecResult {
                    ending: Ending::SpawnFailed(format!("sh: {err}")),
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                    elapsed: started.elapsed(),
                };
            }
        };
        let feeder = child.stdin.take().map(|mut pipe| {
            thread::spawn(move || {
                // A command that does not read its input closes the pipe: not an error.
                let _ = pipe.write_all(&stdin);
            })
        });
        let out = child.stdout.take().map(drain);
        let err = child.stderr.take().map(drain);
        let group = child.id();
        self.groups().push(group);
        let ending = self.wait(&mut child, started);
        self.groups().retain(|&g| g != group);
        // A process that escaped the group may hold the pipes open: do not wait for it long.
        let deadline = Instant::now() + READ_GRACE;
        let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| {
            rx.and_then(|rx| {
                rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .ok()
            })
            .unwrap_or_default()
        };
        let stdout = collect(out);
        let stderr = collect(err);
        drop(feeder);
        ExecResult {
            ending,
            stdout,
            stderr,
            elapsed: started.elapsed(),
        }
    }

    /// Polls the child until it exits, the timeout passes or openevent exits.
    fn wait(&self, child: &mut Child, started: Instant) -> Ending {
        let mut pause = Duration::from_millis(1);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ending::Exited(status),
                Ok(None) => {}
                Err(err) => {
                    kill(child);
                    return Ending::SpawnFailed(format!("cannot wait for the command: {err}"));
                }
            }
            let ending = if self.shared.cancel.load(Ordering::SeqCst) {
                Some(Ending::Cancelled)
            } else if started.elapsed() >= self.timeout {
                Some(Ending::TimedOut)
            } else {
                None
            };
            if let Some(ending) = ending {
                kill(child);
                return ending;
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// Kills the command's whole process group (the shell and what it started), then reaps it.
fn kill(child: &mut Child) {
    kill_group(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends SIGKILL to the process group led by `leader` (a command's shell).
fn kill_group(leader: u32) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(leader) {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = leader;
}

/// Reads a pipe to its end on a thread; the result arrives on the channel.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = KEEP.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(exec: &Exec, stdin: &str) -> ExecResult {
        async_io::block_on(exec.run(
            stdin.as_bytes().to_vec(),
            vec![("OPEN_EVENT_CODE", "kso.x.y".to_owned())],
        ))
    }

    #[test]
    fn exit_zero_is_ok_and_stdin_and_env_arrive() {
        let exec = Exec::new(
            r#"read line; echo "$OPEN_EVENT_CODE $line""#,
            Duration::from_secs(5),
        );
        let result = run(&exec, "hello\n");
        assert_eq!(result.verdict(exec.timeout()), Ok(()));
        assert_eq!(String::from_utf8_lossy(&result.stdout), "kso.x.y hello\n");
    }

    #[test]
    fn a_failure_reports_its_trimmed_stderr_or_status() {
        let exec = Exec::new("echo '  it broke  ' >&2; exit 4", Duration::from_secs(5));
        assert_eq!(
            run(&exec, "").verdict(exec.timeout()),
            Err("it broke".into())
        );
        let exec = Exec::new("exit 4", Duration::from_secs(5));
        assert_eq!(
            run(&exec, "").verdict(exec.timeout()),
            Err("command exited with status 4".into())
        );
    }

    #[test]
    fn a_slow_command_is_killed_at_the_timeout() {
        let exec = Exec::new("sleep 5", Duration::from_millis(50));
        let result = run(&exec, "");
        assert!(matches!(result.ending, Ending::TimedOut), "{result:?}");
        assert!(result.elapsed < Duration::from_secs(3));
        assert!(
            result
                .verdict(exec.timeout())
                .unwrap_err()
                .contains("timed out after 50 ms")
        );
    }

    #[test]
    fn a_command_that_ignores_a_large_stdin_does_not_hang() {
        let exec = Exec::new("true", Duration::from_secs(5));
        let big = "x".repeat(1 << 20);
        assert_eq!(run(&exec, &big).verdict(exec.timeout()), Ok(()));
    }
}
