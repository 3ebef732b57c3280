//! `--metrics`: `openevent listen`, `relay` (with a real redis-server) and `webhook` as
//! processes, scraped over real HTTP: counters by name and label values, `/healthz` and
//! `/readyz` through a connection's life.

mod common;
#[path = "../../relay/tests/servers/mod.rs"]
mod servers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{TestEmulator, event, lines, openevent, wait};
use open_event_core::Credentials;
use open_event_core::codec::GoAwayReason;
use open_event_emulator::server::{EventSpec, Malformed};
use open_event_emulator::webhook::{PushOptions, WebhookPusher};
use servers::RedisServer;

const LIMIT: Duration = Duration::from_secs(20);

fn chat_event(id: &str) -> EventSpec {
    event(
        "kso.app_chat",
        "create",
        &format!(r#"{{"chat_id":"{id}","creator":{{"type":"user","id":"u1"}},"company_id":"c1"}}"#),
    )
}

/// One GET over a fresh TCP connection: the status code and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {response}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head}"));
    (status, body.to_owned())
}

/// The value of the sample `name` whose labels include every `labels` pair, in a Prometheus
/// text exposition.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let matches = series_name == name
                && labels.iter().all(|(k, v)| {
                    series_labels
                        .split(',')
                        .any(|l| l == format!("{k}=\"{v}\""))
                });
            matches.then(|| value.parse().unwrap())
        })
}

/// Scrapes `/metrics` until `check` holds; panics with the last scrape after `LIMIT`.
fn scrape_until(addr: &str, what: &str, mut check: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        let (status, text) = get(addr, "/metrics");
        assert_eq!(status, 200, "{text}");
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what}; last scrape:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads stderr lines until the metrics server's address appeared.
fn metrics_addr(stderr: &Receiver<String>) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        let line = stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the process announces its metrics address");
        if let Some(rest) = line.split("metrics on http://").nth(1) {
            return rest.split('/').next().unwrap().to_owned();
        }
    }
}

fn stop(child: &Child) {
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

#[test]
fn listen_metrics_count_by_code_and_health_follows_the_connection() {
    let emu = TestEmulator::start();
    emu.push(chat_event("c1"));
    emu.push(chat_event("c2"));
    emu.push(event("kso.x", "fail", r#"{"n":1}"#));
    let script = r#"if [ "$OPEN_EVENT_CODE" = kso.x.fail ]; then echo no >&2; exit 3; fi"#;
    let mut child = openevent()
        .args(["listen", "--quiet", "--exec", script])
        .args(["--metrics", "127.0.0.1:0", "--health-grace", "3s"])
        .args(["--reconnect-base", "100ms", "--reconnect-max", "200ms"])
        .args(emu.client_args())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines(child.stderr.take().unwrap());
    let addr = metrics_addr(&stderr);

    // Three events: two handled, one failed (acked 500).
    let acked =
        |text: &str, status| sample(text, "open_event_events_acked_total", &[("status", status)]);
    let text = scrape_until(&addr, "three acks flushed", |t| {
        acked(t, "200") == Some(2.0) && acked(t, "500") == Some(1.0)
    });
    let value = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels);
    assert_eq!(value("open_event_events_received_total", &[]), Some(3.0));
    let chat = ("code", "kso.app_chat.create");
    let fail = ("code", "kso.x.fail");
    assert_eq!(
        value("open_event_events_delivered_total", &[chat]),
        Some(2.0)
    );
    assert_eq!(
        value("open_event_events_delivered_total", &[fail]),
        Some(1.0)
    );
    assert_eq!(
        value(
            "open_event_events_handled_total",
            &[chat, ("outcome", "ok")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            "open_event_events_handled_total",
            &[fail, ("outcome", "error")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value("open_event_handler_duration_seconds_count", &[chat]),
        Some(2.0)
    );
    assert_eq!(
        value(
            "open_event_handler_duration_seconds_bucket",
            &[chat, ("le", "+Inf")]
        ),
        Some(2.0)
    );
    assert_eq!(value("open_event_connects_total", &[]), Some(1.0));
    assert_eq!(value("open_event_connected", &[]), Some(1.0));
    assert_eq!(
        value("open_event_connection_state", &[("state", "open")]),
        Some(1.0)
    );
    assert!(value("open_event_last_frame_timestamp_seconds", &[]).is_some_and(|t| t > 1.7e9));
    assert!(
        text.contains("# TYPE open_event_handler_duration_seconds histogram"),
        "{text}"
    );
    assert_eq!(get(&addr, "/healthz"), (200, "connected\n".to_owned()));
    assert_eq!(get(&addr, "/readyz"), (200, "ready\n".to_owned()));
    assert_eq!(get(&addr, "/nope").0, 404);

    // A frame with a bad signature, then a GoAway and the reconnect after it.
    emu.handle.send_malformed(Malformed::BadSignature).unwrap();
    scrape_until(&addr, "the rejected frame", |t| {
        sample(
            t,
            "open_event_events_rejected_total",
            &[("reason", "signature_mismatch")],
        ) == Some(1.0)
    });
    emu.handle
        .goaway(GoAwayReason::ServerShutdown, Some(0))
        .unwrap();
    let text = scrape_until(&addr, "the reconnect after the goaway", |t| {
        sample(t, "open_event_connects_total", &[]) == Some(2.0)
            && sample(t, "open_event_connected", &[]) == Some(1.0)
    });
    assert_eq!(
        sample(
            &text,
            "open_event_goaways_total",
            &[("reason", "server_shutdown")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "open_event_reconnects_total", &[("cause", "goaway")]),
        Some(1.0)
    );

    // The platform goes away: healthy within the grace, then 503 saying why; still ready
    // (it connected once and is not stopping).
    drop(emu);
    let deadline = Instant::now() + LIMIT;
    let (status, body) = loop {
        // Until the client has seen the loss.
        let (status, body) = get(&addr, "/healthz");
        if body != "connected\n" {
            break (status, body);
        }
        assert!(Instant::now() < deadline, "still connected");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("reconnecting for "), "{body}");
    let body = loop {
        let (status, body) = get(&addr, "/healthz");
        if status == 503 {
            break body;
        }
        assert!(Instant::now() < deadline, "still {status}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body.contains("past the 3s grace"), "{body}");
    assert!(body.contains("connect failed"), "{body}");
    assert_eq!(get(&addr, "/readyz").0, 200);
    let text = scrape_until(&addr, "not connected", |t| {
        sample(t, "open_event_connected", &[]) == Some(0.0)
    });
    assert!(
        sample(
            &text,
            "open_event_reconnects_total",
            &[("cause", "connect_failed")]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );

    stop(&child);
    let finished = wait(child, LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
}

#[test]
fn webhook_metrics_count_requests_and_health_is_listening() {
    const APP_ID: &str = "AK20240101TEST";
    const SECRET: &str = "sk_test_secret_0123456789abcdef";
    let mut child = openevent()
        .args([
            "webhook",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ])
        .env("OPEN_EVENT_APP_ID", APP_ID)
        .env("OPEN_EVENT_APP_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + LIMIT;
    let mut url = None;
    let mut addr = None;
    while url.is_none() || addr.is_none() {
        let line = stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the webhook announces both addresses");
        if let Some(rest) = line.split("webhook listening on ").nth(1) {
            url = Some(rest.split_whitespace().next().unwrap().to_owned());
        }
        if let Some(rest) = line.split("metrics on http://").nth(1) {
            addr = Some(rest.split('/').next().unwrap().to_owned());
        }
    }
    let (url, addr) = (url.unwrap(), addr.unwrap());
    assert_eq!(get(&addr, "/healthz"), (200, "listening\n".to_owned()));
    assert_eq!(get(&addr, "/readyz"), (200, "listening\n".to_owned()));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut pusher = WebhookPusher::new(
            &url,
            Credentials::new(APP_ID, SECRET),
            PushOptions::default(),
        )
        .unwrap();
        pusher.challenge().await.unwrap();
        for text in ["one", "two"] {
            let report = pusher.push(EventSpec::chat_message(text)).await.unwrap();
            assert!(report.is_delivered(), "{report:?}");
        }
    });
    let text = scrape_until(&addr, "two events answered", |t| {
        sample(t, "open_event_webhook_answered_total", &[("status", "200")]) == Some(2.0)
    });
    assert_eq!(
        sample(&text, "open_event_events_received_total", &[]),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "open_event_webhook_challenges_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "open_event_webhook_requests_total", &[]),
        Some(3.0)
    );

    stop(&child);
    let finished = wait(child, LIMIT);
    assert_eq!(finished.code(), Some(0), "{}", finished.dump());
}

#[test]
fn relay_leader_and_standby_are_both_healthy_and_the_leader_counts_its_events() {
    let emu = TestEmulator::start();
    let redis = RedisServer::start();
    let (stream, lease) = (redis.url("events"), redis.url("leader"));
    let relay = || {
        let mut child = openevent()
            .arg("relay")
            .args(emu.client_args())
            .args(["--to", &stream, "--lease", &lease, "--lease-ttl", "2s"])
            .args(["--metrics", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = lines(child.stderr.take().unwrap());
        let addr = metrics_addr(&stderr);
        (child, stderr, addr)
    };
    let wait_line = |stderr: &Receiver<String>, needle: &str| {
        let deadline = Instant::now() + LIMIT;
        loop {
            let line = stderr
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no `{needle}` on stderr"));
            if line.contains(needle) {
                return;
            }
        }
    };
    let (leader, leader_err, leader_addr) = relay();
    wait_line(&leader_err, "leader (lease token");
    let (standby, standby_err, standby_addr) = relay();
    wait_line(&standby_err, "standby: waiting for the lease");

    emu.push(chat_event("c1"));
    emu.wait_for(|r| r.ack_counts.accepted >= 1, LIMIT);
    let text = scrape_until(&leader_addr, "the stored event", |t| {
        sample(t, "open_event_events_acked_total", &[("status", "200")]) == Some(1.0)
    });
    assert_eq!(
        sample(
            &text,
            "open_event_events_delivered_total",
            &[("code", "kso.app_chat.create")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get(&leader_addr, "/healthz"),
        (200, "connected\n".to_owned())
    );
    assert_eq!(get(&leader_addr, "/readyz"), (200, "ready\n".to_owned()));
    let standing_by = (200, "standby: waiting for the lease\n".to_owned());
    assert_eq!(get(&standby_addr, "/healthz"), standing_by);
    assert_eq!(get(&standby_addr, "/readyz"), standing_by);

    for child in [leader, standby] {
        stop(&child);
        let finished = wait(child, LIMIT);
        assert_eq!(finished.code(), Some(0), "{}", finished.dump());
    }
}

#[test]
fn a_metrics_address_in_use_fails_before_connecting_and_names_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let finished = common::run(
        openevent().args([
            "listen",
            "--endpoint",
            &format!("ws://127.0.0.1:{}/v7/event/ws", common::closed_port()),
            "--app-id",
            "AK20240101TEST",
            "--app-secret",
            "sk_test_secret",
            "--metrics",
            &addr,
        ]),
        LIMIT,
    );
    assert_eq!(finished.code(), Some(3), "{}", finished.dump());
    finished.assert_stderr_has(&[&format!("cannot serve metrics on {addr}"), "--metrics"]);
    assert!(
        !finished.stderr.contains("connecting to"),
        "{}",
        finished.dump()
    );
}
