//! Sans-IO core of the WPS open platform event long connection.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod codec;
pub mod config;
pub mod connection;
mod credentials;
pub mod crypto;
pub mod dispatcher;
mod event;
pub mod kso1;
pub mod model;
pub mod stats;

pub use credentials::{AppSecret, Credentials};
pub use event::Event;
