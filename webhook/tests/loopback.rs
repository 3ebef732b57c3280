//! The webhook server over real loopback HTTP, driven by the emulator's webhook pusher.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use open_event_core::Credentials;
use open_event_core::codec::RejectKind;
use open_event_emulator::server::EventSpec;
use open_event_emulator::webhook::{Answer, PushOptions, WebhookPusher};
use open_event_webhook::{Event, Webhook, WebhookBuilder, WebhookHandle};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

const APP_ID: &str = "AK20240101TEST";
const SECRET: &str = "sk_test_secret_0123456789abcdef";
const EVENTS: &str = include_str!("../../core/tests/data/events.json");

struct Running {
    addr: SocketAddr,
    handle: WebhookHandle,
    server: JoinHandle<io::Result<()>>,
}

impl Running {
    fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    fn pusher(&self, options: PushOptions) -> WebhookPusher {
        WebhookPusher::new(&self.url(), Credentials::new(APP_ID, SECRET), options).unwrap()
    }

    async fn stop(self) {
        self.handle.stop();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

async fn start(builder: WebhookBuilder) -> Running {
    let webhook = builder.path("/events").build().unwrap();
    let handle = webhook.handle();
    let server = webhook.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    Running {
        addr,
        handle,
        server: tokio::spawn(server.run()),
    }
}

/// A webhook whose handler records every event it runs.
fn recording() -> (WebhookBuilder, Arc<Mutex<Vec<Event>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let builder = Webhook::builder(APP_ID, SECRET).handler(move |event| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(event);
            Ok::<(), io::Error>(())
        }
    });
    (builder, seen)
}

fn fast() -> PushOptions {
    PushOptions {
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(50),
        ..PushOptions::default()
    }
}

fn vectors(group: &str) -> Vec<Value> {
    let file: Value = serde_json::from_str(EVENTS).unwrap();
    file[group].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_is_echoed_in_time() {
    let (builder, seen) = recording();
    let running = start(builder).await;
    let mut pusher = running.pusher(PushOptions::default());
    let took = pusher.challenge().await.expect("challenge echoed");
    assert!(took < Duration::from_secs(1));
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(running.handle.stats().challenges, 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vector_event_is_delivered_once_with_its_data() {
    // Some vectors share a nonce: each gets a webhook of its own.
    for vector in vectors("valid") {
        let name = vector["name"].as_str().unwrap();
        let (builder, seen) = recording();
        let running = start(builder).await;
        let mut pusher = running.pusher(fast());
        let body = vector["frame"].to_string();
        let data = vector["expected"]["data"].as_str().unwrap();
        if !data.is_empty() && serde_json::from_str::<Value>(data).is_err() {
            // Valid crypto, but not the JSON text the protocol promises: 400, no handler run.
            let answer = pusher.post(body.clone(), Duration::from_secs(3)).await;
            assert_eq!(answer.status(), Some(400), "{name}: {answer}");
            assert!(seen.lock().unwrap().is_empty(), "{name} reached a handler");
            running.stop().await;
            continue;
        }
        for _ in 0..2 {
            let answer = pusher.post(body.clone(), Duration::from_secs(3)).await;
            assert_eq!(answer.status(), Some(200), "{name}: {answer}");
        }
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1, "{name} ran exactly once");
            assert_eq!(seen[0].event_code(), vector["expected"]["event_code"]);
            assert_eq!(seen[0].data, vector["expected"]["data"].as_str().unwrap());
        }
        assert_eq!(running.handle.stats().duplicates, 1, "{name}");
        running.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_wrong_key_and_bad_padding_are_refused_without_a_handler_run() {
    let (builder, seen) = recording();
    let running = start(builder).await;
    let mut pusher = running.pusher(fast());
    let mut expected = Vec::new();
    for vector in vectors("invalid") {
        let name = vector["name"].as_str().unwrap();
        let status = match name {
            "tampered-ciphertext" | "tampered-signature" | "wrong-secret" => 401,
            "bad-pkcs7-padding" | "zero-padding-byte" => 400,
            _ => continue,
        };
        // The wrong-secret vector is genuine for its sender but verified with another secret:
        // post it to a webhook of that other secret.
        let answer = if name == "wrong-secret" {
            let other_running = start(
                Webhook::builder(APP_ID, vector["app_secret"].as_str().unwrap().to_owned())
                    .ignore_all(),
            )
            .await;
            let mut other_pusher = other_running.pusher(fast());
            let answer = other_pusher
                .post(vector["frame"].to_string(), Duration::from_secs(3))
                .await;
            assert_eq!(other_running.handle.stats().events_delivered, 0);
            other_running.stop().await;
            answer
        } else {
            pusher
                .post(vector["frame"].to_string(), Duration::from_secs(3))
                .await
        };
        let Answer::Status {
            status: got, body, ..
        } = &answer
        else {
            panic!("{name}: {answer}")
        };
        assert_eq!(*got, status, "{name}: {body}");
        let body: Value = serde_json::from_str(body).unwrap();
        assert!(!body["reason"].as_str().unwrap().is_empty(), "{name}");
        assert!(!body.to_string().contains(SECRET), "{name}");
        expected.push(name.to_owned());
    }
    assert_eq!(expected.len(), 5);
    assert!(seen.lock().unwrap().is_empty(), "no handler ran");
    let stats = running.handle.stats();
    assert_eq!(stats.rejected(RejectKind::SignatureMismatch), 2);
    assert_eq!(stats.rejected(RejectKind::Padding), 2);
    assert_eq!(stats.events_delivered, 0);
    running.stop().await;
}

/// A handler that fails its first run and succeeds afterwards.
fn failing_once() -> (WebhookBuilder, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&runs);
    let builder = Webhook::builder(APP_ID, SECRET).handler(move |_event| {
        let run = count.fetch_add(1, Ordering::SeqCst);
        async move {
            if run == 0 {
                Err(io::Error::other("database unavailable"))
            } else {
                Ok(())
            }
        }
    });
    (builder, runs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_error_is_retried_and_runs_again_only_with_dedup_retry_errors() {
    // Default: the failed event's redeliveries get its first outcome; the handler ran once.
    let (builder, runs) = failing_once();
    let running = start(builder).await;
    let mut pusher = running.pusher(PushOptions {
        retries: 2,
        ..fast()
    });
    let report = pusher.push(EventSpec::chat_message("hi")).await.unwrap();
    assert_eq!(report.attempts.len(), 3);
    assert!(report.attempts.iter().all(|a| a.status() == Some(500)));
    let Answer::Status { body, .. } = &report.attempts[0] else {
        panic!()
    };
    assert!(body.contains("database unavailable"), "{body}");
    assert!(!report.is_delivered());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    running.stop().await;

    // dedup_retry_errors: the retry reaches the handler again and succeeds.
    let (builder, runs) = failing_once();
    let running = start(builder.dedup_retry_errors(true)).await;
    let mut pusher = running.pusher(fast());
    let report = pusher.push(EventSpec::chat_message("hi")).await.unwrap();
    let statuses: Vec<_> = report.attempts.iter().map(Answer::status).collect();
    assert_eq!(statuses, [Some(500), Some(200)]);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    running.stop().await;
}

/// A log sink for one test: the subscriber is set for the test's thread only, and the
/// current-thread runtime runs the server, its handlers and the pusher on that thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_handler_is_logged_at_warn_with_code_nonce_and_message() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (builder, _runs) = failing_once();
    let running = start(builder).await;
    let mut pusher = running.pusher(fast());
    let (body, nonce) = pusher.seal(&EventSpec::chat_message("hi")).unwrap();
    let answer = pusher.post(body, Duration::from_secs(3)).await;
    assert_eq!(answer.status(), Some(500), "{answer}");
    running.stop().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let warn = text
        .lines()
        .find(|line| line.contains("WARN") && line.contains("handler failed"))
        .unwrap_or_else(|| panic!("no WARN line for the failed handler in:\n{text}"));
    assert!(warn.contains("event_code=kso.app_chat.message"), "{warn}");
    assert!(warn.contains(&format!("nonce={nonce}")), "{warn}");
    assert!(warn.contains("database unavailable"), "{warn}");
    assert_eq!(
        text.lines().filter(|l| l.contains("WARN")).count(),
        1,
        "one WARN for one failure:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_post_twice_at_once_is_handled_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&runs);
    let builder = Webhook::builder(APP_ID, SECRET).handler(move |_event| {
        count.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<(), io::Error>(())
        }
    });
    let running = start(builder).await;
    let mut first = running.pusher(fast());
    let mut second = running.pusher(fast());
    let (body, _nonce) = first.seal(&EventSpec::chat_message("twice")).unwrap();
    let copy = body.clone();
    let (a, b) = tokio::join!(first.post(body, Duration::from_secs(3)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        second.post(copy, Duration::from_secs(3)).await
    });
    assert_eq!(
        (a.status(), b.status()),
        (Some(200), Some(200)),
        "{a} / {b}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(running.handle.stats().duplicates, 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_mib_body_is_413() {
    let (builder, seen) = recording();
    let running = start(builder).await;
    let mut pusher = running.pusher(fast());
    let huge = format!(r#"{{"challenge":"{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let answer = pusher.post(huge, Duration::from_secs(5)).await;
    assert_eq!(answer.status(), Some(413), "{answer}");
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(running.handle.stats().body_too_large, 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_in_flight_is_503_with_retry_after() {
    let builder = Webhook::builder(APP_ID, SECRET)
        .max_in_flight(1)
        .handler(|_event| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok::<(), io::Error>(())
        });
    let running = start(builder).await;
    let mut first = running.pusher(fast());
    let mut second = running.pusher(PushOptions { seed: 2, ..fast() });
    let (body_a, _) = first.seal(&EventSpec::chat_message("a")).unwrap();
    let (body_b, _) = second.seal(&EventSpec::chat_message("b")).unwrap();
    let (a, b) = tokio::join!(first.post(body_a, Duration::from_secs(3)), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        second.post(body_b, Duration::from_secs(3)).await
    });
    assert_eq!(a.status(), Some(200), "{a}");
    let Answer::Status {
        status: 503,
        retry_after,
        ..
    } = &b
    else {
        panic!("expected 503: {b}")
    };
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(running.handle.stats().busy, 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_headers_one_byte_at_a_time_is_cut_off() {
    let (builder, _seen) = recording();
    let running = start(builder.header_timeout(Duration::from_secs(1))).await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    let head = b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n";
    let started = Instant::now();
    let mut cut = false;
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Closed by the server: a read returns at once (0 bytes, a 408, or a reset).
        let mut buf = [0u8; 256];
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await
        {
            let _ = read;
            cut = true;
            break;
        }
    }
    assert!(cut, "the slow client was never cut off");
    // Cut at the header timeout, long before the 88 bytes (22 s) were sent.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_and_path_are_refused() {
    let (builder, _seen) = recording();
    let running = start(builder).await;
    for (request, status) in [
        ("GET /events HTTP/1.1\r\nHost: x\r\n\r\n", "405"),
        (
            "POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
            "404",
        ),
        (
            "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
            "415",
        ),
    ] {
        let mut stream = TcpStream::connect(running.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with(&format!("HTTP/1.1 {status}")), "{text}");
        assert!(text.contains("application/json"), "{text}");
        if status == "405" {
            assert!(text.to_ascii_lowercase().contains("allow: post"), "{text}");
        }
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_finishes_running_handlers() {
    let done = Arc::new(AtomicUsize::new(0));
    let finished = Arc::clone(&done);
    let builder = Webhook::builder(APP_ID, SECRET).handler(move |_event| {
        let finished = Arc::clone(&finished);
        async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok::<(), io::Error>(())
        }
    });
    let running = start(builder).await;
    let mut pusher = running.pusher(fast());
    let push = tokio::spawn(async move {
        let (body, _) = pusher.seal(&EventSpec::chat_message("slow")).unwrap();
        pusher.post(body, Duration::from_secs(3)).await
    });
    while running.handle.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = running.addr;
    running.handle.stop();
    let answer = push.await.unwrap();
    assert_eq!(answer.status(), Some(200), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), running.server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 1, "the handler finished");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounted_in_an_axum_router() {
    let (builder, seen) = recording();
    let webhook = builder.build().unwrap();
    let handle = webhook.handle();
    let app = axum::Router::new().route_service("/events", webhook.service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/events");
    let mut pusher = WebhookPusher::new(&url, Credentials::new(APP_ID, SECRET), fast()).unwrap();
    pusher.challenge().await.unwrap();
    let report = pusher
        .push(EventSpec::chat_message("via axum"))
        .await
        .unwrap();
    assert!(report.is_delivered(), "{report:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(handle.stats().events_delivered, 1);
    server.abort();
}

#[test]
fn a_webhook_without_any_handler_is_refused_unless_ignore_all() {
    let Err(err) = Webhook::builder(APP_ID, SECRET).build() else {
        panic!("a webhook without a handler was built");
    };
    assert!(
        matches!(err, open_event_webhook::BuildError::NoHandler),
        "{err}"
    );
    let text = err.to_string();
    for fix in [".handler(...)", ".dispatcher(...)", ".ignore_all()"] {
        assert!(text.contains(fix), "{text}");
    }
    let empty = Webhook::builder(APP_ID, SECRET).dispatcher(open_event_webhook::Dispatcher::new());
    assert!(matches!(
        empty.build(),
        Err(open_event_webhook::BuildError::NoHandler)
    ));
    assert!(
        Webhook::builder(APP_ID, SECRET)
            .ignore_all()
            .build()
            .is_ok()
    );
}
