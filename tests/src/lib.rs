//! Test support for open-event-rs: the deterministic simulation harness ([`sim`]) used by the
//! scenario files in `tests/tests/`.
#![forbid(unsafe_code)]

pub mod sim;
