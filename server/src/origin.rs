//! okrflow's own public origins (scheme, host and port), against which the CSRF check compares
//! a request's `Origin`: the one `--public-url` names, or by default the address okrflow binds
//! (with `localhost` too on loopback). Never derived from the request's own Host header, which
//! the client chooses.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// One origin, normalised: lower-case scheme and host, explicit port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// Parses an origin or a base URL (`https://okr.example.com`, `http://10.0.0.5:3000/`).
    /// Only http and https, no user info, no path beyond `/`, no query.
    pub fn parse(text: &str) -> Result<Origin, String> {
        let uri: http::Uri = text.trim().parse().map_err(|e| format!("'{text}' is not a URL: {e}"))?;
        let scheme = uri.scheme_str().map(str::to_ascii_lowercase).ok_or_else(|| format!("'{text}' has no scheme"))?;
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            other => return Err(format!("'{text}': the scheme must be http or https, not '{other}'")),
        };
        let authority = uri.authority().ok_or_else(|| format!("'{text}' has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("'{text}' must not carry a user name or password"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!("'{text}' must be scheme://host[:port] without a path or query"));
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("'{text}' has no host"));
        }
        Ok(Origin { scheme, host, port: authority.port_u16().unwrap_or(default_port) })
    }

    /// `http://<addr>`.
    pub fn http(addr: SocketAddr) -> Origin {
        let host = match addr.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        Origin { scheme: "http".into(), host, port: addr.port() }
    }

    fn localhost(port: u16) -> Origin {
        Origin { scheme: "http".into(), host: "localhost".into(), port }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = matches!((self.scheme.as_str(), self.port), ("http", 80) | ("https", 443));
        if default {
            write!(f, "{}://{}", self.scheme, self.host)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// The origins okrflow accepts state-changing browser requests from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicOrigins(Vec<Origin>);

impl PublicOrigins {
    /// `--public-url` if given; else the bound address over http, plus `localhost` when that
    /// address is loopback, and both loopback spellings when it is every interface (people on
    /// other machines then need `--public-url`, and the start-up log says so).
    pub fn new(public_url: Option<&Origin>, bound: SocketAddr) -> PublicOrigins {
        if let Some(url) = public_url {
            return PublicOrigins(vec![url.clone()]);
        }
        let port = bound.port();
        let ip = bound.ip();
        let mut origins = Vec::new();
        if ip.is_unspecified() {
            origins.push(Origin::http(SocketAddr::from(([127, 0, 0, 1], port))));
        } else {
            origins.push(Origin::http(bound));
        }
        if ip.is_loopback() || ip.is_unspecified() {
            origins.push(Origin::localhost(port));
        }
        PublicOrigins(origins)
    }

    /// Whether an `Origin` header names one of these.
    pub fn allows(&self, origin_header: &str) -> bool {
        Origin::parse(origin_header).is_ok_and(|o| self.0.contains(&o))
    }

    /// "http://127.0.0.1:3000, http://localhost:3000", for messages.
    pub fn describe(&self) -> String {
        self.0.iter().map(Origin::to_string).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_is_the_bound_address_and_localhost_on_loopback() {
        let origins = PublicOrigins::new(None, addr("127.0.0.1:3000"));
        assert!(origins.allows("http://127.0.0.1:3000"));
        assert!(origins.allows("http://localhost:3000"));
        assert!(origins.allows("HTTP://LocalHost:3000"));
        for refused in [
            "https://127.0.0.1:3000",
            "http://127.0.0.1:3001",
            "http://127.0.0.1",
            "http://127.0.0.1:3000.evil.example",
            "http://evil.example:3000",
            "http://user@127.0.0.1:3000",
            "null",
            "",
        ] {
            assert!(!origins.allows(refused), "{refused}");
        }
        let lan = PublicOrigins::new(None, addr("10.0.0.5:8080"));
        assert_eq!(lan.describe(), "http://10.0.0.5:8080");
        let v6 = PublicOrigins::new(None, addr("[::1]:3000"));
        assert!(v6.allows("http://[::1]:3000") && v6.allows("http://localhost:3000"));
    }

    #[test]
    fn a_public_url_replaces_the_default_and_default_ports_are_implied() {
        let url = Origin::parse("https://OKR.example.com/").unwrap();
        let origins = PublicOrigins::new(Some(&url), addr("127.0.0.1:3000"));
        assert!(origins.allows("https://okr.example.com"));
        assert!(origins.allows("https://okr.example.com:443"));
        assert!(!origins.allows("http://okr.example.com"));
        assert!(!origins.allows("http://127.0.0.1:3000"));
        assert_eq!(origins.describe(), "https://okr.example.com");
    }

    #[test]
    fn bad_public_urls_say_what_is_wrong() {
        assert!(Origin::parse("ftp://x").unwrap_err().contains("http or https"));
        assert!(Origin::parse("https://x/okrflow").unwrap_err().contains("without a path"));
        assert!(Origin::parse("https://a:b@x").unwrap_err().contains("user name"));
        assert!(Origin::parse("okr.example.com").is_err());
    }
}
