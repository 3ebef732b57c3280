//! Stop signals of `openevent listen --exec` (issue 8, item 5): a forced quit takes the
//! commands down with it, and two signals that arrive together are one press.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestEmulator, event, openevent, temp_path, wait};

const LIMIT: Duration = Duration::from_secs(20);

/// `openevent listen --exec SCRIPT`, leading its own process group (as under `timeout`).
fn listen_exec(emu: &TestEmulator, script: &str) -> Child {
    let mut cmd = openevent();
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args(["listen", "--json", "--exec", script])
        .args(emu.client_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `path` exists and holds a line; returns it.
fn read_when_written(path: &Path) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text.trim().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the process runs (a zombie, waiting for a parent that may never reap it in a
/// container, counts as gone).
fn is_running(pid: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name.
    let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
    !matches!(state, Some(Some('Z' | 'X')))
}

fn signal(args: &[&str]) {
    let status = Command::new("kill").args(args).status().unwrap();
    assert!(status.success(), "kill {args:?}");
}

#[test]
fn a_second_ctrl_c_kills_the_exec_commands_and_exits_130() {
    let emu = TestEmulator::start();
    emu.push(event("kso.app_chat", "create", r#"{"chat_id":"c1"}"#));
    let dir = temp_path("force");
    std::fs::create_dir_all(&dir).unwrap();
    let (shell, sleeper) = (dir.join("shell"), dir.join("sleeper"));
    // The shell starts a grandchild in its process group, then waits for it.
    let script = format!(
        "sleep 60 & echo $! > {}; echo $$ > {}; wait",
        sleeper.display(),
        shell.display()
    );
    let child = listen_exec(&emu, &script);
    let (shell_pid, sleeper_pid) = (read_when_written(&shell), read_when_written(&sleeper));
    assert!(is_running(&shell_pid) && is_running(&sleeper_pid));
    let pid = child.id().to_string();
    signal(&["-INT", &pid]);
    // A person's second press, well past the debounce.
    std::thread::sleep(Duration::from_millis(600));
    signal(&["-INT", &pid]);
    let finished = wait(child, LIMIT);
    assert_eq!(finished.code(), Some(130), "{}", finished.dump());
    finished.assert_stderr_has(&["stopping gracefully", "quitting at once"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while (is_running(&shell_pid) || is_running(&sleeper_pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !is_running(&shell_pid),
        "the command's shell outlived openevent"
    );
    assert!(
        !is_running(&sleeper_pid),
        "what the command started outlived openevent"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_signals_at_once_are_one_press_and_the_drain_completes() {
    let emu = TestEmulator::start();
    let nonce = emu.push(event("kso.app_chat", "create", r#"{"chat_id":"c2"}"#));
    let dir = temp_path("debounce");
    std::fs::create_dir_all(&dir).unwrap();
    let (started, go) = (dir.join("started"), dir.join("go"));
    // The command runs until the test lets it finish.
    let script = format!(
        "echo yes > {}; while [ ! -f {} ]; do sleep 0.02; done",
        started.display(),
        go.display()
    );
    let child = listen_exec(&emu, &script);
    read_when_written(&started);
    // What `timeout -s INT` does: signal the process, then its whole process group, back to
    // back (the commands lead groups of their own and get neither).
    let pid = child.id().to_string();
    signal(&["-s", "INT", "--", &pid, &format!("-{pid}")]);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&go, "").unwrap();
    let finished = wait(child, LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    finished.assert_stderr_has(&["stopping gracefully"]);
    assert!(
        !finished.stderr.contains("quitting at once"),
        "{}",
        finished.dump()
    );
    // The drain ran: the command finished and its event was acked before the close.
    let report = emu.report();
    let ack = report.acks.iter().find(|a| a.nonce == nonce).unwrap();
    assert_eq!(ack.code, 200, "{ack:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
