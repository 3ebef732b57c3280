//! Test support for open-event-rs: the deterministic simulation harness ([`sim`]) used by the
//! scenario files in `tests/tests/`.
#![forbid(unsafe_code)]

pub mod sim;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
