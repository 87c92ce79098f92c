//! Where the scheduler's "now" comes from.
//!
//! In production every decision (due schedules, leases, backoff) uses the database's clock:
//! PostgreSQL's `now()`, so instances whose OS clocks disagree still agree on what is due
//! (Hangfire#1929). SQLite is single-instance and in-process, so there the app clock *is* the
//! database clock. Tests use a manual clock and move it by hand: no sleeping for real minutes.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// A source of the current time.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The database's clock (PostgreSQL `now()`; the app clock on SQLite).
    #[default]
    Database,
    /// A clock that only moves when told to (tests).
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// A manual clock starting at `at`.
    pub fn manual(at: DateTime<Utc>) -> Self {
        Clock::Manual(Arc::new(Mutex::new(at)))
    }

    /// Set a manual clock (no effect on the database clock).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Clock::Manual(m) = self {
            *m.lock().unwrap_or_else(|e| e.into_inner()) = at;
        }
    }

    /// Move a manual clock forward.
    pub fn advance(&self, by: TimeDelta) {
        if let Clock::Manual(m) = self {
            let mut t = m.lock().unwrap_or_else(|e| e.into_inner());
            *t += by;
        }
    }

    pub async fn now(&self, db: &impl ConnectionTrait) -> Result<DateTime<Utc>, DbErr> {
        match self {
            Clock::Database => db_now(db).await,
            Clock::Manual(m) => Ok(*m.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }
}

/// The database's current time: PostgreSQL `now()`, the app clock on SQLite.
pub async fn db_now(db: &impl ConnectionTrait) -> Result<DateTime<Utc>, DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let row = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT now() AS now",
                ))
                .await?
                .ok_or_else(|| DbErr::Custom("SELECT now() returned no row".into()))?;
            row.try_get::<DateTime<Utc>>("", "now")
        }
        _ => Ok(Utc::now()),
    }
}
