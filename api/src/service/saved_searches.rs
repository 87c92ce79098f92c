//! Saved searches: validated writes and reads of `saved_searches`, and the webhook URL check
//! shared by the API (at create/update) and the delivery worker (before every attempt).
//!
//! The filter arrives already validated by the GraphQL layer (`JobPostingFilter::to_service`)
//! and is stored as GraphQL's JSON form of the input, so it can be read back with exactly the
//! rules a `jobPostings` variable follows.

use chrono::{DateTime, Utc};
use entity::{DigestMode, WebhookEvent, saved_search, webhook_delivery};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use url::{Host, Url};

use crate::error::{ApiError, ApiResult};

/// Shortest secret accepted: HMAC keys shorter than this are guessable.
pub const MIN_SECRET_LEN: usize = 16;
/// Longest name accepted.
const MAX_NAME_LEN: usize = 200;
/// Longest webhook URL accepted.
const MAX_URL_LEN: usize = 2048;

/// What `createSavedSearch` stores.
#[derive(Debug, Clone)]
pub struct SavedSearchDef {
    pub name: String,
    /// The validated filter, as GraphQL JSON.
    pub filter: serde_json::Value,
    pub webhook_url: String,
    pub secret: String,
    pub events: Vec<WebhookEvent>,
    pub digest: DigestMode,
}

/// What `updateSavedSearch` changes: `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct SavedSearchPatch {
    pub name: Option<String>,
    pub filter: Option<serde_json::Value>,
    pub webhook_url: Option<String>,
    pub secret: Option<String>,
    pub events: Option<Vec<WebhookEvent>>,
    pub digest: Option<DigestMode>,
}

/// Refuse a webhook URL that is not http(s) or whose host is (or resolves to) a private,
/// loopback or otherwise non-public address, unless `allow_private_network`
/// (JOBINTEL_ALLOW_PRIVATE_NETWORK): the same rule the fetcher applies, so a saved search
/// cannot be used to make the server POST to internal services. A name that does not resolve
/// is refused too (it cannot be checked). Checked again before every delivery attempt, since
/// DNS may change after the search was saved.
pub async fn check_webhook_url(url: &str, allow_private_network: bool) -> ApiResult<Url> {
    Ok(webhook_target(url, allow_private_network).await?.0)
}

/// [`check_webhook_url`], also returning the checked addresses of a host name (empty for a
/// literal IP or when private networks are allowed), so the delivery connects to exactly
/// what was checked: a second lookup could answer differently (DNS rebinding).
pub async fn webhook_target(
    url: &str,
    allow_private_network: bool,
) -> ApiResult<(Url, Vec<std::net::IpAddr>)> {
    let refuse = |why: String| ApiError::bad_input(format!("webhookUrl {why}"));
    if url.len() > MAX_URL_LEN {
        return Err(refuse(format!("is longer than {MAX_URL_LEN} characters")));
    }
    let parsed = Url::parse(url.trim()).map_err(|e| refuse(format!("is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(refuse(format!(
            "must be http or https, not {}",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse(
            "must not carry credentials: sign with `secret` instead".into(),
        ));
    }
    if allow_private_network {
        return Ok((parsed, Vec::new()));
    }
    let hint = "; set JOBINTEL_ALLOW_PRIVATE_NETWORK=true to allow private network addresses";
    let (addrs, pin): (Vec<std::net::IpAddr>, bool) = match parsed.host() {
        Some(Host::Ipv4(ip)) => (vec![ip.into()], false),
        Some(Host::Ipv6(ip)) => (vec![ip.into()], false),
        Some(Host::Domain(name)) => match tokio::net::lookup_host((name, 0)).await {
            Ok(addrs) => (addrs.map(|a| a.ip()).collect(), true),
            Err(e) => {
                return Err(refuse(format!(
                    "host {name} cannot be resolved to check that it is public ({e})"
                )));
            }
        },
        None => return Err(refuse("has no host".into())),
    };
    if let Some(ip) = addrs
        .iter()
        .find(|ip| ingest::fetch::is_non_public_ip(**ip))
    {
        return Err(refuse(format!(
            "resolves to {ip}, which is not a public address{hint}"
        )));
    }
    Ok((parsed, if pin { addrs } else { Vec::new() }))
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::bad_input(format!(
            "name must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    Ok(name.to_owned())
}

fn check_secret(secret: &str) -> ApiResult<()> {
    if secret.chars().count() < MIN_SECRET_LEN {
        return Err(ApiError::bad_input(format!(
            "secret must be at least {MIN_SECRET_LEN} characters (it keys the HMAC receivers \
             verify X-Jobintel-Signature with)"
        )));
    }
    Ok(())
}

fn events_json(events: &[WebhookEvent]) -> ApiResult<serde_json::Value> {
    let mut list: Vec<WebhookEvent> = Vec::new();
    for e in events {
        if *e == WebhookEvent::Digest {
            return Err(ApiError::bad_input(
                "events take NEW, UPDATED and CLOSED; digests are chosen with `digest`",
            ));
        }
        if !list.contains(e) {
            list.push(*e);
        }
    }
    if list.is_empty() {
        return Err(ApiError::bad_input(
            "events must name at least one of NEW, UPDATED, CLOSED",
        ));
    }
    Ok(serde_json::Value::Array(
        list.iter().map(|e| e.as_str().into()).collect(),
    ))
}

/// The events a stored search subscribes to.
pub fn events_of(m: &saved_search::Model) -> Vec<WebhookEvent> {
    m.events
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str()?.parse().ok())
        .collect()
}

/// Create a saved search (enabled).
/// Most saved searches one database holds: every stored page is matched against each enabled
/// one inside its transaction, so their number bounds what a page's upsert costs.
pub const MAX_SAVED_SEARCHES: u64 = 1000;

pub async fn create(
    db: &impl ConnectionTrait,
    def: SavedSearchDef,
    allow_private_network: bool,
    now: DateTime<Utc>,
) -> ApiResult<saved_search::Model> {
    let name = check_name(&def.name)?;
    check_secret(&def.secret)?;
    let events = events_json(&def.events)?;
    let url = check_webhook_url(&def.webhook_url, allow_private_network).await?;
    let existing = saved_search::Entity::find().count(db).await?;
    if existing >= MAX_SAVED_SEARCHES {
        return Err(ApiError::bad_input(format!(
            "this server already holds {existing} saved searches (at most {MAX_SAVED_SEARCHES}): delete one first"
        )));
    }
    let am = saved_search::ActiveModel {
        id: NotSet,
        name: Set(name),
        filter: Set(def.filter),
        webhook_url: Set(url.to_string()),
        secret: Set(def.secret),
        events: Set(events),
        digest: Set(def.digest),
        enabled: Set(true),
        paused_reason: Set(None),
        last_digest_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(saved_search::Entity::insert(am)
        .exec_with_returning(db)
        .await?)
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> ApiResult<Option<saved_search::Model>> {
    Ok(saved_search::Entity::find_by_id(id).one(db).await?)
}

async fn get_or_404(db: &impl ConnectionTrait, id: i64) -> ApiResult<saved_search::Model> {
    get(db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("saved search {id} does not exist")))
}

/// Apply `patch`; every given field is validated as at creation.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    patch: SavedSearchPatch,
    allow_private_network: bool,
    now: DateTime<Utc>,
) -> ApiResult<saved_search::Model> {
    let current = get_or_404(db, id).await?;
    let mut am = current.into_active_model();
    if let Some(name) = &patch.name {
        am.name = Set(check_name(name)?);
    }
    if let Some(secret) = patch.secret {
        check_secret(&secret)?;
        am.secret = Set(secret);
    }
    if let Some(events) = &patch.events {
        am.events = Set(events_json(events)?);
    }
    if let Some(url) = &patch.webhook_url {
        am.webhook_url = Set(check_webhook_url(url, allow_private_network)
            .await?
            .to_string());
    }
    if let Some(filter) = patch.filter {
        am.filter = Set(filter);
    }
    if let Some(digest) = patch.digest {
        am.digest = Set(digest);
    }
    am.updated_at = Set(now);
    Ok(am.update(db).await?)
}

/// Pause (`enabled = false`, with `reason`) or resume (clears the reason). A paused search
/// gets no new deliveries; resuming does not replay what happened meanwhile.
pub async fn set_enabled(
    db: &impl ConnectionTrait,
    id: i64,
    enabled: bool,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> ApiResult<saved_search::Model> {
    let mut am = get_or_404(db, id).await?.into_active_model();
    am.enabled = Set(enabled);
    am.paused_reason = Set(if enabled { None } else { reason });
    am.updated_at = Set(now);
    Ok(am.update(db).await?)
}

/// Delete a saved search and (by the foreign key's cascade) its deliveries.
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> ApiResult<()> {
    // Deleted explicitly too: SQLite enforces the cascade only with `foreign_keys` on.
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::SavedSearchId.eq(id))
        .exec(db)
        .await?;
    let res = saved_search::Entity::delete_by_id(id).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(ApiError::NotFound(format!(
            "saved search {id} does not exist"
        )));
    }
    Ok(())
}

/// Saved searches by id, at most `limit + 1` rows (to tell if there is more).
pub async fn page(
    db: &impl ConnectionTrait,
    after_id: Option<i64>,
    limit: u64,
) -> ApiResult<Vec<saved_search::Model>> {
    let mut q = saved_search::Entity::find()
        .order_by_asc(saved_search::Column::Id)
        .limit(limit + 1);
    if let Some(id) = after_id {
        q = q.filter(saved_search::Column::Id.gt(id));
    }
    Ok(q.all(db).await?)
}

/// A saved search's deliveries, newest first, at most `limit + 1` rows.
pub async fn deliveries_page(
    db: &impl ConnectionTrait,
    saved_search_id: i64,
    before_id: Option<i64>,
    limit: u64,
) -> ApiResult<Vec<webhook_delivery::Model>> {
    let mut q = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::SavedSearchId.eq(saved_search_id))
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(limit + 1);
    if let Some(id) = before_id {
        q = q.filter(webhook_delivery::Column::Id.lt(id));
    }
    Ok(q.all(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn webhook_urls_must_be_public_http_unless_allowed() {
        for bad in [
            "ftp://example.com/x",
            "http://127.0.0.1:8080/hook",
            "http://10.1.2.3/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest",
            "http://localhost/hook",
            "not a url",
        ] {
            assert!(check_webhook_url(bad, false).await.is_err(), "{bad}");
        }
        assert!(
            check_webhook_url("http://93.184.216.34/hook", false)
                .await
                .is_ok()
        );
        assert!(
            check_webhook_url("http://127.0.0.1:8080/hook", true)
                .await
                .is_ok()
        );
        assert!(check_webhook_url("ftp://127.0.0.1/", true).await.is_err());
    }

    #[test]
    fn events_must_be_non_empty_and_exclude_digest() {
        assert!(events_json(&[]).is_err());
        assert!(events_json(&[WebhookEvent::Digest]).is_err());
        assert_eq!(
            events_json(&[WebhookEvent::New, WebhookEvent::New, WebhookEvent::Closed]).unwrap(),
            serde_json::json!(["new", "closed"])
        );
    }
}
