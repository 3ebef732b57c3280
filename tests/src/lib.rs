//! Test support for open-event-rs: the deterministic simulation harnesses used by the scenario
//! files in `tests/tests/`: [`sim`] (one client against a scripted peer) and [`pair`] (one client
//! against the emulator's sans-IO server, in memory).
#![forbid(unsafe_code)]

pub mod pair;
pub mod sim;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
