//! Broker addresses of the form `redis://HOST:PORT/NAME` and `nats://HOST:PORT/NAME`.

use std::fmt;

/// Which broker an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    /// Redis (`redis://`).
    Redis,
    /// NATS (`nats://`).
    Nats,
}

/// A parsed `redis://HOST:PORT/NAME` or `nats://HOST:PORT/NAME`: the server and the name of a
/// stream, subject, lease key or KV bucket on it.
///
/// ```
/// use open_event_relay::{Broker, BrokerAddress};
///
/// let a = BrokerAddress::parse("redis://127.0.0.1:6379/events")?;
/// assert_eq!((a.broker(), a.server(), a.name()), (Broker::Redis, "127.0.0.1:6379", "events"));
/// assert_eq!(a.server_url(), "redis://127.0.0.1:6379");
/// let n = BrokerAddress::parse("nats://localhost/wps")?;
/// assert_eq!(n.server(), "localhost:4222");
/// assert!(BrokerAddress::parse("kafka://k/events").is_err());
/// # Ok::<(), open_event_relay::AddressError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    broker: Broker,
    /// `user:password@` when given (kept out of `Debug` and `Display`).
    userinfo: Option<String>,
    server: String,
    name: String,
}

/// Why an address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad broker address {shown:?}: {problem}; expected redis://HOST:PORT/NAME or nats://HOST:PORT/NAME"
)]
pub struct AddressError {
    shown: String,
    problem: &'static str,
}

impl BrokerAddress {
    /// Parses an address; the port defaults to 6379 (Redis) or 4222 (NATS).
    ///
    /// # Errors
    /// [`AddressError`] for another scheme, a missing host or name, or a bad port.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let fail = |problem| AddressError {
            shown: redact(text),
            problem,
        };
        let (broker, rest) = if let Some(rest) = text.strip_prefix("redis://") {
            (Broker::Redis, rest)
        } else if let Some(rest) = text.strip_prefix("nats://") {
            (Broker::Nats, rest)
        } else {
            return Err(fail("the scheme must be redis:// or nats://"));
        };
        let (authority, name) = rest
            .split_once('/')
            .ok_or_else(|| fail("no /NAME after the server"))?;
        let name = name.trim_end_matches('/');
        if name.is_empty() {
            return Err(fail("the NAME after the server is empty"));
        }
        if name.contains(char::is_whitespace) {
            return Err(fail("the NAME contains whitespace"));
        }
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user.to_owned()), host),
            None => (None, authority),
        };
        if host_port.is_empty() {
            return Err(fail("the host is empty"));
        }
        let default_port = match broker {
            Broker::Redis => 6379,
            Broker::Nats => 4222,
        };
        // `[v6]:port`, `[v6]`, `host:port` or `host`.
        let port = match host_port.strip_prefix('[') {
            Some(v6) => {
                let (_, after) = v6
                    .split_once(']')
                    .ok_or_else(|| fail("an IPv6 host needs its closing ]"))?;
                after.strip_prefix(':')
            }
            None => host_port.rsplit_once(':').map(|(_, port)| port),
        };
        if host_port.starts_with(':') {
            return Err(fail("the host is empty"));
        }
        let server = match port {
            Some(port) => {
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| fail("the port is not a number from 1 to 65535"))?;
                host_port.to_owned()
            }
            None => format!("{host_port}:{default_port}"),
        };
        Ok(Self {
            broker,
            userinfo,
            server,
            name: name.to_owned(),
        })
    }

    /// Which broker.
    pub fn broker(&self) -> Broker {
        self.broker
    }

    /// `HOST:PORT`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The stream, subject, key or bucket name (the path without its `/`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's URL for the client library (`redis://[user:pass@]HOST:PORT`), credentials
    /// included: never log it.
    pub fn server_url(&self) -> String {
        let scheme = match self.broker {
            Broker::Redis => "redis",
            Broker::Nats => "nats",
        };
        match &self.userinfo {
            Some(user) => format!("{scheme}://{user}@{}", self.server),
            None => format!("{scheme}://{}", self.server),
        }
    }
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.broker {
            Broker::Redis => "redis",
            Broker::Nats => "nats",
        };
        write!(f, "{scheme}://{}/{}", self.server, self.name)
    }
}

impl fmt::Debug for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerAddress({self})")
    }
}

/// The text with any `user:password@` replaced, for error messages.
fn redact(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            format!("{}<credentials>{}", &text[..start + 3], &text[at..])
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_servers_names_and_default_ports() {
        let a = BrokerAddress::parse("redis://u:pw@host:7000/a:b").unwrap();
        assert_eq!(a.server_url(), "redis://u:pw@host:7000");
        assert_eq!(a.name(), "a:b");
        assert_eq!(a.to_string(), "redis://host:7000/a:b");
        assert!(!format!("{a:?}").contains("pw"));
        let n = BrokerAddress::parse("nats://[::1]/s/").unwrap();
        assert_eq!((n.server(), n.name()), ("[::1]:4222", "s"));
    }

    #[test]
    fn bad_addresses_name_the_problem_without_secrets() {
        for (text, needle) in [
            ("http://h/x", "scheme"),
            ("redis://h", "/NAME"),
            ("redis://h/", "empty"),
            ("redis:///x", "host is empty"),
            ("redis://h:99999/x", "port"),
            ("nats://u:hunter2@h:x/y", "port"),
        ] {
            let err = BrokerAddress::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
