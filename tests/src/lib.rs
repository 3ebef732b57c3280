//! Test support for open-event-rs, used by the scenario files in `tests/tests/`: the
//! deterministic simulation harnesses [`sim`] (one client against a scripted peer) and [`pair`]
//! (one client against the emulator's sans-IO server, in memory), and the cross-runtime harness
//! [`runtimes`] (real clients of every runtime crate against the loopback emulator), with its
//! test CA ([`pki`]), HTTP CONNECT proxy ([`proxy`]) and a hostile raw WebSocket server
//! ([`hostile`]). `tests/README.md` indexes the scenario files.
#![forbid(unsafe_code)]

pub mod hostile;
pub mod pair;
pub mod pki;
pub mod proxy;
pub mod runtimes;
pub mod sim;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
