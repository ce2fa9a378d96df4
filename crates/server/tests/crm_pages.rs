//! MindfulCRM's pages over HTTP on SQLite and PostgreSQL: real data shown, every form
//! working, errors named next to their fields.

mod common;

use common::{Backend, TestApp, get};
use serde_json::json;

on_both_backends!(pages_show_real_data_and_every_form_works,);

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
