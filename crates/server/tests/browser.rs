//! Key journeys in real headless Chromium: first-run setup and sign-in, an alert over HTTP
//! that appears live without a reload and is acknowledged and resolved with a tap, and every
//! key page at phone width (no sideways scrolling) and checked with axe-core. Screenshots of
//! each step go to `target/browser-screenshots/`. SQLite only: the browser sees the same pages
//! on either database.

mod common;

use std::time::Duration;

use common::webdriver::Browser;
use common::{Backend, PASSWORD, TestApp, get, post};
use serde_json::json;

const LIVE: Duration = Duration::from_secs(20);

/// Creates the first administrator through the setup page, the way a new user does.
async fn set_up_in_the_browser(app: &TestApp, browser: &Browser) {
    browser.goto(&app.url("/")).await;
    assert!(
        browser.url().await.ends_with("/setup"),
        "a fresh server asks for setup"
    );
    browser.screenshot("setup").await;
    browser
        .fill("#setup_token", &app.platform.setup_token())
        .await;
    browser.fill("#name", "Ada Admin").await;
    browser.fill("#email", "admin@example.com").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("button.primary").await;
    assert!(
        browser.wait_for_text("OpenAlert", LIVE).await,
        "signed in after setup: {}",
        browser.text().await
    );
    browser.screenshot("home").await;
    app.login(&app.client, "admin@example.com", PASSWORD).await;
}

/// A team and a service with an Events v2 integration: (team, service id, routing key).
async fn service_with_integration(app: &TestApp) -> (i64, i64, String) {
    let team = app.create_team("Payments").await;
    let (service, key) = app.service_with_events_v2(team, "checkout").await;
    (team, service, key)
}

async fn trigger(app: &TestApp, key: &str, summary: &str) {
    let response = common::client()
        .post(app.url("/v2/enqueue"))
        .json(&json!({"routing_key": key, "event_action": "trigger",
            "payload": {"summary": summary, "source": "db-1", "severity": "critical"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_appears_live_and_is_acknowledged_and_resolved_with_a_tap() {
    let Some(browser) = Browser::start("incident-journey").await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    set_up_in_the_browser(&app, &browser).await;
    app.create_team("Payments").await;
    // The service and its integration are made in the pages; the key is shown once.
    browser.goto(&app.url("/openalert/services")).await;
    browser
        .fill("form[action='/openalert/services'] #name", "checkout")
        .await;
    browser
        .click("form[action='/openalert/services'] button.primary")
        .await;
    // The field after the type picker: the form is parsed that far.
    browser.find("#integration_name").await;
    browser.screenshot("service-created").await;
    browser
        .run(
            "document.getElementById('type').value = 'events_v2';",
            json!([]),
        )
        .await;
    browser.fill("#integration_name", "Monitoring").await;
    browser
        .click("form[action$='/integrations'] button.primary")
        .await;
    browser.find("#integration-key + button").await;
    let key = browser
        .run(
            "return document.getElementById('integration-key').value;",
            json!([]),
        )
        .await;
    let key = key.as_str().expect("the new key is shown").to_string();
    browser.screenshot("integration-key").await;

    browser.viewport(360).await;
    browser.goto(&app.url("/openalert")).await;
    browser.screenshot("no-incidents").await;
    browser.wait_until_live().await;
    browser.run("window.keelStayed = true;", json!([])).await;
    // The list is open in the browser; the alert arrives over HTTP and shows up by itself.
    trigger(&app, &key, "Checkout latency above 2 s").await;
    assert!(
        browser
            .wait_for_text("Checkout latency above 2 s", LIVE)
            .await,
        "the incident appears without a reload: {}",
        browser.text().await
    );
    let swapped = "return window.keelStayed === true && document.querySelectorAll('.incident-list tr.fresh').length;";
    assert_eq!(
        browser.run(swapped, json!([])).await,
        1,
        "the list changed in place (no reload) and marks the new row"
    );
    browser.screenshot("incident-live").await;
    let row = browser.text().await;
    for expected in ["checkout", "Triggered", "High"] {
        assert!(row.contains(expected), "{expected} in the list: {row}");
    }
    assert_eq!(browser.overflow().await, 0, "the list fits a 360 px phone");

    browser.click("button[value^='acknowledge:']").await;
    browser.find(".incident-list .status.acknowledged").await;
    browser.screenshot("acknowledged").await;
    let list = browser
        .run(
            "return document.querySelector('.incident-list').innerText;",
            json!([]),
        )
        .await;
    assert!(
        list.as_str().unwrap().contains("Ada Admin"),
        "whoever acknowledges owns it, and the list says so: {list}"
    );
    // A second alert is acknowledged from a one-click link, as mailed, on a phone: opening it
    // only asks, the tap acts.
    trigger(&app, &key, "Disk full on db-2").await;
    browser.find(".incident-list .status.triggered").await;
    let second = get(&app, &app.client, "/api/v1/incidents?status=triggered").await["incidents"][0]
        ["id"]
        .as_i64()
        .unwrap();
    let me = get(&app, &app.client, "/api/v1/me").await["user"]["id"]
        .as_i64()
        .unwrap();
    let token = keel_openalert::notify::action_token(
        &app.platform,
        second,
        me,
        "acknowledge",
        app.platform.now(),
    );
    browser
        .goto(&app.url(&format!("/openalert/act/{token}")))
        .await;
    browser.screenshot("one-click-link").await;
    assert_eq!(
        get(&app, &app.client, &format!("/api/v1/incidents/{second}")).await["status"],
        "triggered",
        "opening the link changes nothing"
    );
    browser.click("button.primary").await;
    assert!(
        browser.wait_for_text("Done.", LIVE).await,
        "{}",
        browser.text().await
    );
    assert_eq!(
        get(&app, &app.client, &format!("/api/v1/incidents/{second}")).await["status"],
        "acknowledged"
    );
    browser.goto(&app.url("/openalert")).await;
    let open_rows = "return document.querySelectorAll(\"button[value^='resolve:']\").length;";
    for left in [1, 0] {
        browser.click("button[value^='resolve:']").await;
        let gone = common::eventually(LIVE, || async {
            (browser.run(open_rows, json!([])).await == left).then_some(())
        })
        .await;
        assert!(gone.is_some(), "{left} open incidents left");
    }
    // Resolved incidents leave the default list of open ones.
    assert!(
        browser.wait_for_text("No incidents match", LIVE).await,
        "{}",
        browser.text().await
    );
    let incidents = get(&app, &app.client, "/api/v1/incidents?status=resolved").await;
    assert_eq!(incidents["incidents"][0]["status"], "resolved");
    browser.quit().await;
    app.stop().await;
}

/// Every key page, at 360 px and at desktop width: nothing scrolls sideways, even with a
/// 10,000-character alert summary and note, and axe-core finds no serious violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_pages_fit_a_phone_and_pass_an_accessibility_check() {
    let Some(browser) = Browser::start("key-pages").await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    set_up_in_the_browser(&app, &browser).await;
    let (team, service, key) = service_with_integration(&app).await;
    let me = get(&app, &app.client, "/api/v1/me").await["user"]["id"]
        .as_i64()
        .unwrap();
    app.add_member(team, me, "manager").await;
    let schedule = post(
        &app,
        &app.client,
        "/api/v1/schedules",
        json!({"team_id": team,
        "name": "Primary", "time_zone": "Europe/Berlin", "layers": [{"shift_unit": "weeks",
        "shift_length": 1, "starts_local": "2026-01-05T09:00", "participants": [me]}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let policy = post(
        &app,
        &app.client,
        "/api/v1/escalation-policies",
        json!({"team_id": team,
        "name": "Default", "levels": [{"delay_minutes": 5,
        "targets": [{"type": "schedule", "id": schedule}]}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let status_page = post(
        &app,
        &app.client,
        "/api/v1/status-pages",
        json!({"team_id": team, "name": "Acme status", "slug": "acme"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let long = "x".repeat(10_000);
    trigger(&app, &key, &long).await;
    trigger(&app, &key.clone(), "Disk full on db-1").await;
    let incidents = get(&app, &app.client, "/api/v1/incidents").await;
    let incident = incidents["incidents"][0]["id"].as_i64().unwrap();
    post(
        &app,
        &app.client,
        &format!("/api/v1/incidents/{incident}/notes"),
        json!({"text": long}),
    )
    .await;
    let contact = post(
        &app,
        &app.client,
        "/api/v1/crm/contacts",
        json!({"display_name": "Grace Hopper", "emails": [{"value": "grace@example.com"}],
               "notes": long}),
    )
    .await["id"]
        .as_i64()
        .unwrap();

    let pages = [
        "/".to_string(),
        "/openalert".into(),
        format!("/openalert/incidents/{incident}"),
        "/openalert/services".into(),
        format!("/openalert/services/{service}"),
        "/openalert/oncall".into(),
        format!("/openalert/schedules/{schedule}"),
        format!("/openalert/policies/{policy}"),
        "/openalert/policies/new".into(),
        format!("/openalert/status-pages/{status_page}"),
        "/status/acme".into(),
        "/openalert/me".into(),
        "/openalert/analytics".into(),
        "/openalert/status-pages".into(),
        "/crm".into(),
        "/crm/contacts".into(),
        format!("/crm/contacts/{contact}"),
        "/crm/tasks".into(),
        "/crm/goals".into(),
        "/crm/calendar".into(),
        "/crm/settings".into(),
        "/crm/settings/ai".into(),
        "/crm/contacts/import".into(),
        "/crm/contacts/duplicates".into(),
        "/account".into(),
        "/admin".into(),
        "/admin/users".into(),
        "/admin/teams".into(),
        format!("/teams/{team}"),
        "/admin/audit".into(),
        "/admin/jobs".into(),
    ];
    // Shifts read in the schedule's zone (Berlin, shifts change Monday 09:00), whatever the
    // browser's zone (UTC here).
    browser
        .goto(&app.url(&format!("/openalert/schedules/{schedule}")))
        .await;
    let text = browser.text().await;
    assert!(text.contains("Shifts, in Europe/Berlin time"), "{text}");
    assert!(text.contains("Mon ") && text.contains(" 09:00"), "{text}");
    assert!(!text.contains(" 08:00"), "no UTC times: {text}");

    // The policy editor: add a level, pick a person by searching, move it to the top, save.
    browser
        .goto(&app.url(&format!("/openalert/policies/{policy}")))
        .await;
    browser.click("[data-repeat-add=level]").await;
    let last = "[data-repeat=level] > [data-repeat-item]:last-of-type";
    browser.fill(&format!("{last} .pick-filter"), "Ada").await;
    browser
        .click(&format!("{last} input[value='user:{me}']"))
        .await;
    browser
        .click(&format!("{last} [data-repeat-move='-1']"))
        .await;
    browser
        .click("[data-repeat=level] > [data-repeat-item]:nth-of-type(2) [data-repeat-move='-1']")
        .await;
    browser.screenshot("policy-editor").await;
    browser.click("button.primary").await;
    let saved = common::eventually(LIVE, || async {
        let p = get(
            &app,
            &app.client,
            &format!("/api/v1/escalation-policies/{policy}"),
        )
        .await;
        (p["levels"].as_array().map(Vec::len) == Some(2)).then_some(p)
    })
    .await
    .expect("saved with two levels");
    assert_eq!(saved["levels"][0]["targets"][0]["type"], "user", "{saved}");
    assert_eq!(
        saved["levels"][1]["targets"][0]["type"], "schedule",
        "{saved}"
    );

    // "All day" turns the calendar's date-time pickers into date pickers.
    browser.goto(&app.url("/crm/calendar")).await;
    let kind = "return document.getElementById('starts_at').type;";
    assert_eq!(browser.run(kind, json!([])).await, "datetime-local");
    browser.click("input[name='all_day']").await;
    assert_eq!(browser.run(kind, json!([])).await, "date");
    // Time-zone fields offer every IANA name to search.
    browser.goto(&app.url("/crm/settings")).await;
    let zones = browser
        .run(
            "return document.querySelectorAll('#time_zone-choices option').length;",
            json!([]),
        )
        .await;
    assert!(zones.as_i64().unwrap() > 300, "{zones}");

    let mut problems = Vec::new();
    for path in &pages {
        for width in [360, 0] {
            browser.viewport(width).await;
            browser.goto(&app.url(path)).await;
            let name = format!(
                "{}-{}",
                path.trim_matches('/').replace('/', "-"),
                if width == 0 { "desktop" } else { "phone" }
            );
            browser.screenshot(&name).await;
            let overflow = browser.overflow().await;
            if overflow > 0 {
                problems.push(format!(
                    "{path} at {width} px scrolls sideways by {overflow} px"
                ));
            }
            if width == 0
                && let Some(violations) = browser.accessibility_violations().await
            {
                problems.extend(violations.into_iter().map(|v| format!("{path}: {v}")));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    browser.quit().await;
    app.stop().await;
}

/// The schedule editor: people chosen from a list and put in order, a layer added in place,
/// all saved in one go; then a layer removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_is_built_in_the_editor() {
    let Some(browser) = Browser::start("schedule-editor").await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    set_up_in_the_browser(&app, &browser).await;
    let team = app.create_team("Payments").await;
    let me = get(&app, &app.client, "/api/v1/me").await["user"]["id"]
        .as_i64()
        .unwrap();
    let (bob, _) = app.member("bob@example.com").await;
    app.add_member(team, bob, "member").await;
    let schedule = post(
        &app,
        &app.client,
        "/api/v1/schedules",
        json!({"team_id": team, "name": "Primary", "time_zone": "Europe/Berlin",
        "layers": [{"shift_unit": "weeks", "shift_length": 1, "starts_local": "2026-01-05T09:00",
        "participants": [me]}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    browser.viewport(360).await;
    browser
        .goto(&app.url(&format!("/openalert/schedules/{schedule}")))
        .await;
    let first = "[data-repeat=layer] > [data-repeat-item]:first-of-type";
    let people = format!("{first} .people-picker li");
    assert_eq!(
        browser
            .run(
                &format!("return document.querySelector('{people}').innerText;"),
                json!([])
            )
            .await
            .as_str()
            .map(|t| t.contains("Ada Admin")),
        Some(true),
        "people show by name, not as typed e-mails"
    );
    // Bob joins the first layer by e-mail and goes first in the turn.
    browser
        .fill(&format!("{first} .people-picker input"), "bob@example.com")
        .await;
    browser
        .click(&format!("{first} .people-picker .row button"))
        .await;
    browser
        .click(&format!(
            "{first} .people-picker li:nth-of-type(2) button[data-action=up]"
        ))
        .await;
    // The form had one empty layer to offer; a second is added in place.
    browser.click("[data-repeat-add=layer]").await;
    let last = "[data-repeat=layer] > [data-repeat-item]:last-of-type";
    assert_eq!(
        browser
            .run("return document.querySelectorAll('[data-repeat=layer] > [data-repeat-item]').length;", json!([]))
            .await,
        3
    );
    browser
        .fill(&format!("{last} input[name$=_name]"), "Weekend cover")
        .await;
    browser
        .run(
            &format!("document.querySelector('{last} input[type=datetime-local]').value = '2026-01-10T08:00';"),
            json!([]),
        )
        .await;
    browser
        .fill(&format!("{last} .people-picker input"), "bob")
        .await;
    browser
        .click(&format!("{last} .people-picker .row button"))
        .await;
    browser.screenshot("schedule-editor").await;
    assert_eq!(
        browser.overflow().await,
        0,
        "the editor fits a 360 px phone"
    );
    browser.click("button.primary").await;
    let saved = common::eventually(LIVE, || async {
        let s = get(&app, &app.client, &format!("/api/v1/schedules/{schedule}")).await;
        (s["layers"].as_array().map(Vec::len) == Some(2)).then_some(s)
    })
    .await
    .expect("saved with two layers");
    assert_eq!(
        saved["layers"][0]["participants"],
        json!([bob, me]),
        "{saved}"
    );
    assert_eq!(saved["layers"][1]["participants"], json!([bob]), "{saved}");
    assert_eq!(saved["layers"][1]["name"], "Weekend cover", "{saved}");

    // Removing the first layer in place leaves only the weekend cover.
    browser
        .goto(&app.url(&format!("/openalert/schedules/{schedule}")))
        .await;
    browser
        .click(&format!("{first} [data-repeat-remove]"))
        .await;
    browser.click("button.primary").await;
    let saved = common::eventually(LIVE, || async {
        let s = get(&app, &app.client, &format!("/api/v1/schedules/{schedule}")).await;
        (s["layers"].as_array().map(Vec::len) == Some(1)).then_some(s)
    })
    .await
    .expect("saved with one layer");
    assert_eq!(saved["layers"][0]["name"], "Weekend cover", "{saved}");
    browser.quit().await;
    app.stop().await;
}

/// MindfulCRM end to end in the browser: a contact created, an interaction logged, a task done,
/// a goal set, a vCard imported, the export downloaded and the duplicate it made merged; then
/// a member deletes their own account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relationship_is_kept_from_first_contact_to_merge_and_an_account_is_deleted() {
    let Some(browser) = Browser::start("crm-journey").await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    set_up_in_the_browser(&app, &browser).await;
    browser.viewport(360).await;
    // Confirmation dialogs (data-confirm) are answered yes.
    let yes = "window.confirm = () => true;";

    browser.goto(&app.url("/crm/contacts")).await;
    browser.fill("#given_name", "Grace").await;
    browser.fill("#family_name", "Hopper").await;
    browser.fill("#emails", "grace@example.com").await;
    browser.fill("#new-tags", "navy").await;
    browser
        .click("form[action='/crm/contacts'] button.primary")
        .await;
    assert!(browser.wait_for_text("Log an interaction", LIVE).await);
    let text = browser.text().await;
    for fact in ["Grace Hopper", "grace@example.com", "navy", "Last talked"] {
        assert!(text.contains(fact), "{fact} on the profile: {text}");
    }
    browser.screenshot("contact-created").await;

    browser.fill("#subject", "Coffee at the yard").await;
    browser.fill("#summary", "Talked about compilers").await;
    browser.click("#log button.primary").await;
    assert!(browser.wait_for_text("Talked about compilers", LIVE).await);
    browser
        .fill(
            "form[action='/crm/tasks'] input[name=title]",
            "Send the paper",
        )
        .await;
    browser.click("form[action='/crm/tasks'] button").await;
    assert!(
        browser
            .wait_for_text("Next step: Send the paper", LIVE)
            .await
    );
    browser.click("form[action$='/complete'] button").await;
    browser.find("ul.plain s").await;
    browser.screenshot("contact-timeline").await;
    assert_eq!(browser.overflow().await, 0, "the contact fits a phone");

    browser.goto(&app.url("/crm/goals")).await;
    browser
        .fill(
            "form[action='/crm/goals'] input[name=title]",
            "A coffee a week",
        )
        .await;
    browser.fill("#target", "1").await;
    browser
        .click("form[action='/crm/goals'] button.primary")
        .await;
    assert!(browser.wait_for_text("A coffee a week", LIVE).await);
    browser.screenshot("goal").await;

    // Import a vCard from disk: the same Grace again (same e-mail) and Alan.
    let file = std::env::temp_dir().join(format!("keel-browser-{}.vcf", std::process::id()));
    std::fs::write(
        &file,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace B. Hopper\r\nEMAIL:grace@example.com\r\nEND:VCARD\r\n\
         BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alan Turing\r\nEMAIL:alan@example.com\r\nEND:VCARD\r\n",
    )
    .unwrap();
    browser.goto(&app.url("/crm/contacts")).await;
    browser.fill("#file", file.to_str().unwrap()).await;
    browser
        .click("form[action='/crm/contacts/import'] button")
        .await;
    assert!(
        browser.wait_for_text("Alan Turing", LIVE).await,
        "{}",
        browser.text().await
    );
    std::fs::remove_file(&file).ok();
    // The export, as the download link fetches it with the browser's session.
    let export = browser
        .run_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector('a[href$=\"contacts.vcf\"]').href)
               .then((r) => r.text()).then(done, (e) => done(String(e)));",
            json!([]),
        )
        .await;
    let export = export.as_str().unwrap_or_default();
    assert_eq!(export.matches("BEGIN:VCARD").count(), 3, "{export}");
    assert!(export.contains("FN:Alan Turing"), "{export}");

    browser.goto(&app.url("/crm/contacts/duplicates")).await;
    browser.screenshot("duplicates").await;
    browser.run(yes, json!([])).await;
    browser.click("form[action$='/merge'] button.primary").await;
    assert!(
        browser.wait_for_text("Merged", LIVE).await,
        "{}",
        browser.text().await
    );
    let contacts = get(&app, &app.client, "/api/v1/crm/contacts").await;
    assert_eq!(
        contacts["contacts"].as_array().map(Vec::len),
        Some(2),
        "{contacts}"
    );

    // A member signs in and deletes their own account: afterwards they cannot sign in.
    let (_, _) = app.member("mia@example.com").await;
    browser.click("form[action='/logout'] button").await;
    browser.find("form[action='/login']").await;
    browser.goto(&app.url("/login")).await;
    browser.fill("#email", "mia@example.com").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/login'] button").await;
    assert!(browser.wait_for_text("Sign out", LIVE).await);
    browser.goto(&app.url("/account")).await;
    browser
        .fill("form[action='/account/delete'] #password", PASSWORD)
        .await;
    browser.run(yes, json!([])).await;
    browser
        .click("form[action='/account/delete'] button.danger")
        .await;
    assert!(
        browser.wait_for_text("Sign in", LIVE).await,
        "{}",
        browser.text().await
    );
    browser.screenshot("account-deleted").await;
    let again = app.new_client();
    let refused = again
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "mia@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    browser.quit().await;
    app.stop().await;
}
