//! The output queue: stdout, stderr and the `--output` file of every event go through it, in
//! the order they were queued ([`Sink::submit`]), and a handler awaits its write
//! ([`Sink::done`]), so an event is acked only once it was written and a closed stdout is
//! noticed by the event that hit it.
//!
//! Queueing only appends to the pending bytes; writing takes everything pending at once (one
//! `write` and one flush per stream per batch). Who writes depends on where stdout goes:
//!
//! - **Direct** (stdout is a regular file or `/dev/null`: no reader can hold a write up): the
//!   first handler that awaits a write not yet made writes the whole pending batch itself, on
//!   the thread that polls it, so a burst costs one `write` per batch and no thread hand-off.
//! - **Thread** (a pipe, a terminal, a socket: a slow or stuck reader could block a write for
//!   ever): an output thread writes, so a stuck reader never blocks a runtime's loop, its pongs
//!   or its GoAway handling; the thread is woken once per batch, not per event.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::mem;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;

/// What one event writes (each part may be empty).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Output<'a> {
    /// Bytes for stdout.
    pub(crate) stdout: &'a [u8],
    /// Bytes for stderr.
    pub(crate) stderr: &'a [u8],
    /// Bytes for the `--output` file.
    pub(crate) file: &'a [u8],
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

/// A queued write: its place in the queue, for [`Sink::done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written(u64);

/// Who writes the pending bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The handler that awaits them (stdout cannot block on a reader).
    Direct,
    /// The output thread.
    Thread,
}

/// The handle the handlers share.
#[derive(Debug)]
pub(crate) struct Sink {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    mode: Mode,
    state: Mutex<State>,
    /// Only the writer of the current batch locks it (`State::writing`).
    streams: Mutex<Streams>,
    /// Wakes the output thread.
    bell: Condvar,
}

/// The queue.
#[derive(Debug, Default)]
struct State {
    /// The number of the newest queued write (the first is 1).
    queued: u64,
    /// Every write up to this number is made (or failed).
    done: u64,
    /// A batch is being written (its writer released the lock meanwhile).
    writing: bool,
    /// The pending bytes, writes `done + 1 ..= queued`.
    pending: Buffers,
    /// Writes that failed: `(first, last, why)`; only grows when a stream fails, which stops
    /// the run.
    failed: Vec<(u64, u64, Failed)>,
    /// Handlers waiting for their write: `(number, waker)`.
    waiters: Vec<(u64, Waker)>,
    /// The output thread sleeps on `bell`.
    thread_idle: bool,
    /// The sink was dropped: the thread writes what is left and ends.
    closed: bool,
    /// The output thread panicked: nothing more is written.
    gone: bool,
}

#[derive(Debug, Default)]
struct Buffers {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    file: Vec<u8>,
}

impl Buffers {
    fn push(&mut self, output: Output<'_>) {
        self.stdout.extend_from_slice(output.stdout);
        self.stderr.extend_from_slice(output.stderr);
        self.file.extend_from_slice(output.file);
    }

    fn clear(&mut self) {
        self.stdout.clear();
        self.stderr.clear();
        self.file.clear();
    }
}

/// Why a batch failed (kept to answer every write of it).
#[derive(Debug, Clone)]
enum Failed {
    StdoutClosed,
    Stdout(io::ErrorKind, String),
    File(PathBuf, io::ErrorKind, String),
}

impl Failed {
    fn to_error(&self) -> SinkError {
        match self {
            Self::StdoutClosed => SinkError::StdoutClosed,
            Self::Stdout(kind, text) => SinkError::Stdout(io::Error::new(*kind, text.clone())),
            Self::File(path, kind, text) => SinkError::File {
                path: path.clone(),
                source: io::Error::new(*kind, text.clone()),
            },
        }
    }
}

/// The streams and the buffer a batch is written from (kept between batches).
struct Streams {
    file: Option<(PathBuf, File)>,
    stdout: Box<dyn Write + Send>,
    stderr: io::Stderr,
    stdout_closed: bool,
    batch: Buffers,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("file", &self.file)
            .field("stdout_closed", &self.stdout_closed)
            .finish_non_exhaustive()
    }
}

impl Sink {
    /// Opens `file` for appending, looks at where stdout goes, and starts the output thread if
    /// a write to stdout could block.
    pub(crate) fn start(file: Option<&Path>) -> Result<Self, (PathBuf, io::Error)> {
        let mode = if stdout_never_blocks() {
            Mode::Direct
        } else {
            Mode::Thread
        };
        Self::with_parts(mode, Box::new(io::stdout()), file)
    }

    fn with_parts(
        mode: Mode,
        stdout: Box<dyn Write + Send>,
        file: Option<&Path>,
    ) -> Result<Self, (PathBuf, io::Error)> {
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
        let shared = Arc::new(Shared {
            mode,
            state: Mutex::new(State::default()),
            streams: Mutex::new(Streams {
                file,
                stdout,
                stderr: io::stderr(),
                stdout_closed: false,
                batch: Buffers::default(),
            }),
            bell: Condvar::new(),
        });
        if mode == Mode::Thread {
            let thread_side = Arc::clone(&shared);
            thread::Builder::new()
                .name("openevent-output".into())
                .spawn(move || thread_side.output_thread())
                .map_err(|err| (PathBuf::from("<output thread>"), err))?;
        }
        Ok(Self { shared })
    }

    /// Queues `output`; writes are made in the order they are queued.
    pub(crate) fn submit(&self, output: Output<'_>) -> Written {
        let mut state = self.shared.lock_state();
        state.queued += 1;
        state.pending.push(output);
        Written(state.queued)
    }

    /// Resolves once `written` was made (or failed), writing the pending batch itself in
    /// direct mode.
    pub(crate) fn done(&self, written: Written) -> Done<'_> {
        Done {
            shared: &self.shared,
            number: written.0,
        }
    }

    /// Queues `output` and waits for it.
    pub(crate) async fn write(&self, output: Output<'_>) -> Result<(), SinkError> {
        let written = self.submit(output);
        self.done(written).await
    }
}

impl Drop for Sink {
    /// Writes what is still pending (the output of handlers that were dropped) and lets the
    /// output thread end.
    fn drop(&mut self) {
        match self.shared.mode {
            Mode::Direct => {
                let state = self.shared.lock_state();
                if !state.writing {
                    drop(self.shared.write_batches(state, u64::MAX));
                }
            }
            Mode::Thread => {
                self.shared.lock_state().closed = true;
                self.shared.bell.notify_one();
            }
        }
    }
}

/// The future of [`Sink::done`].
#[derive(Debug)]
pub(crate) struct Done<'a> {
    shared: &'a Shared,
    number: u64,
}

impl Future for Done<'_> {
    type Output = Result<(), SinkError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (shared, number) = (self.shared, self.number);
        let mut state = shared.lock_state();
        if state.done < number && shared.mode == Mode::Direct && !state.writing {
            state = shared.write_batches(state, number);
        }
        if state.done >= number {
            return Poll::Ready(state.result(number));
        }
        if state.gone {
            return Poll::Ready(Err(SinkError::Gone));
        }
        state.waiters.push((number, cx.waker().clone()));
        if state.thread_idle {
            shared.bell.notify_one();
        }
        Poll::Pending
    }
}

impl State {
    /// The result of write `number` (made or failed).
    fn result(&self, number: u64) -> Result<(), SinkError> {
        match self
            .failed
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&number))
        {
            Some((_, _, failed)) => Err(failed.to_error()),
            None => Ok(()),
        }
    }

    /// Wakes every handler whose write is made.
    fn wake_done(&mut self) {
        let done = self.done;
        self.waiters.retain(|(number, waker)| {
            if *number <= done {
                waker.wake_by_ref();
                false
            } else {
                true
            }
        });
    }
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes pending batches until write `upto` is made and no waiter is left behind (every
    /// waiter's write is made); releases the state lock while writing. The caller made sure no
    /// batch is being written.
    fn write_batches<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        upto: u64,
    ) -> MutexGuard<'a, State> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        while state.done < state.queued
            && (state.done < upto || state.waiters.iter().any(|(n, _)| *n > state.done))
        {
            let (first, last) = (state.done + 1, state.queued);
            mem::swap(&mut state.pending, &mut streams.batch);
            state.writing = true;
            drop(state);
            let result = streams.write_batch();
            streams.batch.clear();
            state = self.lock_state();
            state.writing = false;
            state.done = last;
            if let Err(failed) = result {
                state.failed.push((first, last, failed));
            }
            state.wake_done();
        }
        state
    }

    /// The output thread: writes whatever is pending, a batch at a time, until the sink is
    /// dropped and nothing is left.
    fn output_thread(&self) {
        let _gone = GoneOnPanic(self);
        let mut state = self.lock_state();
        loop {
            if state.done < state.queued {
                state = self.write_batches(state, u64::MAX);
                continue;
            }
            if state.closed {
                return;
            }
            state.thread_idle = true;
            state = self
                .bell
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.thread_idle = false;
        }
    }
}

/// Tells the waiting handlers that the output thread is gone, should it panic.
struct GoneOnPanic<'a>(&'a Shared);

impl Drop for GoneOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            let mut state = self.0.lock_state();
            state.gone = true;
            for (_, waker) in state.waiters.drain(..) {
                waker.wake();
            }
        }
    }
}

impl Streams {
    /// Writes the batch: the file first (a batch whose file part failed is not printed),
    /// then stderr, then stdout, each with one write and one flush.
    fn write_batch(&mut self) -> Result<(), Failed> {
        let batch = &self.batch;
        if let Some((path, file)) = self.file.as_mut()
            && !batch.file.is_empty()
        {
            file.write_all(&batch.file)
                .and_then(|()| file.flush())
                .map_err(|err| Failed::File(path.clone(), err.kind(), err.to_string()))?;
        }
        if !batch.stderr.is_empty() {
            // Status output: a failing stderr is not worth failing the events for.
            let _ = self
                .stderr
                .write_all(&batch.stderr)
                .and_then(|()| self.stderr.flush());
        }
        if batch.stdout.is_empty() {
            return Ok(());
        }
        if self.stdout_closed {
            return Err(Failed::StdoutClosed);
        }
        match self
            .stdout
            .write_all(&batch.stdout)
            .and_then(|()| self.stdout.flush())
        {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.stdout_closed = true;
                Err(Failed::StdoutClosed)
            }
            Err(err) => Err(Failed::Stdout(err.kind(), err.to_string())),
        }
    }
}

/// Whether a write to stdout can never wait for a reader: a regular file or `/dev/null`.
#[cfg(unix)]
fn stdout_never_blocks() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = File::from(fd).metadata() else {
        return false;
    };
    let kind = meta.file_type();
    kind.is_file()
        || (kind.is_char_device()
            && std::fs::metadata("/dev/null")
                .is_ok_and(|null| null.file_type().is_char_device() && null.rdev() == meta.rdev()))
}

/// Whether a write to stdout can never wait for a reader (not known here: assume it can).
#[cfg(not(unix))]
fn stdout_never_blocks() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    /// A stdout that records every `write` call.
    #[derive(Clone, Default)]
    struct Recorder {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<AtomicUsize>,
        fail: Option<io::ErrorKind>,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(kind) = self.fail {
                return Err(kind.into());
            }
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn line(n: u64) -> Vec<u8> {
        format!("event {n}\n").into_bytes()
    }

    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            thread::yield_now();
        }
    }

    #[test]
    fn direct_mode_writes_a_batch_with_one_write_in_queue_order() {
        let out = Recorder::default();
        let sink = Sink::with_parts(Mode::Direct, Box::new(out.clone()), None).unwrap();
        let written: Vec<Written> = (1..=5)
            .map(|n| {
                sink.submit(Output {
                    stdout: &line(n),
                    ..Output::default()
                })
            })
            .collect();
        assert_eq!(
            out.writes.load(Ordering::SeqCst),
            0,
            "queueing writes nothing"
        );
        // The last one awaited first: it writes the whole batch; the others are done.
        block_on(sink.done(written[4])).unwrap();
        for w in &written[..4] {
            block_on(sink.done(*w)).unwrap();
        }
        assert_eq!(out.writes.load(Ordering::SeqCst), 1);
        let expected: Vec<u8> = (1..=5).flat_map(line).collect();
        assert_eq!(*out.bytes.lock().unwrap(), expected);
    }

    #[test]
    fn a_write_is_done_only_once_it_was_made() {
        let out = Recorder::default();
        let sink = Sink::with_parts(Mode::Direct, Box::new(out.clone()), None).unwrap();
        let first = sink.submit(Output {
            stdout: b"a\n",
            ..Output::default()
        });
        block_on(sink.done(first)).unwrap();
        assert_eq!(*out.bytes.lock().unwrap(), b"a\n");
        let second = sink.submit(Output {
            stdout: b"b\n",
            ..Output::default()
        });
        assert_eq!(
            *out.bytes.lock().unwrap(),
            b"a\n",
            "not written before awaited"
        );
        block_on(sink.done(second)).unwrap();
        assert_eq!(*out.bytes.lock().unwrap(), b"a\nb\n");
    }

    #[test]
    fn thread_mode_writes_in_order_and_wakes_the_waiters() {
        let out = Recorder::default();
        let sink = Sink::with_parts(Mode::Thread, Box::new(out.clone()), None).unwrap();
        // Once the output thread sleeps, only a waiting handler wakes it: then everything
        // submitted before is one batch (without the wait, a thread that starts between two
        // submits writes the first ones alone).
        while !sink.shared.lock_state().thread_idle {
            thread::yield_now();
        }
        let written: Vec<Written> = (1..=100)
            .map(|n| {
                sink.submit(Output {
                    stdout: &line(n),
                    ..Output::default()
                })
            })
            .collect();
        let wakes = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let mut last = sink.done(written[99]);
        let first = Pin::new(&mut last).poll(&mut cx);
        if first.is_pending() {
            while wakes.0.load(Ordering::SeqCst) == 0 {
                thread::yield_now();
            }
        }
        assert!(matches!(
            Pin::new(&mut last).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
        let expected: Vec<u8> = (1..=100).flat_map(line).collect();
        assert_eq!(*out.bytes.lock().unwrap(), expected);
        assert_eq!(out.writes.load(Ordering::SeqCst), 1, "written in one batch");
    }

    #[test]
    fn a_closed_stdout_fails_its_batch_and_every_later_write() {
        let out = Recorder {
            fail: Some(io::ErrorKind::BrokenPipe),
            ..Recorder::default()
        };
        let sink = Sink::with_parts(Mode::Direct, Box::new(out), None).unwrap();
        let w = sink.submit(Output {
            stdout: b"x\n",
            ..Output::default()
        });
        assert!(matches!(
            block_on(sink.done(w)),
            Err(SinkError::StdoutClosed)
        ));
        let quiet = sink.submit(Output {
            stderr: b"note\n",
            ..Output::default()
        });
        assert!(
            block_on(sink.done(quiet)).is_ok(),
            "nothing for stdout: not failed"
        );
        let later = sink.submit(Output {
            stdout: b"y\n",
            ..Output::default()
        });
        assert!(matches!(
            block_on(sink.done(later)),
            Err(SinkError::StdoutClosed)
        ));
    }

    #[test]
    fn the_file_gets_its_part_and_a_failed_file_is_named() {
        let dir = std::env::temp_dir().join(format!("openevent-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.ndjson");
        let out = Recorder::default();
        let sink = Sink::with_parts(Mode::Direct, Box::new(out.clone()), Some(&path)).unwrap();
        let w = sink.write(Output {
            stdout: b"printed\n",
            file: b"{\"n\":1}\n",
            ..Output::default()
        });
        block_on(w).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"n\":1}\n");
        assert_eq!(*out.bytes.lock().unwrap(), b"printed\n");
        drop(sink);
        std::fs::remove_dir_all(&dir).unwrap();
        let failed = Failed::File(path.clone(), io::ErrorKind::StorageFull, "disk full".into());
        let text = failed.to_error().to_string();
        assert!(
            text.contains("events.ndjson") && text.contains("disk full"),
            "{text}"
        );
    }

    #[test]
    fn dropping_the_sink_writes_what_is_pending() {
        let out = Recorder::default();
        let sink = Sink::with_parts(Mode::Direct, Box::new(out.clone()), None).unwrap();
        let _ = sink.submit(Output {
            stdout: b"late\n",
            ..Output::default()
        });
        drop(sink);
        assert_eq!(*out.bytes.lock().unwrap(), b"late\n");
    }
}
