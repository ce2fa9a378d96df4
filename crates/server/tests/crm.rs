//! MindfulCRM over HTTP on SQLite and PostgreSQL: contacts, tags, interactions, tasks,
//! validation, and one user never seeing another's data.

mod common;

use std::time::Duration;

use common::{Backend, TestApp};
use serde_json::{Value, json};

on_both_backends!(
    contacts_crud_with_emails_phones_tags_and_filters,
    interactions_drive_last_contact_and_health,
    tasks_are_created_completed_reopened_and_deleted,
    bad_input_names_the_field_and_stores_nothing,
    another_user_sees_none_of_it,
);

/// The display names of a page of contacts, in its order.
fn display_names(page: &Value) -> Vec<&str> {
    page["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["display_name"].as_str().unwrap())
        .collect()
}

/// How many contacts a page holds.
fn count(page: &Value) -> usize {
    page["contacts"].as_array().unwrap().len()
}

/// The fields a problem names, sorted.
fn sorted(mut fields: Vec<String>) -> Vec<String> {
    fields.sort();
    fields
}

async fn contacts_crud_with_emails_phones_tags_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let ada = c.post("/api/v1/crm/contacts", json!({
        "given_name": "Ada", "family_name": "Lovelace", "company": "Analytical Engines",
        "birthday": "1815-12-10", "stage": "close", "cadence_days": 14,
        "emails": [{"value": "Ada@Example.com", "label": "work"}], "phones": [{"value": "+44 20 7946 0000"}],
        "tags": ["Math", "friends"]
    })).await.ok();
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
        c.create_contact(json!({"given_name": given, "company": company, "tags": tags}))
            .await;
    }
    let id = ada["id"].as_i64().unwrap();

    // Pages in name order, tags included, with a cursor.
    let page = c.get("/api/v1/crm/contacts?limit=2").await.json_ok();
    assert_eq!(display_names(&page), ["Ada Lovelace", "Alan"]);
    assert_eq!(page["contacts"][0]["tags"], json!(["friends", "math"]));
    let next = page["next"].as_str().unwrap();
    let rest = c
        .get(&format!("/api/v1/crm/contacts?limit=2&after={next}"))
        .await
        .json_ok();
    assert_eq!(display_names(&rest), ["Edsger", "Grace"]);

    let list = async |query: &str| {
        c.get(&format!("/api/v1/crm/contacts?{query}"))
            .await
            .json_ok()
    };
    assert_eq!(count(&list("tag=math").await), 2);
    assert_eq!(
        list("q=bletch").await["contacts"][0]["display_name"],
        "Alan"
    );
    assert_eq!(count(&list("q=ada%40example").await), 1);
    assert_eq!(count(&list("health=due").await), 1);
    assert_eq!(count(&list("stage=close").await), 1);
    assert_eq!(
        c.get("/api/v1/crm/tags").await.json_ok(),
        json!([{"name": "friends", "contacts": 2}, {"name": "math", "contacts": 2}])
    );

    // Replace: fields, emails and tags follow the body.
    let updated = c.put(&format!("/api/v1/crm/contacts/{id}"), json!({
        "given_name": "Ada", "family_name": "King", "display_name": "Ada King", "stage": "archived", "tags": ["math"]
    })).await.json_ok();
    assert_eq!(updated["emails"], json!([]));
    assert_eq!(updated["tags"], json!(["math"]));
    assert!(
        list("").await["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != id),
        "archived contacts leave the default list"
    );
    assert_eq!(list("stage=archived").await["contacts"][0]["id"], id);

    c.delete(&format!("/api/v1/crm/contacts/{id}"))
        .await
        .expect(204);
    c.get(&format!("/api/v1/crm/contacts/{id}"))
        .await
        .expect(404);
    app.stop().await;
}

async fn interactions_drive_last_contact_and_health(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let a = c
        .create_contact(json!({"given_name": "Ann", "cadence_days": 7}))
        .await;
    let b = c
        .create_contact(json!({"given_name": "Bo", "cadence_days": 30}))
        .await;
    let now = app.platform.now();
    let ten_days_ago = now.minus(Duration::from_secs(10 * 86_400));
    let lunch = c.log_interaction(json!({
        "kind": "meeting", "occurred_at": ten_days_ago, "subject": "Lunch", "summary": "Talked about the move",
        "sentiment": "positive", "contact_ids": [a, b]
    })).await;
    assert_eq!(lunch["contacts"].as_array().unwrap().len(), 2);
    let ann = c.contact(a).await;
    assert_eq!(ann["last_interaction_at"], json!(ten_days_ago));
    assert_eq!(ann["health"], "due");
    assert_eq!(c.contact(b).await["health"], "on_cadence");

    let call = c
        .log_interaction(
            json!({"kind": "call", "subject": "Catch-up", "contact_ids": [a], "source_ref": "call-1"}),
        )
        .await;
    assert_eq!(c.contact(a).await["health"], "on_cadence");
    // The same source twice is refused (re-syncs never duplicate).
    c.post(
        "/api/v1/crm/interactions",
        json!({"kind": "call", "subject": "again", "contact_ids": [a], "source_ref": "call-1"}),
    )
    .await
    .expect(409);

    let timeline = c
        .list(&format!("/api/v1/crm/interactions?contact_id={a}"))
        .await;
    let subjects: Vec<&str> = timeline
        .iter()
        .map(|i| i["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Catch-up", "Lunch"]);
    assert_eq!(
        c.list(&format!("/api/v1/crm/interactions?contact_id={b}"))
            .await
            .len(),
        1
    );

    // Deleting the latest interaction moves the last contact back.
    c.delete(&format!("/api/v1/crm/interactions/{}", call["id"]))
        .await
        .expect(204);
    assert_eq!(
        c.contact(a).await["last_interaction_at"],
        json!(ten_days_ago)
    );

    // Pages follow the list's time order even when interactions are logged after the fact.
    for days in [1, 3, 2] {
        c.log_interaction(json!({
            "kind": "note", "occurred_at": now.minus(Duration::from_secs(days * 86_400)), "summary": format!("{days} days ago"), "contact_ids": [b]
        }))
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = c
            .list(&format!(
                "/api/v1/crm/interactions?contact_id={b}&limit=2{cursor}"
            ))
            .await;
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
    let c = app.admin_api();
    let kim = c.create_contact(json!({"given_name": "Kim"})).await;
    let yesterday = app.platform.now().minus(Duration::from_secs(86_400));
    let task = c.create_task(json!({"title": "Send the book", "due_at": yesterday, "priority": "high", "contact_ids": [kim]})).await;
    let id = task["id"].as_i64().unwrap();
    assert_eq!(task["overdue"], true);
    assert_eq!(task["contacts"][0]["display_name"], "Kim");
    c.create_task(json!({"title": "Plan the trip"})).await;

    let done = c
        .post(&format!("/api/v1/crm/tasks/{id}/complete"), json!({}))
        .await
        .ok();
    assert_eq!(
        (done["status"].as_str(), done["overdue"].as_bool()),
        (Some("done"), Some(false))
    );
    assert!(done["completed_at"].is_string());
    assert_eq!(c.list("/api/v1/crm/tasks?status=open").await.len(), 1);
    let reopened = c
        .post(&format!("/api/v1/crm/tasks/{id}/reopen"), json!({}))
        .await
        .ok();
    assert_eq!(reopened["status"], "open");
    assert!(reopened["completed_at"].is_null());

    let edited = c
        .put(
            &format!("/api/v1/crm/tasks/{id}"),
            json!({"title": "Send the book (signed)", "contact_ids": []}),
        )
        .await
        .json_ok();
    assert_eq!(edited["contacts"], json!([]));
    assert!(edited["due_at"].is_null());
    assert_eq!(
        c.get(&format!("/api/v1/crm/tasks?contact_id={kim}"))
            .await
            .json_ok(),
        json!([])
    );

    c.delete(&format!("/api/v1/crm/tasks/{id}"))
        .await
        .expect(204);
    assert_eq!(c.list("/api/v1/crm/tasks").await.len(), 1);
    app.stop().await;
}

async fn bad_input_names_the_field_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let problem = c.post("/api/v1/crm/contacts", json!({
        "birthday": "1990-02-30", "stage": "bestie", "cadence_days": 0, "emails": [{"value": "not-an-email"}], "tags": [""],
        "addresses": [{"label": "home"}], "links": [{"value": "javascript:alert(1)"}, {"value": "https://ok.example", "label": "x".repeat(51)}]
    })).await.expect(422);
    assert_eq!(
        sorted(problem.fields()),
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
    c.post(
        "/api/v1/crm/contacts",
        json!({"given_name": "X", "favourite_colour": "blue"}),
    )
    .await
    .expect(422);
    c.post("/api/v1/crm/contacts", json!({"given_name": 7}))
        .await
        .expect(422);
    let problem = c
        .post(
            "/api/v1/crm/interactions",
            json!({"kind": "telepathy", "occurred_at": "yesterday", "contact_ids": [424242]}),
        )
        .await
        .expect(422);
    assert_eq!(
        sorted(problem.fields()),
        ["contact_ids", "kind", "occurred_at", "summary"]
    );
    let problem = c
        .post(
            "/api/v1/crm/tasks",
            json!({"title": " ", "priority": "urgent", "due_at": "soon"}),
        )
        .await
        .expect(422);
    assert_eq!(problem.fields().len(), 3);
    c.get("/api/v1/crm/contacts?after=garbage")
        .await
        .expect(422);
    assert_eq!(
        c.get("/api/v1/crm/contacts").await.json_ok()["contacts"],
        json!([])
    );
    assert_eq!(c.get("/api/v1/crm/tasks").await.json_ok(), json!([]));
    app.stop().await;
}

async fn another_user_sees_none_of_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let contact = c
        .create_contact(json!({"given_name": "Secret", "tags": ["private"]}))
        .await;
    let interaction = c
        .log_interaction(
            json!({"kind": "note", "summary": "confidential", "contact_ids": [contact]}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let task = c
        .create_task(json!({"title": "mine", "contact_ids": [contact]}))
        .await["id"]
        .as_i64()
        .unwrap();
    let (_, bob) = app.member("bob@example.com").await;
    let bob = app.api(&bob);

    // Even an admin's contacts are theirs alone: Bob gets 404 for every id, in API and pages.
    use reqwest::Method;
    for (method, path) in [
        (Method::GET, format!("/api/v1/crm/contacts/{contact}")),
        (Method::PUT, format!("/api/v1/crm/contacts/{contact}")),
        (Method::DELETE, format!("/api/v1/crm/contacts/{contact}")),
        (
            Method::GET,
            format!("/api/v1/crm/interactions/{interaction}"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/crm/interactions/{interaction}"),
        ),
        (Method::GET, format!("/api/v1/crm/tasks/{task}")),
        (Method::PUT, format!("/api/v1/crm/tasks/{task}")),
        (Method::POST, format!("/api/v1/crm/tasks/{task}/complete")),
        (Method::DELETE, format!("/api/v1/crm/tasks/{task}")),
    ] {
        let body = (method == Method::PUT).then(|| {
            if path.contains("/tasks/") {
                json!({"title": "Bob was here"})
            } else {
                json!({"given_name": "Bob was here"})
            }
        });
        bob.send(method, &path, body).await.expect(404);
    }
    bob.get(&format!("/crm/contacts/{contact}"))
        .await
        .expect(404);
    for (path, action) in [
        (format!("/crm/tasks/{task}/complete"), "complete"),
        (format!("/crm/contacts/{contact}/delete"), "delete"),
    ] {
        let answer = bob.form(&path, &[("back", "/crm")]).await;
        assert_eq!(answer.status, 404, "{action}");
    }
    // Linking someone else's contact is refused as if it did not exist.
    let problem = bob
        .post(
            "/api/v1/crm/interactions",
            json!({"kind": "note", "summary": "x", "contact_ids": [contact]}),
        )
        .await
        .expect(422);
    assert_eq!(problem.fields(), ["contact_ids"]);
    assert_eq!(
        bob.get("/api/v1/crm/contacts?q=secret").await.json_ok()["contacts"],
        json!([])
    );
    for path in [
        "/api/v1/crm/tags",
        "/api/v1/crm/interactions",
        "/api/v1/crm/tasks",
    ] {
        assert_eq!(bob.get(path).await.json_ok(), json!([]), "{path}");
    }
    // And nothing of the owner's changed.
    let owner_view = c.get(&format!("/api/v1/crm/tasks/{task}")).await.json_ok();
    assert_eq!(
        (owner_view["title"].as_str(), owner_view["status"].as_str()),
        (Some("mine"), Some("open"))
    );
    app.stop().await;
}
