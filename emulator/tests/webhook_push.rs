//! The webhook pusher against small scripted HTTP apps on loopback: a wrong or late challenge
//! fails loudly, timeouts and errors are retried with backoff and reported per attempt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use open_event_core::Credentials;
use open_event_core::crypto::EventCipher;
use open_event_emulator::server::EventSpec;
use open_event_emulator::webhook::{Answer, PushOptions, WebhookPushError, WebhookPusher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the scripted app answers one request: after a delay, with a status and a body.
#[derive(Clone)]
struct Reply {
    delay: Duration,
    status: u16,
    body: Option<String>,
}

/// Serves one connection at a time; answers the n-th request with `script[n]` (the last one
/// repeats). `None` as body echoes the request body. Records every request body.
async fn app(script: Vec<Reply>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&bodies);
    tokio::spawn(async move {
        let mut served = 0;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            let log = Arc::clone(&log);
            served = serve(stream, &script, served, &log).await;
        }
    });
    (url, bodies)
}

async fn serve(
    mut stream: TcpStream,
    script: &[Reply],
    mut served: usize,
    log: &Mutex<Vec<String>>,
) -> usize {
    let mut buf = Vec::new();
    loop {
        // Read one request: head, then Content-Length bytes.
        let body = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= end + 4 + length {
                    let body =
                        String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
                    buf.drain(..end + 4 + length);
                    break body;
                }
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return served,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        log.lock().unwrap().push(body.clone());
        let reply = &script[served.min(script.len() - 1)];
        served += 1;
        tokio::time::sleep(reply.delay).await;
        let text = reply.body.clone().unwrap_or(body);
        let response = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            reply.status,
            text.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return served;
        }
    }
}

fn reply(status: u16, body: Option<&str>) -> Reply {
    Reply {
        delay: Duration::ZERO,
        status,
        body: body.map(str::to_owned),
    }
}

fn credentials() -> Credentials {
    Credentials::new("AK20240101TEST", "sk_test_secret_0123456789abcdef")
}

fn fast() -> PushOptions {
    PushOptions {
        retry_base: Duration::from_millis(10),
        retry_max: Duration::from_millis(40),
        timeout: Duration::from_millis(300),
        ..PushOptions::default()
    }
}

#[tokio::test]
async fn an_echoed_challenge_passes() {
    let (url, bodies) = app(vec![reply(200, None)]).await;
    let mut pusher = WebhookPusher::new(&url, credentials(), fast()).unwrap();
    let took = pusher.challenge().await.unwrap();
    assert!(took < Duration::from_secs(1));
    let sent: serde_json::Value = serde_json::from_str(&bodies.lock().unwrap()[0]).unwrap();
    assert!(
        sent["challenge"]
            .as_str()
            .unwrap()
            .starts_with("emu-challenge-")
    );
}

#[tokio::test]
async fn a_wrong_challenge_fails_loudly() {
    for wrong in [
        reply(200, Some(r#"{"challenge":"something else"}"#)),
        reply(200, Some("ok")),
        reply(500, None),
    ] {
        let (url, _) = app(vec![wrong]).await;
        let mut pusher = WebhookPusher::new(&url, credentials(), fast()).unwrap();
        let err = pusher.challenge().await.unwrap_err();
        assert!(
            matches!(err, WebhookPushError::ChallengeWrong { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("echo the challenge"), "{err}");
    }
}

#[tokio::test]
async fn a_late_challenge_fails_loudly() {
    let late = Reply {
        delay: Duration::from_millis(1200),
        ..reply(200, None)
    };
    let (url, _) = app(vec![late]).await;
    let mut pusher = WebhookPusher::new(&url, credentials(), PushOptions::default()).unwrap();
    let err = pusher.challenge().await.unwrap_err();
    let WebhookPushError::ChallengeLate { elapsed, limit } = err else {
        panic!("{err}")
    };
    assert!(elapsed > limit && limit == Duration::from_secs(1));
}

#[tokio::test]
async fn events_are_sealed_and_retried_until_200() {
    let slow = Reply {
        delay: Duration::from_millis(600),
        ..reply(200, Some(r#"{"code":200}"#))
    };
    let script = vec![
        reply(500, Some(r#"{"code":500}"#)),
        slow,
        reply(200, Some(r#"{"code":200}"#)),
    ];
    let (url, bodies) = app(script).await;
    let mut pusher = WebhookPusher::new(&url, credentials(), fast()).unwrap();
    let report = pusher.push(EventSpec::chat_message("hello")).await.unwrap();
    assert_eq!(report.event_code, "kso.app_chat.message.create");
    assert!(matches!(
        report.attempts[0],
        Answer::Status { status: 500, .. }
    ));
    assert!(matches!(report.attempts[1], Answer::TimedOut(_)));
    assert_eq!(report.last_status(), Some(200));
    assert!(report.is_delivered());
    // Every attempt carried the same sealed event, which opens with the app's keys.
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    let event = EventCipher::new(&credentials())
        .open_text(&bodies[0])
        .unwrap();
    assert_eq!(event.nonce, report.nonce);
    assert!(event.data.contains("hello"));
}

#[tokio::test]
async fn retries_run_out() {
    let (url, _) = app(vec![reply(503, Some("{}"))]).await;
    let options = PushOptions {
        retries: 2,
        ..fast()
    };
    let mut pusher = WebhookPusher::new(&url, credentials(), options).unwrap();
    let report = pusher.push(EventSpec::chat_message("x")).await.unwrap();
    assert_eq!(report.attempts.len(), 3);
    assert!(!report.is_delivered());
}

#[tokio::test]
async fn nobody_listening_is_a_failed_attempt() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let options = PushOptions {
        retries: 0,
        ..fast()
    };
    let mut pusher = WebhookPusher::new(&url, credentials(), options).unwrap();
    let report = pusher.push(EventSpec::chat_message("x")).await.unwrap();
    assert!(matches!(&report.attempts[..], [Answer::Failed(err)] if err.contains("connect")));
}

#[test]
fn urls_are_checked() {
    for bad in ["https://x/", "ws://x/", "not a url", "/path"] {
        let err = WebhookPusher::new(bad, credentials(), PushOptions::default()).unwrap_err();
        assert!(matches!(err, WebhookPushError::Url(_)), "{bad}");
    }
}
