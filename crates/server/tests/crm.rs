//! MindfulCRM over HTTP on SQLite and PostgreSQL: contacts, tags, interactions, tasks, their
//! pages, validation, and one user never seeing another's data.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{Backend, TestApp, field_names, get, post, send};
use serde_json::{Value, json};

on_both_backends!(
    contacts_crud_with_emails_phones_tags_and_filters,
    interactions_drive_last_contact_and_health,
    tasks_are_created_completed_reopened_and_deleted,
    bad_input_names_the_field_and_stores_nothing,
    another_user_sees_none_of_it,
    pages_show_real_data_and_every_form_works,
    vcard_and_csv_round_trip_and_bad_files_write_nothing,
    search_covers_names_emails_notes_and_interactions_and_follows_edits,
    a_search_matching_thousands_pages_in_name_order,
    account_deletion_asks_for_the_password_and_leaves_no_row_behind,
    photos_are_checked_served_kept_private_and_travel_in_vcards,
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

async fn pages_show_real_data_and_every_form_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let html = c
        .get(app.url("/crm"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No contacts yet"));

    let form = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let bad = c
        .post(app.url("/crm/contacts"))
        .form(&form(&[
            ("given_name", ""),
            ("emails", "nope"),
            ("stage", "new"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(html.contains("a contact needs a name: a given name"));
    assert!(
        html.contains(">nope</textarea>"),
        "what was typed stays in the form"
    );
    assert!(
        app.page_text(c, "/crm/contacts")
            .await
            .contains(">0 contacts</p>"),
        "the list says how many there are"
    );
    let created = c
        .post(app.url("/crm/contacts"))
        .form(&form(&[
            ("given_name", "Mia"),
            ("family_name", "Wong"),
            ("company", "Acme"),
            ("cadence_days", "7"),
            ("emails", "mia@example.com"),
            ("stage", "active"),
            ("tags", "climbing"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    let mia = get(&app, c, &format!("/api/v1/crm/contacts/{id}")).await;
    assert_eq!(
        (mia["stage"].as_str(), mia["tags"][0].as_str()),
        (Some("active"), Some("climbing")),
        "stage and tags are set on creation"
    );

    // The dashboard lists her as due (a cadence, never talked).
    let html = c
        .get(app.url("/crm"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Mia Wong") && html.contains("never talked"));
    assert!(
        html.contains(r#"Due for a reconnect <span class="badge warn">1</span>"#),
        "the dashboard counts who is due"
    );

    // Edit in place with labels, phones and tags.
    let saved = c
        .post(app.url(&location))
        .form(&form(&[
            ("given_name", "Mia"),
            ("family_name", "Wong"),
            ("display_name", "Mia W."),
            ("stage", "close"),
            ("cadence_days", "7"),
            ("emails", "mia@example.com (home)\nmia@work.example (work)"),
            ("phones", "+1 555 0100 (mobile)"),
            (
                "addresses",
                "12 Harbour Rd; Hong Kong; ; ; China (home)\n\n; Lisbon; ; ; Portugal",
            ),
            ("links", "https://www.linkedin.com/in/mia (linkedin)"),
            ("tags", "Family, climbing"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let contact = get(&app, c, &format!("/api/v1/crm/contacts/{id}")).await;
    assert_eq!(
        contact["addresses"],
        json!([
            {"label": "home", "street": "12 Harbour Rd", "locality": "Hong Kong", "region": "", "postal_code": "", "country": "China"},
            {"label": "", "street": "", "locality": "Lisbon", "region": "", "postal_code": "", "country": "Portugal"}
        ])
    );
    assert_eq!(
        contact["links"],
        json!([{"value": "https://www.linkedin.com/in/mia", "label": "linkedin"}])
    );
    let page = app.page_text(c, &location).await;
    assert!(
        page.contains(r#"<a class="badge" href="https://www.linkedin.com/in/mia" rel="noopener noreferrer">linkedin</a>"#)
            && page.contains("12 Harbour Rd; Hong Kong; ; ; China (home)"),
        "the page shows the links and addresses"
    );
    assert_eq!(
        contact["emails"][1],
        json!({"value": "mia@work.example", "label": "work"})
    );
    assert_eq!(
        contact["phones"][0],
        json!({"value": "+1 555 0100", "label": "mobile"})
    );
    assert_eq!(contact["tags"], json!(["climbing", "family"]));
    let invalid = c
        .post(app.url(&location))
        .form(&form(&[
            ("given_name", "Mia"),
            ("stage", "close"),
            ("birthday", "someday"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    assert!(
        invalid
            .text()
            .await
            .unwrap()
            .contains("must be YYYY-MM-DD or --MM-DD")
    );

    // Log an interaction and add, complete, reopen and delete a task from her page.
    let logged = c
        .post(app.url(&format!("/crm/contacts/{id}/interactions")))
        .form(&form(&[
            ("kind", "call"),
            ("occurred_at", ""),
            ("subject", "Birthday call"),
            ("summary", "She starts the new job in May"),
            ("sentiment", "positive"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(logged.status(), 303);
    let added = c
        .post(app.url("/crm/tasks"))
        .form(&form(&[
            ("title", "Send flowers"),
            ("due_at", "2020-01-01T10:00"),
            ("contact_id", &id.to_string()),
            ("back", &location),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 303);
    assert_eq!(added.headers()["location"], location.as_str());
    let html = c
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Birthday call") && html.contains("Send flowers") && html.contains("overdue")
    );
    assert!(
        html.contains("<strong>Next step:</strong> Send flowers"),
        "the profile says what to do next"
    );
    assert!(
        html.contains(r#"<details class="card" id="edit">"#),
        "editing folds away"
    );
    let task = get(&app, c, "/api/v1/crm/tasks").await[0]["id"]
        .as_i64()
        .unwrap();
    for (action, status) in [("complete", "done"), ("reopen", "open")] {
        let r = c
            .post(app.url(&format!("/crm/tasks/{task}/{action}")))
            .form(&[("back", "/crm/tasks")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(
            get(&app, c, &format!("/api/v1/crm/tasks/{task}")).await["status"],
            status
        );
    }
    let html = c
        .get(app.url("/crm/tasks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Send flowers"));
    let html = c
        .get(app.url("/crm/contacts?tag=family"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Mia W."));
    let html = c
        .get(app.url("/crm/contacts?q=acme-nothing"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No contacts match"));
    let r = c
        .post(app.url(&format!("/crm/tasks/{task}/delete")))
        .form(&[("back", "/crm/tasks")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let interaction = get(&app, c, "/api/v1/crm/interactions").await[0]["id"]
        .as_i64()
        .unwrap();
    let r = c
        .post(app.url(&format!("/crm/interactions/{interaction}/delete")))
        .form(&[("back", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/crm", "no open redirects");
    let r = c
        .post(app.url(&format!("/crm/contacts/{id}/delete")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        get(&app, c, "/api/v1/crm/contacts").await["contacts"],
        json!([])
    );
    app.stop().await;
}

async fn vcard_and_csv_round_trip_and_bad_files_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let original = json!({
        "given_name": "Zoë", "family_name": "O'Neil; Jr", "display_name": "Zoë O'Neil", "company": "Acme, Inc.",
        "title": "CTO", "birthday": "--07-14", "website": "https://zoe.example", "notes": "Met at the conference.\nLikes climbing, tea; jazz.",
        "stage": "close", "emails": [{"value": "zoe@example.com", "label": "work"}, {"value": "z@home.example", "label": ""}],
        "phones": [{"value": "+1 (555) 010-0199", "label": "cell"}], "tags": ["climbing", "friends"],
        "addresses": [
            {"label": "home", "street": "1 Rue de la Paix; Apt 2", "locality": "Paris", "region": "", "postal_code": "75002", "country": "France"},
            {"label": "", "street": "", "locality": "Zürich", "region": "ZH", "postal_code": "", "country": ""}
        ],
        "links": [{"value": "https://www.linkedin.com/in/zoe", "label": "linkedin"}, {"value": "https://zoe.example/blog?a=1;b=2", "label": ""}]
    });
    post(&app, c, "/api/v1/crm/contacts", original.clone()).await;
    for n in 0..620 {
        post(
            &app,
            c,
            "/api/v1/crm/contacts",
            json!({"given_name": format!("Person {n:04}")}),
        )
        .await;
    }

    // The export spans several pages of the stream and holds every contact once.
    let vcf = c
        .get(app.url("/api/v1/crm/export/contacts.vcf"))
        .send()
        .await
        .unwrap();
    assert_eq!(vcf.status(), 200);
    assert!(
        vcf.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/vcard")
    );
    let vcf = vcf.text().await.unwrap();
    assert_eq!(vcf.matches("BEGIN:VCARD").count(), 621);
    assert!(vcf.lines().all(|l| l.len() <= 75));
    let csv = c
        .get(app.url("/api/v1/crm/export/contacts.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.records().count(), 621);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let zoe = reader
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[1] == "Zoë O'Neil")
        .unwrap();
    assert_eq!(
        (&zoe[4], &zoe[8], &zoe[11], &zoe[13], &zoe[14]),
        (
            "Acme, Inc.",
            "https://www.linkedin.com/in/zoe (linkedin)\nhttps://zoe.example/blog?a=1;b=2",
            "zoe@example.com (work); z@home.example",
            "1 Rue de la Paix; Apt 2; Paris; ; 75002; France (home)\n; Zürich; ZH; ; ",
            "climbing, friends"
        )
    );

    // Another user imports the file: field for field the same contact.
    let (_, bob) = app.member("bob@example.com").await;
    let dry = bob
        .post(app.url("/api/v1/crm/import/vcard?dry_run=true"))
        .body(vcf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status(), 200);
    assert_eq!(
        dry.json::<Value>().await.unwrap(),
        json!({"dry_run": true, "contacts": 621, "skipped": []})
    );
    assert_eq!(
        get(&app, &bob, "/api/v1/crm/contacts").await["contacts"],
        json!([])
    );
    let done = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(vcf)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let found = get(&app, &bob, "/api/v1/crm/contacts?q=zo%C3%AB").await;
    let id = found["contacts"][0]["id"].as_i64().unwrap();
    let imported = get(&app, &bob, &format!("/api/v1/crm/contacts/{id}")).await;
    for key in [
        "given_name",
        "family_name",
        "display_name",
        "company",
        "title",
        "birthday",
        "website",
        "notes",
        "stage",
        "emails",
        "phones",
        "tags",
        "addresses",
        "links",
    ] {
        let expected = if key == "stage" {
            json!("new")
        } else {
            original[key].clone()
        };
        assert_eq!(imported[key], expected, "{key}");
    }

    // A malformed file: every problem by line, and nothing written.
    let before = get(&app, &bob, "/api/v1/crm/contacts?limit=200").await["contacts"]
        .as_array()
        .unwrap()
        .len();
    let bad = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Fine\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:4.0\r\nEMAIL:nobody@example.com\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:Bad mail\r\nEMAIL:not-an-address\r\nEND:VCARD\r\n";
    let refused = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["line 5", "line 9"]);
    assert_eq!(
        get(&app, &bob, "/api/v1/crm/contacts?limit=200").await["contacts"]
            .as_array()
            .unwrap()
            .len(),
        before
    );

    // The page's upload form does the same.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text(bad).file_name("bad.vcf"),
    );
    let page = bob
        .post(app.url("/crm/contacts/import"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 422);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("line 5: this card has no name")
    );
    let good = "BEGIN:VCARD\nVERSION:3.0\nN:Doe;Jane;;;\nEND:VCARD\n";
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text(good).file_name("jane.vcf"),
    );
    let page = bob
        .post(app.url("/crm/contacts/import"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Imported 1 contacts"));
    app.stop().await;
}

fn names(page: &Value) -> Vec<String> {
    page["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["display_name"].as_str().unwrap().to_string())
        .collect()
}

async fn search_covers_names_emails_notes_and_interactions_and_follows_edits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let zoe = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({
            "given_name": "Zoë", "family_name": "O'Brien", "company": "Fjord Analytics",
            "notes": "Loves sailing; met at the harbour festival.",
            "emails": [{"value": "zoe.obrien@fjord.example"}]
        }),
    )
    .await;
    let zoe_id = zoe["id"].as_i64().unwrap();
    let max = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Max", "company": "Harbourside Ltd"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    post(&app, c, "/api/v1/crm/interactions", json!({
        "kind": "call", "subject": "Quarterly planning", "summary": "Discussed the kayak expedition budget",
        "contact_ids": [max]
    }))
    .await;

    let search = |q: &str| format!("/api/v1/crm/contacts?q={}", urlencode(q));
    for (q, expected) in [
        ("zoë", vec!["Zoë O'Brien"]),
        ("ZOË o'brien", vec!["Zoë O'Brien"]),
        ("fjord anal", vec!["Zoë O'Brien"]),
        ("zoe.obrien@fjord.example", vec!["Zoë O'Brien"]),
        ("sailing", vec!["Zoë O'Brien"]),
        ("harbour", vec!["Max", "Zoë O'Brien"]),
        ("kayak", vec!["Max"]),
        ("quarterly plan", vec!["Max"]),
        ("kayak zoë", vec![]),
        ("nobody-here", vec![]),
    ] {
        assert_eq!(
            names(&get(&app, c, &search(q)).await),
            expected,
            "search {q:?}"
        );
    }
    // Punctuation alone searches for nothing and filters nothing out.
    assert_eq!(names(&get(&app, c, &search("\"*:(")).await).len(), 2);

    // Edits move the index with them: new name and email found, old ones gone.
    let (status, _) = send(c, &app, reqwest::Method::PUT, &format!("/api/v1/crm/contacts/{zoe_id}"), Some(json!({
        "given_name": "Zoë", "family_name": "Lindqvist", "emails": [{"value": "zl@north.example"}]
    })))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        names(&get(&app, c, &search("lindqvist")).await),
        ["Zoë Lindqvist"]
    );
    assert_eq!(
        names(&get(&app, c, &search("north")).await),
        ["Zoë Lindqvist"]
    );
    assert!(names(&get(&app, c, &search("o'brien")).await).is_empty());
    assert!(names(&get(&app, c, &search("fjord")).await).is_empty());

    // Another user's words are not searchable from here, and deleted contacts are gone.
    let (_, bob) = app.member("bob@example.com").await;
    assert!(names(&get(&app, &bob, &search("kayak")).await).is_empty());
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/contacts/{max}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(names(&get(&app, c, &search("kayak")).await).is_empty());
    app.stop().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Rows of `user_id` left in any table with such a column, and rows left in any CRM table
/// (the deleted user is the only one with CRM data here), by table.
async fn rows_left(app: &TestApp, user_id: i64) -> Vec<(String, i64)> {
    let pool = app.platform.db.pool();
    let (tables_sql, user_tables_sql) = match app.platform.config.backend {
        keel_platform::config::Backend::Sqlite => (
            // FTS shadow tables are created with quoted names; their virtual tables are counted.
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'crm%' AND sql NOT LIKE 'CREATE TABLE ''%'",
            "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'user_id'",
        ),
        keel_platform::config::Backend::Postgres => (
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'crm%'",
            "SELECT table_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'user_id'",
        ),
    };
    let mut left = Vec::new();
    let crm: Vec<String> = sqlx::query_scalar(tables_sql)
        .fetch_all(pool)
        .await
        .unwrap();
    assert!(crm.len() >= 10, "CRM tables found: {crm:?}");
    for table in crm {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(pool)
                .await
                .unwrap();
        if n > 0 {
            left.push((table, n));
        }
    }
    let with_user: Vec<String> = sqlx::query_scalar(user_tables_sql)
        .fetch_all(pool)
        .await
        .unwrap();
    for table in with_user {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE user_id = $1"
        )))
        .bind(user_id)
        .fetch_one(pool)
        .await
        .unwrap();
        if n > 0 {
            left.push((table, n));
        }
    }
    left
}

async fn account_deletion_asks_for_the_password_and_leaves_no_row_behind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let (bob_id, bob) = app.member("bob@example.com").await;
    let token = post(&app, &bob, "/api/v1/tokens", json!({"name": "script"})).await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let contact = post(&app, &bob, "/api/v1/crm/contacts", json!({
        "given_name": "Rita", "emails": [{"value": "rita@example.com"}], "phones": [{"value": "+1 555 0100"}],
        "tags": ["family"], "notes": "private words"
    }))
    .await["id"]
        .as_i64()
        .unwrap();
    post(
        &app,
        &bob,
        "/api/v1/crm/interactions",
        json!({"kind": "call", "summary": "Long call", "contact_ids": [contact]}),
    )
    .await;
    post(
        &app,
        &bob,
        "/api/v1/crm/tasks",
        json!({"title": "Send photos", "contact_ids": [contact]}),
    )
    .await;
    post(
        &app,
        &bob,
        "/api/v1/me/contact-methods",
        json!({"kind": "email", "address": "bob@example.com"}),
    )
    .await;
    post(&app, &bob, "/api/v1/crm/events", json!({"title": "Dinner", "starts_at": "2026-12-01T18:00:00Z", "attendees": ["rita@example.com"]})).await;
    post(
        &app,
        &bob,
        "/api/v1/crm/goals",
        json!({"title": "Calls", "kind": "interactions", "period": "week", "target": 2}),
    )
    .await;
    let (status, _) = send(
        &bob,
        &app,
        reqwest::Method::PUT,
        "/api/v1/crm/settings",
        Some(json!({"time_zone": "Europe/Paris", "digest_enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!rows_left(&app, bob_id).await.is_empty());

    // A wrong password names the field and deletes nothing.
    let (status, problem) = send(
        &bob,
        &app,
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(json!({"password": "not it at all"})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(field_names(&problem), ["password"]);
    assert_eq!(
        get(&app, &bob, "/api/v1/crm/contacts").await["contacts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The only admin cannot leave the organisation without one.
    let (status, _) = send(
        &app.client,
        &app,
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(json!({"password": common::PASSWORD})),
    )
    .await;
    assert_eq!(status, 409);
    get(&app, &app.client, "/api/v1/me").await;

    let (status, _) = send(
        &bob,
        &app,
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(json!({"password": common::PASSWORD})),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(rows_left(&app, bob_id).await, Vec::<(String, i64)>::new());
    let (status, _) = send(&bob, &app, reqwest::Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, 401, "the session ended with the account");
    let with_token = app
        .new_client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 401, "and so did the token");
    let audit = get(
        &app,
        &app.client,
        "/api/v1/audit-events?action=user.deleted_own_account",
    )
    .await;
    assert!(audit.to_string().contains("bob@example.com"), "{audit}");

    // The page form: wrong password shows inline, the right one signs out and deletes.
    let (carol_id, carol) = app.member("carol@example.com").await;
    let wrong = carol
        .post(app.url("/account/delete"))
        .form(&[("password", "nope nope nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    assert!(wrong.text().await.unwrap().contains("is not your password"));
    let done = carol
        .post(app.url("/account/delete"))
        .form(&[("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, "/login?done=account-deleted");
    let signed_out = carol.get(app.url(&location)).send().await.unwrap();
    assert!(signed_out.text().await.unwrap().contains("were deleted"));
    let (status, _) = send(&carol, &app, reqwest::Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, 401);
    assert_eq!(rows_left(&app, carol_id).await, Vec::<(String, i64)>::new());
    app.stop().await;
}

async fn a_search_matching_thousands_pages_in_name_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let admin: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@example.com'")
        .fetch_one(app.platform.db.pool())
        .await
        .unwrap();
    // Every seeded contact is an "Engineer": more matches than are read up front.
    keel_mindfulcrm::seed::seed(&app.platform, admin, 2_300, 0)
        .await
        .unwrap();
    let mut seen: Vec<(String, i64)> = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(
            &app,
            c,
            &format!("/api/v1/crm/contacts?q=engineer&limit=200{cursor}"),
        )
        .await;
        for contact in page["contacts"].as_array().unwrap() {
            seen.push((
                contact["display_name"].as_str().unwrap().to_string(),
                contact["id"].as_i64().unwrap(),
            ));
        }
        match page["next"].as_str() {
            Some(next) => cursor = format!("&after={next}"),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), 2_300 - archived(&app).await);
    assert_eq!(seen, sorted, "in name order, each once");
    // A narrow search in the same data reads its few matches by id.
    let one = &seen[1234].0;
    let found = get(
        &app,
        c,
        &format!("/api/v1/crm/contacts?q={}", one.replace(' ', "%20")),
    )
    .await;
    assert_eq!(found["contacts"][0]["display_name"], one.as_str());
    app.stop().await;
}

/// Seeded contacts that are archived (left out of lists by default).
async fn archived(app: &TestApp) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM crm_contacts WHERE stage = 'archived'")
        .fetch_one(app.platform.db.pool())
        .await
        .unwrap() as usize
}

/// A real 1×1 PNG.
const PNG: &str = "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63f8dfc0000004010180c52a185d0000000049454e44ae426082";

async fn photos_are_checked_served_kept_private_and_travel_in_vcards(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let png = hex::decode(PNG).unwrap();
    let id = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"display_name": "Pia Photo"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/crm/contacts/{id}/photo");
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/contacts/{id}")).await["photo_url"],
        Value::Null
    );
    let put = |client: &reqwest::Client, body: Vec<u8>| {
        client
            .put(app.url(&path))
            .header("content-type", "image/png")
            .body(body)
            .send()
    };

    // Not an image, or too large: 422 naming the photo, nothing stored.
    for bad in [
        b"<svg onload=alert(1)>".to_vec(),
        [png.clone(), vec![0; 600 * 1024]].concat(),
    ] {
        let refused = put(c, bad).await.unwrap();
        assert_eq!(refused.status(), 422);
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(field_names(&problem), ["photo"]);
    }
    assert_eq!(c.get(app.url(&path)).send().await.unwrap().status(), 404);

    assert_eq!(put(c, png.clone()).await.unwrap().status(), 204);
    let contact = get(&app, c, &format!("/api/v1/crm/contacts/{id}")).await;
    let url = contact["photo_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{path}?v=")), "{url}");
    let served = c.get(app.url(&url)).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().to_vec(), png);
    let page = app.page_text(c, &format!("/crm/contacts/{id}")).await;
    assert!(page.contains(&format!(r#"<img class="contact-photo" src="{url}""#)));

    // Nobody else sees or changes it.
    let (_, bob) = app.member("bob@example.com").await;
    assert_eq!(bob.get(app.url(&path)).send().await.unwrap().status(), 404);
    assert_eq!(put(&bob, png.clone()).await.unwrap().status(), 404);
    assert_eq!(
        bob.delete(app.url(&path)).send().await.unwrap().status(),
        404
    );
    assert_eq!(c.get(app.url(&path)).send().await.unwrap().status(), 200);

    // The vCard export carries it; importing the file elsewhere brings it back byte for byte.
    let vcf = app.page_text(c, "/api/v1/crm/export/contacts.vcf").await;
    assert!(vcf.contains("PHOTO:data:image/png;base64,"));
    let imported = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(vcf)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200);
    let theirs = get(&app, &bob, "/api/v1/crm/contacts").await["contacts"][0].clone();
    let their_photo = bob
        .get(app.url(theirs["photo_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(their_photo.to_vec(), png);
    // A vCard 3.0 photo reads too.
    let v3 = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Old Card\r\nPHOTO;ENCODING=b;TYPE=PNG:{}\r\nEND:VCARD\r\n",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    let r = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(v3)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A photo we cannot take, or a link that is no web address, is left out and reported; the
    // card still imports.
    let odd = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Odd\r\nPHOTO;ENCODING=b;TYPE=PNG:@@@\r\nX-SOCIALPROFILE;TYPE=twitter:x-apple:odd\r\nEND:VCARD\r\n";
    let r = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(odd)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(
        outcome["skipped"],
        json!([
            "line 4: PHOTO is not valid base64; left out",
            "line 5: X-SOCIALPROFILE `x-apple:odd` is not a web address; left out"
        ])
    );
    let listed = get(&app, &bob, "/api/v1/crm/contacts").await["contacts"].clone();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .iter()
            .any(|c| c["display_name"] == "Odd" && c["photo_url"].is_null())
    );

    // Merging a contact without a photo with one that has it keeps the photo.
    let plain = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"display_name": "Pia P."}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (status, merged) = send(
        c,
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/crm/contacts/{plain}/merge"),
        Some(json!({"duplicate_id": id})),
    )
    .await;
    assert_eq!(status, 200, "{merged}");
    let kept = c
        .get(app.url(merged["photo_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(kept.to_vec(), png);
    let id = plain;
    let path = format!("/api/v1/crm/contacts/{id}/photo");

    // The page's form replaces it; a bad file shows the reason; the remove button removes it.
    let form = |bytes: Vec<u8>| {
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("me.png"),
        )
    };
    let page_path = format!("/crm/contacts/{id}/photo");
    let bad = c
        .post(app.url(&page_path))
        .multipart(form(b"GIF00 nope".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("must be a JPEG, PNG, GIF or WebP image")
    );
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let replaced = c
        .post(app.url(&page_path))
        .multipart(form(gif.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 303);
    let served = c.get(app.url(&path)).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/gif");
    let removed = c
        .post(app.url(&format!("{page_path}/delete")))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 303);
    assert_eq!(c.get(app.url(&path)).send().await.unwrap().status(), 404);
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/contacts/{id}")).await["photo_url"],
        Value::Null
    );
    app.stop().await;
}
