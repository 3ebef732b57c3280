//! HTTP CONNECT proxies: which one applies (explicit URL or the environment) and the sans-IO
//! tunnel handshake.
//!
//! A runtime opens TCP to [`Proxy::authority`], writes [`connect_request`], reads until
//! [`parse_connect_response`] returns `Some(len)`, and then runs TLS and the WebSocket upgrade
//! through the tunnel as if it were connected to the endpoint.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::target::authority;
use crate::{Target, TransportError, USER_AGENT};

/// The longest CONNECT answer header accepted.
const MAX_RESPONSE_HEADER: usize = 16 * 1024;

/// Which proxy to use.
///
/// With `url` set, that proxy is used for every endpoint. With `from_env`, the usual
/// variables are honoured when no `url` is set: `https_proxy`/`HTTPS_PROXY` for `wss://`,
/// `http_proxy`/`HTTP_PROXY` for `ws://`, then `all_proxy`/`ALL_PROXY` for both, minus the
/// hosts listed in `no_proxy`/`NO_PROXY` (comma separated: `*`, host names matching
/// themselves and their subdomains, a leading `.` or `*.` allowed, IP addresses, CIDR blocks
/// such as `10.0.0.0/8`; an optional `:port` restricts an entry to that port).
///
/// Only `http://` proxies are supported (the tunnel to a `wss://` endpoint is still TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyOptions {
    /// An explicit proxy URL, `http://[user:password@]host[:port]` (port default 80).
    pub url: Option<String>,
    /// Whether to read the proxy from the environment when `url` is not set.
    pub from_env: bool,
}

impl ProxyOptions {
    /// The proxy for `target`, if any, reading the process environment.
    ///
    /// # Errors
    /// [`TransportError::ProxyUrl`] when the chosen proxy URL is unusable.
    pub fn proxy_for(&self, target: &Target) -> Result<Option<Proxy>, TransportError> {
        self.proxy_for_with(target, |name| std::env::var(name).ok())
    }

    /// [`ProxyOptions::proxy_for`] with the environment read through `env` (for tests and for
    /// applications that keep their settings elsewhere).
    ///
    /// # Errors
    /// [`TransportError::ProxyUrl`] when the chosen proxy URL is unusable.
    pub fn proxy_for_with(
        &self,
        target: &Target,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Proxy>, TransportError> {
        if let Some(url) = &self.url {
            return Proxy::parse(url).map(Some);
        }
        if !self.from_env {
            return Ok(None);
        }
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| env(name).filter(|v| !v.trim().is_empty()))
        };
        let no_proxy = get(&["no_proxy", "NO_PROXY"]).unwrap_or_default();
        if no_proxy_matches(&no_proxy, target.host(), target.port()) {
            return Ok(None);
        }
        let scheme_vars: &[&str] = if target.is_tls() {
            &["https_proxy", "HTTPS_PROXY"]
        } else {
            &["http_proxy", "HTTP_PROXY"]
        };
        match get(scheme_vars).or_else(|| get(&["all_proxy", "ALL_PROXY"])) {
            Some(url) => Proxy::parse(url.trim()).map(Some),
            None => Ok(None),
        }
    }
}

/// An HTTP proxy to tunnel through with CONNECT. `Debug` never shows the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The proxy's host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// The `Proxy-Authorization` header value (`Basic …`) from the URL's user information.
    pub authorization: Option<String>,
}

impl Proxy {
    /// Parses `http://[user:password@]host[:port]` (a URL without scheme is taken as `http`;
    /// user and password may be percent-encoded; the port defaults to 80).
    ///
    /// # Errors
    /// [`TransportError::ProxyUrl`] for other schemes, a missing host or a bad port; the
    /// message never contains the password.
    pub fn parse(url: &str) -> Result<Self, TransportError> {
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_owned(), url),
        };
        let authority_part = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority_part.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority_part),
        };
        let shown = format!("{scheme}://{hostport}");
        let err = |problem: &str| TransportError::ProxyUrl {
            url: shown.clone(),
            problem: problem.to_owned(),
        };
        match scheme.as_str() {
            "http" => {}
            "https" => {
                return Err(err(
                    "HTTPS proxies (TLS to the proxy) are not supported; use the proxy's \
                     http:// address (the tunnel to a wss:// endpoint is still encrypted)",
                ));
            }
            _ => {
                return Err(err(
                    "only http:// proxies are supported; expected http://[user:password@]host[:port]",
                ));
            }
        }
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| err("the host or port is missing or invalid; expected host[:port]"))?;
        let authorization = userinfo.map(|info| {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            let credentials = format!("{}:{}", percent_decode(user), percent_decode(password));
            format!("Basic {}", STANDARD.encode(credentials))
        });
        Ok(Self {
            host: host.to_owned(),
            port: port.unwrap_or(80),
            authorization,
        })
    }

    /// `host:port`, an IPv6 host in brackets: where to open the TCP connection.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl fmt::Display for Proxy {
    /// `http://host:port`, without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

/// The CONNECT request that opens a tunnel to `target_host:target_port` through `proxy`.
pub fn connect_request(proxy: &Proxy, target_host: &str, target_port: u16) -> Vec<u8> {
    let target = authority(target_host, target_port);
    let mut request =
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {USER_AGENT}\r\n");
    if let Some(auth) = &proxy.authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(auth);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Reads the proxy's answer to CONNECT from the bytes received so far.
///
/// Returns `Ok(None)` while the header is incomplete (read more and call again with all bytes
/// so far), `Ok(Some(len))` once a 2xx header of `len` bytes is complete: the tunnel is open
/// and bytes after `len` already belong to the endpoint (proxies send none before the client
/// speaks; treat any as an error or hand them on).
///
/// # Errors
/// [`TransportError::ProxyAuthRequired`] for 407, [`TransportError::ProxyStatus`] for other
/// non-2xx answers, [`TransportError::ProxyResponse`] for anything that is not HTTP or a
/// header longer than 16 KiB.
pub fn parse_connect_response(buf: &[u8]) -> Result<Option<usize>, TransportError> {
    let prefix = &buf[..buf.len().min(5)];
    if !b"HTTP/".starts_with(prefix) {
        return Err(TransportError::ProxyResponse(
            "the answer does not start with HTTP/".to_owned(),
        ));
    }
    let Some(end) = header_end(buf) else {
        if buf.len() > MAX_RESPONSE_HEADER {
            return Err(TransportError::ProxyResponse(format!(
                "no end of header within {MAX_RESPONSE_HEADER} bytes"
            )));
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    let reason = parts.next().unwrap_or_default().trim();
    let status = match (
        version.starts_with("HTTP/1."),
        code.len(),
        code.parse::<u16>(),
    ) {
        (true, 3, Ok(status)) if (100..=599).contains(&status) => status,
        _ => {
            return Err(TransportError::ProxyResponse(format!(
                "malformed status line {:?}",
                truncate(status_line, 80)
            )));
        }
    };
    match status {
        200..=299 => Ok(Some(end)),
        407 => Err(TransportError::ProxyAuthRequired),
        _ => Err(TransportError::ProxyStatus {
            status,
            reason: truncate(reason, 80).to_owned(),
        }),
    }
}

/// The length of the header including its blank line (CRLF or bare LF line ends).
fn header_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Splits `host[:port]` / `[v6][:port]`; `None` when the host is empty or the port invalid.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => (s, None), // a bare IPv6 address
            None => (s, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p != 0)?),
        None => None,
    };
    Some((host, port))
}

/// Whether a NO_PROXY list exempts `host:port`.
fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let Some((name, entry_port)) = split_host_port(entry) else {
                return false;
            };
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            if let Some((net, bits)) = name.split_once('/') {
                return match (host_ip, net.parse::<IpAddr>(), bits.parse::<u8>()) {
                    (Some(ip), Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
                    _ => false,
                };
            }
            if let Ok(ip) = name.parse::<IpAddr>() {
                return host_ip == Some(ip);
            }
            let name = name
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_ascii_lowercase();
            !name.is_empty()
                && (host == name
                    || host
                        .strip_suffix(name.as_str())
                        .is_some_and(|rest| rest.ends_with('.')))
        })
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn target(url: &str) -> Target {
        Target::from_uri(&url.parse().unwrap()).unwrap()
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn parses_proxy_urls() {
        let p = Proxy::parse("http://proxy.local:3128").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.authorization),
            ("proxy.local", 3128, None)
        );
        let p = Proxy::parse("proxy.local").unwrap();
        assert_eq!(p.port, 80);
        let p = Proxy::parse("http://[::1]:8080/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8080));
        assert_eq!(p.authority(), "[::1]:8080");
        let p = Proxy::parse("http://us%40er:p%3Ass@proxy:1").unwrap();
        // "us@er:p:ss" in base64.
        assert_eq!(p.authorization.as_deref(), Some("Basic dXNAZXI6cDpzcw=="));
        assert_eq!(p.to_string(), "http://proxy:1");
    }

    #[test]
    fn proxy_debug_and_errors_hide_the_password() {
        let p = Proxy::parse("http://user:hunter2@proxy:1").unwrap();
        let debug = format!("{p:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("Basic"),
            "{debug}"
        );
        for url in [
            "https://user:hunter2@proxy:1",
            "socks5://user:hunter2@proxy:1",
            "http://user:hunter2@proxy:99999",
            "http://user:hunter2@:80",
        ] {
            let err = Proxy::parse(url).unwrap_err();
            let text = err.to_string();
            assert!(!text.contains("hunter2"), "{text}");
            assert!(matches!(err, TransportError::ProxyUrl { .. }), "{text}");
        }
    }

    #[test]
    fn explicit_url_wins_and_env_needs_opt_in() {
        let t = target("wss://openapi.wps.cn/v7/event/ws");
        let vars = env(&[("HTTPS_PROXY", "http://envproxy:1")]);
        let none = ProxyOptions::default();
        assert_eq!(none.proxy_for_with(&t, &vars).unwrap(), None);
        let explicit = ProxyOptions {
            url: Some("http://mine:2".into()),
            from_env: true,
        };
        assert_eq!(
            explicit.proxy_for_with(&t, &vars).unwrap().unwrap().host,
            "mine"
        );
        let from_env = ProxyOptions {
            url: None,
            from_env: true,
        };
        assert_eq!(
            from_env.proxy_for_with(&t, &vars).unwrap().unwrap().host,
            "envproxy"
        );
    }

    #[test]
    fn env_vars_by_scheme_with_fallbacks() {
        let opts = ProxyOptions {
            url: None,
            from_env: true,
        };
        let wss = target("wss://example.com/");
        let ws = target("ws://example.com/");
        let vars = env(&[
            ("https_proxy", "http://lower-https:1"),
            ("HTTPS_PROXY", "http://upper-https:1"),
            ("HTTP_PROXY", "http://plain:1"),
            ("ALL_PROXY", "http://all:1"),
        ]);
        let host = |t: &Target, vars: &dyn Fn(&str) -> Option<String>| {
            opts.proxy_for_with(t, vars).unwrap().map(|p| p.host)
        };
        assert_eq!(host(&wss, &vars).as_deref(), Some("lower-https"));
        assert_eq!(host(&ws, &vars).as_deref(), Some("plain"));
        let vars = env(&[("ALL_PROXY", "http://all:1"), ("HTTPS_PROXY", " ")]);
        assert_eq!(host(&wss, &vars).as_deref(), Some("all"));
        assert_eq!(host(&ws, &vars).as_deref(), Some("all"));
        let vars = env(&[("HTTP_PROXY", "http://plain:1")]);
        assert_eq!(host(&wss, &vars), None, "HTTP_PROXY does not apply to wss");
        let vars = env(&[("https_proxy", "socks5://x:1")]);
        assert!(opts.proxy_for_with(&wss, &vars).is_err());
    }

    #[test]
    fn no_proxy_matching() {
        let cases = [
            ("*", "anything.example", 443, true),
            ("example.com", "example.com", 443, true),
            ("example.com", "api.example.com", 443, true),
            ("example.com", "badexample.com", 443, false),
            (".example.com", "api.example.com", 443, true),
            ("*.example.com", "api.example.com", 443, true),
            (".example.com", "example.com", 443, true),
            ("EXAMPLE.com", "Api.Example.Com", 443, true),
            ("other.org, example.com ", "x.example.com", 443, true),
            ("example.com:8443", "example.com", 443, false),
            ("example.com:443", "example.com", 443, true),
            ("127.0.0.1", "127.0.0.1", 80, true),
            ("127.0.0.1", "127.0.0.2", 80, false),
            ("10.0.0.0/8", "10.1.2.3", 80, true),
            ("10.0.0.0/8", "11.1.2.3", 80, false),
            ("10.0.0.0/8", "ten.example", 80, false),
            ("::1", "::1", 80, true),
            ("[::1]:80", "::1", 80, true),
            ("fd00::/8", "fd12::1", 80, true),
            ("0.0.0.0/0", "1.2.3.4", 80, true),
            ("", "example.com", 443, false),
            (",,", "example.com", 443, false),
        ];
        for (list, host, port, expected) in cases {
            assert_eq!(
                no_proxy_matches(list, host, port),
                expected,
                "{list:?} vs {host}:{port}"
            );
        }
    }

    #[test]
    fn no_proxy_exempts_hosts_from_env_proxies() {
        let opts = ProxyOptions {
            url: None,
            from_env: true,
        };
        let vars = env(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("no_proxy", "localhost,.corp"),
        ]);
        assert_eq!(
            opts.proxy_for_with(&target("wss://localhost/"), &vars)
                .unwrap(),
            None
        );
        assert_eq!(
            opts.proxy_for_with(&target("wss://a.corp/"), &vars)
                .unwrap(),
            None
        );
        assert!(
            opts.proxy_for_with(&target("wss://a.com/"), &vars)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn connect_request_bytes() {
        let p = Proxy::parse("http://u:p@proxy:3128").unwrap();
        let req = String::from_utf8(connect_request(&p, "openapi.wps.cn", 443)).unwrap();
        assert!(
            req.starts_with("CONNECT openapi.wps.cn:443 HTTP/1.1\r\nHost: openapi.wps.cn:443\r\n")
        );
        assert!(
            req.contains("\r\nProxy-Authorization: Basic dTpw\r\n"),
            "{req}"
        );
        assert!(req.ends_with("\r\n\r\n"));
        let p = Proxy::parse("http://proxy:3128").unwrap();
        let req = String::from_utf8(connect_request(&p, "::1", 8443)).unwrap();
        assert!(req.starts_with("CONNECT [::1]:8443 HTTP/1.1\r\n"), "{req}");
        assert!(!req.contains("Proxy-Authorization"));
    }

    #[test]
    fn connect_response_complete_and_partial() {
        let full = b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(
                parse_connect_response(&full[..cut]).unwrap(),
                None,
                "cut at {cut}"
            );
        }
        assert_eq!(parse_connect_response(full).unwrap(), Some(full.len()));
        let mut more = full.to_vec();
        more.extend_from_slice(b"\x16\x03\x01");
        assert_eq!(parse_connect_response(&more).unwrap(), Some(full.len()));
        let lf = b"HTTP/1.0 200 OK\n\n";
        assert_eq!(parse_connect_response(lf).unwrap(), Some(lf.len()));
    }

    #[test]
    fn connect_response_errors() {
        let err = parse_connect_response(b"HTTP/1.1 403 Forbidden\r\n\r\n").unwrap_err();
        assert!(matches!(
            err,
            TransportError::ProxyStatus { status: 403, .. }
        ));
        let text = err.to_string();
        assert!(
            text.contains("403 Forbidden") && text.contains("check the proxy"),
            "{text}"
        );
        let err = parse_connect_response(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            .unwrap_err();
        assert!(matches!(err, TransportError::ProxyAuthRequired));
        assert!(matches!(
            parse_connect_response(b"SSH-2.0-OpenSSH\r\n"),
            Err(TransportError::ProxyResponse(_))
        ));
        assert!(matches!(
            parse_connect_response(b"HTTP/1.1 2000 OK\r\n\r\n"),
            Err(TransportError::ProxyResponse(_))
        ));
        assert!(matches!(
            parse_connect_response(b"HTTP/2 200\r\n\r\n"),
            Err(TransportError::ProxyResponse(_))
        ));
        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        endless.resize(MAX_RESPONSE_HEADER + 1, b'a');
        assert!(matches!(
            parse_connect_response(&endless),
            Err(TransportError::ProxyResponse(_))
        ));
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
    }
}
