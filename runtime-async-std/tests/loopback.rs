//! Loopback tests against an in-test WebSocket server, each run under smol's executor and
//! under async-std's.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use async_io::Timer;
use common::{APP_ID, Got, RunFuture, SECRET};
use open_event_async_std::{Client, Dispatcher, Event, Handler, State};
use tungstenite::Message;

/// A client for `endpoint` with short timeouts and no reconnects (a broken server then ends
/// the test with an error instead of hanging it).
fn builder(endpoint: &str) -> open_event_async_std::ClientBuilder {
    Client::builder(APP_ID, SECRET)
        .endpoint(endpoint)
        .auto_reconnect(false)
        .connect_timeout(Duration::from_secs(5))
        .seed(7)
}

/// KSO-1 headers, one event acked 200 with the handler run once, one ping answered with
/// exactly one pong, then a requested stop.
fn smoke(block_on: fn(RunFuture) -> Result<(), open_event_async_std::RunError>) {
    let (listener, endpoint) = common::listen();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen_calls = Arc::clone(&calls);
    let client = builder(&endpoint)
        .handler(move |event: Event| {
            let calls = Arc::clone(&seen_calls);
            async move {
                assert_eq!(event.event_code(), "kso.app_chat.create");
                assert_eq!(event.data, r#"{"chat_id":"c1"}"#);
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<(), std::io::Error>(())
            }
        })
        .build()
        .expect("valid client");
    let handle = client.handle();
    assert_eq!(handle.state(), State::Connecting);

    let server_handle = handle.clone();
    let server = thread::spawn(move || {
        let (mut ws, seen) = common::accept(&listener);
        seen.assert_kso1();
        let frame = common::event_frame(
            "kso.app_chat",
            "create",
            "0123456789abcdef",
            r#"{"chat_id":"c1"}"#,
        );
        ws.send(Message::text(frame)).expect("send the event");
        ws.send(Message::Ping(b"hb-1".to_vec().into()))
            .expect("send a ping");
        let mut got = Vec::new();
        while !(got.iter().any(|g| matches!(g, Got::Ack(_)))
            && got.iter().any(|g| matches!(g, Got::Pong(_))))
        {
            got.push(common::next(&mut ws).expect("an ack and a pong before the end"));
        }
        server_handle.stop();
        got.extend(common::read_to_end(&mut ws));
        got
    });

    let result = block_on(Box::pin(client.run()));
    let got = common::join(server);
    assert_eq!(result, Ok(()));

    let acks: Vec<_> = got
        .iter()
        .filter_map(|g| match g {
            Got::Ack(ack) => Some(ack),
            _ => None,
        })
        .collect();
    assert_eq!(acks.len(), 1, "{got:?}");
    assert_eq!(
        (acks[0].nonce.as_str(), acks[0].code),
        ("0123456789abcdef", 200)
    );
    let pongs: Vec<_> = got.iter().filter(|g| matches!(g, Got::Pong(_))).collect();
    assert_eq!(
        pongs,
        [&Got::Pong(b"hb-1".to_vec())],
        "exactly one pong: {got:?}"
    );
    assert_eq!(got.last(), Some(&Got::Close(Some(1000))), "{got:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    assert!(handle.is_stopped());
    let stats = handle.stats();
    assert_eq!(
        (stats.events_delivered, stats.acked_ok, stats.pings),
        (1, 1, 1)
    );
}

#[test]
fn smoke_under_smol() {
    smoke(common::on_smol);
}

#[test]
fn smoke_under_async_std() {
    smoke(common::on_async_std);
}

/// A stop while a handler runs: the handler finishes, its ack goes out, then the close frame.
fn graceful_stop(block_on: fn(RunFuture) -> Result<(), open_event_async_std::RunError>) {
    let (listener, endpoint) = common::listen();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let client = builder(&endpoint)
        .handler(move |_event: Event| {
            let started = started_tx.clone();
            async move {
                started.send(()).expect("test alive");
                Timer::after(Duration::from_millis(200)).await;
                Ok::<(), std::io::Error>(())
            }
        })
        .build()
        .expect("valid client");
    let handle = client.handle();

    let server_handle = handle.clone();
    let server = thread::spawn(move || {
        let (mut ws, _) = common::accept(&listener);
        let frame = common::event_frame("kso.app_chat", "create", "fedcba9876543210", "{}");
        ws.send(Message::text(frame)).expect("send the event");
        started_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the handler starts");
        let stopped_at = Instant::now();
        server_handle.stop();
        let got = common::read_to_end(&mut ws);
        (got, stopped_at.elapsed())
    });

    let result = block_on(Box::pin(client.run()));
    let (got, elapsed) = common::join(server);
    assert_eq!(result, Ok(()));
    assert_eq!(got.len(), 2, "{got:?}");
    let Got::Ack(ack) = &got[0] else {
        panic!("the ack comes first: {got:?}")
    };
    assert_eq!((ack.nonce.as_str(), ack.code), ("fedcba9876543210", 200));
    assert_eq!(got[1], Got::Close(Some(1000)));
    // The close waited for the handler (it sleeps 200 ms), not for the drain timeout (5 s).
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(handle.state(), State::Stopped);
}

#[test]
fn graceful_stop_under_smol() {
    graceful_stop(common::on_smol);
}

#[test]
fn graceful_stop_under_async_std() {
    graceful_stop(common::on_async_std);
}

/// A slow handler delays neither pongs nor other events' acks; a panicking handler is acked
/// with 500.
#[test]
fn slow_handler_delays_nothing_and_panics_become_500() {
    let (listener, endpoint) = common::listen();
    let mut dispatcher = Dispatcher::new();
    dispatcher.on(
        "kso.test.slow",
        Handler::new(|_event: Event| async {
            Timer::after(Duration::from_millis(800)).await;
            Ok::<(), std::io::Error>(())
        }),
    );
    dispatcher.on(
        "kso.test.panic",
        Handler::new(|_event: Event| async {
            if true {
                panic!("handler bug");
            }
            Ok::<(), std::io::Error>(())
        }),
    );
    let client = builder(&endpoint)
        .dispatcher(dispatcher)
        .build()
        .expect("valid client");
    let handle = client.handle();

    let server = thread::spawn(move || {
        let (mut ws, _) = common::accept(&listener);
        let slow = common::event_frame("kso.test", "slow", "1111111111111111", "{}");
        let panics = common::event_frame("kso.test", "panic", "2222222222222222", "{}");
        ws.send(Message::text(slow)).expect("send");
        ws.send(Message::text(panics)).expect("send");
        let sent = Instant::now();
        ws.send(Message::Ping(b"p".to_vec().into())).expect("send");
        // Until the slow ack: record what arrived and how long after the ping.
        let mut got = Vec::new();
        loop {
            let frame = common::next(&mut ws).expect("frames before the end");
            let done = matches!(&frame, Got::Ack(ack) if ack.nonce == "1111111111111111");
            got.push((frame, sent.elapsed()));
            if done {
                break;
            }
        }
        handle.stop();
        common::read_to_end(&mut ws);
        got
    });

    let result = common::on_smol(Box::pin(client.run()));
    let got = common::join(server);
    assert_eq!(result, Ok(()));
    assert_eq!(got.len(), 3, "{got:?}");
    // Pong and the panicking event's ack come at once, the slow ack last.
    for (frame, at) in &got[..2] {
        assert!(*at < Duration::from_millis(600), "{frame:?} after {at:?}");
        match frame {
            Got::Pong(payload) => assert_eq!(payload, b"p"),
            Got::Ack(ack) => {
                assert_eq!((ack.nonce.as_str(), ack.code), ("2222222222222222", 500));
                let msg = ack.msg.as_deref().unwrap_or_default();
                assert!(msg.contains("handler bug"), "{msg}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let (Got::Ack(slow), at) = &got[2] else {
        panic!("the slow ack comes last: {got:?}")
    };
    assert_eq!(slow.code, 200);
    assert!(*at >= Duration::from_millis(700), "{at:?}");
}

/// A server that rejects the handshake with 401 stops the client with a typed reason.
#[test]
#[allow(clippy::result_large_err)] // the callback's error type is tungstenite's
fn unauthorized_handshake_stops_with_auth_rejected() {
    let (listener, endpoint) = common::listen();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        let result = tungstenite::accept_hdr(tcp, |_req: &_, _resp| {
            let mut reject = tungstenite::handshake::server::ErrorResponse::new(None);
            *reject.status_mut() = tungstenite::http::StatusCode::UNAUTHORIZED;
            Err(reject)
        });
        assert!(result.is_err());
    });
    let client = Client::builder(APP_ID, SECRET)
        .endpoint(&endpoint)
        .handler(|_event: Event| async { Ok::<(), std::io::Error>(()) })
        .build()
        .expect("valid client");
    let result = common::on_async_std(Box::pin(client.run()));
    common::join(server);
    match result {
        Err(open_event_async_std::RunError::AuthRejected { status: 401, .. }) => {}
        other => panic!("expected AuthRejected(401), got {other:?}"),
    }
}

/// Through an HTTP proxy: the client asks for a CONNECT tunnel to the endpoint (with basic
/// auth from the proxy URL), then speaks WebSocket inside it. The test proxy answers 200 and
/// plays the server itself.
#[test]
fn http_connect_proxy_tunnel() {
    use std::io::{Read, Write};

    let (listener, proxy_endpoint) = common::listen();
    let proxy_port = listener.local_addr().expect("addr").port();
    let client = builder("ws://events.test:8080/v7/event/ws")
        .proxy(format!("http://user:pass@127.0.0.1:{proxy_port}"))
        .handler(|_event: Event| async { Ok::<(), std::io::Error>(()) })
        .build()
        .expect("valid client");
    let handle = client.handle();
    drop(proxy_endpoint);

    let server = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().expect("accept");
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut byte).expect("the CONNECT request");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).expect("ASCII request");
        tcp.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .expect("answer CONNECT");
        let mut ws = tungstenite::accept(tcp).expect("WebSocket inside the tunnel");
        let frame = common::event_frame("kso.app_chat", "create", "cccccccccccccccc", "{}");
        ws.send(Message::text(frame)).expect("send the event");
        let first = common::next(&mut ws);
        handle.stop();
        common::read_to_end(&mut ws);
        (head, first)
    });

    let result = common::on_smol(Box::pin(client.run()));
    let (head, first) = common::join(server);
    assert_eq!(result, Ok(()));
    assert!(
        head.starts_with("CONNECT events.test:8080 HTTP/1.1\r\n"),
        "{head}"
    );
    let auth = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("proxy-authorization")
                .then(|| value.trim().to_owned())
        })
        .expect("a Proxy-Authorization header");
    assert_eq!(auth, "Basic dXNlcjpwYXNz");
    let Some(Got::Ack(ack)) = first else {
        panic!("an ack, got {first:?}")
    };
    assert_eq!((ack.nonce.as_str(), ack.code), ("cccccccccccccccc", 200));
}

/// `stop` before `run` ends the client at once, without touching the network.
#[test]
fn stop_before_run_returns_ok() {
    let client = builder("ws://127.0.0.1:9/v7/event/ws")
        .handler(|_event: Event| async { Ok::<(), std::io::Error>(()) })
        .build()
        .expect("valid client");
    let handle = client.handle();
    handle.stop();
    assert_eq!(common::on_async_std(Box::pin(client.run())), Ok(()));
    assert!(handle.is_stopped());
}

/// The run future can be spawned on multi-threaded executors; the handle crosses threads.
#[test]
fn run_future_is_send_and_handle_is_send_sync() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync>(_: &T) {}
    // Reconnecting (not stopping) if the task dials before `stop`: the stop is then requested.
    let client = builder("ws://127.0.0.1:9/v7/event/ws")
        .auto_reconnect(true)
        .build()
        .expect("valid client");
    let handle = client.handle();
    send_sync(&handle);
    let run = client.run();
    send(&run);
    // Spawned on async-std's pool, stopped from this thread.
    let task = async_std::task::spawn(run);
    handle.stop();
    assert_eq!(async_std::task::block_on(task), Ok(()));
}

/// Bad settings fail in `build`, with the field named.
#[test]
fn build_rejects_bad_config_and_missing_ca_file() {
    let err = builder("ws://127.0.0.1:9/v7/event/ws")
        .reconnect_jitter(2.0)
        .build()
        .expect_err("jitter out of range");
    assert!(
        matches!(&err, open_event_async_std::BuildError::Config(e) if e.field() == "reconnect_jitter")
    );
    let err = builder("ws://127.0.0.1:9/v7/event/ws")
        .ca_file("/nonexistent/ca.pem")
        .build()
        .expect_err("missing CA file");
    assert!(matches!(
        err,
        open_event_async_std::BuildError::Transport(_)
    ));
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
