//! Regression tests for what a penetration test found: jobs outliving what they were about,
//! outgoing requests to private addresses, streamed downloads under compression, file modes,
//! secrets at rest, cross-site WebSockets and forms, CSV formulas, control characters in
//! names, reset links and error documents. Over HTTP on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{Backend, Receiver, TestApp, eventually, post};
use serde_json::json;

on_both_backends!(
    a_deleted_webhook_sends_nothing_and_its_id_is_never_reused,
    a_deleted_contact_method_is_not_notified,
    outgoing_requests_to_private_addresses_are_refused,
    failed_deliveries_show_the_status_not_the_body,
    streamed_downloads_complete_under_every_encoding,
    secrets_are_not_kept_readable,
    websocket_sessions_only_from_our_own_pages,
    cookie_requests_without_origin_information_are_refused,
    csv_exports_defuse_formulas_and_import_them_back,
    names_with_control_characters_are_refused,
    one_live_reset_link_and_logout_needs_a_session,
    errors_below_the_handlers_are_problem_documents,
);

/// A team with a service and an Events API v2 integration; returns (team, service, key).
async fn service_with_key(app: &TestApp, team_name: &str) -> (i64, i64, String) {
    let team = app.create_team(team_name).await;
    let service = app.create_service(team, &format!("{team_name} api")).await;
    let key = app.events_v2_key(service, "pd").await;
    (team, service, key)
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(app.platform.db.pool())
        .await
        .unwrap()
}

async fn a_deleted_webhook_sends_nothing_and_its_id_is_never_reused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let (team_a, _, key_a) = service_with_key(&app, "Alpha").await;
    let (team_b, _, _) = service_with_key(&app, "Beta").await;
    let receiver_a = Receiver::start().await;
    let receiver_b = Receiver::start().await;
    // A's endpoint fails, so deliveries stay queued for retries.
    receiver_a.answer(500);
    let hook_a = app
        .create_webhook(team_a, &format!("{}/a", receiver_a.url))
        .await["webhook"]["id"]
        .as_i64()
        .unwrap();
    app.trigger(&key_a, "db").await;
    app.clock.advance(Duration::from_secs(10));
    receiver_a.wait_for("/a", 1).await;
    let queued = "SELECT COUNT(*) FROM jobs WHERE kind = 'openalert.webhook' AND status = 'queued'";
    assert!(
        eventually(Duration::from_secs(10), || async {
            (count(&app, queued).await > 0).then_some(())
        })
        .await
        .is_some(),
        "a retry is queued"
    );

    app.admin_api()
        .delete(&format!("/api/v1/webhooks/{hook_a}"))
        .await
        .expect(204);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM jobs WHERE kind = 'openalert.webhook'"
        )
        .await,
        0,
        "deleting the webhook cancelled its deliveries"
    );

    // B's new webhook gets a new id, and nothing of A's reaches it.
    let hook_b = app
        .create_webhook(team_b, &format!("{}/b", receiver_b.url))
        .await["webhook"]["id"]
        .as_i64()
        .unwrap();
    assert!(
        hook_b > hook_a,
        "ids are never reused: {hook_b} after {hook_a}"
    );
    // A job that was already claimed when its webhook went away re-checks the team.
    queue_stale_delivery(&app, hook_b, team_a).await;
    app.clock.advance(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        receiver_b.requests().is_empty(),
        "{:?}",
        receiver_b.requests()
    );
    app.stop().await;
}

/// Queues a webhook delivery naming `webhook_id` but another team, as a stale job would.
async fn queue_stale_delivery(app: &TestApp, webhook_id: i64, team_id: i64) {
    let now = app.platform.now();
    keel_platform::jobs::enqueue(
        app.platform.db.pool(),
        &keel_openalert::notify::WebhookJob {
            webhook_id,
            team_id,
            event: json!({"event": "incident.triggered"}),
        },
        now,
        1,
        now,
    )
    .await
    .unwrap();
    app.platform.job_wake.notify_one();
}

async fn a_deleted_contact_method_is_not_notified(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let receiver = Receiver::start().await;
    // The verification code fails once, so its retry waits in the queue.
    receiver.answer(500);
    let method = app
        .admin_api()
        .post(
            "/api/v1/me/contact-methods",
            json!({"kind": "webhook", "address": format!("{}/me", receiver.url)}),
        )
        .await
        .ok();
    let id = method["id"].as_i64().unwrap();
    receiver.wait_for("/me", 1).await;
    let failed_once =
        "SELECT COUNT(*) FROM oa_notifications WHERE attempts = 1 AND status = 'pending'";
    assert!(
        eventually(Duration::from_secs(10), || async {
            (count(&app, failed_once).await == 1).then_some(())
        })
        .await
        .is_some()
    );
    receiver.answer(200);
    app.admin_api()
        .delete(&format!("/api/v1/me/contact-methods/{id}"))
        .await
        .expect(204);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM oa_notifications WHERE status = 'skipped'"
        )
        .await,
        1
    );
    // The retry comes due and sends nothing to the deleted method's address.
    app.clock.advance(Duration::from_secs(7200));
    app.platform.job_wake.notify_one();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.requests().len(), 1, "{:?}", receiver.requests());
    app.stop().await;
}

async fn outgoing_requests_to_private_addresses_are_refused(backend: Backend) {
    // No private network allowed: the default.
    let app = TestApp::spawn_with(backend, |s| s.outbound_allowed_networks = String::new()).await;
    app.setup_admin().await;
    let team = app.create_team("Ops").await;
    let receiver = Receiver::start().await;
    let port = receiver.url.rsplit(':').next().unwrap().to_string();
    for url in [
        format!("http://127.1:{port}/x"),
        format!("http://2130706433:{port}/x"),
        format!("http://0x7f000001:{port}/x"),
        format!("http://[::ffff:127.0.0.1]:{port}/x"),
        format!("http://[::1]:{port}/x"),
        format!("http://localhost:{port}/x"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://user:pass@example.com/x".to_string(),
    ] {
        let refused = app
            .admin_api()
            .post("/api/v1/webhooks", json!({"team_id": team, "url": url}))
            .await;
        assert_eq!(refused.status, 422, "{url}: {}", refused.body);
        assert_eq!(refused.fields()[0], "url", "{url}: {}", refused.body);
        let refused = app
            .admin_api()
            .post(
                "/api/v1/me/contact-methods",
                json!({"kind": "slack", "address": url}),
            )
            .await;
        assert_eq!(refused.status, 422, "{url}: {}", refused.body);
        assert_eq!(refused.fields()[0], "address", "{url}: {}", refused.body);
    }
    // A name is checked again at connection time, with every address it resolves to.
    let refused = app
        .platform
        .outbound
        .expect_success(
            app.platform
                .outbound
                .post(&format!("http://localhost.:{port}/x")),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(keel_platform::outbound::OutboundError::Refused(_))
        ),
        "{refused:?}"
    );
    assert!(receiver.requests().is_empty(), "nothing reached loopback");
    app.stop().await;
}

async fn failed_deliveries_show_the_status_not_the_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    // A receiver that answers with an internal detail in its body, and one that redirects.
    let leaky = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "db password is hunter2",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let leaky_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, leaky).await });
    let target = Receiver::start().await;
    let location = format!("{}/landed", target.url);
    let redirect = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirect).await });

    let outbound = &app.platform.outbound;
    let leaked = outbound
        .expect_success(outbound.post(&format!("{leaky_url}/hook")))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(leaked, "answered 500");
    let redirected = outbound
        .expect_success(outbound.post(&format!("{redirect_url}/hook")))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(redirected, "answered 307");
    assert!(target.requests().is_empty(), "redirects are not followed");

    // Through the product: the contact method's failure on the timeline names the status only.
    app.admin_api()
        .post(
            "/api/v1/me/contact-methods",
            json!({"kind": "webhook", "address": format!("{leaky_url}/me")}),
        )
        .await
        .ok();
    let detail = eventually(Duration::from_secs(15), || async {
        sqlx::query_scalar::<_, String>(
            "SELECT detail FROM oa_notifications WHERE attempts > 0 AND detail <> ''",
        )
        .fetch_optional(app.platform.db.pool())
        .await
        .unwrap()
    })
    .await
    .expect("a failed attempt is recorded");
    assert!(detail.contains("500"), "{detail}");
    assert!(!detail.contains("hunter2"), "{detail}");
    app.stop().await;
}

async fn streamed_downloads_complete_under_every_encoding(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    for i in 0..30 {
        app.admin_api()
            .post(
                "/api/v1/crm/contacts",
                json!({"given_name": format!("Person {i}"), "notes": "x".repeat(200)}),
            )
            .await
            .ok();
    }
    for path in [
        "/api/v1/crm/export/contacts.csv",
        "/api/v1/crm/export/contacts.vcf",
        "/api/v1/crm/export/account.zip",
        "/api/v1/audit-events?format=csv",
    ] {
        for encoding in ["gzip", "br", "zstd", "deflate", "identity"] {
            let response = app
                .client
                .get(app.url(path))
                .header("accept-encoding", encoding)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path} {encoding}");
            let used = response
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap().to_string());
            let body = response
                .bytes()
                .await
                .unwrap_or_else(|e| panic!("{path} {encoding}: body cut short: {e}"));
            assert!(!body.is_empty(), "{path} {encoding}");
            if used.as_deref() == Some("gzip") {
                // The gzip trailer ends with the length of what was compressed (mod 2^32).
                assert_eq!(&body[..2], &[0x1f, 0x8b], "{path}");
                let size = u32::from_le_bytes(body[body.len() - 4..].try_into().unwrap());
                assert!(size > 200, "{path}: {size} bytes compressed");
            }
        }
    }
    app.stop().await;
}

async fn secrets_are_not_kept_readable(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let (_, _, key) = service_with_key(&app, "Ops").await;
    app.trigger(&key, "disk").await;
    let raw: Vec<String> = sqlx::query_scalar("SELECT raw FROM oa_alerts")
        .fetch_all(app.platform.db.pool())
        .await
        .unwrap();
    assert_eq!(raw.len(), 1);
    assert!(!raw[0].contains(&key), "{}", raw[0]);
    assert!(raw[0].contains("[redacted]"), "{}", raw[0]);

    // Mail and verification codes wait sealed in the queue: no reset link or code readable
    // in the database (the failing receiver keeps the code's job queued for a retry).
    let receiver = Receiver::start().await;
    receiver.answer(500);
    app.admin_api()
        .post(
            "/api/v1/me/contact-methods",
            json!({"kind": "webhook", "address": format!("{}/me", receiver.url)}),
        )
        .await
        .ok();
    receiver.wait_for("/me", 1).await;
    assert!(
        receiver.requests()[0].body.contains("verification code"),
        "the code itself went out"
    );
    app.request_password_reset("admin@example.com")
        .await
        .expect(202);
    assert!(
        count(
            &app,
            "SELECT COUNT(*) FROM jobs WHERE kind = 'openalert.notify'"
        )
        .await
            > 0
    );
    let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM jobs")
        .fetch_all(app.platform.db.pool())
        .await
        .unwrap();
    for payload in &payloads {
        assert!(
            !payload.contains("reset-password")
                && !payload.contains("admin@example.com")
                && !payload.contains("verification code"),
            "{payload}"
        );
    }
    // The mail drop: the directory 0700, each message 0600.
    let dir = app.db.dir().join("mail");
    let mail = eventually(Duration::from_secs(15), || async {
        std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "eml"))
    })
    .await
    .expect("the reset mail is written");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&mail), 0o600);
    if backend == Backend::Sqlite {
        for file in ["keel.db", "keel.db-wal", "keel.db-shm"] {
            assert_eq!(mode(&app.db.dir().join(file)), 0o600, "{file}");
        }
    }
    app.stop().await;
}

/// Signs in without a cookie jar and returns the session cookie as a `Cookie` header value.
async fn session_cookie(app: &TestApp) -> String {
    let response = common::client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "admin@example.com", "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn websocket_sessions_only_from_our_own_pages(backend: Backend) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let cookie = session_cookie(&app).await;
    let connect = |origin: Option<String>| {
        let mut request = format!("ws://{}/api/v1/stream", app.addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        tokio_tungstenite::connect_async(request)
    };
    for origin in [Some("http://evil.example".to_string()), None] {
        match connect(origin.clone()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{origin:?}")
            }
            other => panic!("{origin:?}: expected 403, got {:?}", other.map(|_| ())),
        }
    }
    let (socket, _) = connect(Some(app.base.clone()))
        .await
        .expect("our own page connects");
    drop(socket);
    app.stop().await;
}

async fn cookie_requests_without_origin_information_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let cookie = session_cookie(&app).await;
    let program = common::client();
    let attempt = |referer: Option<String>, with_cookie: bool| {
        let mut request = program
            .post(app.url("/api/v1/teams"))
            .json(&json!({"name": format!("t{}", keel_platform::crypto::random_token(6))}));
        if with_cookie {
            request = request.header("cookie", cookie.as_str());
        }
        if let Some(referer) = referer {
            request = request.header("referer", referer);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        attempt(Some("http://evil.example/page".into()), true).await,
        403
    );
    assert_eq!(
        attempt(None, true).await,
        403,
        "no origin information at all"
    );
    assert_eq!(
        attempt(Some(format!("{}/admin/teams", app.base)), true).await,
        201
    );
    // Without a cookie there is nothing to ride on: a program's request is judged by its
    // credentials (here: none).
    assert_eq!(attempt(None, false).await, 401);
    app.stop().await;
}

async fn csv_exports_defuse_formulas_and_import_them_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "=HYPERLINK(\"http://evil.example\",\"x\")", "company": "@SUM(A1)",
               "phones": [{"value": "+14155550100"}], "notes": "-2+3"}),
    )
    .await;
    let csv = app.page_text(c, "/api/v1/crm/export/contacts.csv").await;
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(csv.contains("'@SUM(A1)"), "{csv}");
    assert!(csv.contains("'-2+3"), "{csv}");
    assert!(
        !csv.contains(",=") && !csv.contains(",@") && !csv.contains(",+"),
        "{csv}"
    );

    // Our own import reads the cells back as they were.
    let (_, other) = app.member("other@example.com").await;
    app.api(&other)
        .header("content-type", "text/csv")
        .post_body("/api/v1/crm/import/csv", csv)
        .await
        .expect(200);
    let listed = app.api(&other).get("/api/v1/crm/contacts").await.json_ok();
    let id = listed["contacts"][0]["id"].as_i64().unwrap();
    let contact = &app
        .api(&other)
        .get(&format!("/api/v1/crm/contacts/{id}"))
        .await
        .json_ok();
    assert_eq!(contact["company"], "@SUM(A1)");
    assert_eq!(contact["notes"], "-2+3");
    assert_eq!(contact["phones"][0]["value"], "+14155550100");

    // The audit log export too.
    app.create_team("=cmd|' /C calc'!A0").await;
    let audit = app.page_text(c, "/api/v1/audit-events?format=csv").await;
    assert!(!audit.contains(",=cmd"), "{audit}");
    app.stop().await;
}

async fn names_with_control_characters_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let team = app.create_team("Ops").await;
    for (path, body, field) in [
        (
            "/api/v1/services",
            json!({"team_id": team, "name": "api\nERROR forged log line"}),
            "name",
        ),
        ("/api/v1/teams", json!({"name": "a\rb"}), "name"),
        (
            "/api/v1/schedules",
            json!({"team_id": team, "name": "s\u{1b}[2J", "time_zone": "UTC", "layers": []}),
            "name",
        ),
    ] {
        let answer = app.admin_api().post(path, body).await;
        assert_eq!(answer.status, 422, "{path}: {}", answer.body);
        let answer = answer.body;
        assert!(
            answer["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{path}: {answer}"
        );
    }
    app.stop().await;
}

fn reset_token(mail: &str) -> String {
    let unfolded = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    unfolded
        .split("reset-password?token=")
        .nth(1)
        .expect("link in mail")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

async fn one_live_reset_link_and_logout_needs_a_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let dir = app.db.dir().join("mail");
    let mails = || {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect::<Vec<_>>()
    };
    let mut tokens = Vec::new();
    for n in 1..=2 {
        app.request_password_reset("admin@example.com")
            .await
            .expect(202);
        let mail = eventually(Duration::from_secs(15), || async {
            let all = mails();
            (all.len() == n).then(|| all[n - 1].clone())
        })
        .await
        .expect("reset mail written");
        tokens.push(reset_token(&mail));
    }
    let confirm = async |token: String| {
        app.confirm_password_reset(&token, "a fresh password")
            .await
            .status
    };
    assert_eq!(confirm(tokens[0].clone()).await, 422, "the older link died");
    assert_eq!(confirm(tokens[1].clone()).await, 204);

    // Signing out is for browser sessions; a token is revoked instead.
    app.login(&app.client, "admin@example.com", "a fresh password")
        .await;
    let token = app
        .admin_api()
        .post("/api/v1/tokens", json!({"name": "cli"}))
        .await
        .ok()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    app.api(&common::client())
        .bearer(&token)
        .post("/api/v1/auth/logout", None)
        .await
        .expect(401);
    app.api(&common::client())
        .post("/api/v1/auth/logout", None)
        .await
        .expect(401);
    app.stop().await;
}

async fn errors_below_the_handlers_are_problem_documents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    // A body that is not UTF-8 where text is expected.
    let problem = app
        .admin_api()
        .header("content-type", "text/vcard")
        .post_body("/api/v1/crm/import/vcard", vec![0xff, 0xfe, 0x00, 0x41])
        .await;
    assert!((400..500).contains(&problem.status), "{}", problem.status);
    assert_eq!(
        problem.header("content-type"),
        "application/problem+json",
        "{}",
        problem.body
    );
    // A body over the limit.
    let problem = app
        .admin_api()
        .header("content-type", "application/json")
        .post_body(
            "/api/v1/teams",
            vec![b' '; keel_platform::server::MAX_BODY_BYTES + 10],
        )
        .await;
    assert_eq!(problem.status, 413, "{}", problem.body);
    assert_eq!(problem.header("content-type"), "application/problem+json");
    assert_eq!(problem.body["status"], 413);
    // A method a path does not take.
    let problem = app.admin_api().put("/api/v1/auth/login", None).await;
    assert_eq!(problem.status, 405);
    assert_eq!(problem.header("content-type"), "application/problem+json");
    app.stop().await;
}
