//! Who may ask the endpoint what: checked on a request's headers, before its
//! body is read or any route runs.
//!
//! - `Host` must name the address the connection came in on (or
//!   `localhost:<port>` on a loopback address), else 403. A web page that
//!   rebinds its own name to 127.0.0.1 (DNS rebinding) sends its own name.
//! - An `Origin` header, which browsers send with cross-origin and with every
//!   `POST` request, must be the endpoint's own origin, else 403. No CORS header
//!   is ever sent, so a browser never lets another page read an answer.
//! - Anything but `GET` needs the token (`Authorization: Bearer <token>`),
//!   else 401; beyond loopback, `GET` too.

use std::net::SocketAddr;

use hyper::header::{AUTHORIZATION, HOST, ORIGIN};
use hyper::{HeaderMap, Method};

use super::token::matches;
use super::wire::Response;

/// The checks of one endpoint (not `Debug`: it holds the token).
pub(crate) struct Guard {
    /// The token.
    pub secret: String,
    /// The host name of `--control-addr` when it was a name, not an address.
    pub name: Option<String>,
}

impl Guard {
    /// Checks a request that came in on the connection to `local`.
    pub fn check(&self, method: &Method, headers: &HeaderMap, local: SocketAddr) -> Result<(), Response> {
        let hosts = self.hosts(local);
        let allowed = |value: &str| hosts.iter().any(|h| h.eq_ignore_ascii_case(value.trim()));
        match headers.get(HOST).map(|v| v.to_str()) {
            None => return Err(Response::error(403, "the request has no Host header")),
            Some(Ok(host)) if allowed(host) => {}
            Some(host) => {
                let host = host.unwrap_or("(not text)");
                return Err(Response::error(403, format!("Host '{host}' is not this endpoint (expected {})", hosts.join(" or "))));
            }
        }
        if let Some(origin) = headers.get(ORIGIN) {
            let own = origin.to_str().ok().and_then(|o| o.strip_prefix("http://")).is_some_and(allowed);
            if !own {
                return Err(Response::error(403, "cross-origin requests are refused: the Origin is not this endpoint"));
            }
        }
        let needs_token = method != Method::GET || !local.ip().is_loopback();
        if needs_token && !self.authorized(headers) {
            let mut r = Response::error(
                401,
                "this request needs the job's control token: send `Authorization: Bearer <token>` \
                 (the job logs the file that holds it; `weir savepoint --token-file` reads it)",
            );
            r.challenge = true;
            return Err(r);
        }
        Ok(())
    }

    /// Whether the request carries the token.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(Ok(value)) = headers.get(AUTHORIZATION).map(|v| v.to_str()) else { return false };
        match value.trim().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => matches(token.trim(), &self.secret),
            _ => false,
        }
    }

    /// The `Host` values that name the endpoint on a connection to `local`.
    fn hosts(&self, local: SocketAddr) -> Vec<String> {
        let port = local.port();
        let mut hosts = vec![local.to_string()];
        if local.ip().is_loopback() {
            hosts.push(format!("localhost:{port}"));
        }
        if let Some(name) = &self.name {
            hosts.push(format!("{name}:{port}"));
        }
        if port == 80 {
            // A client leaves out the default port.
            let bare: Vec<String> = hosts.iter().filter_map(|h| h.strip_suffix(":80").map(str::to_string)).collect();
            hosts.extend(bare);
        }
        hosts
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn guard() -> Guard {
        Guard { secret: "s3cret".into(), name: None }
    }

    fn check(g: &Guard, method: Method, local: &str, headers: &[(&str, &str)]) -> u16 {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        match g.check(&method, &map, local.parse().unwrap()) {
            Ok(()) => 200,
            Err(r) => {
                assert!(String::from_utf8_lossy(&r.body).contains("\"error\""));
                assert_eq!(r.challenge, r.status == 401);
                r.status
            }
        }
    }

    const LOCAL: &str = "127.0.0.1:9249";
    const TOKEN: (&str, &str) = ("authorization", "Bearer s3cret");

    #[test]
    fn host_must_name_the_endpoint() {
        let g = guard();
        for host in ["127.0.0.1:9249", "localhost:9249", "LOCALHOST:9249"] {
            assert_eq!(check(&g, Method::GET, LOCAL, &[("host", host)]), 200, "{host}");
        }
        for host in ["evil.example", "evil.example:9249", "127.0.0.1:80", "localhost", "127.0.0.2:9249"] {
            assert_eq!(check(&g, Method::GET, LOCAL, &[("host", host)]), 403, "{host}");
            assert_eq!(check(&g, Method::POST, LOCAL, &[("host", host), TOKEN]), 403, "{host}");
        }
        assert_eq!(check(&g, Method::GET, LOCAL, &[]), 403, "no Host");
        assert_eq!(check(&g, Method::GET, "[::1]:7", &[("host", "[::1]:7")]), 200);
        assert_eq!(check(&g, Method::GET, "[::1]:7", &[("host", "localhost:7")]), 200);
        let named = Guard { name: Some("box".into()), ..guard() };
        assert_eq!(check(&named, Method::GET, LOCAL, &[("host", "box:9249")]), 200);
        assert_eq!(check(&g, Method::GET, "127.0.0.1:80", &[("host", "localhost")]), 200);
    }

    #[test]
    fn origin_must_be_the_endpoint() {
        let g = guard();
        let host = ("host", "localhost:9249");
        assert_eq!(check(&g, Method::POST, LOCAL, &[host, TOKEN, ("origin", "http://localhost:9249")]), 200);
        assert_eq!(check(&g, Method::POST, LOCAL, &[host, TOKEN, ("origin", "http://127.0.0.1:9249")]), 200);
        for origin in ["http://evil.example", "null", "https://localhost:9249", "http://localhost:9250"] {
            assert_eq!(check(&g, Method::POST, LOCAL, &[host, TOKEN, ("origin", origin)]), 403, "{origin}");
            assert_eq!(check(&g, Method::GET, LOCAL, &[host, ("origin", origin)]), 403, "{origin}");
        }
    }

    #[test]
    fn state_changes_need_the_token() {
        let g = guard();
        let host = ("host", LOCAL);
        assert_eq!(check(&g, Method::POST, LOCAL, &[host]), 401);
        assert_eq!(check(&g, Method::DELETE, LOCAL, &[host]), 401);
        assert_eq!(check(&g, Method::POST, LOCAL, &[host, ("authorization", "Bearer wrong")]), 401);
        assert_eq!(check(&g, Method::POST, LOCAL, &[host, ("authorization", "Basic s3cret")]), 401);
        assert_eq!(check(&g, Method::POST, LOCAL, &[host, ("authorization", "s3cret")]), 401);
        assert_eq!(check(&g, Method::POST, LOCAL, &[host, TOKEN]), 200);
        assert_eq!(check(&g, Method::POST, LOCAL, &[host, ("authorization", "bearer  s3cret ")]), 200);
        // Beyond loopback, reading needs it too.
        let outside = "192.0.2.7:9249";
        assert_eq!(check(&g, Method::GET, outside, &[("host", outside)]), 401);
        assert_eq!(check(&g, Method::GET, outside, &[("host", outside), TOKEN]), 200);
    }
}
