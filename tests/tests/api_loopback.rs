//! The REST API clients (async on reqwest, blocking on ureq) against the emulated API over
//! loopback: the token flow, sending and replying, retries, platform errors, and that the
//! secret and the tokens never show in logs, `Debug` output or errors.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use open_event_api::{
    ApiConfig, ApiError, AsyncClient, BlockingClient, MessageSent, Receiver, ReplyExt,
    ReplyMessage, RetryPolicy, SendMessage,
};
use open_event_core::Credentials;
use open_event_core::model::AppChatMessageCreate;
use open_event_emulator::api::{
    ApiEmulator, ApiEmulatorHandle, ApiEmulatorOptions, ApiServerConfig, Fault, MessageCall, codes,
};

/// Everything any test logged, at every level.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per binary");
        buffer
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Async,
    Blocking,
}

enum Client {
    Async(AsyncClient),
    Blocking(BlockingClient),
}

/// One emulated API and one client of it.
struct Harness {
    runtime: tokio::runtime::Runtime,
    api: ApiEmulatorHandle,
    client: Client,
}

impl Harness {
    fn new(kind: Kind) -> Self {
        Self::with(kind, |server| server, |config| config)
    }

    fn with(
        kind: Kind,
        server: impl FnOnce(ApiServerConfig) -> ApiServerConfig,
        config: impl FnOnce(open_event_api::ApiConfigBuilder) -> open_event_api::ApiConfigBuilder,
    ) -> Self {
        logs();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seed = fastrand_seed();
        let credentials = Credentials::new(
            format!("AKLOOP{seed:04}"),
            format!("loop-secret-{seed:08x}-value"),
        );
        let api = runtime
            .block_on(ApiEmulator::start(ApiEmulatorOptions::new(server(
                ApiServerConfig::new(credentials.clone()),
            ))))
            .unwrap();
        let builder = ApiConfig::builder(credentials.app_id(), credentials.app_secret().clone())
            .api_base(api.base_url())
            .request_timeout(Duration::from_secs(5))
            .retry(RetryPolicy {
                base_delay: Duration::from_millis(10),
                ..RetryPolicy::default()
            });
        let config = config(builder).build().unwrap();
        let client = {
            let _guard = runtime.enter();
            match kind {
                Kind::Async => Client::Async(AsyncClient::new(config).unwrap()),
                Kind::Blocking => Client::Blocking(BlockingClient::new(config).unwrap()),
            }
        };
        Self {
            runtime,
            api,
            client,
        }
    }

    fn send(&self, message: SendMessage) -> Result<MessageSent, ApiError> {
        match &self.client {
            Client::Async(client) => self.runtime.block_on(client.send(message)),
            Client::Blocking(client) => client.send(message),
        }
    }

    fn reply(&self, reply: ReplyMessage) -> Result<MessageSent, ApiError> {
        match &self.client {
            Client::Async(client) => self.runtime.block_on(client.reply(reply)),
            Client::Blocking(client) => client.reply(reply),
        }
    }

    fn text(&self, text: &str) -> Result<MessageSent, ApiError> {
        self.send(SendMessage::text(Receiver::chat("chat_1"), text).unwrap())
    }

    /// Checks that neither the secret nor any issued token is in `text` or in the logs.
    fn assert_no_secrets(&self, text: &str) {
        let logs = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
        let secret = self.api.credentials().app_secret().expose().to_owned();
        let mut needles = self.api.issued_tokens();
        needles.push(secret);
        for needle in needles {
            assert!(!text.contains(&needle), "{needle:?} leaked into {text:?}");
            assert!(!logs.contains(&needle), "{needle:?} leaked into the logs");
        }
    }

    fn debug(&self) -> String {
        match &self.client {
            Client::Async(client) => format!("{client:?}"),
            Client::Blocking(client) => format!("{client:?}"),
        }
    }
}

fn fastrand_seed() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed) * 7919 + std::process::id()
}

fn both(test: impl Fn(Kind)) {
    test(Kind::Async);
    test(Kind::Blocking);
}

#[test]
fn the_token_is_fetched_once_and_reused() {
    both(|kind| {
        let h = Harness::new(kind);
        let first = h.text("one").unwrap();
        let second = h.text("two").unwrap();
        assert_ne!(first.message_id, second.message_id);
        let report = h.api.report();
        assert_eq!(report.tokens_issued, 1, "{kind:?}");
        assert_eq!(report.texts(), ["one", "two"], "{kind:?}");
        assert!(
            report.refusals.is_empty(),
            "{kind:?}: {:?}",
            report.refusals
        );
        h.assert_no_secrets(&h.debug());
    });
}

#[test]
fn the_token_is_refreshed_before_it_expires() {
    both(|kind| {
        // Tokens live 1 s; the client replaces them after half that, so the second call, 1.2 s
        // later, fetches a new one by itself instead of being refused first.
        let h = Harness::with(
            kind,
            |server| server.token_lifetime(Duration::from_secs(1)),
            |config| config,
        );
        h.text("before").unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        h.text("after").unwrap();
        let report = h.api.report();
        assert_eq!(report.tokens_issued, 2, "{kind:?}");
        assert!(
            report.refusals.is_empty(),
            "{kind:?}: {:?}",
            report.refusals
        );
    });
}

#[test]
fn a_401_fetches_a_new_token_once() {
    both(|kind| {
        let h = Harness::new(kind);
        h.text("first").unwrap();
        h.api.revoke_tokens();
        h.text("second").unwrap();
        let report = h.api.report();
        assert_eq!(report.tokens_issued, 2, "{kind:?}");
        assert_eq!(report.refusals_with(codes::INVALID_TOKEN), 1, "{kind:?}");
        assert_eq!(report.texts(), ["first", "second"]);

        // Refused again with the fresh token: the call fails, naming the fix.
        h.api.fail_next(
            Fault::error(401, codes::INVALID_TOKEN, "unknown access token"),
            2,
        );
        let err = h.text("third").unwrap_err();
        assert!(
            matches!(err, ApiError::Unauthorized { .. }),
            "{kind:?}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("check the app id and secret"), "{text}");
        assert_eq!(h.api.report().tokens_issued, 3, "{kind:?}");
        h.assert_no_secrets(&format!("{text} {err:?}"));
    });
}

#[test]
fn a_message_is_sent_and_answered() {
    both(|kind| {
        let h = Harness::new(kind);
        let event: AppChatMessageCreate = serde_json::from_str(
            r#"{"company_id":"c1","chat":{"id":"chat 7","type":"p2p"},
                "sender":{"type":"user","id":"u1"},"send_time":1704067200,
                "message":{"id":"msg/1","type":"text","content":{"text":"ping"}}}"#,
        )
        .unwrap();
        let sent = h
            .reply(
                event
                    .reply_text(format!("echo: {}", event.text().unwrap()))
                    .unwrap(),
            )
            .unwrap();
        assert!(sent.message_id.is_some());
        h.send(event.send_text_to_chat("and a new message").unwrap())
            .unwrap();
        h.send(SendMessage::text(Receiver::user("u1"), "to the user").unwrap())
            .unwrap();
        let report = h.api.report();
        assert_eq!(
            report.messages[0].call,
            MessageCall::Reply {
                chat_id: "chat 7".into(),
                message_id: "msg/1".into()
            }
        );
        assert_eq!(
            report.texts(),
            ["echo: ping", "and a new message", "to the user"]
        );
        assert_eq!(
            report.messages[2].receiver.as_ref().unwrap()["type"],
            "user"
        );
    });
}

#[test]
fn rate_limits_and_server_errors_are_retried() {
    both(|kind| {
        let h = Harness::new(kind);
        h.api.fail_next(Fault::rate_limited(0), 2);
        h.api
            .fail_next(Fault::error(503, 50300, "busy").on_token(), 1);
        h.text("eventually").unwrap();
        let report = h.api.report();
        assert_eq!(report.faults_served, 3, "{kind:?}");
        assert_eq!(report.texts(), ["eventually"]);

        // More failures than attempts: the last one is reported.
        h.api.fail_next(Fault::error(502, 50200, "bad gateway"), 4);
        let err = h.text("never").unwrap_err();
        assert!(
            matches!(err, ApiError::GaveUp { attempts: 4, .. }),
            "{kind:?}: {err:?}"
        );
        assert_eq!(err.platform_code(), Some(50200));
    });
}

#[test]
fn platform_errors_keep_their_code_and_message() {
    both(|kind| {
        let h = Harness::new(kind);
        h.api
            .fail_next(Fault::error(403, 403001, "the app has no permission"), 1);
        let err = h.text("hello").unwrap_err();
        assert_eq!(err.platform_code(), Some(403_001), "{kind:?}");
        assert_eq!(err.status(), Some(403));
        let text = err.to_string();
        assert!(
            text.contains("HTTP 403, code 403001: the app has no permission"),
            "{text}"
        );
        assert!(text.contains("grant the app the permission"), "{text}");
        // Not retried.
        assert_eq!(h.api.report().faults_served, 1);

        // A text the emulator refuses for its length never leaves the client.
        let long = "長".repeat(5001);
        assert!(matches!(
            SendMessage::text(Receiver::chat("c"), long),
            Err(ApiError::TextTooLong { chars: 5001, .. })
        ));
    });
}

#[test]
fn wrong_credentials_name_the_fix() {
    both(|kind| {
        let h = Harness::new(kind);
        let config = ApiConfig::builder(h.api.credentials().app_id(), "not-the-secret")
            .api_base(h.api.base_url())
            .build()
            .unwrap();
        let err = match kind {
            Kind::Async => {
                let _guard = h.runtime.enter();
                let client = AsyncClient::new(config).unwrap();
                h.runtime
                    .block_on(client.send(SendMessage::text(Receiver::chat("c"), "x").unwrap()))
            }
            Kind::Blocking => BlockingClient::new(config)
                .unwrap()
                .send(SendMessage::text(Receiver::chat("c"), "x").unwrap()),
        }
        .unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::Credentials {
                    code: codes::INVALID_CLIENT_SECRET,
                    ..
                }
            ),
            "{kind:?}: {err:?}"
        );
        assert!(
            err.to_string().contains("check the app id and app secret"),
            "{err}"
        );
        assert!(!err.to_string().contains("not-the-secret"));
    });
}

#[test]
fn an_unreachable_api_is_a_transport_error_after_retries() {
    both(|kind| {
        let h = Harness::new(kind);
        let addr = h.api.addr();
        let credentials = h.api.credentials().clone();
        h.runtime.block_on(h.api.shutdown());
        let config = ApiConfig::builder(credentials.app_id(), credentials.app_secret().clone())
            .api_base(format!("http://{addr}"))
            .retry(RetryPolicy {
                max_attempts: 2,
                base_delay: Duration::from_millis(10),
                ..RetryPolicy::default()
            })
            .build()
            .unwrap();
        let message = SendMessage::text(Receiver::chat("c"), "x").unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let result = match kind {
            Kind::Async => {
                let _guard = runtime.enter();
                let client = AsyncClient::new(config).unwrap();
                runtime.block_on(client.send(message))
            }
            Kind::Blocking => BlockingClient::new(config).unwrap().send(message),
        };
        let err = result.unwrap_err();
        assert!(
            matches!(&err, ApiError::GaveUp { attempts: 2, last } if matches!(**last, ApiError::Transport { .. })),
            "{kind:?}: {err:?}"
        );
        assert!(err.to_string().contains("check the network"), "{err}");
        assert!(!err.to_string().contains(credentials.app_secret().expose()));
    });
}
