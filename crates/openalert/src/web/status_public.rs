//! What visitors of a status page get, without signing in: the page, an incident's timeline,
//! history feeds and the Statuspage-compatible JSON. Served from a per-page cache with ETags;
//! a private page answers 404 to anyone but its team.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keel_platform::domain::Timestamp;
use keel_platform::http::Principal;
use keel_platform::web::WebError;
use keel_platform::{AppError, AppResult, Platform};

use crate::status::events::Event;
use crate::status::model::{ComponentStatus, IncidentStatus, MaintenanceStatus};
use crate::status::public::{self, ComponentView, Document, PublicView};
use crate::status::uptime::Day;
use crate::status::{feeds, markdown, statuspage};
use crate::store::status::{PageKey, StatusPage};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/status/assets/status.css", get(stylesheet))
        .route("/status/{slug}", get(page))
        .route("/status/{slug}/", get(page))
        .route("/status/{slug}/incidents/{id}", get(incident))
        .route("/status/{slug}/history.atom", get(atom))
        .route("/status/{slug}/history.rss", get(rss))
        .route("/status/{slug}/api/v2/{*document}", get(json))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/status.css"),
    )
        .into_response()
}

/// The origin of the page's logo, which its pages must allow images from.
fn logo_origin(page: &StatusPage) -> Option<String> {
    let url = url::Url::parse(&page.logo_url).ok()?;
    matches!(url.scheme(), "https" | "http").then(|| url.origin().ascii_serialization())
}

fn allow_logo(response: &mut Response, origin: Option<&str>) {
    let policy = origin.map(keel_platform::http::middleware::csp_with_images);
    if let Some(value) = policy.and_then(|p| HeaderValue::from_str(&p).ok()) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The page at `slug`, if this visitor may see it.
async fn find(
    platform: &Platform,
    slug: &str,
    viewer: &Result<Principal, AppError>,
) -> AppResult<StatusPage> {
    public::find_page(platform, PageKey::Slug(slug), viewer.as_ref().ok()).await
}

/// A cached document as a response: `304` when the client has it, cache headers by privacy,
/// and CORS open on public JSON (aggregators and widgets read it from other sites).
fn respond(doc: &Document, request: &HeaderMap, private: bool, cors: bool) -> Response {
    let mut response = if request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == doc.etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let accepts_gzip = request
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        match &doc.gzip {
            Some(gzip) if accepts_gzip => (
                [
                    (header::CONTENT_TYPE, doc.content_type),
                    (header::CONTENT_ENCODING, "gzip"),
                ],
                gzip.clone(),
            )
                .into_response(),
            _ => ([(header::CONTENT_TYPE, doc.content_type)], doc.body.clone()).into_response(),
        }
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&doc.etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if private {
            "private, no-cache"
        } else {
            "public, max-age=30"
        }),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Encoding, Cookie"),
    );
    if cors && !private {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}

async fn json(
    State(platform): State<Platform>,
    viewer: Result<Principal, AppError>,
    Path((slug, document)): Path<(String, String)>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let name = statuspage::DOCUMENTS
        .iter()
        .find(|d| **d == document)
        .ok_or(AppError::NotFound("document"))?;
    let page = find(&platform, &slug, &viewer).await?;
    let private = page.private;
    let doc = public::document(&platform, page, name, "application/json", |view| {
        let value = statuspage::document(view, name).ok_or(AppError::NotFound("document"))?;
        Ok(serde_json::to_string(&value).map_err(anyhow::Error::from)?)
    })
    .await?;
    Ok(respond(&doc, &headers, private, true))
}

async fn feed(
    platform: Platform,
    viewer: Result<Principal, AppError>,
    slug: String,
    headers: HeaderMap,
    atom: bool,
) -> Result<Response, WebError> {
    let page = find(&platform, &slug, &viewer).await?;
    let private = page.private;
    let (name, content_type) = if atom {
        ("history.atom", "application/atom+xml; charset=utf-8")
    } else {
        ("history.rss", "application/rss+xml; charset=utf-8")
    };
    let doc = public::document(&platform, page, name, content_type, |view| {
        Ok(if atom {
            feeds::atom(view)
        } else {
            feeds::rss(view)
        })
    })
    .await?;
    Ok(respond(&doc, &headers, private, true))
}

async fn atom(
    State(platform): State<Platform>,
    viewer: Result<Principal, AppError>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    feed(platform, viewer, slug, headers, true).await
}

async fn rss(
    State(platform): State<Platform>,
    viewer: Result<Principal, AppError>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    feed(platform, viewer, slug, headers, false).await
}

/// Components under their group's heading; ungrouped ones first.
struct GroupView<'a> {
    name: Option<String>,
    components: Vec<&'a ComponentView>,
}

struct Month<'a> {
    label: String,
    events: Vec<&'a Event>,
}

#[derive(Template)]
#[template(path = "openalert/status/page.html")]
struct PageTemplate<'a> {
    view: &'a PublicView,
    base: String,
    days: u16,
    groups: Vec<GroupView<'a>>,
    months: Vec<Month<'a>>,
}

#[derive(Template)]
#[template(path = "openalert/status/incident.html")]
struct IncidentTemplate<'a> {
    view: &'a PublicView,
    base: String,
    event: &'a Event,
    postmortem: Option<String>,
}

/// Formatting shared by both templates.
trait Wording {
    fn view(&self) -> &PublicView;

    fn at(&self, t: &Timestamp) -> String {
        t.to_jiff()
            .to_zoned_datetime(self.view().tz.clone())
            .strftime("%b %-d, %Y %H:%M %Z")
            .to_string()
    }

    fn status_label(&self, status: &str) -> &'static str {
        if let Ok(s) = IncidentStatus::parse(status) {
            return match s {
                IncidentStatus::Investigating => "Investigating",
                IncidentStatus::Identified => "Identified",
                IncidentStatus::Monitoring => "Monitoring",
                IncidentStatus::Resolved => "Resolved",
            };
        }
        match MaintenanceStatus::parse(status) {
            Ok(MaintenanceStatus::Scheduled) => "Scheduled",
            Ok(MaintenanceStatus::InProgress) => "In progress",
            Ok(MaintenanceStatus::Verifying) => "Verifying",
            Ok(MaintenanceStatus::Completed) => "Completed",
            Err(_) => "Update",
        }
    }
}

impl Wording for PageTemplate<'_> {
    fn view(&self) -> &PublicView {
        self.view
    }
}

impl Wording for IncidentTemplate<'_> {
    fn view(&self) -> &PublicView {
        self.view
    }
}

impl PageTemplate<'_> {
    fn day_class(&self, day: &Day) -> &'static str {
        match day.worst {
            None => "d-none",
            Some(ComponentStatus::Operational) => "d-ok",
            Some(ComponentStatus::UnderMaintenance) => "d-maintenance",
            Some(ComponentStatus::DegradedPerformance) => "d-minor",
            Some(ComponentStatus::PartialOutage) => "d-major",
            Some(ComponentStatus::MajorOutage) => "d-critical",
        }
    }

    /// Days that were not simply fine, newest first (the bars' content for keyboards and
    /// screen readers).
    fn bad_days<'d>(&self, days: &'d [Day]) -> Vec<&'d Day> {
        days.iter()
            .rev()
            .filter(|d| {
                d.worst.is_some_and(|w| w != ComponentStatus::Operational) || d.degraded_minutes > 0
            })
            .collect()
    }

    fn day_tip(&self, day: &Day) -> String {
        format!(
            "{}: {}",
            day.date.strftime("%b %-d"),
            public::day_label(day)
        )
    }

    fn percent(&self, uptime: &f64) -> String {
        // Never round a real outage up to 100%.
        let shown = (uptime * 100.0).floor() / 100.0;
        format!("{shown:.2}%")
    }
}

fn base(view: &PublicView) -> String {
    format!("/status/{}", view.page.slug)
}

fn page_html(view: &PublicView) -> AppResult<String> {
    let mut groups = vec![GroupView {
        name: None,
        components: view
            .components
            .iter()
            .filter(|c| c.component.group_id.is_none())
            .collect(),
    }];
    for g in &view.groups {
        groups.push(GroupView {
            name: Some(g.name.clone()),
            components: view
                .components
                .iter()
                .filter(|c| c.component.group_id == Some(g.id))
                .collect(),
        });
    }
    groups.retain(|g| !g.components.is_empty());
    // The months of the window, newest first, each with its finished events.
    let mut months: Vec<Month> = Vec::new();
    let mut date = view
        .now
        .to_jiff()
        .to_zoned_datetime(view.tz.clone())
        .date()
        .first_of_month();
    for _ in 0..4 {
        let label = date.strftime("%B %Y").to_string();
        let events = view
            .history()
            .filter(|e| {
                let d = e
                    .started_at
                    .to_jiff()
                    .to_zoned_datetime(view.tz.clone())
                    .date();
                d.year() == date.year() && d.month() == date.month()
            })
            .collect();
        months.push(Month { label, events });
        date = date
            .checked_sub(jiff::Span::new().months(1))
            .unwrap_or(date);
    }
    let page = PageTemplate {
        view,
        base: base(view),
        days: public::DAYS,
        groups,
        months,
    };
    Ok(page.render().map_err(anyhow::Error::from)?)
}

async fn page(
    State(platform): State<Platform>,
    viewer: Result<Principal, AppError>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let page = find(&platform, &slug, &viewer).await?;
    let private = page.private;
    let logo = logo_origin(&page);
    let doc = public::document(
        &platform,
        page,
        "page.html",
        "text/html; charset=utf-8",
        page_html,
    )
    .await?;
    let mut response = respond(&doc, &headers, private, false);
    allow_logo(&mut response, logo.as_deref());
    Ok(response)
}

async fn incident(
    State(platform): State<Platform>,
    viewer: Result<Principal, AppError>,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, WebError> {
    let page = find(&platform, &slug, &viewer).await?;
    let private = page.private;
    let logo = logo_origin(&page);
    // Any event of the page, also one older than the page's window (feeds and mail link it).
    let event = crate::status::events::one_event(&platform, page.id, id).await?;
    let view = public::view(&platform, page).await?;
    let postmortem = (!event.postmortem.is_empty() && !event.is_open())
        .then(|| markdown::to_html(&event.postmortem));
    let html = IncidentTemplate {
        view: &view,
        base: base(&view),
        event: &event,
        postmortem,
    }
    .render()?;
    let mut response = axum::response::Html(html).into_response();
    allow_logo(&mut response, logo.as_deref());
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if private {
            "private, no-cache"
        } else {
            "public, max-age=30"
        }),
    );
    Ok(response)
}
