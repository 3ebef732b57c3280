//! The dispatcher: routing by event code, replacement, fallback, unhandled events, and typed
//! registration through a test handler type.

use std::cell::RefCell;
use std::rc::Rc;

use open_event_core::Event;
use open_event_core::dispatcher::{Dispatcher, FromTyped, Route, typed_payload_error};
use open_event_core::model::{
    AppChatCreate, AppChatMessageCreate, GroupChatDelete, GroupChatMemberRobotCreate,
    GroupChatMemberRobotDelete, GroupChatMemberUserCreate, GroupChatMemberUserDelete, IdentityType,
    TYPED_EVENT_CODES, TypedEvent,
};

/// What a test handler does with an event: an answer or an error message.
type HandlerFn = dyn Fn(&Event) -> Result<String, String>;

/// A blocking handler as a runtime might define one: the event in, a result out.
struct TestHandler(Box<HandlerFn>);

impl TestHandler {
    fn call(&self, event: &Event) -> Result<String, String> {
        (self.0)(event)
    }
}

impl<T: TypedEvent, F: Fn(&Event, T) -> String + 'static> FromTyped<T, F> for TestHandler {
    fn from_typed(f: F) -> Self {
        Self(Box::new(move |event| match event.parse::<T>() {
            Ok(payload) => Ok(f(event, payload)),
            Err(err) => Err(typed_payload_error(event, &err)),
        }))
    }
}

/// An untyped handler answering with a fixed label.
fn label(name: &'static str) -> TestHandler {
    TestHandler(Box::new(move |_| Ok(name.to_owned())))
}

/// Runs whatever the dispatcher routes the event to, as a runtime would.
fn dispatch(dispatcher: &Dispatcher<TestHandler>, event: &Event) -> Option<Result<String, String>> {
    dispatcher
        .route(event.event_code())
        .handler()
        .map(|handler| handler.call(event))
}

fn event(code: &str, data: &str) -> Event {
    // A code without a dot (only used for routing edge cases) becomes a bare topic.
    let (topic, operation) = code.rsplit_once('.').unwrap_or((code, ""));
    Event::new(topic, operation, 1704067200, "b38c06ba3330d2a3", data)
}

/// Which case a route is, and what its handler answers.
fn route_of(dispatcher: &Dispatcher<TestHandler>, code: &str) -> (&'static str, Option<String>) {
    let ev = event(code, "{}");
    match dispatcher.route(code) {
        Route::Handler(h) => ("handler", h.call(&ev).ok()),
        Route::Fallback(h) => ("fallback", h.call(&ev).ok()),
        Route::Unhandled => ("unhandled", None),
        other => panic!(
            "a route this test does not know: handler {:?}",
            other.handler().is_some()
        ),
    }
}

#[test]
fn routes_by_exact_event_code() {
    let mut dispatcher = Dispatcher::new();
    dispatcher
        .on("kso.app_chat.create", label("chat"))
        .on("kso.app_chat.message.create", label("message"));

    assert_eq!(
        route_of(&dispatcher, "kso.app_chat.create"),
        ("handler", Some("chat".to_owned()))
    );
    assert_eq!(
        route_of(&dispatcher, "kso.app_chat.message.create"),
        ("handler", Some("message".to_owned()))
    );
    // Neither a prefix nor a longer code matches.
    assert_eq!(route_of(&dispatcher, "kso.app_chat").0, "unhandled");
    assert_eq!(
        route_of(&dispatcher, "kso.app_chat.create.extra").0,
        "unhandled"
    );
    assert_eq!(route_of(&dispatcher, "KSO.APP_CHAT.CREATE").0, "unhandled");
}

#[test]
fn registering_a_code_again_replaces_the_handler() {
    let mut dispatcher = Dispatcher::new();
    dispatcher.on("kso.app_chat.create", label("first"));
    dispatcher.on(String::from("kso.app_chat.create"), label("second"));

    assert_eq!(
        route_of(&dispatcher, "kso.app_chat.create"),
        ("handler", Some("second".to_owned()))
    );
    assert_eq!(dispatcher.event_codes(), ["kso.app_chat.create"]);

    dispatcher.fallback(label("fallback 1"));
    dispatcher.fallback(label("fallback 2"));
    assert_eq!(
        route_of(&dispatcher, "kso.other"),
        ("fallback", Some("fallback 2".to_owned()))
    );
}

#[test]
fn fallback_takes_codes_without_a_route() {
    let mut dispatcher = Dispatcher::new();
    dispatcher
        .on("kso.app_chat.create", label("chat"))
        .fallback(label("fallback"));

    assert_eq!(
        route_of(&dispatcher, "kso.app_chat.create"),
        ("handler", Some("chat".to_owned()))
    );
    assert_eq!(
        route_of(&dispatcher, "kso.user.status.update"),
        ("fallback", Some("fallback".to_owned()))
    );
    assert_eq!(
        route_of(&dispatcher, ""),
        ("fallback", Some("fallback".to_owned()))
    );
}

#[test]
fn no_route_and_no_fallback_is_unhandled() {
    let dispatcher: Dispatcher<TestHandler> = Dispatcher::new();
    let route = dispatcher.route("kso.app_chat.create");
    assert!(route.is_unhandled());
    assert!(route.handler().is_none());
    assert_eq!(format!("{route:?}"), "Unhandled");
    assert!(dispatch(&dispatcher, &event("kso.app_chat.create", "{}")).is_none());

    let mut dispatcher = Dispatcher::default();
    dispatcher.on("kso.app_chat.create", label("chat"));
    assert!(dispatcher.route("kso.other").is_unhandled());
    let route = dispatcher.route("kso.app_chat.create");
    assert!(!route.is_unhandled());
    assert_eq!(format!("{route:?}"), "Handler(..)");
}

#[test]
fn has_handler_versus_handles() {
    let mut dispatcher = Dispatcher::new();
    assert!(!dispatcher.has_handler("kso.app_chat.create"));
    assert!(!dispatcher.handles("kso.app_chat.create"));
    assert!(!dispatcher.has_fallback());

    dispatcher.on("kso.app_chat.create", label("chat"));
    assert!(dispatcher.has_handler("kso.app_chat.create"));
    assert!(dispatcher.handles("kso.app_chat.create"));
    assert!(!dispatcher.has_handler("kso.other"));
    assert!(!dispatcher.handles("kso.other"));

    dispatcher.fallback(label("fallback"));
    assert!(dispatcher.has_fallback());
    // has_handler ignores the fallback; handles counts it.
    assert!(!dispatcher.has_handler("kso.other"));
    assert!(dispatcher.handles("kso.other"));
}

#[test]
fn event_codes_are_sorted_and_exclude_the_fallback() {
    let mut dispatcher = Dispatcher::new();
    assert!(dispatcher.event_codes().is_empty());
    dispatcher
        .on("kso.xz.app.group_chat.delete", label("c"))
        .on("kso.app_chat.message.create", label("b"))
        .on("kso.app_chat.create", label("a"))
        .fallback(label("fallback"));
    assert_eq!(
        dispatcher.event_codes(),
        [
            "kso.app_chat.create",
            "kso.app_chat.message.create",
            "kso.xz.app.group_chat.delete",
        ]
    );
}

#[test]
fn debug_shows_codes_not_handlers() {
    // TestHandler is not Debug; the dispatcher still is.
    let mut dispatcher = Dispatcher::new();
    dispatcher
        .on("kso.b", label("b"))
        .on("kso.a", label("a"))
        .fallback(label("f"));
    assert_eq!(
        format!("{dispatcher:?}"),
        r#"Dispatcher { event_codes: ["kso.a", "kso.b"], fallback: true }"#
    );
    let empty: Dispatcher<TestHandler> = Dispatcher::new();
    assert_eq!(
        format!("{empty:?}"),
        "Dispatcher { event_codes: [], fallback: false }"
    );
}

#[test]
fn clone_copies_routes_and_fallback() {
    fn first(_: &Event) -> u8 {
        1
    }
    fn second(_: &Event) -> u8 {
        2
    }
    let mut dispatcher: Dispatcher<fn(&Event) -> u8> = Dispatcher::new();
    dispatcher.on("kso.a", first).fallback(second);
    let copy = dispatcher.clone();
    let ev = event("kso.a", "");
    assert_eq!(copy.route("kso.a").handler().map(|h| h(&ev)), Some(1));
    assert_eq!(copy.route("kso.z").handler().map(|h| h(&ev)), Some(2));
    assert_eq!(copy.event_codes(), dispatcher.event_codes());
}

#[test]
fn typed_closure_receives_its_payload() {
    let mut dispatcher = Dispatcher::new();
    dispatcher.on_app_chat_message_create(|event: &Event, payload: AppChatMessageCreate| {
        format!(
            "{} from {} ({}): {}",
            event.nonce,
            payload.sender.id,
            payload.sender.kind,
            payload.message.content.text.unwrap_or_default()
        )
    });
    assert!(dispatcher.has_handler(AppChatMessageCreate::EVENT_CODE));

    let data = r#"{"company_id":"c1","chat":{"id":"chat_1","type":"p2p"},"sender":{"type":"user","id":"u1"},"send_time":1704067200,"message":{"id":"m1","type":"text","content":{"text":"你好, world"}}}"#;
    let answer = dispatch(&dispatcher, &event("kso.app_chat.message.create", data));
    assert_eq!(
        answer,
        Some(Ok("b38c06ba3330d2a3 from u1 (user): 你好, world".to_owned()))
    );
}

#[test]
fn bad_payload_yields_the_typed_error_message() {
    let called = Rc::new(RefCell::new(false));
    let seen = Rc::clone(&called);
    let mut dispatcher = Dispatcher::new();
    dispatcher.on_app_chat_create(move |_: &Event, _: AppChatCreate| {
        *seen.borrow_mut() = true;
        String::new()
    });

    // The creator is missing: a required field.
    let bad = event(
        "kso.app_chat.create",
        r#"{"chat_id":"chat_1","company_id":"c1"}"#,
    );
    let err = dispatch(&dispatcher, &bad).unwrap().unwrap_err();
    assert!(
        err.starts_with("payload of kso.app_chat.create does not match AppChatCreate: "),
        "{err}"
    );
    assert!(err.contains("creator"), "{err}");
    assert!(
        err.ends_with("; register an untyped handler with `on(..)` to receive the raw JSON"),
        "{err}"
    );
    assert!(!*called.borrow(), "the typed closure must not run");

    // An empty payload (the empty-plaintext vector) fails the same way.
    let empty = event("kso.app_chat.create", "");
    let err = dispatch(&dispatcher, &empty).unwrap().unwrap_err();
    assert!(err.starts_with("payload of kso.app_chat.create does not match AppChatCreate: "));
    assert!(!*called.borrow());
}

#[test]
fn typed_payload_error_for_an_unmodelled_code() {
    let ev = event("kso.user.status.update", "[]");
    let err = ev.parse::<AppChatCreate>().unwrap_err();
    let message = typed_payload_error(&ev, &err);
    assert!(
        message.starts_with("payload of kso.user.status.update does not match its typed model: "),
        "{message}"
    );
}

#[test]
fn every_typed_registration_uses_its_event_code() {
    let mut dispatcher = Dispatcher::new();
    dispatcher
        .on_app_chat_message_create(|_: &Event, p: AppChatMessageCreate| p.message.id)
        .on_app_chat_create(|_: &Event, p: AppChatCreate| p.chat_id)
        .on_group_chat_delete(|_: &Event, p: GroupChatDelete| p.chat_id)
        .on_group_chat_member_user_create(|_: &Event, p: GroupChatMemberUserCreate| {
            format!("+{}", p.users.len())
        })
        .on_group_chat_member_user_delete(|_: &Event, p: GroupChatMemberUserDelete| {
            format!("-{}", p.users.len())
        })
        .on_group_chat_member_robot_create(|_: &Event, p: GroupChatMemberRobotCreate| {
            format!("bot+ by {}", p.operator.id)
        })
        .on_group_chat_member_robot_delete(|_: &Event, p: GroupChatMemberRobotDelete| {
            format!("bot- by {}", p.operator.id)
        });

    let mut expected = TYPED_EVENT_CODES.to_vec();
    expected.sort_unstable();
    assert_eq!(dispatcher.event_codes(), expected);

    let group = r#"{"chat_id":"g1","company_id":"c1","operator":{"type":"app","id":"a1"},
                    "users":[{"type":"user","id":"u1"},{"type":"user","id":"u2"}]}"#;
    let cases = [
        (
            "kso.xz.app.group_chat.member.user.create",
            group,
            "+2".to_owned(),
        ),
        (
            "kso.xz.app.group_chat.member.user.delete",
            group,
            "-2".to_owned(),
        ),
        (
            "kso.xz.app.group_chat.member.robot.create",
            group,
            "bot+ by a1".to_owned(),
        ),
        (
            "kso.xz.app.group_chat.member.robot.delete",
            group,
            "bot- by a1".to_owned(),
        ),
        ("kso.xz.app.group_chat.delete", group, "g1".to_owned()),
        (
            "kso.app_chat.create",
            r#"{"chat_id":"chat_9","creator":{"type":"user","id":"u1"},"company_id":"c1"}"#,
            "chat_9".to_owned(),
        ),
    ];
    for (code, data, answer) in cases {
        assert_eq!(
            dispatch(&dispatcher, &event(code, data)),
            Some(Ok(answer)),
            "{code}"
        );
    }
}

#[test]
fn on_typed_accepts_a_user_defined_model() {
    #[derive(serde::Deserialize)]
    struct StatusUpdate {
        status: String,
    }
    impl TypedEvent for StatusUpdate {
        const EVENT_CODE: &'static str = "kso.user.status.update";
    }

    let mut dispatcher = Dispatcher::new();
    dispatcher.on_typed(|_: &Event, update: StatusUpdate| update.status);
    assert_eq!(dispatcher.event_codes(), ["kso.user.status.update"]);
    let ev = event("kso.user.status.update", r#"{"status": "online"}"#);
    assert_eq!(dispatch(&dispatcher, &ev), Some(Ok("online".to_owned())));
}

#[test]
fn typed_and_untyped_handlers_share_one_table() {
    let mut dispatcher = Dispatcher::new();
    dispatcher.on_app_chat_create(|_: &Event, _: AppChatCreate| "typed".to_owned());
    dispatcher.on("kso.app_chat.create", label("untyped"));
    assert_eq!(
        route_of(&dispatcher, "kso.app_chat.create"),
        ("handler", Some("untyped".to_owned()))
    );

    dispatcher.on_typed::<AppChatCreate, _>(|_: &Event, p: AppChatCreate| {
        assert_eq!(p.creator.kind, IdentityType::User);
        "typed again".to_owned()
    });
    let ev = event(
        "kso.app_chat.create",
        r#"{"chat_id":"c","creator":{"type":"user","id":"u1"},"company_id":"c1"}"#,
    );
    assert_eq!(
        dispatch(&dispatcher, &ev),
        Some(Ok("typed again".to_owned()))
    );
}
