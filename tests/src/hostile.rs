//! A hostile WebSocket server for cross-runtime tests: raw frames on a bare TCP socket, so it
//! can send what a WebSocket library refuses to (a text frame that is not UTF-8) and read the
//! client's frames exactly as they arrive.
//!
//! ```no_run
//! # async fn demo() {
//! use open_event_tests::hostile::{OP_TEXT, RawServer};
//!
//! let server = RawServer::bind().await;
//! // ... start a client at `server.url()` ...
//! let mut conn = server.accept().await;
//! conn.send(OP_TEXT, &[0xff, 0xfe]).await;
//! let close = conn.read_frame().await.expect("a frame");
//! assert_eq!(close.close_code(), Some(1007));
//! # }
//! ```

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The text frame opcode (RFC 6455 §5.2).
pub const OP_TEXT: u8 = 0x1;
/// The close frame opcode.
pub const OP_CLOSE: u8 = 0x8;

/// Headers of an upgrade request larger than this are refused (the test fails).
const MAX_REQUEST: usize = 16 * 1024;

/// A listening raw server on `127.0.0.1`.
#[derive(Debug)]
pub struct RawServer {
    listener: TcpListener,
}

impl RawServer {
    /// Listens on a free loopback port.
    pub async fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        Self { listener }
    }

    /// The endpoint to point a client at.
    pub fn url(&self) -> String {
        let port = self.listener.local_addr().expect("bound").port();
        format!("ws://127.0.0.1:{port}/v7/event/ws")
    }

    /// Accepts the next TCP connection and answers its WebSocket upgrade with 101 (any
    /// credentials are accepted).
    pub async fn accept(&self) -> RawConn {
        let (mut stream, _) = self.listener.accept().await.expect("a client connects");
        let mut request = Vec::new();
        let mut chunk = [0u8; 1024];
        let end = loop {
            let n = stream.read(&mut chunk).await.expect("the upgrade request");
            assert!(n > 0, "the client hung up during the upgrade");
            request.extend_from_slice(&chunk[..n]);
            if let Some(at) = find(&request, b"\r\n\r\n") {
                break at + 4;
            }
            assert!(request.len() < MAX_REQUEST, "upgrade request too large");
        };
        let head = String::from_utf8_lossy(&request[..end]).into_owned();
        let key = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("the upgrade has a Sec-WebSocket-Key");
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        stream
            .write_all(response.as_bytes())
            .await
            .expect("the 101 is written");
        RawConn {
            stream,
            buf: request[end..].to_vec(),
        }
    }
}

/// One accepted, upgraded connection.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A frame read from the client, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The opcode.
    pub opcode: u8,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// The close code of a close frame that carries one.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == OP_CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    /// The reason text of a close frame.
    pub fn close_reason(&self) -> String {
        String::from_utf8_lossy(self.payload.get(2..).unwrap_or_default()).into_owned()
    }
}

impl RawConn {
    /// Sends one unmasked, final frame with `opcode` and `payload`, as it is (no UTF-8 check).
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(payload);
        self.stream
            .write_all(&frame)
            .await
            .expect("the frame is written");
    }

    /// Reads the client's next frame; `None` when the connection ends first.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        let header = self.fill(2).await?;
        let (opcode, masked, short) = (header[0] & 0x0f, header[1] & 0x80 != 0, header[1] & 0x7f);
        let mut at = 2;
        let len = match short {
            126 => {
                let b = self.fill(at + 2).await?;
                at += 2;
                usize::from(u16::from_be_bytes([b[2], b[3]]))
            }
            127 => {
                let b = self.fill(at + 8).await?;
                at += 8;
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                usize::try_from(u64::from_be_bytes(n)).expect("a frame that fits in memory")
            }
            n => usize::from(n),
        };
        let mask_len = if masked { 4 } else { 0 };
        let all = self.fill(at + mask_len + len).await?;
        let mask: Vec<u8> = all[at..at + mask_len].to_vec();
        let mut payload = all[at + mask_len..at + mask_len + len].to_vec();
        if masked {
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= mask[i % 4];
            }
        }
        self.buf.drain(..at + mask_len + len);
        Some(Frame { opcode, payload })
    }

    /// Reads until the first `n` bytes are buffered; `None` at EOF or error before that.
    async fn fill(&mut self, n: usize) -> Option<Vec<u8>> {
        let mut chunk = [0u8; 4096];
        while self.buf.len() < n {
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(read) => self.buf.extend_from_slice(&chunk[..read]),
            }
        }
        Some(self.buf[..n].to_vec())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
