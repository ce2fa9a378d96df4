//! MindfulCRM pages over HTTP on SQLite and PostgreSQL: an event edited from its own page
//! (times in the user's zone, the all-day switch, field errors, other users' events not
//! found), a mirrored event shown but not offered for editing, and the goal chart's axis
//! naming the years it spans.

mod common;

use std::time::Duration;

use common::{Answer, Api, Backend, TestApp, eventually, get, post};
use keel_platform::domain::Timestamp;
use serde_json::{Value, json};

on_both_backends!(
    events_are_edited_from_their_page,
    another_users_event_is_not_found,
    mirrored_events_are_shown_not_edited,
    goal_chart_names_the_years_it_spans,
);

/// Posts a form the way a browser without JavaScript does.
async fn submit(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String, String) {
    let answer = app.api(client).form(path, form).await;
    let location = answer
        .headers
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (answer.status, location, answer.text)
}

async fn in_new_york(app: &TestApp) {
    let (status, _, body) = submit(
        app,
        &app.client,
        "/crm/settings",
        &[
            ("time_zone", "America/New_York"),
            ("digest_hour", "7"),
            ("default_cadence_days", ""),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
}

async fn events_are_edited_from_their_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    app.clock
        .set(Timestamp::parse_rfc3339("2026-11-25T12:00:00Z").unwrap());
    in_new_york(&app).await;
    c.create_contact(json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}))
        .await;
    let event = c.create_event(json!({
        "title": "Lunch with Ada", "starts_at": "2026-11-26T17:30:00Z", "ends_at": "2026-11-26T18:30:00Z",
        "attendees": ["ada@example.com"], "location": "Deli"
    }))
    .await;
    let id = event["id"].as_i64().unwrap();
    let page = EventPage {
        api: &c,
        path: format!("/crm/events/{id}"),
        id,
    };
    page.shows_the_event_in_the_users_zone().await;
    page.names_a_wrong_field_and_saves_nothing().await;
    page.saves_title_and_times(&event).await;
    page.takes_only_the_dates_of_an_all_day_event().await;
    page.turns_back_into_a_timed_event().await;
    app.stop().await;
}

/// One event's page, and the event through the API.
struct EventPage<'a> {
    api: &'a Api<'a>,
    path: String,
    id: i64,
}

impl EventPage<'_> {
    async fn saved(&self) -> Value {
        self.api
            .get(&format!("/api/v1/crm/events/{}", self.id))
            .await
            .json_ok()
    }

    async fn submit(&self, fields: &[(&str, &str)]) -> Answer {
        self.api.form(&self.path, fields).await
    }

    /// The week links to the event's page; its form shows the times in the user's zone
    /// (12:30 in New York).
    async fn shows_the_event_in_the_users_zone(&self) {
        let path = &self.path;
        let week = self.api.get("/crm/calendar?week=2026-11-26").await.text;
        assert!(
            week.contains(&format!(
                "<a href=\"{path}\" aria-label=\"Edit “Lunch with Ada”\">Edit</a>"
            )),
            "{week}"
        );
        let page = self.api.get(path).await.text;
        for expected in [
            format!("action=\"{path}\""),
            "value=\"Lunch with Ada\"".into(),
            "type=\"datetime-local\" value=\"2026-11-26T12:30\"".into(),
            "type=\"datetime-local\" value=\"2026-11-26T13:30\"".into(),
            "value=\"ada@example.com\"".into(),
            "value=\"Deli\"".into(),
            "href=\"/crm/calendar?week=2026-11-26\"".into(),
            "data-time-zone=\"America/New_York\"".into(),
        ] {
            assert!(page.contains(&expected), "{expected} in {page}");
        }
        assert!(!page.contains("name=\"all_day\" data-date-only=\"#starts_at, #ends_at\" checked"));
    }

    /// A wrong field: 422, the form again with what was typed and the message by the field.
    async fn names_a_wrong_field_and_saves_nothing(&self) {
        let text = self
            .submit(&[
                ("title", "Dinner with Ada"),
                ("starts_at", "tomorrow evening"),
                ("ends_at", ""),
            ])
            .await
            .expect(422)
            .text;
        assert!(
            text.contains("value=\"Dinner with Ada\"")
                && text.contains("aria-describedby=\"starts_at-error\"")
                && text.contains("<p class=\"error\" id=\"starts_at-error\">must be a time"),
            "{text}"
        );
        let text = self
            .submit(&[
                ("title", "Dinner with Ada"),
                ("starts_at", "2026-11-27T19:00"),
                ("ends_at", "2026-11-27T18:00"),
            ])
            .await
            .expect(422)
            .text;
        assert!(
            text.contains("<p class=\"error\" id=\"ends_at-error\">must not be before the start"),
            "{text}"
        );
        assert_eq!(self.saved().await["title"], "Lunch with Ada");
    }

    /// Title and times changed: back to the event's week, which lists the new title.
    async fn saves_title_and_times(&self, event: &Value) {
        let saved = self
            .submit(&[
                ("title", "Dinner with Ada"),
                ("starts_at", "2026-11-27T19:00"),
                ("ends_at", "2026-11-27T21:00"),
                ("location", "Bistro"),
                ("attendees", "ada@example.com"),
                ("description", ""),
            ])
            .await
            .expect(303);
        let location = saved.header("location");
        assert_eq!(location, "/crm/calendar?week=2026-11-27&done=event-saved");
        let week = self.api.get(location).await.text;
        assert!(
            week.contains("Event saved.")
                && week.contains("<strong>Dinner with Ada</strong>")
                && !week.contains("Lunch with Ada"),
            "{week}"
        );
        let saved = self.saved().await;
        assert_eq!(saved["title"], "Dinner with Ada");
        assert_eq!(
            saved["starts_at"], "2026-11-28T00:00:00.000Z",
            "19:00 in New York"
        );
        assert_eq!(saved["ends_at"], "2026-11-28T02:00:00.000Z");
        assert_eq!(saved["location"], "Bistro");
        assert_eq!(saved["uid"], event["uid"], "the same event, not a new one");
        assert_eq!(saved["contacts"][0]["display_name"], "Ada");
    }

    /// All day, as a browser without JavaScript sends it (date-time pickers): only the dates
    /// count, the last one inclusive.
    async fn takes_only_the_dates_of_an_all_day_event(&self) {
        let saved = self
            .submit(&[
                ("title", "Trip with Ada"),
                ("all_day", "on"),
                ("starts_at", "2026-11-30T09:00"),
                ("ends_at", "2026-12-01T09:00"),
                ("attendees", ""),
            ])
            .await
            .expect(303);
        assert_eq!(
            saved.header("location"),
            "/crm/calendar?week=2026-11-30&done=event-saved"
        );
        let trip = self.saved().await;
        assert_eq!(trip["all_day"], true);
        assert_eq!(trip["starts_at"], "2026-11-30T00:00:00.000Z");
        assert_eq!(trip["ends_at"], "2026-12-02T00:00:00.000Z");
        assert_eq!(
            trip["attendees"],
            json!([]),
            "the emptied field cleared them"
        );
        let week = self.api.get("/crm/calendar?week=2026-11-30").await.text;
        assert_eq!(
            week.matches("<strong>Trip with Ada</strong>").count(),
            2,
            "two days"
        );
        let page = self.api.get(&self.path).await.text;
        assert!(
            page.contains("type=\"date\" value=\"2026-11-30\"")
                && page.contains("type=\"date\" value=\"2026-12-01\"")
                && page.contains("data-date-only=\"#starts_at, #ends_at\" checked"),
            "date pickers with the dates: {page}"
        );
    }

    /// And back to a timed event: the box unticked, the end left to its default hour.
    async fn turns_back_into_a_timed_event(&self) {
        self.submit(&[
            ("title", "Trip with Ada"),
            ("starts_at", "2026-11-30T09:00"),
            ("ends_at", ""),
        ])
        .await
        .expect(303);
        let timed = self.saved().await;
        assert_eq!(timed["all_day"], false);
        assert_eq!(timed["starts_at"], "2026-11-30T14:00:00.000Z");
        assert_eq!(timed["ends_at"], "2026-11-30T15:00:00.000Z");
    }
}

async fn another_users_event_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let event = post(
        &app,
        c,
        "/api/v1/crm/events",
        json!({"title": "Private", "starts_at": "2030-01-02T10:00:00Z"}),
    )
    .await;
    let id = event["id"].as_i64().unwrap();
    let (_, bob) = app.member("bob@example.com").await;
    let path = format!("/crm/events/{id}");
    let page = app.api(&bob).get(&path).await.expect(404);
    assert!(!page.text.contains("Private"));
    let (status, _, _) = submit(
        &app,
        &bob,
        &path,
        &[("title", "Mine now"), ("starts_at", "2030-01-02T11:00")],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = submit(&app, &bob, &path, &[("title", ""), ("starts_at", "x")]).await;
    assert_eq!(status, 404, "not found before the form is read");
    app.api(&bob).get("/crm/events/999999").await.expect(404);
    let kept = get(&app, c, &format!("/api/v1/crm/events/{id}")).await;
    assert_eq!(kept["title"], "Private");
    assert_eq!(kept["starts_at"], event["starts_at"]);
    app.stop().await;
}

/// An iCalendar feed on loopback serving `body`.
async fn serve_feed(body: String) -> String {
    let app = axum::Router::new().route(
        "/feed.ics",
        axum::routing::get(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/feed.ics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn mirrored_events_are_shown_not_edited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    app.clock
        .set(Timestamp::parse_rfc3339("2026-11-25T12:00:00Z").unwrap());
    post(
        &app,
        c,
        "/api/v1/crm/events",
        json!({"title": "Typed in", "starts_at": "2026-11-26T09:00:00Z"}),
    )
    .await;
    let url = serve_feed(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:standup@x\r\n\
         DTSTAMP:20261125T120000Z\r\nDTSTART:20261126T150000Z\r\nDTEND:20261126T153000Z\r\n\
         SUMMARY:Team standup\r\nLOCATION:Room 4\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            .into(),
    )
    .await;
    post(
        &app,
        c,
        "/api/v1/crm/calendar-feeds",
        json!({"name": "Work", "url": url}),
    )
    .await;
    let standup = eventually(Duration::from_secs(30), || async {
        get(&app, c, "/api/v1/crm/events")
            .await
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["title"] == "Team standup")
            .cloned()
    })
    .await
    .expect("the feed was read");
    let id = standup["id"].as_i64().unwrap();
    let path = format!("/crm/events/{id}");

    let week = app.page_text(c, "/crm/calendar?week=2026-11-26").await;
    assert!(
        week.contains(&format!(
            "<span class=\"badge\">synced</span> <a href=\"{path}\" aria-label=\"Details of “Team standup”\">Details</a>"
        )) && !week.contains("aria-label=\"Edit “Team standup”\""),
        "{week}"
    );
    assert!(
        week.contains("aria-label=\"Edit “Typed in”\""),
        "events typed in stay editable"
    );
    let page = app.admin_api().page(&path).await;
    assert!(
        page.contains("mirrored from your calendar subscription “Work”")
            && page.contains("change it in that calendar")
            && page.contains("Room 4")
            && !page.contains(&format!("action=\"{path}\"")),
        "{page}"
    );
    // Changing it anyway, by form or API, is refused: the next sync would undo it.
    let problem = app
        .admin_api()
        .put(
            &format!("/api/v1/crm/events/{id}"),
            json!({"title": "Renamed", "starts_at": "2026-03-02T09:00:00Z"}),
        )
        .await
        .expect(409)
        .body;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("change it in that calendar"),
        "{problem}"
    );
    app.stop().await;
}

/// The axis labels of the chart in `page`, as their text reads (year lines included).
fn ticks(page: &str) -> Vec<String> {
    page.split("<text class=\"axis\"")
        .skip(1)
        .map(|rest| {
            let inner = &rest[rest.find('>').unwrap() + 1..rest.find("</text>").unwrap()];
            let mut text = String::new();
            let mut in_tag = false;
            for ch in inner.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    _ if !in_tag => text.push(ch),
                    _ => {}
                }
            }
            text
        })
        .collect()
}

/// The chart of the goal titled `title` in `page`.
fn chart<'a>(page: &'a str, title: &str) -> &'a str {
    page.split("<svg class=\"chart\"")
        .skip(1)
        .map(|s| &s[..s.find("</svg>").unwrap()])
        .find(|s| s.contains(&format!("aria-label=\"{title}:")))
        .unwrap_or_else(|| panic!("no chart of {title} in {page}"))
}

/// The number in the first `name="…"` attribute of `svg`.
fn number(svg: &str, name: &str) -> f64 {
    let start = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
    svg[start..start + svg[start..].find('"').unwrap()]
        .parse()
        .unwrap()
}

/// Every text of the chart lies inside its picture, at 7px a character of 11px text.
fn assert_labels_fit(svg: &str) {
    let view: Vec<f64> = {
        let start = svg.find("viewBox=\"").unwrap() + 9;
        svg[start..start + svg[start..].find('"').unwrap()]
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect()
    };
    let (width, height) = (view[2], view[3]);
    for text in svg.split("<text").skip(1) {
        let x = number(text, "x");
        let y = number(text, "y");
        let line = &text[text.find('>').unwrap() + 1..];
        let line = &line[..line.find(['<']).unwrap()];
        let half = line.trim().chars().count() as f64 * 3.5;
        assert!(
            x - half >= 0.0 && x + half <= width,
            "{line:?} at x {x} in {width}"
        );
        let last_line = if text[..text.find("</text>").unwrap()].contains("<tspan") {
            y + number(text, "dy")
        } else {
            y
        };
        assert!(
            y >= 10.0 && last_line + 3.0 <= height,
            "{line:?} at y {y} in {height}"
        );
    }
}

async fn goal_chart_names_the_years_it_spans(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    // A Wednesday in January: the weeks and months shown reach back into 2025.
    app.clock
        .set(Timestamp::parse_rfc3339("2026-01-14T12:00:00Z").unwrap());
    let contact = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Cleo"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    for when in ["2025-12-30T10:00:00Z", "2026-01-13T10:00:00Z"] {
        post(
            &app,
            c,
            "/api/v1/crm/interactions",
            json!({"kind": "call", "occurred_at": when, "summary": "x", "contact_ids": [contact]}),
        )
        .await;
    }
    post(
        &app,
        c,
        "/api/v1/crm/goals",
        json!({"title": "Talk weekly", "kind": "interactions", "period": "week", "target": 3}),
    )
    .await;
    post(
        &app,
        c,
        "/api/v1/crm/goals",
        json!({"title": "Talk monthly", "kind": "interactions", "period": "month", "target": 4}),
    )
    .await;
    let page = app.page_text(c, "/crm/goals").await;
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 2, "{page}");
    let weekly = chart(&page, "Talk weekly");
    let monthly = chart(&page, "Talk monthly");
    assert_eq!(
        ticks(weekly),
        [
            "24 Nov 2025",
            "1 Dec",
            "8 Dec",
            "15 Dec",
            "22 Dec",
            "29 Dec",
            "5 Jan 2026",
            "12 Jan"
        ]
    );
    assert_eq!(
        ticks(monthly),
        [
            "Jun 2025", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan 2026"
        ]
    );
    assert!(
        monthly.contains(
            "aria-label=\"Talk monthly: progress per month, Jun 2025 to Jan 2026\"><title>Talk monthly: progress per month, Jun 2025 to Jan 2026</title>"
        ),
        "{monthly}"
    );
    assert!(
        weekly.contains("<title>2025-12-29: 1 of 3</title>"),
        "{weekly}"
    );
    assert_labels_fit(weekly);
    assert_labels_fit(monthly);

    // Within one year no tick names it.
    app.clock
        .set(Timestamp::parse_rfc3339("2026-11-25T12:00:00Z").unwrap());
    let page = app.page_text(c, "/crm/goals").await;
    let monthly = chart(&page, "Talk monthly");
    assert_eq!(
        ticks(monthly),
        ["Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov"]
    );
    assert_labels_fit(monthly);
    app.stop().await;
}
