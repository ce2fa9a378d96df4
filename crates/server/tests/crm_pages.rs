//! MindfulCRM's pages over HTTP on SQLite and PostgreSQL: real data shown, every form
//! working, errors named next to their fields.

mod common;

use common::{Api, Backend, TestApp};
use serde_json::json;

on_both_backends!(pages_show_real_data_and_every_form_works,);

async fn pages_show_real_data_and_every_form_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let (id, location) = contact_form_names_errors_then_creates(&c).await;
    dashboard_lists_who_is_due(&c).await;
    contact_is_edited_in_place_with_labels(&c, id, &location).await;
    let task = contact_page_logs_interactions_and_tasks(&c, id, &location).await;
    lists_filter_and_every_delete_button_works(&c, id, task).await;
    app.stop().await;
}

/// The empty dashboard, then a contact created from the form (after an inline error);
/// returns her id and page.
async fn contact_form_names_errors_then_creates(c: &Api<'_>) -> (i64, String) {
    assert!(c.get("/crm").await.text.contains("No contacts yet"));
    let bad = c
        .form(
            "/crm/contacts",
            &[("given_name", ""), ("emails", "nope"), ("stage", "new")],
        )
        .await
        .expect(422);
    assert!(bad.text.contains("a contact needs a name: a given name"));
    assert!(
        bad.text.contains(">nope</textarea>"),
        "what was typed stays in the form"
    );
    assert!(
        c.get("/crm/contacts")
            .await
            .text
            .contains(">0 contacts</p>"),
        "the list says how many there are"
    );
    let created = c
        .form(
            "/crm/contacts",
            &[
                ("given_name", "Mia"),
                ("family_name", "Wong"),
                ("company", "Acme"),
                ("cadence_days", "7"),
                ("emails", "mia@example.com"),
                ("stage", "active"),
                ("tags", "climbing"),
            ],
        )
        .await
        .expect(303);
    let location = created.header("location").to_string();
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    let mia = c.contact(id).await;
    assert_eq!(
        (mia["stage"].as_str(), mia["tags"][0].as_str()),
        (Some("active"), Some("climbing")),
        "stage and tags are set on creation"
    );
    (id, location)
}

/// The dashboard lists her as due (a cadence, never talked).
async fn dashboard_lists_who_is_due(c: &Api<'_>) {
    let html = c.get("/crm").await.text;
    assert!(html.contains("Mia Wong") && html.contains("never talked"));
    assert!(
        html.contains(r#"Due for a reconnect <span class="badge warn">1</span>"#),
        "the dashboard counts who is due"
    );
}

/// Edit in place with labels, phones and tags.
async fn contact_is_edited_in_place_with_labels(c: &Api<'_>, id: i64, location: &str) {
    c.form(
        location,
        &[
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
        ],
    )
    .await
    .expect(303);
    let contact = c.contact(id).await;
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
    let page = c.get(location).await.text;
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
        .form(
            location,
            &[
                ("given_name", "Mia"),
                ("stage", "close"),
                ("birthday", "someday"),
            ],
        )
        .await
        .expect(422);
    assert!(invalid.text.contains("must be YYYY-MM-DD or --MM-DD"));
}

/// Log an interaction and add, complete and reopen a task from her page; returns the task.
async fn contact_page_logs_interactions_and_tasks(c: &Api<'_>, id: i64, location: &str) -> i64 {
    c.form(
        &format!("/crm/contacts/{id}/interactions"),
        &[
            ("kind", "call"),
            ("occurred_at", ""),
            ("subject", "Birthday call"),
            ("summary", "She starts the new job in May"),
            ("sentiment", "positive"),
        ],
    )
    .await
    .expect(303);
    let added = c
        .form(
            "/crm/tasks",
            &[
                ("title", "Send flowers"),
                ("due_at", "2020-01-01T10:00"),
                ("contact_id", &id.to_string()),
                ("back", location),
            ],
        )
        .await
        .expect(303);
    assert_eq!(added.header("location"), location);
    let html = c.get(location).await.text;
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
    let task = c.get("/api/v1/crm/tasks").await.json_ok()[0]["id"]
        .as_i64()
        .unwrap();
    for (action, status) in [("complete", "done"), ("reopen", "open")] {
        c.form(
            &format!("/crm/tasks/{task}/{action}"),
            &[("back", "/crm/tasks")],
        )
        .await
        .expect(303);
        assert_eq!(
            c.get(&format!("/api/v1/crm/tasks/{task}")).await.json_ok()["status"],
            status
        );
    }
    task
}

/// The task list and filtered contact lists, then every delete button.
async fn lists_filter_and_every_delete_button_works(c: &Api<'_>, id: i64, task: i64) {
    assert!(c.get("/crm/tasks").await.text.contains("Send flowers"));
    assert!(
        c.get("/crm/contacts?tag=family")
            .await
            .text
            .contains("Mia W.")
    );
    assert!(
        c.get("/crm/contacts?q=acme-nothing")
            .await
            .text
            .contains("No contacts match")
    );
    c.form(
        &format!("/crm/tasks/{task}/delete"),
        &[("back", "/crm/tasks")],
    )
    .await
    .expect(303);
    let interaction = c.get("/api/v1/crm/interactions").await.json_ok()[0]["id"]
        .as_i64()
        .unwrap();
    let r = c
        .form(
            &format!("/crm/interactions/{interaction}/delete"),
            &[("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(r.header("location"), "/crm", "no open redirects");
    c.post(&format!("/crm/contacts/{id}/delete"), None)
        .await
        .expect(303);
    assert_eq!(
        c.get("/api/v1/crm/contacts").await.json_ok()["contacts"],
        json!([])
    );
}
