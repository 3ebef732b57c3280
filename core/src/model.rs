//! Typed payloads of the events the platform documents (docs/protocol.md §10).
//!
//! Each type here is the `data` of one event code, ready for [`Event::parse`](crate::Event::parse)
//! or for a typed handler of the [`Dispatcher`](crate::dispatcher::Dispatcher). Every type
//! implements [`TypedEvent`], which names the event code it belongs to.
//!
//! # Tolerance rules
//!
//! The platform adds fields and values over time, so parsing is lenient where the protocol allows
//! it and strict only where it promises something:
//!
//! - Unknown fields are ignored everywhere.
//! - Fields the protocol table marks optional (`?`) are `Option`s or lists that default to empty;
//!   a missing field or an explicit `null` never fails parsing. Lists (`mentions`, `users`) count
//!   as optional too: a missing list is an empty one.
//! - Every other field is required: a payload without it fails to parse, because a handler could
//!   not do anything sensible with, say, a message that has no chat.
//! - Identity types the protocol does not list yet parse as [`IdentityType::Other`], never as an
//!   error.
//!
//! Serializing a value writes the same shape back, leaving `None` options out.
//!
//! All structs are `#[non_exhaustive]` so fields can be added without a breaking release; build
//! them by deserializing (for example with `serde_json::json!`) rather than with literals.
//!
//! ```
//! use open_event_core::Event;
//! use open_event_core::model::{AppChatMessageCreate, IdentityType, TypedEvent};
//!
//! let event = Event::new(
//!     "kso.app_chat.message",
//!     "create",
//!     1704067200,
//!     "b38c06ba3330d2a3",
//!     r#"{"company_id":"c1","chat":{"id":"chat_1","type":"p2p"},
//!         "sender":{"type":"user","id":"u1"},"send_time":1704067200,
//!         "message":{"id":"m1","type":"text","content":{"text":"hello"}}}"#,
//! );
//! assert_eq!(event.event_code(), AppChatMessageCreate::EVENT_CODE);
//!
//! let payload: AppChatMessageCreate = event.parse()?;
//! assert_eq!(payload.sender.kind, IdentityType::User);
//! assert_eq!(payload.message.content.text.as_deref(), Some("hello"));
//! assert!(payload.message.mentions.is_empty());
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A payload type bound to one event code.
///
/// The [`Dispatcher`](crate::dispatcher::Dispatcher) uses it to register a typed handler under the
/// right code (`on_typed`), and runtimes use it to parse the event's `data` before calling that
/// handler. You may implement it for your own payload types of event codes this crate does not
/// model.
///
/// ```
/// use open_event_core::model::{AppChatCreate, TypedEvent};
///
/// assert_eq!(AppChatCreate::EVENT_CODE, "kso.app_chat.create");
/// ```
pub trait TypedEvent: DeserializeOwned + Send + 'static {
    /// The event code (`topic + "." + operation`) whose `data` this type describes.
    const EVENT_CODE: &'static str;
}

/// The event codes of the seven typed events of docs/protocol.md §10, in the order of its table.
///
/// ```
/// use open_event_core::model::{GroupChatDelete, TYPED_EVENT_CODES, TypedEvent};
///
/// assert!(TYPED_EVENT_CODES.contains(&GroupChatDelete::EVENT_CODE));
/// ```
pub const TYPED_EVENT_CODES: [&str; 7] = [
    AppChatMessageCreate::EVENT_CODE,
    AppChatCreate::EVENT_CODE,
    GroupChatDelete::EVENT_CODE,
    GroupChatMemberUserCreate::EVENT_CODE,
    GroupChatMemberUserDelete::EVENT_CODE,
    GroupChatMemberRobotCreate::EVENT_CODE,
    GroupChatMemberRobotDelete::EVENT_CODE,
];

// ---------------------------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------------------------

/// Who did something: a user, an app, or a service principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Identity {
    /// What kind of identity `id` names.
    #[serde(rename = "type")]
    pub kind: IdentityType,
    /// The identity's id, unique within its kind.
    pub id: String,
}

impl Identity {
    /// Builds an identity, e.g. for tests or for building a payload to send.
    ///
    /// ```
    /// use open_event_core::model::{Identity, IdentityType};
    ///
    /// let user = Identity::new(IdentityType::User, "u1");
    /// assert_eq!(serde_json::to_string(&user)?, r#"{"type":"user","id":"u1"}"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn new(kind: IdentityType, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }
}

/// The `type` of an identity (docs/protocol.md §10): `user`, `app` or `service_principal`.
///
/// A value the protocol does not list yet parses as [`IdentityType::Other`] holding the text as
/// sent, so a new kind of identity never makes a payload fail to parse, and serializes back
/// unchanged. Deserialization never produces `Other` for one of the listed values.
///
/// ```
/// use open_event_core::model::IdentityType;
///
/// let kind: IdentityType = serde_json::from_str(r#""service_principal""#)?;
/// assert_eq!(kind, IdentityType::ServicePrincipal);
///
/// let future: IdentityType = serde_json::from_str(r#""robot""#)?;
/// assert_eq!(future, IdentityType::Other("robot".to_owned()));
/// assert_eq!(future.as_str(), "robot");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdentityType {
    /// `user`: a person.
    User,
    /// `app`: an application (a bot).
    App,
    /// `service_principal`: a service account.
    ServicePrincipal,
    /// A type this version does not know, as the platform sent it.
    Other(String),
}

impl IdentityType {
    /// The wire form, e.g. `service_principal`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::User => "user",
            Self::App => "app",
            Self::ServicePrincipal => "service_principal",
            Self::Other(other) => other,
        }
    }
}

impl From<&str> for IdentityType {
    /// Maps a wire value to its variant; unknown values become [`IdentityType::Other`].
    fn from(value: &str) -> Self {
        match value {
            "user" => Self::User,
            "app" => Self::App,
            "service_principal" => Self::ServicePrincipal,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for IdentityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for IdentityType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IdentityType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(IdentityTypeVisitor)
    }
}

/// Accepts any string; only the listed values map to named variants.
struct IdentityTypeVisitor;

impl Visitor<'_> for IdentityTypeVisitor {
    type Value = IdentityType;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an identity type string such as \"user\"")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<IdentityType, E> {
        Ok(IdentityType::from(value))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<IdentityType, E> {
        // Reuse the allocation for unknown values.
        Ok(match IdentityType::from(value.as_str()) {
            IdentityType::Other(_) => IdentityType::Other(value),
            known => known,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// kso.app_chat.message.create
// ---------------------------------------------------------------------------------------------

/// `kso.app_chat.message.create`: a user sent the app a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppChatMessageCreate {
    /// The company (tenant) the chat belongs to.
    pub company_id: String,
    /// The chat the message was sent in.
    pub chat: Chat,
    /// Who sent the message.
    pub sender: Sender,
    /// When the message was sent, a Unix timestamp as the platform sends it (the protocol's
    /// examples use seconds).
    pub send_time: i64,
    /// The message itself.
    pub message: Message,
}

impl TypedEvent for AppChatMessageCreate {
    const EVENT_CODE: &'static str = "kso.app_chat.message.create";
}

/// The chat a message was sent in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Chat {
    /// The chat's id.
    pub id: String,
    /// The kind of chat as the platform names it, e.g. `p2p` for a one-to-one chat.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The sender of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sender {
    /// What kind of identity sent the message.
    #[serde(rename = "type")]
    pub kind: IdentityType,
    /// The sender's id.
    pub id: String,
    /// Extra attributes of the sender, kept as raw JSON because their shape is not documented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_attribute: Option<serde_json::Value>,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// The message's id.
    pub id: String,
    /// The kind of message as the platform names it, e.g. `text`; it tells which part of
    /// [`content`](Self::content) is filled.
    #[serde(rename = "type")]
    pub kind: String,
    /// The message's content.
    pub content: MessageContent,
    /// Who is mentioned in the text; empty when nobody is (or the field is missing).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mentions: Vec<Mention>,
    /// The id of the message this one quotes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_msg_id: Option<String>,
}

/// The content of a message; which parts are present depends on the message's type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageContent {
    /// The text of a text message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The image of an image message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageContent>,
    /// The file of a file message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileContent>,
}

/// An image attached to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageContent {
    /// The id under which the platform stores the image.
    pub file_id: String,
}

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileContent {
    /// The id under which the platform stores the file.
    pub file_id: String,
    /// The file's name.
    pub name: String,
}

/// A mention inside a message's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Mention {
    /// What is mentioned, as the platform names it (for example a user).
    #[serde(rename = "type")]
    pub kind: String,
    /// The id of who is mentioned; absent for mentions that name no single identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Where the mention starts in the text, as the platform counts positions.
    pub offset: i64,
    /// How long the mention is in the text, in the same unit as `offset`.
    pub length: i64,
}

// ---------------------------------------------------------------------------------------------
// kso.app_chat.create
// ---------------------------------------------------------------------------------------------

/// `kso.app_chat.create`: the first chat between a user and the bot was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppChatCreate {
    /// The new chat's id.
    pub chat_id: String,
    /// Who started the chat.
    pub creator: Identity,
    /// The company (tenant) the chat belongs to.
    pub company_id: String,
}

impl TypedEvent for AppChatCreate {
    const EVENT_CODE: &'static str = "kso.app_chat.create";
}

// ---------------------------------------------------------------------------------------------
// kso.xz.app.group_chat.*
// ---------------------------------------------------------------------------------------------

/// `kso.xz.app.group_chat.delete`: a group chat was dissolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupChatDelete {
    /// The dissolved group's chat id.
    pub chat_id: String,
    /// The company (tenant) the group belonged to.
    pub company_id: String,
    /// Who dissolved the group.
    pub operator: Identity,
}

impl TypedEvent for GroupChatDelete {
    const EVENT_CODE: &'static str = "kso.xz.app.group_chat.delete";
}

/// `kso.xz.app.group_chat.member.user.create`: users joined a group chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupChatMemberUserCreate {
    /// The group's chat id.
    pub chat_id: String,
    /// The company (tenant) the group belongs to.
    pub company_id: String,
    /// Who added the users.
    pub operator: Identity,
    /// The users who joined; empty when the platform sent none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<Identity>,
}

impl TypedEvent for GroupChatMemberUserCreate {
    const EVENT_CODE: &'static str = "kso.xz.app.group_chat.member.user.create";
}

/// `kso.xz.app.group_chat.member.user.delete`: users left (or were removed from) a group chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupChatMemberUserDelete {
    /// The group's chat id.
    pub chat_id: String,
    /// The company (tenant) the group belongs to.
    pub company_id: String,
    /// Who removed the users (the users themselves when they left).
    pub operator: Identity,
    /// The users who left; empty when the platform sent none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<Identity>,
}

impl TypedEvent for GroupChatMemberUserDelete {
    const EVENT_CODE: &'static str = "kso.xz.app.group_chat.member.user.delete";
}

/// `kso.xz.app.group_chat.member.robot.create`: the bot joined a group chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupChatMemberRobotCreate {
    /// The group's chat id.
    pub chat_id: String,
    /// The company (tenant) the group belongs to.
    pub company_id: String,
    /// Who added the bot.
    pub operator: Identity,
}

impl TypedEvent for GroupChatMemberRobotCreate {
    const EVENT_CODE: &'static str = "kso.xz.app.group_chat.member.robot.create";
}

/// `kso.xz.app.group_chat.member.robot.delete`: the bot left (or was removed from) a group chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupChatMemberRobotDelete {
    /// The group's chat id.
    pub chat_id: String,
    /// The company (tenant) the group belongs to.
    pub company_id: String,
    /// Who removed the bot.
    pub operator: Identity,
}

impl TypedEvent for GroupChatMemberRobotDelete {
    const EVENT_CODE: &'static str = "kso.xz.app.group_chat.member.robot.delete";
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The name of the model type of one of [`TYPED_EVENT_CODES`], for error messages.
pub(crate) fn model_name(event_code: &str) -> Option<&'static str> {
    Some(match event_code {
        AppChatMessageCreate::EVENT_CODE => "AppChatMessageCreate",
        AppChatCreate::EVENT_CODE => "AppChatCreate",
        GroupChatDelete::EVENT_CODE => "GroupChatDelete",
        GroupChatMemberUserCreate::EVENT_CODE => "GroupChatMemberUserCreate",
        GroupChatMemberUserDelete::EVENT_CODE => "GroupChatMemberUserDelete",
        GroupChatMemberRobotCreate::EVENT_CODE => "GroupChatMemberRobotCreate",
        GroupChatMemberRobotDelete::EVENT_CODE => "GroupChatMemberRobotDelete",
        _ => return None,
    })
}

/// Reads an explicit `null` like a missing field: as the type's default (an empty list).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
