//! Who is calling, and what they may do.
//!
//! The HTTP layer reads `Authorization: Bearer <token>` (the WebSocket layer: the
//! `connection_init` payload, else the upgrade request's header) and the TCP peer into a
//! [`Caller`] attached to each request. Resolvers call [`require_writer`] (every mutation) and
//! [`require_reader`] (every query when reads are protected). [`AuthPolicy::check_writer`] is
//! the one place that decides who may write.

use std::net::{IpAddr, SocketAddr};

use async_graphql::Context;
use axum::http::HeaderMap;

use crate::config::Secret;
use crate::error::ApiError;

/// The server's access policy, fixed at start-up.
#[derive(Clone, Debug, Default)]
pub struct AuthPolicy {
    /// `JOBINTEL_API_TOKEN` (an empty one counts as none).
    pub token: Option<Secret>,
    /// `JOBINTEL_PROTECT_READS`: queries and subscriptions need the token too.
    pub protect_reads: bool,
    /// The server listens only on loopback addresses: without a token, mutations are allowed
    /// from callers on this machine (a developer on their own machine).
    pub loopback_only: bool,
}

/// The credentials and origin of one request or WebSocket connection.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The bearer token presented, if any.
    pub bearer: Option<String>,
    /// The TCP peer's address; `None` when the operation did not come over HTTP (tests that
    /// call the schema directly), which counts as remote.
    pub peer: Option<IpAddr>,
    /// The request carried `Forwarded`, `X-Forwarded-For` or `X-Real-IP`: it came through a
    /// proxy, so a loopback peer says nothing about where the caller is.
    pub forwarded: bool,
}

impl Caller {
    /// From an `Authorization` header value (`Bearer <token>`, case-insensitive scheme).
    pub fn from_authorization(value: Option<&str>) -> Self {
        Caller {
            bearer: bearer_token(value),
            ..Caller::default()
        }
    }

    /// From an HTTP request (or WebSocket upgrade): its `Authorization` header, the TCP peer
    /// and whether a proxy forwarded it.
    pub fn from_request(headers: &HeaderMap, peer: Option<SocketAddr>) -> Self {
        Caller {
            bearer: bearer_token(
                headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok()),
            ),
            peer: peer.map(|p| p.ip().to_canonical()),
            forwarded: PROXY_HEADERS.iter().any(|h| headers.contains_key(h)),
        }
    }

    /// Connected straight from this machine: a loopback peer and no proxy in between. Behind
    /// nginx or an SSH tunnel on 127.0.0.1 the peer is loopback for everyone, hence the proxy
    /// headers check (a tunnel adds none: whoever can open one can log in anyway).
    pub fn is_local(&self) -> bool {
        !self.forwarded && self.peer.is_some_and(|p| p.is_loopback())
    }
}

/// The headers a proxy adds, as `HeaderName`s: looking a header up by `&str` parses the name
/// first (twice per request, three names each).
static PROXY_HEADERS: [axum::http::HeaderName; 3] = [
    axum::http::header::FORWARDED,
    axum::http::HeaderName::from_static("x-forwarded-for"),
    axum::http::HeaderName::from_static("x-real-ip"),
];

fn bearer_token(value: Option<&str>) -> Option<String> {
    let (scheme, token) = value?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

impl AuthPolicy {
    /// The configured token; blank counts as none (the configuration trims it).
    fn token(&self) -> Option<&Secret> {
        self.token.as_ref().filter(|t| !t.expose().is_empty())
    }

    /// Whether a token is configured (a blank one is none).
    pub fn has_token(&self) -> bool {
        self.token().is_some()
    }

    /// Whether `caller` presented the configured token (compared in constant time).
    pub fn is_authenticated(&self, caller: &Caller) -> bool {
        match (self.token(), &caller.bearer) {
            (Some(expected), Some(given)) => {
                constant_time_eq(expected.expose().as_bytes(), given.as_bytes())
            }
            _ => false,
        }
    }

    /// Who may run mutations: with a token configured, whoever presents it; without one, only
    /// a caller on this machine (see [`Caller::is_local`]) of a server bound to loopback.
    pub fn check_writer(&self, caller: &Caller) -> Result<(), ApiError> {
        if self.token().is_none() {
            return if !self.loopback_only {
                Err(ApiError::Unauthenticated(
                    "mutations are disabled: set JOBINTEL_API_TOKEN".into(),
                ))
            } else if caller.is_local() {
                Ok(())
            } else {
                Err(ApiError::Unauthenticated(
                    "without JOBINTEL_API_TOKEN, mutations are accepted only from this machine \
                     and not through a proxy: set JOBINTEL_API_TOKEN and send \
                     `Authorization: Bearer <token>`"
                        .into(),
                ))
            };
        }
        if self.is_authenticated(caller) {
            Ok(())
        } else {
            Err(ApiError::Unauthenticated(
                "this operation requires `Authorization: Bearer <JOBINTEL_API_TOKEN>`".into(),
            ))
        }
    }

    pub fn check_reader(&self, caller: &Caller) -> Result<(), ApiError> {
        if !self.protect_reads || self.is_authenticated(caller) {
            Ok(())
        } else {
            Err(ApiError::Unauthenticated(
                "reads are protected (JOBINTEL_PROTECT_READS): send `Authorization: Bearer <token>`"
                    .into(),
            ))
        }
    }

    /// Callers the per-address limits (rate limit, WebSocket connections per address) do not
    /// apply to: exactly those [`Self::check_writer`] trusts to write, since they could do far
    /// more harm than a flood of reads.
    pub fn is_exempt_from_limits(&self, caller: &Caller) -> bool {
        self.check_writer(caller).is_ok()
    }
}

/// The caller of the operation `ctx` belongs to (no HTTP request: an anonymous remote one).
pub(crate) fn caller<'a>(ctx: &'a Context<'_>) -> std::borrow::Cow<'a, Caller> {
    match ctx.data_opt::<Caller>() {
        Some(c) => std::borrow::Cow::Borrowed(c),
        None => std::borrow::Cow::Owned(Caller::default()),
    }
}

/// Fail with `UNAUTHENTICATED` unless the caller may run mutations.
pub fn require_writer(ctx: &Context<'_>) -> Result<(), ApiError> {
    let api = ctx.data_unchecked::<super::ApiContext>();
    api.auth.check_writer(&caller(ctx))
}

/// Fail with `UNAUTHENTICATED` unless the caller may read (always, unless reads are protected).
pub fn require_reader(ctx: &Context<'_>) -> Result<(), ApiError> {
    let api = ctx.data_unchecked::<super::ApiContext>();
    api.auth.check_reader(&caller(ctx))
}

/// Compare without an early exit, so response time does not reveal how much of a guess matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(token: Option<&str>, loopback_only: bool) -> AuthPolicy {
        AuthPolicy {
            token: token.map(Secret::new),
            protect_reads: false,
            loopback_only,
        }
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        assert_eq!(
            Caller::from_authorization(Some("bearer abc"))
                .bearer
                .as_deref(),
            Some("abc")
        );
        assert_eq!(Caller::from_authorization(Some("Basic abc")).bearer, None);
        assert_eq!(Caller::from_authorization(None).bearer, None);
    }

    #[test]
    fn mutations_need_the_token_when_one_is_set() {
        let p = policy(Some("s3cret"), true);
        assert!(
            p.check_writer(&Caller::from_authorization(Some("Bearer s3cret")))
                .is_ok()
        );
        assert!(
            p.check_writer(&Caller::from_authorization(Some("Bearer s3cre")))
                .is_err()
        );
        assert!(p.check_writer(&Caller::default()).is_err());
    }

    fn peer(ip: &str, forwarded: bool) -> Caller {
        Caller {
            bearer: None,
            peer: Some(ip.parse().unwrap()),
            forwarded,
        }
    }

    #[test]
    fn without_a_token_mutations_are_allowed_only_on_loopback() {
        assert!(
            policy(None, true)
                .check_writer(&peer("127.0.0.1", false))
                .is_ok()
        );
        assert!(
            policy(None, false)
                .check_writer(&peer("127.0.0.1", false))
                .is_err()
        );
    }

    #[test]
    fn without_a_token_a_remote_or_proxied_caller_cannot_write_even_on_loopback() {
        let p = policy(None, true);
        for local in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            let mut c = peer(local, false);
            c.peer = c.peer.map(|ip| ip.to_canonical());
            assert!(p.check_writer(&c).is_ok(), "{local}");
            assert!(p.is_exempt_from_limits(&c), "{local}");
        }
        let remote = peer("203.0.113.9", false);
        let err = p.check_writer(&remote).unwrap_err();
        assert_eq!(err.code(), "UNAUTHENTICATED");
        assert!(err.message().contains("this machine"), "{}", err.message());
        assert!(p.check_writer(&peer("127.0.0.1", true)).is_err());
        assert!(!p.is_exempt_from_limits(&peer("127.0.0.1", true)));
        // No peer at all (an operation that did not come over HTTP) is not local.
        assert!(p.check_writer(&Caller::default()).is_err());
    }

    #[test]
    fn callers_read_the_peer_and_proxy_headers_of_the_request() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer  tok ".parse().unwrap());
        let addr: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        let c = Caller::from_request(&headers, Some(addr));
        assert_eq!(c.bearer.as_deref(), Some("tok"));
        assert!(c.is_local());
        for h in ["forwarded", "x-forwarded-for", "x-real-ip"] {
            let mut proxied = headers.clone();
            proxied.insert(h, "for=203.0.113.9".parse().unwrap());
            assert!(
                !Caller::from_request(&proxied, Some(addr)).is_local(),
                "{h}"
            );
        }
        assert!(!Caller::from_request(&headers, None).is_local());
    }

    #[test]
    fn a_blank_configured_token_is_no_token() {
        let p = policy(Some(""), true);
        assert!(p.check_writer(&peer("127.0.0.1", false)).is_ok());
        assert!(!p.is_authenticated(&Caller::from_authorization(Some("Bearer "))));
    }

    #[test]
    fn constant_time_comparison_handles_different_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
