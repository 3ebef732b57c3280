//! The live log of `demo` and `emulate`: one timestamped line per thing that happened, from
//! several threads, never interleaved; a closed stdout stops the run quietly.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::stopper::Stopper;
use crate::style::Palette;

/// Who a line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Actor {
    Client,
    Server,
    /// The tool itself.
    Tool,
}

/// What kind of thing happened (picks the colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Connections opening, acks with 200.
    Good,
    /// Events.
    Event,
    /// Heartbeats and other routine traffic.
    Quiet,
    /// GoAways, reconnects, redeliveries, duplicates: expected but notable.
    Notable,
    /// Something went wrong.
    Bad,
    /// Plain information.
    Info,
}

/// Prints the live log on stdout.
#[derive(Debug)]
pub(crate) struct Narrator {
    palette: Palette,
    start: Instant,
    actors: bool,
    /// Held while a line is written; holds the time shown on the last line.
    lock: Mutex<Duration>,
    closed: AtomicBool,
    stopper: Arc<Stopper>,
}

/// Width of the tag column.
const TAG: usize = 9;

impl Narrator {
    /// A log whose times count from now; `actors` adds the client/server column.
    pub(crate) fn new(palette: Palette, stopper: Arc<Stopper>, actors: bool) -> Self {
        Self {
            palette,
            start: Instant::now(),
            actors,
            lock: Mutex::new(Duration::ZERO),
            closed: AtomicBool::new(false),
            stopper,
        }
    }

    pub(crate) fn palette(&self) -> Palette {
        self.palette
    }

    /// Whether stdout was closed (the run then stops quietly).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// One event line at `at`, with `more` lines (already formatted) below it. The times shown
    /// never go backwards: a line about something seen late (the server's side is read from
    /// its report every few milliseconds) shows the time of the line printed before it.
    pub(crate) fn line_at(
        &self,
        at: Instant,
        actor: Actor,
        tone: Tone,
        tag: &str,
        text: &str,
        more: &[String],
    ) {
        if self.is_closed() {
            return;
        }
        let p = self.palette;
        let mut shown = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        *shown = (*shown).max(at.saturating_duration_since(self.start));
        let secs = shown.as_secs_f64();
        let mut out = format!("{}  ", p.dim(&format!("{secs:>7.3}s")));
        if self.actors {
            let name = match actor {
                Actor::Client => p.magenta("client"),
                Actor::Server => p.blue("server"),
                Actor::Tool => p.dim("demo  "),
            };
            out.push_str(&name);
            out.push_str("  ");
        }
        let tag = format!("{tag:<TAG$}");
        let tag = match tone {
            Tone::Good => p.green(&tag),
            Tone::Event => p.bold(&p.cyan(&tag)),
            Tone::Quiet => p.dim(&tag),
            Tone::Notable => p.yellow(&tag),
            Tone::Bad => p.red(&tag),
            Tone::Info => tag,
        };
        out.push_str(&tag);
        out.push(' ');
        out.push_str(text);
        out.push('\n');
        for line in more {
            out.push_str(line);
            out.push('\n');
        }
        self.write_locked(&out);
    }

    /// One line, timed now.
    pub(crate) fn line(&self, actor: Actor, tone: Tone, tag: &str, text: &str) {
        self.line_at(Instant::now(), actor, tone, tag, text, &[]);
    }

    /// The indent that lines up with the text column.
    pub(crate) fn indent(&self) -> String {
        let width = 10 + if self.actors { 8 } else { 0 } + TAG + 1;
        " ".repeat(width)
    }

    /// Text as is (banners, summaries).
    pub(crate) fn raw(&self, text: &str) {
        let mut text = text.to_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.write(&text);
    }

    fn write(&self, text: &str) {
        if self.is_closed() {
            return;
        }
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.write_locked(text);
    }

    /// Writes `text`; the caller holds `lock`.
    fn write_locked(&self, text: &str) {
        let mut out = io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            // Nobody reads the log any more (`| head`): stop quietly.
            self.closed.store(true, Ordering::SeqCst);
            self.stopper.stop();
        }
    }
}
