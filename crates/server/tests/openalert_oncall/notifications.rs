//! Notifications: contact methods and rules, Twilio's wire contract, signed webhooks,
//! one-click links and the notification mail.

use super::*;

crate::on_both_backends!(
    contact_methods_are_verified_and_rules_delay_and_skip,
    twilio_sms_and_voice_follow_the_wire_contract,
    two_nodes_keep_an_address_under_its_cap,
    outgoing_webhooks_are_signed_and_teams_are_isolated,
    one_click_links_ask_before_they_act,
    notification_mail_is_multipart_with_a_bounded_subject,
);

async fn contact_methods_are_verified_and_rules_delay_and_skip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let slack = Receiver::start().await;
    let hook = Receiver::start().await;
    let alice = app.api(&w.alice.1);

    let bad = alice
        .post(
            "/api/v1/me/contact-methods",
            json!({"kind": "slack", "address": "not a url"}),
        )
        .await
        .expect(422);
    assert_eq!(bad.fields()[0], "address");

    let method = alice.post("/api/v1/me/contact-methods", json!({"kind": "slack", "label": "team chat", "address": format!("{}/services/T0/B0/secret", slack.url)})).await.ok();
    let mid = method["id"].as_i64().unwrap();
    assert_eq!(method["verified"], false);
    let sent = slack.wait_for("/services/T0", 1).await;
    let body: Value = serde_json::from_str(&sent[0].body).unwrap();
    let code = code_in(body["text"].as_str().unwrap());

    let verify = format!("/api/v1/me/contact-methods/{mid}/verify");
    let wrong = alice
        .post(
            &verify,
            json!({"code": if code == "000000" { "111111" } else { "000000" }}),
        )
        .await
        .expect(422);
    assert_eq!(wrong.fields()[0], "code");
    let verified = alice.post(&verify, json!({"code": code})).await.ok();
    assert_eq!(verified["verified"], true);

    // Bob cannot touch Alice's method.
    app.api(&w.bob.1)
        .delete(&format!("/api/v1/me/contact-methods/{mid}"))
        .await
        .expect(404);

    let webhook = alice
        .post(
            "/api/v1/me/contact-methods",
            json!({"kind": "webhook", "address": format!("{}/pager", hook.url)}),
        )
        .await
        .ok();
    let wid = webhook["id"].as_i64().unwrap();
    let code = code_in(&hook.wait_for("/pager", 1).await[0].body);
    alice
        .post(
            &format!("/api/v1/me/contact-methods/{wid}/verify"),
            json!({"code": code}),
        )
        .await
        .ok();

    // Test button.
    alice
        .post(&format!("/api/v1/me/contact-methods/{mid}/test"), None)
        .await
        .expect(202);
    slack.wait_for("/services/T0", 2).await;

    let rules = "/api/v1/me/notification-rules";
    alice
        .post(
            rules,
            json!({"contact_method_id": mid, "urgency": "high", "delay_minutes": 0}),
        )
        .await
        .ok();
    alice
        .post(
            rules,
            json!({"contact_method_id": wid, "urgency": "high", "delay_minutes": 5}),
        )
        .await
        .ok();
    let bad_rule = alice
        .post(
            rules,
            json!({"contact_method_id": 999_999, "urgency": "urgent", "delay_minutes": -1}),
        )
        .await
        .expect(422);
    let fields = bad_rule.fields();
    assert_eq!(fields.len(), 3, "{fields:?}");

    attach_policy(&app, &w, json!([page_user(30, w.alice.0)]), 0).await;
    let id = app.trigger(&w.key, "queue").await;
    let messages = slack.wait_for("/services/T0", 3).await;
    let text = serde_json::from_str::<Value>(&messages[2].body).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("queue is down"), "{text}");
    assert!(text.contains("/openalert/act/"), "one-click links: {text}");

    // Acknowledged before the 5-minute rule: that message is skipped, not sent.
    alice
        .post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await
        .ok();
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

const TEXTS: &str = "/2010-04-01/Accounts/AC0123/Messages.json";

/// Settings that send SMS and voice through `twilio`.
fn through(twilio: &Receiver) -> impl FnOnce(&mut keel_platform::config::Settings) + use<> {
    let url = twilio.url.clone();
    move |s| {
        s.twilio_account_sid = Some("AC0123".into());
        s.twilio_auth_token = Some("tok-secret".into());
        s.twilio_from = Some("+15005550006".into());
        s.twilio_api_url = url;
    }
}

/// Alice adds the phone +14155550100; returns the method and the text carrying its code.
async fn alice_adds_a_phone(app: &TestApp, w: &World, twilio: &Receiver) -> (Value, Received) {
    let sms = app
        .api(&w.alice.1)
        .post(
            "/api/v1/me/contact-methods",
            json!({"kind": "sms", "address": "+14155550100"}),
        )
        .await
        .ok();
    let request = twilio.wait_for(TEXTS, 1).await.pop().unwrap();
    (sms, request)
}

/// Alice's phone, verified with the code texted to it, paging her at once for high-urgency
/// incidents; the policy pages her.
async fn alice_texted(app: &TestApp, w: &World, twilio: &Receiver) {
    let alice = app.api(&w.alice.1);
    let (sms, request) = alice_adds_a_phone(app, w, twilio).await;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body.as_bytes())
        .into_owned()
        .collect();
    let body = &form.iter().find(|(k, _)| k == "Body").unwrap().1;
    alice
        .post(
            &format!("/api/v1/me/contact-methods/{}/verify", sms["id"]),
            json!({"code": code_in(body)}),
        )
        .await
        .ok();
    alice_paged_through(app, w, &sms).await;
}

/// Alice's rule: high-urgency incidents reach her through `method` at once; the policy
/// pages her.
async fn alice_paged_through(app: &TestApp, w: &World, method: &Value) {
    app.api(&w.alice.1)
        .post(
            "/api/v1/me/notification-rules",
            json!({"contact_method_id": method["id"], "urgency": "high", "delay_minutes": 0}),
        )
        .await
        .ok();
    attach_policy(app, w, json!([page_user(30, w.alice.0)]), 0).await;
}

async fn two_nodes_keep_an_address_under_its_cap(backend: Backend) {
    let twilio = Receiver::start().await;
    let a = TestApp::spawn_with(backend, through(&twilio)).await;
    let w = world(&a).await;
    alice_texted(&a, &w, &twilio).await;
    let mut settings = common::settings_for(&a.db);
    through(&twilio)(&mut settings);
    let b = TestApp::spawn_on(a.db.clone(), settings).await;
    b.clock.set(a.platform.now());

    // A storm through both nodes at once: three texts a minute reach the phone (the code was
    // the first), whichever node's worker takes each page; the rest wait for the summary.
    let client = common::client();
    let sends = (0..8).map(|n| {
        let node = if n % 2 == 0 { &a } else { &b };
        let body = json!({"routing_key": w.key, "event_action": "trigger", "dedup_key": format!("storm-{n}"),
            "payload": {"summary": format!("storm {n}"), "source": "probe", "severity": "critical"}});
        let api = node.api(&client);
        async move { api.post("/v2/enqueue", body).await.expect(202) }
    });
    futures_util::future::join_all(sends).await;
    let open = a.incidents("status=triggered").await;
    assert_eq!(open.len(), 8);
    let mut held = 0;
    for incident in &open {
        let id = incident["id"].as_i64().unwrap();
        let d = eventually(Duration::from_secs(10), || async {
            let d = a.incident(id).await;
            (!entries(&d, "notified").is_empty() || !entries(&d, "notification_held").is_empty())
                .then_some(d)
        })
        .await
        .expect("sent or held");
        held += entries(&d, "notification_held").len();
    }
    let texts = twilio.requests().iter().filter(|r| r.path == TEXTS).count();
    assert_eq!(
        (texts, held),
        (3, 6),
        "three texts this minute (the code and two pages), six held"
    );
    b.stop().await;
    a.stop().await;
}

async fn twilio_sms_and_voice_follow_the_wire_contract(backend: Backend) {
    let twilio = Receiver::start().await;
    let app = TestApp::spawn_with(backend, through(&twilio)).await;
    let w = world(&app).await;
    let alice = app.api(&w.alice.1);
    let (sms, request) = alice_adds_a_phone(&app, &w, &twilio).await;
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
    alice
        .post(
            &format!("/api/v1/me/contact-methods/{}/verify", sms["id"]),
            json!({"code": code}),
        )
        .await
        .ok();

    let voice = alice
        .post(
            "/api/v1/me/contact-methods",
            json!({"kind": "voice", "address": "+14155550101"}),
        )
        .await
        .ok();
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
    alice_paged_through(&app, &w, &sms).await;
    twilio.answer(500);
    let id = app.trigger(&w.key, "cache").await;
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
        let id = app.trigger(&w.key, &format!("flood-{n}")).await;
        let d = eventually(Duration::from_secs(10), || async {
            let d = app.incident(id).await;
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

async fn outgoing_webhooks_are_signed_and_teams_are_isolated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let receiver = Receiver::start().await;
    let created = app
        .create_webhook(w.team, &format!("{}/hooks/keel?token=abc", receiver.url))
        .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    let listed = app.admin_api().get("/api/v1/webhooks").await.json_ok();
    assert!(
        !listed[0]["url"].as_str().unwrap().contains("token"),
        "paths are hidden when listed"
    );

    let id = app.trigger(&w.key, "web").await;
    app.api(&w.alice.1)
        .post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await
        .ok();
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
    let carol = app.api(&carol);
    let schedule = create_schedule(&app, &w, json!({"name": "s", "time_zone": "UTC", "layers": [{"shift_unit": "days", "shift_length": 1, "starts_local": "2026-01-01T00:00", "participants": [w.alice.0]}]})).await;
    let to_schedule =
        json!([{"delay_minutes": 5, "targets": [{"type": "schedule", "id": schedule["id"]}]}]);
    let policy = app.create_policy(w.team, "p", to_schedule.clone(), 0).await;
    for path in [
        format!("/api/v1/schedules/{}", schedule["id"]),
        format!("/api/v1/schedules/{}/on-call", schedule["id"]),
        format!("/api/v1/escalation-policies/{policy}"),
        format!("/api/v1/incidents/{id}"),
    ] {
        carol.get(&path).await.expect(404);
    }
    assert_eq!(carol.get("/api/v1/schedules").await.json_ok(), json!([]));
    assert_eq!(carol.get("/api/v1/webhooks").await.json_ok(), json!([]));
    carol
        .delete(&format!("/api/v1/webhooks/{}", created["webhook"]["id"]))
        .await
        .expect(404);
    // Carol cannot point her policy at a schedule she cannot see.
    carol
        .post(
            "/api/v1/escalation-policies",
            json!({"team_id": other_team, "name": "p", "levels": to_schedule}),
        )
        .await
        .expect(422);
    // A policy in use cannot be deleted.
    app.attach_policy(w.service, policy).await;
    app.admin_api()
        .delete(&format!("/api/v1/escalation-policies/{policy}"))
        .await
        .expect(409);
    app.stop().await;
}

/// On PostgreSQL a transaction may take its timeline entry's id early and commit late, after
/// entries with larger ids went out. Its entry is sent when it commits, never skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeline_entry_committed_late_still_reaches_webhooks() {
    if common::postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    let w = world(&app).await;
    let receiver = Receiver::start().await;
    app.create_webhook(w.team, &format!("{}/hooks", receiver.url))
        .await;
    let id = app.trigger(&w.key, "late").await;
    receiver.wait_for("/hooks", 1).await;

    let mut slow = app.platform.db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO oa_incident_log (incident_id, at, kind, actor, message, details) \
         VALUES ($1, $2, 'note', 'system', 'written first, committed last', '{}')",
    )
    .bind(id)
    .bind(app.platform.now().as_millis())
    .execute(&mut *slow)
    .await
    .unwrap();
    app.api(&w.alice.1)
        .post(
            &format!("/api/v1/incidents/{id}/notes"),
            json!({"text": "written second, committed first"}),
        )
        .await
        .ok();
    // Long enough for the dispatcher to have run many times past the later entry's id.
    tokio::time::sleep(Duration::from_secs(3)).await;
    slow.commit().await.unwrap();

    let got = receiver.wait_for("/hooks", 3).await;
    let messages: Vec<String> = got
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["message"].to_string())
        .collect();
    for expected in [
        "written first, committed last",
        "written second, committed first",
    ] {
        assert_eq!(
            messages.iter().filter(|m| m.contains(expected)).count(),
            1,
            "{expected}: {messages:?}"
        );
    }
    app.stop().await;
}

async fn one_click_links_ask_before_they_act(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let id = app.trigger(&w.key, "links").await;
    let now = app.platform.now();
    let token =
        keel_openalert::notify::action_token(&app.platform, id, w.alice.0, "acknowledge", now);
    let anonymous = app.visitor();

    // Opening the link (as a mail scanner would) changes nothing.
    let html = anonymous.page(&format!("/openalert/act/{token}")).await;
    assert!(
        html.contains("Acknowledge") && html.contains("<form"),
        "{html}"
    );
    assert_eq!(app.incident(id).await["status"], "triggered");

    let tampered = token.replace(&format!(".{}.", w.alice.0), &format!(".{}.", w.bob.0));
    anonymous
        .post(&format!("/openalert/act/{tampered}"), None)
        .await
        .expect(404);
    assert_eq!(app.incident(id).await["status"], "triggered");

    anonymous
        .post(&format!("/openalert/act/{token}"), None)
        .await
        .expect(200);
    let d = app.incident(id).await;
    assert_eq!(d["status"], "acknowledged");
    assert_eq!(d["acknowledged_by"], w.alice.0);

    // Expired links do nothing.
    let resolve =
        keel_openalert::notify::action_token(&app.platform, id, w.alice.0, "resolve", now);
    app.clock.advance(Duration::from_secs(25 * 3600));
    anonymous
        .post(&format!("/openalert/act/{resolve}"), None)
        .await
        .expect(404);
    assert_eq!(app.incident(id).await["status"], "acknowledged");
    app.stop().await;
}

async fn notification_mail_is_multipart_with_a_bounded_subject(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    attach_policy(&app, &w, json!([page_user(5, w.alice.0)]), 0).await;
    let summary = format!("Disk full on Zürich-1 {}", "ü".repeat(2000));
    app.enqueue(
        json!({"routing_key": w.key, "event_action": "trigger", "dedup_key": "disk",
        "payload": {"summary": summary, "source": "zrh-1", "severity": "critical",
            "custom_details": {"used": "99%"}},
        "links": [{"href": "https://grafana.example.com/d/disk", "text": "Dashboard"},
            {"href": "javascript:alert(1)", "text": "bad"}]}),
    )
    .await
    .expect(202);
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
