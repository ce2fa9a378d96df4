//! MindfulCRM search over HTTP on SQLite and PostgreSQL: names, emails, notes and
//! interactions found, edits followed, thousands of matches paged in name order.

mod common;

use common::{Backend, TestApp, get, post, send};
use serde_json::{Value, json};

on_both_backends!(
    search_covers_names_emails_notes_and_interactions_and_follows_edits,
    a_search_matching_thousands_pages_in_name_order,
);

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
