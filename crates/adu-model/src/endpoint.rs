//! Validated inputs: the endpoint, the instance and operation ids.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::{bounded, shown_url, Error};

/// The service's base URL: `https://host[:port]`, or `http://` for a loopback
/// host only (local testing against an emulator).
///
/// ```
/// use adu_model::Endpoint;
///
/// let e = Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
/// assert_eq!(e.base_url(), "https://contoso.api.adu.microsoft.com");
///
/// let local = Endpoint::parse("http://127.0.0.1:8080").unwrap();
/// assert!(local.is_loopback());
///
/// // Plain http to anything but loopback is refused: a token would travel in clear.
/// assert!(Endpoint::parse("http://contoso.api.adu.microsoft.com").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    https: bool,
    /// Lowercase host, IPv6 without brackets.
    host: String,
    /// `host[:port]` as written in a URI (IPv6 in brackets), port omitted when default.
    authority: String,
    port: u16,
}

impl Endpoint {
    /// Parses `host`, `host:port`, `https://host[:port][/]` or, for loopback
    /// hosts only, `http://host[:port][/]`.
    pub fn parse(input: &str) -> Result<Endpoint, Error> {
        let fail = |reason| Error::InvalidEndpoint {
            input: shown_url(input),
            reason,
        };
        if input.is_empty() {
            return Err(fail("it is empty"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("it contains whitespace or control characters"));
        }
        let (https, rest) = match input.find("://") {
            Some(i) => {
                let scheme = &input[..i];
                let https = if scheme.eq_ignore_ascii_case("https") {
                    true
                } else if scheme.eq_ignore_ascii_case("http") {
                    false
                } else {
                    return Err(fail(
                        "the scheme must be https (or http for a loopback host)",
                    ));
                };
                (https, &input[i + 3..])
            }
            None => (true, input),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(fail(
                "an endpoint is a host name only: no path, query or fragment",
            ));
        }
        if authority.contains('@') {
            return Err(fail("credentials in the endpoint are not allowed"));
        }
        let (host, port) = split_host_port(authority).map_err(fail)?;
        if !https && !is_loopback_host(&host) {
            return Err(fail(
                "plain http is accepted only for loopback hosts (127.0.0.1, ::1, localhost); use https",
            ));
        }
        let default_port = if https { 443 } else { 80 };
        let port = port.unwrap_or(default_port);
        let host_in_uri = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let authority = if port == default_port {
            host_in_uri
        } else {
            format!("{host_in_uri}:{port}")
        };
        Ok(Endpoint {
            https,
            host,
            authority,
            port,
        })
    }

    /// `"https"` or `"http"`.
    pub fn scheme(&self) -> &str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }

    /// The host, lowercase, without brackets or port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, whether explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host[:port]` as it appears in a URI (the port only when not the default).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }

    /// `scheme://authority`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.authority)
    }

    /// Whether `uri` has this endpoint's scheme, host and port.
    pub fn same_origin(&self, uri: &http::Uri) -> bool {
        let Some(scheme) = uri.scheme_str() else {
            return false;
        };
        let Some(host) = uri.host() else {
            return false;
        };
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return false;
        };
        // `port_u16` is `None` both for "no port" and for a port that is not
        // a u16 (`:99999`); only the first may fall back to the default.
        let authority = uri.authority().map_or("", |a| a.as_str());
        let after_host = &authority[authority.rfind(']').map_or(0, |i| i + 1)..];
        if let Some((_, port)) = after_host.rsplit_once(':') {
            if !port.is_empty() && port.parse::<u16>().is_err() {
                return false;
            }
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = host.trim_start_matches('[').trim_end_matches(']');
        https == self.https && host.eq_ignore_ascii_case(&self.host) && port == self.port()
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Endpoint").field(&self.base_url()).finish()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base_url())
    }
}

impl FromStr for Endpoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Endpoint::parse(s)
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), &'static str> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or("an IPv6 address needs a closing bracket")?;
        let host = &rest[..end];
        host.parse::<Ipv6Addr>()
            .map_err(|_| "the bracketed host is not an IPv6 address")?;
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("unexpected text after the IPv6 address"),
        };
        (host.to_ascii_lowercase(), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err("the host is empty");
        }
        if host.len() > 253 {
            return Err("the host name is longer than 253 characters");
        }
        for label in host.split('.') {
            if label.is_empty() {
                return Err("the host name has an empty label");
            }
            if label.len() > 63 {
                return Err("a host name label is longer than 63 characters");
            }
            if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err("the host name may contain only letters, digits, '-' and '.'");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err("a host name label may not start or end with '-'");
            }
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 5 {
                return Err("the port must be a number from 1 to 65535");
            }
            match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err("the port must be a number from 1 to 65535"),
                Ok(n) => Some(n),
            }
        }
    };
    Ok((host, port))
}

/// Whether `host` (no brackets needed) is loopback: `localhost`, `127.0.0.0/8` or `::1`.
///
/// Names under `.localhost` are not: RFC 6761 asks resolvers to keep them on the machine,
/// but a system resolver that does not know the rule sends them to DNS, and whatever
/// address DNS gives would then receive a token over plain http.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return v4.is_loopback();
    }
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return v6.is_loopback();
    }
    false
}

/// The rule both ids follow: 1 to 256 characters, no control characters, not `.`/`..`.
fn check_segment(input: &str) -> Result<(), &'static str> {
    if input.is_empty() {
        return Err("it is empty");
    }
    if input.chars().count() > 256 {
        return Err("it is longer than 256 characters");
    }
    if input == "." || input == ".." {
        return Err("`.` and `..` are not ids");
    }
    if input.chars().any(char::is_control) {
        return Err("it contains control characters");
    }
    Ok(())
}

/// An id type: validated by [`check_segment`], refused with the `Error` variant `$invalid`.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $invalid:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates an id: 1 to 256 characters, no control characters, not `.`/`..`.
            pub fn new(id: impl Into<String>) -> Result<Self, Error> {
                let id = id.into();
                match check_segment(&id) {
                    Ok(()) => Ok($name(id)),
                    Err(reason) => Err(Error::$invalid {
                        input: bounded(&id),
                        reason,
                    }),
                }
            }

            /// The id as given.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                $name::new(s)
            }
        }
    };
}

id_type!(
    /// A Device Update instance name, validated; sent as one percent-encoded path segment.
    ///
    /// ```
    /// use adu_model::InstanceId;
    /// assert!(InstanceId::new("blue").is_ok());
    /// assert!(InstanceId::new("").is_err());
    /// ```
    InstanceId,
    InvalidInstanceId
);

id_type!(
    /// An operation id, validated (1 to 256 characters, as the API documents);
    /// sent as one percent-encoded path segment.
    ///
    /// ```
    /// use adu_model::OperationId;
    /// assert!(OperationId::new("e4491c53-b1f7-4e3f-9ec5-6a3e1b6b4a4c").is_ok());
    /// assert!(OperationId::new("x".repeat(257)).is_err());
    /// ```
    OperationId,
    InvalidOperationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let ok = [
            (
                "contoso.api.adu.microsoft.com",
                "https://contoso.api.adu.microsoft.com",
            ),
            (
                "Contoso.API.adu.microsoft.com:443",
                "https://contoso.api.adu.microsoft.com",
            ),
            (
                "https://contoso.api.adu.microsoft.com/",
                "https://contoso.api.adu.microsoft.com",
            ),
            ("https://localhost:8443", "https://localhost:8443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://localhost", "http://localhost"),
            ("HTTP://127.1.2.3:80", "http://127.1.2.3"),
        ];
        for (input, base) in ok {
            assert_eq!(Endpoint::parse(input).unwrap().base_url(), base, "{input}");
        }
        let bad = [
            "",
            "http://contoso.api.adu.microsoft.com",
            "http://10.0.0.1:80",
            "ftp://host",
            "host/path",
            "https://host/path",
            "host?x=1",
            "host#frag",
            "user@host",
            "host:0",
            "host:65536",
            "host:",
            "ho st",
            "-host.com",
            "a..b",
            "[::1",
            "http://127.0.0.1.evil.com",
        ];
        for input in bad {
            assert!(Endpoint::parse(input).is_err(), "{input} should be refused");
        }
    }

    #[test]
    fn ids() {
        assert!(OperationId::new("a".repeat(256)).is_ok());
        assert!(matches!(
            OperationId::new("a".repeat(257)),
            Err(Error::InvalidOperationId { .. })
        ));
        assert!(OperationId::new("").is_err());
        assert!(OperationId::new("..").is_err());
        assert!(InstanceId::new("a\nb").is_err());
        assert!(
            OperationId::new("a/b?c#d").is_ok(),
            "encoded later, not refused"
        );
    }
}
