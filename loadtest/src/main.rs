//! `loadtest`: a loopback load benchmark of the whole open-event client, on every runtime.
//!
//! ```text
//! cargo run --release -p open-event-loadtest -- --runtime all [--memory-check 1000000] [--json]
//! ```
//!
//! Each phase of each runtime runs in a fresh client process, and each client process starts
//! the emulator in a child process of its own (this same program with the hidden `serve`
//! subcommand, driven over stdin/stdout), so the CPU time and the peak RSS the client process
//! measures are the client's alone. Phases:
//!
//! - throughput: push N events at once (ACK mode, a no-op handler); events/s from the push to
//!   the last ack;
//! - latency: push at a fixed rate; the emulator measures each ack's latency (from handing the
//!   event frame to its connection's writer to reading the ack);
//! - memory (`--memory-check N`): push N events; the client's RSS is sampled every
//!   `--sample-every` events.
//!
//! CPU time comes from `getrusage(RUSAGE_SELF)` and memory from `/proc/self/status`: Linux only.
//!
//! `loadtest listen` measures the `openevent listen` binary as the client process instead (see
//! `listen.rs`): `cargo build --release -p openevent -p open-event-loadtest`, then
//! `target/release/loadtest listen --runs 3 --exec 'cat >/dev/null'`.
#![forbid(unsafe_code)]

mod baseline;
mod bench;
mod client;
mod listen;
mod measure;
mod protocol;
mod serve;
mod soak;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Loopback load benchmark of the open-event client on every runtime.
#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Exit status: 0 when every target is met, 2 when a target was missed or a \
                  run's checks failed (the figures are printed either way), 1 on an error."
)]
struct Cli {
    #[command(subcommand)]
    internal: Option<Internal>,
    #[command(flatten)]
    bench: bench::BenchArgs,
}

/// The processes the benchmark starts itself.
#[derive(Debug, Subcommand)]
enum Internal {
    /// The emulator child: prints its URL and credentials as one JSON line, then obeys commands
    /// on stdin (`connected MS`, `push N`, `rate R N`, `report`, `quit`).
    #[command(hide = true)]
    Serve(serve::ServeArgs),
    /// One phase of one runtime in this process; prints its result as one JSON line.
    #[command(hide = true)]
    Client(client::ClientArgs),
    /// The soak: a long run through the emulator with random drops, lost acks and read
    /// stalls, on each runtime; checks that nothing is lost or handled twice and that memory
    /// stays flat.
    Soak(soak::SoakArgs),
    /// The soak's emulator child, with chaos on.
    #[command(hide = true)]
    SoakServe(soak::SoakServeArgs),
    /// Measure the `openevent listen` binary as the client process (a burst of events into
    /// it, stdout to a file or /dev/null), with the same checks.
    Listen(listen::ListenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.internal {
        Some(Internal::Serve(args)) => serve::run(args).map(|()| true),
        Some(Internal::Client(args)) => client::run(args).map(|()| true),
        Some(Internal::Soak(args)) => soak::run(args),
        Some(Internal::SoakServe(args)) => soak::serve(args).map(|()| true),
        Some(Internal::Listen(args)) => listen::run(args),
        None => bench::run(&cli.bench),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        // Measured and printed, but a target was missed or a check failed.
        Ok(false) => ExitCode::from(2),
        Err(message) => {
            eprintln!("loadtest: {message}");
            ExitCode::FAILURE
        }
    }
}
