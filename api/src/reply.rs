//! Answering a typed message event: [`ReplyExt`].
//!
//! An extension trait rather than methods of the core's model, so `open-event-core` stays free
//! of API types.

use open_event_core::model::AppChatMessageCreate;

use crate::{ApiError, Content, Receiver, ReplyMessage, SendMessage};

/// Builds the answers to a `kso.app_chat.message.create` event.
///
/// ```
/// use open_event_api::{Endpoint, ReplyExt};
/// use open_event_core::model::AppChatMessageCreate;
///
/// let msg: AppChatMessageCreate = serde_json::from_str(
///     r#"{"company_id":"c1","chat":{"id":"chat_1","type":"p2p"},
///         "sender":{"type":"user","id":"u1"},"send_time":1704067200,
///         "message":{"id":"m1","type":"text","content":{"text":"ping"}}}"#,
/// )?;
/// let reply = msg.reply_text("pong")?;
/// assert_eq!(reply.path(), "/v7/chats/chat_1/messages/m1/reply");
/// assert_eq!(msg.text(), Some("ping"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ReplyExt {
    /// A plain text reply to this message, in its chat.
    ///
    /// # Errors
    /// [`ApiError::Empty`] for an empty text (or an event without chat or message id),
    /// [`ApiError::TextTooLong`] for a text over [`MAX_TEXT_CHARS`](crate::MAX_TEXT_CHARS).
    fn reply_text(&self, text: impl Into<String>) -> Result<ReplyMessage, ApiError>;

    /// A reply of any content the reply call accepts (`text`, `rich_text`, `image`).
    ///
    /// # Errors
    /// As [`ReplyMessage::new`].
    fn reply(&self, content: Content) -> Result<ReplyMessage, ApiError>;

    /// A new message (not a reply) in this message's chat.
    ///
    /// # Errors
    /// As [`SendMessage::text`].
    fn send_text_to_chat(&self, text: impl Into<String>) -> Result<SendMessage, ApiError>;

    /// The message's text, when it is a text message.
    fn text(&self) -> Option<&str>;
}

impl ReplyExt for AppChatMessageCreate {
    fn reply_text(&self, text: impl Into<String>) -> Result<ReplyMessage, ApiError> {
        ReplyMessage::text(&self.chat.id, &self.message.id, text)
    }

    fn reply(&self, content: Content) -> Result<ReplyMessage, ApiError> {
        ReplyMessage::new(&self.chat.id, &self.message.id, content)
    }

    fn send_text_to_chat(&self, text: impl Into<String>) -> Result<SendMessage, ApiError> {
        SendMessage::text(Receiver::chat(&self.chat.id), text)
    }

    fn text(&self) -> Option<&str> {
        self.message.content.text.as_deref()
    }
}
