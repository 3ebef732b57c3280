//! Failures are visible by default, on every runtime: a handler's error or panic is logged at
//! WARN with the event's code, nonce and the message, and the logs carry the spans
//! `open_event{app_id}` > `connection{attempt}` > `event{code, nonce}`.
//!
//! A small `tracing` layer, installed once as the global subscriber (the runtimes log from their
//! own threads), records every log line with its fields and the fields of its spans; each
//! scenario picks its own lines by the nonces of the events it pushed.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, Once, PoisonError};

use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{
    Behaviour, ClientSpec, HANDLER_TARGET, PANIC_MESSAGE, Runtime, TOPIC, WAIT, emulator, start,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Field names to their values (strings as they are, anything else in `Debug` form).
type Fields = BTreeMap<String, String>;

/// One log line as the layer saw it.
#[derive(Debug, Clone)]
struct Line {
    level: Level,
    target: String,
    fields: Fields,
    /// Its spans, outermost first: name and fields.
    spans: Vec<(String, Fields)>,
}

impl Line {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The fields of the span named `name`, if the line is inside one.
    fn span(&self, name: &str) -> Option<&Fields> {
        self.spans.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    fn span_names(&self) -> Vec<&str> {
        self.spans.iter().map(|(n, _)| n.as_str()).collect()
    }
}

static LINES: Mutex<Vec<Line>> = Mutex::new(Vec::new());

/// Records every line with its span fields.
struct Capture;

struct SpanFields(Fields);

#[derive(Default)]
struct Collect(Fields);

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Collect::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Collect::default();
        event.record(&mut fields);
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| {
                        let fields = span
                            .extensions()
                            .get::<SpanFields>()
                            .map(|f| f.0.clone())
                            .unwrap_or_default();
                        (span.name().to_owned(), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let meta = event.metadata();
        LINES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Line {
                level: *meta.level(),
                target: meta.target().to_owned(),
                fields: fields.0,
                spans,
            });
    }
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| tracing_subscriber::registry().with(Capture).init());
}

/// The lines whose own field `nonce` is `nonce`.
fn lines_of(nonce: &str) -> Vec<Line> {
    LINES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|line| line.field("nonce") == Some(nonce))
        .cloned()
        .collect()
}

/// The one WARN line about `nonce`'s handler failing.
fn failure_warning(nonce: &str, runtime: Runtime) -> Line {
    let warnings: Vec<Line> = lines_of(nonce)
        .into_iter()
        .filter(|l| l.level == Level::WARN && l.field("error").is_some())
        .collect();
    match warnings.as_slice() {
        [line] => line.clone(),
        other => panic!("[{runtime}] expected one failure WARN for {nonce}, got {other:#?}"),
    }
}

async fn handler_failures_are_warnings_inside_the_connection_span(runtime: Runtime) {
    install();
    let emu = emulator(|s| s).await;
    let spec = ClientSpec::for_emulator(&emu);
    let mut client = start(runtime, &spec);
    emu.wait_for_connections(1, WAIT).await.unwrap();

    let failing = emu
        .push_event(Behaviour::fail("the database is down").event())
        .unwrap();
    let panicking = emu.push_event(Behaviour::Panic.event()).unwrap();
    let fine = emu.push_event(Behaviour::Ok.event()).unwrap();
    emu.wait_for(
        |r| r.ack_counts.negative >= 2 && r.ack_counts.accepted >= 1,
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");

    let code = format!("{TOPIC}.run");
    let warning = failure_warning(&failing, runtime);
    assert_eq!(warning.target, "open_event", "[{runtime}]");
    assert_eq!(warning.field("event_code"), Some(code.as_str()));
    assert_eq!(warning.field("error"), Some("the database is down"));
    let message = warning.field("message").unwrap_or_default();
    assert!(
        message.contains(&code) && message.contains(&failing) && message.contains("database"),
        "[{runtime}] {message}"
    );
    // Logged on the client's loop, inside the attempt that carried the event.
    assert_eq!(
        warning.span_names(),
        ["open_event", "connection"],
        "[{runtime}] {warning:#?}"
    );
    let connection = warning.span("connection").expect("in the connection span");
    assert_eq!(connection.get("attempt").map(String::as_str), Some("1"));
    let app = warning.span("open_event").expect("in the client span");
    assert_eq!(app.get("app_id"), Some(&spec.app_id));

    let warning = failure_warning(&panicking, runtime);
    let error = warning.field("error").unwrap_or_default();
    assert!(
        error.contains("panicked") && error.contains(PANIC_MESSAGE),
        "[{runtime}] {error}"
    );
    assert_eq!(warning.field("event_code"), Some(code.as_str()));

    // A handler that succeeds is not a warning.
    assert!(
        lines_of(&fine).iter().all(|l| l.level != Level::WARN),
        "[{runtime}] {:#?}",
        lines_of(&fine)
    );

    // Each handler ran inside event{code, nonce}, inside the connection that carried it.
    for nonce in [&failing, &panicking, &fine] {
        let called: Vec<Line> = lines_of(nonce)
            .into_iter()
            .filter(|l| l.target == HANDLER_TARGET)
            .collect();
        let [line] = called.as_slice() else {
            panic!("[{runtime}] expected one handler call for {nonce}, got {called:#?}");
        };
        assert_eq!(
            line.span_names(),
            ["open_event", "connection", "event"],
            "[{runtime}] {line:#?}"
        );
        let event = line.span("event").expect("in the event span");
        assert_eq!(event.get("code"), Some(&code), "[{runtime}]");
        assert_eq!(event.get("nonce"), Some(nonce), "[{runtime}]");
        let connection = line.span("connection").expect("in the connection span");
        assert_eq!(connection.get("attempt").map(String::as_str), Some("1"));
    }
}

runtime_tests!(handler_failures_are_warnings_inside_the_connection_span);
