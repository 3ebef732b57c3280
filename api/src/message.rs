//! Sending messages and replying to them: [`SendMessage`] (`POST /v7/messages/create`) and
//! [`ReplyMessage`] (`POST /v7/chats/{chat_id}/messages/{message_id}/reply`).

use serde_json::{Map, Value, json};

use crate::ApiError;
use crate::endpoint::{Endpoint, push_segment};

/// The most characters (Unicode scalar values) a message text may have.
pub const MAX_TEXT_CHARS: usize = 5000;

/// Who receives a message: its `receiver` object.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receiver {
    /// The receiver's id: a chat id, or a user id.
    pub receiver_id: String,
    /// What `receiver_id` names.
    pub kind: ReceiverType,
    /// The partner company of an [`ReceiverType::EnterprisePartnerUser`].
    pub partner_id: Option<String>,
}

/// The `type` of a [`Receiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiverType {
    /// `user`: a user of the app's company.
    User,
    /// `enterprise_partner_user`: a user of a partner company.
    EnterprisePartnerUser,
    /// `chat`: a chat (one-to-one or group).
    Chat,
}

impl ReceiverType {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::EnterprisePartnerUser => "enterprise_partner_user",
            Self::Chat => "chat",
        }
    }
}

impl Receiver {
    /// The chat `chat_id`.
    pub fn chat(chat_id: impl Into<String>) -> Self {
        Self {
            receiver_id: chat_id.into(),
            kind: ReceiverType::Chat,
            partner_id: None,
        }
    }

    /// The user `user_id` of the app's company.
    pub fn user(user_id: impl Into<String>) -> Self {
        Self {
            receiver_id: user_id.into(),
            kind: ReceiverType::User,
            partner_id: None,
        }
    }

    /// The user `user_id` of the partner company `partner_id`.
    pub fn partner_user(user_id: impl Into<String>, partner_id: impl Into<String>) -> Self {
        Self {
            receiver_id: user_id.into(),
            kind: ReceiverType::EnterprisePartnerUser,
            partner_id: Some(partner_id.into()),
        }
    }

    fn to_json(&self) -> Value {
        let mut receiver = Map::new();
        receiver.insert("receiver_id".into(), Value::from(self.receiver_id.as_str()));
        receiver.insert("type".into(), Value::from(self.kind.as_str()));
        if let Some(partner) = &self.partner_id {
            receiver.insert("partner_id".into(), Value::from(partner.as_str()));
        }
        Value::Object(receiver)
    }
}

/// What a message says: its `type` and `content`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Content {
    /// Plain text: `type` `text`, content `{"text":{"content":…,"type":"plain"}}`.
    Text(String),
    /// Any other type (`rich_text`, `image`, `file`, `card`, …) with its content object as the
    /// platform documents it, passed through unchanged.
    Other {
        /// The message `type`.
        kind: String,
        /// The `content` object.
        content: Value,
    },
}

impl Content {
    /// Plain text, checked against [`MAX_TEXT_CHARS`].
    ///
    /// # Errors
    /// [`ApiError::Empty`] for an empty text, [`ApiError::TextTooLong`] for a longer one.
    pub fn text(text: impl Into<String>) -> Result<Self, ApiError> {
        let text = text.into();
        check_text(&text)?;
        Ok(Self::Text(text))
    }

    /// The message `type`.
    pub fn kind(&self) -> &str {
        match self {
            Self::Text(_) => "text",
            Self::Other { kind, .. } => kind,
        }
    }

    fn content_json(&self) -> Value {
        match self {
            Self::Text(text) => json!({ "text": { "content": text, "type": "plain" } }),
            Self::Other { content, .. } => content.clone(),
        }
    }
}

/// Checks a message text: not empty, at most [`MAX_TEXT_CHARS`] characters.
///
/// # Errors
/// [`ApiError::Empty`] or [`ApiError::TextTooLong`].
///
/// ```
/// use open_event_api::{check_text, MAX_TEXT_CHARS};
///
/// assert!(check_text(&"字".repeat(MAX_TEXT_CHARS)).is_ok()); // characters, not bytes
/// assert!(check_text(&"字".repeat(MAX_TEXT_CHARS + 1)).is_err());
/// assert!(check_text("").is_err());
/// ```
pub fn check_text(text: &str) -> Result<(), ApiError> {
    if text.is_empty() {
        return Err(ApiError::Empty {
            what: "message text",
        });
    }
    // Counting stops early: a huge text is not walked to its end.
    let chars = text.chars().take(MAX_TEXT_CHARS + 1).count();
    if chars > MAX_TEXT_CHARS {
        return Err(ApiError::TextTooLong {
            chars: text.chars().count(),
            max: MAX_TEXT_CHARS,
        });
    }
    Ok(())
}

fn non_empty(value: &str, what: &'static str) -> Result<(), ApiError> {
    if value.is_empty() {
        Err(ApiError::Empty { what })
    } else {
        Ok(())
    }
}

/// The body shared by sends and replies.
fn message_body(receiver: Option<&Receiver>, content: &Content, mentions: &[Value]) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("type".into(), Value::from(content.kind()));
    if let Some(receiver) = receiver {
        body.insert("receiver".into(), receiver.to_json());
    }
    if !mentions.is_empty() {
        body.insert("mentions".into(), Value::Array(mentions.to_vec()));
    }
    body.insert("content".into(), content.content_json());
    serde_json::to_vec(&Value::Object(body)).expect("a JSON value serializes")
}

/// `POST /v7/messages/create`: sends a message to a chat or a user.
///
/// ```
/// use open_event_api::{Receiver, SendMessage, Endpoint};
///
/// let send = SendMessage::text(Receiver::chat("chat_1"), "hello")?;
/// assert_eq!(send.path(), "/v7/messages/create");
/// assert_eq!(
///     String::from_utf8(send.body())?,
///     r#"{"content":{"text":{"content":"hello","type":"plain"}},"receiver":{"receiver_id":"chat_1","type":"chat"},"type":"text"}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SendMessage {
    receiver: Receiver,
    content: Content,
    mentions: Vec<Value>,
}

impl SendMessage {
    /// A plain text message to `receiver`.
    ///
    /// # Errors
    /// [`ApiError::Empty`] for an empty text or receiver id, [`ApiError::TextTooLong`] for a
    /// text longer than [`MAX_TEXT_CHARS`].
    pub fn text(receiver: Receiver, text: impl Into<String>) -> Result<Self, ApiError> {
        Self::new(receiver, Content::text(text)?)
    }

    /// A message of any content to `receiver`.
    ///
    /// # Errors
    /// [`ApiError::Empty`] for an empty receiver id or message type, and the text checks of
    /// [`check_text`] for [`Content::Text`].
    pub fn new(receiver: Receiver, content: Content) -> Result<Self, ApiError> {
        non_empty(&receiver.receiver_id, "receiver id")?;
        check_content(&content)?;
        Ok(Self {
            receiver,
            content,
            mentions: Vec::new(),
        })
    }

    /// Adds the `mentions` list, as the platform documents its entries.
    #[must_use]
    pub fn with_mentions(mut self, mentions: Vec<Value>) -> Self {
        self.mentions = mentions;
        self
    }

    /// The receiver.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// The content.
    pub fn content(&self) -> &Content {
        &self.content
    }
}

fn check_content(content: &Content) -> Result<(), ApiError> {
    match content {
        Content::Text(text) => check_text(text),
        Content::Other { kind, .. } => non_empty(kind, "message type"),
    }
}

impl Endpoint for SendMessage {
    type Output = MessageSent;

    fn path(&self) -> String {
        "/v7/messages/create".to_owned()
    }

    fn body(&self) -> Vec<u8> {
        message_body(Some(&self.receiver), &self.content, &self.mentions)
    }

    fn parse_data(&self, _status: u16, data: Value) -> Result<MessageSent, ApiError> {
        Ok(MessageSent::from_data(data))
    }
}

/// The message types a reply may have.
const REPLY_TYPES: &str = "text, rich_text, image";

/// `POST /v7/chats/{chat_id}/messages/{message_id}/reply`: answers a message in its chat.
///
/// ```
/// use open_event_api::{Endpoint, ReplyMessage};
///
/// let reply = ReplyMessage::text("chat 1", "msg/2", "got it")?;
/// assert_eq!(reply.path(), "/v7/chats/chat%201/messages/msg%2F2/reply");
/// assert_eq!(
///     String::from_utf8(reply.body())?,
///     r#"{"content":{"text":{"content":"got it","type":"plain"}},"type":"text"}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyMessage {
    chat_id: String,
    message_id: String,
    content: Content,
    mentions: Vec<Value>,
}

impl ReplyMessage {
    /// A plain text reply to message `message_id` of chat `chat_id`.
    ///
    /// # Errors
    /// [`ApiError::Empty`] for an empty id or text, [`ApiError::TextTooLong`].
    pub fn text(
        chat_id: impl Into<String>,
        message_id: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Self, ApiError> {
        Self::new(chat_id, message_id, Content::text(text)?)
    }

    /// A reply of any content the reply call accepts (`text`, `rich_text`, `image`).
    ///
    /// # Errors
    /// [`ApiError::Empty`] for an empty id, [`ApiError::UnsupportedType`] for another type,
    /// the checks of [`check_text`] for text.
    pub fn new(
        chat_id: impl Into<String>,
        message_id: impl Into<String>,
        content: Content,
    ) -> Result<Self, ApiError> {
        let (chat_id, message_id) = (chat_id.into(), message_id.into());
        non_empty(&chat_id, "chat id")?;
        non_empty(&message_id, "message id")?;
        check_content(&content)?;
        if !matches!(content.kind(), "text" | "rich_text" | "image") {
            return Err(ApiError::UnsupportedType {
                kind: content.kind().to_owned(),
                call: "a reply",
                allowed: REPLY_TYPES,
            });
        }
        Ok(Self {
            chat_id,
            message_id,
            content,
            mentions: Vec::new(),
        })
    }

    /// Adds the `mentions` list, as the platform documents its entries.
    #[must_use]
    pub fn with_mentions(mut self, mentions: Vec<Value>) -> Self {
        self.mentions = mentions;
        self
    }

    /// The chat of the message answered.
    pub fn chat_id(&self) -> &str {
        &self.chat_id
    }

    /// The message answered.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The content.
    pub fn content(&self) -> &Content {
        &self.content
    }
}

impl Endpoint for ReplyMessage {
    type Output = MessageSent;

    fn path(&self) -> String {
        let mut path = String::from("/v7/chats/");
        push_segment(&mut path, &self.chat_id);
        path.push_str("/messages/");
        push_segment(&mut path, &self.message_id);
        path.push_str("/reply");
        path
    }

    fn body(&self) -> Vec<u8> {
        message_body(None, &self.content, &self.mentions)
    }

    fn parse_data(&self, _status: u16, data: Value) -> Result<MessageSent, ApiError> {
        Ok(MessageSent::from_data(data))
    }
}

/// The answer to a sent message or a reply.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MessageSent {
    /// The new message's id, when the platform returned one (`data.message_id`).
    pub message_id: Option<String>,
    /// The whole `data` object as sent (`Null` when there was none).
    pub data: Value,
}

impl MessageSent {
    fn from_data(data: Value) -> Self {
        let message_id = ["message_id", "id"]
            .iter()
            .find_map(|key| data.get(key))
            .and_then(|id| match id {
                Value::String(id) => Some(id.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        Self { message_id, data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_render_as_documented() {
        let send = SendMessage::text(Receiver::partner_user("u1", "p1"), "hi").unwrap();
        let body: Value = serde_json::from_slice(&send.body()).unwrap();
        assert_eq!(
            body["receiver"],
            json!({"receiver_id": "u1", "type": "enterprise_partner_user", "partner_id": "p1"})
        );
        let send = SendMessage::text(Receiver::user("u2"), "hi")
            .unwrap()
            .with_mentions(vec![json!({"type": "user", "id": "u2"})]);
        let body: Value = serde_json::from_slice(&send.body()).unwrap();
        assert_eq!(body["receiver"]["type"], "user");
        assert_eq!(body["mentions"][0]["id"], "u2");
    }

    #[test]
    fn invalid_requests_are_typed_errors() {
        assert_eq!(
            SendMessage::text(Receiver::chat(""), "hi").unwrap_err(),
            ApiError::Empty {
                what: "receiver id"
            }
        );
        assert_eq!(
            ReplyMessage::text("", "m", "hi").unwrap_err(),
            ApiError::Empty { what: "chat id" }
        );
        assert_eq!(
            ReplyMessage::text("c", "", "hi").unwrap_err(),
            ApiError::Empty { what: "message id" }
        );
        let err = ReplyMessage::new(
            "c",
            "m",
            Content::Other {
                kind: "card".into(),
                content: json!({}),
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("text, rich_text, image"), "{err}");
        assert!(err.is_invalid_request());
        let long = "a".repeat(MAX_TEXT_CHARS + 10);
        assert_eq!(
            ReplyMessage::text("c", "m", long).unwrap_err(),
            ApiError::TextTooLong {
                chars: MAX_TEXT_CHARS + 10,
                max: MAX_TEXT_CHARS
            }
        );
    }

    #[test]
    fn other_content_passes_through() {
        let image = Content::Other {
            kind: "image".into(),
            content: json!({"image": {"file_id": "f1"}}),
        };
        let reply = ReplyMessage::new("c", "m", image).unwrap();
        let body: Value = serde_json::from_slice(&reply.body()).unwrap();
        assert_eq!(
            body,
            json!({"type": "image", "content": {"image": {"file_id": "f1"}}})
        );
    }

    #[test]
    fn message_ids_are_read_leniently() {
        assert_eq!(
            MessageSent::from_data(json!({"message_id": 42}))
                .message_id
                .as_deref(),
            Some("42")
        );
        assert_eq!(MessageSent::from_data(Value::Null).message_id, None);
    }
}
