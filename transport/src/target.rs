//! Where a WebSocket endpoint lives.

use std::net::IpAddr;

use http::Uri;
use rustls_pki_types::{DnsName, ServerName};

use crate::TransportError;

/// The endpoint's host, port, whether it uses TLS, and its TLS server name.
///
/// ```
/// use open_event_transport::Target;
///
/// let target = Target::from_uri(&"ws://[::1]:8080/v7/event/ws".parse()?)?;
/// assert_eq!((target.host(), target.port(), target.is_tls()), ("::1", 8080, false));
/// assert_eq!(target.authority(), "[::1]:8080");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    host: String,
    port: u16,
    tls: bool,
    server_name: ServerName<'static>,
}

impl Target {
    /// Reads a `ws://` or `wss://` URL (`http(s)://` are accepted as synonyms). The port
    /// defaults to 80 (`ws`) or 443 (`wss`).
    ///
    /// # Errors
    /// [`TransportError::Endpoint`] for another scheme, a missing host, or a host that is
    /// neither a DNS name nor an IP address.
    pub fn from_uri(uri: &Uri) -> Result<Self, TransportError> {
        let problem = |problem: &str| TransportError::Endpoint {
            url: redacted(uri),
            problem: problem.to_owned(),
        };
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("wss") || s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("ws") || s.eq_ignore_ascii_case("http") => false,
            Some(_) => return Err(problem("has an unsupported scheme")),
            None => return Err(problem("has no scheme")),
        };
        let host = uri.host().ok_or_else(|| problem("has no host"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(problem("has an empty host"));
        }
        let server_name = match host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => DnsName::try_from(host.to_ascii_lowercase())
                .map(ServerName::DnsName)
                .map_err(|_| problem("has a host that is neither a DNS name nor an IP address"))?,
        };
        Ok(Self {
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            tls,
            server_name,
        })
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the endpoint is `wss://` (TLS).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The name rustls verifies the certificate against (a DNS name or an IP address).
    pub fn server_name(&self) -> ServerName<'static> {
        self.server_name.clone()
    }

    /// `host:port`, IPv6 addresses in brackets: what TCP connects to and what CONNECT names.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

/// `host:port` with an IPv6 host in brackets.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The URL without user information (which could hold a password).
fn redacted(uri: &Uri) -> String {
    let text = uri.to_string();
    match (uri.authority(), uri.host()) {
        (Some(auth), Some(_)) if auth.as_str().contains('@') => {
            let host_part = auth.as_str().rsplit('@').next().unwrap_or_default();
            text.replacen(auth.as_str(), host_part, 1)
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Result<Target, TransportError> {
        Target::from_uri(&url.parse().unwrap())
    }

    #[test]
    fn default_ports_and_tls() {
        let t = target("wss://openapi.wps.cn/v7/event/ws").unwrap();
        assert_eq!(
            (t.host(), t.port(), t.is_tls()),
            ("openapi.wps.cn", 443, true)
        );
        assert_eq!(
            t.server_name(),
            ServerName::try_from("openapi.wps.cn").unwrap().to_owned()
        );
        let t = target("ws://example.com/x").unwrap();
        assert_eq!((t.port(), t.is_tls()), (80, false));
        assert_eq!(t.authority(), "example.com:80");
        let t = target("WSS://Example.COM:8443/x?y=1").unwrap();
        assert_eq!((t.port(), t.is_tls()), (8443, true));
    }

    #[test]
    fn ip_addresses_are_server_names() {
        let t = target("wss://127.0.0.1:9443/ws").unwrap();
        assert!(matches!(t.server_name(), ServerName::IpAddress(_)));
        assert_eq!(t.authority(), "127.0.0.1:9443");
        let t = target("wss://[2001:db8::1]/ws").unwrap();
        assert_eq!(t.host(), "2001:db8::1");
        assert_eq!(t.port(), 443);
        assert!(matches!(t.server_name(), ServerName::IpAddress(_)));
        assert_eq!(t.authority(), "[2001:db8::1]:443");
    }

    #[test]
    fn bad_urls_are_typed_errors() {
        for (url, needle) in [
            ("ftp://example.com/", "unsupported scheme"),
            ("/v7/event/ws", "no scheme"),
            ("wss://exa_mple!.com/", "neither a DNS name"),
        ] {
            let err = target(url).unwrap_err();
            assert!(err.to_string().contains(needle), "{url}: {err}");
            assert!(err.to_string().contains("ws:// or wss://"), "{err}");
        }
    }

    #[test]
    fn user_info_is_not_echoed() {
        let err = target("ftp://user:hunter2@example.com/").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
