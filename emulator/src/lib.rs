//! An emulator of the WPS open platform's event long-connection server ("v7 event ws").
//!
//! Two layers for the event connection, and the REST API beside them:
//!
//! | module | what |
//! |---|---|
//! | [`server`] | a sans-IO [`server::Server`]: validates KSO-1 handshakes, pings and matches pongs, pushes signed and encrypted events, records acks, redelivers what was not acked with 200, sends GoAways, and misbehaves on purpose (drops, silence, malformed frames, rejected handshakes), alone or from a [`server::Script`] |
//! | [`api`] | the platform's REST API (token, message create, reply): a sans-IO [`api::ApiServer`] that validates KSO-1, tokens and bodies, records messages and plays scripted faults, and its hyper loopback listener |
//! | [`runner`] | a tokio loopback runner: the same server behind a real WebSocket listener (`ws://` or `wss://`), for integration tests, demos, benchmarks, and for testing your own app |
//! | [`webhook`] | the platform's webhook side: posts the challenge, then signed events to an HTTP endpoint, retrying what is not answered 200 in time |
//!
//! The same `Server` drives the deterministic in-memory simulations of the client (no IO, a
//! virtual clock) and the real loopback tests, so both see one behaviour.
//!
//! # Example: start the emulator and connect to it
//!
//! ```no_run
//! use std::time::Duration;
//! use open_event_core::config::Config;
//! use open_event_emulator::runner::{Emulator, EmulatorOptions};
//! use open_event_emulator::server::EventSpec;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::start(EmulatorOptions::default()).await?;
//! let credentials = emulator.credentials();
//!
//! // Point any client of the protocol at it, e.g. a core config for a runtime crate:
//! let config = Config::builder(credentials.app_id(), credentials.app_secret().clone())
//!     .endpoint(emulator.url())
//!     .build()?;
//! # let _ = config;
//!
//! emulator.wait_for_connections(1, Duration::from_secs(5)).await?;
//! let nonce = emulator.push_event(EventSpec::chat_message("hello"))?;
//! emulator.wait_for_acks(1, Duration::from_secs(5)).await?;
//! assert_eq!(emulator.report().acked_nonces(), [nonce.as_str()]);
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Example: the sans-IO server alone
//!
//! ```
//! use std::time::{Instant, SystemTime};
//! use open_event_emulator::server::{Handshake, HandshakeDecision, Server, ServerConfig};
//!
//! let (now, wall) = (Instant::now(), SystemTime::now());
//! let mut server = Server::new(ServerConfig::generated(42), now, wall);
//! let forged = Handshake::new("/v7/event/ws")
//!     .with_header("X-Kso-Date", open_event_core::kso1::format_date(wall))
//!     .with_header("X-Kso-Authorization", "KSO-1 AKEMU:00");
//! let HandshakeDecision::Reject { status, body } = server.handle_handshake(now, wall, &forged)
//! else { panic!("accepted a forged handshake") };
//! assert_eq!(status, 401);
//! assert!(body.contains("malformed X-Kso-Authorization"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod runner;
pub mod server;
pub mod webhook;

pub use runner::{Emulator, EmulatorError, EmulatorHandle, EmulatorOptions, WaitTimeout};
pub use server::{
    CommandError, ConnId, EventSpec, Handshake, HandshakeDecision, Malformed, Report, Script,
    Server, ServerAction, ServerConfig, ServerFrame, Step,
};
