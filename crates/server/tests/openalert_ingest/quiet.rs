//! When not to page, and when silence pages: heartbeats and maintenance windows.

use super::*;

crate::on_both_backends!(
    heartbeat_silence_opens_and_the_next_ping_resolves,
    maintenance_windows_record_without_paging,
);

async fn heartbeat_silence_opens_and_the_next_ping_resolves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let hb = app
        .create_integration(service, "heartbeat", json!({"heartbeat_seconds": 60}))
        .await;
    let url = app.ingest_url(&hb);
    app.sender().get(&url).await.expect(200);
    app.clock.advance(Duration::from_secs(30));
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    assert!(
        app.incidents("status=open").await.is_empty(),
        "within the interval"
    );
    app.clock.advance(Duration::from_secs(31));
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    let open = app.incidents("status=open").await;
    assert_eq!(open.len(), 1, "one incident however many cycles run");
    assert_eq!(open[0]["title"], "Heartbeat missed: heartbeat source");
    app.sender().post(&url, None).await.expect(200);
    assert!(
        app.incidents("status=open").await.is_empty(),
        "the next ping resolves it"
    );
    app.stop().await;
}

async fn maintenance_windows_record_without_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let v2 = app
        .create_integration(service, "events_v2", json!({}))
        .await;
    let now = app.platform.now();
    let window = json!({"starts_at": now.minus(Duration::from_secs(60)).to_string(), "ends_at": now.plus(Duration::from_secs(3600)).to_string(), "description": "db upgrade"});
    let admin = app.admin_api();
    let windows = format!("/api/v1/services/{service}/maintenance-windows");
    admin.post(&windows, window).await.expect(201);
    let backwards = json!({"starts_at": now.to_string(), "ends_at": now.minus(Duration::from_secs(1)).to_string()});
    admin.post(&windows, backwards).await.expect(422);
    // The page's pickers give local times in the zone chosen beside them.
    let maintenance = format!("/openalert/services/{service}/maintenance");
    admin
        .form(
            &maintenance,
            &[
                ("starts_at", "2030-01-01T10:00"),
                ("ends_at", "2030-01-01T12:00"),
                ("window_time_zone", "Europe/Berlin"),
                ("window_description", "planned"),
            ],
        )
        .await
        .expect(303);
    let page = app
        .page_text(&app.client, &format!("/openalert/services/{service}"))
        .await;
    assert!(page.contains("2030-01-01T09:00:00.000Z"), "10:00 in Berlin");
    let refused = admin
        .form(
            &maintenance,
            &[
                ("starts_at", "2030-01-01T10:00"),
                ("ends_at", "2030-01-01T12:00"),
                ("window_time_zone", "Mars/Olympus"),
            ],
        )
        .await
        .expect(422);
    assert!(refused.text.contains("unknown time zone"));

    let body = with_routing_key(PD, v2["key"].as_str().unwrap());
    app.sender()
        .post_body("/v2/enqueue", body.clone())
        .await
        .expect(202);
    assert!(
        app.incidents("").await.is_empty(),
        "no page during maintenance"
    );
    let recorded =
        keel_openalert::store::incidents::list_suppressed(app.platform.db.pool(), service, 10)
            .await
            .unwrap();
    assert_eq!(recorded.len(), 1, "but the alert is recorded");

    app.clock.advance(Duration::from_secs(3601));
    app.sender()
        .post_body("/v2/enqueue", body)
        .await
        .expect(202);
    assert_eq!(app.incidents("").await.len(), 1);
    app.stop().await;
}
