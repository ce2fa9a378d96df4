//! The escalation engine: levels, repeats, acknowledgement, two nodes, and who is never paged.

use super::*;

crate::on_both_backends!(
    escalation_walks_levels_repeats_and_stops_exhausted,
    acknowledgement_stops_escalation_and_its_timeout_restarts_it,
    two_nodes_notify_each_level_once,
    a_burst_at_mixed_steps_pages_each_incident_once,
    outsiders_and_disabled_accounts_are_never_paged,
);

async fn escalation_walks_levels_repeats_and_stops_exhausted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    attach_policy(
        &app,
        &w,
        json!([page_user(5, w.alice.0), page_user(10, w.bob.0)]),
        1,
    )
    .await;
    let id = app.trigger(&w.key, "db").await;

    let d = wait_entries(&app, id, "escalated", 1).await;
    assert!(
        entries(&d, "escalated")[0]["message"]
            .as_str()
            .unwrap()
            .contains("level 1: alice")
    );
    assert_eq!(d["assignees"][0]["user_id"], w.alice.0);
    // Alice has no rules: her account email is used, at once.
    let sent = settled_notifications(&app, id, 1).await;
    assert_eq!(sent[0]["status"], "sent");
    assert_eq!(sent[0]["address"], "alice@example.com");

    // Not yet: four minutes in, level 2 is not due.
    app.clock.advance(4 * MINUTE);
    cycles().await;
    assert_eq!(entries(&app.incident(id).await, "escalated").len(), 1);

    app.clock.advance(MINUTE);
    let d = wait_entries(&app, id, "escalated", 2).await;
    assert!(
        entries(&d, "escalated")[1]["message"]
            .as_str()
            .unwrap()
            .contains("level 2: bob")
    );
    assert_eq!(d["assignees"][0]["user_id"], w.bob.0);

    // Repeat once: level 1 then level 2 again, then exhausted.
    app.clock.advance(10 * MINUTE);
    let d = wait_entries(&app, id, "escalated", 3).await;
    assert!(
        entries(&d, "escalated")[2]["message"]
            .as_str()
            .unwrap()
            .contains("(repeat 1): alice")
    );
    app.clock.advance(5 * MINUTE);
    wait_entries(&app, id, "escalated", 4).await;
    app.clock.advance(10 * MINUTE);
    let d = wait_entries(&app, id, "escalation_exhausted", 1).await;
    assert!(
        entries(&d, "escalation_exhausted")[0]["message"]
            .as_str()
            .unwrap()
            .contains("2 passes")
    );

    // Nothing after exhaustion, however long we wait.
    app.clock.advance(120 * MINUTE);
    cycles().await;
    let d = app.incident(id).await;
    assert_eq!(entries(&d, "escalated").len(), 4);
    assert_eq!(entries(&d, "escalation_exhausted").len(), 1);
    let sent = settled_notifications(&app, id, 4).await;
    assert_eq!(sent.len(), 4, "one message per level per pass: {sent:#?}");
    let to = |email: &str| sent.iter().filter(|n| n["address"] == email).count();
    assert_eq!((to("alice@example.com"), to("bob@example.com")), (2, 2));
    // Each delivery is on the timeline.
    assert_eq!(entries(&d, "notified").len(), 4);
    app.stop().await;
}

async fn acknowledgement_stops_escalation_and_its_timeout_restarts_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    attach_policy(
        &app,
        &w,
        json!([page_user(5, w.alice.0), page_user(5, w.bob.0)]),
        0,
    )
    .await;
    app.admin_api()
        .patch(
            &format!("/api/v1/services/{}", w.service),
            json!({"ack_timeout_minutes": 30}),
        )
        .await
        .expect(200);
    let id = app.trigger(&w.key, "disk").await;
    wait_entries(&app, id, "escalated", 1).await;

    let (alice, bob) = (app.api(&w.alice.1), app.api(&w.bob.1));
    let incident = format!("/api/v1/incidents/{id}");
    alice
        .post(&format!("{incident}/acknowledge"), json!({}))
        .await
        .ok();
    app.clock.advance(10 * MINUTE);
    cycles().await;
    assert_eq!(
        entries(&app.incident(id).await, "escalated").len(),
        1,
        "acknowledged: no level 2"
    );

    // The acknowledgement times out: triggered again, escalation restarts at level 1.
    app.clock.advance(21 * MINUTE);
    let d = wait_entries(&app, id, "escalated", 2).await;
    assert_eq!(entries(&d, "retriggered").len(), 1);
    assert!(
        entries(&d, "escalated")[1]["message"]
            .as_str()
            .unwrap()
            .contains("level 1: alice")
    );

    // Escalate now: Bob at once, without waiting for the delay.
    let d = bob
        .post(&format!("{incident}/escalate"), json!({}))
        .await
        .ok();
    assert!(
        entries(&d, "escalated")[2]["message"]
            .as_str()
            .unwrap()
            .contains("level 2: bob")
    );

    // Resolution stops everything.
    bob.post(&format!("{incident}/resolve"), json!({}))
        .await
        .ok();
    app.clock.advance(60 * MINUTE);
    cycles().await;
    let d = app.incident(id).await;
    assert_eq!(entries(&d, "escalated").len(), 3);
    assert!(entries(&d, "escalation_exhausted").is_empty());
    bob.post(&format!("{incident}/escalate"), None)
        .await
        .expect(409);
    app.stop().await;
}

async fn two_nodes_notify_each_level_once(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    let w = world(&a).await;
    let b = TestApp::spawn_on(a.db.clone(), common::settings_for(&a.db)).await;
    b.clock.set(a.platform.now());
    attach_policy(
        &a,
        &w,
        json!([
            page_user(5, w.alice.0),
            {"delay_minutes": 5, "targets": [{"type": "user", "id": w.bob.0}, {"type": "team", "id": w.team}]}
        ]),
        0,
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(a.trigger(&w.key, &format!("both-{n}")).await);
    }
    for id in &ids {
        wait_entries(&a, *id, "escalated", 1).await;
    }
    a.clock.advance(5 * MINUTE);
    b.clock.advance(5 * MINUTE);
    for id in &ids {
        wait_entries(&a, *id, "escalated", 2).await;
    }
    a.clock.advance(5 * MINUTE);
    b.clock.advance(5 * MINUTE);
    cycles().await;
    for id in &ids {
        let d = wait_entries(&a, *id, "escalation_exhausted", 1).await;
        assert_eq!(entries(&d, "escalated").len(), 2, "each level once");
        assert_eq!(entries(&d, "escalation_exhausted").len(), 1);
        // Level 1: Alice; level 2: Bob and the team (the admin, who created and so manages
        // it, Alice and Bob): Alice twice in all, everyone else once.
        let sent = settled_notifications(&a, *id, 4).await;
        assert_eq!(sent.len(), 4, "{sent:#?}");
    }
    b.stop().await;
    a.stop().await;
}

/// Incidents due together are stepped in groups of the same step; each still gets its own
/// level, assignees, timeline entry and messages, and an acknowledged one none.
async fn a_burst_at_mixed_steps_pages_each_incident_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    attach_policy(
        &app,
        &w,
        json!([page_user(5, w.alice.0), page_user(5, w.bob.0)]),
        0,
    )
    .await;
    let mut early = Vec::new();
    // Few enough that no address reaches its messages-per-minute cap.
    for n in 0..6 {
        early.push(app.trigger(&w.key, &format!("early-{n}")).await);
    }
    for id in &early {
        wait_entries(&app, *id, "escalated", 1).await;
    }
    let alice = app.api(&w.alice.1);
    for id in &early[..2] {
        alice
            .post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
            .await
            .ok();
    }
    // Level 2 of the early ones and level 1 of the late ones fall due in the same pass.
    app.clock.advance(5 * MINUTE);
    let mut late = Vec::new();
    for n in 0..5 {
        late.push(app.trigger(&w.key, &format!("late-{n}")).await);
    }
    for id in &early[2..] {
        let d = wait_entries(&app, *id, "escalated", 2).await;
        assert!(
            entries(&d, "escalated")[1]["message"]
                .as_str()
                .unwrap()
                .contains("level 2: bob")
        );
        assert_eq!(d["assignees"].as_array().unwrap().len(), 1);
        assert_eq!(d["assignees"][0]["user_id"], w.bob.0);
        let sent = settled_notifications(&app, *id, 2).await;
        let to: Vec<_> = sent
            .iter()
            .map(|n| n["address"].as_str().unwrap())
            .collect();
        assert_eq!(sent.len(), 2, "{sent:#?}");
        assert!(to.contains(&"alice@example.com") && to.contains(&"bob@example.com"));
    }
    for id in &late {
        let d = wait_entries(&app, *id, "escalated", 1).await;
        assert_eq!(d["assignees"][0]["user_id"], w.alice.0);
        assert_eq!(settled_notifications(&app, *id, 1).await.len(), 1);
    }
    cycles().await;
    for id in &early[..2] {
        let d = app.incident(*id).await;
        assert_eq!(
            entries(&d, "escalated").len(),
            1,
            "acknowledged: no level 2"
        );
        assert_eq!(d["notifications"].as_array().unwrap().len(), 1);
    }
    for id in early[2..].iter().chain(&late) {
        let d = app.incident(*id).await;
        let levels = if late.contains(id) { 1 } else { 2 };
        assert_eq!(entries(&d, "escalated").len(), levels, "each level once");
        assert_eq!(d["notifications"].as_array().unwrap().len(), levels);
    }
    app.stop().await;
}

async fn outsiders_and_disabled_accounts_are_never_paged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let (outsider, _) = app.member("outsider@example.com").await;
    let layer = |people: Vec<i64>| {
        json!({"name": "s", "time_zone": "UTC", "team_id": w.team, "layers": [
        {"shift_unit": "days", "shift_length": 1, "starts_local": "2026-01-01T00:00", "participants": people}]})
    };
    let admin = app.admin_api();
    admin
        .post("/api/v1/schedules", layer(vec![w.alice.0, outsider]))
        .await
        .expect(422);
    admin
        .post("/api/v1/escalation-policies", json!({"team_id": w.team, "name": "p", "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": outsider}]}]}))
        .await
        .expect(422);

    // A schedule a policy pages cannot be deleted from under it.
    let schedule = admin
        .post("/api/v1/schedules", layer(vec![w.alice.0]))
        .await
        .ok();
    attach_policy(&app, &w, json!([{"delay_minutes": 5, "targets": [{"type": "schedule", "id": schedule["id"]}, {"type": "user", "id": w.bob.0}]}]), 0).await;
    admin
        .delete(&format!("/api/v1/schedules/{}", schedule["id"]))
        .await
        .expect(409);

    // Alice's account is disabled: the level reaches Bob only.
    admin
        .patch(
            &format!("/api/v1/users/{}", w.alice.0),
            json!({"disabled": true}),
        )
        .await
        .expect(200);
    let id = app.trigger(&w.key, "disabled").await;
    let d = wait_entries(&app, id, "escalated", 1).await;
    let assignees: Vec<i64> = d["assignees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(assignees, [w.bob.0]);
    app.stop().await;
}
