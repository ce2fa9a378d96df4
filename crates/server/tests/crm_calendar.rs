//! MindfulCRM calendar events, goals, settings and the daily digest over HTTP on SQLite and
//! PostgreSQL: CRUD, attendee matching, events becoming interactions, iCalendar round trips,
//! goal progress from interactions, the whole-account export, and one user never seeing
//! another's data.

mod common;

use std::time::Duration;

use common::{Backend, TestApp, crm_export, field_names, get, post, send, zip_entry};

/// The fields a problem names, sorted.
fn fields(problem: &Value) -> Vec<String> {
    let mut names = field_names(problem);
    names.sort();
    names
}
use keel_platform::domain::Timestamp;
use serde_json::{Value, json};

on_both_backends!(
    events_match_contacts_and_become_interactions_once_over,
    ics_export_imports_field_for_field_and_bad_files_write_nothing,
    goals_count_interactions_per_period_with_history,
    settings_drive_time_zone_default_cadence_and_one_digest_a_day,
    calendar_goals_and_settings_pages_work,
    account_export_zip_holds_everything_and_only_yours,
);

fn at(app: &TestApp, offset_hours: i64) -> String {
    let now = app.platform.now().as_millis();
    Timestamp::from_millis(now + offset_hours * 3_600_000).to_string()
}

async fn events_match_contacts_and_become_interactions_once_over(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let event = post(&app, c, "/api/v1/crm/events", json!({
        "title": "Coffee with Ada", "starts_at": at(&app, 2), "ends_at": at(&app, 3), "location": "Café Central",
        "attendees": ["ADA@example.com", "stranger@example.com"], "description": "Talk about the engine"
    }))
    .await;
    let id = event["id"].as_i64().unwrap();
    assert_eq!(
        event["attendees"],
        json!(["ada@example.com", "stranger@example.com"])
    );
    assert_eq!(event["contacts"][0]["id"], ada, "attendee matched by email");
    assert_eq!(event["processed_at"], Value::Null);
    let listed = get(&app, c, "/api/v1/crm/events").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let for_ada = get(&app, c, &format!("/api/v1/crm/events?contact_id={ada}")).await;
    assert_eq!(for_ada[0]["id"], id);

    // Bad input names each field and stores nothing.
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/events",
        Some(json!({
            "title": "", "starts_at": "tomorrow", "attendees": ["not-an-address"]
        })),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(fields(&problem), ["attendees[0]", "starts_at", "title"]);
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/events",
        Some(json!({
            "title": "Backwards", "starts_at": at(&app, 5), "ends_at": at(&app, 4)
        })),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(fields(&problem), ["ends_at"]);
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::GET,
        "/api/v1/crm/events?from=yesterday",
        None,
    )
    .await;
    assert_eq!((status, fields(&problem)), (422, vec!["from".to_string()]));

    // Another user sees none of it.
    let (_, bob) = app.member("bob@example.com").await;
    assert_eq!(get(&app, &bob, "/api/v1/crm/events").await, json!([]));
    for (method, body) in [
        (reqwest::Method::GET, None),
        (
            reqwest::Method::PUT,
            Some(json!({"title": "x", "starts_at": at(&app, 1)})),
        ),
        (reqwest::Method::DELETE, None),
    ] {
        let (status, _) = send(
            &bob,
            &app,
            method.clone(),
            &format!("/api/v1/crm/events/{id}"),
            body,
        )
        .await;
        assert_eq!(status, 404, "{method} as another user");
    }
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/events/{id}")).await["processed_at"],
        Value::Null,
        "not over yet"
    );

    // Once it is over, the engine logs it as a meeting with Ada, once.
    app.clock.advance(Duration::from_secs(4 * 3600));
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    let done = get(&app, c, &format!("/api/v1/crm/events/{id}")).await;
    assert!(done["processed_at"].is_string());
    let timeline = get(
        &app,
        c,
        &format!("/api/v1/crm/interactions?contact_id={ada}"),
    )
    .await;
    let items = timeline["interactions"]
        .as_array()
        .unwrap_or_else(|| timeline.as_array().unwrap());
    assert_eq!(items.len(), 1, "{timeline}");
    assert_eq!(items[0]["kind"], "meeting");
    assert_eq!(items[0]["subject"], "Coffee with Ada");
    assert_eq!(items[0]["id"], done["interaction_id"]);
    assert_eq!(
        items[0]["source_ref"],
        format!("event:{}", done["uid"].as_str().unwrap())
    );
    let contact = get(&app, c, &format!("/api/v1/crm/contacts/{ada}")).await;
    assert_eq!(contact["last_interaction_at"], event["starts_at"]);

    // Update and delete.
    let (status, updated) = send(
        c,
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/crm/events/{id}"),
        Some(json!({
            "title": "Coffee (moved)", "starts_at": "2026-12-24", "all_day": true
        })),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["all_day"], true);
    assert_eq!(updated["starts_at"], "2026-12-24T00:00:00.000Z");
    assert_eq!(updated["ends_at"], "2026-12-25T00:00:00.000Z");
    assert_eq!(updated["contacts"], json!([]), "attendees follow the body");
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/events/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/crm/events/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn ics_export_imports_field_for_field_and_bad_files_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    post(&app, c, "/api/v1/crm/events", json!({
        "title": "Board meeting; budget, Q1", "starts_at": "2026-11-30T09:00:00Z", "ends_at": "2026-11-30T10:30:00Z",
        "location": "Room 4, 2nd floor", "description": "Agenda:\n1. numbers\n2. hiring", "attendees": ["ceo@example.com", "cfo@example.com"]
    }))
    .await;
    post(&app, c, "/api/v1/crm/events", json!({"title": "Holiday", "starts_at": "2026-12-24", "ends_at": "2026-12-26", "all_day": true})).await;
    let response = c
        .get(app.url("/api/v1/crm/export/events.ics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = response.text().await.unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    assert!(
        ics.contains("DTSTART;VALUE=DATE:20261224\r\n")
            && ics.contains("DTEND;VALUE=DATE:20261227\r\n"),
        "{ics}"
    );

    let (_, bob) = app.member("bob@example.com").await;
    let range = "/api/v1/crm/events?from=2026-11-01T00:00:00Z&to=2027-01-01T00:00:00Z";
    let dry = bob
        .post(app.url("/api/v1/crm/import/ics?dry_run=true"))
        .body(ics.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status(), 200);
    assert_eq!(
        dry.json::<Value>().await.unwrap(),
        json!({"dry_run": true, "events": 2, "created": 2})
    );
    assert_eq!(
        get(&app, &bob, range).await,
        json!([]),
        "a dry run writes nothing"
    );
    let done = bob
        .post(app.url("/api/v1/crm/import/ics"))
        .body(ics.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.json::<Value>().await.unwrap(),
        json!({"dry_run": false, "events": 2, "created": 2})
    );
    let again = bob
        .post(app.url("/api/v1/crm/import/ics"))
        .body(ics.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.json::<Value>().await.unwrap()["created"],
        0,
        "same UIDs update"
    );

    let mine = get(&app, c, range).await;
    let theirs = get(&app, &bob, range).await;
    assert_eq!(theirs.as_array().unwrap().len(), 2);
    for (a, b) in mine
        .as_array()
        .unwrap()
        .iter()
        .zip(theirs.as_array().unwrap())
    {
        for key in [
            "uid",
            "title",
            "starts_at",
            "ends_at",
            "all_day",
            "location",
            "description",
            "attendees",
        ] {
            assert_eq!(a[key], b[key], "{key}");
        }
    }

    // Imports may be far larger than other request bodies (1 MiB).
    let long = "x".repeat(300_000);
    let mut big = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
    for n in 0..10 {
        big.push_str(&format!("BEGIN:VEVENT\r\nUID:big-{n}\r\nDTSTART:20261201T100000Z\r\nSUMMARY:Big {n}\r\nDESCRIPTION:{long}\r\nEND:VEVENT\r\n"));
    }
    big.push_str("END:VCALENDAR\r\n");
    assert!(big.len() > 3_000_000);
    let (_, dave) = app.member("dave@example.com").await;
    let accepted = dave
        .post(app.url("/api/v1/crm/import/ics?dry_run=true"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.json::<Value>().await.unwrap()["events"], 10);

    // A broken file: every problem by line, nothing written.
    let broken = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:ok-1\r\nDTSTART:20261201T100000Z\r\nSUMMARY:Fine\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:bad-1\r\nDTSTART:2026-12-01 10:00\r\nSUMMARY:Broken\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (_, carol) = app.member("carol@example.com").await;
    let refused = carol
        .post(app.url("/api/v1/crm/import/ics"))
        .body(broken)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(fields(&problem), ["line 10"], "{problem}");
    assert_eq!(get(&app, &carol, range).await, json!([]));
    app.stop().await;
}

async fn goals_count_interactions_per_period_with_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    // Wednesday noon UTC: the week started on Monday.
    app.clock
        .set(Timestamp::parse_rfc3339("2026-11-25T12:00:00Z").unwrap());
    let close = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Cleo", "stage": "close"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let other = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Olaf", "stage": "close"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let acquaintance = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Abe", "stage": "active"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    for (when, contact, kind) in [
        ("2026-11-23T08:00:00Z", close, "call"), // this week (Monday)
        ("2026-11-25T09:00:00Z", acquaintance, "meeting"), // this week
        ("2026-11-18T09:00:00Z", close, "call"), // last week
        ("2026-11-17T09:00:00Z", acquaintance, "call"), // last week
        ("2026-11-16T00:30:00Z", acquaintance, "note"), // last week's Monday
        ("2026-11-15T23:30:00Z", acquaintance, "note"), // the week before
    ] {
        post(
            &app,
            c,
            "/api/v1/crm/interactions",
            json!({"kind": kind, "occurred_at": when, "summary": "x", "contact_ids": [contact]}),
        )
        .await;
    }
    let weekly = post(&app, c, "/api/v1/crm/goals", json!({"title": "3 conversations a week", "kind": "interactions", "period": "week", "target": 3})).await;
    assert_eq!(weekly["current"]["value"], 2);
    assert_eq!(weekly["current"]["target"], 3);
    assert_eq!(weekly["current"]["starts_on"], "2026-11-23");
    let id = weekly["id"].as_i64().unwrap();
    let with_history = get(&app, c, &format!("/api/v1/crm/goals/{id}?history=3")).await;
    let values: Vec<i64> = with_history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_i64().unwrap())
        .collect();
    assert_eq!(
        values,
        [0, 1, 3],
        "oldest first: the weeks of Nov 2, 9 and 16"
    );
    let calls = post(&app, c, "/api/v1/crm/goals", json!({"title": "Calls", "kind": "interactions", "period": "month", "target": 2, "interaction_kind": "call"})).await;
    assert_eq!(calls["current"]["value"], 3);
    let reconnect = post(&app, c, "/api/v1/crm/goals", json!({"title": "Every close friend this quarter", "kind": "reconnect", "period": "quarter", "stage": "close"})).await;
    assert_eq!(
        (
            reconnect["current"]["value"].as_i64(),
            reconnect["current"]["target"].as_i64()
        ),
        (Some(1), Some(2)),
        "{reconnect}"
    );
    post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "message", "summary": "hi", "contact_ids": [other]}),
    )
    .await;
    let reconnect = get(&app, c, &format!("/api/v1/crm/goals/{}", reconnect["id"])).await;
    assert_eq!(reconnect["current"]["value"], 2);

    // Time zones move period boundaries: in Tokyo the Sunday-night note is Monday already.
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::PUT,
        "/api/v1/crm/settings",
        Some(json!({"time_zone": "Asia/Tokyo"})),
    )
    .await;
    assert_eq!(status, 200);
    let tokyo = get(&app, c, &format!("/api/v1/crm/goals/{id}?history=1")).await;
    assert_eq!(tokyo["history"][0]["value"], 4, "{tokyo}");

    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/goals",
        Some(json!({"title": "", "kind": "more", "period": "decade"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(fields(&problem), ["kind", "period", "title"]);
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/goals",
        Some(json!({"title": "x", "kind": "reconnect", "period": "week"})),
    )
    .await;
    assert_eq!((status, fields(&problem)), (422, vec!["stage".to_string()]));
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/goals",
        Some(json!({"title": "x", "kind": "interactions", "period": "week"})),
    )
    .await;
    assert_eq!(
        (status, fields(&problem)),
        (422, vec!["target".to_string()])
    );

    let (_, bob) = app.member("bob@example.com").await;
    assert_eq!(get(&app, &bob, "/api/v1/crm/goals").await, json!([]));
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let (status, _) = send(&bob, &app, method, &format!("/api/v1/crm/goals/{id}"), None).await;
        assert_eq!(status, 404);
    }
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/goals/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        get(&app, c, "/api/v1/crm/goals")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.stop().await;
}

async fn settings_drive_time_zone_default_cadence_and_one_digest_a_day(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    assert_eq!(
        get(&app, c, "/api/v1/crm/settings").await,
        json!({"time_zone": "UTC", "default_cadence_days": null, "digest_enabled": false, "digest_hour": 8})
    );
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::PUT,
        "/api/v1/crm/settings",
        Some(json!({"time_zone": "Mars/Olympus", "default_cadence_days": 0, "digest_hour": 24})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        fields(&problem),
        ["default_cadence_days", "digest_hour", "time_zone"]
    );
    assert_eq!(
        get(&app, c, "/api/v1/crm/settings").await["time_zone"],
        "UTC",
        "nothing saved"
    );

    // 07:30 in Berlin: the digest (due at 08:00 local) is not sent yet.
    app.clock
        .set(Timestamp::parse_rfc3339("2026-11-25T06:30:00Z").unwrap());
    let saved = send(c, &app, reqwest::Method::PUT, "/api/v1/crm/settings", Some(json!({"time_zone": "Europe/Berlin", "default_cadence_days": 30, "digest_enabled": true, "digest_hour": 8}))).await;
    assert_eq!(saved.0, 200, "{}", saved.1);
    let fresh = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Dana"}),
    )
    .await;
    assert_eq!(fresh["cadence_days"], 30, "the default cadence");
    assert_eq!(fresh["health"], "due");
    let chosen = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Eli", "cadence_days": 7}),
    )
    .await;
    assert_eq!(chosen["cadence_days"], 7);
    post(
        &app,
        c,
        "/api/v1/crm/tasks",
        json!({"title": "Send the photos", "due_at": "2026-11-25T10:00:00Z"}),
    )
    .await;
    post(
        &app,
        c,
        "/api/v1/crm/tasks",
        json!({"title": "Next month's thing", "due_at": "2026-12-25T10:00:00Z"}),
    )
    .await;

    let digests = || async {
        keel_mindfulcrm::engine::send_digests(&app.platform)
            .await
            .unwrap()
    };
    assert_eq!(digests().await, 0, "before the hour");
    app.clock
        .set(Timestamp::parse_rfc3339("2026-11-25T07:05:00Z").unwrap());
    assert_eq!(digests().await, 1);
    assert_eq!(digests().await, 0, "once a day");
    let mails: Vec<String> =
        sqlx::query_scalar("SELECT payload FROM jobs WHERE kind = 'mail.send' ORDER BY id")
            .fetch_all(app.platform.db.pool())
            .await
            .unwrap();
    let digest = serde_json::from_str::<keel_platform::mail::QueuedMail>(mails.last().unwrap())
        .unwrap()
        .open(&app.platform.secret)
        .unwrap();
    assert_eq!(digest.to, "admin@example.com");
    assert_eq!(digest.subject, "Your MindfulCRM day, 2026-11-25");
    let text = digest.text.as_str();
    assert!(
        text.contains("Dana") && text.contains("Eli") && text.contains("Send the photos"),
        "{text}"
    );
    assert!(!text.contains("Next month"), "{text}");
    app.clock
        .set(Timestamp::parse_rfc3339("2026-11-26T07:05:00Z").unwrap());
    assert_eq!(digests().await, 1, "the next day");

    // Turned off: no more mail.
    send(
        c,
        &app,
        reqwest::Method::PUT,
        "/api/v1/crm/settings",
        Some(json!({"time_zone": "Europe/Berlin", "digest_enabled": false})),
    )
    .await;
    app.clock
        .set(Timestamp::parse_rfc3339("2026-11-27T07:05:00Z").unwrap());
    assert_eq!(digests().await, 0);
    app.stop().await;
}

async fn calendar_goals_and_settings_pages_work(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    app.clock
        .set(Timestamp::parse_rfc3339("2026-11-25T12:00:00Z").unwrap());
    post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}),
    )
    .await;

    // Settings form, with an inline error first.
    let bad = c
        .post(app.url("/crm/settings"))
        .form(&[("time_zone", "Nowhere/Special"), ("digest_hour", "8")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("is not a known IANA time zone")
    );
    let ok = c
        .post(app.url("/crm/settings"))
        .form(&[
            ("time_zone", "America/New_York"),
            ("digest_hour", "7"),
            ("digest_enabled", "on"),
            ("default_cadence_days", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let page = c
        .get(app.url("/crm/settings?done=saved"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Settings saved.") && page.contains("value=\"America/New_York\""),
        "{page}"
    );

    // Calendar: the form's local time is New York time; the week view lists the event.
    let added = c
        .post(app.url("/crm/calendar"))
        .form(&[
            ("title", "Lunch with Ada"),
            ("starts_at", "2026-11-26T12:30"),
            ("ends_at", "2026-11-26T13:30"),
            ("attendees", "ada@example.com"),
            ("location", "Deli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 303);
    assert_eq!(added.headers()["location"], "/crm/calendar?week=2026-11-26");
    let events = get(&app, c, "/api/v1/crm/events").await;
    assert_eq!(
        events[0]["starts_at"], "2026-11-26T17:30:00.000Z",
        "12:30 in New York"
    );
    assert_eq!(events[0]["contacts"][0]["display_name"], "Ada");
    let week = c
        .get(app.url("/crm/calendar?week=2026-11-26"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        week.contains("Lunch with Ada") && week.contains("Thursday 26 November"),
        "{week}"
    );
    // An all-day event typed with the date-time picker keeps only its date: one day.
    let all_day = c
        .post(app.url("/crm/calendar"))
        .form(&[
            ("title", "Ada's birthday"),
            ("starts_at", "2026-11-28T23:30"),
            ("ends_at", ""),
            ("all_day", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(all_day.status(), 303);
    let week = app.page_text(c, "/crm/calendar?week=2026-11-26").await;
    let birthday = week
        .find("<strong>Ada&#39;s birthday</strong>")
        .expect("listed");
    assert!(week[..birthday].contains("Saturday 28 November"));
    assert!(!week[..birthday].contains("Sunday 29 November"));
    assert_eq!(
        week.matches("<strong>Ada&#39;s birthday</strong>").count(),
        1,
        "shown on one day only"
    );
    let invalid = c
        .post(app.url("/crm/calendar"))
        .form(&[("title", ""), ("starts_at", "soon")])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    let text = invalid.text().await.unwrap();
    assert!(
        text.contains("is required") && text.contains("must be a time"),
        "{text}"
    );
    let dashboard = c
        .get(app.url("/crm"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dashboard.contains("Lunch with Ada"),
        "upcoming on the dashboard"
    );

    // Import from the page, then delete from the page.
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:page-1\r\nDTSTART:20261127T150000Z\r\nDTEND:20261127T160000Z\r\nSUMMARY:Imported talk\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text(ics).file_name("talk.ics"),
    );
    let imported = c
        .post(app.url("/crm/calendar/import"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200);
    assert!(
        imported
            .text()
            .await
            .unwrap()
            .contains("Imported 1 events (1 new, 0 updated).")
    );
    let talk = get(&app, c, "/api/v1/crm/events")
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["title"] == "Imported talk")
        .unwrap()
        .clone();
    let deleted = c
        .post(app.url(&format!("/crm/events/{}/delete", talk["id"])))
        .form(&[("back", "/crm/calendar")])
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 303);
    assert_eq!(
        get(&app, c, "/api/v1/crm/events")
            .await
            .as_array()
            .unwrap()
            .len(),
        2,
        "the lunch and the birthday are left"
    );

    // Goals: create from the page (an inline error first), the chart is drawn, delete.
    let bad = c
        .post(app.url("/crm/goals"))
        .form(&[
            ("title", "Talk more"),
            ("kind", "interactions"),
            ("period", "week"),
            ("target", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("must be between 1 and 10000")
    );
    let made = c
        .post(app.url("/crm/goals"))
        .form(&[
            ("title", "Talk more"),
            ("kind", "interactions"),
            ("period", "week"),
            ("target", "3"),
            ("interaction_kind", ""),
            ("stage", ""),
            ("tag", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 303);
    let goals_page = c
        .get(app.url("/crm/goals"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        goals_page.contains("<svg class=\"chart\"") && goals_page.contains("0 of 3"),
        "{goals_page}"
    );
    let dashboard = c
        .get(app.url("/crm"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(dashboard.contains("aria-label=\"Goal progress this period\""));
    let goal = get(&app, c, "/api/v1/crm/goals").await[0]["id"]
        .as_i64()
        .unwrap();
    let removed = c
        .post(app.url(&format!("/crm/goals/{goal}/delete")))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 303);
    assert_eq!(get(&app, c, "/api/v1/crm/goals").await, json!([]));
    app.stop().await;
}

async fn account_export_zip_holds_everything_and_only_yours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = post(&app, c, "/api/v1/crm/contacts", json!({
        "given_name": "Ada", "family_name": "Lovelace", "emails": [{"value": "ada@example.com", "label": "home"}], "tags": ["math"], "notes": "Line one\nline two"
    }))
    .await["id"]
        .as_i64()
        .unwrap();
    let bo = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Bo", "phones": [{"value": "+1 555 0100"}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    for (summary, contacts) in [
        ("first", json!([ada])),
        ("second", json!([ada, bo])),
        ("third", json!([bo])),
    ] {
        post(
            &app,
            c,
            "/api/v1/crm/interactions",
            json!({"kind": "call", "summary": summary, "contact_ids": contacts}),
        )
        .await;
    }
    post(
        &app,
        c,
        "/api/v1/crm/tasks",
        json!({"title": "Send the paper", "due_at": "2026-12-01T09:00:00Z", "contact_ids": [ada]}),
    )
    .await;
    post(
        &app,
        c,
        "/api/v1/crm/goals",
        json!({"title": "Calls", "kind": "interactions", "period": "week", "target": 2}),
    )
    .await;
    post(&app, c, "/api/v1/crm/events", json!({"title": "Tea", "starts_at": "2026-12-02T15:00:00Z", "attendees": ["ada@example.com"]})).await;
    send(
        c,
        &app,
        reqwest::Method::PUT,
        "/api/v1/crm/settings",
        Some(json!({"time_zone": "Europe/London"})),
    )
    .await;

    let mut archive = crm_export(&app, c).await;
    let mut names: Vec<String> = (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "README.txt",
            "connected_accounts.json",
            "contacts.csv",
            "contacts.json",
            "contacts.vcf",
            "events.ics",
            "events.json",
            "goals.json",
            "interactions.json",
            "profile.json",
            "settings.json",
            "tasks.json",
        ]
    );
    let contacts: Value = serde_json::from_str(&zip_entry(&mut archive, "contacts.json")).unwrap();
    assert_eq!(contacts.as_array().unwrap().len(), 2);
    assert_eq!(contacts[0]["tags"], json!(["math"]));
    assert_eq!(contacts[0]["notes"], "Line one\nline two");
    assert_eq!(
        contacts[0]["emails"],
        json!([{"value": "ada@example.com", "label": "home"}])
    );
    let csv = zip_entry(&mut archive, "contacts.csv");
    assert_eq!(
        csv::Reader::from_reader(csv.as_bytes()).records().count(),
        2
    );
    assert_eq!(
        zip_entry(&mut archive, "contacts.vcf")
            .matches("BEGIN:VCARD")
            .count(),
        2
    );
    let interactions: Value =
        serde_json::from_str(&zip_entry(&mut archive, "interactions.json")).unwrap();
    assert_eq!(interactions.as_array().unwrap().len(), 3);
    assert_eq!(interactions[1]["summary"], "second");
    assert_eq!(interactions[1]["contact_ids"], json!([ada, bo]));
    assert!(
        interactions[1]["occurred_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let tasks: Value = serde_json::from_str(&zip_entry(&mut archive, "tasks.json")).unwrap();
    assert_eq!(
        (tasks[0]["title"].as_str(), tasks[0]["due_at"].as_str()),
        (Some("Send the paper"), Some("2026-12-01T09:00:00.000Z"))
    );
    assert_eq!(tasks[0]["contact_ids"], json!([ada]));
    let goals: Value = serde_json::from_str(&zip_entry(&mut archive, "goals.json")).unwrap();
    assert_eq!(goals[0]["title"], "Calls");
    let events: Value = serde_json::from_str(&zip_entry(&mut archive, "events.json")).unwrap();
    assert_eq!(events[0]["attendees"], json!(["ada@example.com"]));
    let settings: Value = serde_json::from_str(&zip_entry(&mut archive, "settings.json")).unwrap();
    assert_eq!(settings["time_zone"], "Europe/London");
    let profile: Value = serde_json::from_str(&zip_entry(&mut archive, "profile.json")).unwrap();
    assert_eq!(profile["email"], "admin@example.com");

    // The files import back: contacts and events into another account.
    let (_, bob) = app.member("bob@example.com").await;
    let vcf = zip_entry(&mut archive, "contacts.vcf");
    assert_eq!(
        bob.post(app.url("/api/v1/crm/import/vcard"))
            .body(vcf)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ics = zip_entry(&mut archive, "events.ics");
    assert_eq!(
        bob.post(app.url("/api/v1/crm/import/ics"))
            .body(ics)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // And Bob's own export holds only his data.
    let mut theirs = crm_export(&app, &bob).await;
    let contacts: Value = serde_json::from_str(&zip_entry(&mut theirs, "contacts.json")).unwrap();
    assert_eq!(contacts.as_array().unwrap().len(), 2);
    assert_eq!(zip_entry(&mut theirs, "interactions.json").trim(), "[]");
    assert_eq!(zip_entry(&mut theirs, "tasks.json").trim(), "[]");
    let profile: Value = serde_json::from_str(&zip_entry(&mut theirs, "profile.json")).unwrap();
    assert_eq!(profile["email"], "bob@example.com");
    app.stop().await;
}
