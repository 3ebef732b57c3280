//! Connect with signed headers; Connected on open; 401/403 stop for good with a hint;
//! 429, 5xx and network errors reconnect with backoff.

use std::time::{Duration, SystemTime};

use open_event_core::Credentials;
use open_event_core::connection::{Action, Connection, DisconnectCause, Notice, State, StopReason};
use open_event_core::kso1::{self, Request};
use open_event_tests::sim::{APP_ID, APP_SECRET, Sim};

#[test]
fn first_action_is_a_connect_with_valid_kso1_headers() {
    let config = open_event_core::config::Config::builder(APP_ID, APP_SECRET)
        .endpoint("wss://example.com/v7/event/ws?region=cn")
        .build()
        .unwrap();
    let now = std::time::Instant::now();
    let mut conn = Connection::new(std::sync::Arc::new(config), now, 1);
    let Some(Action::Connect(request)) = conn.poll_action() else {
        panic!("first action must be Connect")
    };
    assert_eq!(request.attempt(), 0);
    assert_eq!(
        request.url().to_string(),
        "wss://example.com/v7/event/ws?region=cn"
    );
    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_136_214_245);
    let headers = request.headers(date);
    assert_eq!(headers.date, "Mon, 02 Jan 2006 15:04:05 GMT");
    let names: Vec<_> = headers.iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["X-Kso-Date", "X-Kso-Authorization", "X-Ack-Mode"]);
    // The server side recomputes the signature over the endpoint's own path and query.
    let creds = Credentials::new(APP_ID, APP_SECRET);
    let signed = Request {
        method: "GET",
        request_uri: "/v7/event/ws?region=cn",
        content_type: "",
        date: &headers.date,
        body: b"",
    };
    kso1::verify(&creds, &signed, &headers.authorization).expect("signature verifies");
    assert!(conn.poll_action().is_none());
    assert_eq!(conn.state(), State::Connecting);
}

#[test]
fn opening_reports_connected() {
    let mut sim = Sim::new(|c| c, 1);
    sim.open();
    assert_eq!(sim.notices(), vec![Notice::Connected { reconnect: false }]);
    assert_eq!(sim.conn.state(), State::Open);
    assert_eq!(sim.conn.stats().connects, 1);
}

#[test]
fn http_401_stops_for_good_and_names_what_to_check() {
    let mut sim = Sim::new(|c| c, 1);
    sim.fail_status(401);
    let Some(Notice::Stopped(reason)) = sim.notices().last().cloned() else {
        panic!("expected Stopped")
    };
    assert!(matches!(
        reason,
        StopReason::AuthRejected { status: 401, .. }
    ));
    let text = reason.to_string();
    for needle in ["401", "app id", "app secret", "clock"] {
        assert!(text.contains(needle), "{text:?} lacks {needle:?}");
    }
    assert!(sim.conn.is_stopped());
    assert_eq!(sim.conn.poll_timeout(), None, "no timer may stay armed");
    sim.advance(Duration::from_secs(3600));
    assert_eq!(sim.connects(), 1, "never retried");
}

#[test]
fn http_403_stops_for_good() {
    let mut sim = Sim::new(|c| c, 1);
    sim.fail_status(403);
    assert!(matches!(
        sim.conn.stop_reason(),
        Some(StopReason::AuthRejected { status: 403, .. })
    ));
    sim.advance(Duration::from_secs(3600));
    assert_eq!(sim.connects(), 1);
}

#[test]
fn transient_failures_reconnect_with_backoff() {
    for failure in ["429", "500", "503", "network"] {
        let mut sim = Sim::new(|c| c, 7);
        let fail = |sim: &mut Sim| match failure {
            "network" => sim.fail_network(),
            status => sim.fail_status(status.parse().unwrap()),
        };
        fail(&mut sim);
        let Some(Notice::Reconnecting { attempt, delay, .. }) = sim.notices().last().cloned()
        else {
            panic!("{failure}: expected Reconnecting")
        };
        assert_eq!(attempt, 1);
        assert!(
            (800..=1200).contains(&delay.as_millis()),
            "{failure}: {delay:?}"
        );
        sim.advance(delay);
        assert_eq!(sim.connects(), 2, "{failure}");
        assert!(
            matches!(&sim.trace.last().unwrap().1, Action::Connect(r) if r.attempt() == 1),
            "{failure}"
        );
        fail(&mut sim);
        let Some(Notice::Reconnecting { attempt, delay, .. }) = sim.notices().last().cloned()
        else {
            panic!("{failure}: expected Reconnecting")
        };
        assert_eq!(attempt, 2);
        assert!(
            (1600..=2400).contains(&delay.as_millis()),
            "{failure}: {delay:?}"
        );
        assert!(matches!(
            sim.notices()[sim.notices().len() - 2],
            Notice::Disconnected(DisconnectCause::ConnectFailed(_))
        ));
    }
}

#[test]
fn retries_exhausted_stops_with_the_last_cause() {
    let mut sim = Sim::new(|c| c.max_retries(Some(2)), 3);
    for _ in 0..3 {
        sim.fail_status(503);
        sim.advance(Duration::from_secs(10));
    }
    let Some(StopReason::RetriesExhausted { attempts, last }) = sim.conn.stop_reason().cloned()
    else {
        panic!(
            "expected RetriesExhausted, got {:?}",
            sim.conn.stop_reason()
        )
    };
    assert_eq!(attempts, 3, "the first attempt and two retries");
    assert!(last.to_string().contains("503"), "{last}");
    assert_eq!(
        sim.conn.result(),
        Some(Err(sim.conn.stop_reason().cloned().unwrap()))
    );
    assert_eq!(sim.connects(), 3, "initial connect + 2 retries");
}
