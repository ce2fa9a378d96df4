//! The incident list: order and owner filters, through the API and the page, on SQLite and
//! PostgreSQL.

mod common;

use common::{Backend, TestApp, get, post};
use serde_json::{Value, json};

on_both_backends!(incidents_sort_by_age_and_alerts_and_filter_by_owner);

/// Sends `times` Events v2 triggers for `dedup_key` to the integration `key`.
async fn trigger(app: &TestApp, key: &str, dedup_key: &str, times: usize) {
    for _ in 0..times {
        app.enqueue(json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup_key,
            "payload": {"summary": format!("{dedup_key} is failing"), "source": "db1", "severity": "critical"}}))
            .await
            .expect(202);
    }
}

fn numbers(page: &Value) -> Vec<String> {
    page["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["dedup_key"].as_str().unwrap().to_string())
        .collect()
}

async fn incidents_sort_by_age_and_alerts_and_filter_by_owner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let team = app.create_team("Payments").await;
    let (_, key) = app.service_with_events_v2(team, "checkout").await;
    let key = key.as_str();
    // Oldest first: a (2 alerts), b (3 alerts), c (1 alert), d (3 alerts).
    for (dedup_key, alerts) in [("a", 2), ("b", 3), ("c", 1), ("d", 3)] {
        trigger(&app, key, dedup_key, alerts).await;
    }

    let list = |query: &'static str| get(&app, &app.client, query);
    assert_eq!(
        numbers(&list("/api/v1/incidents").await),
        ["d", "c", "b", "a"]
    );
    assert_eq!(
        numbers(&list("/api/v1/incidents?sort=oldest").await),
        ["a", "b", "c", "d"]
    );
    assert_eq!(
        numbers(&list("/api/v1/incidents?sort=most_alerts").await),
        ["d", "b", "a", "c"]
    );

    // Pages follow the order they were asked in.
    let first = list("/api/v1/incidents?sort=most_alerts&limit=2").await;
    assert_eq!(numbers(&first), ["d", "b"]);
    let next = first["next_before"].as_i64().unwrap();
    let rest = get(
        &app,
        &app.client,
        &format!("/api/v1/incidents?sort=most_alerts&limit=2&before={next}"),
    )
    .await;
    assert_eq!(numbers(&rest), ["a", "c"]);
    let first = list("/api/v1/incidents?sort=oldest&limit=3").await;
    let next = first["next_before"].as_i64().unwrap();
    let rest = get(
        &app,
        &app.client,
        &format!("/api/v1/incidents?sort=oldest&limit=3&before={next}"),
    )
    .await;
    assert_eq!(numbers(&rest), ["d"]);

    // Owners: the admin takes b by acknowledging it; alice is assigned c.
    let (alice_id, alice) = app.member("alice@example.com").await;
    app.add_member(team, alice_id, "member").await;
    let id_of = |page: &Value, dedup_key: &str| {
        page["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["dedup_key"] == dedup_key)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let all = list("/api/v1/incidents").await;
    post(
        &app,
        &app.client,
        &format!("/api/v1/incidents/{}/acknowledge", id_of(&all, "b")),
        json!({}),
    )
    .await;
    post(
        &app,
        &app.client,
        &format!("/api/v1/incidents/{}/reassign", id_of(&all, "c")),
        json!({"user_ids": [alice_id]}),
    )
    .await;
    assert_eq!(numbers(&list("/api/v1/incidents?owner=me").await), ["b"]);
    assert_eq!(
        numbers(&get(&app, &alice, "/api/v1/incidents?owner=me").await),
        ["c"]
    );
    assert_eq!(
        numbers(
            &get(
                &app,
                &app.client,
                &format!("/api/v1/incidents?owner={alice_id}")
            )
            .await
        ),
        ["c"]
    );
    assert_eq!(
        numbers(&list("/api/v1/incidents?owner=nobody&sort=oldest").await),
        ["a", "d"]
    );

    let problem = app
        .admin_api()
        .get("/api/v1/incidents?sort=loudest&owner=someone")
        .await
        .expect(422);
    assert_eq!(problem.fields(), ["sort", "owner"]);

    // The page offers the same choices and keeps them on its next-page link.
    let page = app
        .page_text(&app.client, "/openalert?owner=nobody&sort=most_alerts")
        .await;
    assert!(
        page.contains(r#"<option value="nobody" selected>Nobody</option>"#),
        "{page}"
    );
    assert!(page.contains(r#"<option value="most_alerts" selected>Most alerts first</option>"#));
    let d = page.find(">d is failing<").expect("d listed");
    let a = page.find(">a is failing<").expect("a listed");
    assert!(d < a, "most alerts first");
    assert!(!page.contains(">b is failing<"), "b has an owner");
    let page = app
        .page_text(&app.client, "/openalert?status=all&sort=oldest")
        .await;
    assert!(page.find(">a is failing<").unwrap() < page.find(">d is failing<").unwrap());
}
