//! `instances`: every serving `jobintel` process sharing this database (heartbeat rows, see
//! [`crate::service::instances`]).

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};
use entity::instance;

use super::ApiContext;
use super::auth::require_reader;
use crate::service;

/// A `jobintel` process serving from this database.
pub struct Instance {
    model: instance::Model,
    is_current: bool,
}

/// A `jobintel` process serving from this database.
#[Object]
impl Instance {
    /// The id this process uses as lease owner of the runs it executes (IngestRun.leaseOwner).
    async fn id(&self) -> &str {
        &self.model.id
    }
    /// Its jobintel version.
    async fn version(&self) -> &str {
        &self.model.version
    }
    /// The host it runs on.
    async fn hostname(&self) -> Option<&str> {
        self.model.hostname.as_deref()
    }
    /// Its process id on that host.
    async fn pid(&self) -> Option<i32> {
        self.model.pid
    }
    /// When it started.
    async fn started_at(&self) -> DateTime<Utc> {
        self.model.started_at
    }
    /// Its last heartbeat (every 15 s while it runs).
    async fn heartbeat_at(&self) -> DateTime<Utc> {
        self.model.heartbeat_at
    }
    /// Runs it was executing at its last heartbeat.
    async fn busy_workers(&self) -> i32 {
        self.model.busy_workers
    }
    /// Runs it may execute at once (JOBINTEL_WORKERS; 0 when it runs no scheduler).
    async fn total_workers(&self) -> i32 {
        self.model.total_workers
    }
    /// The process answering this request.
    async fn is_current(&self) -> bool {
        self.is_current
    }
}

#[derive(Default)]
pub struct InstanceQuery;

#[Object]
impl InstanceQuery {
    /// Every jobintel process sharing this database (heartbeat rows; stale ones are dropped by
    /// housekeeping), newest start first.
    async fn instances(&self, ctx: &Context<'_>) -> Result<Vec<Instance>> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        Ok(service::instances::list(&api.db)
            .await?
            .into_iter()
            .map(|model| Instance {
                is_current: model.id == api.instance_id,
                model,
            })
            .collect())
    }
}
