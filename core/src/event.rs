//! The event delivered to handlers.

use serde::de::{DeserializeOwned, IgnoredAny};

use crate::codec::FrameError;

/// One verified and decrypted event (docs/protocol.md §2).
///
/// `data` holds the decrypted JSON text exactly as the platform sent it; [`Event::parse`] turns it
/// into a typed payload (see [`crate::model`]) or any serde type of yours.
///
/// ```
/// use open_event_core::Event;
///
/// let event = Event::new("kso.app_chat", "create", 1704067201, "0123456789abcdef", r#"{"chat_id":"c"}"#);
/// assert_eq!(event.event_code(), "kso.app_chat.create");
/// let value: serde_json::Value = event.parse().unwrap();
/// assert_eq!(value["chat_id"], "c");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The topic, e.g. `kso.app_chat.message`.
    pub topic: String,
    /// The operation, e.g. `create`. Not covered by the event signature: the channel's TLS is what
    /// protects it (docs/protocol.md §2).
    pub operation: String,
    /// When the platform produced the event, in seconds since the Unix epoch.
    pub time: i64,
    /// The event's identity: acks name it and redeliveries repeat it.
    pub nonce: String,
    /// The decrypted payload: UTF-8 JSON text (may be empty).
    pub data: String,
    event_code: String,
}

impl Event {
    /// Builds an event from its parts; the event code is `topic + "." + operation`.
    pub fn new(
        topic: impl Into<String>,
        operation: impl Into<String>,
        time: i64,
        nonce: impl Into<String>,
        data: impl Into<String>,
    ) -> Self {
        let topic = topic.into();
        let operation = operation.into();
        let mut event_code = String::with_capacity(topic.len() + 1 + operation.len());
        event_code.push_str(&topic);
        event_code.push('.');
        event_code.push_str(&operation);
        Self {
            topic,
            operation,
            time,
            nonce: nonce.into(),
            data: data.into(),
            event_code,
        }
    }

    /// `topic + "." + operation`, the key handlers are registered under.
    pub fn event_code(&self) -> &str {
        &self.event_code
    }

    /// Checks that `data` is what the protocol promises: JSON text, or empty (an event without
    /// a payload). [`Connection`](crate::connection::Connection) rejects any other event, so
    /// handlers only ever see JSON; a webhook endpoint applies the same rule.
    ///
    /// # Errors
    /// [`FrameError::PlaintextNotJson`] with the parser's description.
    ///
    /// ```
    /// use open_event_core::Event;
    ///
    /// let event = |data| Event::new("kso.app_chat", "create", 0, "0123456789abcdef", data);
    /// assert!(event(r#"{"chat_id":"c"}"#).check_json().is_ok());
    /// assert!(event("").check_json().is_ok());
    /// assert!(event("hello").check_json().is_err());
    /// ```
    pub fn check_json(&self) -> Result<(), FrameError> {
        if self.data.is_empty() {
            return Ok(());
        }
        serde_json::from_str::<IgnoredAny>(&self.data)
            .map(|_| ())
            .map_err(|err| FrameError::PlaintextNotJson(err.to_string()))
    }

    /// Parses `data` as JSON into `T`.
    ///
    /// # Errors
    /// The serde error when `data` is not JSON of the shape `T` expects.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.data)
    }
}
