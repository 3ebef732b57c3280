//! The output thread: it owns stdout and the `--output` file, so a slow or stuck reader never
//! blocks a runtime's loop; handlers await the result of their write (so an event is acked only
//! once it was written, and a closed stdout is noticed by the event that hit it).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

/// What one event writes.
#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Bytes for stdout.
    pub(crate) stdout: Vec<u8>,
    /// Bytes for stderr.
    pub(crate) stderr: Vec<u8>,
    /// Bytes for the `--output` file.
    pub(crate) file: Vec<u8>,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SinkError {
    /// The reader of stdout went away (EPIPE).
    #[error("stdout was closed")]
    StdoutClosed,
    /// Another stdout error.
    #[error("cannot write to stdout: {0}")]
    Stdout(io::Error),
    /// The `--output` file failed.
    #[error("cannot append to {path}: {source}; check the disk and the file's permissions")]
    File { path: PathBuf, source: io::Error },
    /// The output thread is gone (only after a panic in it).
    #[error("the output thread has stopped")]
    Gone,
}

struct Job {
    output: Output,
    done: oneshot::Sender<Result<(), SinkError>>,
}

/// A handle to the output thread.
#[derive(Debug)]
pub(crate) struct Sink {
    jobs: mpsc::Sender<Job>,
}

impl Sink {
    /// Starts the output thread; opens `file` for appending first.
    pub(crate) fn start(file: Option<&Path>) -> Result<Self, (PathBuf, io::Error)> {
        let file = match file {
            Some(path) => Some((
                path.to_owned(),
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|err| (path.to_owned(), err))?,
            )),
            None => None,
        };
        let (jobs, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("openevent-output".into())
            .spawn(move || writer(&rx, file))
            .map_err(|err| (PathBuf::from("<output thread>"), err))?;
        Ok(Self { jobs })
    }

    /// Writes `output`; resolves once it is flushed (or failed).
    pub(crate) async fn write(&self, output: Output) -> Result<(), SinkError> {
        let (done, result) = oneshot::channel();
        if self.jobs.send(Job { output, done }).is_err() {
            return Err(SinkError::Gone);
        }
        result.await.unwrap_or(Err(SinkError::Gone))
    }
}

fn writer(rx: &mpsc::Receiver<Job>, mut file: Option<(PathBuf, File)>) {
    let mut stdout_closed = false;
    while let Ok(job) = rx.recv() {
        let result = write_one(&job.output, &mut file, &mut stdout_closed);
        let _ = job.done.send(result);
    }
}

fn write_one(
    output: &Output,
    file: &mut Option<(PathBuf, File)>,
    stdout_closed: &mut bool,
) -> Result<(), SinkError> {
    if let Some((path, file)) = file.as_mut()
        && !output.file.is_empty()
    {
        file.write_all(&output.file)
            .and_then(|()| file.flush())
            .map_err(|source| SinkError::File {
                path: path.clone(),
                source,
            })?;
    }
    if !output.stderr.is_empty() {
        // Status output: a failing stderr is not worth failing the event for.
        let mut err = io::stderr().lock();
        let _ = err.write_all(&output.stderr).and_then(|()| err.flush());
    }
    if output.stdout.is_empty() {
        return Ok(());
    }
    if *stdout_closed {
        return Err(SinkError::StdoutClosed);
    }
    let mut out = io::stdout().lock();
    match out.write_all(&output.stdout).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
            *stdout_closed = true;
            Err(SinkError::StdoutClosed)
        }
        Err(err) => Err(SinkError::Stdout(err)),
    }
}
