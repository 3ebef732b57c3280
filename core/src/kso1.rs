//! KSO-1 request signatures, used by the WebSocket handshake (docs/protocol.md §1).
//!
//! The signature is the lowercase hex of HMAC-SHA256 (key = app secret) over
//! `"KSO-1" + METHOD + REQUEST_URI + CONTENT_TYPE + X_KSO_DATE + BODY_HASH`, where `BODY_HASH`
//! is the lowercase hex SHA-256 of the body, or the empty string when the body is empty. The
//! header value is `KSO-1 {app_id}:{signature}`.
//!
//! ```
//! use open_event_core::Credentials;
//! use open_event_core::kso1::{self, Request};
//!
//! let credentials = Credentials::new("AK123456", "sk098765");
//! let request = Request {
//!     method: "GET",
//!     request_uri: "/v7/test?key=value",
//!     content_type: "application/json",
//!     date: "Mon, 02 Jan 2006 15:04:05 GMT",
//!     body: b"",
//! };
//! let authorization = kso1::sign(&credentials, &request);
//! assert_eq!(
//!     authorization,
//!     "KSO-1 AK123456:ce8df66877175e5198c8ea1362ffddf82e4941c6f25a4ca205a1ad09d0faaf03"
//! );
//! assert_eq!(kso1::verify(&credentials, &request, &authorization), Ok(()));
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::Credentials;

/// The header carrying the request date.
pub const HEADER_DATE: &str = "X-Kso-Date";
/// The header carrying the KSO-1 authorization.
pub const HEADER_AUTHORIZATION: &str = "X-Kso-Authorization";
/// The header asking the server for ACK mode.
pub const HEADER_ACK_MODE: &str = "X-Ack-Mode";
/// The value of [`HEADER_ACK_MODE`] when ACK mode is on.
pub const ACK_MODE_REQUIRED: &str = "required";

/// The scheme that starts every KSO-1 authorization header value.
const SCHEME: &str = "KSO-1";

/// The last instant `httpdate` can format (9999-12-31T23:59:59Z).
const MAX_DATE_SECS: u64 = 253_402_300_799;

/// The parts of an HTTP request that KSO-1 signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method, e.g. `GET`.
    pub method: &'a str,
    /// The path plus `?query` when there is one; no scheme, no host.
    pub request_uri: &'a str,
    /// The Content-Type header value (empty when there is none).
    pub content_type: &'a str,
    /// The [`HEADER_DATE`] value, RFC 1123 in GMT.
    pub date: &'a str,
    /// The body (empty when there is none).
    pub body: &'a [u8],
}

/// Why a KSO-1 authorization or date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Kso1Error {
    /// The authorization header value does not have the KSO-1 form.
    #[error(
        "malformed X-Kso-Authorization header ({0}): expected `KSO-1 {{app_id}}:{{signature}}` with the signature as 64 lowercase hex digits"
    )]
    Malformed(&'static str),
    /// The header names an app other than the expected one.
    #[error("unknown app id {0:?}: check the app id the client was configured with")]
    UnknownApp(String),
    /// The signature does not match the request.
    #[error(
        "KSO-1 signature does not match: check the app secret, and that the signed date, method and request URI are the ones sent"
    )]
    SignatureMismatch,
    /// The date is not RFC 1123 in GMT.
    #[error(
        "invalid X-Kso-Date {0:?}: expected RFC 1123 in GMT, e.g. `Mon, 02 Jan 2006 15:04:05 GMT`"
    )]
    InvalidDate(String),
}

/// Signs `request` and returns the full [`HEADER_AUTHORIZATION`] value,
/// `KSO-1 {app_id}:{lowercase hex signature}`.
///
/// See the [module documentation](self) for an example.
pub fn sign(credentials: &Credentials, request: &Request<'_>) -> String {
    let tag = signing_mac(credentials, request).finalize().into_bytes();
    let app_id = credentials.app_id();
    let mut out = String::with_capacity(SCHEME.len() + 1 + app_id.len() + 1 + 2 * tag.len());
    out.push_str(SCHEME);
    out.push(' ');
    out.push_str(app_id);
    out.push(':');
    push_hex(&mut out, &tag);
    out
}

/// The `BODY_HASH` part of the string to sign: the lowercase hex SHA-256 of `body`, or the
/// empty string when `body` is empty (not the hash of the empty string).
///
/// ```
/// use open_event_core::kso1::body_hash;
///
/// assert_eq!(body_hash(b""), "");
/// assert_eq!(
///     body_hash(br#"{"key": "value"}"#),
///     "9724c1e20e6e3e4d7f57ed25f9d4efb006e508590d528c90da597f6a775c13e5"
/// );
/// ```
pub fn body_hash(body: &[u8]) -> String {
    let mut out = String::new();
    if !body.is_empty() {
        push_hex(&mut out, &Sha256::digest(body));
    }
    out
}

/// Checks a KSO-1 authorization header value against `request` (for emulators and tests).
///
/// The signature is compared in constant time.
///
/// # Errors
/// [`Kso1Error::Malformed`] when the value is not `KSO-1 {app_id}:{64 lowercase hex digits}`,
/// [`Kso1Error::UnknownApp`] when it names another app id than `credentials`',
/// [`Kso1Error::SignatureMismatch`] when the signature is wrong.
pub fn verify(
    credentials: &Credentials,
    request: &Request<'_>,
    authorization: &str,
) -> Result<(), Kso1Error> {
    let rest = authorization
        .strip_prefix(SCHEME)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or(Kso1Error::Malformed("it does not start with `KSO-1 `"))?;
    let (app_id, signature) = rest
        .rsplit_once(':')
        .ok_or(Kso1Error::Malformed("there is no `:` after the app id"))?;
    if app_id.is_empty() {
        return Err(Kso1Error::Malformed("the app id is empty"));
    }
    let tag = decode_hex32(signature).ok_or(Kso1Error::Malformed(
        "the signature is not 64 lowercase hex digits",
    ))?;
    if app_id != credentials.app_id() {
        return Err(Kso1Error::UnknownApp(app_id.to_owned()));
    }
    signing_mac(credentials, request)
        .verify_slice(&tag)
        .map_err(|_| Kso1Error::SignatureMismatch)
}

/// Formats `t` for [`HEADER_DATE`]: RFC 1123, always in GMT, e.g. `Mon, 02 Jan 2006 15:04:05 GMT`.
///
/// Times before 1970 or after the year 9999 are clamped to those bounds.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use open_event_core::kso1::format_date;
///
/// let t = UNIX_EPOCH + Duration::from_secs(1136214245);
/// assert_eq!(format_date(t), "Mon, 02 Jan 2006 15:04:05 GMT");
/// ```
pub fn format_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX_DATE_SECS);
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Parses a [`HEADER_DATE`] value (for emulators and tests). Only the canonical RFC 1123 GMT
/// form that [`format_date`] produces is accepted.
///
/// # Errors
/// [`Kso1Error::InvalidDate`] for anything else.
///
/// ```
/// use open_event_core::kso1::{format_date, parse_date};
///
/// let t = parse_date("Mon, 02 Jan 2006 15:04:05 GMT").unwrap();
/// assert_eq!(format_date(t), "Mon, 02 Jan 2006 15:04:05 GMT");
/// assert!(parse_date("Monday, 02-Jan-06 15:04:05 GMT").is_err());
/// ```
pub fn parse_date(s: &str) -> Result<SystemTime, Kso1Error> {
    let invalid = || Kso1Error::InvalidDate(s.to_owned());
    let t = httpdate::parse_http_date(s).map_err(|_| invalid())?;
    // httpdate also reads the obsolete RFC 850 and asctime forms: accept only the canonical one.
    if format_date(t) == s {
        Ok(t)
    } else {
        Err(invalid())
    }
}

/// The handshake headers of the WebSocket upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeHeaders {
    /// The [`HEADER_DATE`] value.
    pub date: String,
    /// The [`HEADER_AUTHORIZATION`] value.
    pub authorization: String,
    /// The [`HEADER_ACK_MODE`] value, when ACK mode is on.
    pub ack_mode: Option<&'static str>,
}

impl HandshakeHeaders {
    /// Every header as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            (HEADER_DATE, self.date.as_str()),
            (HEADER_AUTHORIZATION, self.authorization.as_str()),
        ]
        .into_iter()
        .chain(self.ack_mode.map(|mode| (HEADER_ACK_MODE, mode)))
    }
}

/// Builds the signed headers of the WebSocket handshake: a `GET` of the endpoint's path and query,
/// with no content type and no body.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use open_event_core::Credentials;
/// use open_event_core::kso1::handshake_headers;
///
/// let credentials = Credentials::new("AK123456", "sk098765");
/// let endpoint: http::Uri = "wss://openapi.wps.cn/v7/event/ws".parse().unwrap();
/// let date = UNIX_EPOCH + Duration::from_secs(1136214245);
/// let headers = handshake_headers(&credentials, &endpoint, date, true);
/// let pairs: Vec<_> = headers.iter().collect();
/// assert_eq!(
///     pairs,
///     [
///         ("X-Kso-Date", "Mon, 02 Jan 2006 15:04:05 GMT"),
///         (
///             "X-Kso-Authorization",
///             "KSO-1 AK123456:b0efc443c12e0abd8133ca61675b6b297461f83a80c5763dde62b0857d344c02"
///         ),
///         ("X-Ack-Mode", "required"),
///     ]
/// );
/// ```
pub fn handshake_headers(
    credentials: &Credentials,
    endpoint: &http::Uri,
    date: SystemTime,
    ack_mode: bool,
) -> HandshakeHeaders {
    let date = format_date(date);
    let uri = request_uri(endpoint);
    let authorization = sign(
        credentials,
        &Request {
            method: "GET",
            request_uri: &uri,
            content_type: "",
            date: &date,
            body: &[],
        },
    );
    HandshakeHeaders {
        date,
        authorization,
        ack_mode: ack_mode.then_some(ACK_MODE_REQUIRED),
    }
}

/// The request URI KSO-1 signs for `uri`: its path (`/` when empty) plus `?query` when there is
/// one; no scheme, no host.
///
/// ```
/// use open_event_core::kso1::request_uri;
///
/// let uri: http::Uri = "wss://example.com:8443/v7/event/ws?region=cn".parse().unwrap();
/// assert_eq!(request_uri(&uri), "/v7/event/ws?region=cn");
/// let uri: http::Uri = "wss://example.com".parse().unwrap();
/// assert_eq!(request_uri(&uri), "/");
/// ```
pub fn request_uri(uri: &http::Uri) -> String {
    let path = match uri.path() {
        "" => "/",
        path => path,
    };
    match uri.query() {
        Some(query) => {
            let mut out = String::with_capacity(path.len() + 1 + query.len());
            out.push_str(path);
            out.push('?');
            out.push_str(query);
            out
        }
        None => path.to_owned(),
    }
}

/// The HMAC state after feeding the whole string to sign.
fn signing_mac(credentials: &Credentials, request: &Request<'_>) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(credentials.app_secret().expose().as_bytes())
            .expect("HMAC accepts keys of any length");
    mac.update(SCHEME.as_bytes());
    mac.update(request.method.as_bytes());
    mac.update(request.request_uri.as_bytes());
    mac.update(request.content_type.as_bytes());
    mac.update(request.date.as_bytes());
    if !request.body.is_empty() {
        let mut hex = [0u8; 64];
        hex_into(&Sha256::digest(request.body), &mut hex);
        mac.update(&hex);
    }
    mac
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes the lowercase hex of `bytes` into `out` (which must be twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
    }
}

/// Appends the lowercase hex of `bytes` to `out`.
fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(2 * bytes.len());
    for byte in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
}

/// Decodes exactly 64 lowercase hex digits.
fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            _ => None,
        }
    }
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("AK123456", "sk098765")
    }

    const REQUEST: Request<'static> = Request {
        method: "POST",
        request_uri: "/v7/test/body",
        content_type: "application/json",
        date: "Mon, 02 Jan 2006 15:04:05 GMT",
        body: br#"{"key": "value"}"#,
    };

    #[test]
    fn verify_round_trip_and_errors() {
        let auth = sign(&creds(), &REQUEST);
        assert_eq!(verify(&creds(), &REQUEST, &auth), Ok(()));

        let other_body = Request {
            body: b"{}",
            ..REQUEST
        };
        assert_eq!(
            verify(&creds(), &other_body, &auth),
            Err(Kso1Error::SignatureMismatch)
        );
        let wrong_secret = Credentials::new("AK123456", "other");
        assert_eq!(
            verify(&wrong_secret, &REQUEST, &auth),
            Err(Kso1Error::SignatureMismatch)
        );
        let other_app = Credentials::new("AK999", "sk098765");
        assert_eq!(
            verify(&other_app, &REQUEST, &auth),
            Err(Kso1Error::UnknownApp("AK123456".into()))
        );
        for bad in [
            "",
            "KSO-1",
            "KSO-1 AK123456",
            "KSO-2 AK123456:00",
            "KSO-1 :0000000000000000000000000000000000000000000000000000000000000000",
            "KSO-1 AK123456:zz",
        ] {
            assert!(
                matches!(
                    verify(&creds(), &REQUEST, bad),
                    Err(Kso1Error::Malformed(_))
                ),
                "{bad}"
            );
        }
        let upper = auth.replace(
            auth.rsplit_once(':').unwrap().1,
            &auth.rsplit_once(':').unwrap().1.to_uppercase(),
        );
        assert!(matches!(
            verify(&creds(), &REQUEST, &upper),
            Err(Kso1Error::Malformed(_))
        ));
    }

    #[test]
    fn errors_do_not_leak_the_secret() {
        let err = verify(&creds(), &REQUEST, "KSO-1 x:").unwrap_err();
        assert!(!err.to_string().contains("sk098765"));
        assert!(err.to_string().contains("KSO-1 {app_id}:{signature}"));
    }

    #[test]
    fn dates() {
        assert_eq!(format_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            format_date(UNIX_EPOCH - Duration::from_secs(10)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            format_date(UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 1000)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert!(parse_date("Mon, 02 Jan 2006 15:04:05 +0800").is_err());
        assert!(parse_date("garbage").is_err());
    }

    #[test]
    fn handshake_without_ack_mode() {
        let endpoint: http::Uri = "wss://h/v7/event/ws?region=cn&x=1".parse().unwrap();
        let headers = handshake_headers(
            &creds(),
            &endpoint,
            UNIX_EPOCH + Duration::from_secs(1_136_214_245),
            false,
        );
        assert_eq!(headers.iter().count(), 2);
        assert_eq!(
            headers.authorization,
            "KSO-1 AK123456:7ebf11d85e5dd84c59146d3627eb0e5dc5b9575f667e7b9954d30870d30e729d"
        );
    }
}
