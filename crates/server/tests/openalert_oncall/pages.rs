//! The on-call pages: schedules, policies and contact methods edited through forms.

use super::*;

crate::on_both_backends!(pages_edit_schedules_policies_and_contact_methods,);

/// Submits a form; returns the status and where it redirects (or the page it shows).
async fn form(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let answer = app.api(client).form(path, fields).await;
    let location = answer
        .headers
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (answer.status, location.unwrap_or(answer.text))
}

async fn page(client: &reqwest::Client, app: &TestApp, path: &str) -> String {
    app.api(client).page(path).await
}

async fn pages_edit_schedules_policies_and_contact_methods(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let (schedule_page, sid) = schedule_from_its_pages(&app, &w).await;
    home_page_says_who_is_on_call(&app).await;
    member_overrides_through_the_page(&app, &w, &schedule_page, sid).await;
    let pid = policy_from_its_editor(&app, &w, sid).await;
    service_page_picks_the_policy(&app, &w, pid).await;
    my_notifications_page_adds_verifies_and_tests_a_method(&app, &w).await;
    app.stop().await;
}

/// A schedule from the "On call" page, then edited; returns its page and id.
async fn schedule_from_its_pages(app: &TestApp, w: &World) -> (String, i64) {
    let team = w.team.to_string();
    let create = async |participants: &str| {
        form(
            &app.client,
            app,
            "/openalert/schedules",
            &[
                ("name", "primary"),
                ("team_id", &team),
                ("time_zone", "Europe/Berlin"),
                ("layer0_length", "1"),
                ("layer0_unit", "weeks"),
                ("layer0_start", "2026-01-05T09:00"),
                ("layer0_participants", participants),
            ],
        )
        .await
    };
    // A bad participant is named inline (422).
    let (status, html) = create("alice@example.com\nnobody@example.com").await;
    assert_eq!(status, 422);
    assert!(
        html.contains("no active user `nobody@example.com`"),
        "{html}"
    );
    let (status, location) = create("alice@example.com\nbob@example.com").await;
    assert_eq!(status, 303, "{location}");
    let schedule_page = location.clone();
    let html = page(&app.client, app, &schedule_page).await;
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
    let (status, html) = form(&app.client, app, &schedule_page, &bad).await;
    assert_eq!(status, 422);
    assert!(html.contains("write days and hours like"), "{html}");
    let good = edit("mon-fri 09:00-17:00");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = form(&app.client, app, &schedule_page, &good).await;
    assert_eq!(status, 303);
    let sid: i64 = schedule_page.rsplit('/').next().unwrap().parse().unwrap();
    let schedule = get(app, &app.client, &format!("/api/v1/schedules/{sid}")).await;
    assert_eq!(
        schedule["layers"][1]["restrictions"][0],
        json!({"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"})
    );
    (schedule_page, sid)
}

/// The home page says who is on call; Carol, in no team, sees no such card.
async fn home_page_says_who_is_on_call(app: &TestApp) {
    let home = page(&app.client, app, "/").await;
    assert!(
        home.contains("On call now") && home.contains("primary: "),
        "{home}"
    );
    let (_, carol) = app.member("carol@example.com").await;
    assert!(!page(&carol, app, "/").await.contains("On call now"));
}

/// Alice overrides herself in through the page (as a member).
async fn member_overrides_through_the_page(
    app: &TestApp,
    w: &World,
    schedule_page: &str,
    sid: i64,
) {
    let (status, _) = form(
        &w.alice.1,
        app,
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
        app,
        &app.client,
        &format!(
            "/api/v1/schedules/{sid}/overrides?from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z"
        ),
    )
    .await;
    // 10:00 in Berlin in winter is 09:00 UTC.
    assert_eq!(overrides[0]["starts_at"], "2030-01-01T09:00:00.000Z");
}

/// A policy from its editor: level 1 the schedule, level 2 the team; returns its id.
async fn policy_from_its_editor(app: &TestApp, w: &World, sid: i64) -> i64 {
    let team = w.team.to_string();
    let (status, location) = form(
        &app.client,
        app,
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
        app,
        &app.client,
        &format!("/api/v1/escalation-policies/{pid}"),
    )
    .await;
    assert_eq!(policy["levels"].as_array().unwrap().len(), 2);
    assert_eq!(policy["repeat_count"], 2);
    assert_eq!(policy["levels"][1]["targets"].as_array().unwrap().len(), 2);
    let (status, html) = form(
        &app.client,
        app,
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
    pid
}

/// The service page picks the policy and shows who is paged first.
async fn service_page_picks_the_policy(app: &TestApp, w: &World, pid: i64) {
    let (status, _) = form(
        &app.client,
        app,
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
        app,
        &format!("/openalert/services/{}", w.service),
    )
    .await;
    assert!(html.contains("First paged now"), "{html}");
}

/// My notifications: add a webhook method, verify it with the code it received, test it.
async fn my_notifications_page_adds_verifies_and_tests_a_method(app: &TestApp, w: &World) {
    let receiver = Receiver::start().await;
    let (status, html) = form(
        &w.alice.1,
        app,
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
    let mid = get(app, &w.alice.1, "/api/v1/me/contact-methods").await[0]["id"]
        .as_i64()
        .unwrap();
    let (status, html) = form(
        &w.alice.1,
        app,
        &format!("/openalert/me/methods/{mid}/verify"),
        &[("code", "nope")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("is wrong or has expired"));
    let (status, html) = form(
        &w.alice.1,
        app,
        &format!("/openalert/me/methods/{mid}/verify"),
        &[("code", &code)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Send test notification"));
    let (status, _) = form(
        &w.alice.1,
        app,
        &format!("/openalert/me/methods/{mid}/test"),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    receiver.wait_for("/alice", 2).await;
    let (status, html) = form(
        &w.alice.1,
        app,
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
    let (status, html) = form(&w.alice.1, app, "/openalert/me/feed/rotate", &[]).await;
    assert_eq!(status, 200);
    assert!(html.contains("/oncall/feeds/users/"));
    // Bob cannot act on Alice's method through the pages either.
    let (status, _) = form(
        &w.bob.1,
        app,
        &format!("/openalert/me/methods/{mid}/delete"),
        &[],
    )
    .await;
    assert_eq!(status, 404);
}
