//! Events to push.

/// An event for the server to push: what the platform would send, before sealing.
///
/// ```
/// use open_event_emulator::server::EventSpec;
///
/// let event = EventSpec::new("kso.app_chat", "create", r#"{"chat_id":"c1"}"#).time(1704067200);
/// assert_eq!(event.event_code(), "kso.app_chat.create");
/// let message = EventSpec::chat_message("hello");
/// assert_eq!(message.event_code(), "kso.app_chat.message.create");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// The topic, e.g. `kso.app_chat.message` (must not be empty).
    pub topic: String,
    /// The operation, e.g. `create` (must not be empty).
    pub operation: String,
    /// The event's data: JSON text, encrypted on the wire.
    pub data: String,
    /// The `time` field (seconds since the Unix epoch); `None` takes the server's wall clock
    /// at the moment of the push.
    pub time: Option<i64>,
}

impl EventSpec {
    /// An event with this topic, operation and data, timed at the push.
    pub fn new(
        topic: impl Into<String>,
        operation: impl Into<String>,
        data: impl Into<String>,
    ) -> Self {
        Self {
            topic: topic.into(),
            operation: operation.into(),
            data: data.into(),
            time: None,
        }
    }

    /// Sets the `time` field.
    pub fn time(mut self, time: i64) -> Self {
        self.time = Some(time);
        self
    }

    /// `topic.operation`.
    pub fn event_code(&self) -> String {
        format!("{}.{}", self.topic, self.operation)
    }

    /// A `kso.app_chat.message` `create` event: a user sent the app the text message `text`
    /// (docs/protocol.md §10; the ids are fixed sample values).
    pub fn chat_message(text: &str) -> Self {
        let mut data = String::from(
            r#"{"company_id":"emu-company","chat":{"id":"emu-chat","type":"p2p"},"sender":{"type":"user","id":"emu-user"},"send_time":1704067200,"message":{"id":"emu-msg","type":"text","content":{"text":"#,
        );
        data.push_str(&json_string(text));
        data.push_str("}}}");
        Self::new("kso.app_chat.message", "create", data)
    }

    /// A `kso.app_chat` `create` event (the first chat between a user and the app).
    pub fn chat_created(chat_id: &str) -> Self {
        let data = format!(
            r#"{{"chat_id":{},"creator":{{"type":"user","id":"emu-user"}},"company_id":"emu-company"}}"#,
            json_string(chat_id)
        );
        Self::new("kso.app_chat", "create", data)
    }
}

/// Why an event could not be pushed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The topic is empty.
    #[error("the event's topic is empty: give it one, e.g. `kso.app_chat.message`")]
    EmptyTopic,
    /// The operation is empty.
    #[error("the event's operation is empty: give it one, e.g. `create`")]
    EmptyOperation,
}

impl EventSpec {
    pub(crate) fn check(&self) -> Result<(), PushError> {
        if self.topic.is_empty() {
            Err(PushError::EmptyTopic)
        } else if self.operation.is_empty() {
            Err(PushError::EmptyOperation)
        } else {
            Ok(())
        }
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}
