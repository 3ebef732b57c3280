//! Loopback smoke tests: a tiny WebSocket server written here (ws and wss), one real client.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tokio::TokioAdapter;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use futures_util::StreamExt;
use open_event_core::codec::{Ack, decode_ack};
use open_event_core::crypto::EventCipher;
use open_event_core::{Credentials, kso1};
use open_event_tokio::{Client, Notice, RunError};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const APP_ID: &str = "AK20240101TEST";
const SECRET: &str = "sk_test_secret_0123456789abcdef";
const WAIT: Duration = Duration::from_secs(10);

/// Checks the KSO-1 handshake headers; the upgrade is refused with 401 when they are wrong.
#[allow(clippy::result_large_err)] // the signature of tungstenite's handshake `Callback`
fn check_handshake(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let date = header(kso1::HEADER_DATE);
    let signed = kso1::Request {
        method: "GET",
        request_uri: "/v7/event/ws",
        content_type: "",
        date: &date,
        body: &[],
    };
    let credentials = Credentials::new(APP_ID, SECRET);
    let ok = request.uri().path() == "/v7/event/ws"
        && kso1::parse_date(&date).is_ok()
        && kso1::verify(&credentials, &signed, &header(kso1::HEADER_AUTHORIZATION)).is_ok()
        && header(kso1::HEADER_ACK_MODE) == kso1::ACK_MODE_REQUIRED;
    if ok {
        Ok(response)
    } else {
        let mut refusal = ErrorResponse::new(Some("bad KSO-1 handshake".to_owned()));
        *refusal.status_mut() = http_status(401);
        Err(refusal)
    }
}

fn http_status(code: u16) -> async_tungstenite::tungstenite::http::StatusCode {
    async_tungstenite::tungstenite::http::StatusCode::from_u16(code).unwrap()
}

fn sealed_event(nonce: &str, data: &str) -> String {
    let cipher = EventCipher::new(&Credentials::new(APP_ID, SECRET));
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    cipher
        .seal(
            "kso.app_chat",
            "create",
            i64::try_from(time).unwrap(),
            nonce,
            data,
        )
        .unwrap()
        .to_json()
}

/// What the server saw from the client after sending its frames.
#[derive(Debug, Default)]
struct Seen {
    acks: Vec<Ack>,
    pongs: Vec<Vec<u8>>,
    close: bool,
}

/// Sends `events` and one ping, then records what the client sends until its close frame.
async fn serve<S>(mut ws: WebSocketStream<TokioAdapter<S>>, events: Vec<String>) -> Seen
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for event in events {
        ws.send(Message::text(event)).await.unwrap();
    }
    ws.send(Message::Ping(b"hb-1".to_vec().into()))
        .await
        .unwrap();
    let mut seen = Seen::default();
    while let Some(message) = ws.next().await {
        match message.unwrap() {
            Message::Text(text) => seen.acks.push(decode_ack(text.as_str()).unwrap()),
            Message::Pong(payload) => seen.pongs.push(payload.to_vec()),
            Message::Close(_) => seen.close = true,
            other => panic!("unexpected message {other:?}"),
        }
        if seen.close {
            break;
        }
    }
    seen
}

#[tokio::test]
async fn acks_and_pongs_once_over_ws() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = async_tungstenite::tokio::accept_hdr_async(tcp, check_handshake)
            .await
            .unwrap();
        serve(
            ws,
            vec![sealed_event("0123456789abcdef", r#"{"chat_id":"c1"}"#)],
        )
        .await
    });

    let handled = Arc::new(Mutex::new(Vec::new()));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(format!("ws://127.0.0.1:{port}/v7/event/ws"))
        .handler({
            let handled = Arc::clone(&handled);
            move |event| {
                let handled = Arc::clone(&handled);
                async move {
                    handled
                        .lock()
                        .unwrap()
                        .push((event.event_code().to_owned(), event.data));
                    Ok::<(), std::io::Error>(())
                }
            }
        })
        .on_notice({
            let notices = Arc::clone(&notices);
            move |notice: &Notice| notices.lock().unwrap().push(notice.to_string())
        })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = tokio::spawn(client.run());

    // Stop once the server has its ack and its pong, plus a grace period for a second pong.
    let stopper = {
        let handle = handle.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let stats = handle.stats();
                if stats.acked_ok == 1 && stats.pings == 1 {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no ack/ping: {stats:?}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            handle.stop();
        })
    };

    let result = tokio::time::timeout(WAIT, run)
        .await
        .expect("client stops")
        .unwrap();
    assert_eq!(result, Ok(()));
    stopper.await.unwrap();
    let seen = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();

    assert_eq!(seen.acks.len(), 1, "{seen:?}");
    assert_eq!(seen.acks[0].nonce, "0123456789abcdef");
    assert_eq!(seen.acks[0].code, 200);
    assert_eq!(
        seen.pongs,
        vec![b"hb-1".to_vec()],
        "exactly one pong per ping"
    );
    assert!(seen.close, "a graceful stop sends a close frame");
    assert_eq!(
        *handled.lock().unwrap(),
        vec![(
            "kso.app_chat.create".to_owned(),
            r#"{"chat_id":"c1"}"#.to_owned()
        )]
    );
    assert!(handle.is_stopped());
    let notices = notices.lock().unwrap();
    assert_eq!(
        notices.first().map(String::as_str),
        Some("connected"),
        "{notices:?}"
    );
    assert_eq!(
        notices.last().map(String::as_str),
        Some("stopped: stopped as requested")
    );
}

#[tokio::test]
async fn a_panicking_handler_is_acked_500_and_the_client_keeps_running() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = async_tungstenite::tokio::accept_hdr_async(tcp, check_handshake)
            .await
            .unwrap();
        let events = vec![
            sealed_event("panic00000000000", r#"{"n":1}"#),
            sealed_event("fine000000000000", r#"{"n":2}"#),
        ];
        serve(ws, events).await
    });
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(format!("ws://127.0.0.1:{port}/v7/event/ws"))
        .handler(|event| async move {
            if event.nonce.starts_with("panic") {
                panic!("handler bug");
            }
            Ok::<(), std::io::Error>(())
        })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = tokio::spawn(client.run());
    let deadline = tokio::time::Instant::now() + WAIT;
    while handle.stats().acked_ok + handle.stats().acked_error < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            handle.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.stop();
    assert_eq!(
        tokio::time::timeout(WAIT, run).await.unwrap().unwrap(),
        Ok(())
    );
    let seen = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    let mut acks = seen.acks;
    acks.sort_by(|a, b| a.nonce.cmp(&b.nonce));
    assert_eq!(
        (acks[0].nonce.as_str(), acks[0].code),
        ("fine000000000000", 200)
    );
    assert_eq!(
        (acks[1].nonce.as_str(), acks[1].code),
        ("panic00000000000", 500)
    );
    assert_eq!(
        acks[1].msg.as_deref(),
        Some("handler panicked: handler bug")
    );
}

/// A CA, and a server config for 127.0.0.1 signed by it.
fn test_pki() -> (String, Arc<ServerConfig>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
    (ca.pem(), Arc::new(config))
}

/// A PEM file in the temp directory, removed on drop.
struct TempPem(std::path::PathBuf);

impl TempPem {
    fn new(pem: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "open-event-tokio-ca-{}-{}.pem",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, pem).unwrap();
        Self(path)
    }
}

impl Drop for TempPem {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A wss server: serves the first connection whose TLS handshake succeeds.
async fn wss_server(config: Arc<ServerConfig>) -> (u16, tokio::task::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            // An untrusting client aborts the handshake: wait for the next one.
            let Ok(tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let ws = async_tungstenite::tokio::accept_hdr_async(tls, check_handshake)
                .await
                .unwrap();
            return serve(ws, vec![sealed_event("0123456789abcdef", "{}")]).await;
        }
    });
    (port, task)
}

#[tokio::test]
async fn wss_with_a_trusted_ca_file() {
    let (ca_pem, server_config) = test_pki();
    let ca = TempPem::new(&ca_pem);
    let (port, server) = wss_server(server_config).await;
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(format!("wss://127.0.0.1:{port}/v7/event/ws"))
        .ca_file(&ca.0)
        .handler(|_event| async { Ok::<(), std::io::Error>(()) })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = tokio::spawn(client.run());
    let deadline = tokio::time::Instant::now() + WAIT;
    while handle.stats().acked_ok < 1 || handle.stats().pings < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            handle.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.stop();
    assert_eq!(
        tokio::time::timeout(WAIT, run).await.unwrap().unwrap(),
        Ok(())
    );
    let seen = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert_eq!(seen.acks.len(), 1);
    assert_eq!(seen.pongs.len(), 1);
}

#[tokio::test]
async fn wss_with_an_untrusted_certificate_fails_clearly() {
    let (_ca_pem, server_config) = test_pki();
    let (port, _server) = wss_server(server_config).await;
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(format!("wss://127.0.0.1:{port}/v7/event/ws"))
        .max_retries(Some(1))
        .reconnect_base(Duration::from_millis(10))
        .handler(|_event| async { Ok::<(), std::io::Error>(()) })
        .build()
        .unwrap();
    let result = tokio::time::timeout(WAIT, client.run()).await.unwrap();
    let Err(reason @ RunError::RetriesExhausted { .. }) = result else {
        panic!("expected the client to give up, got {result:?}");
    };
    let text = reason.to_string();
    assert!(text.contains("TLS certificate not trusted"), "{text}");
    assert!(text.contains("ca_file"), "{text}");
}

/// Waits until `f` holds, failing after [`WAIT`].
async fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A ws server for one connection: sends one event and a ping, records until the close.
async fn ws_server() -> (u16, tokio::task::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        // A refused handshake (401) ends the session before it starts.
        match async_tungstenite::tokio::accept_hdr_async(tcp, check_handshake).await {
            Ok(ws) => serve(ws, vec![sealed_event("0123456789abcdef", "{}")]).await,
            Err(_) => Seen::default(),
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_through_an_http_connect_proxy() {
    let (port, server) = ws_server().await;
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let proxy_task = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, _) = proxy.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            client.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let mut upstream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        head
    });
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(format!("ws://127.0.0.1:{port}/v7/event/ws"))
        .proxy(format!("http://user:pw@127.0.0.1:{proxy_port}"))
        .handler(|_event| async { Ok::<(), std::io::Error>(()) })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = tokio::spawn(client.run());
    wait_for("the ack", || handle.stats().acked_ok == 1).await;
    handle.stop();
    assert_eq!(
        tokio::time::timeout(WAIT, run).await.unwrap().unwrap(),
        Ok(())
    );
    let seen = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert_eq!((seen.acks.len(), seen.pongs.len()), (1, 1));
    let head = tokio::time::timeout(WAIT, proxy_task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        head.starts_with(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n")),
        "{head}"
    );
    assert!(
        head.contains("Proxy-Authorization: Basic dXNlcjpwdw==\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn a_rejected_handshake_stops_with_the_status() {
    let (port, _server) = ws_server().await;
    let client = Client::builder(APP_ID, "a wrong secret")
        .endpoint(format!("ws://127.0.0.1:{port}/v7/event/ws"))
        .handler(|_event| async { Ok::<(), std::io::Error>(()) })
        .build()
        .unwrap();
    let handle = client.handle();
    let result = tokio::time::timeout(WAIT, client.run()).await.unwrap();
    assert!(
        matches!(result, Err(RunError::AuthRejected { status: 401, .. })),
        "{result:?}"
    );
    assert!(handle.is_stopped());
}

#[tokio::test]
async fn stop_waits_for_a_slow_handler_and_acks_it() {
    let (port, server) = ws_server().await;
    let started = Arc::new(AtomicU32::new(0));
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(format!("ws://127.0.0.1:{port}/v7/event/ws"))
        .handler({
            let started = Arc::clone(&started);
            move |_event| {
                started.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    Ok::<(), std::io::Error>(())
                }
            }
        })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = tokio::spawn(client.run());
    wait_for("the delivery", || started.load(Ordering::SeqCst) == 1).await;
    handle.stop();
    assert_eq!(
        tokio::time::timeout(WAIT, run).await.unwrap().unwrap(),
        Ok(())
    );
    let seen = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert_eq!(
        seen.acks.len(),
        1,
        "the in-flight event is acked before the close"
    );
    assert_eq!(seen.acks[0].code, 200);
    assert!(seen.close);
}
