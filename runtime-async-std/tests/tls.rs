//! `wss://` over loopback: rustls (ring) via futures-rustls with a test CA passed as
//! `ca_file`, and a clear error when the server's certificate is not trusted.

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{APP_ID, Got, SECRET};
use open_event_async_std::{Client, Event, Notice, RunError};
use open_event_core::connection::{DisconnectCause, OpenError};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use tungstenite::{Message, WebSocket};

/// A CA (as PEM, written to a file) and a server config for 127.0.0.1 signed by it.
struct Pki {
    ca_file: PathBuf,
    server: Arc<ServerConfig>,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

fn pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");
    let ca_file = std::env::temp_dir().join(format!(
        "open-event-async-std-{name}-{}.pem",
        std::process::id()
    ));
    std::fs::write(&ca_file, ca.pem()).expect("write the CA file");
    let key = PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("leaf key DER");
    let certs: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
    let server =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
    Pki {
        ca_file,
        server: Arc::new(server),
    }
}

type TlsWs = WebSocket<StreamOwned<ServerConnection, TcpStream>>;

fn next(ws: &mut TlsWs) -> Option<Got> {
    match ws.read() {
        Ok(Message::Text(text)) => Some(Got::Ack(
            open_event_core::codec::decode_ack(text.as_str()).expect("an ack"),
        )),
        Ok(Message::Pong(payload)) => Some(Got::Pong(payload.to_vec())),
        Ok(Message::Close(frame)) => Some(Got::Close(frame.map(|f| u16::from(f.code)))),
        Ok(_) => Some(Got::Ping),
        Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => None,
        Err(err) => panic!("server read failed: {err}"),
    }
}

#[test]
fn wss_with_a_ca_file_acks_and_closes_cleanly() {
    let pki = pki("trusted");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(format!("wss://127.0.0.1:{port}/v7/event/ws"))
        .ca_file(&pki.ca_file)
        .auto_reconnect(false)
        .handler(|_event: Event| async { Ok::<(), std::io::Error>(()) })
        .build()
        .expect("valid client");
    let handle = client.handle();
    let server_config = Arc::clone(&pki.server);
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let tls = StreamOwned::new(ServerConnection::new(server_config).expect("tls"), tcp);
        let mut ws = tungstenite::accept(tls).expect("TLS + WebSocket handshake");
        let frame = common::event_frame("kso.app_chat", "create", "aaaaaaaaaaaaaaaa", "{}");
        ws.send(Message::text(frame)).expect("send the event");
        let first = next(&mut ws);
        handle.stop();
        let mut got = vec![first];
        while let Some(frame) = next(&mut ws) {
            got.push(Some(frame));
        }
        // Dropped without TLS close_notify: the client must still see a clean close.
        got
    });
    let result = common::on_smol(Box::pin(client.run()));
    let got = common::join(server);
    assert_eq!(result, Ok(()));
    let Some(Some(Got::Ack(ack))) = got.first() else {
        panic!("an ack first: {got:?}")
    };
    assert_eq!((ack.nonce.as_str(), ack.code), ("aaaaaaaaaaaaaaaa", 200));
    assert_eq!(got.last(), Some(&Some(Got::Close(Some(1000)))));
}

#[test]
fn untrusted_certificate_fails_with_a_clear_message() {
    let pki = pki("untrusted");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&notices);
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(format!("wss://127.0.0.1:{port}/v7/event/ws"))
        .auto_reconnect(false)
        .handler(|_event: Event| async { Ok::<(), std::io::Error>(()) })
        .on_notice(move |notice| seen.lock().expect("lock").push(notice.clone()))
        .build()
        .expect("valid client");
    let server_config = Arc::clone(&pki.server);
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let tls = StreamOwned::new(ServerConnection::new(server_config).expect("tls"), tcp);
        // The client aborts the TLS handshake.
        assert!(tungstenite::accept(tls).is_err());
    });
    let result = common::on_async_std(Box::pin(client.run()));
    common::join(server);
    let Err(RunError::ConnectionLost(DisconnectCause::ConnectFailed(OpenError::Transport(text)))) =
        &result
    else {
        panic!("expected a failed connect, got {result:?}")
    };
    assert!(text.contains("TLS certificate not trusted"), "{text}");
    assert!(text.contains("ca_file"), "{text}");
    let notices = notices.lock().expect("lock");
    assert!(
        matches!(notices.last(), Some(Notice::Stopped(reason)) if *reason == result.clone().unwrap_err().into()),
        "{notices:?}"
    );
}
