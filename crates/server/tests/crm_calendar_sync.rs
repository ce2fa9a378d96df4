//! MindfulCRM calendar sync over HTTP, on SQLite and PostgreSQL. Calendar feeds served by the
//! test: conditional GET, changes mirrored, broken and oversized feeds, privacy, the address
//! guard. CalDAV against a real Radicale: discovery, sync tokens, changes and deletions,
//! calendar selection, privacy; recurring events expanded, changed and moved along with today.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::radicale::Radicale;
use common::{Backend, TestApp, crm_contact, crm_timeline, eventually, get, post, send};
use serde_json::{Value, json};

on_both_backends!(
    calendar_feeds_mirror_changes_with_conditional_get,
    caldav_calendars_are_discovered_and_mirrored_incrementally,
    recurring_events_are_expanded_and_follow_the_window,
);

/// An iCalendar feed on loopback: serves `body` with an ETag, answers 304 to a matching
/// If-None-Match, and records the If-None-Match of every request.
struct Feed {
    url: String,
    body: Arc<std::sync::Mutex<String>>,
    seen: Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

impl Feed {
    async fn start(body: String) -> Self {
        let body = Arc::new(std::sync::Mutex::new(body));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (serve, log) = (body.clone(), seen.clone());
        let app = axum::Router::new().route(
            "/secret/basic.ics",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let (serve, log) = (serve.clone(), log.clone());
                async move {
                    let text = serve.lock().unwrap().clone();
                    let etag = format!("\"{}\"", text.len());
                    let asked = headers
                        .get("if-none-match")
                        .map(|v| v.to_str().unwrap().to_string());
                    log.lock().unwrap().push(asked.clone());
                    if asked.as_deref() == Some(etag.as_str()) {
                        return (
                            axum::http::StatusCode::NOT_MODIFIED,
                            [("etag", etag)],
                            String::new(),
                        );
                    }
                    (axum::http::StatusCode::OK, [("etag", etag)], text)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/secret/basic.ics", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, body, seen }
    }
}

fn ics_event(uid: &str, title: &str, start: jiff::Timestamp, attendee: &str) -> String {
    let fmt = |t: jiff::Timestamp| t.strftime("%Y%m%dT%H%M%SZ").to_string();
    format!(
        "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{s}\r\nDTSTART:{s}\r\nDTEND:{e}\r\nSUMMARY:{title}\r\nATTENDEE:mailto:{attendee}\r\nEND:VEVENT\r\n",
        s = fmt(start),
        e = fmt(start + jiff::SignedDuration::from_hours(1)),
    )
}

fn ics(events: &[String]) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{}END:VCALENDAR\r\n",
        events.concat()
    )
}

/// Waits until the feed's refresh after the state `before` ended.
async fn refreshed(app: &TestApp, client: &reqwest::Client, before: &Value) -> Value {
    let path = format!("/api/v1/crm/calendar-feeds/{}", before["id"]);
    let done = eventually(Duration::from_secs(30), || async {
        let feed = get(app, client, &path).await;
        (feed["state"] != "new" && feed["next_sync_at"] != before["next_sync_at"]).then_some(feed)
    })
    .await;
    done.unwrap_or_else(|| panic!("feed {path} was not refreshed"))
}

async fn refresh(app: &TestApp, client: &reqwest::Client, feed: &Value) -> Value {
    app.clock.advance(Duration::from_secs(1));
    let path = format!("/api/v1/crm/calendar-feeds/{}/refresh", feed["id"]);
    let (status, _) = send(client, app, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 202);
    refreshed(app, client, feed).await
}

async fn calendar_feeds_mirror_changes_with_conditional_get(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = crm_contact(&app, c, "Ada", "ada@example.com").await;
    let now = jiff::Timestamp::from_millisecond(app.platform.now().as_millis()).unwrap();
    let day = jiff::SignedDuration::from_hours(24);
    let past = ics_event("past@x", "Coffee", now - day, "ADA@example.com");
    let future = ics_event("future@x", "Planning", now + day, "ada@example.com");
    let feed_server = Feed::start(ics(&[past.clone(), future])).await;

    let feed = post(
        &app,
        c,
        "/api/v1/crm/calendar-feeds",
        json!({"name": "Work", "url": feed_server.url}),
    )
    .await;
    assert_eq!(feed["host"], "127.0.0.1");
    assert!(feed.get("url").is_none(), "the secret address is not shown");
    let feed = refreshed(&app, c, &feed).await;
    assert_eq!(feed["state"], "ok", "{feed}");
    assert_eq!(feed["events"], 2);
    let from = (now - day * 7).to_string();
    let events = get(&app, c, &format!("/api/v1/crm/events?from={from}")).await;
    let titles: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Coffee", "Planning"]);
    assert_eq!(events[0]["contacts"][0]["id"], ada, "attendee matched");
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    let items = crm_timeline(&app, c, ada).await;
    assert_eq!(items.len(), 1, "the past meeting is on the timeline");
    assert_eq!(items[0]["kind"], "meeting");

    // Unchanged: the second request is conditional and answered 304.
    let feed = refresh(&app, c, &feed).await;
    assert_eq!(feed["state"], "ok");
    let seen = feed_server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].is_some(), "If-None-Match was sent: {seen:?}");

    // Changed: a renamed event changes, a removed one vanishes; the interaction stays.
    *feed_server.body.lock().unwrap() = ics(&[ics_event(
        "future@x",
        "Planning (moved)",
        now + day * 2,
        "ada@example.com",
    )]);
    let feed = refresh(&app, c, &feed).await;
    assert_eq!(feed["events"], 1, "{feed}");
    let events = get(&app, c, &format!("/api/v1/crm/events?from={from}")).await;
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["title"], "Planning (moved)");
    assert_eq!(crm_timeline(&app, c, ada).await.len(), 1);

    // Broken or oversized feeds get a clear error; the events already read stay.
    *feed_server.body.lock().unwrap() = "<html>Sign in</html>".into();
    let feed = refresh(&app, c, &feed).await;
    assert_eq!(feed["state"], "error");
    assert!(
        feed["error"].as_str().unwrap().contains("iCalendar"),
        "{feed}"
    );
    *feed_server.body.lock().unwrap() = format!("BEGIN:VCALENDAR\r\n{}", "X".repeat(21_000_000));
    let feed = refresh(&app, c, &feed).await;
    assert!(
        feed["error"].as_str().unwrap().contains("larger than"),
        "{feed}"
    );
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/events?from={from}"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Another user cannot see or touch it; unsubscribing removes its events.
    let (_, other) = app.member("other@example.com").await;
    assert_eq!(
        get(&app, &other, "/api/v1/crm/calendar-feeds").await,
        json!([])
    );
    let path = format!("/api/v1/crm/calendar-feeds/{}", feed["id"]);
    let (status, _) = send(&other, &app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
    let page = app.page_text(c, "/crm/settings/accounts").await;
    assert!(page.contains("Calendar subscriptions") && page.contains("Work"));
    assert!(
        !page.contains("/secret/basic.ics"),
        "the secret address stays secret"
    );
    let (status, _) = send(c, &app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/events?from={from}")).await,
        json!([])
    );
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/calendar-feeds",
        Some(json!({"name": "", "url": "ftp://example.com/x.ics"})),
    )
    .await;
    assert_eq!(status, 422);
    let mut fields = common::field_names(&problem);
    fields.sort();
    assert_eq!(fields, ["name", "url"]);
    app.stop().await;

    // Without the operator's permission, a loopback feed is refused when entered.
    let guarded =
        TestApp::spawn_with(backend, |s| s.outbound_allowed_networks = String::new()).await;
    guarded.setup_admin().await;
    let (status, problem) = send(
        &guarded.client,
        &guarded,
        reqwest::Method::POST,
        "/api/v1/crm/calendar-feeds",
        Some(json!({"name": "Home", "url": feed_server.url})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(common::field_names(&problem), ["url"]);
    guarded.stop().await;
}

/// Waits until the CalDAV account's sync after the state `before` ended.
async fn caldav_synced(app: &TestApp, client: &reqwest::Client, before: &Value) -> Value {
    let path = format!("/api/v1/crm/caldav-accounts/{}", before["id"]);
    let done = eventually(Duration::from_secs(30), || async {
        let now = get(app, client, &path).await;
        (now["state"] != "new" && now["next_sync_at"] != before["next_sync_at"]).then_some(now)
    })
    .await;
    done.unwrap_or_else(|| panic!("no CalDAV sync finished: {before}"))
}

/// Asks for a CalDAV sync at once and waits until it ended.
async fn sync_now(app: &TestApp, path: &str, before: &Value) -> Value {
    let (status, _) = send(
        &app.client,
        app,
        reqwest::Method::POST,
        &format!("{path}/sync"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    caldav_synced(app, &app.client, before).await
}

fn vcalendar(event: &str) -> String {
    ics(&[event.to_string()])
}

async fn caldav_calendars_are_discovered_and_mirrored_incrementally(backend: Backend) {
    let alice = ("alice", "pw");
    let Some(dav) = Radicale::start(&[alice, ("bob", "pw")]) else {
        return;
    };
    dav.wait_ready().await;
    dav.make_calendar(alice, "alice/work/", "Work").await;
    dav.make_calendar(alice, "alice/home/", "Home").await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = crm_contact(&app, c, "Ada", "ada@example.com").await;
    let now = jiff::Timestamp::from_millisecond(app.platform.now().as_millis()).unwrap();
    let day = jiff::SignedDuration::from_hours(24);
    let put = |path: &'static str, body: String| {
        let dav = &dav;
        async move {
            assert!(
                matches!(dav.call("PUT", path, alice, &body).await, 201 | 204),
                "PUT {path}"
            )
        }
    };
    put(
        "alice/work/coffee.ics",
        vcalendar(&ics_event(
            "coffee@x",
            "Coffee",
            now - day,
            "ada@example.com",
        )),
    )
    .await;
    put(
        "alice/work/plan.ics",
        vcalendar(&ics_event(
            "plan@x",
            "Planning",
            now + day,
            "ada@example.com",
        )),
    )
    .await;
    put(
        "alice/home/party.ics",
        vcalendar(&ics_event(
            "party@x",
            "Party",
            now + day + jiff::SignedDuration::from_hours(1),
            "bob@example.com",
        )),
    )
    .await;

    // Discovery finds both calendars; a wrong password or a non-CalDAV address is named.
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/caldav-accounts",
        Some(json!({"url": dav.url, "username": "alice", "password": "wrong"})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(common::field_names(&problem), ["password"]);
    let not_dav = Feed::start("hello".into()).await;
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/caldav-accounts",
        Some(json!({"url": not_dav.url, "username": "alice", "password": "pw"})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(common::field_names(&problem), ["url"]);
    let account = post(
        &app,
        c,
        "/api/v1/crm/caldav-accounts",
        json!({"url": dav.url, "username": "alice", "password": "pw"}),
    )
    .await;
    let names: Vec<&str> = account["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Home", "Work"]);
    assert!(account.get("password").is_none());
    let path = format!("/api/v1/crm/caldav-accounts/{}", account["id"]);
    let account = caldav_synced(&app, c, &account).await;
    assert_eq!(account["state"], "ok", "{account}");
    let from = (now - day * 7).to_string();
    let titles = |events: Value| -> Vec<String> {
        events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        titles(get(&app, c, &format!("/api/v1/crm/events?from={from}")).await),
        ["Coffee", "Planning", "Party"]
    );
    let tokens: Vec<Option<String>> =
        sqlx::query_scalar("SELECT sync_token FROM crm_caldav_calendars ORDER BY id")
            .fetch_all(app.platform.db.pool())
            .await
            .unwrap();
    assert!(
        tokens.iter().all(Option::is_some),
        "a sync token is kept: {tokens:?}"
    );
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    assert_eq!(
        crm_timeline(&app, c, ada).await.len(),
        1,
        "the past meeting is on the timeline"
    );

    // Changed, deleted and created on the server: the next sync asks with the token.
    put(
        "alice/work/plan.ics",
        vcalendar(&ics_event(
            "plan@x",
            "Planning (moved)",
            now + day * 2,
            "ada@example.com",
        )),
    )
    .await;
    assert_eq!(
        dav.call("DELETE", "alice/work/coffee.ics", alice, "").await,
        200
    );
    put(
        "alice/work/review.ics",
        vcalendar(&ics_event(
            "review@x",
            "Review",
            now + day * 3,
            "ada@example.com",
        )),
    )
    .await;
    app.clock.advance(Duration::from_secs(1));
    let account = sync_now(&app, &path, &account).await;
    assert_eq!(account["state"], "ok", "{account}");
    assert_eq!(
        titles(get(&app, c, &format!("/api/v1/crm/events?from={from}")).await),
        ["Party", "Planning (moved)", "Review"]
    );
    let after: Vec<Option<String>> =
        sqlx::query_scalar("SELECT sync_token FROM crm_caldav_calendars ORDER BY id")
            .fetch_all(app.platform.db.pool())
            .await
            .unwrap();
    assert_ne!(after, tokens, "the work calendar's token moved on");
    assert_eq!(
        crm_timeline(&app, c, ada).await.len(),
        1,
        "the interaction stays"
    );

    // Deselecting a calendar removes its events; another user sees nothing; removal cleans up.
    let work = account["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Work")
        .unwrap()["id"]
        .clone();
    let (status, account) = send(
        c,
        &app,
        reqwest::Method::PUT,
        &format!("{path}/calendars"),
        Some(json!({"selected": [work]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(account["calendars"][0]["selected"], false);
    assert_eq!(
        titles(get(&app, c, &format!("/api/v1/crm/events?from={from}")).await),
        ["Planning (moved)", "Review"]
    );
    let (_, other) = app.member("other@example.com").await;
    assert_eq!(
        get(&app, &other, "/api/v1/crm/caldav-accounts").await,
        json!([])
    );
    let (status, _) = send(&other, &app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
    let (status, _) = send(c, &app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/events?from={from}")).await,
        json!([])
    );
    app.stop().await;
}

/// A weekly series starting two weeks ago, without next week's occurrence and with the one
/// after moved an hour later.
fn weekly_series(start: jiff::Timestamp, exdates: &[jiff::Timestamp]) -> String {
    let stamp = |t: jiff::Timestamp| t.strftime("%Y%m%dT%H%M%SZ").to_string();
    let week = jiff::SignedDuration::from_hours(24 * 7);
    let moved = start + week * 4;
    let mut series = format!(
        "BEGIN:VEVENT\r\nUID:standup@x\r\nDTSTAMP:{s}\r\nDTSTART:{s}\r\nDURATION:PT30M\r\n\
         RRULE:FREQ=WEEKLY\r\nSUMMARY:Stand-up\r\nATTENDEE:mailto:ada@example.com\r\n",
        s = stamp(start)
    );
    for exdate in exdates {
        series.push_str(&format!("EXDATE:{}\r\n", stamp(*exdate)));
    }
    series.push_str("END:VEVENT\r\n");
    let instance = format!(
        "BEGIN:VEVENT\r\nUID:standup@x\r\nDTSTAMP:{s}\r\nRECURRENCE-ID:{s}\r\nDTSTART:{m}\r\n\
         DURATION:PT30M\r\nSUMMARY:Stand-up (moved)\r\nATTENDEE:mailto:ada@example.com\r\nEND:VEVENT\r\n",
        s = stamp(moved),
        m = stamp(moved + jiff::SignedDuration::from_hours(1)),
    );
    ics(&[series, instance])
}

/// Events of the 30 days from `from`: title and start in hours from `now`.
async fn month(app: &TestApp, now: jiff::Timestamp, from: jiff::Timestamp) -> Vec<String> {
    let to = from + jiff::SignedDuration::from_hours(24 * 30);
    let events = get(
        app,
        &app.client,
        &format!("/api/v1/crm/events?from={from}&to={to}"),
    )
    .await;
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let at: jiff::Timestamp = e["starts_at"].as_str().unwrap().parse().unwrap();
            let offset = (at - now).as_hours();
            format!("{} {offset}h", e["title"].as_str().unwrap())
        })
        .collect()
}

async fn recurring_events_are_expanded_and_follow_the_window(backend: Backend) {
    let alice = ("alice", "pw");
    let Some(dav) = Radicale::start(&[alice]) else {
        return;
    };
    dav.wait_ready().await;
    dav.make_calendar(alice, "alice/work/", "Work").await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = crm_contact(&app, c, "Ada", "ada@example.com").await;
    // Whole seconds, as the iCalendar text has them.
    let now = jiff::Timestamp::from_second(app.platform.now().as_millis() / 1000).unwrap();
    let day = jiff::SignedDuration::from_hours(24);
    let start = now - day * 14;
    let next_week = now + day * 7;
    let put = |body: String| {
        let dav = &dav;
        async move {
            let status = dav
                .call("PUT", "alice/work/standup.ics", alice, &body)
                .await;
            assert!(matches!(status, 201 | 204), "PUT {status}");
        }
    };
    put(weekly_series(start, &[next_week])).await;
    let account = post(
        &app,
        c,
        "/api/v1/crm/caldav-accounts",
        json!({"url": dav.url, "username": "alice", "password": "pw"}),
    )
    .await;
    let path = format!("/api/v1/crm/caldav-accounts/{}", account["id"]);
    let account = caldav_synced(&app, c, &account).await;
    assert_eq!(account["state"], "ok", "{account}");
    assert_eq!(
        month(&app, now, now - day * 15).await,
        [
            "Stand-up -336h",
            "Stand-up -168h",
            "Stand-up 0h",
            "Stand-up (moved) 337h"
        ],
        "next week's occurrence is excluded, the one after moved"
    );
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    assert_eq!(
        crm_timeline(&app, c, ada).await.len(),
        2,
        "each past occurrence is a meeting"
    );

    // The series changes on the server: the occurrence it drops vanishes here.
    put(weekly_series(start, &[next_week, now])).await;
    app.clock.advance(Duration::from_secs(1));
    let account = sync_now(&app, &path, &account).await;
    assert_eq!(
        month(&app, now, now - day * 15).await,
        ["Stand-up -336h", "Stand-up -168h", "Stand-up (moved) 337h"]
    );

    // The last occurrence read is 26 weeks ahead; a week later the next one is there, though
    // nothing changed on the server.
    let horizon = now + day * 176;
    assert_eq!(month(&app, now, horizon).await, ["Stand-up 4368h"]);
    app.clock.advance(Duration::from_secs(7 * 86_400));
    // The session has idled out meanwhile.
    app.login(c, "admin@example.com", common::PASSWORD).await;
    sync_now(&app, &path, &account).await;
    assert_eq!(
        month(&app, now, horizon).await,
        ["Stand-up 4368h", "Stand-up 4536h"]
    );

    // A subscribed feed expands the same way, and reads its body again a day later even when
    // the server says it did not change.
    let feed_server = Feed::start(weekly_series(start, &[]).replace("standup@x", "team@x")).await;
    let feed = post(
        &app,
        c,
        "/api/v1/crm/calendar-feeds",
        json!({"name": "Team", "url": feed_server.url}),
    )
    .await;
    let feed = refreshed(&app, c, &feed).await;
    assert_eq!(feed["state"], "ok", "{feed}");
    let feed = refresh(&app, c, &feed).await;
    app.clock.advance(Duration::from_secs(2 * 86_400));
    app.login(c, "admin@example.com", common::PASSWORD).await;
    refresh(&app, c, &feed).await;
    let seen = feed_server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(seen[1].is_some() && seen[2].is_none(), "{seen:?}");
    app.stop().await;
}
