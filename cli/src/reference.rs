//! What is generated from the command-line definition itself: shell completion scripts
//! (`openevent completions SHELL`) and the man page (`openevent man`).

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::Cli;
use crate::failure::Failure;

/// `openevent completions SHELL`: the script on stdout.
pub(crate) fn completions(shell: Shell) -> Result<(), Failure> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "openevent", &mut out);
    write_stdout(&out)
}

/// `openevent man`: the man page (roff) of openevent and every subcommand on stdout.
pub(crate) fn man() -> Result<(), Failure> {
    let command = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut out)
        .map_err(|err| Failure::other(format!("cannot render the man page: {err}")))?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        // clap's names are `&'static str` (its `string` feature is off); the process ends
        // right after printing.
        let name: &'static str =
            Box::leak(format!("openevent-{}", sub.get_name()).into_boxed_str());
        let sub = sub.clone().name(name).display_name(name);
        out.extend_from_slice(b"\n");
        clap_mangen::Man::new(sub)
            .render(&mut out)
            .map_err(|err| Failure::other(format!("cannot render the man page: {err}")))?;
    }
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        // `| head`: the reader has what it wanted.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(Failure::other(format!("cannot write to stdout: {err}"))),
    }
}
