//! Incident analytics and on-call health over HTTP, on SQLite and PostgreSQL: durations from
//! the timeline (with a re-trigger), medians and 90th percentiles checked by hand, time-of-day
//! bands across daylight-saving changes in two zones, noisy keys, escalations, the CSV export,
//! the page, and team scoping.

mod common;

use std::time::Duration;

use common::{Backend, TestApp, eventually, field_names, get, mail_drop, post, send};
use keel_platform::domain::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    figures_come_from_the_timeline_and_compare_periods,
    on_call_load_is_read_in_each_persons_zone,
    teams_see_only_their_own_figures,
    the_weekly_summary_reaches_the_team_once,
);

/// The period every report below asks for: March 2026.
const MARCH: &str = "/api/v1/analytics?days=30&until=2026-04-01T00:00:00Z";

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

async fn trigger(app: &TestApp, key: &str, dedup_key: &str) -> i64 {
    let answer = reqwest::Client::new()
        .post(app.url("/v2/enqueue"))
        .json(&json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup_key,
            "payload": {"summary": format!("{dedup_key} failing"), "source": "db1", "severity": "critical"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let open = get(app, &app.client, "/api/v1/incidents?status=open&limit=500").await;
    open["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["dedup_key"] == dedup_key)
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn resolve_from_source(app: &TestApp, key: &str, dedup_key: &str) {
    let answer = reqwest::Client::new()
        .post(app.url("/v2/enqueue"))
        .json(&json!({"routing_key": key, "event_action": "resolve", "dedup_key": dedup_key}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
}

async fn act(app: &TestApp, client: &reqwest::Client, id: i64, action: &str) {
    post(
        app,
        client,
        &format!("/api/v1/incidents/{id}/{action}"),
        json!({}),
    )
    .await;
}

async fn figures_come_from_the_timeline_and_compare_periods(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let team = app.create_team("Payments").await;
    let (service, key) = app.service_with_events_v2(team, "checkout").await;
    let (alice_id, alice) = app.member("alice@example.com").await;
    app.add_member(team, alice_id, "member").await;
    let second = |s: u64| Duration::from_secs(s);

    // The period before: one incident, acknowledged after 10 minutes.
    app.clock.set(at("2026-02-20T10:00:00Z"));
    let old = trigger(&app, &key, "old").await;
    app.clock.advance(second(600));
    act(&app, &alice, old, "acknowledge").await;

    // March. Acknowledged after 60, 180 and 300 s; resolved after 600 and 1,200 s by people
    // and after 300 s by the source, unacknowledged.
    app.clock.set(at("2026-03-10T08:00:00Z"));
    let one = trigger(&app, &key, "one").await;
    app.clock.advance(second(60));
    act(&app, &alice, one, "acknowledge").await;
    app.clock.advance(second(540));
    act(&app, &alice, one, "resolve").await;

    app.clock.set(at("2026-03-10T09:00:00Z"));
    let two = trigger(&app, &key, "two").await;
    app.clock.advance(second(180));
    act(&app, &alice, two, "acknowledge").await;
    app.clock.advance(second(1020));
    act(&app, &alice, two, "resolve").await;

    app.clock.set(at("2026-03-10T10:00:00Z"));
    trigger(&app, &key, "three").await;
    app.clock.advance(second(300));
    resolve_from_source(&app, &key, "three").await;

    // Acknowledged after 300 s, then triggered again when the acknowledgement times out: the
    // first acknowledgement still counts.
    send(
        c,
        &app,
        Method::PATCH,
        &format!("/api/v1/services/{service}"),
        Some(json!({"ack_timeout_minutes": 5})),
    )
    .await;
    app.clock.set(at("2026-03-10T11:00:00Z"));
    let four = trigger(&app, &key, "four").await;
    app.clock.advance(second(300));
    act(&app, &alice, four, "acknowledge").await;
    app.clock.advance(second(360));
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    let detail = get(&app, c, &format!("/api/v1/incidents/{four}")).await;
    assert_eq!(detail["status"], "triggered", "{detail}");

    // The same key opened three times in a day, each cleared by the source within minutes.
    for hour in [12, 14, 16] {
        app.clock.set(at(&format!("2026-03-11T{hour}:00:00Z")));
        trigger(&app, &key, "db1/disk").await;
        app.clock.advance(second(120));
        resolve_from_source(&app, &key, "db1/disk").await;
    }

    let r = get(&app, c, MARCH).await;
    let now = &r["current"];
    assert_eq!(now["opened"], 7, "{r}");
    assert_eq!(now["acknowledged_by_person"], 3);
    assert_eq!(
        now["auto_resolved"], 4,
        "three and the three disk incidents"
    );
    assert_eq!(now["reopened"], 1);
    assert_eq!(now["escalated"], 0);
    // By hand: acknowledged after 60, 180, 300 s → mean 180, median 180, p90 the 3rd of 3.
    assert_eq!(
        now["time_to_acknowledge"],
        json!({"count": 3, "mean_seconds": 180.0, "median_seconds": 180.0, "p90_seconds": 300.0})
    );
    // Resolved after 600, 1,200, 300, 120, 120, 120 s → sorted 120 120 120 300 600 1200:
    // mean 410, median (120 + 300) / 2 = 210, p90 the ⌈5.4⌉ = 6th = 1,200.
    assert_eq!(
        now["time_to_resolve"],
        json!({"count": 6, "mean_seconds": 410.0, "median_seconds": 210.0, "p90_seconds": 1200.0})
    );
    assert_eq!(r["previous"]["opened"], 1);
    assert_eq!(
        r["previous"]["time_to_acknowledge"]["median_seconds"],
        600.0
    );
    assert_eq!(r["by_service"][0]["name"], "checkout");
    assert_eq!(r["by_service"][0]["opened"], 7);
    assert_eq!(r["by_team"][0]["name"], "Payments");
    assert_eq!(r["by_policy"][0]["name"], "No policy");
    assert_eq!(r["by_urgency"][0]["name"], "high");
    let week = r["weekly"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["starts_on"] == "2026-03-09")
        .expect("the week of March 9");
    assert_eq!(week["opened"], 7);
    let noisy = &r["noisy"][0];
    assert_eq!(noisy["dedup_key"], "db1/disk", "{r}");
    assert_eq!(
        (
            noisy["incidents"].as_i64(),
            noisy["unacknowledged"].as_i64(),
            noisy["refired_within_24h"].as_i64(),
            noisy["flapping_days"].as_i64()
        ),
        (Some(3), Some(3), Some(2), Some(1))
    );

    // The CSV lists each incident with its durations.
    let csv = c
        .get(app.url("/api/v1/analytics/incidents.csv?days=30&until=2026-04-01T00:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 8, "{csv}");
    assert!(lines[0].starts_with("number,title,service,team,urgency,dedup_key,created_at"));
    assert!(
        lines[1].contains(",\"one\",2026-03-10T08:00:00.000Z,2026-03-10T08:01:00.000Z,2026-03-10T08:10:00.000Z,60,600,true,user,0,false"),
        "{}",
        lines[1]
    );

    // Bad periods are named.
    let (status, problem) = send(
        c,
        &app,
        Method::GET,
        "/api/v1/analytics?days=0&until=soon&time_zone=Mars/Base",
        None,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(field_names(&problem), ["days", "until", "time_zone"]);

    // Prometheus gets the same durations as histograms (seconds to days) and the count.
    let metrics = app.page_text(c, "/metrics").await;
    for name in [
        "keel_incident_time_to_acknowledge_seconds_bucket{le=\"60\"}",
        "keel_incident_time_to_resolve_seconds_bucket{le=\"1800\"}",
        "keel_incidents_opened_total{urgency=\"high\"}",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }

    // The page shows the same figures, linked to the incidents they count.
    let page = app.page_text(c, "/openalert/analytics?days=30").await;
    assert!(page.contains("<h1>Analytics</h1>"), "{page}");
    assert!(page.contains("Noisy alerts") && page.contains("<code>db1/disk</code>"));
    assert!(
        page.contains("/openalert?status=all&#38;since="),
        "figures link to their incidents: {page}"
    );
    assert!(page.contains("aria-label=\"Incidents per service\""));
    let listed = app
        .page_text(c, &format!("/openalert?status=all&service_id={service}&since=2026-03-11T00:00:00Z&until=2026-03-12T00:00:00Z"))
        .await;
    assert_eq!(listed.matches("db1/disk failing").count(), 3, "{listed}");
    assert!(!listed.contains(">one failing<"));
}

/// Pages as the delivery worker records them once sent.
async fn page(app: &TestApp, incident: i64, user: i64, kind: &str, sent_at: &str) {
    let ms = at(sent_at).as_millis();
    sqlx::query(
        "INSERT INTO oa_notifications (incident_id, user_id, kind, address, reason, status, due_at, sent_at, created_at) \
         VALUES ($1, $2, $3, 'test', 'escalation', 'sent', $4, $4, $4)",
    )
    .bind(incident)
    .bind(user)
    .bind(kind)
    .bind(ms)
    .execute(app.platform.db.pool())
    .await
    .unwrap();
}

async fn on_call_load_is_read_in_each_persons_zone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let team = app.create_team("Payments").await;
    let (_, key) = app.service_with_events_v2(team, "checkout").await;
    let (ny_id, ny) = app.member("nia@example.com").await;
    let (berlin_id, berlin) = app.member("ben@example.com").await;
    for (client, zone) in [(&ny, "America/New_York"), (&berlin, "Europe/Berlin")] {
        let me = get(&app, client, "/api/v1/me").await;
        let name = me["user"]["name"].as_str().unwrap().to_string();
        let (status, _) = send(
            client,
            &app,
            Method::PATCH,
            "/api/v1/me",
            Some(json!({"name": name, "time_zone": zone})),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, problem) = send(
        &ny,
        &app,
        Method::PATCH,
        "/api/v1/me",
        Some(json!({"name": "Nia", "time_zone": "Mars/Base"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(field_names(&problem), ["time_zone"]);
    app.clock.set(at("2026-03-05T12:00:00Z"));
    let incident = trigger(&app, &key, "load").await;

    // New York moves to daylight time on March 8, Berlin on March 29.
    // 09:30 EST, Friday: business hours.
    page(&app, incident, ny_id, "sms", "2026-03-06T14:30:00Z").await;
    // 09:30 EDT, Monday (08:30 had the clock not moved): business hours; and the same
    // interruption again 30 s later.
    page(&app, incident, ny_id, "voice", "2026-03-09T13:30:00Z").await;
    page(&app, incident, ny_id, "slack", "2026-03-09T13:30:30Z").await;
    // 23:00 EDT: sleep.
    page(&app, incident, ny_id, "sms", "2026-03-10T03:00:00Z").await;
    // 22:30 CET, Saturday: sleep.
    page(&app, incident, berlin_id, "sms", "2026-03-28T21:30:00Z").await;
    // 07:30 CEST, Monday (06:30 had the clock not moved, which is sleep): evening/weekend band.
    page(&app, incident, berlin_id, "voice", "2026-03-30T05:30:00Z").await;
    // 09:30 CEST, Tuesday: business hours. An e-mail the same morning does not count.
    page(&app, incident, berlin_id, "webhook", "2026-03-31T07:30:00Z").await;
    page(&app, incident, berlin_id, "email", "2026-03-31T08:00:00Z").await;
    // February: the previous period, about an incident of then.
    app.clock.set(at("2026-02-10T11:55:00Z"));
    let february = trigger(&app, &key, "february").await;
    page(&app, february, berlin_id, "sms", "2026-02-10T12:00:00Z").await;

    let r = get(&app, c, MARCH).await;
    let person = |id: i64| {
        r["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["user_id"] == id)
            .cloned()
            .unwrap()
    };
    let nia = person(ny_id);
    assert_eq!(nia["time_zone"], "America/New_York");
    assert_eq!(
        [
            &nia["interruptions"],
            &nia["business_hours"],
            &nia["off_hours"],
            &nia["sleep"],
            &nia["disrupted_hours"]
        ],
        [&json!(3), &json!(2), &json!(0), &json!(1), &json!(3)],
        "{nia}"
    );
    let ben = person(berlin_id);
    assert_eq!(
        [
            &ben["interruptions"],
            &ben["business_hours"],
            &ben["off_hours"],
            &ben["sleep"],
            &ben["previous_interruptions"]
        ],
        [&json!(3), &json!(1), &json!(1), &json!(1), &json!(1)],
        "{ben}"
    );
}

async fn teams_see_only_their_own_figures(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let payments = app.create_team("Payments").await;
    let search = app.create_team("Search").await;
    let (_, pay_key) = app.service_with_events_v2(payments, "checkout").await;
    let (search_service, search_key) = app.service_with_events_v2(search, "search").await;
    let (sam_id, sam) = app.member("sam@example.com").await;
    app.add_member(search, sam_id, "member").await;
    // Search pages whoever its rotation (Sam alone) puts on call, then the admin after a
    // minute.
    let admin = get(&app, c, "/api/v1/me").await["user"]["id"]
        .as_i64()
        .unwrap();
    let rotation = post(
        &app,
        c,
        "/api/v1/schedules",
        json!({"team_id": search, "name": "Search rotation", "time_zone": "UTC", "layers": [
            {"shift_unit": "weeks", "shift_length": 1, "starts_local": "2026-01-05T00:00", "participants": [sam_id]}
        ]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let policy = post(
        &app,
        c,
        "/api/v1/escalation-policies",
        json!({"team_id": search, "name": "Search on call",
        "levels": [{"delay_minutes": 1, "targets": [{"type": "schedule", "id": rotation}]},
                   {"delay_minutes": 1, "targets": [{"type": "user", "id": admin}]}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    send(
        c,
        &app,
        Method::PATCH,
        &format!("/api/v1/services/{search_service}"),
        Some(json!({"escalation_policy_id": policy})),
    )
    .await;

    app.clock.set(at("2026-03-10T08:00:00Z"));
    trigger(&app, &pay_key, "pay").await;
    trigger(&app, &search_key, "slow").await;
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    app.clock.advance(Duration::from_secs(90));
    keel_openalert::engine::cycle(&app.platform).await.unwrap();

    // The page to Sam remembers the rotation that put Sam on call; delivered as a text, it
    // counts towards the rotation's load.
    let paged: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT user_id, schedule_id FROM oa_notifications ORDER BY id")
            .fetch_all(app.platform.db.pool())
            .await
            .unwrap();
    assert!(paged.contains(&(sam_id, Some(rotation))), "{paged:?}");
    assert!(paged.contains(&(admin, None)), "{paged:?}");
    sqlx::query("UPDATE oa_notifications SET status = 'sent', kind = 'sms', sent_at = created_at")
        .execute(app.platform.db.pool())
        .await
        .unwrap();

    let all = get(&app, c, MARCH).await;
    assert_eq!(all["current"]["opened"], 2, "admins see every team");
    assert_eq!(all["current"]["escalated"], 1, "{all}");
    let mine = get(&app, &sam, MARCH).await;
    assert_eq!(mine["current"]["opened"], 1, "{mine}");
    let schedules = mine["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), 1, "{mine}");
    assert_eq!(
        (
            &schedules[0]["name"],
            &schedules[0]["interruptions"],
            &schedules[0]["people"]
        ),
        (&json!("Search rotation"), &json!(1), &json!(1))
    );
    assert_eq!(mine["by_service"][0]["name"], "search");
    assert_eq!(mine["by_policy"][0]["name"], "Search on call");
    let (status, _) = send(
        &sam,
        &app,
        Method::GET,
        &format!("/api/v1/analytics?team_id={payments}"),
        None,
    )
    .await;
    assert_eq!(status, 404, "another team's figures are not there");
    let csv = sam
        .get(app.url("/api/v1/analytics/incidents.csv?days=30&until=2026-04-01T00:00:00Z"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("\"slow\"") && !csv.contains("\"pay\""),
        "{csv}"
    );
    let page = app.page_text(&sam, "/openalert/analytics").await;
    assert!(
        page.contains("search") && !page.contains("checkout"),
        "{page}"
    );
    assert!(
        page.contains("Search rotation"),
        "the load by schedule is on the page"
    );
    let _: Value = get(&app, &sam, &format!("/api/v1/analytics?team_id={search}")).await;
}

async fn the_weekly_summary_reaches_the_team_once(backend: Backend) {
    use keel_openalert::weekly_summary::schedule;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let team = app.create_team("Payments").await;
    let (_, key) = app.service_with_events_v2(team, "checkout").await;
    let (alice_id, alice) = app.member("alice@example.com").await;
    app.add_member(team, alice_id, "member").await;
    let (_, carol) = app.member("carol@example.com").await;
    let path = format!("/api/v1/analytics/weekly-summary/{team}");

    // The week of 2 March: a key that fires and clears twice, nobody acknowledging.
    for hour in ["10", "14"] {
        app.clock.set(at(&format!("2026-03-04T{hour}:00:00Z")));
        trigger(&app, &key, "db-down").await;
        app.clock.advance(Duration::from_secs(120));
        resolve_from_source(&app, &key, "db-down").await;
    }

    // Only the team's managers switch it; outsiders do not learn the team exists.
    let on = json!({"enabled": true});
    let (status, _) = send(&alice, &app, Method::PUT, &path, Some(on.clone())).await;
    assert_eq!(status, 403);
    let (status, _) = send(&carol, &app, Method::PUT, &path, Some(on.clone())).await;
    assert_eq!(status, 404);
    let (status, problem) = send(
        &app.client,
        &app,
        Method::PUT,
        &path,
        Some(json!({"enabled": "yes"})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let (status, setting) = send(&app.client, &app, Method::PUT, &path, Some(on)).await;
    assert_eq!(status, 200, "{setting}");
    assert_eq!(setting["enabled"], true);
    // Switched on on a Wednesday: the week that ended on Monday counts as done, so the first
    // mail is next Monday's.
    let seen = get(&app, &alice, &path).await;
    assert_eq!(
        (seen["enabled"].clone(), seen["last_week_ends_at"].clone()),
        (json!(true), json!("2026-03-02T00:00:00.000Z"))
    );

    // Not before Monday 09:00 UTC; then once, however often this and the engine's own loop
    // look.
    app.clock.set(at("2026-03-09T08:59:00Z"));
    assert_eq!(schedule(&app.platform).await.unwrap(), 0);
    assert_eq!(
        get(&app, &alice, &path).await["last_week_ends_at"],
        "2026-03-02T00:00:00.000Z"
    );
    app.clock.set(at("2026-03-09T09:00:00Z"));
    assert!(schedule(&app.platform).await.unwrap() <= 1);
    assert_eq!(schedule(&app.platform).await.unwrap(), 0);

    let subject = "Subject: Payments: the week on call, 2026-03-02 to 2026-03-08";
    let summaries = eventually(Duration::from_secs(15), || async {
        let mails: Vec<String> = mail_drop(&app)
            .into_iter()
            .filter(|m| m.contains(subject))
            .collect();
        (mails.len() == 2).then_some(mails)
    })
    .await
    .expect("the admin (the team's creator) and Alice get the summary");
    assert!(
        summaries
            .iter()
            .any(|m| m.contains("To: alice@example.com"))
    );
    assert!(
        !mail_drop(&app)
            .iter()
            .any(|m| m.contains("To: carol@example.com"))
    );
    let mail = &summaries[0];
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(
        mail.contains("Incidents opened: 2 (the week before: 0)"),
        "{mail}"
    );
    assert!(
        mail.contains("Resolved without acknowledgement: 2"),
        "{mail}"
    );
    assert!(mail.contains("checkout / db-down: 2 incidents"), "{mail}");
    assert!(
        mail.contains(&format!("/openalert/analytics?team_id={team}&days=7")),
        "{mail}"
    );

    let seen = get(&app, &alice, &path).await;
    assert_eq!(seen["last_week_ends_at"], "2026-03-09T00:00:00.000Z");

    // The page shows the switch to managers only, and the form turns it off.
    let page = app
        .page_text(&alice, &format!("/openalert/analytics?team_id={team}"))
        .await;
    assert!(page.contains("The team's managers can change this."));
    let admin_page = app
        .page_text(&app.client, &format!("/openalert/analytics?team_id={team}"))
        .await;
    assert!(admin_page.contains("Send the team a weekly summary"));
    let answer = app
        .client
        .post(app.url("/openalert/analytics/weekly-summary"))
        .form(&[("team_id", team.to_string()), ("days", "7".to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(get(&app, &alice, &path).await["enabled"], false);
    app.clock.set(at("2026-03-16T10:00:00Z"));
    assert_eq!(schedule(&app.platform).await.unwrap(), 0);
    let summaries = mail_drop(&app)
        .iter()
        .filter(|m| m.contains("the week on call"))
        .count();
    assert_eq!(summaries, 2, "one summary per member, for one week");
}
