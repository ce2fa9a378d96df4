//! MindfulCRM over HTTP on SQLite and PostgreSQL: contacts, tags, interactions, tasks,
//! validation, and one user never seeing another's data.

mod common;

use std::time::Duration;

use common::{Backend, TestApp, field_names, get, post, send};
use serde_json::json;

on_both_backends!(
    contacts_crud_with_emails_phones_tags_and_filters,
    interactions_drive_last_contact_and_health,
    tasks_are_created_completed_reopened_and_deleted,
    bad_input_names_the_field_and_stores_nothing,
    another_user_sees_none_of_it,
);

async fn contacts_crud_with_emails_phones_tags_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = post(&app, c, "/api/v1/crm/contacts", json!({
        "given_name": "Ada", "family_name": "Lovelace", "company": "Analytical Engines",
        "birthday": "1815-12-10", "stage": "close", "cadence_days": 14,
        "emails": [{"value": "Ada@Example.com", "label": "work"}], "phones": [{"value": "+44 20 7946 0000"}],
        "tags": ["Math", "friends"]
    })).await;
    assert_eq!(ada["display_name"], "Ada Lovelace");
    assert_eq!(
        ada["emails"][0],
        json!({"value": "ada@example.com", "label": "work"})
    );
    assert_eq!(ada["tags"], json!(["friends", "math"]));
    assert_eq!(ada["health"], "due", "a cadence and no interaction yet");
    for (given, company, tags) in [
        ("Grace", "Navy", vec!["math"]),
        ("Alan", "Bletchley", vec![]),
        ("Edsger", "", vec!["friends"]),
    ] {
        post(
            &app,
            c,
            "/api/v1/crm/contacts",
            json!({"given_name": given, "company": company, "tags": tags}),
        )
        .await;
    }
    let id = ada["id"].as_i64().unwrap();

    // Pages in name order, tags included, with a cursor.
    let page = get(&app, c, "/api/v1/crm/contacts?limit=2").await;
    let names: Vec<&str> = page["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada Lovelace", "Alan"]);
    assert_eq!(page["contacts"][0]["tags"], json!(["friends", "math"]));
    let next = page["next"].as_str().unwrap();
    let rest = get(
        &app,
        c,
        &format!("/api/v1/crm/contacts?limit=2&after={next}"),
    )
    .await;
    let names: Vec<&str> = rest["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Edsger", "Grace"]);

    let by_tag = get(&app, c, "/api/v1/crm/contacts?tag=math").await;
    assert_eq!(by_tag["contacts"].as_array().unwrap().len(), 2);
    let by_search = get(&app, c, "/api/v1/crm/contacts?q=bletch").await;
    assert_eq!(by_search["contacts"][0]["display_name"], "Alan");
    let by_email = get(&app, c, "/api/v1/crm/contacts?q=ada%40example").await;
    assert_eq!(by_email["contacts"].as_array().unwrap().len(), 1);
    let due = get(&app, c, "/api/v1/crm/contacts?health=due").await;
    assert_eq!(due["contacts"].as_array().unwrap().len(), 1);
    let close = get(&app, c, "/api/v1/crm/contacts?stage=close").await;
    assert_eq!(close["contacts"].as_array().unwrap().len(), 1);
    let tags = get(&app, c, "/api/v1/crm/tags").await;
    assert_eq!(
        tags,
        json!([{"name": "friends", "contacts": 2}, {"name": "math", "contacts": 2}])
    );

    // Replace: fields, emails and tags follow the body.
    let (status, updated) = send(c, &app, reqwest::Method::PUT, &format!("/api/v1/crm/contacts/{id}"), Some(json!({
        "given_name": "Ada", "family_name": "King", "display_name": "Ada King", "stage": "archived", "tags": ["math"]
    }))).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["emails"], json!([]));
    assert_eq!(updated["tags"], json!(["math"]));
    let listed = get(&app, c, "/api/v1/crm/contacts").await;
    assert!(
        listed["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != id),
        "archived contacts leave the default list"
    );
    assert_eq!(
        get(&app, c, "/api/v1/crm/contacts?stage=archived").await["contacts"][0]["id"],
        id
    );

    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/contacts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/crm/contacts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn interactions_drive_last_contact_and_health(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let a = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Ann", "cadence_days": 7}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let b = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Bo", "cadence_days": 30}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let now = app.platform.now();
    let ten_days_ago = now.minus(Duration::from_secs(10 * 86_400));
    let lunch = post(&app, c, "/api/v1/crm/interactions", json!({
        "kind": "meeting", "occurred_at": ten_days_ago, "subject": "Lunch", "summary": "Talked about the move",
        "sentiment": "positive", "contact_ids": [a, b]
    })).await;
    assert_eq!(lunch["contacts"].as_array().unwrap().len(), 2);
    let ann = get(&app, c, &format!("/api/v1/crm/contacts/{a}")).await;
    assert_eq!(ann["last_interaction_at"], json!(ten_days_ago));
    assert_eq!(ann["health"], "due");
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/contacts/{b}")).await["health"],
        "on_cadence"
    );

    let call = post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "call", "subject": "Catch-up", "contact_ids": [a], "source_ref": "call-1"}),
    )
    .await;
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/contacts/{a}")).await["health"],
        "on_cadence"
    );
    // The same source twice is refused (re-syncs never duplicate).
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/interactions",
        Some(
            json!({"kind": "call", "subject": "again", "contact_ids": [a], "source_ref": "call-1"}),
        ),
    )
    .await;
    assert_eq!(status, 409);

    let timeline = get(&app, c, &format!("/api/v1/crm/interactions?contact_id={a}")).await;
    let subjects: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Catch-up", "Lunch"]);
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/interactions?contact_id={b}"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Deleting the latest interaction moves the last contact back.
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/interactions/{}", call["id"]),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/contacts/{a}")).await["last_interaction_at"],
        json!(ten_days_ago)
    );

    // Pages follow the list's time order even when interactions are logged after the fact.
    for days in [1, 3, 2] {
        post(&app, c, "/api/v1/crm/interactions", json!({
            "kind": "note", "occurred_at": now.minus(Duration::from_secs(days * 86_400)), "summary": format!("{days} days ago"), "contact_ids": [b]
        }))
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(
            &app,
            c,
            &format!("/api/v1/crm/interactions?contact_id={b}&limit=2{cursor}"),
        )
        .await;
        let page = page.as_array().unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(
            page.iter()
                .map(|i| i["summary"].as_str().unwrap().to_string()),
        );
        cursor = format!("&before_id={}", page.last().unwrap()["id"]);
    }
    assert_eq!(
        seen,
        [
            "1 days ago",
            "2 days ago",
            "3 days ago",
            "Talked about the move"
        ]
    );
    app.stop().await;
}

async fn tasks_are_created_completed_reopened_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let kim = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Kim"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let yesterday = app.platform.now().minus(Duration::from_secs(86_400));
    let task = post(&app, c, "/api/v1/crm/tasks", json!({"title": "Send the book", "due_at": yesterday, "priority": "high", "contact_ids": [kim]})).await;
    let id = task["id"].as_i64().unwrap();
    assert_eq!(task["overdue"], true);
    assert_eq!(task["contacts"][0]["display_name"], "Kim");
    post(
        &app,
        c,
        "/api/v1/crm/tasks",
        json!({"title": "Plan the trip"}),
    )
    .await;

    let done = post(
        &app,
        c,
        &format!("/api/v1/crm/tasks/{id}/complete"),
        json!({}),
    )
    .await;
    assert_eq!(
        (done["status"].as_str(), done["overdue"].as_bool()),
        (Some("done"), Some(false))
    );
    assert!(done["completed_at"].is_string());
    assert_eq!(
        get(&app, c, "/api/v1/crm/tasks?status=open")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let reopened = post(
        &app,
        c,
        &format!("/api/v1/crm/tasks/{id}/reopen"),
        json!({}),
    )
    .await;
    assert_eq!(reopened["status"], "open");
    assert!(reopened["completed_at"].is_null());

    let (status, edited) = send(
        c,
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/crm/tasks/{id}"),
        Some(json!({"title": "Send the book (signed)", "contact_ids": []})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(edited["contacts"], json!([]));
    assert!(edited["due_at"].is_null());
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/tasks?contact_id={kim}")).await,
        json!([])
    );

    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/tasks/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        get(&app, c, "/api/v1/crm/tasks")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.stop().await;
}

async fn bad_input_names_the_field_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let (status, problem) = send(c, &app, reqwest::Method::POST, "/api/v1/crm/contacts", Some(json!({
        "birthday": "1990-02-30", "stage": "bestie", "cadence_days": 0, "emails": [{"value": "not-an-email"}], "tags": [""],
        "addresses": [{"label": "home"}], "links": [{"value": "javascript:alert(1)"}, {"value": "https://ok.example", "label": "x".repeat(51)}]
    }))).await;
    assert_eq!(status, 422);
    let mut fields = field_names(&problem);
    fields.sort();
    assert_eq!(
        fields,
        [
            "addresses[0]",
            "birthday",
            "cadence_days",
            "display_name",
            "emails[0]",
            "links[0]",
            "links[1].label",
            "stage",
            "tags[0]"
        ]
    );
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/contacts",
        Some(json!({"given_name": "X", "favourite_colour": "blue"})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/contacts",
        Some(json!({"given_name": 7})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/interactions",
        Some(json!({"kind": "telepathy", "occurred_at": "yesterday", "contact_ids": [424242]})),
    )
    .await;
    assert_eq!(status, 422);
    let mut fields = field_names(&problem);
    fields.sort();
    assert_eq!(fields, ["contact_ids", "kind", "occurred_at", "summary"]);
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/tasks",
        Some(json!({"title": " ", "priority": "urgent", "due_at": "soon"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(field_names(&problem).len(), 3);
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::GET,
        "/api/v1/crm/contacts?after=garbage",
        None,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        get(&app, c, "/api/v1/crm/contacts").await["contacts"],
        json!([])
    );
    assert_eq!(get(&app, c, "/api/v1/crm/tasks").await, json!([]));
    app.stop().await;
}

async fn another_user_sees_none_of_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let contact = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Secret", "tags": ["private"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let interaction = post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "note", "summary": "confidential", "contact_ids": [contact]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let task = post(
        &app,
        c,
        "/api/v1/crm/tasks",
        json!({"title": "mine", "contact_ids": [contact]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (_, bob) = app.member("bob@example.com").await;

    // Even an admin's contacts are theirs alone: Bob gets 404 for every id, in API and pages.
    for (method, path) in [
        (
            reqwest::Method::GET,
            format!("/api/v1/crm/contacts/{contact}"),
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/crm/contacts/{contact}"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/crm/contacts/{contact}"),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/crm/interactions/{interaction}"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/crm/interactions/{interaction}"),
        ),
        (reqwest::Method::GET, format!("/api/v1/crm/tasks/{task}")),
        (reqwest::Method::PUT, format!("/api/v1/crm/tasks/{task}")),
        (
            reqwest::Method::POST,
            format!("/api/v1/crm/tasks/{task}/complete"),
        ),
        (reqwest::Method::DELETE, format!("/api/v1/crm/tasks/{task}")),
    ] {
        let body = (method == reqwest::Method::PUT).then(|| {
            if path.contains("/tasks/") {
                json!({"title": "Bob was here"})
            } else {
                json!({"given_name": "Bob was here"})
            }
        });
        let (status, _) = send(&bob, &app, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    for path in [format!("/crm/contacts/{contact}")] {
        assert_eq!(bob.get(app.url(&path)).send().await.unwrap().status(), 404);
    }
    for (path, action) in [
        (format!("/crm/tasks/{task}/complete"), "complete"),
        (format!("/crm/contacts/{contact}/delete"), "delete"),
    ] {
        let status = bob
            .post(app.url(&path))
            .form(&[("back", "/crm")])
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{action}");
    }
    // Linking someone else's contact is refused as if it did not exist.
    let (status, problem) = send(
        &bob,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/interactions",
        Some(json!({"kind": "note", "summary": "x", "contact_ids": [contact]})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(field_names(&problem), ["contact_ids"]);
    assert_eq!(
        get(&app, &bob, "/api/v1/crm/contacts?q=secret").await["contacts"],
        json!([])
    );
    assert_eq!(get(&app, &bob, "/api/v1/crm/tags").await, json!([]));
    assert_eq!(get(&app, &bob, "/api/v1/crm/interactions").await, json!([]));
    assert_eq!(get(&app, &bob, "/api/v1/crm/tasks").await, json!([]));
    // And nothing of the owner's changed.
    let owner_view = get(&app, c, &format!("/api/v1/crm/tasks/{task}")).await;
    assert_eq!(
        (owner_view["title"].as_str(), owner_view["status"].as_str()),
        (Some("mine"), Some("open"))
    );
    app.stop().await;
}
