//! `viewer`: what the caller may do here. Always public, even with `JOBINTEL_PROTECT_READS`:
//! a client (the console) asks it first to know whether to ask the user for the token.

use async_graphql::{Context, Object, SimpleObject};

use super::ApiContext;
use super::auth::caller;

/// Who the caller is to this server.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// A token is configured on the server (JOBINTEL_API_TOKEN).
    pub token_required: bool,
    /// JOBINTEL_PROTECT_READS is on.
    pub reads_protected: bool,
    /// This request may run queries/subscriptions.
    pub can_read: bool,
    /// This request may run mutations.
    pub can_write: bool,
}

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who the caller is to this server. Always public (even with JOBINTEL_PROTECT_READS):
    /// the console calls it first to know whether to ask for the token.
    async fn viewer(&self, ctx: &Context<'_>) -> Viewer {
        let api = ctx.data_unchecked::<ApiContext>();
        let caller = caller(ctx);
        // The same checks every resolver and mutation applies, so the answer cannot drift
        // from what the server then allows.
        Viewer {
            token_required: api.auth.has_token(),
            reads_protected: api.auth.protect_reads,
            can_read: api.auth.check_reader(&caller).is_ok(),
            can_write: api.auth.check_writer(&caller).is_ok(),
        }
    }
}
