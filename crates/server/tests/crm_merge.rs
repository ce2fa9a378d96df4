//! MindfulCRM duplicates on SQLite and PostgreSQL: suggestions by email, phone and name,
//! merging (every link kept once, details united, the duplicate gone), refusals, another
//! user's data out of reach, and the page with its merge buttons.

mod common;

use common::{Answer, Api, Backend, TestApp};
use serde_json::{Value, json};

on_both_backends!(
    suggestions_pair_contacts_by_email_phone_and_name,
    merge_keeps_every_link_once_and_unites_the_details,
    bad_merges_are_refused_and_change_nothing,
    another_user_can_neither_merge_nor_see_suggestions,
    the_duplicates_page_lists_suggestions_and_its_buttons_merge,
);

/// Merges `duplicate` into `keep` through the API.
async fn merge(api: &Api<'_>, keep: i64, duplicate: i64) -> Answer {
    api.post(
        &format!("/api/v1/crm/contacts/{keep}/merge"),
        json!({"duplicate_id": duplicate}),
    )
    .await
}

/// The duplicate suggestions `api`'s user sees.
async fn duplicates(api: &Api<'_>) -> Value {
    api.get("/api/v1/crm/duplicates").await.json_ok()
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
    let c = app.admin_api();
    assert_eq!(duplicates(&c).await, json!([]));

    let ada = c.create_contact(json!({"given_name": "Ada", "family_name": "Lovelace", "emails": [{"value": "ada@example.com"}]})).await;
    let countess = c.create_contact(json!({"display_name": "The Countess", "company": "Analytical Engines", "emails": [{"value": "ADA@Example.com", "label": "old"}]})).await;
    let bob = c
        .create_contact(json!({"given_name": "Bob", "phones": [{"value": "+1 (555) 010-0100"}]}))
        .await;
    let robert = c
        .create_contact(json!({"given_name": "Robert", "phones": [{"value": "1 555 010 0100"}]}))
        .await;
    let grace = c
        .create_contact(json!({"display_name": "Grace Hopper"}))
        .await;
    // Archived contacts are suggested too; the name is compared without case.
    let old_grace = c
        .create_contact(json!({"display_name": "GRACE HOPPER", "stage": "archived"}))
        .await;
    // Nothing shared with anyone: never suggested.
    let alone = c.create_contact(json!({"given_name": "Alan", "emails": [{"value": "alan@example.com"}], "phones": [{"value": "555 0199"}]})).await;
    c.log_interaction(json!({"kind": "call", "subject": "Hello", "contact_ids": [ada]}))
        .await;

    let suggestions = duplicates(&c).await;
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
    let twin = c
        .create_contact(
            json!({"display_name": "ada lovelace", "emails": [{"value": "ada@example.com"}]}),
        )
        .await;
    let suggestions = duplicates(&c).await;
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
        pairs(&c.get("/api/v1/crm/duplicates?limit=1").await.json_ok()).len(),
        1
    );

    // Both routes are in the OpenAPI document with their schemas.
    let doc = c.get("/api/openapi.json").await.json_ok();
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
    let c = app.admin_api();
    let linked = two_adas_with_everything_linked(&app, &c).await;
    let mut interactions_before = ids(&c.get("/api/v1/crm/interactions").await.json_ok());
    let mut tasks_before = ids(&c.get("/api/v1/crm/tasks").await.json_ok());
    assert_eq!((interactions_before.len(), tasks_before.len()), (3, 2));

    let merged = merge(&c, linked.keep, linked.duplicate).await.json_ok();
    the_merged_contact_unites_the_details(&c, &merged, &linked).await;

    // The duplicate is gone; nothing else is.
    c.get(&format!("/api/v1/crm/contacts/{}", linked.duplicate))
        .await
        .expect(404);
    let mut interactions_after = ids(&c.get("/api/v1/crm/interactions").await.json_ok());
    let mut tasks_after = ids(&c.get("/api/v1/crm/tasks").await.json_ok());
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

    every_link_names_the_kept_contact_once(&app, &c, &linked).await;

    // Search follows: the duplicate's email finds the kept contact.
    let found = c
        .get("/api/v1/crm/contacts?q=countess%40example.com")
        .await
        .json_ok();
    assert_eq!(ids(&found["contacts"]), [linked.keep]);
    assert_eq!(duplicates(&c).await, json!([]));
    app.stop().await;
}

/// Two contacts for one person, each with its own details, sharing interactions, tasks and
/// calendar events (and one interaction with a third contact).
struct Linked {
    keep: i64,
    duplicate: i64,
    other: i64,
    only_keep: Value,
    only_duplicate: Value,
    both: Value,
    tasks: [Value; 2],
    events: Vec<i64>,
}

async fn two_adas_with_everything_linked(app: &TestApp, c: &Api<'_>) -> Linked {
    let keep = c.create_contact(json!({
        "given_name": "Ada", "family_name": "Lovelace", "company": "Analytical Engines", "notes": "Met at the Royal Society.",
        "stage": "close", "cadence_days": 30,
        "emails": [{"value": "ada@example.com", "label": "home"}], "phones": [{"value": "+44 20 7946 0000", "label": "mobile"}],
        "tags": ["math"]
    })).await;
    let duplicate = c.create_contact(json!({
        "display_name": "The Countess", "given_name": "Augusta", "family_name": "King", "company": "Babbage & Co",
        "title": "Countess", "birthday": "1815-12-10", "website": "https://ada.example", "notes": "Likes poetry.",
        "stage": "new", "cadence_days": 7,
        "emails": [{"value": "ada@example.com"}, {"value": "countess@example.com", "label": "work"}],
        "phones": [{"value": "44 (20) 7946-0000"}, {"value": "555 0100", "label": "office"}],
        "tags": ["friends", "math"]
    })).await;
    let other = c.create_contact(json!({"given_name": "Charles"})).await;

    let interaction = |subject: &str, at: &str, contacts: Vec<i64>| json!({"kind": "meeting", "subject": subject, "occurred_at": at, "contact_ids": contacts});
    let only_keep = c
        .log_interaction(interaction("Tea", "2024-01-01T10:00:00Z", vec![keep]))
        .await;
    let only_duplicate = c
        .log_interaction(interaction(
            "Letters",
            "2024-03-01T10:00:00Z",
            vec![duplicate, other],
        ))
        .await;
    let both = c
        .log_interaction(interaction(
            "Dinner",
            "2024-02-01T10:00:00Z",
            vec![keep, duplicate],
        ))
        .await;
    let task = |title: &str, contacts: Vec<i64>| json!({"title": title, "contact_ids": contacts});
    let task_of_duplicate = c.create_task(task("Send the notes", vec![duplicate])).await;
    let task_of_both = c
        .create_task(task("Plan the visit", vec![keep, duplicate]))
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
    Linked {
        keep,
        duplicate,
        other,
        only_keep,
        only_duplicate,
        both,
        tasks: [task_of_duplicate, task_of_both],
        events,
    }
}

/// The kept contact's own details win; the duplicate's fill the gaps and add to the lists.
async fn the_merged_contact_unites_the_details(c: &Api<'_>, merged: &Value, linked: &Linked) {
    // The same shape as GET contact.
    assert_eq!(*merged, c.contact(linked.keep).await);
    assert_eq!(merged["id"], linked.keep);
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
        merged["last_interaction_at"], linked.only_duplicate["occurred_at"],
        "recomputed from the duplicate's newer interaction"
    );
}

/// Every interaction, task and event now names the kept contact, once.
async fn every_link_names_the_kept_contact_once(app: &TestApp, c: &Api<'_>, linked: &Linked) {
    let (keep, duplicate, other) = (linked.keep, linked.duplicate, linked.other);
    let of_keep = c
        .get(&format!("/api/v1/crm/interactions?contact_id={keep}"))
        .await
        .json_ok();
    assert_eq!(of_keep.as_array().unwrap().len(), 3);
    let contacts_of = |item: &Value| ids(&item["contacts"]);
    for i in of_keep.as_array().unwrap() {
        let linked = contacts_of(i);
        assert_eq!(linked.iter().filter(|id| **id == keep).count(), 1, "{i}");
        assert!(!linked.contains(&duplicate));
    }
    let interaction = async |created: &Value| {
        c.get(&format!("/api/v1/crm/interactions/{}", created["id"]))
            .await
            .json_ok()
    };
    let dinner = interaction(&linked.both).await;
    assert_eq!(contacts_of(&dinner), [keep]);
    let letters = interaction(&linked.only_duplicate).await;
    let mut with = contacts_of(&letters);
    with.sort_unstable();
    assert_eq!(with, [keep.min(other), keep.max(other)]);
    assert_eq!(contacts_of(&interaction(&linked.only_keep).await), [keep]);
    let keep_tasks = c
        .get(&format!("/api/v1/crm/tasks?contact_id={keep}"))
        .await
        .json_ok();
    assert_eq!(keep_tasks.as_array().unwrap().len(), 2);
    for t in &linked.tasks {
        let t = c
            .get(&format!("/api/v1/crm/tasks/{}", t["id"]))
            .await
            .json_ok();
        assert_eq!(contacts_of(&t), [keep]);
    }
    for &event in &linked.events {
        let linked: Vec<i64> = sqlx::query_scalar(
            "SELECT contact_id FROM crm_event_contacts WHERE event_id = $1 ORDER BY contact_id",
        )
        .bind(event)
        .fetch_all(app.platform.db.pool())
        .await
        .unwrap();
        assert_eq!(linked, [keep], "event {event}");
    }
}

async fn bad_merges_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let ada = c
        .create_contact(json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}))
        .await;
    let twin = c
        .create_contact(json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}))
        .await;
    let before = c.contact(ada).await;

    let path = format!("/api/v1/crm/contacts/{ada}/merge");
    for problem in [
        merge(&c, ada, ada).await,
        c.post(&path, json!({})).await,
        c.post(&path, json!({"duplicate_id": "twin"})).await,
    ] {
        assert_eq!(problem.expect(422).fields(), ["duplicate_id"]);
    }

    // Missing on either side: 404, and both contacts stay as they were.
    for (keep, duplicate) in [(ada, 999_999), (999_999, ada)] {
        merge(&c, keep, duplicate).await.expect(404);
    }
    assert_eq!(c.contact(ada).await, before);
    assert_eq!(pairs(&duplicates(&c).await).len(), 1);

    // A merged contact cannot be merged again.
    merge(&c, ada, twin).await.expect(200);
    merge(&c, ada, twin).await.expect(404);
    merge(&c, twin, ada).await.expect(404);
    app.stop().await;
}

async fn another_user_can_neither_merge_nor_see_suggestions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let (_, bob) = app.member("bob@example.com").await;
    let bob = app.api(&bob);
    let ada = c
        .create_contact(json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}))
        .await;
    let twin = c
        .create_contact(json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}))
        .await;
    // Bob has a contact with the same email and name: still no pair across users.
    let bobs = bob
        .create_contact(json!({"given_name": "Ada", "emails": [{"value": "ada@example.com"}]}))
        .await;
    let admins_before = duplicates(&c).await;
    assert_eq!(pairs(&admins_before).len(), 1);
    assert_eq!(duplicates(&bob).await, json!([]));

    for (keep, duplicate) in [(ada, twin), (bobs, ada), (ada, bobs)] {
        let refused = merge(&bob, keep, duplicate).await;
        assert_eq!(
            refused.status, 404,
            "{keep} <- {duplicate}: {}",
            refused.text
        );
    }
    // The admin cannot take Bob's contact either.
    merge(&c, ada, bobs).await.expect(404);
    bob.form(
        &format!("/crm/contacts/{ada}/merge"),
        &[("duplicate_id", &twin.to_string())],
    )
    .await
    .expect(404);

    // Nothing changed for anyone.
    assert_eq!(duplicates(&c).await, admins_before);
    for id in [ada, twin] {
        c.contact(id).await;
    }
    bob.contact(bobs).await;
    let html = bob.get("/crm/contacts/duplicates").await.text;
    assert!(html.contains("No duplicates found"));
    assert!(!html.contains(&format!("/crm/contacts/{ada}/merge")));
    app.stop().await;
}

async fn the_duplicates_page_lists_suggestions_and_its_buttons_merge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let page = async |path: &str| c.page(path).await;
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

    let mia = c.create_contact(json!({"given_name": "Mia", "family_name": "Wong", "company": "Acme", "phones": [{"value": "+1 555 0100"}]})).await;
    let wong = c.create_contact(json!({"display_name": "M. Wong", "emails": [{"value": "mia@example.com"}], "phones": [{"value": "1-555-0100"}]})).await;
    c.log_interaction(json!({"kind": "call", "subject": "Catch-up", "contact_ids": [wong]}))
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
            .form(
                &format!("/crm/contacts/{mia}/merge"),
                &[("duplicate_id", bad)],
            )
            .await;
        assert_eq!(r.status, 422, "duplicate_id {bad:?}");
        assert!(r.text.contains("Possible duplicates"));
    }

    let merged = c
        .form(
            &format!("/crm/contacts/{mia}/merge"),
            &[("duplicate_id", &wong.to_string())],
        )
        .await
        .expect(303);
    let location = merged.header("location");
    assert_eq!(location, format!("/crm/contacts/{mia}/merged"));
    let html = c.page(location).await;
    assert!(html.contains("class=\"notice\"") && html.contains("Merged into Mia Wong"));
    assert!(
        html.contains("Catch-up"),
        "the duplicate's interaction moved"
    );
    assert!(html.contains("mia@example.com"));
    let merged = c.contact(mia).await;
    assert_eq!(
        merged["phones"],
        json!([{"value": "+1 555 0100", "label": ""}])
    );
    c.get(&format!("/api/v1/crm/contacts/{wong}"))
        .await
        .expect(404);
    assert!(
        page("/crm/contacts/duplicates")
            .await
            .contains("No duplicates found")
    );
    // The stale button of the other direction finds the contact gone.
    c.form(
        &format!("/crm/contacts/{wong}/merge"),
        &[("duplicate_id", &mia.to_string())],
    )
    .await
    .expect(404);
    app.stop().await;
}
