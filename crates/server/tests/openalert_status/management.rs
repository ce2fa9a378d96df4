//! Running a status page: the management pages, automatic components and drafts, and
//! who may see what.

use super::*;

crate::on_both_backends!(
    management_pages_run_a_whole_incident,
    components_follow_their_service_and_incidents_offer_a_draft,
    private_pages_and_other_teams_see_nothing,
);

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
    let response = app
        .api(&s.member)
        .get("/status/inside/api/v2/summary.json")
        .await
        .expect(200);
    assert!(
        response
            .headers
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(response.header("cache-control").starts_with("private"));

    // Someone of another team: not the private page, not the page's admin API.
    let other_team = app.create_team("Other").await;
    let (outsider_id, outsider) = app.member("outsider@example.com").await;
    app.add_member(other_team, outsider_id, "manager").await;
    app.api(&outsider).get("/status/inside").await.expect(404);
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
