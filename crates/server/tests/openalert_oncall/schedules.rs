//! Schedules: rotations and overrides, validation, shifts, feeds and hand-off notices.

use super::*;

crate::on_both_backends!(
    schedule_targets_follow_the_rotation_and_overrides_win,
    schedules_validate_compute_shifts_and_serve_feeds,
    handoff_notices_go_out_once_before_and_after_a_shift,
);

async fn schedule_targets_follow_the_rotation_and_overrides_win(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let now = jiff::Timestamp::from_millisecond(app.platform.now().as_millis()).unwrap();
    // A weekly rotation that started at this instant a week ago: Bob's week now.
    let start = (now - jiff::SignedDuration::from_hours(24 * 7))
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    let schedule = create_schedule(
        &app,
        &w,
        json!({"name": "primary", "time_zone": "UTC", "layers": [
            {"shift_unit": "weeks", "shift_length": 1, "starts_local": start, "participants": [w.alice.0, w.bob.0]}
        ]}),
    )
    .await;
    let sid = schedule["id"].as_i64().unwrap();
    let admin = app.admin_api();
    let on_call = admin
        .get(&format!("/api/v1/schedules/{sid}/on-call"))
        .await
        .json_ok();
    assert_eq!(on_call["user_ids"], json!([w.bob.0]));
    attach_policy(
        &app,
        &w,
        json!([{"delay_minutes": 5, "targets": [{"type": "schedule", "id": sid}]}]),
        0,
    )
    .await;

    let first = app.trigger(&w.key, "one").await;
    let d = wait_entries(&app, first, "escalated", 1).await;
    assert_eq!(d["assignees"][0]["user_id"], w.bob.0, "{d:#}");

    // Alice takes the next hour.
    let from = app.platform.now();
    let until = from.plus(Duration::from_secs(3600));
    app.api(&w.alice.1)
        .post(
            &format!("/api/v1/schedules/{sid}/overrides"),
            json!({"user_id": w.alice.0, "starts_at": from, "ends_at": until}),
        )
        .await
        .ok();
    let second = app.trigger(&w.key, "two").await;
    let d = wait_entries(&app, second, "escalated", 1).await;
    assert_eq!(d["assignees"][0]["user_id"], w.alice.0, "the override wins");
    app.stop().await;
}

async fn schedules_validate_compute_shifts_and_serve_feeds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let admin = app.admin_api();
    let bad = admin
        .post("/api/v1/schedules", json!({"team_id": w.team, "name": "x", "time_zone": "Mars/Olympus", "layers": [
            {"shift_unit": "fortnights", "shift_length": 0, "starts_local": "soon", "participants": [999]}
        ]}))
        .await
        .expect(422);
    let mut fields = bad.fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "layers[0].participants",
            "layers[0].shift_length",
            "layers[0].shift_unit",
            "layers[0].starts_local",
            "time_zone"
        ]
    );

    let schedule = create_schedule(
        &app,
        &w,
        json!({"name": "follow the sun", "time_zone": "Europe/Berlin", "layers": [
            {"shift_unit": "days", "shift_length": 1, "starts_local": "2026-03-01T09:00", "participants": [w.alice.0, w.bob.0]}
        ]}),
    )
    .await;
    let sid = schedule["id"].as_i64().unwrap();
    // Across the spring transition (29 March) handoffs stay at 09:00 Berlin time.
    let shifts = admin
        .get(&format!(
            "/api/v1/schedules/{sid}/shifts?from=2026-03-28T08:00:00Z&to=2026-03-31T08:00:00Z"
        ))
        .await
        .json_ok();
    let starts: Vec<&str> = shifts
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2026-03-28T08:00:00.000Z",
            "2026-03-29T07:00:00.000Z",
            "2026-03-30T07:00:00.000Z",
            "2026-03-31T07:00:00.000Z"
        ]
    );
    let on_call = admin
        .get(&format!(
            "/api/v1/schedules/{sid}/on-call?at=2026-03-29T06:59:00Z"
        ))
        .await
        .json_ok();
    assert_eq!(on_call["user_ids"], json!([w.bob.0]));
    admin
        .get(&format!(
            "/api/v1/schedules/{sid}/shifts?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z"
        ))
        .await
        .expect(422);

    // Feeds: the schedule's and Alice's own; revoking ends them.
    let feed = admin
        .post(&format!("/api/v1/schedules/{sid}/feed"), json!({}))
        .await
        .ok();
    let path = feed["url"]
        .as_str()
        .unwrap()
        .split_once("/oncall/")
        .unwrap()
        .1
        .to_string();
    let calendar = app.sender();
    let ics = calendar.get(&format!("/oncall/{path}")).await.expect(200);
    assert!(ics.header("content-type").starts_with("text/calendar"));
    let text = ics.text;
    assert!(
        text.starts_with("BEGIN:VCALENDAR\r\n")
            && text.contains("BEGIN:VEVENT")
            && text.contains("alice")
    );
    let mine = app
        .api(&w.alice.1)
        .post("/api/v1/me/oncall-feed", json!({}))
        .await
        .ok();
    let mine_path = mine["url"]
        .as_str()
        .unwrap()
        .split_once("/oncall/")
        .unwrap()
        .1
        .to_string();
    let text = calendar.get(&format!("/oncall/{mine_path}")).await.text;
    assert!(text.contains("(alice)") && !text.contains("(bob)"));
    admin
        .delete(&format!("/api/v1/schedules/{sid}/feed"))
        .await
        .expect(204);
    calendar.get(&format!("/oncall/{path}")).await.expect(404);

    // Members may add overrides but not edit the schedule.
    app.api(&w.bob.1)
        .put(
            &format!("/api/v1/schedules/{sid}"),
            json!({"team_id": w.team, "name": "mine", "time_zone": "UTC", "layers": []}),
        )
        .await
        .expect(403);
    app.stop().await;
}

async fn handoff_notices_go_out_once_before_and_after_a_shift(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    // Daily handoffs at a time ten minutes from now: Alice until then, Bob after.
    let handoff = jiff::Timestamp::from_millisecond(app.platform.now().as_millis()).unwrap()
        + jiff::SignedDuration::from_mins(10);
    let start = (handoff - jiff::SignedDuration::from_hours(24))
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    create_schedule(&app, &w, json!({"name": "daily", "time_zone": "UTC", "layers": [
        {"shift_unit": "days", "shift_length": 1, "starts_local": start, "participants": [w.alice.0, w.bob.0]}
    ]}))
    .await;
    // The engine looks once a minute.
    app.clock.advance(MINUTE);
    let starts = eventually(Duration::from_secs(10), || async {
        let m = mailed(&app);
        m.iter()
            .any(|s| s.starts_with("You are on call for daily"))
            .then_some(m)
    })
    .await
    .expect("a notice before Bob's shift");
    assert_eq!(
        starts
            .iter()
            .filter(|s| s.starts_with("You are on call"))
            .count(),
        1
    );

    // The handoff passes: Alice is told her shift ended; nobody is told twice.
    app.clock.advance(11 * MINUTE);
    let ended = eventually(Duration::from_secs(10), || async {
        let m = mailed(&app);
        m.iter().any(|s| s.contains("has ended")).then_some(m)
    })
    .await
    .expect("a notice after Alice's shift");
    app.clock.advance(MINUTE);
    cycles().await;
    assert_eq!(mailed(&app).len(), ended.len());
    assert_eq!(
        ended
            .iter()
            .filter(|s| s.starts_with("You are on call"))
            .count(),
        1
    );
    app.stop().await;
}
