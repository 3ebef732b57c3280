use std::num::NonZeroU32;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use open_event_core::Credentials;
use open_event_core::codec::{self, Frame, GoAwayReason};
use open_event_core::connection::CloseInfo;
use open_event_core::kso1::{HEADER_ACK_MODE, HEADER_AUTHORIZATION, HEADER_DATE};

use super::*;

const PATH: &str = "/v7/event/ws";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn creds() -> Credentials {
    Credentials::new("AK20240101TEST", "sk_test_secret_0123456789abcdef")
}

struct World {
    server: Server,
    start: Instant,
    wall: SystemTime,
}

impl World {
    fn new(config: impl FnOnce(ServerConfig) -> ServerConfig) -> Self {
        let start = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        Self {
            server: Server::new(config(ServerConfig::new(creds())), start, wall),
            start,
            wall,
        }
    }

    fn at(&self, offset: Duration) -> Instant {
        self.start + offset
    }

    fn handshake(&mut self, offset: Duration, request: &Handshake) -> HandshakeDecision {
        let wall = self.wall + offset;
        self.server
            .handle_handshake(self.start + offset, wall, request)
    }

    fn connect(&mut self, offset: Duration) -> ConnId {
        let request = Handshake::signed(&creds(), PATH, self.wall + offset, true);
        match self.handshake(offset, &request) {
            HandshakeDecision::Accept { conn, .. } => conn,
            other => panic!("rejected: {other:?}"),
        }
    }

    fn actions(&mut self) -> Vec<ServerAction> {
        std::iter::from_fn(|| self.server.poll_action()).collect()
    }

    /// Runs timeouts up to `offset` and returns every action with its time.
    fn run_to(&mut self, offset: Duration) -> Vec<(Duration, ServerAction)> {
        let end = self.at(offset);
        let mut out = Vec::new();
        for action in self.actions() {
            out.push((Duration::ZERO, action));
        }
        while let Some(t) = self.server.poll_timeout().filter(|t| *t <= end) {
            self.server.handle_timeout(t);
            for action in self.actions() {
                out.push((t - self.start, action));
            }
        }
        out
    }

    fn ack(&mut self, offset: Duration, conn: ConnId, nonce: &str, code: u16) {
        let msg = (code != 200).then_some("handler failed");
        let text = codec::encode_ack(nonce, code, msg);
        self.server.handle_text(self.at(offset), conn, &text);
    }
}

fn texts(actions: &[ServerAction]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            ServerAction::Send {
                frame: ServerFrame::Text(text),
                ..
            } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn event_nonces(actions: &[ServerAction]) -> Vec<String> {
    let cipher = EventCipher::new(&creds());
    texts(actions)
        .iter()
        .filter_map(|t| cipher.open_text(t).ok().map(|e| e.nonce))
        .collect()
}

fn rejection(decision: HandshakeDecision) -> (u16, String) {
    match decision {
        HandshakeDecision::Reject { status, body } => (status, body),
        other => panic!("accepted: {other:?}"),
    }
}

#[test]
fn a_good_handshake_is_accepted_with_its_ack_mode() {
    let mut w = World::new(|c| c);
    let with_ack = Handshake::signed(&creds(), PATH, w.wall, true);
    assert!(matches!(
        w.handshake(Duration::ZERO, &with_ack),
        HandshakeDecision::Accept {
            conn: ConnId(1),
            ack_mode: true
        }
    ));
    let without = Handshake::signed(&creds(), PATH, w.wall, false);
    assert!(matches!(
        w.handshake(ms(1), &without),
        HandshakeDecision::Accept {
            conn: ConnId(2),
            ack_mode: false
        }
    ));
    // Header names are case-insensitive, and a signed query is part of the request URI.
    let mut lower = Handshake::signed(&creds(), "/v7/event/ws?region=cn", w.wall, true);
    for (name, _) in &mut lower.headers {
        *name = name.to_ascii_lowercase();
    }
    assert!(matches!(
        w.handshake(ms(2), &lower),
        HandshakeDecision::Accept { .. }
    ));
    let report = w.server.report();
    assert_eq!(report.accepted(), 3);
    assert!(report.handshakes.iter().all(HandshakeRecord::is_accepted));
    assert_eq!(
        report.handshakes[0].app_id.as_deref(),
        Some("AK20240101TEST")
    );
    assert!(!report.connections[1].ack_mode);
}

#[test]
fn a_wrong_secret_or_app_gets_401() {
    let mut w = World::new(|c| c);
    let wrong = Handshake::signed(
        &Credentials::new("AK20240101TEST", "other"),
        PATH,
        w.wall,
        true,
    );
    let (status, body) = rejection(w.handshake(Duration::ZERO, &wrong));
    assert_eq!(status, 401);
    assert!(body.contains("signature does not match"), "{body}");
    assert!(!body.contains("sk_test_secret"), "{body}");

    let other_app = Handshake::signed(
        &Credentials::new("AK999", "sk_test_secret_0123456789abcdef"),
        PATH,
        w.wall,
        true,
    );
    let (status, body) = rejection(w.handshake(ms(1), &other_app));
    assert_eq!(status, 401);
    assert!(body.contains("unknown app id \"AK999\""), "{body}");

    // Signed for another path than the one requested.
    let mut moved = Handshake::signed(&creds(), "/v7/other", w.wall, true);
    moved.path_and_query = PATH.to_owned();
    assert_eq!(rejection(w.handshake(ms(2), &moved)).0, 401);

    assert_eq!(w.server.report().rejected(), 3);
    assert!(w.server.report().connections.is_empty());
}

#[test]
fn the_date_must_be_within_the_skew() {
    let mut w = World::new(|c| c);
    let stale = Handshake::signed(&creds(), PATH, w.wall - Duration::from_secs(16 * 60), true);
    let (status, body) = rejection(w.handshake(Duration::ZERO, &stale));
    assert_eq!(status, 401);
    assert!(body.contains("960 s behind the server's clock"), "{body}");
    let future = Handshake::signed(&creds(), PATH, w.wall + Duration::from_secs(16 * 60), true);
    let (_, body) = rejection(w.handshake(Duration::ZERO, &future));
    assert!(body.contains("ahead of"), "{body}");
    let late_but_fine =
        Handshake::signed(&creds(), PATH, w.wall - Duration::from_secs(14 * 60), true);
    assert!(matches!(
        w.handshake(Duration::ZERO, &late_but_fine),
        HandshakeDecision::Accept { .. }
    ));
}

#[test]
fn missing_or_malformed_headers_get_401_saying_why() {
    let mut w = World::new(|c| c);
    let good = Handshake::signed(&creds(), PATH, w.wall, true);
    let without = |name: &str| Handshake {
        headers: good
            .headers
            .iter()
            .filter(|(n, _)| n != name)
            .cloned()
            .collect(),
        ..good.clone()
    };
    let (status, body) = rejection(w.handshake(Duration::ZERO, &without(HEADER_DATE)));
    assert_eq!(status, 401);
    assert!(body.starts_with("missing X-Kso-Date header"), "{body}");
    let (_, body) = rejection(w.handshake(Duration::ZERO, &without(HEADER_AUTHORIZATION)));
    assert!(
        body.starts_with("missing X-Kso-Authorization header"),
        "{body}"
    );

    let twice = good.clone().with_header(HEADER_DATE, kso1_date(w.wall));
    let (_, body) = rejection(w.handshake(Duration::ZERO, &twice));
    assert!(body.contains("more than once"), "{body}");

    let mut bad_date = good.clone();
    bad_date.headers[0].1 = "yesterday".to_owned();
    let (_, body) = rejection(w.handshake(Duration::ZERO, &bad_date));
    assert!(body.contains("invalid X-Kso-Date"), "{body}");

    let mut bad_auth = good.clone();
    bad_auth.headers[1].1 = "Bearer abc".to_owned();
    let (_, body) = rejection(w.handshake(Duration::ZERO, &bad_auth));
    assert!(body.contains("malformed X-Kso-Authorization"), "{body}");

    let mut bad_mode = without(HEADER_ACK_MODE);
    bad_mode = bad_mode.with_header(HEADER_ACK_MODE, "sometimes");
    let (_, body) = rejection(w.handshake(Duration::ZERO, &bad_mode));
    assert!(body.contains("X-Ack-Mode is \"sometimes\""), "{body}");

    let mut elsewhere = Handshake::signed(&creds(), "/ws", w.wall, true);
    elsewhere.path_and_query = "/ws".to_owned();
    assert_eq!(rejection(w.handshake(Duration::ZERO, &elsewhere)).0, 404);
}

fn kso1_date(t: SystemTime) -> String {
    open_event_core::kso1::format_date(t)
}

#[test]
fn scripted_rejections_come_first_and_reconnect_delays_are_recorded() {
    let mut w = World::new(|c| c);
    assert_eq!(
        w.server.reject_next_handshakes(200, 1),
        Err(CommandError::InvalidStatus(200))
    );
    w.server.reject_next_handshakes(503, 2).unwrap();
    let good = Handshake::signed(&creds(), PATH, w.wall, true);
    let (status, body) = rejection(w.handshake(Duration::ZERO, &good));
    assert_eq!(status, 503);
    assert!(body.contains("scripted rejection"), "{body}");
    assert_eq!(rejection(w.handshake(ms(1000), &good)).0, 503);
    let conn = w.connect(ms(3000));
    w.server.drop_connection(w.at(ms(4000))).unwrap();
    assert_eq!(w.actions(), vec![ServerAction::Drop { conn }]);
    w.connect(ms(4500));

    let report = w.server.report();
    assert_eq!(report.reconnect_delays(), vec![ms(1000), ms(2000), ms(500)]);
    assert_eq!(
        report.reconnects[0].after,
        PreviousEnd::Rejected { status: 503 }
    );
    assert_eq!(report.reconnects[2].after, PreviousEnd::Connection(conn));
    assert!(matches!(
        report.handshakes[0].result,
        HandshakeResult::Rejected {
            status: 503,
            scripted: true,
            ..
        }
    ));
    assert_eq!(report.connections[0].end, Some(ConnectionEnd::Dropped));
}

#[test]
fn unacked_events_are_redelivered_in_order_with_the_same_nonce() {
    let mut w = World::new(|c| c);
    let first = w.connect(Duration::ZERO);
    let nonces: Vec<String> = (0..3)
        .map(|i| {
            w.server
                .push_event(
                    w.at(ms(10)),
                    EventSpec::new("kso.app_chat", "create", format!("{{\"i\":{i}}}")),
                )
                .unwrap()
        })
        .collect();
    assert!(nonces.iter().all(|n| n.len() == 16));
    assert_eq!(event_nonces(&w.actions()), nonces);

    w.ack(ms(20), first, &nonces[0], 200);
    w.ack(ms(20), first, &nonces[1], 500);
    assert_eq!(w.server.report().pending, 2);
    w.server.drop_connection(w.at(ms(30))).unwrap();
    w.actions();

    let second = w.connect(ms(1030));
    let resent = w.actions();
    assert_eq!(event_nonces(&resent), nonces[1..]);
    // The very same frames: same nonce, same ciphertext, same signature.
    let cipher = EventCipher::new(&creds());
    let data: Vec<String> = texts(&resent)
        .iter()
        .map(|t| cipher.open_text(t).unwrap().data)
        .collect();
    assert_eq!(data, [r#"{"i":1}"#, r#"{"i":2}"#]);

    w.ack(ms(1040), second, &nonces[1], 200);
    w.ack(ms(1040), second, &nonces[2], 200);
    let report = w.server.report();
    assert_eq!(report.pending, 0);
    assert_eq!(report.events_pushed, 3);
    assert_eq!(report.events_sent, 5);
    let redelivered: Vec<_> = report
        .redeliveries
        .iter()
        .map(|r| (r.nonce.as_str(), r.conn, r.delivery))
        .collect();
    assert_eq!(
        redelivered,
        [
            (nonces[1].as_str(), second, 2),
            (nonces[2].as_str(), second, 2)
        ]
    );
    assert_eq!(
        report.acked_nonces(),
        nonces.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[test]
fn pongs_are_matched_to_their_pings() {
    let mut w = World::new(|c| c.ping_interval(ms(100)).heartbeat_timeout(None));
    let conn = w.connect(Duration::ZERO);
    let pings: Vec<(Duration, Vec<u8>)> = w
        .run_to(ms(350))
        .into_iter()
        .filter_map(|(t, a)| match a {
            ServerAction::Send {
                frame: ServerFrame::Ping(p),
                ..
            } => Some((t, p)),
            _ => None,
        })
        .collect();
    let times: Vec<Duration> = pings.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [ms(100), ms(200), ms(300)]);
    w.server.handle_pong(w.at(ms(360)), conn, &pings[0].1);
    w.server.handle_pong(w.at(ms(361)), conn, &pings[0].1);
    w.server.handle_pong(w.at(ms(362)), conn, &pings[2].1);
    w.server.handle_pong(w.at(ms(363)), conn, b"never sent");
    let record = &w.server.report().connections[0];
    assert_eq!(record.pongs_per_ping(), [2, 0, 1]);
    assert_eq!(record.unmatched_pongs, 1);
    assert_eq!(record.pings[2].pongs, [w.at(ms(362))]);
    assert_eq!(w.server.report().pongs_per_ping(), [2, 0, 1]);
}

#[test]
fn acks_are_recorded_with_their_status() {
    let mut w = World::new(|c| c);
    let conn = w.connect(Duration::ZERO);
    let nonce = w
        .server
        .push_event(w.at(ms(5)), EventSpec::chat_message("hi"))
        .unwrap();
    w.actions();
    w.ack(ms(7), conn, &nonce, 500);
    w.ack(ms(9), conn, &nonce, 200);
    w.ack(ms(10), conn, &nonce, 200);
    w.ack(ms(11), conn, "ffffffffffffffff", 200);
    w.server
        .handle_text(w.at(ms(12)), conn, r#"{"type":"ack","nonce":"x"}"#);
    w.server.handle_binary(w.at(ms(13)), conn, b"\x01\x02");

    let report = w.server.report();
    let got: Vec<_> = report
        .acks
        .iter()
        .map(|a| {
            (
                a.nonce.as_str(),
                a.code,
                a.msg.as_deref(),
                a.status,
                a.latency,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                nonce.as_str(),
                500,
                Some("handler failed"),
                AckStatus::Negative,
                Some(ms(2))
            ),
            (nonce.as_str(), 200, None, AckStatus::Accepted, Some(ms(4))),
            (nonce.as_str(), 200, None, AckStatus::Duplicate, None),
            ("ffffffffffffffff", 200, None, AckStatus::Unknown, None),
        ]
    );
    assert!(report.acks.iter().all(|a| a.conn == conn));
    assert_eq!(report.ack_counts.total(), 4);
    assert_eq!(report.connections[0].acks, 4);
    assert_eq!(report.client_errors.len(), 2);
    assert!(
        report.client_errors[0].problem.contains("no `code` field"),
        "{:?}",
        report.client_errors
    );
    assert!(report.client_errors[1].problem.contains("binary frame"));
}

#[test]
fn without_ack_mode_events_are_sent_once() {
    let mut w = World::new(|c| c.record_acks(false));
    let request = Handshake::signed(&creds(), PATH, w.wall, false);
    let HandshakeDecision::Accept {
        conn,
        ack_mode: false,
    } = w.handshake(Duration::ZERO, &request)
    else {
        panic!()
    };
    let nonce = w
        .server
        .push_event(w.at(ms(1)), EventSpec::chat_message("x"))
        .unwrap();
    assert_eq!(event_nonces(&w.actions()), std::slice::from_ref(&nonce));
    assert_eq!(w.server.report().pending, 0);
    w.ack(ms(2), conn, &nonce, 200);
    assert_eq!(w.server.report().ack_counts.duplicate, 1);
    assert!(w.server.report().acks.is_empty());
    w.server.drop_connection(w.at(ms(3))).unwrap();
    w.connect(ms(4));
    assert!(event_nonces(&w.actions()).is_empty());
}

#[test]
fn missed_pongs_end_in_goaway_heartbeat_timeout_then_close_then_drop() {
    let mut w = World::new(|c| {
        c.ping_interval(ms(100))
            .heartbeat_timeout(Some(ms(250)))
            .goaway_close_delay(ms(20))
            .close_timeout(ms(500))
    });
    let conn = w.connect(Duration::ZERO);
    let timeline: Vec<(Duration, String)> = w
        .run_to(ms(2000))
        .into_iter()
        .map(|(t, a)| (t, a.to_string()))
        .collect();
    let expected = [
        (ms(100), "conn#1: ping ping-1".to_owned()),
        (ms(200), "conn#1: ping ping-2".to_owned()),
        (ms(300), "conn#1: ping ping-3".to_owned()),
        (
            ms(350),
            r#"conn#1: text {"type":"goaway","reason":"heartbeat_timeout","message":"no pong for 250 ms"}"#
                .to_owned(),
        ),
        (ms(370), r#"conn#1: close 1001 "going away""#.to_owned()),
        (ms(870), "conn#1: drop".to_owned()),
    ];
    assert_eq!(timeline, expected);
    let record = &w.server.report().connections[0];
    assert_eq!(record.end, Some(ConnectionEnd::Dropped));
    assert_eq!(record.closed_at, Some(w.at(ms(870))));
    assert!(w.server.poll_timeout().is_none());
    let _ = conn;
}

#[test]
fn pongs_keep_the_heartbeat_alive_and_a_client_close_is_recorded() {
    let mut w = World::new(|c| c.ping_interval(ms(100)).heartbeat_timeout(Some(ms(150))));
    let conn = w.connect(Duration::ZERO);
    for step in 1..=10 {
        for (_, action) in w.run_to(ms(step * 100)) {
            if let ServerAction::Send {
                frame: ServerFrame::Ping(p),
                ..
            } = &action
            {
                w.server.handle_pong(w.at(ms(step * 100 + 5)), conn, p);
            }
            assert!(!matches!(
                action,
                ServerAction::Send {
                    frame: ServerFrame::Text(_),
                    ..
                }
            ));
        }
    }
    assert_eq!(w.server.report().pongs_per_ping(), [1; 10]);
    w.server
        .handle_closed(w.at(ms(1010)), conn, &CloseInfo::clean(Some(1000), "bye"));
    let record = &w.server.report().connections[0];
    assert_eq!(
        record.end,
        Some(ConnectionEnd::ClosedByClient {
            code: Some(1000),
            reason: "bye".into()
        })
    );
    assert!(w.server.poll_timeout().is_none());
}

#[test]
fn a_new_connection_replaces_the_old_one() {
    let mut w = World::new(|c| c.goaway_close_delay(ms(10)));
    let old = w.connect(Duration::ZERO);
    let nonce = w
        .server
        .push_event(w.at(ms(1)), EventSpec::chat_message("x"))
        .unwrap();
    w.actions();
    let new = w.connect(ms(5));
    let actions = w.actions();
    let Some(ServerAction::Send {
        conn,
        frame: ServerFrame::Text(goaway),
    }) = actions.first()
    else {
        panic!("{actions:?}")
    };
    assert_eq!(*conn, old);
    assert!(matches!(
        codec::decode(goaway),
        Ok(Frame::GoAway(g)) if g.reason == GoAwayReason::ConnectionReplaced
    ));
    // The unacked event goes to the new connection too.
    assert!(matches!(&actions[1], ServerAction::Send { conn, .. } if *conn == new));
    assert_eq!(event_nonces(&actions), [nonce]);
    assert_eq!(w.server.active(), Some(new));
    // The old one is closed after the delay and may still ack meanwhile.
    let rest = w.run_to(ms(15));
    assert_eq!(rest[0].1.to_string(), r#"conn#1: close 1001 "going away""#);
    w.server
        .handle_closed(w.at(ms(16)), old, &CloseInfo::clean(Some(1001), ""));
    assert_eq!(
        w.server.report().connections[0].end,
        Some(ConnectionEnd::ClosedByServer { code: 1001 })
    );

    let mut quiet = World::new(|c| c.notify_replaced(false));
    quiet.connect(Duration::ZERO);
    quiet.connect(ms(1));
    assert_eq!(
        quiet.actions()[0].to_string(),
        r#"conn#1: close 1000 "replaced by a newer connection""#
    );
}

#[test]
fn the_push_rate_paces_events_and_big_batches_are_split() {
    let mut w = World::new(|c| c.push_rate(NonZeroU32::new(10)).heartbeat_timeout(None));
    w.connect(Duration::ZERO);
    w.server
        .push_many(w.at(Duration::ZERO), 4, &EventSpec::chat_message("x"))
        .unwrap();
    let times: Vec<Duration> = w
        .run_to(ms(1000))
        .into_iter()
        .filter(|(_, a)| {
            matches!(
                a,
                ServerAction::Send {
                    frame: ServerFrame::Text(_),
                    ..
                }
            )
        })
        .map(|(t, _)| t)
        .collect();
    assert_eq!(times, [ms(0), ms(100), ms(200), ms(300)]);

    let mut w = World::new(|c| c);
    w.connect(Duration::ZERO);
    w.server
        .push_many(w.start, 3000, &EventSpec::chat_message("x"))
        .unwrap();
    assert_eq!(w.actions().len(), PUMP_BATCH);
    assert_eq!(w.server.poll_timeout(), Some(w.start));
    w.server.handle_timeout(w.start);
    w.server.handle_timeout(w.start);
    assert_eq!(w.actions().len(), 3000 - PUMP_BATCH);
    assert_eq!(w.server.report().events_sent, 3000);
}

#[test]
fn silence_stops_pings_and_events() {
    let mut w = World::new(|c| c.ping_interval(ms(100)).heartbeat_timeout(None));
    w.connect(Duration::ZERO);
    w.server.silence(w.at(ms(50)), ms(300)).unwrap();
    w.server
        .push_event(w.at(ms(60)), EventSpec::chat_message("later"))
        .unwrap();
    let timeline: Vec<(Duration, bool)> = w
        .run_to(ms(500))
        .into_iter()
        .map(|(t, a)| {
            (
                t,
                matches!(
                    a,
                    ServerAction::Send {
                        frame: ServerFrame::Ping(_),
                        ..
                    }
                ),
            )
        })
        .collect();
    // Nothing until the silence ends at 350 ms: then the overdue ping and the event.
    assert_eq!(
        timeline,
        [(ms(350), true), (ms(350), false), (ms(450), true)]
    );
}

#[test]
fn malformed_frames_go_to_the_active_connection() {
    let mut w = World::new(|c| c);
    assert_eq!(
        w.server.send_malformed(w.start, Malformed::BadPadding),
        Err(CommandError::NoConnection)
    );
    let conn = w.connect(Duration::ZERO);
    for kind in Malformed::ALL {
        w.server.send_malformed(w.start, kind).unwrap();
    }
    let actions = w.actions();
    assert_eq!(actions.len(), Malformed::ALL.len());
    assert!(matches!(
        &actions[13],
        ServerAction::Send {
            frame: ServerFrame::Binary(_),
            ..
        }
    ));
    assert_eq!(w.server.report().connections[0].malformed, Malformed::ALL);
    // Their nonces are never an event's.
    w.ack(ms(1), conn, "malformed0000001", 200);
    assert_eq!(w.server.report().ack_counts.unknown, 1);
}

#[test]
fn a_script_plays_in_order_and_waits() {
    let mut w = World::new(|c| c.goaway_close_delay(ms(10)).heartbeat_timeout(None));
    let script = Script::new()
        .then(ms(0), Step::WaitForConnection)
        .then(ms(100), Step::Push(EventSpec::chat_message("one")))
        .then(ms(0), Step::WaitForAcks)
        .then(
            ms(50),
            Step::GoAway {
                reason: GoAwayReason::ServerShutdown,
                reconnect_ms: Some(300),
            },
        )
        .then(
            ms(0),
            Step::RejectHandshakes {
                status: 429,
                count: 1,
            },
        )
        .then(ms(0), Step::Drop);
    w.server.play(w.start, script);
    assert!(w.run_to(ms(1000)).is_empty());

    let conn = w.connect(ms(1000));
    let events = w.run_to(ms(1100));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, ms(1100));
    let nonce = event_nonces(&[events[0].1.clone()]).remove(0);
    assert!(w.run_to(ms(1500)).is_empty(), "waits for the ack");
    w.ack(ms(1500), conn, &nonce, 200);
    let rest = w.run_to(ms(2000));
    let described: Vec<(Duration, String)> =
        rest.iter().map(|(t, a)| (*t, a.to_string())).collect();
    assert_eq!(described[0].0, ms(1550));
    let goaway = texts(&[rest[0].1.clone()]).remove(0);
    assert!(matches!(
        codec::decode(&goaway),
        Ok(Frame::GoAway(g)) if g.reason == GoAwayReason::ServerShutdown && g.reconnect_ms == Some(300)
    ));
    assert_eq!(
        described[1],
        (ms(1560), r#"conn#1: close 1001 "going away""#.to_owned())
    );

    let report = w.server.report();
    assert!(report.script_finished);
    let skipped: Vec<_> = report.script.iter().map(|s| s.skipped.is_some()).collect();
    assert_eq!(skipped, [false, false, false, false, false, true]);
    assert!(
        report.script[5]
            .skipped
            .as_deref()
            .unwrap()
            .contains("no active connection")
    );
    let good = Handshake::signed(&creds(), PATH, w.wall + ms(2000), true);
    assert_eq!(rejection(w.handshake(ms(2000), &good)).0, 429);
}

#[test]
fn sample_events_parse_into_the_typed_models() {
    use open_event_core::Event;
    use open_event_core::model::{AppChatCreate, AppChatMessageCreate};

    let spec = EventSpec::chat_message("say \"hi\"\n");
    let event = Event::new(spec.topic, spec.operation, 1, "0123456789abcdef", spec.data);
    let message: AppChatMessageCreate = event.parse().unwrap();
    assert_eq!(
        message.message.content.text.as_deref(),
        Some("say \"hi\"\n")
    );
    let spec = EventSpec::chat_created("c\"1");
    let event = Event::new(spec.topic, spec.operation, 1, "0123456789abcdef", spec.data);
    let created: AppChatCreate = event.parse().unwrap();
    assert_eq!(created.chat_id, "c\"1");
    assert_eq!(
        EventSpec::new("", "x", "{}").check(),
        Err(PushError::EmptyTopic)
    );
    assert_eq!(
        EventSpec::new("t", "", "{}").check(),
        Err(PushError::EmptyOperation)
    );
}

// ----- chaos ---------------------------------------------------------------------------------

/// The nonces of the event frames among `actions` sent on `conn`, and whether `conn` was
/// dropped.
fn events_and_drop(world: &World, actions: &[ServerAction], conn: ConnId) -> (Vec<String>, bool) {
    let cipher = world.server.cipher();
    let mut nonces = Vec::new();
    let mut dropped = false;
    for action in actions {
        match action {
            ServerAction::Send {
                conn: c,
                frame: ServerFrame::Text(text),
            } if *c == conn => {
                if let Ok(event) = cipher.open_text(text) {
                    nonces.push(event.nonce);
                }
            }
            ServerAction::Drop { conn: c } if *c == conn => dropped = true,
            _ => {}
        }
    }
    (nonces, dropped)
}

#[test]
fn chaos_drops_loses_acks_and_redelivers_until_everything_is_acked() {
    let chaos = Chaos::new(5).drop_every(10).lose_acks_per_mille(300);
    let mut world = World::new(|c| c.chaos(chaos));
    let mut conn = world.connect(ms(0));
    world
        .server
        .push_many(world.at(ms(0)), 100, &EventSpec::chat_message("x"))
        .unwrap();
    let mut acked_frames = 0_u64;
    let mut connections = 1;
    let mut t = 0;
    while world.server.report().pending > 0 {
        t += 1;
        assert!(
            connections < 1_000,
            "no progress: {:?}",
            world.server.report().chaos
        );
        let actions = world.actions();
        let (nonces, _) = events_and_drop(&world, &actions, conn);
        let mut dropped = false;
        for nonce in nonces {
            world.ack(ms(t), conn, &nonce, 200);
            acked_frames += 1;
            if world.server.active() != Some(conn) {
                dropped = true;
                break;
            }
        }
        if dropped {
            world.actions();
            conn = world.connect(ms(t));
            connections += 1;
        } else if world.server.report().pending > 0 {
            // Every ack of this connection is in, some were lost: a drop brings them back.
            world.server.drop_connection(world.at(ms(t))).unwrap();
            world.actions();
            conn = world.connect(ms(t));
            connections += 1;
        }
    }
    let report = world.server.report();
    assert!(report.chaos.drops >= 5, "{:?}", report.chaos);
    assert!(report.chaos.acks_lost >= 10, "{:?}", report.chaos);
    assert_eq!(report.ack_counts.accepted, 100);
    // Every ack frame was either lost, or accepted, or a duplicate of an accepted event.
    assert_eq!(
        report.chaos.acks_lost + report.ack_counts.total(),
        acked_frames,
        "{:?}",
        report.ack_counts
    );
    assert!(!report.redeliveries.is_empty());
}

#[test]
fn chaos_is_reproducible_from_its_seed() {
    let run = |seed| {
        let chaos = Chaos::new(seed)
            .lose_acks_per_mille(500)
            .stall_reading(3, ms(50));
        let mut world = World::new(|c| c.chaos(chaos));
        let conn = world.connect(ms(0));
        let nonces = world
            .server
            .push_many(world.at(ms(0)), 40, &EventSpec::chat_message("x"))
            .unwrap();
        let mut stalls = Vec::new();
        for (i, nonce) in nonces.iter().enumerate() {
            world.ack(ms(1), conn, nonce, 200);
            if let Some(until) = world.server.take_read_stall(conn) {
                assert_eq!(until, world.at(ms(51)), "a stall lasts its duration");
                stalls.push(i);
            }
        }
        assert_eq!(world.server.take_read_stall(conn), None, "taken once");
        (
            world.server.report().chaos,
            world.server.pending_nonces(),
            stalls,
        )
    };
    let (counts, pending, stalls) = run(9);
    assert_eq!(run(9), (counts, pending.clone(), stalls.clone()));
    assert_eq!(counts.acks_lost as usize, pending.len());
    assert!(counts.acks_lost > 5 && counts.acks_lost < 35, "{counts:?}");
    assert_eq!(counts.read_stalls as usize, stalls.len());
    // Countdowns uniform in [1, 4]: at least 40 / 4 stalls.
    assert!(stalls.len() >= 10, "{stalls:?}");
    assert_ne!(run(10).1, pending, "another seed loses other acks");
}

#[test]
fn close_and_hold_keeps_the_socket_until_the_hold_ends() {
    let mut world = World::new(|c| c);
    let conn = world.connect(ms(0));
    assert_eq!(
        world
            .server
            .close_and_hold(world.at(ms(10)), 4000, "half close", ms(500)),
        Ok(conn)
    );
    assert_eq!(
        world.server.active(),
        None,
        "no events go to a closing connection"
    );
    assert_eq!(world.server.held_open_until(conn), Some(world.at(ms(510))));
    let actions = world.run_to(ms(509));
    assert!(
        actions.iter().any(|(_, a)| matches!(
            a,
            ServerAction::Send {
                frame: ServerFrame::Close { code: 4000, .. },
                ..
            }
        )),
        "{actions:?}"
    );
    assert!(
        !actions
            .iter()
            .any(|(_, a)| matches!(a, ServerAction::Drop { .. }))
    );
    let actions = world.run_to(ms(510));
    assert_eq!(actions, [(ms(510), ServerAction::Drop { conn })]);
    assert_eq!(
        world.server.report().connections[0].end,
        Some(ConnectionEnd::Dropped)
    );
}

#[test]
fn stall_reading_needs_a_connection_and_is_counted() {
    let mut world = World::new(|c| c);
    assert_eq!(
        world.server.stall_reading(world.at(ms(0)), ms(100)),
        Err(CommandError::NoConnection)
    );
    let conn = world.connect(ms(0));
    assert_eq!(
        world.server.stall_reading(world.at(ms(5)), ms(100)),
        Ok(conn)
    );
    assert_eq!(world.server.take_read_stall(conn), Some(world.at(ms(105))));
    assert_eq!(world.server.report().chaos.read_stalls, 1);
}
