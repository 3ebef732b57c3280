//! The loopback runner against a raw async-tungstenite client speaking the protocol by hand.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tokio::ConnectStream;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::{SinkExt as _, StreamExt as _};
use open_event_core::Credentials;
use open_event_core::codec::{self, Frame, GoAwayReason};
use open_event_core::kso1;
use open_event_emulator::server::{AckStatus, ConnectionEnd, EventSpec, Malformed, ServerConfig};
use open_event_emulator::{Emulator, EmulatorHandle, EmulatorOptions};

const WAIT: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn start(config: impl FnOnce(ServerConfig) -> ServerConfig) -> EmulatorHandle {
    Emulator::start(EmulatorOptions::new(config(ServerConfig::generated(
        fastrand_seed(),
    ))))
    .await
    .expect("emulator starts")
}

fn fastrand_seed() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64)
}

/// The upgrade request a client of the app with `credentials` sends to `url`.
fn signed_request(url: &str, credentials: &Credentials, ack_mode: bool) -> Request {
    let uri: http::Uri = url.parse().expect("valid url");
    let mut request = url.into_client_request().expect("valid request");
    let headers = kso1::handshake_headers(credentials, &uri, SystemTime::now(), ack_mode);
    for (name, value) in headers.iter() {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("valid name"),
            http::HeaderValue::from_str(value).expect("valid value"),
        );
    }
    request
}

async fn connect(
    emulator: &EmulatorHandle,
    credentials: &Credentials,
) -> Result<WebSocketStream<ConnectStream>, WsError> {
    let request = signed_request(&emulator.url(), credentials, true);
    async_tungstenite::tokio::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// Reads until a text frame (pings are answered by tungstenite on the way).
async fn next_text<S>(ws: &mut S) -> String
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
{
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return text.as_str().to_owned(),
            Ok(Some(Ok(_))) => {}
            other => panic!("no text frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_event_is_received_opened_and_acked() {
    let emulator = start(|c| c).await;
    let mut ws = connect(&emulator, emulator.credentials()).await.unwrap();
    emulator.wait_for_connections(1, WAIT).await.unwrap();

    let nonce = emulator
        .push_event(EventSpec::chat_message("hello"))
        .unwrap();
    let text = next_text(&mut ws).await;
    let event = emulator.cipher().open_text(&text).unwrap();
    assert_eq!(event.nonce, nonce);
    assert_eq!(event.event_code(), "kso.app_chat.message.create");
    assert!(event.data.contains(r#""text":"hello""#), "{}", event.data);

    ws.send(Message::text(codec::encode_ack(&event.nonce, 200, None)))
        .await
        .unwrap();
    emulator.wait_for_acks(1, WAIT).await.unwrap();
    let report = emulator.report();
    assert_eq!(report.acks.len(), 1);
    assert_eq!(report.acks[0].nonce, nonce);
    assert_eq!(report.acks[0].status, AckStatus::Accepted);
    assert_eq!(report.pending, 0);
    assert!(report.connections[0].ack_mode);

    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    emulator.wait_for_all_closed(WAIT).await.unwrap();
    assert!(matches!(
        &emulator.report().connections[0].end,
        Some(ConnectionEnd::ClosedByClient { code: Some(1000), reason }) if reason == "bye"
    ));
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_gets_http_401_with_a_reason() {
    let emulator = start(|c| c).await;
    let wrong = Credentials::new(emulator.credentials().app_id(), "not-the-secret");
    let Err(WsError::Http(response)) = connect(&emulator, &wrong).await else {
        panic!("the upgrade succeeded");
    };
    assert_eq!(response.status(), 401);
    let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
    assert!(body.contains("signature does not match"), "{body}");
    let report = emulator.report();
    assert_eq!(report.rejected(), 1);
    assert_eq!(report.accepted(), 0);

    emulator.reject_next_handshakes(429, 1).unwrap();
    let Err(WsError::Http(response)) = connect(&emulator, emulator.credentials()).await else {
        panic!("the upgrade succeeded");
    };
    assert_eq!(response.status(), 429);
    assert!(connect(&emulator, emulator.credentials()).await.is_ok());
}

#[tokio::test]
async fn every_ping_gets_exactly_one_pong() {
    let emulator = start(|c| c.ping_interval(ms(20))).await;
    let mut ws = connect(&emulator, emulator.credentials()).await.unwrap();
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
    emulator
        .wait_for(
            |r| {
                r.connections[0]
                    .pings
                    .iter()
                    .filter(|p| !p.pongs.is_empty())
                    .count()
                    >= 4
            },
            WAIT,
        )
        .await
        .unwrap();
    let report = emulator.report();
    let record = &report.connections[0];
    assert!(
        record.pongs_per_ping().iter().all(|&n| n <= 1),
        "{:?}",
        record.pongs_per_ping()
    );
    assert_eq!(record.unmatched_pongs, 0);
    reader.abort();
}

#[tokio::test]
async fn goaway_is_followed_by_a_close_frame() {
    let emulator = start(|c| c.goaway_close_delay(ms(20))).await;
    let mut ws = connect(&emulator, emulator.credentials()).await.unwrap();
    emulator.wait_for_connections(1, WAIT).await.unwrap();
    emulator
        .goaway(GoAwayReason::ServerShutdown, Some(1500))
        .unwrap();
    let Ok(Frame::GoAway(goaway)) = codec::decode(&next_text(&mut ws).await) else {
        panic!("not a goaway")
    };
    assert_eq!(goaway.reason, GoAwayReason::ServerShutdown);
    assert_eq!(goaway.reconnect_ms, Some(1500));
    let close = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
    let Some(Ok(Message::Close(Some(frame)))) = close else {
        panic!("no close frame: {close:?}")
    };
    assert_eq!(u16::from(frame.code), 1001);
    assert!(matches!(
        tokio::time::timeout(WAIT, ws.next()).await,
        Ok(None)
    ));
    emulator.wait_for_all_closed(WAIT).await.unwrap();
    assert_eq!(
        emulator.report().connections[0].end,
        Some(ConnectionEnd::ClosedByServer { code: 1001 })
    );
}

#[tokio::test]
async fn a_drop_sends_no_close_frame() {
    let emulator = start(|c| c).await;
    let mut ws = connect(&emulator, emulator.credentials()).await.unwrap();
    emulator.wait_for_connections(1, WAIT).await.unwrap();
    assert_eq!(emulator.drop_connections().len(), 1);
    match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
        None | Some(Err(_)) => {}
        Some(other) => panic!("expected the socket to end, got {other:?}"),
    }
}

#[tokio::test]
async fn a_new_connection_replaces_the_old_one() {
    let emulator = start(|c| c.goaway_close_delay(ms(10))).await;
    let mut old = connect(&emulator, emulator.credentials()).await.unwrap();
    emulator.wait_for_connections(1, WAIT).await.unwrap();
    let nonce = emulator
        .push_event(EventSpec::chat_message("first"))
        .unwrap();
    let first = emulator
        .cipher()
        .open_text(&next_text(&mut old).await)
        .unwrap();
    assert_eq!(first.nonce, nonce);

    // Not acked: the new connection gets the same event again.
    let mut new = connect(&emulator, emulator.credentials()).await.unwrap();
    let Ok(Frame::GoAway(goaway)) = codec::decode(&next_text(&mut old).await) else {
        panic!("not a goaway")
    };
    assert_eq!(goaway.reason, GoAwayReason::ConnectionReplaced);
    let again = emulator
        .cipher()
        .open_text(&next_text(&mut new).await)
        .unwrap();
    assert_eq!(again.nonce, nonce);
    new.send(Message::text(codec::encode_ack(&nonce, 200, None)))
        .await
        .unwrap();
    emulator.wait_for_acks(1, WAIT).await.unwrap();
    let report = emulator.report();
    assert_eq!(report.redeliveries.len(), 1);
    assert_eq!(report.acks[0].conn, report.connections[1].id);
}

#[tokio::test]
async fn malformed_frames_arrive_as_sent() {
    let emulator = start(|c| c).await;
    let mut ws = connect(&emulator, emulator.credentials()).await.unwrap();
    emulator.wait_for_connections(1, WAIT).await.unwrap();
    emulator.send_malformed(Malformed::BadPadding).unwrap();
    emulator.send_malformed(Malformed::Binary).unwrap();
    let cipher = emulator.cipher();
    let err = cipher.open_text(&next_text(&mut ws).await).unwrap_err();
    assert_eq!(err.kind(), Malformed::BadPadding.expected_reject());
    let binary = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
    assert!(matches!(binary, Some(Ok(Message::Binary(_)))), "{binary:?}");
}

#[tokio::test]
async fn wss_with_a_generated_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let server_tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let emulator =
        Emulator::start(EmulatorOptions::new(ServerConfig::generated(3)).tls(Arc::new(server_tls)))
            .await
            .unwrap();
    let url = emulator.url_with_host("localhost");
    assert!(url.starts_with("wss://localhost:"), "{url}");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(emulator.addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client_tls))
        .connect(name, tcp)
        .await
        .unwrap();
    let request = signed_request(&url, emulator.credentials(), true);
    let (mut ws, _) = async_tungstenite::tokio::client_async(request, tls)
        .await
        .unwrap();
    let nonce = emulator.push_event(EventSpec::chat_created("c1")).unwrap();
    let event = emulator
        .cipher()
        .open_text(&next_text(&mut ws).await)
        .unwrap();
    assert_eq!(event.nonce, nonce);

    // A client that does not trust the certificate fails its TLS handshake.
    let untrusting = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(emulator.addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let refused = tokio_rustls::TlsConnector::from(Arc::new(untrusting))
        .connect(name, tcp)
        .await;
    assert!(refused.is_err());
    let deadline = Instant::now() + WAIT;
    while emulator.transport_errors().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(ms(5)).await;
    }
    assert!(
        emulator.transport_errors()[0].contains("TLS handshake"),
        "{:?}",
        emulator.transport_errors()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_events_are_all_delivered_and_acked() {
    const COUNT: u32 = 20_000;
    let emulator = start(|c| c.record_acks(false)).await;
    let ws = connect(&emulator, emulator.credentials()).await.unwrap();
    emulator.wait_for_connections(1, WAIT).await.unwrap();
    let (mut sink, mut stream) = ws.split();
    let cipher = emulator.cipher();
    let (acks, mut acks_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader = tokio::spawn(async move {
        let mut seen = 0u32;
        while seen < COUNT {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => {
                    let event = cipher.open_text(text.as_str()).unwrap();
                    acks.send(codec::encode_ack(&event.nonce, 200, None))
                        .unwrap();
                    seen += 1;
                }
                Some(Ok(_)) => {}
                other => panic!("stream ended: {other:?}"),
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(ack) = acks_rx.recv().await {
            sink.feed(Message::text(ack)).await.unwrap();
            while let Ok(ack) = acks_rx.try_recv() {
                sink.feed(Message::text(ack)).await.unwrap();
            }
            sink.flush().await.unwrap();
        }
    });
    let started = Instant::now();
    emulator
        .push_many(COUNT, &EventSpec::chat_message("load"))
        .unwrap();
    emulator
        .wait_for_acks(u64::from(COUNT), Duration::from_secs(60))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    reader.await.unwrap();
    writer.abort();
    let report = emulator.report();
    assert_eq!(report.events_sent, u64::from(COUNT));
    assert_eq!(report.ack_counts.accepted, u64::from(COUNT));
    assert!(report.acks.is_empty());
    eprintln!(
        "{COUNT} events pushed, received and acked in {elapsed:?} ({:.0} events/s, debug build)",
        f64::from(COUNT) / elapsed.as_secs_f64()
    );
}

#[tokio::test]
async fn a_script_plays_over_the_wire() {
    use open_event_emulator::server::{Script, Step};

    let emulator = start(|c| c.ping_interval(ms(15)).goaway_close_delay(ms(5))).await;
    emulator.play(
        Script::new()
            .then(Duration::ZERO, Step::WaitForConnection)
            .then(ms(10), Step::Push(EventSpec::chat_message("scripted")))
            .then(Duration::ZERO, Step::WaitForAcks)
            .then(ms(40), Step::Silence(ms(60)))
            .then(
                ms(80),
                Step::GoAway {
                    reason: GoAwayReason::HeartbeatTimeout,
                    reconnect_ms: None,
                },
            ),
    );
    let mut ws = connect(&emulator, emulator.credentials()).await.unwrap();
    let event = emulator
        .cipher()
        .open_text(&next_text(&mut ws).await)
        .unwrap();
    ws.send(Message::text(codec::encode_ack(&event.nonce, 200, None)))
        .await
        .unwrap();
    let Ok(Frame::GoAway(goaway)) = codec::decode(&next_text(&mut ws).await) else {
        panic!("not a goaway")
    };
    assert_eq!(goaway.reason, GoAwayReason::HeartbeatTimeout);
    emulator
        .wait_for(|r| r.script_finished, WAIT)
        .await
        .unwrap();
    let report = emulator.report();
    assert!(
        report.script.iter().all(|s| s.skipped.is_none()),
        "{:?}",
        report.script
    );
    // No ping went out during the 60 ms of silence.
    let silence = &report.script[3];
    let pings: Vec<_> = report.connections[0]
        .pings
        .iter()
        .map(|p| p.sent_at)
        .collect();
    assert!(
        pings
            .iter()
            .all(|&at| at <= silence.at || at >= silence.at + ms(60)),
        "{pings:?} vs silence at {:?}",
        silence.at
    );
}

#[tokio::test]
async fn a_server_clock_far_ahead_rejects_the_date() {
    let emulator =
        Emulator::start(EmulatorOptions::new(ServerConfig::generated(9)).clock_offset(3600))
            .await
            .unwrap();
    let Err(WsError::Http(response)) = connect(&emulator, emulator.credentials()).await else {
        panic!("the upgrade succeeded");
    };
    assert_eq!(response.status(), 401);
    let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
    assert!(body.contains("behind the server's clock"), "{body}");
}
