//! MindfulCRM duplicates on SQLite and PostgreSQL: suggestions by email, phone and name,
//! merging (every link kept once, details united, the duplicate gone), refusals, another
//! user's data out of reach, and the page with its merge buttons.

mod common;

use common::{Backend, TestApp, field_names, get, post, send};
use serde_json::{Value, json};

on_both_backends!(
    suggestions_pair_contacts_by_email_phone_and_name,
    merge_keeps_every_link_once_and_unites_the_details,
    bad_merges_are_refused_and_change_nothing,
    another_user_can_neither_merge_nor_see_suggestions,
    the_duplicates_page_lists_suggestions_and_its_buttons_merge,
);

async fn contact(app: &TestApp, client: &reqwest::Client, body: Value) -> i64 {
    post(app, client, "/api/v1/crm/contacts", body).await["id"]
        .as_i64()
        .unwrap()
}

async fn merge(app: &TestApp, client: &reqwest::Client, keep: i64, duplicate: i64) -> (u16, Value) {
    send(
        client,
        app,
        reqwest::Method::POST,
        &format!("/api/v1/crm/contacts/{keep}/merge"),
        Some(json!({"duplicate_id": duplicate})),
    )
    .await
}

/// Each suggestion as (lower id, higher id, reasons).
fn pairs(suggestions: &Value) -> Vec<(i64, i64, Vec<String>)> {
    suggestions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let ids: Vec<i64> = s["contacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_i64().unwrap())
                .collect();
            assert_eq!(ids.len(), 2, "{s}");
            let reasons = s["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            (ids[0].min(ids[1]), ids[0].max(ids[1]), reasons)
        })
        .collect()
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect()
}

async fn suggestions_pair_contacts_by_email_phone_and_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    assert_eq!(get(&app, c, "/api/v1/crm/duplicates").await, json!([]));

    let ada = contact(&app, c, json!({"given_name": "Ada", "family_name": "Lovelace", "emails": [{"value": "ada@example.com"}]})).await;
    let countess = contact(&app, c, json!({"display_name": "The Countess", "company": "Analytical Engines", "emails": [{"value": "ADA@Example.com", "label": "old"}]})).await;
    let bob = contact(
        &app,
        c,
        json!({"given_name": "Bob", "phones": [{"value": "+1 (555) 010-0100"}]}),
    )
    .await;
    let robert = contact(
        &app,
        c,
        json!({"given_name": "Robert", "phones": [{"value": "1 555 010 0100"}]}),
    )
    .await;
    let grace = contact(&app, c, json!({"display_name": "Grace Hopper"})).await;
    // Archived contacts are suggested too; the name is compared without case.
    let old_grace = contact(
        &app,
        c,
        json!({"display_name": "GRACE HOPPER", "stage": "archived"}),
    )
    .await;
    // Nothing shared with anyone: never suggested.
    let alone = contact(&app, c, json!({"given_name": "Alan", "emails": [{"value": "alan@example.com"}], "phones": [{"value": "555 0199"}]})).await;
    post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "call", "subject": "Hello", "contact_ids": [ada]}),
    )
    .await;

    let suggestions = get(&app, c, "/api/v1/crm/duplicates").await;
    let found = pairs(&suggestions);
    assert_eq!(found.len(), 3, "{suggestions}");
    let reasons_of = |a: i64, b: i64| {
        found
            .iter()
            .find(|p| p.0 == a.min(b) && p.1 == a.max(b))
            .map(|p| p.2.clone())
            .unwrap_or_else(|| panic!("no suggestion for {a} and {b}: {suggestions}"))
    };
    assert_eq!(reasons_of(ada, countess), ["same email ada@example.com"]);
    let phone = reasons_of(bob, robert);
    assert_eq!(phone.len(), 1);
    assert!(phone[0].starts_with("same phone "), "{phone:?}");
    let name = reasons_of(grace, old_grace);
    assert_eq!(name.len(), 1);
    assert!(
        name[0].eq_ignore_ascii_case("same name grace hopper"),
        "{name:?}"
    );
    assert!(found.iter().all(|p| p.0 != alone && p.1 != alone));

    // Each side shows what tells them apart.
    let email_pair = suggestions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["reasons"][0] == "same email ada@example.com")
        .unwrap();
    let side = |id: i64| {
        email_pair["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(side(ada)["display_name"], "Ada Lovelace");
    assert_eq!(side(ada)["interactions"], 1);
    assert_eq!(side(countess)["interactions"], 0);
    assert_eq!(side(countess)["company"], "Analytical Engines");
    assert_eq!(side(countess)["emails"], json!(["ada@example.com"]));

    // A pair sharing two things is one suggestion with both reasons, listed first.
    let twin = contact(
        &app,
        c,
        json!({"display_name": "ada lovelace", "emails": [{"value": "ada@example.com"}]}),
    )
    .await;
    let suggestions = get(&app, c, "/api/v1/crm/duplicates").await;
    let found = pairs(&suggestions);
    assert_eq!(
        found[0],
        (
            ada,
            twin,
            vec![
                "same email ada@example.com".to_string(),
                "same name Ada Lovelace".to_string()
            ]
        ),
        "{suggestions}"
    );
    assert!(found.iter().any(|p| (p.0, p.1) == (ada, countess)));
    assert_eq!(
        pairs(&get(&app, c, "/api/v1/crm/duplicates?limit=1").await).len(),
        1
    );

    // Both routes are in the OpenAPI document with their schemas.
    let doc = get(&app, c, "/api/openapi.json").await;
    assert!(doc["paths"]["/api/v1/crm/duplicates"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/crm/contacts/{id}/merge"]["post"].is_object());
    for schema in ["DuplicateSuggestion", "DuplicateContact", "MergeInput"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    app.stop().await;
}

async fn merge_keeps_every_link_once_and_unites_the_details(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let keep = contact(&app, c, json!({
        "given_name": "Ada", "family_name": "Lovelace", "company": "Analytical Engines", "notes": "Met at the Royal Society.",
        "stage": "close", "cadence_days": 30,
        "emails": [{"value": "ada@example.com", "label": "home"}], "phones": [{"value": "+44 20 7946 0000", "label": "mobile"}],
        "tags": ["math"]
    })).await;
    let duplicate = contact(&app, c, json!({
        "display_name": "The Countess", "given_name": "Augusta", "family_name": "King", "company": "Babbage & Co",
        "title": "Countess", "birthday": "1815-12-10", "website": "https://ada.example", "notes": "Likes poetry.",
        "stage": "new", "cadence_days": 7,
        "emails": [{"value": "ada@example.com"}, {"value": "countess@example.com", "label": "work"}],
        "phones": [{"value": "44 (20) 7946-0000"}, {"value": "555 0100", "label": "office"}],
        "tags": ["friends", "math"]
    })).await;
    let other = contact(&app, c, json!({"given_name": "Charles"})).await;

    let interaction = |subject: &str, at: &str, contacts: Vec<i64>| json!({"kind": "meeting", "subject": subject, "occurred_at": at, "contact_ids": contacts});
    let path = "/api/v1/crm/interactions";
    let only_keep = post(
        &app,
        c,
        path,
        interaction("Tea", "2024-01-01T10:00:00Z", vec![keep]),
    )
    .await;
    let only_duplicate = post(
        &app,
        c,
        path,
        interaction("Letters", "2024-03-01T10:00:00Z", vec![duplicate, other]),
    )
    .await;
    let both = post(
        &app,
        c,
        path,
        interaction("Dinner", "2024-02-01T10:00:00Z", vec![keep, duplicate]),
    )
    .await;
    let latest = only_duplicate["occurred_at"].clone();
    let task = |title: &str, contacts: Vec<i64>| json!({"title": title, "contact_ids": contacts});
    let task_of_duplicate = post(
        &app,
        c,
        "/api/v1/crm/tasks",
        task("Send the notes", vec![duplicate]),
    )
    .await;
    let task_of_both = post(
        &app,
        c,
        "/api/v1/crm/tasks",
        task("Plan the visit", vec![keep, duplicate]),
    )
    .await;

    // Calendar events linked to the duplicate (and one to both), written as the calendar does.
    let pool = app.platform.db.pool();
    let user_id: i64 = sqlx::query_scalar("SELECT user_id FROM crm_contacts WHERE id = $1")
        .bind(keep)
        .fetch_one(pool)
        .await
        .unwrap();
    let mut events = Vec::new();
    for (uid, linked) in [("e1", vec![duplicate]), ("e2", vec![keep, duplicate])] {
        let event: i64 = sqlx::query_scalar(
            "INSERT INTO crm_events (user_id, uid, title, starts_at, ends_at, all_day, location, description, attendees, created_at, updated_at) \
             VALUES ($1, $2, 'Visit', 0, 1000, 0, '', '', '', 0, 0) RETURNING id",
        )
        .bind(user_id)
        .bind(uid)
        .fetch_one(pool)
        .await
        .unwrap();
        for contact_id in linked {
            sqlx::query("INSERT INTO crm_event_contacts (event_id, contact_id) VALUES ($1, $2)")
                .bind(event)
                .bind(contact_id)
                .execute(pool)
                .await
                .unwrap();
        }
        events.push(event);
    }

    let mut interactions_before = ids(&get(&app, c, "/api/v1/crm/interactions").await);
    let mut tasks_before = ids(&get(&app, c, "/api/v1/crm/tasks").await);
    assert_eq!((interactions_before.len(), tasks_before.len()), (3, 2));

    let (status, merged) = merge(&app, c, keep, duplicate).await;
    assert_eq!(status, 200, "{merged}");
    // The same shape as GET contact.
    assert_eq!(
        merged,
        get(&app, c, &format!("/api/v1/crm/contacts/{keep}")).await
    );
    assert_eq!(merged["id"], keep);
    assert_eq!(merged["display_name"], "Ada Lovelace");
    assert_eq!(merged["given_name"], "Ada");
    assert_eq!(merged["family_name"], "Lovelace");
    assert_eq!(merged["company"], "Analytical Engines");
    assert_eq!(merged["title"], "Countess", "filled from the duplicate");
    assert_eq!(merged["birthday"], "1815-12-10");
    assert_eq!(merged["website"], "https://ada.example");
    assert_eq!(
        merged["notes"],
        "Met at the Royal Society.\n\nLikes poetry."
    );
    assert_eq!(merged["stage"], "close");
    assert_eq!(merged["cadence_days"], 7, "the shorter cadence");
    assert_eq!(
        merged["emails"],
        json!([{"value": "ada@example.com", "label": "home"}, {"value": "countess@example.com", "label": "work"}])
    );
    assert_eq!(
        merged["phones"],
        json!([{"value": "+44 20 7946 0000", "label": "mobile"}, {"value": "555 0100", "label": "office"}])
    );
    assert_eq!(merged["tags"], json!(["friends", "math"]));
    assert_eq!(
        merged["last_interaction_at"], latest,
        "recomputed from the duplicate's newer interaction"
    );

    // The duplicate is gone; nothing else is.
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/crm/contacts/{duplicate}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let mut interactions_after = ids(&get(&app, c, "/api/v1/crm/interactions").await);
    let mut tasks_after = ids(&get(&app, c, "/api/v1/crm/tasks").await);
    for list in [
        &mut interactions_before,
        &mut interactions_after,
        &mut tasks_before,
        &mut tasks_after,
    ] {
        list.sort_unstable();
    }
    assert_eq!(interactions_after, interactions_before);
    assert_eq!(tasks_after, tasks_before);

    // Every interaction and task now names the kept contact, once.
    let of_keep = get(
        &app,
        c,
        &format!("/api/v1/crm/interactions?contact_id={keep}"),
    )
    .await;
    assert_eq!(of_keep.as_array().unwrap().len(), 3);
    let contacts_of = |item: &Value| ids(&item["contacts"]);
    for i in of_keep.as_array().unwrap() {
        let linked = contacts_of(i);
        assert_eq!(linked.iter().filter(|id| **id == keep).count(), 1, "{i}");
        assert!(!linked.contains(&duplicate));
    }
    let dinner = get(&app, c, &format!("/api/v1/crm/interactions/{}", both["id"])).await;
    assert_eq!(contacts_of(&dinner), [keep]);
    let letters = get(
        &app,
        c,
        &format!("/api/v1/crm/interactions/{}", only_duplicate["id"]),
    )
    .await;
    let mut linked = contacts_of(&letters);
    linked.sort_unstable();
    assert_eq!(linked, [keep.min(other), keep.max(other)]);
    assert_eq!(
        contacts_of(
            &get(
                &app,
                c,
                &format!("/api/v1/crm/interactions/{}", only_keep["id"])
            )
            .await
        ),
        [keep]
    );
    let keep_tasks = get(&app, c, &format!("/api/v1/crm/tasks?contact_id={keep}")).await;
    assert_eq!(keep_tasks.as_array().unwrap().len(), 2);
    for t in [&task_of_duplicate, &task_of_both] {
        let t = get(&app, c, &format!("/api/v1/crm/tasks/{}", t["id"])).await;
        assert_eq!(contacts_of(&t), [keep]);
    }
    for event in events {
        let linked: Vec<i64> = sqlx::query_scalar(
            "SELECT contact_id FROM crm_event_contacts WHERE event_id = $1 ORDER BY contact_id",
        )
        .bind(event)
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(linked, [keep], "event {event}");
    }

    // Search follows: the duplicate's email finds the kept contact.
    let found = get(&app, c, "/api/v1/crm/contacts?q=countess%40example.com").await;
    assert_eq!(ids(&found["contacts"]), [keep]);
    assert_eq!(get(&app, c, "/api/v1/crm/duplicates").await, json!([]));
    app.stop().await;
}

async fn bad_merges_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = contact(
        &app,
        c,
        json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}),
    )
    .await;
    let twin = contact(
        &app,
        c,
        json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}),
    )
    .await;
    let before = get(&app, c, &format!("/api/v1/crm/contacts/{ada}")).await;

    let (status, problem) = merge(&app, c, ada, ada).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(field_names(&problem), ["duplicate_id"]);
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/crm/contacts/{ada}/merge"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(field_names(&problem), ["duplicate_id"]);
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/crm/contacts/{ada}/merge"),
        Some(json!({"duplicate_id": "twin"})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(field_names(&problem), ["duplicate_id"]);

    // Missing on either side: 404, and both contacts stay as they were.
    for (keep, duplicate) in [(ada, 999_999), (999_999, ada)] {
        let (status, problem) = merge(&app, c, keep, duplicate).await;
        assert_eq!(status, 404, "{problem}");
    }
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/contacts/{ada}")).await,
        before
    );
    assert_eq!(
        pairs(&get(&app, c, "/api/v1/crm/duplicates").await).len(),
        1
    );

    // A merged contact cannot be merged again.
    assert_eq!(merge(&app, c, ada, twin).await.0, 200);
    assert_eq!(merge(&app, c, ada, twin).await.0, 404);
    assert_eq!(merge(&app, c, twin, ada).await.0, 404);
    app.stop().await;
}

async fn another_user_can_neither_merge_nor_see_suggestions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let (_, bob) = app.member("bob@example.com").await;
    let ada = contact(
        &app,
        c,
        json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}),
    )
    .await;
    let twin = contact(
        &app,
        c,
        json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}),
    )
    .await;
    // Bob has a contact with the same email and name: still no pair across users.
    let bobs = contact(
        &app,
        &bob,
        json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}),
    )
    .await;
    let admins_before = get(&app, c, "/api/v1/crm/duplicates").await;
    assert_eq!(pairs(&admins_before).len(), 1);
    assert_eq!(get(&app, &bob, "/api/v1/crm/duplicates").await, json!([]));

    for (keep, duplicate) in [(ada, twin), (bobs, ada), (ada, bobs)] {
        let (status, problem) = merge(&app, &bob, keep, duplicate).await;
        assert_eq!(status, 404, "{keep} <- {duplicate}: {problem}");
    }
    // The admin cannot take Bob's contact either.
    assert_eq!(merge(&app, c, ada, bobs).await.0, 404);
    let page = bob
        .post(app.url(&format!("/crm/contacts/{ada}/merge")))
        .form(&[("duplicate_id", twin.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);

    // Nothing changed for anyone.
    assert_eq!(get(&app, c, "/api/v1/crm/duplicates").await, admins_before);
    for id in [ada, twin] {
        get(&app, c, &format!("/api/v1/crm/contacts/{id}")).await;
    }
    get(&app, &bob, &format!("/api/v1/crm/contacts/{bobs}")).await;
    let html = bob
        .get(app.url("/crm/contacts/duplicates"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No duplicates found"));
    assert!(!html.contains(&format!("/crm/contacts/{ada}/merge")));
    app.stop().await;
}

async fn the_duplicates_page_lists_suggestions_and_its_buttons_merge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let page = |path: &'static str| {
        let client = c.clone();
        let url = app.url(path);
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    assert!(
        page("/crm/contacts")
            .await
            .contains("href=\"/crm/contacts/duplicates\"")
    );
    assert!(
        page("/crm/contacts/duplicates")
            .await
            .contains("No duplicates found")
    );

    let mia = contact(&app, c, json!({"given_name": "Mia", "family_name": "Wong", "company": "Acme", "phones": [{"value": "+1 555 0100"}]})).await;
    let wong = contact(&app, c, json!({"display_name": "M. Wong", "emails": [{"value": "mia@example.com"}], "phones": [{"value": "1-555-0100"}]})).await;
    post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "call", "subject": "Catch-up", "contact_ids": [wong]}),
    )
    .await;
    let html = page("/crm/contacts/duplicates").await;
    assert!(!html.contains("No duplicates found"));
    assert!(html.contains("Mia Wong") && html.contains("M. Wong"));
    assert!(html.contains("same phone"));
    assert!(html.contains("Acme") && html.contains("mia@example.com"));
    assert!(html.contains("1 interaction"));
    // A button for each direction.
    assert!(html.contains(&format!("action=\"/crm/contacts/{mia}/merge\"")));
    assert!(html.contains(&format!("action=\"/crm/contacts/{wong}/merge\"")));
    assert!(html.contains(&format!("name=\"duplicate_id\" value=\"{wong}\"")));
    assert!(html.contains(&format!("name=\"duplicate_id\" value=\"{mia}\"")));

    // A bad pick shows the page again, naming the problem; nothing is merged.
    for bad in ["", &mia.to_string()] {
        let r = c
            .post(app.url(&format!("/crm/contacts/{mia}/merge")))
            .form(&[("duplicate_id", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "duplicate_id {bad:?}");
        assert!(r.text().await.unwrap().contains("Possible duplicates"));
    }

    let r = c
        .post(app.url(&format!("/crm/contacts/{mia}/merge")))
        .form(&[("duplicate_id", wong.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("/crm/contacts/{mia}/merged"));
    let response = c.get(app.url(&location)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("class=\"notice\"") && html.contains("Merged into Mia Wong"));
    assert!(
        html.contains("Catch-up"),
        "the duplicate's interaction moved"
    );
    assert!(html.contains("mia@example.com"));
    let merged = get(&app, c, &format!("/api/v1/crm/contacts/{mia}")).await;
    assert_eq!(
        merged["phones"],
        json!([{"value": "+1 555 0100", "label": ""}])
    );
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/crm/contacts/{wong}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        page("/crm/contacts/duplicates")
            .await
            .contains("No duplicates found")
    );
    // The stale button of the other direction finds the contact gone.
    let r = c
        .post(app.url(&format!("/crm/contacts/{wong}/merge")))
        .form(&[("duplicate_id", mia.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}
