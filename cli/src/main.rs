//! `openevent`: the command-line tool of open-event-rs.
//!
//! `listen` receives events from the WPS open platform, `demo` shows the whole protocol against
//! a built-in emulator, `emulate` runs that emulator for testing an app, `decode` opens one
//! event frame. Everything runtime-specific is in [`runtime`]; the rest is shared.
#![forbid(unsafe_code)]

mod address;
mod args;
mod client_settings;
mod count;
mod credentials;
mod decode;
mod demo;
mod duration;
mod emulate;
mod emulate_api;
mod environment;
mod exec;
mod failure;
mod filter;
mod flag_hints;
mod handling;
mod listen;
mod logging;
mod messages;
mod metrics_server;
mod narrator;
mod probes;
mod push;
mod record;
mod reference;
mod relay;
mod runtime;
mod samples;
mod sink;
mod stopper;
mod style;
mod watch;
mod webhook;
mod webhook_demo;

use std::process::ExitCode;

use clap::Parser;
use open_event_core::config::PROTOCOL;

use crate::args::{Cli, Command, RuntimeKind};
use crate::failure::{Exit, Failure};
use crate::listen::Status;
use crate::style::{Palette, Stream};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // --help and --version are not errors; a bad argument is "any other error" (3).
            return if err.use_stderr() {
                Exit::Other.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    let stderr = Palette::detect(Stream::Stderr, cli.no_color);
    logging::init(cli.verbose, stderr.enabled());
    let result = match &cli.command {
        Command::Listen(args) => listen::run(args, cli.no_color),
        Command::Demo(args) => demo::run(args, cli.no_color),
        Command::Emulate(args) => emulate::run(args, cli.no_color),
        Command::Webhook(args) => webhook::run(args, cli.no_color),
        Command::Decode(args) => decode::run(args, cli.no_color),
        Command::Completions(args) => reference::completions(args.shell),
        Command::Man => reference::man(),
        Command::Send(args) => messages::send(args),
        Command::Reply(args) => messages::reply(args),
        Command::Relay(args) => relay::run(args, cli.no_color),
        Command::Version => {
            version();
            Ok(())
        }
    };
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(failure) => report(&failure, stderr),
    }
}

fn report(failure: &Failure, palette: Palette) -> ExitCode {
    Status::new(palette).error(&failure.message);
    failure.exit.into()
}

/// `openevent version`.
fn version() {
    println!("openevent {}", env!("CARGO_PKG_VERSION"));
    println!("protocol: {PROTOCOL}");
    println!("runtimes (--runtime):");
    for kind in RuntimeKind::ALL {
        println!("  {:<10} {}", kind.name(), kind.description());
    }
}
