//! The output thread: it owns stdout and the `--output` file, so a slow or stuck reader never
//! blocks a runtime's loop; handlers await the result of their write (so an event is acked only
//! once it was written, and a closed stdout is noticed by the event that hit it). Writes are made
//! in the order they were queued ([`Sink::submit`]); the thread takes every queued write at once
//! and writes and flushes each stream once per batch.

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

/// Jobs the output thread takes in one go at most (they are written with one `write` per
/// stream, then flushed once).
const BATCH: usize = 256;

/// A handle to the output thread.
#[derive(Debug)]
pub(crate) struct Sink {
    jobs: mpsc::Sender<Job>,
}

/// A queued write; [`Written::done`] resolves once it was flushed (or failed).
#[derive(Debug)]
pub(crate) struct Written(oneshot::Receiver<Result<(), SinkError>>);

impl Written {
    /// The result of the write.
    pub(crate) async fn done(self) -> Result<(), SinkError> {
        self.0.await.unwrap_or(Err(SinkError::Gone))
    }
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

    /// Queues `output` now: writes are made in the order they are queued.
    pub(crate) fn submit(&self, output: Output) -> Written {
        let (done, result) = oneshot::channel();
        // A failed send drops `done`: `Written::done` then says the thread is gone.
        let _ = self.jobs.send(Job { output, done });
        Written(result)
    }

    /// Writes `output`; resolves once it is flushed (or failed).
    pub(crate) async fn write(&self, output: Output) -> Result<(), SinkError> {
        self.submit(output).done().await
    }
}

/// The output thread's streams and the buffers it gathers a batch in (kept between batches).
struct Streams {
    file: Option<(PathBuf, File)>,
    stdout_closed: bool,
    buffer: Vec<u8>,
}

fn writer(rx: &mpsc::Receiver<Job>, file: Option<(PathBuf, File)>) {
    let mut streams = Streams {
        file,
        stdout_closed: false,
        buffer: Vec::new(),
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut results = Vec::with_capacity(BATCH);
    while let Ok(job) = rx.recv() {
        batch.push(job);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        streams.write_batch(&batch, &mut results);
        for (job, result) in batch.drain(..).zip(results.drain(..)) {
            let _ = job.done.send(result);
        }
    }
}

impl Streams {
    /// Writes every job of `batch`, in order, with one write and one flush per stream; one
    /// result per job in `results`. A job whose file part failed is not written to stdout.
    fn write_batch(&mut self, batch: &[Job], results: &mut Vec<Result<(), SinkError>>) {
        results.extend(batch.iter().map(|_| Ok(())));
        if let Some((path, file)) = self.file.as_mut() {
            self.buffer.clear();
            for job in batch {
                self.buffer.extend_from_slice(&job.output.file);
            }
            if !self.buffer.is_empty()
                && let Err(err) = file.write_all(&self.buffer).and_then(|()| file.flush())
            {
                for (job, result) in batch.iter().zip(results.iter_mut()) {
                    if !job.output.file.is_empty() {
                        *result = Err(SinkError::File {
                            path: path.clone(),
                            source: io::Error::new(err.kind(), err.to_string()),
                        });
                    }
                }
            }
        }
        self.buffer.clear();
        for job in batch {
            self.buffer.extend_from_slice(&job.output.stderr);
        }
        if !self.buffer.is_empty() {
            // Status output: a failing stderr is not worth failing the events for.
            let mut err = io::stderr().lock();
            let _ = err.write_all(&self.buffer).and_then(|()| err.flush());
        }
        self.buffer.clear();
        let mut wrote = false;
        for (job, result) in batch.iter().zip(results.iter()) {
            if !job.output.stdout.is_empty() && result.is_ok() {
                self.buffer.extend_from_slice(&job.output.stdout);
                wrote = true;
            }
        }
        if !wrote {
            return;
        }
        let outcome = if self.stdout_closed {
            Err(io::ErrorKind::BrokenPipe.into())
        } else {
            let mut out = io::stdout().lock();
            out.write_all(&self.buffer).and_then(|()| out.flush())
        };
        let Err(err) = outcome else {
            return;
        };
        if err.kind() == io::ErrorKind::BrokenPipe {
            self.stdout_closed = true;
        }
        for (job, result) in batch.iter().zip(results.iter_mut()) {
            if !job.output.stdout.is_empty() && result.is_ok() {
                *result = Err(if self.stdout_closed {
                    SinkError::StdoutClosed
                } else {
                    SinkError::Stdout(io::Error::new(err.kind(), err.to_string()))
                });
            }
        }
    }
}
