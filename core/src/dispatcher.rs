//! Routing events to handlers by event code.
//!
//! A [`Dispatcher`] maps event codes (`topic + "." + operation`) to handlers and may hold one
//! fallback handler for every other code. It is generic over the handler type `H`, so the async
//! runtimes and the blocking runtime share this one routing implementation while each picks the
//! handler type that suits it (a boxed async closure, a boxed blocking closure, a function
//! pointer, ...). The dispatcher never runs a handler itself: a runtime asks it for the
//! [`Route`] of an event and runs what it gets.
//!
//! # Which handler runs
//!
//! 1. The handler registered for the event's exact code with [`Dispatcher::on`] (or one of the
//!    typed `on_*` methods); registering a code again replaces the earlier handler.
//! 2. Otherwise the [`fallback`](Dispatcher::fallback) handler, if one is set.
//! 3. Otherwise nobody: the route is [`Route::Unhandled`]. The runtime then reports
//!    `Outcome::Unhandled` to the connection, which acks the event with 200 (so the platform does
//!    not redeliver it) and counts it as unhandled in its stats.
//!
//! # Typed handlers
//!
//! [`Dispatcher::on_typed`] (and the seven `on_*` shorthands for the events of docs/protocol.md §10)
//! register a closure that receives the event together with its payload parsed into a
//! [`TypedEvent`] model. The runtime's handler type decides how to wrap such a closure by
//! implementing [`FromTyped`]. When the payload does not parse, the handler fails with
//! [`typed_payload_error`]'s message and the event is acked with 500.
//!
//! # Example
//!
//! ```
//! use open_event_core::Event;
//! use open_event_core::dispatcher::{Dispatcher, Route};
//!
//! type Handler = fn(&Event) -> Result<(), String>;
//!
//! fn on_message(event: &Event) -> Result<(), String> {
//!     println!("message: {}", event.data);
//!     Ok(())
//! }
//!
//! fn on_anything_else(event: &Event) -> Result<(), String> {
//!     Err(format!("no handler for {}", event.event_code()))
//! }
//!
//! let mut dispatcher: Dispatcher<Handler> = Dispatcher::new();
//! dispatcher
//!     .on("kso.app_chat.message.create", on_message)
//!     .fallback(on_anything_else);
//!
//! let event = Event::new("kso.app_chat.message", "create", 1704067200, "b38c06ba3330d2a3", "{}");
//! let route: Route<'_, Handler> = dispatcher.route(event.event_code());
//! match route.handler() {
//!     Some(handler) => handler(&event)?,
//!     None => println!("nobody wants {}", event.event_code()),
//! }
//! assert!(dispatcher.has_handler("kso.app_chat.message.create"));
//! assert!(dispatcher.handles("kso.user.status.update")); // through the fallback
//! # Ok::<(), String>(())
//! ```

use std::collections::HashMap;
use std::fmt;

use crate::Event;
use crate::model::{
    self, AppChatCreate, AppChatMessageCreate, GroupChatDelete, GroupChatMemberRobotCreate,
    GroupChatMemberRobotDelete, GroupChatMemberUserCreate, GroupChatMemberUserDelete, TypedEvent,
};

/// Routes events to handlers of type `H` by event code; see the [module docs](self) for the rules.
#[derive(Clone)]
pub struct Dispatcher<H> {
    routes: HashMap<String, H>,
    /// Routes whose code contains `*`, in registration order.
    patterns: Vec<(String, H)>,
    fallback: Option<H>,
}

impl<H> Dispatcher<H> {
    /// An empty dispatcher: no routes, no fallback, every event is [`Route::Unhandled`].
    pub fn new() -> Self {
        Self {
            routes: HashMap::new(),
            patterns: Vec::new(),
            fallback: None,
        }
    }

    /// Registers `handler` for the events whose code is `event_code`, replacing any handler
    /// registered earlier for the same code.
    ///
    /// A code containing `*` is a pattern: `*` matches any run of characters (dots included),
    /// so `kso.app_chat.*` takes every chat event and `*.delete` every deletion. An exact route
    /// wins over a pattern; among patterns the first registered wins.
    ///
    /// ```
    /// use open_event_core::dispatcher::{Dispatcher, Route};
    ///
    /// let mut d: Dispatcher<&str> = Dispatcher::new();
    /// d.on("kso.app_chat.*", "chat").on("kso.app_chat.create", "new chat");
    /// assert!(matches!(d.route("kso.app_chat.message.create"), Route::Handler(&"chat")));
    /// assert!(matches!(d.route("kso.app_chat.create"), Route::Handler(&"new chat")));
    /// assert!(d.route("kso.xz.app.group_chat.delete").is_unhandled());
    /// ```
    pub fn on(&mut self, event_code: impl Into<String>, handler: H) -> &mut Self {
        let code = event_code.into();
        if code.contains('*') {
            match self.patterns.iter_mut().find(|(p, _)| *p == code) {
                Some((_, existing)) => *existing = handler,
                None => self.patterns.push((code, handler)),
            }
        } else {
            self.routes.insert(code, handler);
        }
        self
    }

    /// Sets the handler for events no [`on`](Self::on) route matches, replacing any earlier
    /// fallback.
    pub fn fallback(&mut self, handler: H) -> &mut Self {
        self.fallback = Some(handler);
        self
    }

    /// Registers a typed handler for `T::EVENT_CODE`: `f` receives the event's payload parsed
    /// into `T`, wrapped by the runtime's [`FromTyped`] implementation. Replaces any handler
    /// registered earlier for the same code.
    pub fn on_typed<T: TypedEvent, F>(&mut self, f: F) -> &mut Self
    where
        H: FromTyped<T, F>,
    {
        self.on(T::EVENT_CODE, H::from_typed(f))
    }

    /// Registers a typed handler for `kso.app_chat.message.create`: a user sent the app a
    /// message.
    pub fn on_app_chat_message_create<F>(&mut self, f: F) -> &mut Self
    where
        H: FromTyped<AppChatMessageCreate, F>,
    {
        self.on_typed::<AppChatMessageCreate, F>(f)
    }

    /// Registers a typed handler for `kso.app_chat.create`: the first chat between a user and the
    /// bot.
    pub fn on_app_chat_create<F>(&mut self, f: F) -> &mut Self
    where
        H: FromTyped<AppChatCreate, F>,
    {
        self.on_typed::<AppChatCreate, F>(f)
    }

    /// Registers a typed handler for `kso.xz.app.group_chat.delete`: a group was dissolved.
    pub fn on_group_chat_delete<F>(&mut self, f: F) -> &mut Self
    where
        H: FromTyped<GroupChatDelete, F>,
    {
        self.on_typed::<GroupChatDelete, F>(f)
    }

    /// Registers a typed handler for `kso.xz.app.group_chat.member.user.create`: users joined a
    /// group.
    pub fn on_group_chat_member_user_create<F>(&mut self, f: F) -> &mut Self
    where
        H: FromTyped<GroupChatMemberUserCreate, F>,
    {
        self.on_typed::<GroupChatMemberUserCreate, F>(f)
    }

    /// Registers a typed handler for `kso.xz.app.group_chat.member.user.delete`: users left a
    /// group.
    pub fn on_group_chat_member_user_delete<F>(&mut self, f: F) -> &mut Self
    where
        H: FromTyped<GroupChatMemberUserDelete, F>,
    {
        self.on_typed::<GroupChatMemberUserDelete, F>(f)
    }

    /// Registers a typed handler for `kso.xz.app.group_chat.member.robot.create`: the bot joined
    /// a group.
    pub fn on_group_chat_member_robot_create<F>(&mut self, f: F) -> &mut Self
    where
        H: FromTyped<GroupChatMemberRobotCreate, F>,
    {
        self.on_typed::<GroupChatMemberRobotCreate, F>(f)
    }

    /// Registers a typed handler for `kso.xz.app.group_chat.member.robot.delete`: the bot left a
    /// group.
    pub fn on_group_chat_member_robot_delete<F>(&mut self, f: F) -> &mut Self
    where
        H: FromTyped<GroupChatMemberRobotDelete, F>,
    {
        self.on_typed::<GroupChatMemberRobotDelete, F>(f)
    }

    /// Whether a route (exact or pattern) takes `event_code`. The fallback does not count;
    /// see [`handles`](Self::handles) for that.
    pub fn has_handler(&self, event_code: &str) -> bool {
        self.own_route(event_code).is_some()
    }

    /// Whether an event with this code would reach some handler: its own route or the fallback.
    /// `false` means the event would be [`Route::Unhandled`].
    pub fn handles(&self, event_code: &str) -> bool {
        self.fallback.is_some() || self.has_handler(event_code)
    }

    /// The registered codes and patterns, sorted, for stable output (logs, the CLI). The
    /// fallback is not listed.
    pub fn event_codes(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self
            .routes
            .keys()
            .chain(self.patterns.iter().map(|(p, _)| p))
            .map(String::as_str)
            .collect();
        codes.sort_unstable();
        codes
    }

    /// Whether a fallback handler is set.
    pub fn has_fallback(&self) -> bool {
        self.fallback.is_some()
    }

    /// Whether no route and no fallback are registered: every event would be
    /// [`Route::Unhandled`]. The runtimes refuse to build a client with such a dispatcher
    /// unless asked to ignore every event on purpose.
    ///
    /// ```
    /// use open_event_core::dispatcher::Dispatcher;
    ///
    /// let mut d: Dispatcher<&str> = Dispatcher::new();
    /// assert!(d.is_empty());
    /// d.on("kso.app_chat.*", "chat");
    /// assert!(!d.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.patterns.is_empty() && self.fallback.is_none()
    }

    /// Finds the handler for an event code: its exact route, then the first matching pattern,
    /// then the fallback.
    pub fn route(&self, event_code: &str) -> Route<'_, H> {
        if let Some(handler) = self.own_route(event_code) {
            Route::Handler(handler)
        } else if let Some(handler) = &self.fallback {
            Route::Fallback(handler)
        } else {
            Route::Unhandled
        }
    }
}

impl<H> Dispatcher<H> {
    fn own_route(&self, event_code: &str) -> Option<&H> {
        self.routes.get(event_code).or_else(|| {
            self.patterns
                .iter()
                .find(|(pattern, _)| glob_match(pattern, event_code))
                .map(|(_, handler)| handler)
        })
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    // `split` always yields at least one part.
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        return rest.is_empty(); // no `*` at all: an exact comparison
    };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl<H> Default for Dispatcher<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> fmt::Debug for Dispatcher<H> {
    /// Shows the registered event codes and whether a fallback is set, not the handlers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("event_codes", &self.event_codes())
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

/// Where [`Dispatcher::route`] sends an event.
///
/// Runtimes outside this crate take [`Route::handler`] rather than matching, so a new kind of
/// route does not break them.
#[non_exhaustive]
pub enum Route<'a, H> {
    /// The handler registered for the event's code.
    Handler(&'a H),
    /// No handler for the code; the fallback handler takes the event.
    Fallback(&'a H),
    /// No handler and no fallback: the runtime acks the event with 200 and reports it as
    /// unhandled (`Outcome::Unhandled`), so it is counted but not redelivered.
    Unhandled,
}

impl<'a, H> Route<'a, H> {
    /// The handler to run, whether it is the code's own or the fallback; `None` when unhandled.
    pub fn handler(&self) -> Option<&'a H> {
        match *self {
            Self::Handler(handler) | Self::Fallback(handler) => Some(handler),
            Self::Unhandled => None,
        }
    }

    /// Whether no handler takes the event.
    pub fn is_unhandled(&self) -> bool {
        matches!(self, Self::Unhandled)
    }
}

impl<H> Clone for Route<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for Route<'_, H> {}

impl<H> fmt::Debug for Route<'_, H> {
    /// Names the case without printing the handler, so `H` need not be `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Handler(_) => "Handler(..)",
            Self::Fallback(_) => "Fallback(..)",
            Self::Unhandled => "Unhandled",
        })
    }
}

/// Implemented by a runtime's handler type: wraps a closure `f` taking the event and its payload
/// parsed into `T` into a handler that first parses the event's `data` into `T`.
///
/// When parsing fails, the handler must not call `f`; it fails instead, with the message of
/// [`typed_payload_error`], so the event is acked with 500.
///
/// ```
/// use open_event_core::Event;
/// use open_event_core::dispatcher::{typed_payload_error, Dispatcher, FromTyped};
/// use open_event_core::model::{AppChatCreate, TypedEvent};
///
/// /// A blocking handler: takes the event, says whether it was handled.
/// struct Handler(Box<dyn Fn(&Event) -> Result<(), String>>);
///
/// impl<T, F> FromTyped<T, F> for Handler
/// where
///     T: TypedEvent,
///     F: Fn(&Event, T) -> Result<(), String> + 'static,
/// {
///     fn from_typed(f: F) -> Self {
///         Handler(Box::new(move |event| match event.parse::<T>() {
///             Ok(payload) => f(event, payload),
///             Err(err) => Err(typed_payload_error(event, &err)),
///         }))
///     }
/// }
///
/// let mut dispatcher: Dispatcher<Handler> = Dispatcher::new();
/// dispatcher.on_app_chat_create(|_event: &Event, chat: AppChatCreate| {
///     println!("new chat {} with {}", chat.chat_id, chat.creator.id);
///     Ok(())
/// });
///
/// let event = Event::new(
///     "kso.app_chat",
///     "create",
///     1704067201,
///     "0123456789abcdef",
///     r#"{"chat_id":"chat_1","creator":{"type":"user","id":"u1"},"company_id":"c1"}"#,
/// );
/// let handler = dispatcher.route(event.event_code()).handler().unwrap();
/// assert_eq!((handler.0)(&event), Ok(()));
/// ```
pub trait FromTyped<T, F> {
    /// Wraps `f` into a handler of this type.
    fn from_typed(f: F) -> Self;
}

/// The error message of a typed handler whose event payload does not parse into its model.
///
/// Runtimes use it in their [`FromTyped`] implementations; the event is then acked with 500 and
/// this message (which the ack truncates to 256 characters).
///
/// ```
/// use open_event_core::Event;
/// use open_event_core::dispatcher::typed_payload_error;
/// use open_event_core::model::AppChatCreate;
///
/// let event = Event::new("kso.app_chat", "create", 1704067201, "0123456789abcdef", "{}");
/// let err = event.parse::<AppChatCreate>().unwrap_err();
/// let message = typed_payload_error(&event, &err);
/// assert!(message.starts_with("payload of kso.app_chat.create does not match AppChatCreate: "));
/// ```
pub fn typed_payload_error(event: &Event, err: &serde_json::Error) -> String {
    let code = event.event_code();
    let model = model::model_name(code).unwrap_or("its typed model");
    format!(
        "payload of {code} does not match {model}: {err}; \
         register an untyped handler with `on(..)` to receive the raw JSON"
    )
}

/// What a route's code or pattern most likely means, judged against the event codes this SDK
/// knows ([`model::TYPED_EVENT_CODES`]). A route that matches none of them is legal (the platform
/// has events without a typed model here), but a code that is *almost* a known one is usually a
/// mistake that loses events silently: they are acked 200 as unhandled.
///
/// ```
/// use open_event_core::dispatcher::{check_pattern, PatternCheck};
///
/// assert_eq!(check_pattern("kso.app_chat.*"), PatternCheck::Known);
/// assert_eq!(check_pattern("kso.calendar.event.create"), PatternCheck::Unknown);
/// // A topic without its operation matches nothing: the codes are `topic.operation`.
/// let PatternCheck::Typo { suggestion, .. } = check_pattern("kso.app_chat") else { panic!() };
/// assert_eq!(suggestion, "kso.app_chat.*");
/// let PatternCheck::Typo { suggestion, .. } = check_pattern("kso.app_caht.create") else { panic!() };
/// assert_eq!(suggestion, "kso.app_chat.create");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternCheck {
    /// It matches at least one known event code.
    Known,
    /// It matches no known code and resembles none: probably an event without a typed model.
    Unknown,
    /// It matches no known code but looks like a mistake for `suggestion`.
    Typo {
        /// The code or pattern that was probably meant.
        suggestion: String,
        /// Why it looks like a mistake, in a few words.
        why: &'static str,
    },
}

/// Checks a code or `*` pattern as given to [`Dispatcher::on`]; see [`PatternCheck`].
pub fn check_pattern(pattern: &str) -> PatternCheck {
    let known = model::TYPED_EVENT_CODES;
    if known.iter().any(|code| glob_match(pattern, code)) {
        return PatternCheck::Known;
    }
    // `kso.app_chat` or `kso.app_chat.`: a topic (or code prefix) without the operation.
    let stem = pattern.trim_end_matches(['.', '*']);
    if !stem.is_empty()
        && known
            .iter()
            .any(|code| code.strip_prefix(stem).is_some_and(|r| r.starts_with('.')))
    {
        return PatternCheck::Typo {
            suggestion: format!("{stem}.*"),
            why: "it is a topic without an operation; event codes are topic.operation",
        };
    }
    // A misspelt code, or a pattern whose literal start is a misspelt topic.
    let candidates = known.iter().flat_map(|code| {
        // The code itself and every prefix of it that ends before a dot.
        let prefixes = code
            .match_indices('.')
            .map(|(at, _)| &code[..at])
            .filter(|prefix| prefix.contains('.'));
        std::iter::once(*code).chain(prefixes)
    });
    let (literal, tail) = match pattern.find('*') {
        Some(at) => pattern.split_at(at),
        None => (pattern, ""),
    };
    let literal_stem = literal.trim_end_matches('.');
    let separator = &literal[literal_stem.len()..];
    let best = candidates
        .filter(|candidate| tail.is_empty() == known.contains(candidate))
        .map(|candidate| (edit_distance(literal_stem, candidate), candidate))
        .filter(|(distance, candidate)| {
            *distance > 0 && *distance <= (candidate.len() / 6).clamp(2, 3)
        })
        .min_by_key(|(distance, candidate)| (*distance, candidate.len()));
    match best {
        Some((_, candidate)) => {
            let suggestion = format!("{candidate}{separator}{tail}");
            if known.iter().any(|code| glob_match(&suggestion, code)) {
                PatternCheck::Typo {
                    suggestion,
                    why: "it is a few letters away from a known event code",
                }
            } else {
                PatternCheck::Unknown
            }
        }
        None => PatternCheck::Unknown,
    }
}

impl<H> Dispatcher<H> {
    /// The registered codes and patterns that look like mistakes ([`PatternCheck::Typo`]), with
    /// what was probably meant, sorted by code. Runtimes and tools warn about them at startup.
    ///
    /// ```
    /// use open_event_core::dispatcher::Dispatcher;
    ///
    /// let mut d: Dispatcher<()> = Dispatcher::new();
    /// d.on("kso.app_chat", ()).on("kso.xz.app.group_chat.delete", ());
    /// assert_eq!(d.suspect_routes(), [("kso.app_chat", "kso.app_chat.*".to_owned())]);
    /// ```
    pub fn suspect_routes(&self) -> Vec<(&str, String)> {
        self.event_codes()
            .into_iter()
            .filter_map(|code| match check_pattern(code) {
                PatternCheck::Typo { suggestion, .. } => Some((code, suggestion)),
                _ => None,
            })
            .collect()
    }
}

/// Levenshtein distance between two short ASCII-ish strings (by `char`).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{PatternCheck, check_pattern, edit_distance, glob_match};

    #[test]
    fn glob_patterns() {
        for (pattern, text, expected) in [
            ("kso.app_chat.*", "kso.app_chat.create", true),
            ("kso.app_chat.*", "kso.app_chat.message.create", true),
            ("kso.app_chat.*", "kso.app_chat.", true),
            ("kso.app_chat.*", "kso.app_chat", false),
            ("*.delete", "kso.xz.app.group_chat.delete", true),
            (
                "*.delete",
                "kso.xz.app.group_chat.member.user.create",
                false,
            ),
            ("kso.*.create", "kso.app_chat.create", true),
            ("kso.*.create", "kso.app_chat.created", false),
            ("*", "", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("**", "x", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} vs {text}");
        }
    }

    fn typo(pattern: &str) -> Option<String> {
        match check_pattern(pattern) {
            PatternCheck::Typo { suggestion, .. } => Some(suggestion),
            _ => None,
        }
    }

    #[test]
    fn patterns_that_match_known_codes_are_fine() {
        for pattern in [
            "kso.app_chat.*",
            "kso.app_chat.create",
            "*.delete",
            "*",
            "kso.xz.app.group_chat.member.*",
        ] {
            assert_eq!(check_pattern(pattern), PatternCheck::Known, "{pattern}");
        }
    }

    #[test]
    fn a_topic_without_its_operation_suggests_the_glob() {
        assert_eq!(typo("kso.app_chat").as_deref(), Some("kso.app_chat.*"));
        assert_eq!(typo("kso.app_chat.").as_deref(), Some("kso.app_chat.*"));
        assert_eq!(
            typo("kso.xz.app.group_chat.member").as_deref(),
            Some("kso.xz.app.group_chat.member.*")
        );
    }

    #[test]
    fn near_misses_suggest_the_known_code() {
        assert_eq!(
            typo("kso.app_chat.mesage.create").as_deref(),
            Some("kso.app_chat.message.create")
        );
        assert_eq!(typo("kso.app_caht.*").as_deref(), Some("kso.app_chat.*"));
        assert_eq!(
            typo("kso.xz.app.groupchat.delete").as_deref(),
            Some("kso.xz.app.group_chat.delete")
        );
    }

    #[test]
    fn unrelated_codes_are_unknown_not_typos() {
        for pattern in [
            "kso.calendar.event.create",
            "kso.user.status.update",
            "x",
            "kso.*.nothing",
        ] {
            assert_eq!(check_pattern(pattern), PatternCheck::Unknown, "{pattern}");
        }
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("caht", "chat"), 2);
    }
}
