//! The byte stream under the WebSocket: plain TCP or rustls over TCP, with socket timeouts that
//! turn blocking reads and writes into timer ticks.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rustls::{ClientConnection, StreamOwned};

/// A connected socket, with or without TLS.
#[derive(Debug)]
pub(crate) enum Stream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://` (boxed: the rustls state is large).
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket under it.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(tls) => tls.get_ref(),
        }
    }

    /// Sets the read and write timeouts of the socket. A read or write that runs into them
    /// fails with [`io::ErrorKind::WouldBlock`] and may be retried: tungstenite and rustls keep
    /// partial data buffered.
    pub(crate) fn set_timeouts(&self, read: Duration, write: Duration) -> io::Result<()> {
        let tcp = self.tcp();
        tcp.set_read_timeout(Some(nonzero(read)))?;
        tcp.set_write_timeout(Some(nonzero(write)))
    }

    /// Sets the read timeout only.
    pub(crate) fn set_read_timeout(&self, read: Duration) -> io::Result<()> {
        self.tcp().set_read_timeout(Some(nonzero(read)))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(tls) => tls.read(buf),
        }
        .map_err(timeout_as_would_block)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(tls) => tls.write(buf),
        }
        .map_err(timeout_as_would_block)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(tls) => tls.flush(),
        }
        .map_err(timeout_as_would_block)
    }
}

/// Whether an IO error only means "try again later": a socket timeout (a tick) or a signal.
pub(crate) fn is_tick(err: &io::Error) -> bool {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => true,
        io::ErrorKind::TimedOut => cfg!(windows),
        _ => false,
    }
}

/// Socket timeouts surface as `WouldBlock` on Unix (`EAGAIN`) but as `TimedOut` on Windows
/// (`WSAETIMEDOUT`); tungstenite's handshake only resumes after `WouldBlock`, so make them
/// uniform. On Unix `TimedOut` means a dead connection (`ETIMEDOUT`) and is left alone.
fn timeout_as_would_block(err: io::Error) -> io::Error {
    if cfg!(windows) && err.kind() == io::ErrorKind::TimedOut {
        io::Error::new(io::ErrorKind::WouldBlock, err)
    } else {
        err
    }
}

/// Socket timeouts must not be zero (`set_read_timeout(Some(ZERO))` is an error).
fn nonzero(timeout: Duration) -> Duration {
    timeout.max(Duration::from_millis(1))
}
