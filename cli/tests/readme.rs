//! The README's CLI reference: the install line, the try-it block run as written, and every
//! variable the CLI reads.

mod common;

use std::time::Duration;

const README: &str = include_str!("../../README.md");

#[test]
fn the_install_line_uses_the_lock_file() {
    assert!(README.contains("cargo install --path cli --locked"));
    for line in README
        .lines()
        .filter(|l| l.contains("cargo install --path cli"))
    {
        assert!(line.contains("--locked"), "without --locked: {line}");
    }
}

#[test]
fn every_variable_the_cli_reads_is_in_one_table() {
    let table: Vec<&str> = README
        .lines()
        .skip_while(|l| !l.starts_with("Environment variables the CLI reads"))
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let table = table.join("\n");
    for var in [
        "OPEN_EVENT_APP_ID",
        "OPEN_EVENT_APP_SECRET",
        "APP_ID",
        "APP_SECRET",
        "OPEN_EVENT_ENDPOINT",
        "HTTPS_PROXY",
        "NO_PROXY",
        "NO_COLOR",
    ] {
        assert!(
            table.contains(&format!("`{var}`")),
            "{var} missing from:\n{table}"
        );
    }
}

/// The commands of the README's "Try it against the emulator" block, `#` lines left out.
fn try_it_block() -> Vec<&'static str> {
    README
        .split("Try it against the emulator")
        .nth(1)
        .and_then(|rest| rest.split("```bash\n").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("the README has the try-it block")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn the_try_it_block_runs_as_written() {
    let block = try_it_block();
    assert_eq!(block[0], "cargo install --path cli --locked", "{block:?}");
    let emulate = block[1]
        .strip_prefix("openevent ")
        .expect("openevent emulate ...");
    let exports = block[2].strip_prefix("export ").expect("export ...");
    let listen = block[3]
        .strip_prefix("openevent ")
        .expect("openevent listen ...");
    // The same commands on a free port (7000 may be taken on a shared machine).
    let port = common::closed_port().to_string();
    let emulate: Vec<String> = emulate
        .split_whitespace()
        .map(|w| w.replace("7000", &port))
        .collect();
    let mut server = common::openevent()
        .args(&emulate)
        .args(["--duration", "15s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = common::lines(server.stdout.take().unwrap());
    let first = out.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(first.contains(&format!(":{port}/v7/event/ws")), "{first}");
    let mut client = common::openevent();
    for pair in exports.split_whitespace() {
        let (name, value) = pair.split_once('=').unwrap();
        client.env(name, value.replace("7000", &port));
    }
    let finished = common::run(
        client.args(listen.split_whitespace()),
        Duration::from_secs(20),
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    assert_eq!(finished.stdout.lines().count(), 3, "{}", finished.dump());
}
