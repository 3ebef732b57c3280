//! Loopback tests of the blocking client against a tiny tungstenite server in the test.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use open_event_blocking::{BuildError, Client, Event, Notice, RunError, State};
use tungstenite::Message;

/// A client for `endpoint` with test-friendly timings.
fn client(endpoint: &str) -> open_event_blocking::ClientBuilder {
    Client::builder(APP_ID, SECRET)
        .endpoint(endpoint)
        .reconnect_base(Duration::from_millis(10))
        .reconnect_max(Duration::from_millis(50))
        .seed(7)
}

#[test]
fn smoke_event_acked_and_exactly_one_pong_per_ping() {
    let (listener, endpoint) = bind();
    let (saw_replies, replies_seen) = mpsc::channel();
    let server = spawn("server", move || {
        let mut ws = accept_tcp(&listener);
        ws.send(event_frame("nonce-smoke-0001", r#"{"chat_id":"c1"}"#))
            .unwrap();
        ws.send(Message::Ping(b"p1".to_vec().into())).unwrap();
        let mut log = Vec::new();
        read_until(&mut ws, &mut log, |log| {
            log.iter().any(|s| s.is_ack_of("nonce-smoke-0001"))
                && log.contains(&Seen::Pong(b"p1".to_vec()))
        });
        saw_replies.send(()).unwrap();
        // Everything the client writes until its close frame: a second pong would be here.
        read_until(&mut ws, &mut log, closed);
        log
    });

    let handled = Arc::new(Mutex::new(Vec::<Event>::new()));
    let seen = Arc::clone(&handled);
    let client = client(&endpoint)
        .handler(move |event| {
            seen.lock().unwrap().push(event);
            Ok::<(), std::io::Error>(())
        })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = spawn("client", move || client.run());

    replies_seen.recv_timeout(PATIENCE).expect("ack and pong");
    assert_eq!(handle.state(), State::Open);
    handle.stop();
    let log = join(server);
    assert_eq!(join(run), Ok(()));

    assert!(
        log.contains(&Seen::Ack {
            nonce: "nonce-smoke-0001".into(),
            code: 200
        }),
        "{log:?}"
    );
    assert_eq!(
        pongs(&log),
        vec![b"p1".to_vec()],
        "exactly one pong: {log:?}"
    );
    assert_eq!(log.last(), Some(&Seen::Close));
    let handled = handled.lock().unwrap();
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].event_code(), "kso.app_chat.create");
    assert_eq!(handled[0].data, r#"{"chat_id":"c1"}"#);
    assert!(handle.is_stopped());
    let stats = handle.stats();
    assert_eq!(
        (stats.events_delivered, stats.acked_ok, stats.pings),
        (1, 1, 1)
    );
}

#[test]
fn stop_from_another_thread_acks_the_handler_in_flight_before_closing() {
    let (listener, endpoint) = bind();
    let server = spawn("server", move || {
        let mut ws = accept_tcp(&listener);
        ws.send(event_frame("nonce-inflight-01", "{}")).unwrap();
        let mut log = Vec::new();
        read_until(&mut ws, &mut log, closed);
        log
    });

    let (started, handler_started) = mpsc::channel();
    let started = Mutex::new(started);
    let client = client(&endpoint)
        .handler(move |_event| {
            started.lock().unwrap().send(()).unwrap();
            thread::sleep(Duration::from_millis(300));
            Ok::<(), std::io::Error>(())
        })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = spawn("client", move || client.run());

    handler_started
        .recv_timeout(PATIENCE)
        .expect("handler started");
    let stopper = handle.clone();
    join(spawn("stopper", move || stopper.stop()));
    assert_eq!(join(run), Ok(()));
    let log = join(server);
    assert_eq!(
        log,
        vec![
            Seen::Ack {
                nonce: "nonce-inflight-01".into(),
                code: 200
            },
            Seen::Close
        ]
    );
    assert_eq!(handle.state(), State::Stopped);
}

#[test]
fn slow_handler_delays_neither_pongs_nor_other_acks() {
    const PING_EVERY: Duration = Duration::from_millis(40);
    const SLOW: Duration = Duration::from_millis(400); // ten ping intervals
    let (listener, endpoint) = bind();
    let (done, server_done) = mpsc::channel();
    let server = spawn("server", move || {
        let mut ws = accept_tcp(&listener);
        ws.send(event_frame("nonce-slow-00001", "{}")).unwrap();
        ws.send(event_frame("nonce-fast-00002", "{}")).unwrap();
        let mut log = Vec::new();
        let mut pings = 0u8;
        let mut next_ping = Instant::now();
        let deadline = Instant::now() + PATIENCE;
        while !log.iter().any(|s: &Seen| s.is_ack_of("nonce-slow-00001")) {
            assert!(
                Instant::now() < deadline,
                "no ack of the slow event: {log:?}"
            );
            if Instant::now() >= next_ping {
                ws.send(Message::Ping(vec![pings].into())).unwrap();
                pings += 1;
                next_ping += PING_EVERY;
            }
            if let Some(seen) = read_one(&mut ws) {
                assert_ne!(seen, Seen::Close, "closed early: {log:?}");
                log.push(seen);
            }
        }
        done.send(()).unwrap();
        read_until(&mut ws, &mut log, closed);
        (log, pings)
    });

    let client = client(&endpoint)
        .handler(|event: Event| {
            if event.nonce == "nonce-slow-00001" {
                thread::sleep(SLOW);
            }
            Ok::<(), std::io::Error>(())
        })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = spawn("client", move || client.run());
    server_done.recv_timeout(PATIENCE).expect("slow ack");
    handle.stop();
    assert_eq!(join(run), Ok(()));
    let (log, pings) = join(server);

    let position = |nonce: &str| log.iter().position(|s| s.is_ack_of(nonce)).unwrap();
    let (slow, fast) = (position("nonce-slow-00001"), position("nonce-fast-00002"));
    assert!(
        fast < slow,
        "the fast event's ack waited for the slow one: {log:?}"
    );
    let pongs_before_slow_ack = log[..slow]
        .iter()
        .filter(|s| matches!(s, Seen::Pong(_)))
        .count();
    assert!(
        pongs_before_slow_ack >= 2,
        "pongs waited for the slow handler: {log:?}"
    );
    // Every ping answered once, in order.
    let expected: Vec<Vec<u8>> = (0..pings).map(|i| vec![i]).collect();
    assert_eq!(pongs(&log), expected, "{log:?}");
}

#[test]
fn handler_errors_and_panics_are_acked_with_500() {
    let (listener, endpoint) = bind();
    let (saw, seen) = mpsc::channel();
    let server = spawn("server", move || {
        let mut ws = accept_tcp(&listener);
        ws.send(event_frame("nonce-error-0001", "{}")).unwrap();
        ws.send(event_frame("nonce-panic-0002", "{}")).unwrap();
        let mut log = Vec::new();
        read_until(&mut ws, &mut log, |log| {
            log.iter().filter(|s| matches!(s, Seen::Ack { .. })).count() == 2
        });
        saw.send(()).unwrap();
        read_until(&mut ws, &mut log, closed);
        log
    });
    let client = client(&endpoint)
        .handler(|event: Event| {
            if event.nonce == "nonce-panic-0002" {
                panic!("handler bug");
            }
            Err("cannot handle it")
        })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = spawn("client", move || client.run());
    seen.recv_timeout(PATIENCE).expect("two acks");
    handle.stop();
    assert_eq!(join(run), Ok(()));
    let log = join(server);
    for nonce in ["nonce-error-0001", "nonce-panic-0002"] {
        assert!(
            log.contains(&Seen::Ack {
                nonce: nonce.into(),
                code: 500
            }),
            "{log:?}"
        );
    }
    assert_eq!(handle.stats().acked_error, 2);
}

#[test]
fn server_close_reconnects_and_goaway_replaced_stops_for_good() {
    let (listener, endpoint) = bind();
    let server = spawn("server", move || {
        // First connection: the server closes it; the client must come back.
        let mut ws = accept_tcp(&listener);
        ws.close(None).unwrap();
        let mut log = Vec::new();
        read_until(&mut ws, &mut log, closed);
        // Second connection: replaced by a newer one.
        let mut ws = accept_tcp(&listener);
        ws.send(Message::text(
            r#"{"type":"goaway","reason":"connection_replaced","message":"newer client"}"#,
        ))
        .unwrap();
        ws.close(None).unwrap();
        let mut log = Vec::new();
        read_until(&mut ws, &mut log, closed);
    });
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&notices);
    let client = client(&endpoint)
        .handler(|_| Ok::<(), std::io::Error>(()))
        .on_notice(move |notice: &Notice| sink.lock().unwrap().push(notice.to_string()))
        .build()
        .unwrap();
    let result = join(spawn("client", move || client.run()));
    join(server);
    match result {
        Err(RunError::ConnectionReplaced { message }) => assert_eq!(message, "newer client"),
        other => panic!("expected ConnectionReplaced, got {other:?}"),
    }
    let notices = notices.lock().unwrap();
    assert_eq!(notices.first().map(String::as_str), Some("connected"));
    assert!(notices.iter().any(|n| n == "reconnected"), "{notices:?}");
    assert!(
        notices
            .last()
            .unwrap()
            .starts_with("stopped: the server replaced"),
        "{notices:?}"
    );
}

#[test]
#[allow(clippy::result_large_err, reason = "tungstenite's callback signature")]
fn rejected_handshake_stops_with_the_status() {
    let (listener, endpoint) = bind();
    let server = spawn("server", move || {
        let (tcp, _) = listener.accept().unwrap();
        let reject = |_: &tungstenite::handshake::server::Request,
                      _: tungstenite::handshake::server::Response|
         -> Result<_, tungstenite::handshake::server::ErrorResponse> {
            let mut response = tungstenite::handshake::server::ErrorResponse::new(None);
            *response.status_mut() = tungstenite::http::StatusCode::UNAUTHORIZED;
            Err(response)
        };
        assert!(tungstenite::accept_hdr(tcp, reject).is_err());
    });
    let client = client(&endpoint).build().unwrap();
    let result = join(spawn("client", move || client.run()));
    join(server);
    match result {
        Err(RunError::AuthRejected { status: 401, hint }) => {
            assert!(hint.contains("app secret"), "{hint}");
        }
        other => panic!("expected AuthRejected, got {other:?}"),
    }
}

#[test]
fn refused_connections_exhaust_the_retries() {
    let (listener, endpoint) = bind();
    drop(listener);
    let client = client(&endpoint).max_retries(Some(2)).build().unwrap();
    let handle = client.handle();
    match join(spawn("client", move || client.run())) {
        // The first attempt and two retries.
        Err(RunError::RetriesExhausted { attempts: 3, last }) => {
            let text = last.to_string();
            assert!(text.contains("TCP connect to 127.0.0.1:"), "{text}");
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert!(handle.is_stopped());
    let stats = handle.stats();
    assert_eq!((stats.connects, stats.reconnects), (0, 2));
}

#[test]
fn stop_before_run_returns_at_once() {
    let (_listener, endpoint) = bind();
    let client = client(&endpoint).build().unwrap();
    client.handle().stop();
    let started = Instant::now();
    assert_eq!(client.run(), Ok(()));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn stop_while_connecting_abandons_the_attempt() {
    // A listener that never completes the WebSocket handshake.
    let (listener, endpoint) = bind();
    let client = client(&endpoint)
        .connect_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let handle = client.handle();
    let run = spawn("client", move || client.run());
    let (_tcp, _) = listener.accept().unwrap();
    handle.stop();
    assert_eq!(join(run), Ok(()));
}

#[test]
fn build_errors_name_the_cause() {
    let err = Client::builder(APP_ID, SECRET)
        .max_in_flight(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::Config(_)), "{err}");
    assert!(err.to_string().contains("max_in_flight"), "{err}");

    let err = Client::builder(APP_ID, SECRET)
        .ca_file("/nonexistent/ca.pem")
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::Transport(_)), "{err}");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");

    let err = Client::builder(APP_ID, SECRET)
        .proxy("socks5://proxy:1080")
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::Transport(_)), "{err}");
    assert!(!err.to_string().contains(SECRET));
}

#[test]
fn full_backlog_pauses_reading_until_handlers_catch_up() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (listener, endpoint) = bind();
    let (quiet, quiet_seen) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let server = spawn("server", move || {
        let mut ws = accept_tcp(&listener);
        for nonce in ["nonce-backlog-01", "nonce-backlog-02", "nonce-backlog-03"] {
            ws.send(event_frame(nonce, "{}")).unwrap();
        }
        ws.send(Message::Ping(b"paused".to_vec().into())).unwrap();
        // One delivery in flight and one queued: the client stops reading, so the ping stays
        // unread and unanswered while the handler is blocked.
        let mut log = Vec::new();
        let until = Instant::now() + Duration::from_millis(150);
        while Instant::now() < until {
            log.extend(read_one(&mut ws));
        }
        quiet.send(log.clone()).unwrap();
        released.recv_timeout(PATIENCE).unwrap();
        read_until(&mut ws, &mut log, |log| {
            log.iter().filter(|s| matches!(s, Seen::Ack { .. })).count() == 3
                && !pongs(log).is_empty()
        });
        read_until(&mut ws, &mut log, closed);
        log
    });
    let gate = Arc::new(AtomicBool::new(false));
    let open = Arc::clone(&gate);
    let client = client(&endpoint)
        .max_in_flight(1)
        .read_backlog(1)
        .handler(move |_| {
            while !open.load(Ordering::Acquire) {
                thread::sleep(Duration::from_millis(2));
            }
            Ok::<(), std::io::Error>(())
        })
        .build()
        .unwrap();
    let handle = client.handle();
    let run = spawn("client", move || client.run());
    let before = quiet_seen.recv_timeout(PATIENCE).unwrap();
    assert_eq!(
        before,
        Vec::<Seen>::new(),
        "nothing may come back while paused"
    );
    assert_eq!(handle.stats().pings, 0);
    gate.store(true, Ordering::Release);
    release.send(()).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while handle.stats().acked_ok < 3 {
        assert!(
            Instant::now() < deadline,
            "acks missing: {:?}",
            handle.stats()
        );
        thread::sleep(Duration::from_millis(5));
    }
    handle.stop();
    assert_eq!(join(run), Ok(()));
    let log = join(server);
    assert_eq!(pongs(&log), vec![b"paused".to_vec()], "{log:?}");
}

#[test]
fn an_ack_leaves_when_its_handler_returns_not_with_the_next_frame() {
    // The server sends one event at a time and nothing else until its ack is back, so the ack
    // cannot ride on a later frame: a handler's outcome must wake the IO thread by itself
    // (before mio, it waited in a 20 ms socket read). The median bounds scheduling noise.
    const EVENTS: usize = 9;
    let (listener, endpoint) = bind();
    let server = spawn("server", move || {
        let mut ws = accept_tcp(&listener);
        let mut log = Vec::new();
        let mut waits = Vec::new();
        for i in 0..EVENTS {
            let nonce = format!("nonce-prompt-{i:04}");
            // Let the client go idle first.
            thread::sleep(Duration::from_millis(15));
            let sent = Instant::now();
            ws.send(event_frame(&nonce, "{}")).unwrap();
            read_until(&mut ws, &mut log, |log| {
                log.iter().any(|s| s.is_ack_of(&nonce))
            });
            waits.push(sent.elapsed());
        }
        read_until(&mut ws, &mut log, closed);
        waits
    });

    let client = client(&endpoint)
        .handler(|_| Ok::<(), std::io::Error>(()))
        .build()
        .unwrap();
    let handle = client.handle();
    let run = spawn("client", move || client.run());
    let deadline = Instant::now() + PATIENCE;
    while handle.stats().acked_ok < EVENTS as u64 {
        assert!(
            Instant::now() < deadline,
            "acks missing: {:?}",
            handle.stats()
        );
        thread::sleep(Duration::from_millis(5));
    }
    handle.stop();
    assert_eq!(join(run), Ok(()));
    let mut waits = join(server);
    waits.sort();
    let median = waits[EVENTS / 2];
    assert!(
        median < Duration::from_millis(8),
        "acks were held back: {waits:?}"
    );
}
