//! A sans-IO client of the WPS open platform's REST API, for answering events: the access token,
//! sending messages and replying to them (PROTOCOL.md §9).
//!
//! The crate does no IO and has no HTTP library. It renders typed requests to
//! `http::Request<Vec<u8>>` (signed with KSO-1 for a given date and token) and parses
//! `http::Response<&[u8]>` into typed outputs or an [`ApiError`]; a [`Call`] decides everything
//! else (when to fetch the token, what a 401 means, which answers to retry after how long).
//! Thin adapters carry the decisions out:
//!
//! | item | what |
//! |---|---|
//! | [`ApiConfig`], [`RetryPolicy`] | credentials, API base URL, timeouts, refresh margin, retries |
//! | [`SendMessage`], [`ReplyMessage`], [`Receiver`], [`Content`], [`MessageSent`] | the message calls, checked on construction (text at most [`MAX_TEXT_CHARS`]) |
//! | [`ReplyExt`] | `reply_text(..)` on the typed `AppChatMessageCreate` event |
//! | [`sign_request`], [`parse_response`], [`Endpoint`] | one call as pure functions |
//! | [`Token`], [`TokenCache`], [`AccessToken`] | the token request and answer, and when to replace it |
//! | [`Api`], [`Call`], [`Step`] | the drive loop of a call, with retries and the 401 refresh |
//! | `AsyncClient` (feature `reqwest`) | the async client on reqwest + rustls (tokio) |
//! | `BlockingClient` (feature `ureq`) | the blocking client on ureq + rustls |
//!
//! # Why the adapters live here, behind features
//!
//! Each adapter is one small module (a loop of `poll` / send / `handle_*`), so a crate of its
//! own per adapter would be mostly boilerplate. Behind the `reqwest` and `ureq` features they
//! cost nothing to users of the sans-IO part, and both take the event client's TLS settings
//! (`open_event_transport::TlsOptions`), so the API and the event connection trust the same
//! roots with the same rustls (ring) configuration. The async client needs a tokio runtime
//! (reqwest's); on async-std or smol, run the blocking client with `unblock`/`spawn_blocking`.
//!
//! # Secrets
//!
//! The app secret and access tokens never appear in `Debug` output or in errors: the token is
//! an [`AccessToken`] (redacted `Debug`, no `Display`), an [`Outgoing`] request prints only its
//! method and URI, the bearer header is marked sensitive, and texts the platform sends back are
//! scrubbed of both before an error keeps them.
//!
//! # Example: one call, driven by hand
//!
//! See [`Call`]'s module documentation for the whole loop; the pure halves:
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use open_event_api::{parse_response, sign_request, AccessToken, ApiConfig, ReplyMessage};
//!
//! let config = ApiConfig::builder("AK123456", "sk098765").build()?;
//! let reply = ReplyMessage::text("chat_1", "msg_1", "pong")?;
//! let date = UNIX_EPOCH + Duration::from_secs(1136214245);
//! let request = sign_request(&config, &reply, &AccessToken::new("t1"), date);
//! assert_eq!(request.uri().path(), "/v7/chats/chat_1/messages/msg_1/reply");
//!
//! let answer = http::Response::new(&br#"{"code":0,"data":{"message_id":"msg_2"}}"#[..]);
//! assert_eq!(parse_response(&reply, answer)?.message_id.as_deref(), Some("msg_2"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod call;
mod config;
mod endpoint;
mod error;
mod message;
mod reply;
mod response;
mod token;

#[cfg(feature = "reqwest")]
mod async_client;
#[cfg(feature = "ureq")]
mod blocking_client;

pub use call::{Api, Call, FailureKind, Outgoing, Purpose, Step, TransportFailure};
pub use config::{ApiConfig, ApiConfigBuilder, DEFAULT_API_BASE, RetryPolicy};
pub use endpoint::{Endpoint, JSON, parse_response, sign_request};
pub use error::ApiError;
pub use message::{
    Content, MAX_TEXT_CHARS, MessageSent, Receiver, ReceiverType, ReplyMessage, SendMessage,
    check_text,
};
pub use reply::ReplyExt;
pub use token::{AccessToken, AfterUnauthorized, TOKEN_PATH, Token, TokenCache, TokenDecision};

#[cfg(feature = "reqwest")]
pub use async_client::AsyncClient;
#[cfg(feature = "ureq")]
pub use blocking_client::BlockingClient;
#[cfg(any(feature = "reqwest", feature = "ureq"))]
pub use open_event_transport::{Roots, TlsOptions};
