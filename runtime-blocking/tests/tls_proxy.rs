//! `wss://` with a test CA, an untrusted certificate, and a tunnel through an HTTP CONNECT proxy.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use open_event_blocking::{Client, RunError};
use open_event_core::connection::{DisconnectCause, OpenError};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// A test CA (PEM) and a server config whose certificate (localhost, 127.0.0.1) it signed.
fn pki() -> (String, Arc<ServerConfig>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let cert: CertificateDer<'static> = leaf.der().clone();
    let key = PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
    (ca.pem(), Arc::new(config))
}

/// A `wss://` listener on loopback.
fn bind_tls() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, format!("wss://localhost:{port}/v7/event/ws"))
}

/// Accepts one TLS connection, upgrades it, sends one event and waits for its ack; returns what
/// the server saw.
fn serve_one_event(listener: &TcpListener, config: Arc<ServerConfig>, nonce: &str) -> Vec<Seen> {
    let (tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let tls = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
    let mut ws = accept(tls);
    ws.send(event_frame(nonce, "{}")).unwrap();
    let mut log = Vec::new();
    read_until(&mut ws, &mut log, |log| {
        log.iter().any(|s| s.is_ack_of(nonce))
    });
    log
}

#[test]
fn wss_with_a_ca_file() {
    let (ca_pem, config) = pki();
    let ca = TempFile::new(ca_pem.as_bytes());
    let (listener, endpoint) = bind_tls();
    let server = spawn("server", move || {
        serve_one_event(&listener, config, "nonce-tls-000001")
    });
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(endpoint)
        .ca_file(&ca.0)
        .handler(|_| Ok::<(), std::io::Error>(()))
        .build()
        .unwrap();
    let handle = client.handle();
    let run = spawn("client", move || client.run());
    let log = join(server);
    handle.stop();
    // The server is gone without a close handshake: the stop still ends the client.
    assert_eq!(join(run), Ok(()));
    assert!(log.contains(&Seen::Ack {
        nonce: "nonce-tls-000001".into(),
        code: 200
    }));
}

#[test]
fn untrusted_certificate_fails_with_a_clear_message() {
    let (_ca_pem, config) = pki();
    let (listener, endpoint) = bind_tls();
    let server = spawn("server", move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
        // The client aborts the handshake with an alert.
        let mut buf = [0u8; 64];
        assert!(tls.read(&mut buf).is_err() || tls.conn.is_handshaking());
    });
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(endpoint)
        .max_retries(Some(0))
        .build()
        .unwrap();
    let result = join(spawn("client", move || client.run()));
    join(server);
    match result {
        Err(RunError::RetriesExhausted {
            last: DisconnectCause::ConnectFailed(OpenError::Transport(text)),
            ..
        }) => {
            assert!(text.contains("TLS certificate not trusted"), "{text}");
            assert!(text.contains("ca_file"), "{text}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

/// A one-shot HTTP CONNECT proxy: checks the request, then pipes bytes both ways.
fn proxy(listener: TcpListener, expect_target: String) {
    let (mut client, _) = listener.accept().unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(client.read(&mut byte).unwrap(), 1, "EOF inside CONNECT");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(
        head.starts_with(&format!("CONNECT {expect_target} HTTP/1.1\r\n")),
        "{head}"
    );
    assert!(
        head.contains("Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"),
        "{head}"
    );
    let upstream = TcpStream::connect(&expect_target).unwrap();
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    let pipe = |mut from: TcpStream, mut to: TcpStream| {
        move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        }
    };
    let up = spawn(
        "proxy-up",
        pipe(client.try_clone().unwrap(), upstream.try_clone().unwrap()),
    );
    let down = spawn("proxy-down", pipe(upstream, client));
    let _ = up.join();
    let _ = down.join();
}

#[test]
fn wss_through_a_connect_proxy() {
    let (ca_pem, config) = pki();
    let ca = TempFile::new(ca_pem.as_bytes());
    let (listener, endpoint) = bind_tls();
    let target = format!("localhost:{}", listener.local_addr().unwrap().port());
    let proxy_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!(
        "http://user:pass@127.0.0.1:{}",
        proxy_listener.local_addr().unwrap().port()
    );
    let proxy = spawn("proxy", move || proxy(proxy_listener, target));
    let (acked, ack_seen) = mpsc::channel();
    let server = spawn("server", move || {
        let log = serve_one_event(&listener, config, "nonce-proxy-0001");
        acked.send(()).unwrap();
        log
    });
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(endpoint)
        .ca_file(&ca.0)
        .proxy(proxy_url)
        .handler(|_| Ok::<(), std::io::Error>(()))
        .build()
        .unwrap();
    let handle = client.handle();
    let run = spawn("client", move || client.run());
    ack_seen
        .recv_timeout(PATIENCE)
        .expect("ack through the proxy");
    handle.stop();
    assert_eq!(join(run), Ok(()));
    join(server);
    join(proxy);
}
