//! Sans-IO core of the WPS open platform event long connection ("v7 event ws").
//!
//! This crate speaks the whole protocol and does no IO: no sockets, no clocks, no async
//! runtime, no OS randomness. Time (`Instant`) and a seed are passed in; a
//! [`Connection`](connection::Connection) takes what happened ([`Input`](connection::Input)s,
//! the passing of time, the application's commands) and answers with
//! [`Action`](connection::Action)s. The runtime crates (`open-event-tokio`,
//! `open-event-async-std`, `open-event-blocking`) are small loops around it, and the
//! deterministic simulations drive it with a virtual clock.
//!
//! | module | what |
//! |---|---|
//! | [`connection`] | the state machine and its drive loop |
//! | [`config`] | every setting with its default, validated |
//! | [`kso1`] | KSO-1 request signing and the handshake headers |
//! | [`codec`] | frames: classify inbound text, encode acks |
//! | [`crypto`] | event verification, decryption, and the inverse |
//! | [`backoff`] | the reconnect policy |
//! | [`dispatcher`], [`handler`], [`model`] | routing, handler types, typed events |
//! | [`stats`] | counters |
//!
//! # Example: open one event frame (the webhook path)
//!
//! ```
//! use open_event_core::Credentials;
//! use open_event_core::crypto::EventCipher;
//!
//! let cipher = EventCipher::new(&Credentials::new("AK20240101TEST", "sk_test_secret_0123456789abcdef"));
//! let frame = cipher.seal("kso.app_chat", "create", 1704067201, "0123456789abcdef", r#"{"chat_id":"c1"}"#)?;
//! let event = cipher.open_text(&frame.to_json())?;
//! assert_eq!(event.event_code(), "kso.app_chat.create");
//! assert_eq!(event.data, r#"{"chat_id":"c1"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See [`connection`] for the drive loop an adapter runs, and `docs/protocol.md` in the
//! repository for the protocol as this crate implements it.
//!
//! # Features
//!
//! - `testing`: introspection the workspace's simulations use (e.g.
//!   `Connection::dedup_len`). Not part of the stable API.
#![forbid(unsafe_code)]
// Every public enum either may grow (`#[non_exhaustive]`) or says why it must not.
#![warn(clippy::exhaustive_enums)]

pub mod backoff;
pub mod codec;
pub mod config;
pub mod connect_hint;
pub mod connection;
mod credentials;
pub mod crypto;
pub mod dispatcher;
pub mod duration_text;
mod event;
pub mod handler;
pub mod kso1;
pub mod model;
pub mod stats;

pub use credentials::{AppSecret, Credentials};
pub use event::Event;
