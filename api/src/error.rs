//! Typed errors of the API layer, mapped once to GraphQL errors with a stable `extensions.code`.
//!
//! Internal details (SQL, driver messages) are logged here and never reach the client.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, RuntimeErr};

/// Errors a resolver or service can return.
///
/// Deliberately not `Display`: async-graphql converts anything `Display` into a client-visible
/// error, and this type must go through [`From<ApiError> for async_graphql::Error`] instead,
/// which adds the code and hides internals.
#[derive(Debug)]
pub enum ApiError {
    /// The client sent something invalid; the message says what and how to fix it.
    BadUserInput(String),
    /// The thing asked for does not exist.
    NotFound(String),
    /// Missing or wrong credentials.
    Unauthenticated(String),
    /// A configured limit (connections, subscriptions, query size) was reached.
    LimitExceeded(String),
    /// The database did not answer; retrying later may work.
    DatabaseUnavailable(DbErr),
    /// Anything else: logged in full, reported to the client as a generic message.
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn bad_input(msg: impl Into<String>) -> Self {
        ApiError::BadUserInput(msg.into())
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadUserInput(m)
            | ApiError::NotFound(m)
            | ApiError::Unauthenticated(m)
            | ApiError::LimitExceeded(m) => m.clone(),
            ApiError::DatabaseUnavailable(_) => "database unavailable; try again later".into(),
            ApiError::Internal(_) => "internal error".into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::LimitExceeded(_) => "LIMIT_EXCEEDED",
            ApiError::DatabaseUnavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => ApiError::DatabaseUnavailable(err),
            _ if connection_lost(&err) => ApiError::DatabaseUnavailable(err),
            _ => ApiError::Internal(err.into()),
        }
    }
}

/// Whether a statement failed because its connection was gone (the server restarted, failed
/// over or ended the session) rather than because of the statement: pooled connections in
/// steady use are not pinged before each statement (`crate::db`), so this is how a dropped
/// one shows. Such a connection is closed by the pool and replaced.
fn connection_lost(err: &DbErr) -> bool {
    let (DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    match &**e {
        sea_orm::sqlx::Error::Io(_)
        | sea_orm::sqlx::Error::Tls(_)
        | sea_orm::sqlx::Error::PoolClosed
        | sea_orm::sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception) and 57P01–57P03 (the server is shutting
        // down, crashed, or not yet accepting connections; "terminating connection due to
        // administrator command").
        sea_orm::sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        match &err {
            ApiError::DatabaseUnavailable(e) => {
                tracing::error!(error = %e, "database unavailable while answering GraphQL");
            }
            ApiError::Internal(e) => tracing::error!(error = ?e, "internal error in GraphQL"),
            _ => {}
        }
        let code = err.code();
        async_graphql::Error::new(err.message()).extend_with(|_, ext| ext.set("code", code))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
