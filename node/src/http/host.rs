//! The names the API listener answers to (`[api] allowed_hosts`).
//!
//! A browser sends the name it dialled in `Host`. DNS rebinding points a
//! name the attacker controls (`evil.example`) at the node's address after
//! the page has loaded, so the attacker's script reaches the node as a
//! same-origin request, with the user's network position. Such a request
//! still says `Host: evil.example`, so it is refused here, before anything
//! else runs: no session is looked up, no handler, no page.
//!
//! `*` allows any name (no protection; for a node behind a proxy that
//! checks names itself).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fundsync_protocol::ErrorCode;

use super::ApiError;

/// The names a request's `Host` may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    any: bool,
    names: Vec<String>,
}

impl AllowedHosts {
    /// `list` as configured; an empty list means [`AllowedHosts::defaults`].
    /// An entry may carry a port or IPv6 brackets (`[::1]:8080`); only the
    /// name counts.
    pub fn new(list: &[String], listen: &str) -> AllowedHosts {
        if list.is_empty() {
            return AllowedHosts::defaults(listen);
        }
        let any = list.iter().any(|h| h.trim() == "*");
        let mut names = Vec::new();
        for h in list.iter().filter(|h| h.trim() != "*") {
            if let Some(n) = host_of(h.trim()).map(normalise) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        AllowedHosts { any, names }
    }

    /// `localhost`, `127.0.0.1`, `::1`, and the host of `listen` when it is
    /// a specific address (not `0.0.0.0` or `::`).
    pub fn defaults(listen: &str) -> AllowedHosts {
        let mut list: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
        if let Some(h) = specific_host(listen) {
            list.push(h);
        }
        AllowedHosts::new(&list, "")
    }

    /// Any name at all (`*`).
    pub fn any(&self) -> bool {
        self.any
    }

    /// The names allowed, normalised (lower case, IPv6 without brackets).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether `authority` (a `Host` value: name or address, maybe a port)
    /// names one of the allowed hosts.
    pub fn allows(&self, authority: &str) -> bool {
        if self.any {
            return true;
        }
        match host_of(authority.trim()) {
            Some(h) => self.names.contains(&normalise(h)),
            None => false,
        }
    }
}

/// The host of `listen` (`host:port`) when it names one address or name,
/// not every interface.
pub fn specific_host(listen: &str) -> Option<String> {
    let h = host_of(listen.trim())?;
    match h.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => None,
        _ if h.is_empty() => None,
        _ => Some(normalise(h)),
    }
}

/// The host part of an authority: `name`, `name:port`, `1.2.3.4:port`,
/// `[v6]`, `[v6]:port`, or a bare IPv6 address. `None` if malformed.
pub fn host_of(authority: &str) -> Option<&str> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        return port_ok.then_some(inside);
    }
    match authority.matches(':').count() {
        0 => Some(authority),
        1 => {
            let (h, p) = authority.split_once(':')?;
            p.bytes().all(|b| b.is_ascii_digit()).then_some(h)
        }
        // More than one colon without brackets: a bare IPv6 address.
        _ => authority.parse::<IpAddr>().is_ok().then_some(authority),
    }
}

/// One spelling per host: lower case, no trailing dot, addresses in their
/// canonical form (`0:0:0:0:0:0:0:1` is `::1`).
fn normalise(host: &str) -> String {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match h.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => h,
    }
}

/// Refuses a request whose `Host` (and, in absolute form, whose URI's
/// authority) is not allowed: 400 `host_not_allowed`, and nothing else runs.
pub async fn check_host(
    State(allowed): State<Arc<AllowedHosts>>,
    req: Request,
    next: Next,
) -> Response {
    if allowed.any {
        return next.run(req).await;
    }
    let header = req.headers().get(header::HOST).map(|v| v.to_str());
    let uri = req.uri().authority().map(|a| a.as_str());
    let refused = |what: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::HostNotAllowed,
            format!("{what} is not a name this node answers to (see allowed_hosts in its configuration)"),
        )
        .into_response()
    };
    let named = match (header, uri) {
        (None, None) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::HostNotAllowed,
                "the request names no host",
            )
            .into_response()
        }
        (Some(Err(_)), _) => return refused("the Host header"),
        (Some(Ok(h)), u) => [Some(h), u],
        (None, u) => [u, None],
    };
    for h in named.into_iter().flatten() {
        if !allowed.allows(h) {
            tracing::info!(host = %h, "request refused: host not allowed");
            return refused(&format!("host {h:?}"));
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn hosts_are_read_with_ports_and_brackets() {
        assert_eq!(host_of("example.org"), Some("example.org"));
        assert_eq!(host_of("example.org:8080"), Some("example.org"));
        assert_eq!(host_of("127.0.0.1:80"), Some("127.0.0.1"));
        assert_eq!(host_of("[::1]:8080"), Some("::1"));
        assert_eq!(host_of("[::1]"), Some("::1"));
        assert_eq!(host_of("::1"), Some("::1"));
        assert_eq!(host_of("[::1]x"), None);
        assert_eq!(host_of("a:b:c"), None);
        assert_eq!(host_of("example.org:80x"), None);
    }

    #[test]
    fn the_defaults_are_loopback_and_a_specific_listen_address() {
        let d = AllowedHosts::new(&[], "0.0.0.0:8080");
        assert_eq!(d.names(), ["localhost", "127.0.0.1", "::1"]);
        assert!(!AllowedHosts::new(&[], "[::]:8080").allows("[::]:8080"));
        let d = AllowedHosts::new(&[], "10.1.2.3:8080");
        assert!(d.allows("10.1.2.3:8080"));
        assert!(d.allows("LOCALHOST:8080"));
        assert!(d.allows("[::1]:8080"));
        assert!(d.allows("[0:0:0:0:0:0:0:1]"));
        assert!(!d.allows("evil.example"));
        assert!(!d.allows("10.1.2.4"));
        let d = AllowedHosts::new(&[], "fundsync.bureau.example:8080");
        assert!(d.allows("fundsync.bureau.example."));
    }

    #[test]
    fn a_list_replaces_the_defaults_and_a_star_allows_any() {
        let a = AllowedHosts::new(&list(&["region", "Region.Example:443"]), "0.0.0.0:8080");
        assert!(a.allows("region:8080") && a.allows("region.example"));
        assert!(!a.allows("localhost"), "the list replaces the defaults");
        assert!(!a.allows("evil.example") && !a.allows(""));
        let any = AllowedHosts::new(&list(&["*"]), "127.0.0.1:8080");
        assert!(any.any() && any.allows("evil.example"));
    }
}
