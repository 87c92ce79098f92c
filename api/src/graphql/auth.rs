//! Who is calling, and what they may do.
//!
//! The HTTP layer reads `Authorization: Bearer <token>` (the WebSocket layer: the
//! `connection_init` payload) into a [`Caller`] attached to each request. Resolvers call
//! [`require_writer`] (every mutation) and [`require_reader`] (every query when reads are
//! protected).

use async_graphql::Context;

use crate::config::Secret;
use crate::error::ApiError;

/// The server's access policy, fixed at start-up.
#[derive(Clone, Debug, Default)]
pub struct AuthPolicy {
    /// `JOBINTEL_API_TOKEN`.
    pub token: Option<Secret>,
    /// `JOBINTEL_PROTECT_READS`: queries and subscriptions need the token too.
    pub protect_reads: bool,
    /// The server listens only on loopback addresses: without a token, mutations are allowed
    /// (a developer on their own machine).
    pub loopback_only: bool,
}

/// The credentials presented with one request or WebSocket connection.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The bearer token presented, if any.
    pub bearer: Option<String>,
}

impl Caller {
    /// From an `Authorization` header value (`Bearer <token>`, case-insensitive scheme).
    pub fn from_authorization(value: Option<&str>) -> Self {
        let bearer = value.and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
        Caller { bearer }
    }
}

impl AuthPolicy {
    /// Whether `caller` presented the configured token (compared in constant time).
    pub fn is_authenticated(&self, caller: &Caller) -> bool {
        match (&self.token, &caller.bearer) {
            (Some(expected), Some(given)) => {
                constant_time_eq(expected.expose().as_bytes(), given.as_bytes())
            }
            _ => false,
        }
    }

    pub fn check_writer(&self, caller: &Caller) -> Result<(), ApiError> {
        if self.token.is_none() {
            return if self.loopback_only {
                Ok(())
            } else {
                Err(ApiError::Unauthenticated(
                    "mutations are disabled: set JOBINTEL_API_TOKEN".into(),
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
}

fn caller<'a>(ctx: &'a Context<'_>) -> std::borrow::Cow<'a, Caller> {
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

    #[test]
    fn without_a_token_mutations_are_allowed_only_on_loopback() {
        assert!(policy(None, true).check_writer(&Caller::default()).is_ok());
        assert!(
            policy(None, false)
                .check_writer(&Caller::default())
                .is_err()
        );
    }

    #[test]
    fn constant_time_comparison_handles_different_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
