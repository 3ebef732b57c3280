//! The byte stream under the WebSocket: plain TCP or rustls over TCP.
//!
//! The TCP socket changes mode once in its life. The connect attempt's thread opens it blocking,
//! with socket timeouts that turn a long read or write into a `WouldBlock` (so the attempt can
//! check its deadline). After the handshake the IO thread switches it to non-blocking mode and
//! registers it with its `mio::Poll` ([`Stream::make_polled`]); this happens inside the
//! WebSocket, so the bytes tungstenite and rustls have buffered already are kept.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use rustls::{ClientConnection, StreamOwned};

/// A connected socket, with or without TLS.
#[derive(Debug)]
pub(crate) enum Stream {
    /// `ws://`.
    Plain(Tcp),
    /// `wss://` (boxed: the rustls state is large).
    Tls(Box<StreamOwned<ClientConnection, Tcp>>),
}

impl Stream {
    /// Switches the socket to non-blocking mode (once) and returns it for registration with a
    /// `mio::Poll`; from then on reads and writes fail with [`io::ErrorKind::WouldBlock`]
    /// instead of waiting.
    pub(crate) fn make_polled(&mut self) -> io::Result<&mut mio::net::TcpStream> {
        match self {
            Self::Plain(tcp) => tcp.make_polled(),
            Self::Tls(tls) => tls.sock.make_polled(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(tls) => tls.flush(),
        }
    }
}

/// The TCP socket, in the mode of the thread that uses it.
#[derive(Debug)]
pub(crate) enum Tcp {
    /// On the connect attempt's thread: blocking, with read and write timeouts (set by the
    /// attempt) that surface as [`io::ErrorKind::WouldBlock`] on every platform.
    Blocking(TcpStream),
    /// On the IO thread: non-blocking, registered with its `mio::Poll`.
    Polled(mio::net::TcpStream),
    /// Only inside [`Tcp::make_polled`], between taking the blocking socket out and putting
    /// the polled one in (`from_std` takes the socket by value); never seen by IO.
    Detached,
}

impl Tcp {
    fn make_polled(&mut self) -> io::Result<&mut mio::net::TcpStream> {
        if let Self::Blocking(tcp) = self {
            tcp.set_nonblocking(true)?;
            if let Self::Blocking(tcp) = std::mem::replace(self, Self::Detached) {
                *self = Self::Polled(mio::net::TcpStream::from_std(tcp));
            }
        }
        match self {
            Self::Polled(tcp) => Ok(tcp),
            Self::Blocking(_) | Self::Detached => Err(detached()),
        }
    }
}

impl Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Blocking(tcp) => tcp.read(buf).map_err(timeout_as_would_block),
            Self::Polled(tcp) => tcp.read(buf),
            Self::Detached => Err(detached()),
        }
    }
}

impl Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Blocking(tcp) => tcp.write(buf).map_err(timeout_as_would_block),
            Self::Polled(tcp) => tcp.write(buf),
            Self::Detached => Err(detached()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Blocking(tcp) => tcp.flush().map_err(timeout_as_would_block),
            Self::Polled(tcp) => tcp.flush(),
            Self::Detached => Err(detached()),
        }
    }
}

fn detached() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the socket is being switched to non-blocking mode",
    )
}

/// Whether an IO error only means "try again later": the socket has no data or no room right
/// now (a non-blocking socket, or a socket timeout of a blocking one), or a signal interrupted
/// the call.
pub(crate) fn is_retry(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Socket timeouts surface as `WouldBlock` on Unix (`EAGAIN`) but as `TimedOut` on Windows
/// (`WSAETIMEDOUT`); tungstenite's handshake only resumes after `WouldBlock`, so make them
/// uniform. On Unix `TimedOut` means a dead connection (`ETIMEDOUT`) and is left alone.
pub(crate) fn timeout_as_would_block(err: io::Error) -> io::Error {
    if cfg!(windows) && err.kind() == io::ErrorKind::TimedOut {
        io::Error::new(io::ErrorKind::WouldBlock, err)
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn make_polled_switches_in_place_and_keeps_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut stream = Stream::Plain(Tcp::Blocking(client));

        stream.make_polled().unwrap();
        assert!(matches!(stream, Stream::Plain(Tcp::Polled(_))));
        // Non-blocking now: nothing to read yet.
        let mut buf = [0u8; 8];
        let err = stream.read(&mut buf).unwrap_err();
        assert!(is_retry(&err), "{err:?}");
        // The same connection: data flows both ways; a second switch is a no-op.
        stream.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        stream.make_polled().unwrap();
        server.write_all(b"pong").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let n = loop {
            match stream.read(&mut buf) {
                Ok(n) => break n,
                Err(err) if is_retry(&err) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(err) => panic!("{err:?}"),
            }
        };
        assert_eq!(&buf[..n], b"pong");
    }
}
