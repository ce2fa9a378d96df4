//! What the public sees: the Statuspage-shaped JSON, components, maintenance, uptime,
//! escaping, and pages under their own host name.

use super::*;

crate::on_both_backends!(
    public_json_has_statuspage_shape,
    incidents_change_components_and_resolving_gives_them_back,
    maintenance_starts_and_completes_on_its_own,
    uptime_history_counts_outages_but_not_maintenance,
    public_page_and_feeds_escape_everything,
    a_page_is_served_under_its_own_host_name,
);

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
    the_summary_names_the_page_and_its_status(&summary);
    components_and_groups_have_statuspage_fields(&summary, api);
    incidents_have_statuspage_fields(&summary, &incident, api);
    maintenances_are_in_the_pages_time_zone(&summary, starts);
    every_other_document_lists_the_same(&s).await;
    documents_are_cached_and_conditional(&s, &incident).await;

    let (status, _) = s.public_text("/api/v2/nothing.json").await;
    assert_eq!(status, 404);
    s.visitor()
        .get("/status/nope/api/v2/summary.json")
        .await
        .expect(404);
}

fn the_summary_names_the_page_and_its_status(summary: &Value) {
    assert_eq!(
        keys(summary),
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
}

fn components_and_groups_have_statuspage_fields(summary: &Value, api: i64) {
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
}

fn incidents_have_statuspage_fields(summary: &Value, incident: &Value, api: i64) {
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
}

fn maintenances_are_in_the_pages_time_zone(summary: &Value, starts: jiff::Timestamp) {
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
}

async fn every_other_document_lists_the_same(s: &StatusFixture<'_>) {
    assert_eq!(keys(&s.public("status.json").await), ["page", "status"]);
    for (document, list, count) in [
        ("incidents/unresolved.json", "incidents", 1),
        ("incidents.json", "incidents", 1),
        ("scheduled-maintenances.json", "scheduled_maintenances", 1),
        (
            "scheduled-maintenances/upcoming.json",
            "scheduled_maintenances",
            1,
        ),
        (
            "scheduled-maintenances/active.json",
            "scheduled_maintenances",
            0,
        ),
    ] {
        assert_eq!(
            s.public(document).await[list].as_array().unwrap().len(),
            count,
            "{document}"
        );
    }
}

/// Caching headers, CORS, conditional requests; a change makes a new document at once.
async fn documents_are_cached_and_conditional(s: &StatusFixture<'_>, incident: &Value) {
    let path = "/status/acme/api/v2/summary.json";
    let first = s.visitor().get(path).await;
    assert_eq!(first.header("access-control-allow-origin"), "*");
    assert!(first.header("cache-control").contains("max-age=30"));
    let etag = first.header("etag");
    let again = s.visitor().header("if-none-match", etag).get(path).await;
    assert_eq!(again.status, 304);
    s.update(
        incident["id"].as_i64().unwrap(),
        json!({"status": "identified", "body": "Found it."}),
    )
    .await;
    let changed = s
        .visitor()
        .header("if-none-match", etag)
        .get(path)
        .await
        .expect(200);
    let doc = changed.body;
    assert_eq!(doc["incidents"][0]["status"], "identified");
    assert_eq!(
        doc["incidents"][0]["incident_updates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
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
    let policy = s
        .visitor()
        .get("/status/acme")
        .await
        .header("content-security-policy")
        .to_string();
    assert!(
        policy.contains("img-src 'self' data: https://cdn.example.com;"),
        "{policy}"
    );
    assert!(policy.contains("script-src 'self'"));
    let login = s.visitor().get("/login").await;
    assert!(
        !login
            .header("content-security-policy")
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
    // Each request from a new visitor, as before.
    let on_host = || s.visitor().header("host", "status.acme.test");
    let html = on_host().page("/").await;
    assert!(html.contains("All Systems Operational") && html.contains("API"));
    let summary = on_host().get("/api/v2/summary.json").await.body;
    assert_eq!(summary["page"]["url"], "http://status.acme.test");
    // The page's own links and assets work there too; nothing else of keel does.
    on_host().get("/status/assets/status.css").await.expect(200);
    on_host().get("/status/acme/history.atom").await.expect(200);
    on_host().get("/login").await.expect(404);
    on_host().get("/api/v1/me").await.expect(404);
    // Another host name is keel as usual.
    s.visitor()
        .header("host", "elsewhere.test")
        .get("/status/acme")
        .await
        .expect(200);
    // Two pages cannot claim one host.
    let (status, problem) = send(&app.client, &app, reqwest::Method::POST, "/api/v1/status-pages",
        Some(json!({"team_id": s.team, "name": "B", "slug": "b-page", "custom_host": "status.acme.test"}))).await;
    assert_eq!(
        (status, common::field_names(&problem)),
        (422, vec!["custom_host".to_string()])
    );
}
