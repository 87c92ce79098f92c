//! Event fan-out for subscriptions, across instances.
//!
//! The engine publishes on its in-process bus. This module forwards those events to a fan-out
//! channel the subscriptions read, and — on PostgreSQL — also sends them through
//! `NOTIFY jobintel_events` and LISTENs for other instances' events, so a client connected to
//! one instance sees runs executed by another. Payloads carry ids and counters only (well under
//! PostgreSQL's 8,000-byte limit); subscribers load the rest.
//!
//! A second channel carries loaded postings: one task loads each added/updated posting once and
//! every `jobPostingAdded`/`jobPostingUpdated` subscriber filters the same `Arc`, so 500
//! subscribers cost one query, not 500.
//!
//! The same channel tells other instances that this one wrote ([`announce_writes`]: an
//! envelope with no events once a write's transaction has ended), so their response caches
//! stop serving answers computed before it: any envelope from another instance bumps the data
//! [`Generation`], and so does re-establishing LISTEN (notifications may have been missed
//! while it was down; meanwhile nothing is cached, see [`Generation::outage`]).
//!
//! Every channel is a bounded `broadcast`: publishing never waits for a subscriber, and a
//! subscriber that falls behind is told (`Lagged`) rather than growing memory.

use std::sync::Arc;
use std::time::Duration;

use entity::job_posting;
use ingest::events::{EventBus, IngestEvent};
use ingest::generation::Generation;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    Statement,
};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The PostgreSQL channel events travel on between instances.
pub const NOTIFY_CHANNEL: &str = "jobintel_events";
/// Keep NOTIFY payloads well under PostgreSQL's 8,000-byte limit.
const MAX_NOTIFY_BYTES: usize = 7000;
/// Capacity of the fan-out channels.
pub const FANOUT_CAPACITY: usize = 4096;

/// Whether a posting was added or its content changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Updated,
}

/// A stored posting that was just added or updated.
#[derive(Debug, Clone)]
pub struct PostingChange {
    pub kind: ChangeKind,
    pub run_id: i64,
    pub posting: Arc<job_posting::Model>,
}

/// The channels subscriptions read. Cheap to clone.
#[derive(Clone)]
pub struct Fanout {
    events: broadcast::Sender<IngestEvent>,
    postings: broadcast::Sender<PostingChange>,
}

impl Default for Fanout {
    fn default() -> Self {
        Fanout::new(FANOUT_CAPACITY)
    }
}

impl Fanout {
    /// `capacity`: events a subscriber may fall behind before it is told it lagged.
    pub fn new(capacity: usize) -> Self {
        Fanout {
            events: broadcast::channel(capacity.max(1)).0,
            postings: broadcast::channel(capacity.max(1)).0,
        }
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<IngestEvent> {
        self.events.subscribe()
    }

    pub fn subscribe_postings(&self) -> broadcast::Receiver<PostingChange> {
        self.postings.subscribe()
    }

    /// Subscribers currently attached (for metrics and tests).
    pub fn receiver_count(&self) -> usize {
        self.events.receiver_count() + self.postings.receiver_count()
    }
}

/// One NOTIFY payload: events from one instance.
#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The sending instance, so it can ignore its own notifications.
    origin: String,
    events: Vec<IngestEvent>,
}

/// Start the forwarding tasks; they stop when `shutdown` is cancelled. `generation` is bumped
/// by other instances' notifications, and this instance's writes to it are announced.
pub fn start(
    db: DatabaseConnection,
    database_url: Option<String>,
    engine_bus: &EventBus,
    fanout: Fanout,
    instance: String,
    generation: Generation,
    shutdown: CancellationToken,
) {
    let is_pg = db.get_database_backend() == DatabaseBackend::Postgres;
    let (notify_tx, notify_rx) = tokio::sync::mpsc::channel::<IngestEvent>(FANOUT_CAPACITY);

    // Local engine events → fan-out (+ NOTIFY queue on PostgreSQL).
    let mut local = engine_bus.subscribe();
    let events = fanout.events.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = stop.cancelled() => break,
                ev = local.recv() => ev,
            };
            match ev {
                Ok(ev) => {
                    if is_pg && notify_tx.try_send(ev.clone()).is_err() {
                        tracing::warn!("event NOTIFY queue full; other instances miss an event");
                    }
                    let _ = events.send(ev);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "event forwarder fell behind the engine bus");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });

    if is_pg {
        tokio::spawn(notify_loop(
            db.clone(),
            notify_rx,
            instance.clone(),
            shutdown.clone(),
        ));
        announce_writes(
            db.clone(),
            generation.clone(),
            instance.clone(),
            shutdown.clone(),
        );
        // Without a LISTEN URL (tests that run one server) this instance assumes it is the
        // only writer: the response cache follows its own writes only.
        if let Some(url) = database_url {
            tokio::spawn(listen_loop(
                url,
                fanout.events.clone(),
                instance,
                generation,
                shutdown.clone(),
            ));
        }
    }

    tokio::spawn(posting_loader(db, fanout, shutdown));
}

/// On PostgreSQL, tell other instances each time local writes to `generation` have ended (an
/// envelope without events; a burst of writes while one NOTIFY is sent is one more NOTIFY).
/// Stops with `shutdown`; does nothing on SQLite.
pub fn announce_writes(
    db: DatabaseConnection,
    generation: Generation,
    origin: String,
    shutdown: CancellationToken,
) {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = generation.written() => announce(&db, &origin).await,
            }
        }
    });
}

/// Tell other instances (PostgreSQL) that `origin` has just written: their response caches
/// drop what they hold. A no-op on SQLite.
pub async fn announce(db: &impl ConnectionTrait, origin: &str) {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    let stmt = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [NOTIFY_CHANNEL.into(), envelope(origin, Vec::new()).into()],
    );
    if let Err(e) = db.execute_raw(stmt).await {
        tracing::warn!(
            error = %e,
            "cannot announce a write; other instances' response caches keep older answers"
        );
    }
}

/// Batch events (up to 20 ms or the payload limit) into NOTIFYs.
async fn notify_loop(
    db: DatabaseConnection,
    mut rx: tokio::sync::mpsc::Receiver<IngestEvent>,
    origin: String,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            ev = rx.recv() => match ev { Some(e) => e, None => return },
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
        while batch.len() < 64 {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(e)) => batch.push(e),
                _ => break,
            }
        }
        for payload in payloads(&origin, batch) {
            let stmt = Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [NOTIFY_CHANNEL.into(), payload.into()],
            );
            if let Err(e) = db.execute_raw(stmt).await {
                tracing::warn!(error = %e, "NOTIFY failed; other instances miss these events");
            }
        }
    }
}

/// Split events into JSON payloads that each fit the NOTIFY limit.
fn payloads(origin: &str, events: Vec<IngestEvent>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<IngestEvent> = Vec::new();
    for mut ev in events {
        if let IngestEvent::RunFinished { error: Some(e), .. } = &mut ev
            && e.len() > 2000
        {
            let mut cut = 2000;
            while !e.is_char_boundary(cut) {
                cut -= 1;
            }
            e.truncate(cut);
        }
        current.push(ev);
        let size = serde_json::to_string(&Envelope {
            origin: origin.to_owned(),
            events: current.clone(),
        })
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
        if size > MAX_NOTIFY_BYTES {
            let last = current.pop().expect("just pushed");
            if !current.is_empty() {
                out.push(envelope(origin, std::mem::take(&mut current)));
            }
            current.push(last);
        }
    }
    if !current.is_empty() {
        out.push(envelope(origin, current));
    }
    out
}

fn envelope(origin: &str, events: Vec<IngestEvent>) -> String {
    serde_json::to_string(&Envelope {
        origin: origin.to_owned(),
        events,
    })
    .unwrap_or_default()
}

/// LISTEN for other instances' events and writes; reconnects with backoff.
async fn listen_loop(
    url: String,
    events: broadcast::Sender<IngestEvent>,
    me: String,
    generation: Generation,
    shutdown: CancellationToken,
) {
    use sea_orm::sqlx::postgres::PgListener;
    let mut delay = Duration::from_millis(500);
    // Until LISTEN is established other instances' writes go unheard: the response cache
    // stores nothing meanwhile. Dropping it (on connecting) bumps the generation.
    let mut outage = Some(generation.outage());
    loop {
        let listener = async {
            let mut l = PgListener::connect(&url).await?;
            l.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(l)
        };
        let mut listener = tokio::select! {
            _ = shutdown.cancelled() => return,
            l = listener => match l {
                Ok(l) => {
                    delay = Duration::from_millis(500);
                    drop(outage.take());
                    l
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN for other instances' events; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                    continue;
                }
            },
        };
        loop {
            let n = tokio::select! {
                _ = shutdown.cancelled() => return,
                n = listener.recv() => n,
            };
            match n {
                Ok(n) => match serde_json::from_str::<Envelope>(n.payload()) {
                    Ok(env) if env.origin != me => {
                        // Sent after the other instance's write ended: answers stored before
                        // now may predate it.
                        generation.bump();
                        for ev in env.events {
                            let _ = events.send(ev);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // Still someone's write, perhaps: answers stored so far may be stale.
                        generation.bump();
                        tracing::warn!(error = %e, "ignoring an unreadable event notification")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                    outage.get_or_insert_with(|| generation.outage());
                    break;
                }
            }
        }
    }
}

/// Load added/updated postings once (in batches) and fan them out.
async fn posting_loader(db: DatabaseConnection, fanout: Fanout, shutdown: CancellationToken) {
    let mut rx = fanout.events.subscribe();
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            ev = rx.recv() => ev,
        };
        let mut batch: Vec<(ChangeKind, i64, i64)> = Vec::new();
        let push = |ev: IngestEvent, batch: &mut Vec<(ChangeKind, i64, i64)>| match ev {
            IngestEvent::PostingAdded {
                run_id, posting_id, ..
            } => batch.push((ChangeKind::Added, run_id, posting_id)),
            IngestEvent::PostingUpdated {
                run_id, posting_id, ..
            } => batch.push((ChangeKind::Updated, run_id, posting_id)),
            _ => {}
        };
        match first {
            Ok(ev) => push(ev, &mut batch),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "posting loader fell behind; some posting events skipped"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        if batch.is_empty() {
            continue;
        }
        // Postings of one page arrive together: take what is already queued.
        while batch.len() < 200 {
            match rx.try_recv() {
                Ok(ev) => push(ev, &mut batch),
                Err(_) => break,
            }
        }
        let ids: Vec<i64> = batch.iter().map(|(_, _, id)| *id).collect();
        let models = match job_posting::Entity::find()
            .filter(job_posting::Column::Id.is_in(ids))
            .all(&db)
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load new postings for subscribers");
                continue;
            }
        };
        let by_id: std::collections::HashMap<i64, Arc<job_posting::Model>> =
            models.into_iter().map(|m| (m.id, Arc::new(m))).collect();
        for (kind, run_id, id) in batch {
            if let Some(posting) = by_id.get(&id) {
                let _ = fanout.postings.send(PostingChange {
                    kind,
                    run_id,
                    posting: posting.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::Source;

    #[test]
    fn notify_payloads_stay_under_the_postgres_limit() {
        let events: Vec<IngestEvent> = (0..2000)
            .map(|i| IngestEvent::PostingAdded {
                run_id: 1,
                source: Source::Seek,
                posting_id: i,
            })
            .collect();
        let out = payloads("host:1", events);
        assert!(out.len() > 1);
        let mut total = 0;
        for p in &out {
            assert!(p.len() <= MAX_NOTIFY_BYTES, "{}", p.len());
            total += serde_json::from_str::<Envelope>(p).unwrap().events.len();
        }
        assert_eq!(total, 2000);
    }

    #[test]
    fn long_errors_are_cut_to_fit() {
        let ev = IngestEvent::RunFinished {
            run_id: 1,
            source: Source::Seek,
            status: entity::RunStatus::Failed,
            counters: Default::default(),
            error: Some("é".repeat(10_000)),
        };
        let out = payloads("h", vec![ev]);
        assert_eq!(out.len(), 1);
        assert!(out[0].len() < MAX_NOTIFY_BYTES);
    }
}
