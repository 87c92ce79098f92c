//! Protections in front of the routes: the `Host` check (DNS rebinding), the per-address rate
//! limit of `/graphql`, and headers every response carries. Each refusal is a GraphQL-shaped
//! error with a stable `extensions.code`.
//!
//! | refusal | status | code |
//! |---|---|---|
//! | `Host` not this server ([`HostPolicy`]) | 403 | `HOST_NOT_ALLOWED` |
//! | over `JOBINTEL_RATE_LIMIT` ([`RateLimiter`](crate::per_client::RateLimiter)) | 429 + `Retry-After` | `RATE_LIMITED` |

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::graphql::GraphqlHttpError;
use crate::graphql::auth::Caller;
use crate::state::AppState;

/// The TCP peer, when the server was started with connect info (`server::run` always is).
pub fn peer_of(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// The address per-client limits count against. Normally the TCP peer; when the peer is a
/// proxy on this machine (loopback, with `X-Forwarded-For`, `X-Real-IP` or `Forwarded`), the
/// address that proxy says it is forwarding for (the last hop it added), so the clients of a
/// local nginx do not all share one bucket. IPv6 addresses count by their /64: one host
/// usually owns a whole /64.
pub fn client_key(caller: &Caller, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = caller.peer?;
    let ip = if peer.is_loopback() && caller.forwarded {
        forwarded_for(headers).unwrap_or(peer)
    } else {
        peer
    };
    Some(match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    })
}

/// The client address a proxy added last: `X-Forwarded-For`'s last entry, `X-Real-IP`, or the
/// `for=` of `Forwarded`'s last element.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let parse = |s: &str| {
        let s = s.trim().trim_matches('"');
        s.parse::<IpAddr>()
            .ok()
            .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
            .or_else(|| s.trim_start_matches('[').trim_end_matches(']').parse().ok())
    };
    if let Some(ip) = value("x-forwarded-for").and_then(|v| parse(v.rsplit(',').next()?)) {
        return Some(ip);
    }
    if let Some(ip) = value("x-real-ip").and_then(parse) {
        return Some(ip);
    }
    let last = value("forwarded")?.rsplit(',').next()?;
    last.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then(|| parse(v))?
    })
}

/// Which `Host` headers the server answers to. A DNS-rebinding page reaches a loopback server
/// under its own host name, so while bound to loopback only the bind address, loopback
/// addresses, `localhost` and `JOBINTEL_ALLOWED_HOSTS` are accepted. IP literals other than
/// those are refused too: nothing legitimate sends them to a loopback server.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    check: bool,
    bind_ip: IpAddr,
    allowed: Vec<(String, Option<u16>)>,
    any: bool,
}

impl HostPolicy {
    /// `bind` is the listener's address; `allowed` is `JOBINTEL_ALLOWED_HOSTS`.
    pub fn new(bind: SocketAddr, allowed: &[String]) -> Self {
        let allowed: Vec<_> = allowed
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .collect();
        HostPolicy {
            check: bind.ip().is_loopback() || !allowed.is_empty(),
            bind_ip: bind.ip().to_canonical(),
            any: allowed.contains(&"*"),
            allowed: allowed.into_iter().filter_map(split_host).collect(),
        }
    }

    /// Whether a request with this `Host` header is served. No header (HTTP/1.0 tools) is
    /// served: browsers always send one.
    pub fn allows(&self, host: Option<&str>) -> bool {
        if !self.check || self.any {
            return true;
        }
        // The usual case, `127.0.0.1:8000`, without the allocations of `split_host`.
        if let Some(ip) = host
            .and_then(|h| h.parse::<SocketAddr>().ok())
            .map(|a| a.ip())
        {
            let ip = ip.to_canonical();
            if ip.is_loopback() || ip == self.bind_ip {
                return true;
            }
        }
        let Some((name, port)) = host.and_then(split_host) else {
            return host.is_none();
        };
        if name == "localhost" {
            return true;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            let ip = ip.to_canonical();
            if ip.is_loopback() || ip == self.bind_ip {
                return true;
            }
        }
        self.allowed
            .iter()
            .any(|(n, p)| *n == name && (p.is_none() || *p == port))
    }
}

/// `Host` (or an allowed-hosts entry) as a lower-case name without brackets or a trailing dot,
/// and its port.
fn split_host(host: &str) -> Option<(String, Option<u16>)> {
    let host = host.trim().to_ascii_lowercase();
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        (name.to_owned(), port)
    } else {
        match host.rsplit_once(':') {
            // More than one colon without brackets: a bare IPv6 address.
            Some((name, _)) if name.contains(':') => (host.clone(), None),
            Some((name, port)) => (name.to_owned(), Some(port.parse().ok()?)),
            None => (host.clone(), None),
        }
    };
    let name = name.trim_end_matches('.').to_owned();
    (!name.is_empty()).then_some((name, port))
}

/// The refusal of a request whose `Host` this server does not answer to (see
/// [`HostPolicy`]), if it is one.
pub fn refuse_host(policy: &HostPolicy, req: &Request) -> Option<Response> {
    let host = req.headers().get(header::HOST).map(|v| v.to_str());
    let allowed = match host {
        None => policy.allows(None),
        Some(Ok(h)) => policy.allows(Some(h)),
        Some(Err(_)) => false,
    };
    (!allowed).then(|| {
        GraphqlHttpError::new(
            StatusCode::FORBIDDEN,
            "HOST_NOT_ALLOWED",
            "this server does not answer to that Host: add the name to JOBINTEL_ALLOWED_HOSTS",
        )
        .into_response()
    })
}

/// Every response: browsers must not guess a script or a page out of a JSON or text body.
pub fn security_headers(resp: &mut Response) {
    resp.headers_mut()
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
}

/// The rate limit of `/graphql` (GET, POST and WebSocket upgrades) and `/export/*`: the
/// refusal, if this request is over it. Not limited: callers
/// [`crate::graphql::auth::AuthPolicy::is_exempt_from_limits`] trusts (the API token, or a
/// token-less loopback server's own machine).
pub fn refuse_over_rate(state: &AppState, req: &Request) -> Option<Response> {
    let limiter = state.rate_limiter.as_ref()?;
    let caller = Caller::from_request(req.headers(), peer_of(req));
    if state.api.auth.is_exempt_from_limits(&caller) {
        return None;
    }
    let key = client_key(&caller, req.headers())?;
    let wait = limiter.check(key).err()?;
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut resp = GraphqlHttpError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        format!(
            "too many requests from this address (JOBINTEL_RATE_LIMIT); retry in {secs} s \
             or send the API token"
        ),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(bind: &str, allowed: &[&str]) -> HostPolicy {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        HostPolicy::new(bind.parse().unwrap(), &allowed)
    }

    #[test]
    fn a_loopback_server_answers_only_to_its_own_names() {
        let p = hosts("127.0.0.1:8000", &[]);
        for ok in [
            "127.0.0.1:8000",
            "localhost:8000",
            "LOCALHOST",
            "localhost.:9999",
            "127.0.0.2:8000",
            "[::1]:8000",
        ] {
            assert!(p.allows(Some(ok)), "{ok}");
        }
        assert!(p.allows(None));
        for bad in [
            "evil.example:8000",
            "evil.example",
            "192.168.1.5:8000",
            "localhost.evil.example",
            "",
            "[::1",
            "localhost:port",
        ] {
            assert!(!p.allows(Some(bad)), "{bad}");
        }
    }

    #[test]
    fn allowed_hosts_match_by_name_and_optionally_port() {
        let p = hosts("127.0.0.1:8000", &["jobs.internal", "Proxy.Example:443"]);
        assert!(p.allows(Some("jobs.internal:1234")));
        assert!(p.allows(Some("proxy.example:443")));
        assert!(!p.allows(Some("proxy.example:80")));
        assert!(!p.allows(Some("other.example")));
        assert!(hosts("127.0.0.1:8000", &["*"]).allows(Some("anything")));
    }

    #[test]
    fn elsewhere_the_host_is_checked_only_when_hosts_are_listed() {
        assert!(hosts("0.0.0.0:8000", &[]).allows(Some("evil.example")));
        let listed = hosts("10.0.0.5:8000", &["jobs.example.com"]);
        assert!(listed.allows(Some("jobs.example.com")));
        assert!(listed.allows(Some("10.0.0.5:8000")));
        assert!(!listed.allows(Some("evil.example")));
    }

    #[test]
    fn clients_are_keyed_by_peer_or_by_what_a_local_proxy_forwarded() {
        let caller = |peer: &str, forwarded: bool| Caller {
            bearer: None,
            peer: Some(peer.parse().unwrap()),
            forwarded,
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.7".parse().unwrap(),
        );
        // A local proxy: its last hop.
        assert_eq!(
            client_key(&caller("127.0.0.1", true), &headers),
            Some("203.0.113.7".parse().unwrap())
        );
        // A remote peer cannot choose its key with a header.
        assert_eq!(
            client_key(&caller("198.51.100.9", true), &headers),
            Some("198.51.100.9".parse().unwrap())
        );
        let mut fwd = HeaderMap::new();
        fwd.insert(
            "forwarded",
            "for=192.0.2.1, for=\"[2001:db8::1]:4711\";proto=https"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            client_key(&caller("::1", true), &fwd),
            Some("2001:db8::".parse().unwrap())
        );
        // IPv6 by /64.
        assert_eq!(
            client_key(&caller("2001:db8:1:2:3:4:5:6", false), &HeaderMap::new()),
            Some("2001:db8:1:2::".parse().unwrap())
        );
    }
}
