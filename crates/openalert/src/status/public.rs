//! What a status page's visitors read: one view of the page (overall status, components with
//! their 90-day bars, incidents and maintenances), and a cache of the documents made from it.
//!
//! A cached document is served while the page's `updated_at` is unchanged (every change
//! touches it, on any node) and for at most `FRESH`, because bars and "upcoming" move with time.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use keel_platform::domain::Timestamp;
use keel_platform::{AppError, AppResult, Platform};

use super::events::{self, Event};
use super::model::{self, ComponentStatus, Indicator};
use super::uptime::{self, Day};
use crate::store::status::{self as store, Component, Group, PageKey, StatusPage};

/// Days of the uptime bars and of the incident history on the page.
pub const DAYS: u16 = 90;
const FRESH: Duration = Duration::from_secs(30);

pub struct ComponentView {
    pub component: Component,
    pub days: Vec<Day>,
    pub uptime: Option<f64>,
}

/// Everything a visitor sees, computed once per change.
pub struct PublicView {
    pub page: StatusPage,
    pub url: String,
    pub tz: TimeZone,
    pub indicator: Indicator,
    pub description: &'static str,
    pub groups: Vec<Group>,
    pub components: Vec<ComponentView>,
    /// Open ones and those of the last `DAYS` days, newest first.
    pub events: Vec<Event>,
    pub now: Timestamp,
}

impl PublicView {
    pub fn open_incidents(&self) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(|e| !e.is_maintenance() && e.is_open())
    }

    /// Maintenances under way (in progress or verifying).
    pub fn active_maintenances(&self) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(|e| e.is_maintenance() && e.is_open() && e.status != "scheduled")
    }

    /// Maintenances still to come, soonest first.
    pub fn upcoming_maintenances(&self) -> Vec<&Event> {
        let mut list: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| e.is_maintenance() && e.status == "scheduled")
            .collect();
        list.sort_by_key(|e| e.scheduled_for);
        list
    }

    /// Finished incidents and maintenances of the window, newest first.
    pub fn history(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(|e| !e.is_open())
    }

    pub fn component_name(&self, id: &i64) -> Option<&str> {
        self.components
            .iter()
            .find(|c| c.component.id == *id)
            .map(|c| c.component.name.as_str())
    }
}

/// The page a visitor asked for, or 404. A private page is shown only to signed-in members of
/// its team (and admins); to anyone else it does not exist.
pub async fn find_page(
    platform: &Platform,
    key: PageKey<'_>,
    viewer: Option<&keel_platform::identity::Principal>,
) -> AppResult<StatusPage> {
    let page = store::page(platform.db.pool(), key)
        .await?
        .ok_or(AppError::NotFound("status page"))?;
    if page.private {
        let Some(viewer) = viewer else {
            return Err(AppError::NotFound("status page"));
        };
        keel_platform::authz::require_team_read(platform, viewer, page.team_id)
            .await
            .map_err(|_| AppError::NotFound("status page"))?;
    }
    Ok(page)
}

/// Which page a host name serves, by its custom host: cached briefly, since every request on a
/// custom host asks.
pub async fn prefix_for_host(platform: &Platform, host: &str) -> Option<String> {
    /// Host name → (looked up at, the page's path prefix).
    type Hosts = HashMap<String, (Instant, Option<String>)>;
    static HOSTS: LazyLock<Mutex<Hosts>> = LazyLock::new(Default::default);
    if let Some((at, prefix)) = HOSTS.lock().expect("host cache").get(host)
        && at.elapsed() < FRESH
    {
        return prefix.clone();
    }
    let prefix = store::page(platform.db.pool(), PageKey::Host(host))
        .await
        .ok()
        .flatten()
        .map(|p| format!("/status/{}", p.slug));
    let mut hosts = HOSTS.lock().expect("host cache");
    if hosts.len() > 10_000 {
        hosts.clear();
    }
    hosts.insert(host.to_string(), (Instant::now(), prefix.clone()));
    prefix
}

/// The page's public address.
pub fn page_url(platform: &Platform, page: &StatusPage) -> String {
    match (&page.custom_host, &platform.config.public_url) {
        (Some(host), Some(base)) => format!("{}://{host}", base.scheme()),
        _ => format!("{}/status/{}", platform.config.base_url(), page.slug),
    }
}

/// Computes the view of `page` at the platform's now.
pub async fn view(platform: &Platform, page: StatusPage) -> AppResult<PublicView> {
    let now = platform.now();
    let tz = crate::domain::schedule::time_zone(&page.time_zone).unwrap_or(TimeZone::UTC);
    let pool = platform.db.pool();
    // A day more than the bars, so the first local day is whole in any zone.
    let since = now.as_millis() - (i64::from(DAYS) + 1) * 86_400_000;
    let groups = store::groups(pool, page.id).await?;
    let components = store::components(pool, page.id).await?;
    let mut intervals: HashMap<i64, Vec<uptime::Interval>> = HashMap::new();
    for (component, interval) in store::intervals_since(pool, page.id, since).await? {
        intervals.entry(component).or_default().push(interval);
    }
    let events = events::page_events(platform, page.id, since).await?;
    let (indicator, description) = model::overall(
        components.iter().map(|c| c.status),
        events
            .iter()
            .filter(|e| !e.is_maintenance() && e.is_open())
            .map(|e| e.impact),
    );
    let components = components
        .into_iter()
        .map(|component| {
            let list = intervals.remove(&component.id).unwrap_or_default();
            let (days, uptime) = uptime::daily(&list, &tz, now.as_millis(), DAYS);
            ComponentView {
                component,
                days,
                uptime,
            }
        })
        .collect();
    Ok(PublicView {
        url: page_url(platform, &page),
        page,
        tz,
        indicator,
        description,
        groups,
        components,
        events,
        now,
    })
}

/// One rendered document with its validator.
pub struct Document {
    /// Shared, so serving it copies nothing.
    pub body: axum::body::Bytes,
    /// The body gzipped once, for clients that accept it (compressing a large page on every
    /// request would cost more than making it).
    pub gzip: Option<axum::body::Bytes>,
    pub etag: String,
    pub content_type: &'static str,
}

struct Cached {
    updated_at: Timestamp,
    made: Instant,
    doc: Arc<Document>,
}

static CACHE: LazyLock<Mutex<HashMap<(i64, &'static str), Cached>>> =
    LazyLock::new(Default::default);

/// The document `name` of `page`, from the cache or made now by `make` from a fresh view.
pub async fn document(
    platform: &Platform,
    page: StatusPage,
    name: &'static str,
    content_type: &'static str,
    make: impl FnOnce(&PublicView) -> AppResult<String>,
) -> AppResult<Arc<Document>> {
    let key = (page.id, name);
    let updated_at = page.updated_at;
    if let Some(hit) = CACHE.lock().expect("cache lock").get(&key)
        && hit.updated_at == updated_at
        && hit.made.elapsed() < FRESH
    {
        metrics::counter!("keel_status_page_cache_total", "result" => "hit").increment(1);
        return Ok(hit.doc.clone());
    }
    metrics::counter!("keel_status_page_cache_total", "result" => "miss").increment(1);
    let view = view(platform, page).await?;
    let body = make(&view)?;
    let etag = format!("\"{:016x}\"", fxhash(body.as_bytes()));
    let doc = Arc::new(Document {
        gzip: gzip(body.as_bytes()),
        body: body.into(),
        etag,
        content_type,
    });
    let mut cache = CACHE.lock().expect("cache lock");
    if cache.len() > 10_000 {
        cache.clear();
    }
    cache.insert(
        key,
        Cached {
            updated_at,
            made: Instant::now(),
            doc: doc.clone(),
        },
    );
    Ok(doc)
}

fn gzip(body: &[u8]) -> Option<axum::body::Bytes> {
    use std::io::Write;
    if body.len() < 1024 {
        return None;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).ok()?;
    encoder.finish().ok().map(Into::into)
}

/// Drops a page's cached documents (after a change on this node).
pub fn forget(page_id: i64) {
    CACHE
        .lock()
        .expect("cache lock")
        .retain(|(id, _), _| *id != page_id);
}

/// A fast, stable 64-bit hash for ETags (FNV-1a).
fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Statuses worst-first for a day's bar colour and label.
pub fn day_label(day: &Day) -> String {
    match day.worst {
        None => "No data".into(),
        Some(ComponentStatus::Operational) if day.degraded_minutes == 0 => "No downtime".into(),
        Some(_) => {
            let mut parts = Vec::new();
            if day.major_minutes > 0 {
                parts.push(format!("{} min major outage", day.major_minutes));
            }
            if day.partial_minutes > 0 {
                parts.push(format!("{} min partial outage", day.partial_minutes));
            }
            if day.degraded_minutes > 0 {
                parts.push(format!("{} min degraded", day.degraded_minutes));
            }
            if day.maintenance_minutes > 0 {
                parts.push(format!("{} min maintenance", day.maintenance_minutes));
            }
            if parts.is_empty() {
                "No downtime".into()
            } else {
                parts.join(", ")
            }
        }
    }
}
