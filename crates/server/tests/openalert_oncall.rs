//! On-call: schedules, escalation policies, the escalation engine and notifications, over
//! HTTP on SQLite and PostgreSQL, with an injected clock and real HTTP receivers standing in
//! for Slack, Twilio and webhook endpoints.

mod common;

use std::time::Duration;

use common::{Backend, Receiver, TestApp, eventually, mailed};
use serde_json::{Value, json};

on_both_backends!(
    escalation_walks_levels_repeats_and_stops_exhausted,
    acknowledgement_stops_escalation_and_its_timeout_restarts_it,
    schedule_targets_follow_the_rotation_and_overrides_win,
    contact_methods_are_verified_and_rules_delay_and_skip,
    twilio_sms_and_voice_follow_the_wire_contract,
    schedules_validate_compute_shifts_and_serve_feeds,
    outgoing_webhooks_are_signed_and_teams_are_isolated,
    one_click_links_ask_before_they_act,
    two_nodes_notify_each_level_once,
    handoff_notices_go_out_once_before_and_after_a_shift,
    pages_edit_schedules_policies_and_contact_methods,
    outsiders_and_disabled_accounts_are_never_paged,
    notification_mail_is_multipart_with_a_bounded_subject,
);

const MINUTE: Duration = Duration::from_secs(60);

struct World {
    team: i64,
    alice: (i64, reqwest::Client),
    bob: (i64, reqwest::Client),
    service: i64,
    key: String,
}

/// Admin, a team with Alice and Bob, a service with an Events API integration.
async fn world(app: &TestApp) -> World {
    app.setup_admin().await;
    let team = app.create_team("Platform").await;
    let alice = app.member("alice@example.com").await;
    let bob = app.member("bob@example.com").await;
    app.add_member(team, alice.0, "member").await;
    app.add_member(team, bob.0, "member").await;
    let service = post(
        app,
        &app.client,
        "/api/v1/services",
        json!({"team_id": team, "name": "api"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let key = post(
        app,
        &app.client,
        &format!("/api/v1/services/{service}/integrations"),
        json!({"type": "events_v2", "name": "pd"}),
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    World {
        team,
        alice,
        bob,
        service,
        key,
    }
}

async fn post(app: &TestApp, client: &reqwest::Client, path: &str, body: Value) -> Value {
    let response = client.post(app.url(path)).json(&body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "POST {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> Value {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

async fn attach_policy(app: &TestApp, w: &World, levels: Value, repeat: i64) -> i64 {
    let policy = post(
        app,
        &app.client,
        "/api/v1/escalation-policies",
        json!({"team_id": w.team, "name": "default", "repeat_count": repeat, "levels": levels}),
    )
    .await;
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/services/{}", w.service)))
        .json(&json!({"escalation_policy_id": policy["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    policy["id"].as_i64().unwrap()
}

async fn trigger(app: &TestApp, key: &str, dedup: &str) -> i64 {
    let response = app
        .new_client()
        .post(app.url("/v2/enqueue"))
        .json(&json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": format!("{dedup} is down"), "source": "probe", "severity": "critical"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let list = get(
        app,
        &app.client,
        "/api/v1/incidents?status=triggered,acknowledged",
    )
    .await;
    list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["dedup_key"] == dedup)
        .expect("incident opened")["id"]
        .as_i64()
        .unwrap()
}

async fn detail(app: &TestApp, id: i64) -> Value {
    get(app, &app.client, &format!("/api/v1/incidents/{id}")).await
}

fn entries<'a>(detail: &'a Value, kind: &str) -> Vec<&'a Value> {
    detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// Waits until the incident's timeline has `n` entries of `kind`; returns the detail.
async fn wait_entries(app: &TestApp, id: i64, kind: &str, n: usize) -> Value {
    let found = eventually(Duration::from_secs(10), || async {
        let d = detail(app, id).await;
        (entries(&d, kind).len() >= n).then_some(d)
    })
    .await;
    match found {
        // Read again: the detail's parts are separate reads, and the change may have landed
        // between them.
        Some(_) => detail(app, id).await,
        None => panic!(
            "expected {n} `{kind}` entries: {:#}",
            detail(app, id).await["timeline"]
        ),
    }
}

/// Waits until every notification of the incident is settled (none pending).
async fn settled_notifications(app: &TestApp, id: i64, n: usize) -> Vec<Value> {
    let found = eventually(Duration::from_secs(10), || async {
        let d = detail(app, id).await;
        let list = d["notifications"].as_array().unwrap().clone();
        (list.len() >= n && list.iter().all(|x| x["status"] != "pending")).then_some(list)
    })
    .await;
    found.unwrap_or_else(|| panic!("notifications did not settle"))
}

/// Lets a few engine cycles pass (the engine runs every second on the real clock).
async fn cycles() {
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

async fn escalation_walks_levels_repeats_and_stops_exhausted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    attach_policy(
        &app,
        &w,
        json!([
            {"delay_minutes": 5, "targets": [{"type": "user", "id": w.alice.0}]},
            {"delay_minutes": 10, "targets": [{"type": "user", "id": w.bob.0}]}
        ]),
        1,
    )
    .await;
    let id = trigger(&app, &w.key, "db").await;

    let d = wait_entries(&app, id, "escalated", 1).await;
    assert!(
        entries(&d, "escalated")[0]["message"]
            .as_str()
            .unwrap()
            .contains("level 1: alice")
    );
    assert_eq!(d["assignees"][0]["user_id"], w.alice.0);
    // Alice has no rules: her account email is used, at once.
    let sent = settled_notifications(&app, id, 1).await;
    assert_eq!(sent[0]["status"], "sent");
    assert_eq!(sent[0]["address"], "alice@example.com");

    // Not yet: four minutes in, level 2 is not due.
    app.clock.advance(4 * MINUTE);
    cycles().await;
    assert_eq!(entries(&detail(&app, id).await, "escalated").len(), 1);

    app.clock.advance(MINUTE);
    let d = wait_entries(&app, id, "escalated", 2).await;
    assert!(
        entries(&d, "escalated")[1]["message"]
            .as_str()
            .unwrap()
            .contains("level 2: bob")
    );
    assert_eq!(d["assignees"][0]["user_id"], w.bob.0);

    // Repeat once: level 1 then level 2 again, then exhausted.
    app.clock.advance(10 * MINUTE);
    let d = wait_entries(&app, id, "escalated", 3).await;
    assert!(
        entries(&d, "escalated")[2]["message"]
            .as_str()
            .unwrap()
            .contains("(repeat 1): alice")
    );
    app.clock.advance(5 * MINUTE);
    wait_entries(&app, id, "escalated", 4).await;
    app.clock.advance(10 * MINUTE);
    let d = wait_entries(&app, id, "escalation_exhausted", 1).await;
    assert!(
        entries(&d, "escalation_exhausted")[0]["message"]
            .as_str()
            .unwrap()
            .contains("2 passes")
    );

    // Nothing after exhaustion, however long we wait.
    app.clock.advance(120 * MINUTE);
    cycles().await;
    let d = detail(&app, id).await;
    assert_eq!(entries(&d, "escalated").len(), 4);
    assert_eq!(entries(&d, "escalation_exhausted").len(), 1);
    let sent = settled_notifications(&app, id, 4).await;
    assert_eq!(sent.len(), 4, "one message per level per pass: {sent:#?}");
    let to = |email: &str| sent.iter().filter(|n| n["address"] == email).count();
    assert_eq!((to("alice@example.com"), to("bob@example.com")), (2, 2));
    // Each delivery is on the timeline.
    assert_eq!(entries(&d, "notified").len(), 4);
    app.stop().await;
}

async fn acknowledgement_stops_escalation_and_its_timeout_restarts_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    attach_policy(
        &app,
        &w,
        json!([
            {"delay_minutes": 5, "targets": [{"type": "user", "id": w.alice.0}]},
            {"delay_minutes": 5, "targets": [{"type": "user", "id": w.bob.0}]}
        ]),
        0,
    )
    .await;
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/services/{}", w.service)))
        .json(&json!({"ack_timeout_minutes": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = trigger(&app, &w.key, "disk").await;
    wait_entries(&app, id, "escalated", 1).await;

    post(
        &app,
        &w.alice.1,
        &format!("/api/v1/incidents/{id}/acknowledge"),
        json!({}),
    )
    .await;
    app.clock.advance(10 * MINUTE);
    cycles().await;
    assert_eq!(
        entries(&detail(&app, id).await, "escalated").len(),
        1,
        "acknowledged: no level 2"
    );

    // The acknowledgement times out: triggered again, escalation restarts at level 1.
    app.clock.advance(21 * MINUTE);
    let d = wait_entries(&app, id, "escalated", 2).await;
    assert_eq!(entries(&d, "retriggered").len(), 1);
    assert!(
        entries(&d, "escalated")[1]["message"]
            .as_str()
            .unwrap()
            .contains("level 1: alice")
    );

    // Escalate now: Bob at once, without waiting for the delay.
    let d = post(
        &app,
        &w.bob.1,
        &format!("/api/v1/incidents/{id}/escalate"),
        json!({}),
    )
    .await;
    assert!(
        entries(&d, "escalated")[2]["message"]
            .as_str()
            .unwrap()
            .contains("level 2: bob")
    );

    // Resolution stops everything.
    post(
        &app,
        &w.bob.1,
        &format!("/api/v1/incidents/{id}/resolve"),
        json!({}),
    )
    .await;
    app.clock.advance(60 * MINUTE);
    cycles().await;
    let d = detail(&app, id).await;
    assert_eq!(entries(&d, "escalated").len(), 3);
    assert!(entries(&d, "escalation_exhausted").is_empty());
    let response = w
        .bob
        .1
        .post(app.url(&format!("/api/v1/incidents/{id}/escalate")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    app.stop().await;
}

async fn create_schedule(app: &TestApp, w: &World, body: Value) -> Value {
    let mut body = body;
    body["team_id"] = json!(w.team);
    post(app, &app.client, "/api/v1/schedules", body).await
}

async fn schedule_targets_follow_the_rotation_and_overrides_win(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let now = jiff::Timestamp::from_millisecond(app.platform.now().as_millis()).unwrap();
    // A weekly rotation that started at this instant a week ago: Bob's week now.
    let start = (now - jiff::SignedDuration::from_hours(24 * 7))
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    let schedule = create_schedule(
        &app,
        &w,
        json!({"name": "primary", "time_zone": "UTC", "layers": [
            {"shift_unit": "weeks", "shift_length": 1, "starts_local": start, "participants": [w.alice.0, w.bob.0]}
        ]}),
    )
    .await;
    let sid = schedule["id"].as_i64().unwrap();
    let on_call = get(
        &app,
        &app.client,
        &format!("/api/v1/schedules/{sid}/on-call"),
    )
    .await;
    assert_eq!(on_call["user_ids"], json!([w.bob.0]));
    attach_policy(
        &app,
        &w,
        json!([{"delay_minutes": 5, "targets": [{"type": "schedule", "id": sid}]}]),
        0,
    )
    .await;

    let first = trigger(&app, &w.key, "one").await;
    let d = wait_entries(&app, first, "escalated", 1).await;
    assert_eq!(d["assignees"][0]["user_id"], w.bob.0, "{d:#}");

    // Alice takes the next hour.
    let from = app.platform.now();
    let until = from.plus(Duration::from_secs(3600));
    post(
        &app,
        &w.alice.1,
        &format!("/api/v1/schedules/{sid}/overrides"),
        json!({"user_id": w.alice.0, "starts_at": from, "ends_at": until}),
    )
    .await;
    let second = trigger(&app, &w.key, "two").await;
    let d = wait_entries(&app, second, "escalated", 1).await;
    assert_eq!(d["assignees"][0]["user_id"], w.alice.0, "the override wins");
    app.stop().await;
}

/// The six-digit code in a message body.
fn code_in(text: &str) -> String {
    let digits: Vec<char> = text.chars().collect();
    digits
        .windows(6)
        .find(|w| w.iter().all(char::is_ascii_digit))
        .map(|w| w.iter().collect())
        .expect("a code in the message")
}

async fn contact_methods_are_verified_and_rules_delay_and_skip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let slack = Receiver::start().await;
    let hook = Receiver::start().await;
    let alice = &w.alice.1;

    let bad = alice
        .post(app.url("/api/v1/me/contact-methods"))
        .json(&json!({"kind": "slack", "address": "not a url"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["errors"][0]["field"],
        "address"
    );

    let method = post(&app, alice, "/api/v1/me/contact-methods", json!({"kind": "slack", "label": "team chat", "address": format!("{}/services/T0/B0/secret", slack.url)})).await;
    let mid = method["id"].as_i64().unwrap();
    assert_eq!(method["verified"], false);
    let sent = slack.wait_for("/services/T0", 1).await;
    let body: Value = serde_json::from_str(&sent[0].body).unwrap();
    let code = code_in(body["text"].as_str().unwrap());

    let wrong = alice
        .post(app.url(&format!("/api/v1/me/contact-methods/{mid}/verify")))
        .json(&json!({"code": if code == "000000" { "111111" } else { "000000" }}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["errors"][0]["field"],
        "code"
    );
    let verified = post(
        &app,
        alice,
        &format!("/api/v1/me/contact-methods/{mid}/verify"),
        json!({"code": code}),
    )
    .await;
    assert_eq!(verified["verified"], true);

    // Bob cannot touch Alice's method.
    let foreign = w
        .bob
        .1
        .delete(app.url(&format!("/api/v1/me/contact-methods/{mid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);

    let webhook = post(
        &app,
        alice,
        "/api/v1/me/contact-methods",
        json!({"kind": "webhook", "address": format!("{}/pager", hook.url)}),
    )
    .await;
    let wid = webhook["id"].as_i64().unwrap();
    let code = code_in(&hook.wait_for("/pager", 1).await[0].body);
    post(
        &app,
        alice,
        &format!("/api/v1/me/contact-methods/{wid}/verify"),
        json!({"code": code}),
    )
    .await;

    // Test button.
    let tested = alice
        .post(app.url(&format!("/api/v1/me/contact-methods/{mid}/test")))
        .send()
        .await
        .unwrap();
    assert_eq!(tested.status(), 202);
    slack.wait_for("/services/T0", 2).await;

    post(
        &app,
        alice,
        "/api/v1/me/notification-rules",
        json!({"contact_method_id": mid, "urgency": "high", "delay_minutes": 0}),
    )
    .await;
    post(
        &app,
        alice,
        "/api/v1/me/notification-rules",
        json!({"contact_method_id": wid, "urgency": "high", "delay_minutes": 5}),
    )
    .await;
    let bad_rule = alice
        .post(app.url("/api/v1/me/notification-rules"))
        .json(&json!({"contact_method_id": 999_999, "urgency": "urgent", "delay_minutes": -1}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_rule.status(), 422);
    let fields: Vec<Value> = bad_rule.json::<Value>().await.unwrap()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields.len(), 3, "{fields:?}");

    attach_policy(
        &app,
        &w,
        json!([{"delay_minutes": 30, "targets": [{"type": "user", "id": w.alice.0}]}]),
        0,
    )
    .await;
    let id = trigger(&app, &w.key, "queue").await;
    let messages = slack.wait_for("/services/T0", 3).await;
    let text = serde_json::from_str::<Value>(&messages[2].body).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("queue is down"), "{text}");
    assert!(text.contains("/openalert/act/"), "one-click links: {text}");

    // Acknowledged before the 5-minute rule: that message is skipped, not sent.
    post(
        &app,
        alice,
        &format!("/api/v1/incidents/{id}/acknowledge"),
        json!({}),
    )
    .await;
    app.clock.advance(6 * MINUTE);
    let d = wait_entries(&app, id, "notification_skipped", 1).await;
    let kinds: Vec<(&str, &str)> = d["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["kind"].as_str().unwrap(), n["status"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("slack", "sent")) && kinds.contains(&("webhook", "skipped")),
        "{kinds:?}"
    );
    assert_eq!(
        hook.requests().len(),
        1,
        "only the verification code reached the webhook"
    );
    // Addresses of chat webhooks are not shown in full (their paths are secrets).
    assert!(
        d["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n["address"].as_str().unwrap().contains("secret"))
    );
    app.stop().await;
}

async fn twilio_sms_and_voice_follow_the_wire_contract(backend: Backend) {
    let twilio = Receiver::start().await;
    let url = twilio.url.clone();
    let app = TestApp::spawn_with(backend, move |s| {
        s.twilio_account_sid = Some("AC0123".into());
        s.twilio_auth_token = Some("tok-secret".into());
        s.twilio_from = Some("+15005550006".into());
        s.twilio_api_url = url;
    })
    .await;
    let w = world(&app).await;
    let alice = &w.alice.1;
    let sms = post(
        &app,
        alice,
        "/api/v1/me/contact-methods",
        json!({"kind": "sms", "address": "+14155550100"}),
    )
    .await;
    let request = &twilio
        .wait_for("/2010-04-01/Accounts/AC0123/Messages.json", 1)
        .await[0];
    // HTTP basic auth with the account SID and token; a form body.
    let auth = request.headers["authorization"].to_str().unwrap();
    assert_eq!(auth, "Basic QUMwMTIzOnRvay1zZWNyZXQ=");
    assert_eq!(
        request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(field("To"), "+14155550100");
    assert_eq!(field("From"), "+15005550006");
    let code = code_in(&field("Body"));
    post(
        &app,
        alice,
        &format!("/api/v1/me/contact-methods/{}/verify", sms["id"]),
        json!({"code": code}),
    )
    .await;

    let voice = post(
        &app,
        alice,
        "/api/v1/me/contact-methods",
        json!({"kind": "voice", "address": "+14155550101"}),
    )
    .await;
    let call = &twilio
        .wait_for("/2010-04-01/Accounts/AC0123/Calls.json", 1)
        .await[0];
    let form: Vec<(String, String)> = url::form_urlencoded::parse(call.body.as_bytes())
        .into_owned()
        .collect();
    let twiml = &form.iter().find(|(k, _)| k == "Twiml").unwrap().1;
    assert!(
        twiml.starts_with("<Response><Say>") && twiml.ends_with("</Response>"),
        "{twiml}"
    );
    assert!(voice["verified"] == false);

    // Twilio down: the attempt is recorded on the timeline and retried.
    post(
        &app,
        alice,
        "/api/v1/me/notification-rules",
        json!({"contact_method_id": sms["id"], "urgency": "high", "delay_minutes": 0}),
    )
    .await;
    attach_policy(
        &app,
        &w,
        json!([{"delay_minutes": 30, "targets": [{"type": "user", "id": w.alice.0}]}]),
        0,
    )
    .await;
    twilio.answer(500);
    let id = trigger(&app, &w.key, "cache").await;
    let d = wait_entries(&app, id, "notification_failed", 1).await;
    assert!(
        entries(&d, "notification_failed")[0]["message"]
            .as_str()
            .unwrap()
            .contains("500")
    );
    twilio.answer(201);
    // The job queue's backoff has passed.
    app.clock.advance(2 * MINUTE);
    app.platform.job_wake.notify_one();
    wait_entries(&app, id, "notified", 1).await;

    // A flood: three texts a minute per number, the rest bundled into one summary text.
    let texts = "/2010-04-01/Accounts/AC0123/Messages.json";
    let sent_texts = || twilio.requests().iter().filter(|r| r.path == texts).count();
    let before = sent_texts();
    for n in 0..4 {
        let id = trigger(&app, &w.key, &format!("flood-{n}")).await;
        let d = eventually(Duration::from_secs(10), || async {
            let d = detail(&app, id).await;
            (!entries(&d, "notified").is_empty() || !entries(&d, "notification_held").is_empty())
                .then_some(d)
        })
        .await
        .expect("sent or held");
        let held = !entries(&d, "notification_held").is_empty();
        assert_eq!(held, n >= 2, "flood-{n}");
    }
    assert_eq!(sent_texts(), before + 2);
    app.clock.advance(MINUTE + Duration::from_secs(5));
    app.platform.job_wake.notify_one();
    let all = twilio.wait_for(texts, before + 3).await;
    let summary: Vec<(String, String)> =
        url::form_urlencoded::parse(all.last().unwrap().body.as_bytes())
            .into_owned()
            .collect();
    let body = &summary.iter().find(|(k, _)| k == "Body").unwrap().1;
    assert!(body.starts_with("2 more incidents triggered"), "{body}");
    app.stop().await;
}

async fn schedules_validate_compute_shifts_and_serve_feeds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let bad = app
        .client
        .post(app.url("/api/v1/schedules"))
        .json(&json!({"team_id": w.team, "name": "x", "time_zone": "Mars/Olympus", "layers": [
            {"shift_unit": "fortnights", "shift_length": 0, "starts_local": "soon", "participants": [999]}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let mut fields: Vec<String> = bad.json::<Value>().await.unwrap()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "layers[0].participants",
            "layers[0].shift_length",
            "layers[0].shift_unit",
            "layers[0].starts_local",
            "time_zone"
        ]
    );

    let schedule = create_schedule(
        &app,
        &w,
        json!({"name": "follow the sun", "time_zone": "Europe/Berlin", "layers": [
            {"shift_unit": "days", "shift_length": 1, "starts_local": "2026-03-01T09:00", "participants": [w.alice.0, w.bob.0]}
        ]}),
    )
    .await;
    let sid = schedule["id"].as_i64().unwrap();
    // Across the spring transition (29 March) handoffs stay at 09:00 Berlin time.
    let shifts = get(
        &app,
        &app.client,
        &format!(
            "/api/v1/schedules/{sid}/shifts?from=2026-03-28T08:00:00Z&to=2026-03-31T08:00:00Z"
        ),
    )
    .await;
    let starts: Vec<&str> = shifts
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2026-03-28T08:00:00.000Z",
            "2026-03-29T07:00:00.000Z",
            "2026-03-30T07:00:00.000Z",
            "2026-03-31T07:00:00.000Z"
        ]
    );
    let on_call = get(
        &app,
        &app.client,
        &format!("/api/v1/schedules/{sid}/on-call?at=2026-03-29T06:59:00Z"),
    )
    .await;
    assert_eq!(on_call["user_ids"], json!([w.bob.0]));
    let too_long = app
        .client
        .get(app.url(&format!(
            "/api/v1/schedules/{sid}/shifts?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(too_long.status(), 422);

    // Feeds: the schedule's and Alice's own; revoking ends them.
    let feed = post(
        &app,
        &app.client,
        &format!("/api/v1/schedules/{sid}/feed"),
        json!({}),
    )
    .await;
    let path = feed["url"]
        .as_str()
        .unwrap()
        .split_once("/oncall/")
        .unwrap()
        .1
        .to_string();
    let ics = reqwest::get(app.url(&format!("/oncall/{path}")))
        .await
        .unwrap();
    assert_eq!(ics.status(), 200);
    assert!(
        ics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let text = ics.text().await.unwrap();
    assert!(
        text.starts_with("BEGIN:VCALENDAR\r\n")
            && text.contains("BEGIN:VEVENT")
            && text.contains("alice")
    );
    let mine = post(&app, &w.alice.1, "/api/v1/me/oncall-feed", json!({})).await;
    let mine_path = mine["url"]
        .as_str()
        .unwrap()
        .split_once("/oncall/")
        .unwrap()
        .1
        .to_string();
    let text = reqwest::get(app.url(&format!("/oncall/{mine_path}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("(alice)") && !text.contains("(bob)"));
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/schedules/{sid}/feed")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(
        reqwest::get(app.url(&format!("/oncall/{path}")))
            .await
            .unwrap()
            .status(),
        404
    );

    // Members may add overrides but not edit the schedule.
    let edit = w
        .bob
        .1
        .put(app.url(&format!("/api/v1/schedules/{sid}")))
        .json(&json!({"team_id": w.team, "name": "mine", "time_zone": "UTC", "layers": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), 403);
    app.stop().await;
}

async fn outgoing_webhooks_are_signed_and_teams_are_isolated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let receiver = Receiver::start().await;
    let created = post(
        &app,
        &app.client,
        "/api/v1/webhooks",
        json!({"team_id": w.team, "url": format!("{}/hooks/keel?token=abc", receiver.url)}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    let listed = get(&app, &app.client, "/api/v1/webhooks").await;
    assert!(
        !listed[0]["url"].as_str().unwrap().contains("token"),
        "paths are hidden when listed"
    );

    let id = trigger(&app, &w.key, "web").await;
    post(
        &app,
        &w.alice.1,
        &format!("/api/v1/incidents/{id}/acknowledge"),
        json!({}),
    )
    .await;
    // On Postgres the dispatcher waits until entries are a few seconds old (see notify.rs).
    app.clock.advance(Duration::from_secs(10));
    let got = receiver.wait_for("/hooks/keel", 2).await;
    let events: Vec<String> = got
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        events.contains(&"incident.triggered".into())
            && events.contains(&"incident.acknowledged".into()),
        "{events:?}"
    );
    for request in &got {
        let timestamp = request.headers["x-keel-timestamp"].to_str().unwrap();
        let signature = request.headers["x-keel-signature"].to_str().unwrap();
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.{}", request.body).as_bytes());
        assert_eq!(
            signature,
            format!("v1={}", hex::encode(mac.finalize().into_bytes()))
        );
    }

    // Another team sees none of this.
    let other_team = app.create_team("Elsewhere").await;
    let (carol_id, carol) = app.member("carol@example.com").await;
    app.add_member(other_team, carol_id, "manager").await;
    let schedule = create_schedule(&app, &w, json!({"name": "s", "time_zone": "UTC", "layers": [{"shift_unit": "days", "shift_length": 1, "starts_local": "2026-01-01T00:00", "participants": [w.alice.0]}]})).await;
    let policy = post(&app, &app.client, "/api/v1/escalation-policies", json!({"team_id": w.team, "name": "p", "levels": [{"delay_minutes": 5, "targets": [{"type": "schedule", "id": schedule["id"]}]}]})).await;
    for path in [
        format!("/api/v1/schedules/{}", schedule["id"]),
        format!("/api/v1/schedules/{}/on-call", schedule["id"]),
        format!("/api/v1/escalation-policies/{}", policy["id"]),
        format!("/api/v1/incidents/{id}"),
    ] {
        assert_eq!(
            carol.get(app.url(&path)).send().await.unwrap().status(),
            404,
            "{path}"
        );
    }
    assert_eq!(get(&app, &carol, "/api/v1/schedules").await, json!([]));
    assert_eq!(get(&app, &carol, "/api/v1/webhooks").await, json!([]));
    assert_eq!(
        carol
            .delete(app.url(&format!("/api/v1/webhooks/{}", created["webhook"]["id"])))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Carol cannot point her policy at a schedule she cannot see.
    let sneaky = carol
        .post(app.url("/api/v1/escalation-policies"))
        .json(&json!({"team_id": other_team, "name": "p", "levels": [{"delay_minutes": 5, "targets": [{"type": "schedule", "id": schedule["id"]}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(sneaky.status(), 422);
    // A policy in use cannot be deleted.
    app.client
        .patch(app.url(&format!("/api/v1/services/{}", w.service)))
        .json(&json!({"escalation_policy_id": policy["id"]}))
        .send()
        .await
        .unwrap();
    let in_use = app
        .client
        .delete(app.url(&format!("/api/v1/escalation-policies/{}", policy["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(in_use.status(), 409);
    app.stop().await;
}

async fn one_click_links_ask_before_they_act(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let id = trigger(&app, &w.key, "links").await;
    let now = app.platform.now();
    let token =
        keel_openalert::notify::action_token(&app.platform, id, w.alice.0, "acknowledge", now);
    let anonymous = app.new_client();

    // Opening the link (as a mail scanner would) changes nothing.
    let page = anonymous
        .get(app.url(&format!("/openalert/act/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Acknowledge") && html.contains("<form"),
        "{html}"
    );
    assert_eq!(detail(&app, id).await["status"], "triggered");

    let tampered = token.replace(&format!(".{}.", w.alice.0), &format!(".{}.", w.bob.0));
    let refused = anonymous
        .post(app.url(&format!("/openalert/act/{tampered}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    assert_eq!(detail(&app, id).await["status"], "triggered");

    let done = anonymous
        .post(app.url(&format!("/openalert/act/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let d = detail(&app, id).await;
    assert_eq!(d["status"], "acknowledged");
    assert_eq!(d["acknowledged_by"], w.alice.0);

    // Expired links do nothing.
    let resolve =
        keel_openalert::notify::action_token(&app.platform, id, w.alice.0, "resolve", now);
    app.clock.advance(Duration::from_secs(25 * 3600));
    let late = anonymous
        .post(app.url(&format!("/openalert/act/{resolve}")))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 404);
    assert_eq!(detail(&app, id).await["status"], "acknowledged");
    app.stop().await;
}

async fn two_nodes_notify_each_level_once(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    let w = world(&a).await;
    let b = TestApp::spawn_on(a.db.clone(), common::settings_for(&a.db)).await;
    b.clock.set(a.platform.now());
    attach_policy(
        &a,
        &w,
        json!([
            {"delay_minutes": 5, "targets": [{"type": "user", "id": w.alice.0}]},
            {"delay_minutes": 5, "targets": [{"type": "user", "id": w.bob.0}, {"type": "team", "id": w.team}]}
        ]),
        0,
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(trigger(&a, &w.key, &format!("both-{n}")).await);
    }
    for id in &ids {
        wait_entries(&a, *id, "escalated", 1).await;
    }
    a.clock.advance(5 * MINUTE);
    b.clock.advance(5 * MINUTE);
    for id in &ids {
        wait_entries(&a, *id, "escalated", 2).await;
    }
    a.clock.advance(5 * MINUTE);
    b.clock.advance(5 * MINUTE);
    cycles().await;
    for id in &ids {
        let d = wait_entries(&a, *id, "escalation_exhausted", 1).await;
        assert_eq!(entries(&d, "escalated").len(), 2, "each level once");
        assert_eq!(entries(&d, "escalation_exhausted").len(), 1);
        // Level 1: Alice; level 2: Bob and the team (the admin, who created and so manages
        // it, Alice and Bob): Alice twice in all, everyone else once.
        let sent = settled_notifications(&a, *id, 4).await;
        assert_eq!(sent.len(), 4, "{sent:#?}");
    }
    b.stop().await;
    a.stop().await;
}

async fn handoff_notices_go_out_once_before_and_after_a_shift(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    // Daily handoffs at a time ten minutes from now: Alice until then, Bob after.
    let handoff = jiff::Timestamp::from_millisecond(app.platform.now().as_millis()).unwrap()
        + jiff::SignedDuration::from_mins(10);
    let start = (handoff - jiff::SignedDuration::from_hours(24))
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    create_schedule(&app, &w, json!({"name": "daily", "time_zone": "UTC", "layers": [
        {"shift_unit": "days", "shift_length": 1, "starts_local": start, "participants": [w.alice.0, w.bob.0]}
    ]}))
    .await;
    // The engine looks once a minute.
    app.clock.advance(MINUTE);
    let starts = eventually(Duration::from_secs(10), || async {
        let m = mailed(&app);
        m.iter()
            .any(|s| s.starts_with("You are on call for daily"))
            .then_some(m)
    })
    .await
    .expect("a notice before Bob's shift");
    assert_eq!(
        starts
            .iter()
            .filter(|s| s.starts_with("You are on call"))
            .count(),
        1
    );

    // The handoff passes: Alice is told her shift ended; nobody is told twice.
    app.clock.advance(11 * MINUTE);
    let ended = eventually(Duration::from_secs(10), || async {
        let m = mailed(&app);
        m.iter().any(|s| s.contains("has ended")).then_some(m)
    })
    .await
    .expect("a notice after Alice's shift");
    app.clock.advance(MINUTE);
    cycles().await;
    assert_eq!(mailed(&app).len(), ended.len());
    assert_eq!(
        ended
            .iter()
            .filter(|s| s.starts_with("You are on call"))
            .count(),
        1
    );
    app.stop().await;
}

async fn form(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let response = client
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (status, location.unwrap_or(response.text().await.unwrap()))
}

async fn page(client: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

async fn pages_edit_schedules_policies_and_contact_methods(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let team = w.team.to_string();

    // A schedule from the "On call" page; a bad participant is named inline (422).
    let (status, html) = form(
        &app.client,
        &app,
        "/openalert/schedules",
        &[
            ("name", "primary"),
            ("team_id", &team),
            ("time_zone", "Europe/Berlin"),
            ("layer0_length", "1"),
            ("layer0_unit", "weeks"),
            ("layer0_start", "2026-01-05T09:00"),
            (
                "layer0_participants",
                "alice@example.com\nnobody@example.com",
            ),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("no active user `nobody@example.com`"),
        "{html}"
    );
    let (status, location) = form(
        &app.client,
        &app,
        "/openalert/schedules",
        &[
            ("name", "primary"),
            ("team_id", &team),
            ("time_zone", "Europe/Berlin"),
            ("layer0_length", "1"),
            ("layer0_unit", "weeks"),
            ("layer0_start", "2026-01-05T09:00"),
            ("layer0_participants", "alice@example.com\nbob@example.com"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{location}");
    let schedule_page = location.clone();
    let html = page(&app.client, &app, &schedule_page).await;
    assert!(
        html.contains("<svg")
            && html.contains("Final")
            && html.contains("alice@example.com\nbob@example.com")
    );

    // Edit: add a business-hours layer; a bad restriction is shown on its layer.
    let edit = |restriction: &'static str| {
        vec![
            ("team_id", team.clone()),
            ("name", "primary".into()),
            ("time_zone", "Europe/Berlin".into()),
            ("layer0_name", "Weekly".into()),
            ("layer0_length", "1".into()),
            ("layer0_unit", "weeks".into()),
            ("layer0_start", "2026-01-05T09:00".into()),
            (
                "layer0_participants",
                "alice@example.com\nbob@example.com".into(),
            ),
            ("layer0_restrictions", "".into()),
            ("layer1_name", "Office".into()),
            ("layer1_length", "1".into()),
            ("layer1_unit", "days".into()),
            ("layer1_start", "2026-01-05T09:00".into()),
            ("layer1_participants", "bob@example.com".into()),
            ("layer1_restrictions", restriction.into()),
        ]
    };
    let bad: Vec<(&str, String)> = edit("weekdays all day");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, html) = form(&app.client, &app, &schedule_page, &bad).await;
    assert_eq!(status, 422);
    assert!(html.contains("write days and hours like"), "{html}");
    let good = edit("mon-fri 09:00-17:00");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = form(&app.client, &app, &schedule_page, &good).await;
    assert_eq!(status, 303);
    let sid: i64 = schedule_page.rsplit('/').next().unwrap().parse().unwrap();
    let schedule = get(&app, &app.client, &format!("/api/v1/schedules/{sid}")).await;
    assert_eq!(
        schedule["layers"][1]["restrictions"][0],
        json!({"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"})
    );

    // The home page says who is on call; Carol, in no team, sees no such card.
    let home = page(&app.client, &app, "/").await;
    assert!(
        home.contains("On call now") && home.contains("primary: "),
        "{home}"
    );
    let (_, carol) = app.member("carol@example.com").await;
    assert!(!page(&carol, &app, "/").await.contains("On call now"));

    // Alice overrides herself in through the page (as a member).
    let (status, _) = form(
        &w.alice.1,
        &app,
        &format!("{schedule_page}/overrides"),
        &[
            ("user_id", &w.alice.0.to_string()),
            ("mode", "add"),
            ("starts_at", "2030-01-01T10:00"),
            ("ends_at", "2030-01-01T12:00"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let overrides = get(
        &app,
        &app.client,
        &format!(
            "/api/v1/schedules/{sid}/overrides?from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z"
        ),
    )
    .await;
    // 10:00 in Berlin in winter is 09:00 UTC.
    assert_eq!(overrides[0]["starts_at"], "2030-01-01T09:00:00.000Z");

    // A policy from its editor: level 1 the schedule, level 2 the team.
    let (status, location) = form(
        &app.client,
        &app,
        "/openalert/policies",
        &[
            ("team_id", &team),
            ("name", "default"),
            ("level0_delay", "5"),
            ("level0_targets", &format!("schedule:{sid}")),
            ("level1_delay", "10"),
            ("level1_targets", &format!("team:{}", w.team)),
            ("level1_targets", &format!("user:{}", w.bob.0)),
            ("level2_delay", "15"),
            ("repeat_count", "2"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{location}");
    let pid: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    let policy = get(
        &app,
        &app.client,
        &format!("/api/v1/escalation-policies/{pid}"),
    )
    .await;
    assert_eq!(policy["levels"].as_array().unwrap().len(), 2);
    assert_eq!(policy["repeat_count"], 2);
    assert_eq!(policy["levels"][1]["targets"].as_array().unwrap().len(), 2);
    let (status, html) = form(
        &app.client,
        &app,
        &format!("/openalert/policies/{pid}"),
        &[
            ("team_id", &team),
            ("name", "default"),
            ("level0_delay", "0"),
            ("level0_targets", &format!("user:{}", w.bob.0)),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("must be between 1 and 1440"));

    // The service page picks the policy and shows who is paged first.
    let (status, _) = form(
        &app.client,
        &app,
        &format!("/openalert/services/{}", w.service),
        &[
            ("name", "api"),
            ("description", ""),
            ("urgency_rule", "high"),
            ("auto_resolve_minutes", ""),
            ("ack_timeout_minutes", ""),
            ("escalation_policy_id", &pid.to_string()),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let html = page(
        &app.client,
        &app,
        &format!("/openalert/services/{}", w.service),
    )
    .await;
    assert!(html.contains("First paged now"), "{html}");

    // My notifications: add a webhook method, verify it with the code it received, test it.
    let receiver = Receiver::start().await;
    let (status, html) = form(
        &w.alice.1,
        &app,
        "/openalert/me/methods",
        &[
            ("kind", "webhook"),
            ("address", &format!("{}/alice", receiver.url)),
            ("label", "pager app"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("A verification code was sent"));
    let code = code_in(&receiver.wait_for("/alice", 1).await[0].body);
    let mid = get(&app, &w.alice.1, "/api/v1/me/contact-methods").await[0]["id"]
        .as_i64()
        .unwrap();
    let (status, html) = form(
        &w.alice.1,
        &app,
        &format!("/openalert/me/methods/{mid}/verify"),
        &[("code", "nope")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("is wrong or has expired"));
    let (status, html) = form(
        &w.alice.1,
        &app,
        &format!("/openalert/me/methods/{mid}/verify"),
        &[("code", &code)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Send test notification"));
    let (status, _) = form(
        &w.alice.1,
        &app,
        &format!("/openalert/me/methods/{mid}/test"),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    receiver.wait_for("/alice", 2).await;
    let (status, html) = form(
        &w.alice.1,
        &app,
        "/openalert/me/rules",
        &[
            ("contact_method_id", &mid.to_string()),
            ("urgency", "high"),
            ("delay_minutes", "3"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("after 3 min"));
    let (status, html) = form(&w.alice.1, &app, "/openalert/me/feed/rotate", &[]).await;
    assert_eq!(status, 200);
    assert!(html.contains("/oncall/feeds/users/"));
    // Bob cannot act on Alice's method through the pages either.
    let (status, _) = form(
        &w.bob.1,
        &app,
        &format!("/openalert/me/methods/{mid}/delete"),
        &[],
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn outsiders_and_disabled_accounts_are_never_paged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let (outsider, _) = app.member("outsider@example.com").await;
    let layer = |people: Vec<i64>| {
        json!({"name": "s", "time_zone": "UTC", "team_id": w.team, "layers": [
        {"shift_unit": "days", "shift_length": 1, "starts_local": "2026-01-01T00:00", "participants": people}]})
    };
    let refused = app
        .client
        .post(app.url("/api/v1/schedules"))
        .json(&layer(vec![w.alice.0, outsider]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let policy = app.client.post(app.url("/api/v1/escalation-policies"))
        .json(&json!({"team_id": w.team, "name": "p", "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": outsider}]}]}))
        .send().await.unwrap();
    assert_eq!(policy.status(), 422);

    // A schedule a policy pages cannot be deleted from under it.
    let schedule = post(
        &app,
        &app.client,
        "/api/v1/schedules",
        layer(vec![w.alice.0]),
    )
    .await;
    attach_policy(&app, &w, json!([{"delay_minutes": 5, "targets": [{"type": "schedule", "id": schedule["id"]}, {"type": "user", "id": w.bob.0}]}]), 0).await;
    let in_use = app
        .client
        .delete(app.url(&format!("/api/v1/schedules/{}", schedule["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(in_use.status(), 409);

    // Alice's account is disabled: the level reaches Bob only.
    let disabled = app
        .client
        .patch(app.url(&format!("/api/v1/users/{}", w.alice.0)))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200, "{}", disabled.text().await.unwrap());
    let id = trigger(&app, &w.key, "disabled").await;
    let d = wait_entries(&app, id, "escalated", 1).await;
    let assignees: Vec<i64> = d["assignees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(assignees, [w.bob.0]);
    app.stop().await;
}

async fn notification_mail_is_multipart_with_a_bounded_subject(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    attach_policy(
        &app,
        &w,
        json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": w.alice.0}]}]),
        0,
    )
    .await;
    let summary = format!("Disk full on Zürich-1 {}", "ü".repeat(2000));
    let response = app
        .new_client()
        .post(app.url("/v2/enqueue"))
        .json(
            &json!({"routing_key": w.key, "event_action": "trigger", "dedup_key": "disk",
            "payload": {"summary": summary, "source": "zrh-1", "severity": "critical",
                "custom_details": {"used": "99%"}},
            "links": [{"href": "https://grafana.example.com/d/disk", "text": "Dashboard"},
                {"href": "javascript:alert(1)", "text": "bad"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let dir = app.db.dir().join("mail");
    let mail = eventually(Duration::from_secs(15), || async {
        std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            // Whole messages only: the file appears before its content is written.
            .find(|m| m.contains("To: alice@example.com") && m.trim_end().ends_with("--"))
    })
    .await
    .expect("alice was mailed");
    let (head, body) = mail.split_once("\r\n\r\n").unwrap_or((&mail, ""));
    assert!(
        head.lines().all(|l| l.len() < 998),
        "every header line within RFC 5322's limit"
    );
    let subject: String = head
        .split("Subject: ")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .take_while(|l| !l.contains(':') || l.starts_with(' ') || l.starts_with("=?"))
        .collect();
    assert!(subject.len() < 1200, "the subject is capped: {subject}");
    assert!(head.contains("multipart/alternative"), "{head}");
    assert!(body.contains("text/plain; charset=utf-8"), "{body}");
    assert!(body.contains("text/html; charset=utf-8"));
}
