//! Accounts and security over HTTP, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{Backend, PASSWORD, TestApp};
use serde_json::{Value, json};

on_both_backends!(
    first_run_setup_creates_one_admin,
    login_logout_and_me,
    wrong_password_and_unknown_user_are_refused_alike,
    revoked_and_expired_sessions_are_refused_at_once,
    api_tokens_work_until_revoked,
    password_change_ends_other_sessions,
    cross_origin_unsafe_requests_are_refused,
    teams_are_private_to_their_members,
    validation_errors_name_the_field,
    login_lockout_answers_429_with_retry_after,
    security_headers_on_every_response,
    audit_log_records_and_filters,
    admin_manages_users,
    pages_render_for_signed_in_users,
    teams_in_use_are_kept_and_unknown_teams_are_not_found,
);

async fn first_run_setup_creates_one_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let status: Value = app
        .client
        .get(app.url("/api/v1/setup"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["needs_setup"], true);
    let home = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.headers()["location"], "/setup");

    let wrong = app
        .client
        .post(app.url("/api/v1/setup"))
        .json(&json!({"setup_token": "nope", "email": "a@example.com", "name": "A", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "setup_token");

    let admin = app.setup_admin().await;
    assert_eq!(admin["user"]["role"], "admin");

    let again = app
        .client
        .post(app.url("/api/v1/setup"))
        .json(&json!({"setup_token": app.platform.setup_token(), "email": "b@example.com", "name": "B", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let anonymous = app.new_client().get(app.url("/")).send().await.unwrap();
    assert_eq!(anonymous.headers()["location"], "/login");
    let setup_page = app
        .new_client()
        .get(app.url("/setup"))
        .send()
        .await
        .unwrap();
    assert_eq!(setup_page.headers()["location"], "/login");
    app.stop().await;
}

async fn login_logout_and_me(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let signed_in = app.setup_admin().await;
    assert!(signed_in["session_id"].as_i64().unwrap() > 0);
    let me: Value = app
        .client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "admin@example.com");
    assert_eq!(me["session_id"], signed_in["session_id"]);

    let out = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(after.status(), 401);
    assert_eq!(after.headers()["content-type"], "application/problem+json");
    app.stop().await;
}

async fn wrong_password_and_unknown_user_are_refused_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    for (email, password) in [
        ("admin@example.com", "wrong password!"),
        ("nobody@example.com", PASSWORD),
    ] {
        let response = app
            .new_client()
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"], "wrong e-mail or password");
    }
    app.stop().await;
}

async fn revoked_and_expired_sessions_are_refused_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let laptop = app.new_client();
    let phone = app.new_client();
    app.login(&laptop, "admin@example.com", PASSWORD).await;
    let phone_session = app.login(&phone, "admin@example.com", PASSWORD).await["session_id"]
        .as_i64()
        .unwrap();

    let sessions: Vec<Value> = laptop
        .get(app.url("/api/v1/me/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.len(), 3);
    let revoke = laptop
        .delete(app.url(&format!("/api/v1/me/sessions/{phone_session}")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    assert_eq!(
        phone
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        laptop
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Sign out everywhere ends this session too.
    let all = laptop
        .post(app.url("/api/v1/me/sessions/revoke-all"))
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), 204);
    assert_eq!(
        laptop
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        app.client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Idle expiry: a session unused for longer than the idle limit is refused.
    let idle = app.new_client();
    app.login(&idle, "admin@example.com", PASSWORD).await;
    app.clock
        .advance(app.platform.config.session_idle + Duration::from_secs(1));
    assert_eq!(
        idle.get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    app.stop().await;
}

async fn api_tokens_work_until_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let created = app
        .client
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("keel_"));

    let bare = app.new_client();
    let me = bare
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let listed: Vec<Value> = app
        .client
        .get(app.url("/api/v1/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].get("secret").is_none(),
        "secrets are shown once only"
    );
    assert!(listed[0]["last_used_at"].is_string());

    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/v1/tokens/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        bare.get(app.url("/api/v1/me"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/v1/tokens/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        bare.get(app.url("/api/v1/me"))
            .bearer_auth("keel_forged")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    app.stop().await;
}

async fn password_change_ends_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let other = app.new_client();
    app.login(&other, "admin@example.com", PASSWORD).await;
    let wrong = app
        .client
        .post(app.url("/api/v1/me/password"))
        .json(&json!({"current_password": "not it at all", "new_password": "a brand new secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    let changed = app
        .client
        .post(app.url("/api/v1/me/password"))
        .json(&json!({"current_password": PASSWORD, "new_password": "a brand new secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    assert_eq!(
        app.client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        other
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    app.login(&app.new_client(), "admin@example.com", "a brand new secret")
        .await;
    app.stop().await;
}

async fn cross_origin_unsafe_requests_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let attempts = [
        ("sec-fetch-site", "cross-site".to_string()),
        ("sec-fetch-site", "same-site".to_string()),
        ("origin", "http://evil.example".to_string()),
    ];
    for (header, value) in attempts {
        let response = app
            .client
            .post(app.url("/api/v1/teams"))
            .header(header, value.as_str())
            .json(&json!({"name": "Forged"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{header}: {value}");
    }
    let teams: Vec<Value> = app
        .client
        .get(app.url("/api/v1/teams"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(teams.is_empty(), "nothing was created by forged requests");
    // The web form path is guarded the same way.
    let form = app
        .client
        .post(app.url("/logout"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 403);
    // Same-origin browsers pass.
    let ok = app
        .client
        .post(app.url("/api/v1/teams"))
        .header("sec-fetch-site", "same-origin")
        .header("origin", app.base.as_str())
        .json(&json!({"name": "Real"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    app.stop().await;
}

async fn teams_are_private_to_their_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let red = app.create_team("Red").await;
    let blue = app.create_team("Blue").await;
    let (alice_id, alice) = app.member("alice@example.com").await;
    let (bob_id, bob) = app.member("bob@example.com").await;
    app.add_member(red, alice_id, "member").await;
    app.add_member(blue, bob_id, "manager").await;

    let alice_teams: Vec<Value> = alice
        .get(app.url("/api/v1/teams"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alice_teams.len(), 1);
    assert_eq!(alice_teams[0]["name"], "Red");
    for path in [
        format!("/api/v1/teams/{blue}"),
        format!("/api/v1/teams/{blue}/members"),
    ] {
        assert_eq!(
            alice.get(app.url(&path)).send().await.unwrap().status(),
            404,
            "{path}"
        );
    }
    assert_eq!(
        alice
            .get(app.url(&format!("/teams/{blue}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let patch = alice
        .patch(app.url(&format!("/api/v1/teams/{blue}")))
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 404);
    // A plain member sees their team but cannot change it; a manager can.
    let patch = alice
        .patch(app.url(&format!("/api/v1/teams/{red}")))
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 403);
    let patch = bob
        .patch(app.url(&format!("/api/v1/teams/{blue}")))
        .json(&json!({"description": "on call"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    // Members are not admins.
    assert_eq!(
        alice
            .get(app.url("/api/v1/users"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        alice
            .get(app.url("/api/v1/audit-events"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        alice
            .get(app.url("/admin/users"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // Admins see every team.
    let all: Vec<Value> = app
        .client
        .get(app.url("/api/v1/teams"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    // Removed members lose access at once.
    let removed = bob
        .delete(app.url(&format!("/api/v1/teams/{blue}/members/{bob_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(
        bob.get(app.url(&format!("/api/v1/teams/{blue}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}

async fn validation_errors_name_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let response = app
        .client
        .post(app.url("/api/v1/users"))
        .json(&json!({"email": "not-an-email", "name": "", "password": "short", "role": "king"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["email", "name", "password", "role"]);

    let unknown = app
        .client
        .post(app.url("/api/v1/teams"))
        .json(&json!({"name": "X", "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 422);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["errors"][0]["field"],
        "colour"
    );
    let wrong_type = app
        .client
        .post(app.url("/api/v1/teams"))
        .json(&json!({"name": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 422);
    assert_eq!(
        wrong_type.json::<Value>().await.unwrap()["errors"][0]["field"],
        "name"
    );
    let malformed = app
        .client
        .post(app.url("/api/v1/teams"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    // A struct's fields in an array are not a body (serde would read them in order).
    let array = app
        .client
        .patch(app.url("/api/v1/teams/1"))
        .json(&json!([null, null]))
        .send()
        .await
        .unwrap();
    assert_eq!(array.status(), 422);
    assert_eq!(
        array.json::<Value>().await.unwrap()["errors"][0]["field"],
        "body"
    );
    let bad_id = app
        .client
        .get(app.url("/api/v1/teams/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_id.status(), 400);
    let duplicate = app
        .client
        .post(app.url("/api/v1/users"))
        .json(&json!({"email": "ADMIN@example.com", "name": "Again", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 422);
    assert_eq!(
        duplicate.json::<Value>().await.unwrap()["errors"][0]["field"],
        "email"
    );
    let bad_query = app
        .client
        .get(app.url("/api/v1/audit-events?since=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_query.status(), 422);
    assert_eq!(
        bad_query.json::<Value>().await.unwrap()["errors"][0]["field"],
        "since"
    );
    // Nothing half-written: still only the admin, no teams.
    let users: Vec<Value> = app
        .client
        .get(app.url("/api/v1/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    // Last: the server answers 413 without reading the body and closes the connection.
    let huge = app
        .client
        .post(app.url("/api/v1/teams"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    app.stop().await;
}

async fn login_lockout_answers_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.login_attempts_per_15_minutes = 3).await;
    app.setup_admin().await;
    let attacker = app.new_client();
    let mut last = None;
    for _ in 0..4 {
        let response = attacker
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "admin@example.com", "password": "guess guess guess"}))
            .send()
            .await
            .unwrap();
        last = Some(response);
    }
    let last = last.unwrap();
    assert_eq!(last.status(), 429);
    let retry: u64 = last.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry));
    // The right password is refused too while locked out…
    let locked = attacker
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "admin@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), 429);
    // …and accepted once the window has passed.
    app.clock.advance(Duration::from_secs(retry + 1));
    app.login(&attacker, "admin@example.com", PASSWORD).await;

    // The general API budget per token answers 429 too.
    let app2 = TestApp::spawn_with(backend, |s| s.rate_limit_per_minute = 5).await;
    app2.setup_admin().await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            app2.client
                .get(app2.url("/api/v1/me"))
                .send()
                .await
                .unwrap(),
        );
    }
    let limited = statuses
        .into_iter()
        .find(|r| r.status() == 429)
        .expect("rate limited");
    assert!(limited.headers().contains_key("retry-after"));
    app.stop().await;
    app2.stop().await;
}

async fn security_headers_on_every_response(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/login",
        "/api/v1/me",
        "/healthz",
        "/nowhere",
        "/api/openapi.json",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(
            !h.contains_key("strict-transport-security"),
            "no HSTS over plain http"
        );
    }
    let https = TestApp::spawn_with(backend, |s| {
        s.public_url = Some("https://keel.example.com".into())
    })
    .await;
    let response = https.client.get(https.url("/login")).send().await.unwrap();
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    https.setup_admin().await;
    app.stop().await;
    https.stop().await;
}

async fn audit_log_records_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.create_team("Ops").await;
    let (alice_id, _) = app.member("alice@example.com").await;
    let page: Value = app
        .client
        .get(app.url("/api/v1/audit-events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in ["user.created", "auth.login", "team.created"] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let users: Value = app
        .client
        .get(app.url("/api/v1/audit-events?action=user."))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        users["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("user."))
    );
    let alice: Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/audit-events?action=user.created&target_id={alice_id}"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = alice["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"], "admin@example.com");
    assert_eq!(events[0]["ip"], "127.0.0.1");
    assert_eq!(events[0]["details"]["email"], "alice@example.com");
    // Keyset pagination walks everything exactly once.
    let mut seen = Vec::new();
    let mut url = app.url("/api/v1/audit-events?limit=2");
    loop {
        let page: Value = app
            .client
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next_before"].as_i64() {
            Some(before) => url = app.url(&format!("/api/v1/audit-events?limit=2&before={before}")),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(seen, unique);
    assert!(seen.len() >= 4);
    let csv = app
        .client
        .get(app.url("/api/v1/audit-events?format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("id,at,actor_user_id,actor,action"));
    assert_eq!(text.lines().count(), seen.len() + 1);
    app.stop().await;
}

async fn admin_manages_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.setup_admin().await;
    let admin_id = admin["user"]["id"].as_i64().unwrap();
    let (alice_id, alice) = app.member("alice@example.com").await;
    // The last admin cannot demote or disable themselves.
    let demote = app
        .client
        .patch(app.url(&format!("/api/v1/users/{admin_id}")))
        .json(&json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), 409);
    // Disabling a user ends their sessions.
    let disable = app
        .client
        .patch(app.url(&format!("/api/v1/users/{alice_id}")))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disable.status(), 200);
    assert_eq!(
        alice
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let login = app
        .new_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "alice@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401);
    let enable = app
        .client
        .patch(app.url(&format!("/api/v1/users/{alice_id}")))
        .json(&json!({"disabled": false, "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(enable.json::<Value>().await.unwrap()["role"], "admin");
    assert_eq!(
        app.client
            .patch(app.url("/api/v1/users/999999"))
            .json(&json!({"name": "X"}))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}

async fn pages_render_for_signed_in_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let team = app.create_team("Ops").await;
    for path in [
        "/",
        "/account",
        "/admin/users",
        "/admin/teams",
        "/admin/audit",
        "/admin/jobs",
        &format!("/teams/{team}"),
        "/openalert",
        "/crm",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("<main"), "{path}");
        assert!(!html.contains("<script>"), "{path}: no inline script");
    }
    // Members are picked from a searchable list of everyone not yet in the team.
    let (carol, _) = app.member("carol@example.com").await;
    app.member("dave@example.com").await;
    app.add_member(team, carol, "member").await;
    let page = app.page_text(&app.client, &format!("/teams/{team}")).await;
    assert!(page.contains(r#"list="member-candidates""#));
    assert!(
        page.contains(r#"<option value="dave@example.com">dave</option>"#),
        "{page}"
    );
    assert!(
        !page.contains(r#"<option value="carol@example.com">"#),
        "already a member"
    );
    // Forms say what the server requires before a round trip.
    let login = app.page_text(&app.new_client(), "/login").await;
    assert!(
        login.contains(r#"autocomplete="username" required maxlength="254""#),
        "{login}"
    );
    let anonymous = app
        .new_client()
        .get(app.url("/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/login?next=%2Faccount");
    let missing = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("Page not found"));
    // Disabling the only admin is refused as an error, and the button asks first.
    let me = app
        .login(&app.client, "admin@example.com", common::PASSWORD)
        .await["user"]["id"]
        .as_i64()
        .unwrap();
    let users = app.page_text(&app.client, "/admin/users").await;
    assert!(users.contains("data-confirm=\"Disable Ada Admin?"));
    let refused = app
        .client
        .post(app.url(&format!("/admin/users/{me}/disable")))
        .form(&[("role", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains(r#"<p class="error" role="alert">Not changed:"#),
        "{page}"
    );
    assert!(!page.contains(r#"class="notice""#), "not a success notice");
    // A form's address opened as a link says so on a page, not as JSON.
    let opened = app
        .client
        .get(app.url("/account/password"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 405);
    assert!(
        opened.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(opened.text().await.unwrap().contains("receives a form"));
    // A form with errors is shown again with the message next to the field.
    let form = app
        .client
        .post(app.url("/admin/teams"))
        .form(&[("name", ""), ("description", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 422);
    assert!(form.text().await.unwrap().contains("is required"));
    app.stop().await;
}

async fn teams_in_use_are_kept_and_unknown_teams_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let team = app.create_team("Ops").await;
    let service = app
        .client
        .post(app.url("/api/v1/services"))
        .json(&json!({"team_id": team, "name": "api"}))
        .send()
        .await
        .unwrap();
    assert_eq!(service.status(), 201);
    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/teams/{team}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 409, "a team that owns a service stays");
    let (user, _) = app.member("ann@example.com").await;
    let added = app
        .client
        .post(app.url("/api/v1/teams/987654/members"))
        .json(&json!({"user_id": user}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 404);
    // A team that is gone has no members to list, even for an admin.
    let gone = app
        .client
        .get(app.url("/api/v1/teams/987654/members"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    // Nothing new is filed under a team that does not exist, by an admin either.
    for (path, body) in [
        (
            "/api/v1/services",
            json!({"team_id": 987654, "name": "orphan"}),
        ),
        (
            "/api/v1/status-pages",
            json!({"team_id": 987654, "name": "Orphan", "slug": "orphan"}),
        ),
    ] {
        let refused = app
            .client
            .post(app.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(refused.status().as_u16(), 404 | 422),
            "{path}: {}",
            refused.status()
        );
    }
    app.stop().await;
}
