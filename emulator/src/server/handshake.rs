//! The WebSocket upgrade request as the server sees it, and its validation (docs/protocol.md §1).

use std::time::{Duration, SystemTime};

use open_event_core::Credentials;
use open_event_core::connection::ConnectRequest;
use open_event_core::kso1::{
    self, ACK_MODE_REQUIRED, HEADER_ACK_MODE, HEADER_AUTHORIZATION, HEADER_DATE,
};

use super::ServerConfig;
use super::report::ConnId;

/// The parts of a WebSocket upgrade request the server checks: the request target and the
/// headers. Header names compare case-insensitively.
///
/// ```
/// use std::time::SystemTime;
/// use open_event_core::Credentials;
/// use open_event_emulator::server::Handshake;
///
/// let credentials = Credentials::new("AK123456", "sk098765");
/// let handshake = Handshake::signed(&credentials, "/v7/event/ws", SystemTime::now(), true);
/// assert_eq!(handshake.header("x-ack-mode"), Some("required"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handshake {
    /// The request target: path plus `?query` when there is one.
    pub path_and_query: String,
    /// Every header as `(name, value)`, in the order received.
    pub headers: Vec<(String, String)>,
}

impl Handshake {
    /// A request for `path_and_query` with no headers yet.
    pub fn new(path_and_query: impl Into<String>) -> Self {
        Self {
            path_and_query: path_and_query.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A correctly signed handshake for `path_and_query` dated `date`, as a client of the app
    /// with `credentials` sends it.
    pub fn signed(
        credentials: &Credentials,
        path_and_query: &str,
        date: SystemTime,
        ack_mode: bool,
    ) -> Self {
        let date = kso1::format_date(date);
        let authorization = kso1::sign(
            credentials,
            &kso1::Request {
                method: "GET",
                request_uri: path_and_query,
                content_type: "",
                date: &date,
                body: &[],
            },
        );
        let handshake = Self::new(path_and_query)
            .with_header(HEADER_DATE, date)
            .with_header(HEADER_AUTHORIZATION, authorization);
        if ack_mode {
            handshake.with_header(HEADER_ACK_MODE, ACK_MODE_REQUIRED)
        } else {
            handshake
        }
    }

    /// The handshake a core [`Connection`](open_event_core::connection::Connection) asks for
    /// with `request`, signed at `wall` (what an adapter would send, extra headers included).
    pub fn from_connect(request: &ConnectRequest, wall: SystemTime) -> Self {
        let headers = request.headers(wall);
        Self {
            path_and_query: kso1::request_uri(request.url()),
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .chain(request.extra_headers().iter().cloned())
                .collect(),
        }
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path)
    }

    /// The single value of a required header.
    fn unique(&self, name: &'static str) -> Result<&str, Rejection> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str());
        let Some(first) = values.next() else {
            return Err(Rejection::unauthorized(format!(
                "missing {name} header: the handshake must carry {HEADER_DATE} and a KSO-1 \
                 {HEADER_AUTHORIZATION}"
            )));
        };
        if values.next().is_some() {
            return Err(Rejection::unauthorized(format!(
                "the {name} header is given more than once; send it exactly once"
            )));
        }
        Ok(first)
    }
}

/// What the server answers a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)]
pub enum HandshakeDecision {
    /// Upgrade: the connection is open.
    Accept {
        /// The new connection's id.
        conn: ConnId,
        /// Whether the client asked for ACK mode (`X-Ack-Mode: required`).
        ack_mode: bool,
    },
    /// Answer with this HTTP status and body instead of upgrading.
    Reject {
        /// The HTTP status (401, 403, 404, 429, 503, ...).
        status: u16,
        /// A plain-text body that says why.
        body: String,
    },
}

/// A refused handshake, before it becomes a [`HandshakeDecision::Reject`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) status: u16,
    pub(crate) reason: String,
}

impl Rejection {
    fn unauthorized(reason: String) -> Self {
        Self {
            status: 401,
            reason,
        }
    }
}

/// What a valid handshake asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Granted {
    pub(crate) ack_mode: bool,
}

/// Checks `request` exactly as the platform does: the path, the headers, the date against `wall`
/// and the KSO-1 signature over `GET` + path and query + no content type + the date.
pub(crate) fn validate(
    config: &ServerConfig,
    wall: SystemTime,
    request: &Handshake,
) -> Result<Granted, Rejection> {
    if request.path() != config.path {
        return Err(Rejection {
            status: 404,
            reason: format!(
                "no WebSocket endpoint at {:?}: the event long connection is at {:?}",
                request.path(),
                config.path
            ),
        });
    }
    let date = request.unique(HEADER_DATE)?;
    let authorization = request.unique(HEADER_AUTHORIZATION)?;
    let signed_at =
        kso1::parse_date(date).map_err(|err| Rejection::unauthorized(err.to_string()))?;
    check_skew(config.max_clock_skew, wall, signed_at, date)?;
    kso1::verify(
        &config.credentials,
        &kso1::Request {
            method: "GET",
            request_uri: &request.path_and_query,
            content_type: "",
            date,
            body: &[],
        },
        authorization,
    )
    .map_err(|err| Rejection::unauthorized(err.to_string()))?;
    let ack_mode = match ack_mode_header(request)? {
        None => false,
        Some(value) if value == ACK_MODE_REQUIRED => true,
        Some(value) => {
            return Err(Rejection::unauthorized(format!(
                "{HEADER_ACK_MODE} is {value:?}: the only value is {ACK_MODE_REQUIRED:?} (or leave \
                 the header out to turn ACK mode off)"
            )));
        }
    };
    Ok(Granted { ack_mode })
}

/// The app id named by an authorization header value, when it has the KSO-1 form.
pub(crate) fn claimed_app_id(request: &Handshake) -> Option<String> {
    let value = request.header(HEADER_AUTHORIZATION)?;
    let rest = value.strip_prefix("KSO-1 ")?;
    let (app_id, _) = rest.rsplit_once(':')?;
    Some(app_id.to_owned())
}

/// Whether the handshake asks for ACK mode (for the record; validation decides).
pub(crate) fn asks_ack_mode(request: &Handshake) -> bool {
    request.header(HEADER_ACK_MODE) == Some(ACK_MODE_REQUIRED)
}

fn ack_mode_header(request: &Handshake) -> Result<Option<&str>, Rejection> {
    if request
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case(HEADER_ACK_MODE))
    {
        request.unique(HEADER_ACK_MODE).map(Some)
    } else {
        Ok(None)
    }
}

fn check_skew(
    max: Duration,
    wall: SystemTime,
    signed_at: SystemTime,
    date: &str,
) -> Result<(), Rejection> {
    let (skew, direction) = match signed_at.duration_since(wall) {
        Ok(ahead) => (ahead, "ahead of"),
        Err(behind) => (behind.duration(), "behind"),
    };
    if skew <= max {
        return Ok(());
    }
    Err(Rejection::unauthorized(format!(
        "{HEADER_DATE} {date:?} is {} s {direction} the server's clock ({}); at most {} s are \
         allowed: check this machine's clock",
        skew.as_secs(),
        kso1::format_date(wall),
        max.as_secs()
    )))
}
