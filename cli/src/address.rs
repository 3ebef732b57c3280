//! Addresses to listen on (`--listen localhost:7001`): an IP address or a host name with a
//! port, resolved once at startup.

use std::net::{SocketAddr, ToSocketAddrs};

/// A value parser for `HOST:PORT`: an IP address (`127.0.0.1:7000`, `[::1]:7000`) or a host
/// name (`localhost:7000`), resolved; an IPv4 address is preferred when the name has both.
pub(crate) fn resolve(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let example = "e.g. 127.0.0.1:7000, localhost:7000 or [::1]:7000 (port 0 picks a free port)";
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
        _ => return Err(format!("`{text}` is not HOST:PORT; {example}")),
    }
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve `{text}` ({err}); {example}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("`{text}` resolves to no address; {example}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_and_host_names() {
        assert_eq!(
            resolve("127.0.0.1:7000"),
            Ok("127.0.0.1:7000".parse().unwrap())
        );
        assert_eq!(resolve("[::1]:0"), Ok("[::1]:0".parse().unwrap()));
        let local = resolve("localhost:7001").unwrap();
        assert!(local.ip().is_loopback(), "{local}");
        assert_eq!(local.port(), 7001);
        for bad in ["localhost", "localhost:http", ":7000", "1.2.3.4:99999"] {
            let err = resolve(bad).unwrap_err();
            assert!(err.contains("HOST:PORT"), "{bad}: {err}");
        }
    }
}
