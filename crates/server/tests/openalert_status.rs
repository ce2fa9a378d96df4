//! Status pages over HTTP on SQLite and PostgreSQL: the Statuspage-compatible JSON field by
//! field, the public page and feeds, uptime history, maintenances moving on their own (injected
//! clock), escaping, private pages and team isolation, and the management pages.

mod common;

use std::time::Duration;

use common::{Backend, Receiver, SmtpServer, TestApp, eventually, send};
use serde_json::{Value, json};

on_both_backends!(
    public_json_has_statuspage_shape,
    incidents_change_components_and_resolving_gives_them_back,
    maintenance_starts_and_completes_on_its_own,
    uptime_history_counts_outages_but_not_maintenance,
    public_page_and_feeds_escape_everything,
    private_pages_and_other_teams_see_nothing,
    management_pages_run_a_whole_incident,
    subscribers_confirm_hear_and_unsubscribe,
    webhook_subscribers_get_signed_notices,
    components_follow_their_service_and_incidents_offer_a_draft,
    a_page_is_served_under_its_own_host_name,
);

const HOUR: Duration = Duration::from_secs(3600);

/// A team with a manager (the admin's client) and a member, and helpers for one status page.
struct StatusFixture<'a> {
    app: &'a TestApp,
    team: i64,
    member: reqwest::Client,
    page: i64,
    slug: String,
}

impl<'a> StatusFixture<'a> {
    async fn new(app: &'a TestApp, slug: &str, time_zone: &str) -> Self {
        app.setup_admin().await;
        let team = app.create_team("Web").await;
        let (member_id, member) = app.member("ops@example.com").await;
        app.add_member(team, member_id, "member").await;
        let page = common::post(
            app,
            &app.client,
            "/api/v1/status-pages",
            json!({"team_id": team, "name": "Acme", "slug": slug, "time_zone": time_zone}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        Self {
            app,
            team,
            member,
            page,
            slug: slug.into(),
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/v1/status-pages/{}{rest}", self.page)
    }

    async fn group(&self, name: &str) -> i64 {
        common::post(
            self.app,
            &self.app.client,
            &self.path("/groups"),
            json!({"name": name}),
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }

    async fn component(&self, name: &str, group: Option<i64>) -> i64 {
        common::post(
            self.app,
            &self.app.client,
            &self.path("/components"),
            json!({"name": name, "group_id": group}),
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }

    async fn incident(&self, body: Value) -> Value {
        common::post(self.app, &self.member, &self.path("/incidents"), body).await
    }

    async fn maintenance(&self, body: Value) -> Value {
        common::post(self.app, &self.member, &self.path("/maintenances"), body).await
    }

    async fn update(&self, event: i64, body: Value) -> Value {
        common::post(
            self.app,
            &self.member,
            &self.path(&format!("/events/{event}/updates")),
            body,
        )
        .await
    }

    /// A public document, read without signing in.
    async fn public(&self, document: &str) -> Value {
        let response = common::client()
            .get(
                self.app
                    .url(&format!("/status/{}/api/v2/{document}", self.slug)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{document}");
        response.json().await.unwrap()
    }

    async fn public_text(&self, path: &str) -> (u16, String) {
        let response = common::client()
            .get(self.app.url(&format!("/status/{}{path}", self.slug)))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn component_status(&self, id: i64) -> String {
        let all = self.public("components.json").await;
        all["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"].as_str() == Some(id.to_string().as_str()))
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

async fn public_json_has_statuspage_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = StatusFixture::new(&app, "acme", "Europe/Berlin").await;
    let group = s.group("Backend").await;
    let api = s.component("API", Some(group)).await;
    let web = s.component("Website", None).await;
    let incident = s
        .incident(json!({
            "name": "Slow API", "impact": "major", "body": "We are looking into it.",
            "components": [{"id": api, "status": "partial_outage"}], "notify": true,
        }))
        .await;
    let starts = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48);
    let ends = starts + jiff::SignedDuration::from_hours(2);
    s.maintenance(json!({
        "name": "Database upgrade", "body": "Read-only for a while.",
        "scheduled_for": starts.to_string(), "scheduled_until": ends.to_string(),
        "components": [web],
    }))
    .await;

    let summary = s.public("summary.json").await;
    assert_eq!(
        keys(&summary),
        [
            "components",
            "incidents",
            "page",
            "scheduled_maintenances",
            "status"
        ]
    );
    assert_eq!(
        keys(&summary["page"]),
        ["id", "name", "time_zone", "updated_at", "url"]
    );
    assert_eq!(summary["page"]["name"], "Acme");
    assert_eq!(summary["page"]["time_zone"], "Europe/Berlin");
    assert!(
        summary["page"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/status/acme")
    );
    // Times carry the page's offset and milliseconds, like Statuspage's.
    let updated = summary["page"]["updated_at"].as_str().unwrap();
    assert!(
        updated.ends_with("+01:00") || updated.ends_with("+02:00"),
        "{updated}"
    );
    assert_eq!(
        updated.len(),
        "2026-01-01T00:00:00.000+01:00".len(),
        "{updated}"
    );
    assert_eq!(
        summary["status"],
        json!({"indicator": "major", "description": "Partial System Outage"})
    );

    let components = summary["components"].as_array().unwrap();
    let api_doc = components.iter().find(|c| c["name"] == "API").unwrap();
    assert_eq!(
        keys(api_doc),
        [
            "created_at",
            "description",
            "group",
            "group_id",
            "id",
            "name",
            "only_show_if_degraded",
            "page_id",
            "position",
            "showcase",
            "start_date",
            "status",
            "updated_at",
        ]
    );
    assert_eq!(api_doc["status"], "partial_outage");
    assert_eq!(api_doc["group"], false);
    let group_doc = components.iter().find(|c| c["group"] == true).unwrap();
    assert_eq!(group_doc["name"], "Backend");
    assert_eq!(group_doc["components"], json!([api.to_string()]));
    assert_eq!(api_doc["group_id"], group_doc["id"]);
    assert_eq!(
        group_doc["status"], "partial_outage",
        "a group shows its worst member"
    );

    let incidents = summary["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1);
    let i = &incidents[0];
    assert_eq!(
        keys(i),
        [
            "components",
            "created_at",
            "id",
            "impact",
            "incident_updates",
            "monitoring_at",
            "name",
            "page_id",
            "resolved_at",
            "shortlink",
            "started_at",
            "status",
            "updated_at",
        ]
    );
    assert_eq!(i["id"], incident["id"].as_i64().unwrap().to_string());
    assert_eq!(
        (i["status"].as_str(), i["impact"].as_str()),
        (Some("investigating"), Some("major"))
    );
    assert_eq!(i["resolved_at"], Value::Null);
    assert!(
        i["shortlink"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/status/acme/incidents/{}", incident["id"]))
    );
    assert_eq!(i["components"][0]["name"], "API");
    let u = &i["incident_updates"][0];
    assert_eq!(
        keys(u),
        [
            "affected_components",
            "body",
            "created_at",
            "custom_tweet",
            "deliver_notifications",
            "display_at",
            "id",
            "incident_id",
            "status",
            "tweet_id",
            "updated_at",
        ]
    );
    assert_eq!(u["body"], "We are looking into it.");
    assert_eq!(u["deliver_notifications"], true);
    assert_eq!(
        u["affected_components"],
        json!([{"code": api.to_string(), "name": "API", "old_status": "operational", "new_status": "partial_outage"}])
    );

    let maintenances = summary["scheduled_maintenances"].as_array().unwrap();
    assert_eq!(maintenances.len(), 1);
    let m = &maintenances[0];
    assert_eq!(
        (m["status"].as_str(), m["impact"].as_str()),
        (Some("scheduled"), Some("maintenance"))
    );
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let local = starts
        .to_zoned_datetime(berlin)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    assert!(m["scheduled_for"].as_str().unwrap().starts_with(&local));
    assert!(m["scheduled_until"].is_string());

    assert_eq!(keys(&s.public("status.json").await), ["page", "status"]);
    assert_eq!(
        s.public("incidents/unresolved.json").await["incidents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.public("incidents.json").await["incidents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.public("scheduled-maintenances.json").await["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.public("scheduled-maintenances/upcoming.json").await["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.public("scheduled-maintenances/active.json").await["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Caching headers, CORS, conditional requests.
    let url = app.url("/status/acme/api/v2/summary.json");
    let first = common::client().get(&url).send().await.unwrap();
    assert_eq!(first.headers()["access-control-allow-origin"], "*");
    assert!(
        first.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=30")
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = common::client()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // A change makes a new document at once.
    s.update(
        incident["id"].as_i64().unwrap(),
        json!({"status": "identified", "body": "Found it."}),
    )
    .await;
    let changed = common::client()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let doc: Value = changed.json().await.unwrap();
    assert_eq!(doc["incidents"][0]["status"], "identified");
    assert_eq!(
        doc["incidents"][0]["incident_updates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let (status, _) = s.public_text("/api/v2/nothing.json").await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &common::client(),
        &app,
        reqwest::Method::GET,
        "/status/nope/api/v2/summary.json",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

async fn incidents_change_components_and_resolving_gives_them_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = StatusFixture::new(&app, "acme", "UTC").await;
    let api = s.component("API", None).await;
    let web = s.component("Website", None).await;
    let first = s
        .incident(json!({"name": "API down", "impact": "critical", "body": "Down.",
            "components": [{"id": api, "status": "major_outage"}, {"id": web, "status": "degraded_performance"}]}))
        .await;
    let second = s
        .incident(json!({"name": "Website slow", "body": "Slow.",
            "components": [{"id": web, "status": "degraded_performance"}]}))
        .await;
    assert_eq!(
        s.public("status.json").await["status"]["indicator"],
        "critical"
    );
    app.clock.advance(HOUR);
    let resolved = s
        .update(
            first["id"].as_i64().unwrap(),
            json!({"status": "resolved", "body": "Fixed."}),
        )
        .await;
    assert!(resolved["resolved_at"].is_string());
    assert_eq!(s.component_status(api).await, "operational");
    assert_eq!(
        s.component_status(web).await,
        "degraded_performance",
        "the second incident still holds the website"
    );
    let changes = &resolved["updates"][0]["changes"];
    assert_eq!(changes.as_array().unwrap().len(), 1, "{changes}");
    s.update(
        second["id"].as_i64().unwrap(),
        json!({"status": "resolved", "body": "Fast again."}),
    )
    .await;
    assert_eq!(s.component_status(web).await, "operational");
    assert_eq!(s.public("status.json").await["status"]["indicator"], "none");
    assert_eq!(
        s.public("incidents/unresolved.json").await["incidents"],
        json!([])
    );

    // Bad input names its field and changes nothing.
    for (body, field) in [
        (
            json!({"name": "x", "body": "y", "status": "fixed"}),
            "status",
        ),
        (
            json!({"name": "x", "body": "y", "impact": "maintenance"}),
            "impact",
        ),
        (json!({"name": "x", "body": " "}), "body"),
        (
            json!({"name": "x", "body": "y", "components": [{"id": 999_999}]}),
            "components",
        ),
        (
            json!({"name": "x", "body": "y", "components": [{"id": api, "status": "on_fire"}]}),
            "components",
        ),
    ] {
        let (status, problem) = send(
            &s.member,
            &app,
            reqwest::Method::POST,
            &s.path("/incidents"),
            Some(body),
        )
        .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(common::field_names(&problem), [field]);
    }
    assert_eq!(
        s.public("incidents.json").await["incidents"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Updating a resolved incident again is fine (a late note), reopening too.
    s.update(
        second["id"].as_i64().unwrap(),
        json!({"status": "monitoring", "body": "Watching."}),
    )
    .await;
    assert_eq!(
        s.public("incidents/unresolved.json").await["incidents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn maintenance_starts_and_completes_on_its_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = StatusFixture::new(&app, "acme", "UTC").await;
    let db = s.component("Database", None).await;
    let now = app.platform.now().to_jiff();
    let event = s
        .maintenance(json!({"name": "Upgrade", "body": "Planned.",
            "scheduled_for": (now + jiff::SignedDuration::from_hours(1)).to_string(),
            "scheduled_until": (now + jiff::SignedDuration::from_hours(3)).to_string(),
            "components": [db]}))
        .await;
    assert_eq!(event["status"], "scheduled");
    assert_eq!(
        s.public("scheduled-maintenances/upcoming.json").await["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    app.clock.advance(HOUR + Duration::from_secs(1));
    common::eventually(Duration::from_secs(10), || async {
        (s.component_status(db).await == "under_maintenance").then_some(())
    })
    .await
    .expect("the maintenance started on its own");
    let active = s.public("scheduled-maintenances/active.json").await;
    assert_eq!(active["scheduled_maintenances"][0]["status"], "in_progress");
    assert_eq!(
        s.public("status.json").await["status"]["description"],
        "Service Under Maintenance"
    );

    app.clock.advance(2 * HOUR);
    common::eventually(Duration::from_secs(10), || async {
        (s.component_status(db).await == "operational").then_some(())
    })
    .await
    .expect("the maintenance completed on its own");
    let all = s.public("scheduled-maintenances.json").await;
    let m = &all["scheduled_maintenances"][0];
    assert_eq!(m["status"], "completed");
    assert_eq!(m["incident_updates"].as_array().unwrap().len(), 3);
    assert!(m["resolved_at"].is_string());
    assert_eq!(s.public("status.json").await["status"]["indicator"], "none");
}

async fn uptime_history_counts_outages_but_not_maintenance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // 06:00 in New York, so the outage and the maintenance fall on one local day.
    let new_york = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(new_york.clone())
        .date();
    let six = today
        .at(6, 0, 0, 0)
        .to_zoned_datetime(new_york)
        .unwrap()
        .timestamp();
    app.clock.set(keel_platform::domain::Timestamp::from_millis(
        six.as_millisecond(),
    ));
    let s = StatusFixture::new(&app, "acme", "America/New_York").await;
    let api = s.component("API", None).await;
    let path = s.path(&format!("/components/{api}"));
    // Two days on: 90 minutes of major outage, then 2 hours of maintenance.
    app.clock.advance(48 * HOUR);
    common::send(
        &s.member,
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"status": "major_outage"})),
    )
    .await;
    app.clock.advance(HOUR + HOUR / 2);
    common::send(
        &s.member,
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"status": "under_maintenance"})),
    )
    .await;
    app.clock.advance(2 * HOUR);
    let (status, _) = common::send(
        &s.member,
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"status": "operational"})),
    )
    .await;
    assert_eq!(status, 200);
    // Members may change a status but not shape the page.
    let (status, _) = common::send(
        &s.member,
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(status, 403);

    let (status, html) = s.public_text("").await;
    assert_eq!(status, 200);
    assert_eq!(
        html.matches("class=\"d-").count(),
        90,
        "ninety days of bars"
    );
    assert!(
        html.contains("90 min major outage"),
        "downtime minutes on the day"
    );
    assert!(html.contains("120 min maintenance"));
    assert!(html.contains("d-critical"));
    assert!(
        html.contains("d-none"),
        "days before the component have no data"
    );
    // Observed ≈ 51.5 h, down 1.5 h: uptime is below 100 % and never rounded up to it.
    assert!(
        !html.contains("100.00% uptime"),
        "outage shows in the figure"
    );
    assert!(html.contains("% uptime"));
}

async fn public_page_and_feeds_escape_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = StatusFixture::new(&app, "acme", "UTC").await;
    let hostile = "<script>alert(1)</script>\"'&";
    let api = common::post(
        &app,
        &app.client,
        &s.path("/components"),
        json!({"name": format!("API {hostile}"), "description": hostile}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let event = s
        .incident(
            json!({"name": format!("Down {hostile}"), "body": format!("Body {hostile}"),
            "components": [{"id": api, "status": "major_outage"}]}),
        )
        .await;
    let id = event["id"].as_i64().unwrap();
    s.update(id, json!({"status": "resolved", "body": "ok"}))
        .await;
    common::send(
        &app.client,
        &app,
        reqwest::Method::PATCH,
        &s.path(&format!("/events/{id}")),
        Some(json!({"postmortem": "## Cause\n\n<img src=x onerror=alert(1)> [x](javascript:alert(1)) **disk**"})),
    )
    .await;
    for path in [
        "",
        &format!("/incidents/{id}"),
        "/history.atom",
        "/history.rss",
    ] {
        let (status, text) = s.public_text(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!text.contains("<script>alert"), "{path} is escaped");
        assert!(
            text.contains("&lt;script&gt;") || text.contains("&#60;script&#62;"),
            "{path} shows the text"
        );
    }
    let (_, incident) = s.public_text(&format!("/incidents/{id}")).await;
    assert!(
        incident.contains("<h2>Cause</h2>"),
        "the postmortem renders"
    );
    assert!(incident.contains("<strong>disk</strong>"));
    assert!(!incident.contains("<img"));
    assert!(!incident.contains("javascript:"));
    let (_, atom) = s.public_text("/history.atom").await;
    assert!(atom.starts_with("<?xml") && atom.contains("<entry>"));
    // A logo from elsewhere is allowed by the page's policy, and only there.
    common::send(
        &app.client,
        &app,
        reqwest::Method::PATCH,
        &s.path(""),
        Some(json!({"logo_url": "https://cdn.example.com/logo.png?\"x"})),
    )
    .await;
    let response = common::client()
        .get(app.url("/status/acme"))
        .send()
        .await
        .unwrap();
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.contains("img-src 'self' data: https://cdn.example.com;"),
        "{policy}"
    );
    assert!(policy.contains("script-src 'self'"));
    let login = common::client()
        .get(app.url("/login"))
        .send()
        .await
        .unwrap();
    assert!(
        !login.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("cdn.example.com")
    );
    // The page works without script and declares the feeds.
    let (_, page) = s.public_text("").await;
    assert!(!page.contains("<script"));
    assert!(page.contains("application/atom+xml"));
    assert!(
        !page.contains("Major Service Outage"),
        "resolved: all operational"
    );
    assert!(page.contains("All Systems Operational"));
}

async fn private_pages_and_other_teams_see_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = StatusFixture::new(&app, "inside", "UTC").await;
    s.component("VPN", None).await;
    common::send(
        &app.client,
        &app,
        reqwest::Method::PATCH,
        &s.path(""),
        Some(json!({"private": true})),
    )
    .await;
    for path in ["", "/api/v2/summary.json", "/history.atom"] {
        let (status, text) = s.public_text(path).await;
        assert_eq!(status, 404, "{path}: {text}");
        assert!(!text.contains("VPN"));
    }
    // A signed-in member of the team sees it, without CORS or shared caching.
    let response = s
        .member
        .get(app.url("/status/inside/api/v2/summary.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private")
    );

    // Someone of another team: not the private page, not the page's admin API.
    let other_team = app.create_team("Other").await;
    let (outsider_id, outsider) = app.member("outsider@example.com").await;
    app.add_member(other_team, outsider_id, "manager").await;
    let response = outsider
        .get(app.url("/status/inside"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    for (method, path, body) in [
        (reqwest::Method::GET, s.path(""), None),
        (reqwest::Method::GET, s.path("/components"), None),
        (
            reqwest::Method::PATCH,
            s.path(""),
            Some(json!({"name": "Mine"})),
        ),
        (
            reqwest::Method::POST,
            s.path("/incidents"),
            Some(json!({"name": "x", "body": "y"})),
        ),
        (reqwest::Method::DELETE, s.path(""), None),
    ] {
        let (status, _) = send(&outsider, &app, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let (_, pages) = send(
        &outsider,
        &app,
        reqwest::Method::GET,
        "/api/v1/status-pages",
        None,
    )
    .await;
    assert_eq!(pages, json!([]));
    // Slugs are unique; bad ones are named.
    let (status, problem) = send(
        &outsider,
        &app,
        reqwest::Method::POST,
        "/api/v1/status-pages",
        Some(json!({"team_id": other_team, "name": "Mine", "slug": "inside"})),
    )
    .await;
    assert_eq!(
        (status, common::field_names(&problem)),
        (422, vec!["slug".to_string()])
    );
    let (status, problem) = send(
        &outsider,
        &app,
        reqwest::Method::POST,
        "/api/v1/status-pages",
        Some(json!({"team_id": other_team, "name": "Mine", "slug": "Bad Slug", "time_zone": "Mars/Base", "custom_host": "nope"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        common::field_names(&problem),
        ["slug", "custom_host", "time_zone"]
    );
}

async fn management_pages_run_a_whole_incident(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let team = app.create_team("Web").await.to_string();
    let post_form = |path: String, pairs: Vec<(&'static str, String)>| {
        let request = app.client.post(app.url(&path)).form(&pairs);
        async move { request.send().await.unwrap() }
    };
    let location = |r: &reqwest::Response| r.headers()["location"].to_str().unwrap().to_string();
    let created = post_form(
        "/openalert/status-pages".into(),
        vec![
            ("team_id", team.clone()),
            ("name", "Acme".into()),
            ("slug", "acme".into()),
            ("time_zone", "UTC".into()),
        ],
    )
    .await;
    assert_eq!(created.status(), 303);
    let page_path = location(&created);
    let page_id = page_path.rsplit('/').next().unwrap().to_string();
    let refused = post_form(
        "/openalert/status-pages".into(),
        vec![
            ("team_id", team.clone()),
            ("name", "Again".into()),
            ("slug", "acme".into()),
        ],
    )
    .await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("another page has this address")
    );

    let added = post_form(
        format!("{page_path}/components"),
        vec![("name", "API".into()), ("group_id", String::new())],
    )
    .await;
    assert_eq!(added.status(), 303);
    assert!(app.page_text(&app.client, &page_path).await.contains("API"));
    let components = common::get(
        &app,
        &app.client,
        &format!("/api/v1/status-pages/{page_id}/components"),
    )
    .await;
    let component = components[0]["id"].as_i64().unwrap().to_string();
    let opened = post_form(
        format!("{page_path}/incidents"),
        vec![
            ("name", "API errors".into()),
            ("status", "investigating".into()),
            ("impact", "major".into()),
            ("body", "Looking.".into()),
            ("component", component.clone()),
            ("component_status", "partial_outage".into()),
            ("notify", "on".into()),
        ],
    )
    .await;
    assert_eq!(opened.status(), 303);
    let public = app.page_text(&common::client(), "/status/acme").await;
    assert!(
        public.contains("API errors") && public.contains("Partial outage"),
        "{public}"
    );
    let events = common::get(
        &app,
        &app.client,
        &format!("/api/v1/status-pages/{page_id}/events"),
    )
    .await;
    let event = events[0]["id"].as_i64().unwrap();
    let missing_body = post_form(
        format!("{page_path}/events/{event}/updates"),
        vec![("status", "resolved".into()), ("body", String::new())],
    )
    .await;
    assert_eq!(missing_body.status(), 422);
    let resolved = post_form(
        format!("{page_path}/events/{event}/updates"),
        vec![("status", "resolved".into()), ("body", "All good.".into())],
    )
    .await;
    assert_eq!(resolved.status(), 303);
    let public = app.page_text(&common::client(), "/status/acme").await;
    assert!(public.contains("All Systems Operational"));
    // A maintenance entered in the page's zone.
    let scheduled = post_form(
        format!("{page_path}/maintenances"),
        vec![
            ("name", "Upgrade".into()),
            ("body", "Planned.".into()),
            ("scheduled_for", "2099-01-01T10:00".into()),
            ("scheduled_until", "2099-01-01T12:00".into()),
            ("component", component.clone()),
        ],
    )
    .await;
    assert_eq!(scheduled.status(), 303);
    let upcoming = common::get(
        &app,
        &common::client(),
        "/status/acme/api/v2/scheduled-maintenances/upcoming.json",
    )
    .await;
    let starts = upcoming["scheduled_maintenances"][0]["scheduled_for"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        starts.starts_with("2099-01-01T10:00:00.000+00:00"),
        "{starts}"
    );
    assert!(
        app.page_text(&app.client, "/openalert/status-pages")
            .await
            .contains("/status/acme")
    );
}

/// The text of a mail with quoted-printable soft breaks undone.
fn unfolded(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The subscription token in a mail's link.
fn token_in(mail: &str) -> String {
    unfolded(mail)
        .split("/status/acme/subscription/")
        .nth(1)
        .expect("a subscription link")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect::<String>()
        .trim_end_matches('.')
        .to_string()
}

async fn subscribers_confirm_hear_and_unsubscribe(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    smtp.wait_ready().await;
    let app = TestApp::spawn_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
    })
    .await;
    let s = StatusFixture::new(&app, "acme", "UTC").await;
    let api = s.component("API", None).await;
    let web = s.component("Website", None).await;
    let visitor = common::client();
    let subscribe = |email: &'static str| {
        visitor
            .post(app.url("/status/acme/subscribe"))
            .form(&[("email", email)])
            .send()
    };
    let answer = subscribe("reader@example.com").await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("Check your inbox"));
    let bad = subscribe("not an address").await.unwrap();
    assert_eq!(bad.status(), 422);
    let confirmation = eventually(Duration::from_secs(15), || async {
        smtp.messages().into_iter().next()
    })
    .await
    .expect("a confirmation mail");
    assert!(confirmation.contains("Subject: Confirm your subscription to Acme status"));
    let token = token_in(&confirmation);
    // Asking again within the hour mails nobody (no mail bombing through the form).
    subscribe("reader@example.com").await.unwrap();
    // An incident before confirming reaches nobody.
    s.incident(json!({"name": "Early", "body": "Before confirming.", "notify": true}))
        .await;
    app.clock.advance(Duration::from_secs(60));

    let manage = format!("/status/acme/subscription/{token}");
    let page = app.page_text(&visitor, &manage).await;
    assert!(
        page.contains("Confirm my subscription"),
        "opening the link confirms nothing"
    );
    let confirmed = visitor
        .post(app.url(&format!("{manage}/confirm")))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 303);
    let (_, listed) = send(
        &app.client,
        &app,
        reqwest::Method::GET,
        &s.path("/subscribers"),
        None,
    )
    .await;
    assert!(listed[0]["confirmed_at"].is_string(), "{listed}");
    // Only the API, from now on.
    let chosen = visitor
        .post(app.url(&format!("{manage}/components")))
        .form(&[("component", api.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status(), 303);

    s.incident(
        json!({"name": "Website slow", "body": "Only the website.", "notify": true,
        "components": [{"id": web, "status": "degraded_performance"}]}),
    )
    .await;
    let event = s
        .incident(
            json!({"name": "API errors <b>", "body": "Errors on writes.", "notify": true,
            "components": [{"id": api, "status": "partial_outage"}]}),
        )
        .await;
    let notice = eventually(Duration::from_secs(20), || async {
        smtp.messages()
            .into_iter()
            .find(|m| m.contains("API errors"))
    })
    .await
    .expect("the update reached the subscriber");
    assert!(notice.contains("Subject: [Acme] API errors <b>: Investigating"));
    assert!(notice.contains("List-Unsubscribe: <http"));
    assert!(notice.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(unfolded(&notice).contains("Errors on writes."));
    // An update not marked "notify" stays quiet; one that is reaches the subscriber.
    s.update(
        event["id"].as_i64().unwrap(),
        json!({"status": "identified", "body": "Quiet."}),
    )
    .await;
    s.update(
        event["id"].as_i64().unwrap(),
        json!({"status": "resolved", "body": "Fixed now.", "notify": true}),
    )
    .await;
    eventually(Duration::from_secs(20), || async {
        smtp.messages()
            .into_iter()
            .find(|m| m.contains("Fixed now."))
            .map(drop)
    })
    .await
    .expect("the resolution reached the subscriber");
    let all = smtp.messages();
    assert!(
        !all.iter().any(|m| m.contains("Website slow")),
        "not interested in the website"
    );
    let early: Vec<&String> = all.iter().filter(|m| m.contains("Early")).collect();
    assert!(early.is_empty(), "nothing before confirming: {early:?}");
    assert!(
        !all.iter().any(|m| m.contains("Quiet.")),
        "silent updates stay silent"
    );
    assert_eq!(
        all.iter()
            .filter(|m| m.contains("Confirm your subscription"))
            .count(),
        1
    );

    // One-click unsubscribe as a mail provider sends it: a bare POST, no cookie, no origin.
    let unsubscribe = unfolded(&notice)
        .split("List-Unsubscribe: <")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap()
        .to_string();
    let path = unsubscribe
        .split_once("/status/")
        .map(|(_, p)| format!("/status/{p}"))
        .unwrap();
    let gone = reqwest::Client::new()
        .post(app.url(&path))
        .body("List-Unsubscribe=One-Click")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 200);
    let (_, listed) = send(
        &app.client,
        &app,
        reqwest::Method::GET,
        &s.path("/subscribers"),
        None,
    )
    .await;
    assert_eq!(listed, json!([]));
    // The old link is dead, and a forged one never worked.
    let (status, _) = s.public_text(&format!("/subscription/{token}")).await;
    assert_eq!(status, 404);
    let (status, _) = s
        .public_text("/subscription/1.00000000000000000000000000000000")
        .await;
    assert_eq!(status, 404);
}

async fn webhook_subscribers_get_signed_notices(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = StatusFixture::new(&app, "acme", "UTC").await;
    let api = s.component("API", None).await;
    let receiver = Receiver::start().await;
    let added = common::post(
        &app,
        &app.client,
        &s.path("/subscribers"),
        json!({"kind": "webhook", "address": format!("{}/hook", receiver.url)}),
    )
    .await;
    let secret = added["secret"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    // Members cannot add subscribers; addresses outside the outbound policy are refused.
    let (status, _) = send(
        &s.member,
        &app,
        reqwest::Method::POST,
        &s.path("/subscribers"),
        Some(json!({"kind": "webhook", "address": "http://example.invalid/x"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, problem) = send(
        &app.client,
        &app,
        reqwest::Method::POST,
        &s.path("/subscribers"),
        Some(json!({"kind": "webhook", "address": "http://10.0.0.1/x"})),
    )
    .await;
    assert_eq!(
        (status, common::field_names(&problem)),
        (422, vec!["address".to_string()])
    );

    s.incident(json!({"name": "API down", "body": "Down.", "notify": true,
        "components": [{"id": api, "status": "major_outage"}]}))
        .await;
    let got = receiver.wait_for("/hook", 1).await;
    let request = &got[0];
    let timestamp = request.headers["x-keel-timestamp"].to_str().unwrap();
    let signature = request.headers["x-keel-signature"].to_str().unwrap();
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", request.body).as_bytes());
    assert_eq!(
        signature,
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    );
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["incident"]["name"], "API down");
    assert_eq!(
        body["incident"]["update"]["affected_components"][0]["new_status"],
        "major_outage"
    );
    assert!(
        body["meta"]["unsubscribe"]
            .as_str()
            .unwrap()
            .contains("/subscription/")
    );

    // Status changes without an incident are told when the page says so.
    common::send(
        &app.client,
        &app,
        reqwest::Method::PATCH,
        &s.path(""),
        Some(json!({"notify_component_changes": true})),
    )
    .await;
    common::send(
        &s.member,
        &app,
        reqwest::Method::PATCH,
        &s.path(&format!("/components/{api}")),
        Some(json!({"status": "operational"})),
    )
    .await;
    let got = receiver.wait_for("/hook", 2).await;
    let body: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(body["component_update"]["new_status"], "operational");
    assert_eq!(body["component_update"]["old_status"], "major_outage");

    // Addresses are for the team's managers only.
    let (status, _) = send(
        &s.member,
        &app,
        reqwest::Method::GET,
        &s.path("/subscribers"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    // CSV export, and removal.
    let csv = app
        .client
        .get(app.url(&s.path("/subscribers.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("kind,address,components,confirmed_at,created_at"));
    assert!(csv.contains(&format!("{}/hook", receiver.url)));
    let id = added["id"].as_i64().unwrap();
    let (status, _) = send(
        &app.client,
        &app,
        reqwest::Method::DELETE,
        &s.path(&format!("/subscribers/{id}")),
        None,
    )
    .await;
    assert_eq!(status, 204);
}

async fn components_follow_their_service_and_incidents_offer_a_draft(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = StatusFixture::new(&app, "acme", "UTC").await;
    let service = common::post(
        &app,
        &app.client,
        "/api/v1/services",
        json!({"team_id": s.team, "name": "database"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let db = common::post(
        &app,
        &app.client,
        &s.path("/components"),
        json!({"name": "Database", "service_id": service, "auto_status": "partial_outage"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    // An automatic status needs a linked service, and must say something is wrong.
    let (status, problem) = send(
        &app.client,
        &app,
        reqwest::Method::POST,
        &s.path("/components"),
        Some(json!({"name": "Other", "auto_status": "operational"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(common::field_names(&problem), ["auto_status"]);

    let incident = common::post(
        &app,
        &app.client,
        "/api/v1/incidents",
        json!({"service_id": service, "title": "Primary db-7 OOM-killed"}),
    )
    .await;
    let incident_id = incident["id"].as_i64().unwrap();
    eventually(Duration::from_secs(10), || async {
        (s.component_status(db).await == "partial_outage").then_some(())
    })
    .await
    .expect("the component followed the incident");
    let (_, page) = s.public_text("").await;
    assert!(!page.contains("db-7"), "nothing internal is published");
    assert!(
        s.public("incidents.json").await["incidents"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The internal incident offers a drafted public one.
    let internal = app
        .page_text(&app.client, &format!("/openalert/incidents/{incident_id}"))
        .await;
    let draft = format!(
        "/openalert/status-pages/{}?component={db}&amp;impact=major",
        s.page
    );
    assert!(internal.contains(&draft), "{internal}");
    let form = app
        .page_text(
            &app.client,
            &format!(
                "/openalert/status-pages/{}?component={db}&impact=major",
                s.page
            ),
        )
        .await;
    assert!(form.contains(&format!("name=\"component\" value=\"{db}\" checked")));
    assert!(form.contains("<option value=\"major\" selected>"));

    common::post(
        &app,
        &app.client,
        &format!("/api/v1/incidents/{incident_id}/resolve"),
        json!({}),
    )
    .await;
    eventually(Duration::from_secs(10), || async {
        (s.component_status(db).await == "operational").then_some(())
    })
    .await
    .expect("the component recovered with its service");

    // A status someone set by hand is theirs: the end of the incident leaves it.
    let second = common::post(
        &app,
        &app.client,
        "/api/v1/incidents",
        json!({"service_id": service, "title": "Again"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    eventually(Duration::from_secs(10), || async {
        (s.component_status(db).await == "partial_outage").then_some(())
    })
    .await
    .expect("followed again");
    common::send(
        &s.member,
        &app,
        reqwest::Method::PATCH,
        &s.path(&format!("/components/{db}")),
        Some(json!({"status": "major_outage"})),
    )
    .await;
    common::post(
        &app,
        &app.client,
        &format!("/api/v1/incidents/{second}/resolve"),
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.component_status(db).await, "major_outage");
}

async fn a_page_is_served_under_its_own_host_name(backend: Backend) {
    // Custom hosts are told apart from keel's own, which the public URL names.
    let app = TestApp::spawn_with(backend, |s| {
        s.public_url = Some("http://keel.test".into());
    })
    .await;
    let s = StatusFixture::new(&app, "acme", "UTC").await;
    s.component("API", None).await;
    common::send(
        &app.client,
        &app,
        reqwest::Method::PATCH,
        &s.path(""),
        Some(json!({"custom_host": "Status.Acme.test"})),
    )
    .await;
    let on_host = |path: &str| {
        common::client()
            .get(app.url(path))
            .header("host", "status.acme.test")
            .send()
    };
    let page = on_host("/").await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("All Systems Operational") && html.contains("API"));
    let summary: Value = on_host("/api/v2/summary.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["page"]["url"], "http://status.acme.test");
    // The page's own links and assets work there too; nothing else of keel does.
    assert_eq!(
        on_host("/status/assets/status.css").await.unwrap().status(),
        200
    );
    assert_eq!(
        on_host("/status/acme/history.atom").await.unwrap().status(),
        200
    );
    assert_eq!(on_host("/login").await.unwrap().status(), 404);
    assert_eq!(on_host("/api/v1/me").await.unwrap().status(), 404);
    // Another host name is keel as usual.
    let other = common::client()
        .get(app.url("/status/acme"))
        .header("host", "elsewhere.test")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    // Two pages cannot claim one host.
    let (status, problem) = send(&app.client, &app, reqwest::Method::POST, "/api/v1/status-pages",
        Some(json!({"team_id": s.team, "name": "B", "slug": "b-page", "custom_host": "status.acme.test"}))).await;
    assert_eq!(
        (status, common::field_names(&problem)),
        (422, vec!["custom_host".to_string()])
    );
}
