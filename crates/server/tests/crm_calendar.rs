//! MindfulCRM calendar events, goals, settings and the daily digest over HTTP on SQLite and
//! PostgreSQL: CRUD, attendee matching, events becoming interactions, iCalendar round trips,
//! goal progress from interactions, the whole-account export, and one user never seeing
//! another's data.

mod common;

use std::time::Duration;

use common::crm::assert_same_events;
use common::{Api, Backend, TestApp, crm_export, field_names, zip_entry};
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

/// The fields a problem names, sorted.
fn fields(problem: &Value) -> Vec<String> {
    let mut names = field_names(problem);
    names.sort();
    names
}

fn at(app: &TestApp, offset_hours: i64) -> String {
    let now = app.platform.now().as_millis();
    Timestamp::from_millis(now + offset_hours * 3_600_000).to_string()
}

fn time(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

async fn events_match_contacts_and_become_interactions_once_over(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let ada = c
        .create_contact(json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}))
        .await;
    let event = c.create_event(json!({
        "title": "Coffee with Ada", "starts_at": at(&app, 2), "ends_at": at(&app, 3), "location": "Café Central",
        "attendees": ["ADA@example.com", "stranger@example.com"], "description": "Talk about the engine"
    }))
    .await;
    let id = event["id"].as_i64().unwrap();
    let path = format!("/api/v1/crm/events/{id}");
    assert_eq!(
        event["attendees"],
        json!(["ada@example.com", "stranger@example.com"])
    );
    assert_eq!(event["contacts"][0]["id"], ada, "attendee matched by email");
    assert_eq!(event["processed_at"], Value::Null);
    assert_eq!(c.list("/api/v1/crm/events").await.len(), 1);
    let for_ada = c
        .get(&format!("/api/v1/crm/events?contact_id={ada}"))
        .await
        .json_ok();
    assert_eq!(for_ada[0]["id"], id);

    // Bad input names each field and stores nothing.
    let problem = c
        .post(
            "/api/v1/crm/events",
            json!({"title": "", "starts_at": "tomorrow", "attendees": ["not-an-address"]}),
        )
        .await
        .expect(422);
    assert_eq!(
        fields(&problem.body),
        ["attendees[0]", "starts_at", "title"]
    );
    let problem = c
        .post(
            "/api/v1/crm/events",
            json!({"title": "Backwards", "starts_at": at(&app, 5), "ends_at": at(&app, 4)}),
        )
        .await
        .expect(422);
    assert_eq!(fields(&problem.body), ["ends_at"]);
    let problem = c.get("/api/v1/crm/events?from=yesterday").await;
    assert_eq!(
        (problem.status, fields(&problem.body)),
        (422, vec!["from".to_string()])
    );

    // Another user sees none of it.
    let (_, bob) = app.member("bob@example.com").await;
    let bob = app.api(&bob);
    assert_eq!(bob.get("/api/v1/crm/events").await.json_ok(), json!([]));
    for (method, body) in [
        (reqwest::Method::GET, None),
        (
            reqwest::Method::PUT,
            Some(json!({"title": "x", "starts_at": at(&app, 1)})),
        ),
        (reqwest::Method::DELETE, None),
    ] {
        let answer = bob.send(method.clone(), &path, body).await;
        assert_eq!(answer.status, 404, "{method} as another user");
    }
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    assert_eq!(
        c.get(&path).await.json_ok()["processed_at"],
        Value::Null,
        "not over yet"
    );

    // Once it is over, the engine logs it as a meeting with Ada, once.
    app.clock.advance(Duration::from_secs(4 * 3600));
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    let done = c.get(&path).await.json_ok();
    assert!(done["processed_at"].is_string());
    let timeline = c
        .get(&format!("/api/v1/crm/interactions?contact_id={ada}"))
        .await
        .json_ok();
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
    assert_eq!(
        c.contact(ada).await["last_interaction_at"],
        event["starts_at"]
    );

    // Update and delete.
    let updated = c
        .put(
            &path,
            json!({"title": "Coffee (moved)", "starts_at": "2026-12-24", "all_day": true}),
        )
        .await
        .json_ok();
    assert_eq!(updated["all_day"], true);
    assert_eq!(updated["starts_at"], "2026-12-24T00:00:00.000Z");
    assert_eq!(updated["ends_at"], "2026-12-25T00:00:00.000Z");
    assert_eq!(updated["contacts"], json!([]), "attendees follow the body");
    c.delete(&path).await.expect(204);
    c.get(&path).await.expect(404);
    app.stop().await;
}

async fn ics_export_imports_field_for_field_and_bad_files_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    c.create_event(json!({
        "title": "Board meeting; budget, Q1", "starts_at": "2026-11-30T09:00:00Z", "ends_at": "2026-11-30T10:30:00Z",
        "location": "Room 4, 2nd floor", "description": "Agenda:\n1. numbers\n2. hiring", "attendees": ["ceo@example.com", "cfo@example.com"]
    }))
    .await;
    c.create_event(json!({"title": "Holiday", "starts_at": "2026-12-24", "ends_at": "2026-12-26", "all_day": true})).await;
    let export = c.get("/api/v1/crm/export/events.ics").await.expect(200);
    assert!(export.header("content-type").starts_with("text/calendar"));
    let ics = export.text;
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    assert!(
        ics.contains("DTSTART;VALUE=DATE:20261224\r\n")
            && ics.contains("DTEND;VALUE=DATE:20261227\r\n"),
        "{ics}"
    );

    let (_, bob) = app.member("bob@example.com").await;
    let bob = app.api(&bob);
    let range = "/api/v1/crm/events?from=2026-11-01T00:00:00Z&to=2027-01-01T00:00:00Z";
    let dry = bob
        .post_body("/api/v1/crm/import/ics?dry_run=true", ics.clone())
        .await
        .json_ok();
    assert_eq!(dry, json!({"dry_run": true, "events": 2, "created": 2}));
    assert_eq!(
        bob.get(range).await.json_ok(),
        json!([]),
        "a dry run writes nothing"
    );
    let done = bob.post_body("/api/v1/crm/import/ics", ics.clone()).await;
    assert_eq!(
        done.body,
        json!({"dry_run": false, "events": 2, "created": 2})
    );
    let again = bob.post_body("/api/v1/crm/import/ics", ics.clone()).await;
    assert_eq!(again.body["created"], 0, "same UIDs update");

    let mine = c.list(range).await;
    let theirs = bob.list(range).await;
    assert_eq!(theirs.len(), 2);
    assert_same_events(&mine, &theirs);

    // Imports may be far larger than other request bodies (1 MiB).
    let long = "x".repeat(300_000);
    let mut big = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
    for n in 0..10 {
        big.push_str(&format!("BEGIN:VEVENT\r\nUID:big-{n}\r\nDTSTART:20261201T100000Z\r\nSUMMARY:Big {n}\r\nDESCRIPTION:{long}\r\nEND:VEVENT\r\n"));
    }
    big.push_str("END:VCALENDAR\r\n");
    assert!(big.len() > 3_000_000);
    let (_, dave) = app.member("dave@example.com").await;
    let accepted = app
        .api(&dave)
        .post_body("/api/v1/crm/import/ics?dry_run=true", big)
        .await
        .json_ok();
    assert_eq!(accepted["events"], 10);

    // A broken file: every problem by line, nothing written.
    let broken = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:ok-1\r\nDTSTART:20261201T100000Z\r\nSUMMARY:Fine\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:bad-1\r\nDTSTART:2026-12-01 10:00\r\nSUMMARY:Broken\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (_, carol) = app.member("carol@example.com").await;
    let carol = app.api(&carol);
    let problem = carol
        .post_body("/api/v1/crm/import/ics", broken)
        .await
        .expect(422)
        .body;
    assert_eq!(fields(&problem), ["line 10"], "{problem}");
    assert_eq!(carol.get(range).await.json_ok(), json!([]));
    app.stop().await;
}

async fn goals_count_interactions_per_period_with_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    // Wednesday noon UTC: the week started on Monday.
    app.clock.set(time("2026-11-25T12:00:00Z"));
    let close = c
        .create_contact(json!({"given_name": "Cleo", "stage": "close"}))
        .await;
    let other = c
        .create_contact(json!({"given_name": "Olaf", "stage": "close"}))
        .await;
    let acquaintance = c
        .create_contact(json!({"given_name": "Abe", "stage": "active"}))
        .await;
    for (when, contact, kind) in [
        ("2026-11-23T08:00:00Z", close, "call"), // this week (Monday)
        ("2026-11-25T09:00:00Z", acquaintance, "meeting"), // this week
        ("2026-11-18T09:00:00Z", close, "call"), // last week
        ("2026-11-17T09:00:00Z", acquaintance, "call"), // last week
        ("2026-11-16T00:30:00Z", acquaintance, "note"), // last week's Monday
        ("2026-11-15T23:30:00Z", acquaintance, "note"), // the week before
    ] {
        c.log_interaction(
            json!({"kind": kind, "occurred_at": when, "summary": "x", "contact_ids": [contact]}),
        )
        .await;
    }
    let weekly = c.create_goal(json!({"title": "3 conversations a week", "kind": "interactions", "period": "week", "target": 3})).await;
    assert_eq!(weekly["current"]["value"], 2);
    assert_eq!(weekly["current"]["target"], 3);
    assert_eq!(weekly["current"]["starts_on"], "2026-11-23");
    let id = weekly["id"].as_i64().unwrap();
    let with_history = c
        .get(&format!("/api/v1/crm/goals/{id}?history=3"))
        .await
        .json_ok();
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
    let calls = c.create_goal(json!({"title": "Calls", "kind": "interactions", "period": "month", "target": 2, "interaction_kind": "call"})).await;
    assert_eq!(calls["current"]["value"], 3);
    let reconnect = c.create_goal(json!({"title": "Every close friend this quarter", "kind": "reconnect", "period": "quarter", "stage": "close"})).await;
    assert_eq!(
        (
            reconnect["current"]["value"].as_i64(),
            reconnect["current"]["target"].as_i64()
        ),
        (Some(1), Some(2)),
        "{reconnect}"
    );
    c.log_interaction(json!({"kind": "message", "summary": "hi", "contact_ids": [other]}))
        .await;
    let reconnect = c
        .get(&format!("/api/v1/crm/goals/{}", reconnect["id"]))
        .await
        .json_ok();
    assert_eq!(reconnect["current"]["value"], 2);

    // Time zones move period boundaries: in Tokyo the Sunday-night note is Monday already.
    c.put("/api/v1/crm/settings", json!({"time_zone": "Asia/Tokyo"}))
        .await
        .expect(200);
    let tokyo = c
        .get(&format!("/api/v1/crm/goals/{id}?history=1"))
        .await
        .json_ok();
    assert_eq!(tokyo["history"][0]["value"], 4, "{tokyo}");

    let refused = async |body: Value| {
        let problem = c.post("/api/v1/crm/goals", body).await;
        (problem.status, fields(&problem.body))
    };
    let (status, problem) = refused(json!({"title": "", "kind": "more", "period": "decade"})).await;
    assert_eq!(status, 422);
    assert_eq!(problem, ["kind", "period", "title"]);
    assert_eq!(
        refused(json!({"title": "x", "kind": "reconnect", "period": "week"})).await,
        (422, vec!["stage".to_string()])
    );
    assert_eq!(
        refused(json!({"title": "x", "kind": "interactions", "period": "week"})).await,
        (422, vec!["target".to_string()])
    );

    let (_, bob) = app.member("bob@example.com").await;
    let bob = app.api(&bob);
    assert_eq!(bob.get("/api/v1/crm/goals").await.json_ok(), json!([]));
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        bob.send(method, &format!("/api/v1/crm/goals/{id}"), None)
            .await
            .expect(404);
    }
    c.delete(&format!("/api/v1/crm/goals/{id}"))
        .await
        .expect(204);
    assert_eq!(c.list("/api/v1/crm/goals").await.len(), 2);
    app.stop().await;
}

async fn settings_drive_time_zone_default_cadence_and_one_digest_a_day(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    assert_eq!(
        c.get("/api/v1/crm/settings").await.json_ok(),
        json!({"time_zone": "UTC", "default_cadence_days": null, "digest_enabled": false, "digest_hour": 8})
    );
    let problem = c
        .put(
            "/api/v1/crm/settings",
            json!({"time_zone": "Mars/Olympus", "default_cadence_days": 0, "digest_hour": 24}),
        )
        .await
        .expect(422);
    assert_eq!(
        fields(&problem.body),
        ["default_cadence_days", "digest_hour", "time_zone"]
    );
    assert_eq!(
        c.get("/api/v1/crm/settings").await.json_ok()["time_zone"],
        "UTC",
        "nothing saved"
    );

    // 07:30 in Berlin: the digest (due at 08:00 local) is not sent yet.
    app.clock.set(time("2026-11-25T06:30:00Z"));
    c.put("/api/v1/crm/settings", json!({"time_zone": "Europe/Berlin", "default_cadence_days": 30, "digest_enabled": true, "digest_hour": 8}))
        .await
        .expect(200);
    let fresh = c
        .post("/api/v1/crm/contacts", json!({"given_name": "Dana"}))
        .await
        .ok();
    assert_eq!(fresh["cadence_days"], 30, "the default cadence");
    assert_eq!(fresh["health"], "due");
    let chosen = c
        .post(
            "/api/v1/crm/contacts",
            json!({"given_name": "Eli", "cadence_days": 7}),
        )
        .await
        .ok();
    assert_eq!(chosen["cadence_days"], 7);
    c.create_task(json!({"title": "Send the photos", "due_at": "2026-11-25T10:00:00Z"}))
        .await;
    c.create_task(json!({"title": "Next month's thing", "due_at": "2026-12-25T10:00:00Z"}))
        .await;

    let digests = || async {
        keel_mindfulcrm::engine::send_digests(&app.platform)
            .await
            .unwrap()
    };
    assert_eq!(digests().await, 0, "before the hour");
    app.clock.set(time("2026-11-25T07:05:00Z"));
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
    app.clock.set(time("2026-11-26T07:05:00Z"));
    assert_eq!(digests().await, 1, "the next day");

    // Turned off: no more mail.
    c.put(
        "/api/v1/crm/settings",
        json!({"time_zone": "Europe/Berlin", "digest_enabled": false}),
    )
    .await;
    app.clock.set(time("2026-11-27T07:05:00Z"));
    assert_eq!(digests().await, 0);
    app.stop().await;
}

async fn calendar_goals_and_settings_pages_work(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    app.clock.set(time("2026-11-25T12:00:00Z"));
    c.create_contact(json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}))
        .await;
    settings_page_shows_errors_then_saves_new_york(&c).await;
    calendar_page_reads_local_time_and_lists_the_week(&c).await;
    calendar_page_imports_and_deletes(&c).await;
    goals_page_creates_charts_and_deletes(&c).await;
    app.stop().await;
}

/// Settings form, with an inline error first.
async fn settings_page_shows_errors_then_saves_new_york(c: &Api<'_>) {
    let bad = c
        .form(
            "/crm/settings",
            &[("time_zone", "Nowhere/Special"), ("digest_hour", "8")],
        )
        .await
        .expect(422);
    assert!(bad.text.contains("is not a known IANA time zone"));
    c.form(
        "/crm/settings",
        &[
            ("time_zone", "America/New_York"),
            ("digest_hour", "7"),
            ("digest_enabled", "on"),
            ("default_cadence_days", ""),
        ],
    )
    .await
    .expect(303);
    let page = c.get("/crm/settings?done=saved").await.text;
    assert!(
        page.contains("Settings saved.") && page.contains("value=\"America/New_York\""),
        "{page}"
    );
}

/// Calendar: the form's local time is New York time; the week view lists the event.
async fn calendar_page_reads_local_time_and_lists_the_week(c: &Api<'_>) {
    let added = c
        .form(
            "/crm/calendar",
            &[
                ("title", "Lunch with Ada"),
                ("starts_at", "2026-11-26T12:30"),
                ("ends_at", "2026-11-26T13:30"),
                ("attendees", "ada@example.com"),
                ("location", "Deli"),
            ],
        )
        .await
        .expect(303);
    assert_eq!(added.header("location"), "/crm/calendar?week=2026-11-26");
    let events = c.get("/api/v1/crm/events").await.json_ok();
    assert_eq!(
        events[0]["starts_at"], "2026-11-26T17:30:00.000Z",
        "12:30 in New York"
    );
    assert_eq!(events[0]["contacts"][0]["display_name"], "Ada");
    let week = c.get("/crm/calendar?week=2026-11-26").await.text;
    assert!(
        week.contains("Lunch with Ada") && week.contains("Thursday 26 November"),
        "{week}"
    );
    // An all-day event typed with the date-time picker keeps only its date: one day.
    c.form(
        "/crm/calendar",
        &[
            ("title", "Ada's birthday"),
            ("starts_at", "2026-11-28T23:30"),
            ("ends_at", ""),
            ("all_day", "on"),
        ],
    )
    .await
    .expect(303);
    let week = c.get("/crm/calendar?week=2026-11-26").await.text;
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
        .form("/crm/calendar", &[("title", ""), ("starts_at", "soon")])
        .await
        .expect(422);
    assert!(
        invalid.text.contains("is required") && invalid.text.contains("must be a time"),
        "{}",
        invalid.text
    );
    let dashboard = c.get("/crm").await.text;
    assert!(
        dashboard.contains("Lunch with Ada"),
        "upcoming on the dashboard"
    );
}

/// Import from the page, then delete from the page.
async fn calendar_page_imports_and_deletes(c: &Api<'_>) {
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:page-1\r\nDTSTART:20261127T150000Z\r\nDTEND:20261127T160000Z\r\nSUMMARY:Imported talk\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text(ics).file_name("talk.ics"),
    );
    let imported = c.multipart("/crm/calendar/import", form).await.expect(200);
    assert!(
        imported
            .text
            .contains("Imported 1 events (1 new, 0 updated).")
    );
    let talk = c
        .list("/api/v1/crm/events")
        .await
        .into_iter()
        .find(|e| e["title"] == "Imported talk")
        .unwrap();
    c.form(
        &format!("/crm/events/{}/delete", talk["id"]),
        &[("back", "/crm/calendar")],
    )
    .await
    .expect(303);
    assert_eq!(
        c.list("/api/v1/crm/events").await.len(),
        2,
        "the lunch and the birthday are left"
    );
}

/// Goals: create from the page (an inline error first), the chart is drawn, delete.
async fn goals_page_creates_charts_and_deletes(c: &Api<'_>) {
    let bad = c
        .form(
            "/crm/goals",
            &[
                ("title", "Talk more"),
                ("kind", "interactions"),
                ("period", "week"),
                ("target", ""),
            ],
        )
        .await
        .expect(422);
    assert!(bad.text.contains("must be between 1 and 10000"));
    c.form(
        "/crm/goals",
        &[
            ("title", "Talk more"),
            ("kind", "interactions"),
            ("period", "week"),
            ("target", "3"),
            ("interaction_kind", ""),
            ("stage", ""),
            ("tag", ""),
        ],
    )
    .await
    .expect(303);
    let goals_page = c.get("/crm/goals").await.text;
    assert!(
        goals_page.contains("<svg class=\"chart\"") && goals_page.contains("0 of 3"),
        "{goals_page}"
    );
    let dashboard = c.get("/crm").await.text;
    assert!(dashboard.contains("aria-label=\"Goal progress this period\""));
    let goal = c.get("/api/v1/crm/goals").await.json_ok()[0]["id"]
        .as_i64()
        .unwrap();
    c.post(&format!("/crm/goals/{goal}/delete"), None)
        .await
        .expect(303);
    assert_eq!(c.get("/api/v1/crm/goals").await.json_ok(), json!([]));
}

async fn account_export_zip_holds_everything_and_only_yours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let ada = c.create_contact(json!({
        "given_name": "Ada", "family_name": "Lovelace", "emails": [{"value": "ada@example.com", "label": "home"}], "tags": ["math"], "notes": "Line one\nline two"
    }))
    .await;
    let bo = c
        .create_contact(json!({"given_name": "Bo", "phones": [{"value": "+1 555 0100"}]}))
        .await;
    for (summary, contacts) in [
        ("first", json!([ada])),
        ("second", json!([ada, bo])),
        ("third", json!([bo])),
    ] {
        c.log_interaction(json!({"kind": "call", "summary": summary, "contact_ids": contacts}))
            .await;
    }
    c.create_task(
        json!({"title": "Send the paper", "due_at": "2026-12-01T09:00:00Z", "contact_ids": [ada]}),
    )
    .await;
    c.create_goal(json!({"title": "Calls", "kind": "interactions", "period": "week", "target": 2}))
        .await;
    c.create_event(json!({"title": "Tea", "starts_at": "2026-12-02T15:00:00Z", "attendees": ["ada@example.com"]})).await;
    c.put(
        "/api/v1/crm/settings",
        json!({"time_zone": "Europe/London"}),
    )
    .await;

    let mut archive = crm_export(&app, &app.client).await;
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
    let mut json_entry =
        |name: &str| serde_json::from_str::<Value>(&zip_entry(&mut archive, name)).unwrap();
    let contacts = json_entry("contacts.json");
    assert_eq!(contacts.as_array().unwrap().len(), 2);
    assert_eq!(contacts[0]["tags"], json!(["math"]));
    assert_eq!(contacts[0]["notes"], "Line one\nline two");
    assert_eq!(
        contacts[0]["emails"],
        json!([{"value": "ada@example.com", "label": "home"}])
    );
    let interactions = json_entry("interactions.json");
    assert_eq!(interactions.as_array().unwrap().len(), 3);
    assert_eq!(interactions[1]["summary"], "second");
    assert_eq!(interactions[1]["contact_ids"], json!([ada, bo]));
    assert!(
        interactions[1]["occurred_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let tasks = json_entry("tasks.json");
    assert_eq!(
        (tasks[0]["title"].as_str(), tasks[0]["due_at"].as_str()),
        (Some("Send the paper"), Some("2026-12-01T09:00:00.000Z"))
    );
    assert_eq!(tasks[0]["contact_ids"], json!([ada]));
    assert_eq!(json_entry("goals.json")[0]["title"], "Calls");
    assert_eq!(
        json_entry("events.json")[0]["attendees"],
        json!(["ada@example.com"])
    );
    assert_eq!(json_entry("settings.json")["time_zone"], "Europe/London");
    assert_eq!(json_entry("profile.json")["email"], "admin@example.com");
    let csv = zip_entry(&mut archive, "contacts.csv");
    assert_eq!(
        csv::Reader::from_reader(csv.as_bytes()).records().count(),
        2
    );
    let vcf = zip_entry(&mut archive, "contacts.vcf");
    assert_eq!(vcf.matches("BEGIN:VCARD").count(), 2);

    // The files import back: contacts and events into another account.
    let (_, bob_client) = app.member("bob@example.com").await;
    let bob = app.api(&bob_client);
    bob.post_body("/api/v1/crm/import/vcard", vcf)
        .await
        .expect(200);
    let ics = zip_entry(&mut archive, "events.ics");
    bob.post_body("/api/v1/crm/import/ics", ics)
        .await
        .expect(200);
    // And Bob's own export holds only his data.
    let mut theirs = crm_export(&app, &bob_client).await;
    let contacts: Value = serde_json::from_str(&zip_entry(&mut theirs, "contacts.json")).unwrap();
    assert_eq!(contacts.as_array().unwrap().len(), 2);
    assert_eq!(zip_entry(&mut theirs, "interactions.json").trim(), "[]");
    assert_eq!(zip_entry(&mut theirs, "tasks.json").trim(), "[]");
    let profile: Value = serde_json::from_str(&zip_entry(&mut theirs, "profile.json")).unwrap();
    assert_eq!(profile["email"], "bob@example.com");
    app.stop().await;
}
