//! Typed errors, and the mapping of transport failures to the core's `OpenError`/`CloseInfo`.

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;

use open_event_core::connection::{CloseInfo, OpenError};
use rustls::{AlertDescription, CertificateError};
use tungstenite::protocol::CloseFrame;

/// A transport setting or exchange that cannot work. Each message names the cause and the fix;
/// none contains a secret (proxy passwords and signatures are never included).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A CA file could not be read.
    #[error("cannot read the CA file {}: {source}; check the path given to ca_file", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: io::Error,
    },
    /// A CA file is not usable PEM, or holds no certificate.
    #[error(
        "the CA file {} {problem}; pass a PEM file with one or more \
         -----BEGIN CERTIFICATE----- blocks", path.display()
    )]
    CaFileContent {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The system trust store yielded no usable certificate.
    #[error(
        "no usable certificate in the system trust store ({detail}); install the system's CA \
         certificates, or use the bundled WebPKI roots (native_roots(false))"
    )]
    NativeRoots {
        /// What went wrong while loading it.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("cannot build the TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    /// The endpoint URL cannot be connected to.
    #[error("the endpoint {url} {problem}; use a ws:// or wss:// URL with a host")]
    Endpoint {
        /// The URL.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The proxy URL is not usable (the password, if any, is not shown).
    #[error("invalid proxy URL {url}: {problem}")]
    ProxyUrl {
        /// The URL with its user information removed.
        url: String,
        /// What is wrong with it, and what to use instead.
        problem: String,
    },
    /// The proxy asked for credentials (HTTP 407).
    #[error(
        "the proxy requires authentication (HTTP 407); put the credentials into the proxy URL \
         (http://user:password@host:port) and check them"
    )]
    ProxyAuthRequired,
    /// The proxy refused the tunnel.
    #[error(
        "the proxy refused the CONNECT tunnel with HTTP {status} {reason}; check the proxy \
         address and that it allows tunnels to the endpoint's port"
    )]
    ProxyStatus {
        /// The proxy's status code.
        status: u16,
        /// The status line's reason phrase.
        reason: String,
    },
    /// The proxy's answer is not an HTTP response.
    #[error(
        "the proxy sent an invalid answer to CONNECT ({0}); check that the proxy URL points at \
         an HTTP proxy"
    )]
    ProxyResponse(String),
    /// A handshake header could not be built.
    #[error("cannot build the handshake request: {0}; check the endpoint URL and the app id")]
    Request(String),
}

/// Maps a failed WebSocket upgrade (or the IO under it) to the core's [`OpenError`]: an HTTP
/// answer becomes [`OpenError::Status`], everything else [`OpenError::Transport`] with a text
/// that names the cause (TLS certificate problems say what to do about them).
pub fn open_error(err: &tungstenite::Error) -> OpenError {
    match err {
        tungstenite::Error::Http(response) => OpenError::Status {
            status: response.status().as_u16(),
        },
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            OpenError::Transport(
                "the server closed the connection during the WebSocket handshake".to_owned(),
            )
        }
        tungstenite::Error::Protocol(e) => OpenError::Transport(format!(
            "WebSocket handshake failed: {e}; check that the endpoint is a WebSocket server"
        )),
        tungstenite::Error::Url(e) => OpenError::Transport(format!("invalid endpoint URL: {e}")),
        other => OpenError::Transport(describe_error(other)),
    }
}

/// An IO failure of a connect step (`what`, e.g. `"TCP connect to example.com:443"`) as an
/// [`OpenError::Transport`]; TLS errors inside it are described by [`tls_error_text`].
pub fn io_open_error(what: &str, err: &io::Error) -> OpenError {
    OpenError::Transport(format!("{what}: {}", describe_error(err)))
}

/// How a transport ended after a read or write error. `close_seen`: a Close frame already
/// arrived, so an EOF (e.g. without TLS `close_notify`) is a normal end.
pub fn close_info(err: &tungstenite::Error, close_seen: bool) -> CloseInfo {
    match err {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            CloseInfo::clean(None, "")
        }
        tungstenite::Error::Io(e) if close_seen && e.kind() == io::ErrorKind::UnexpectedEof => {
            CloseInfo::clean(None, "")
        }
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) if close_seen => CloseInfo::clean(None, ""),
        other => CloseInfo::error(describe_error(other)),
    }
}

/// How a transport ended when the peer's Close frame (if it carried one) arrived.
pub fn close_frame_info(frame: Option<&CloseFrame>) -> CloseInfo {
    match frame {
        Some(frame) => CloseInfo::clean(Some(u16::from(frame.code)), frame.reason.as_str()),
        None => CloseInfo::clean(None, ""),
    }
}

/// One readable line for any error of the transport stack: finds a rustls error anywhere in
/// the chain (also inside `io::Error`s) and describes it with [`tls_error_text`]; otherwise the
/// error's own text, with a hint for the common network failures.
pub fn describe_error(err: &(dyn StdError + 'static)) -> String {
    if let Some(tls) = find_rustls(err) {
        return tls_error_text(tls);
    }
    if let Some(io) = find_io(err) {
        let hint = match io.kind() {
            io::ErrorKind::ConnectionRefused => {
                "; check the host and port, and that the server is running"
            }
            io::ErrorKind::TimedOut => "; check the network and any firewall",
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                "; the peer or a middlebox dropped the connection"
            }
            io::ErrorKind::UnexpectedEof => "; the peer closed the connection",
            _ => "",
        };
        return format!("{io}{hint}");
    }
    err.to_string()
}

/// Describes a rustls error for humans: untrusted, mismatched and expired certificates say
/// what to check.
pub fn tls_error_text(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => format!(
                "TLS certificate not trusted: {err} (issued by an unknown certificate \
                 authority); pass the CA with ca_file, or use native roots (native_roots(true))"
            ),
            CertificateError::BadSignature => {
                format!("TLS certificate not trusted: {err}; the chain's signatures do not verify")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "TLS certificate does not match the host: {err}; check the endpoint's host \
                     name"
                )
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => format!(
                "TLS certificate not valid at this time: {err}; check this machine's clock and \
                 the server's certificate"
            ),
            _ => format!("TLS certificate rejected: {err}"),
        },
        rustls::Error::AlertReceived(alert) => {
            let hint = match alert {
                AlertDescription::UnknownCA | AlertDescription::BadCertificate => {
                    "; the server rejected the handshake"
                }
                AlertDescription::HandshakeFailure | AlertDescription::ProtocolVersion => {
                    "; the server supports no TLS version or cipher suite in common with rustls \
                     (TLS 1.2 and 1.3 are offered)"
                }
                _ => "",
            };
            format!("TLS handshake failed: the server sent alert {alert:?}{hint}")
        }
        _ => format!("TLS error: {err}"),
    }
}

fn find_rustls<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // `io::Error::source` skips the wrapped error itself: look inside explicitly.
        current = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
}

fn find_io<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers_become_status() {
        let response = http::Response::builder().status(401).body(None).unwrap();
        let err = tungstenite::Error::Http(Box::new(response));
        assert_eq!(open_error(&err), OpenError::Status { status: 401 });
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, tls);
        let OpenError::Transport(text) = open_error(&tungstenite::Error::Io(io)) else {
            panic!("expected a transport error")
        };
        assert!(text.starts_with("TLS certificate not trusted"), "{text}");
        assert!(text.contains("ca_file"), "{text}");

        let io = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        );
        let OpenError::Transport(text) = io_open_error("TLS handshake with x:443", &io) else {
            panic!("expected a transport error")
        };
        assert!(
            text.starts_with("TLS handshake with x:443: TLS certificate not valid"),
            "{text}"
        );
        assert!(text.contains("clock"), "{text}");
    }

    #[test]
    fn refused_connections_get_a_hint() {
        let io = io::Error::from(io::ErrorKind::ConnectionRefused);
        let OpenError::Transport(text) = io_open_error("TCP connect to 127.0.0.1:9", &io) else {
            panic!("expected a transport error")
        };
        assert!(text.contains("check the host and port"), "{text}");
    }

    #[test]
    fn eof_after_a_close_frame_is_clean() {
        let eof = || tungstenite::Error::Io(io::Error::from(io::ErrorKind::UnexpectedEof));
        assert!(!close_info(&eof(), true).error);
        let info = close_info(&eof(), false);
        assert!(info.error);
        assert!(
            info.reason.contains("closed the connection"),
            "{}",
            info.reason
        );
        assert!(!close_info(&tungstenite::Error::ConnectionClosed, false).error);
    }

    #[test]
    fn nested_causes_are_sources() {
        use std::error::Error as _;
        let err = TransportError::Tls(rustls::Error::General("no suites".into()));
        let source = err.source().expect("the rustls error is the source");
        assert!(source.downcast_ref::<rustls::Error>().is_some(), "{source}");
        let err = TransportError::CaFile {
            path: "/x.pem".into(),
            source: io::ErrorKind::NotFound.into(),
        };
        assert!(err.source().is_some());
    }

    #[test]
    fn close_frames_keep_code_and_reason() {
        let frame = CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Away,
            reason: "bye".into(),
        };
        let info = close_frame_info(Some(&frame));
        assert_eq!(
            (info.code, info.reason.as_str(), info.error),
            (Some(1001), "bye", false)
        );
        assert_eq!(close_frame_info(None), CloseInfo::clean(None, ""));
    }
}
