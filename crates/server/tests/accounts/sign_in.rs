//! Setting up, signing in and out, sessions, API tokens, passwords and lockout.

use super::*;

crate::on_both_backends!(
    first_run_setup_creates_one_admin,
    login_logout_and_me,
    wrong_password_and_unknown_user_are_refused_alike,
    revoked_and_expired_sessions_are_refused_at_once,
    api_tokens_work_until_revoked,
    password_change_ends_other_sessions,
    login_lockout_answers_429_with_retry_after,
    sign_in_pages_show_mistakes_on_the_page,
);

async fn first_run_setup_creates_one_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let api = app.admin_api();
    let status = api.get("/api/v1/setup").await.body;
    assert_eq!(status["needs_setup"], true);
    assert_eq!(api.get("/").await.header("location"), "/setup");

    let wrong = api
        .post(
            "/api/v1/setup",
            json!({"setup_token": "nope", "email": "a@example.com", "name": "A", "password": PASSWORD}),
        )
        .await
        .expect(422);
    assert_eq!(wrong.body["errors"][0]["field"], "setup_token");

    let admin = app.setup_admin().await;
    assert_eq!(admin["user"]["role"], "admin");

    api.post(
        "/api/v1/setup",
        json!({"setup_token": app.platform.setup_token(), "email": "b@example.com", "name": "B", "password": PASSWORD}),
    )
    .await
    .expect(409);
    let anonymous = app.visitor().get("/").await;
    assert_eq!(anonymous.header("location"), "/login");
    let setup_page = app.visitor().get("/setup").await;
    assert_eq!(setup_page.header("location"), "/login");
    app.stop().await;
}

async fn login_logout_and_me(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let api = app.admin_api();
    let signed_in = app.setup_admin().await;
    assert!(signed_in["session_id"].as_i64().unwrap() > 0);
    let me = api.get("/api/v1/me").await.body;
    assert_eq!(me["user"]["email"], "admin@example.com");
    assert_eq!(me["session_id"], signed_in["session_id"]);

    api.post("/api/v1/auth/logout", None).await.expect(204);
    let after = api.get("/api/v1/me").await.expect(401);
    assert_eq!(after.header("content-type"), "application/problem+json");
    app.stop().await;
}

async fn wrong_password_and_unknown_user_are_refused_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    for (email, password) in [
        ("admin@example.com", "wrong password!"),
        ("nobody@example.com", PASSWORD),
    ] {
        let refused = app.try_login(email, password).await.expect(401);
        assert_eq!(refused.body["detail"], "wrong e-mail or password");
    }
    app.stop().await;
}

async fn revoked_and_expired_sessions_are_refused_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let (laptop_client, phone_client) = (app.new_client(), app.new_client());
    app.login(&laptop_client, "admin@example.com", PASSWORD)
        .await;
    let phone_session = app
        .login(&phone_client, "admin@example.com", PASSWORD)
        .await["session_id"]
        .as_i64()
        .unwrap();
    let (laptop, phone) = (app.api(&laptop_client), app.api(&phone_client));

    assert_eq!(laptop.list("/api/v1/me/sessions").await.len(), 3);
    laptop
        .delete(&format!("/api/v1/me/sessions/{phone_session}"))
        .await
        .expect(204);
    phone.get("/api/v1/me").await.expect(401);
    laptop.get("/api/v1/me").await.expect(200);

    // Sign out everywhere ends this session too.
    laptop
        .post("/api/v1/me/sessions/revoke-all", None)
        .await
        .expect(204);
    laptop.get("/api/v1/me").await.expect(401);
    app.admin_api().get("/api/v1/me").await.expect(401);

    // Idle expiry: a session unused for longer than the idle limit is refused.
    let idle = app.new_client();
    app.login(&idle, "admin@example.com", PASSWORD).await;
    app.clock
        .advance(app.platform.config.session_idle + Duration::from_secs(1));
    app.api(&idle).get("/api/v1/me").await.expect(401);
    app.stop().await;
}

async fn api_tokens_work_until_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let api = app.admin_api();
    let created = api
        .post("/api/v1/tokens", json!({"name": "ci"}))
        .await
        .created();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("keel_"));

    let bare = app.new_client();
    let with_token = app.api(&bare).bearer(&secret);
    with_token.get("/api/v1/me").await.expect(200);
    let listed = api.list("/api/v1/tokens").await;
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].get("secret").is_none(),
        "secrets are shown once only"
    );
    assert!(listed[0]["last_used_at"].is_string());

    let id = created["id"].as_i64().unwrap();
    api.delete(&format!("/api/v1/tokens/{id}"))
        .await
        .expect(204);
    with_token.get("/api/v1/me").await.expect(401);
    api.delete(&format!("/api/v1/tokens/{id}"))
        .await
        .expect(404);
    app.api(&bare)
        .bearer("keel_forged")
        .get("/api/v1/me")
        .await
        .expect(401);
    app.stop().await;
}

async fn password_change_ends_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let api = app.admin_api();
    let other = app.new_client();
    app.login(&other, "admin@example.com", PASSWORD).await;
    api.post(
        "/api/v1/me/password",
        json!({"current_password": "not it at all", "new_password": "a brand new secret"}),
    )
    .await
    .expect(422);
    api.post(
        "/api/v1/me/password",
        json!({"current_password": PASSWORD, "new_password": "a brand new secret"}),
    )
    .await
    .expect(204);
    api.get("/api/v1/me").await.expect(200);
    app.api(&other).get("/api/v1/me").await.expect(401);
    app.login(&app.new_client(), "admin@example.com", "a brand new secret")
        .await;
    app.stop().await;
}

async fn login_lockout_answers_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.login_attempts_per_15_minutes = 3).await;
    app.setup_admin().await;
    let attacker_client = app.new_client();
    let attacker = app.api(&attacker_client);
    let guess = json!({"email": "admin@example.com", "password": "guess guess guess"});
    let mut last = None;
    for _ in 0..4 {
        last = Some(attacker.post("/api/v1/auth/login", guess.clone()).await);
    }
    let last = last.unwrap().expect(429);
    let retry: u64 = last.header("retry-after").parse().unwrap();
    assert!((1..=900).contains(&retry));
    // The right password is refused too while locked out…
    attacker
        .post(
            "/api/v1/auth/login",
            json!({"email": "admin@example.com", "password": PASSWORD}),
        )
        .await
        .expect(429);
    // …and accepted once the window has passed.
    app.clock.advance(Duration::from_secs(retry + 1));
    app.login(&attacker_client, "admin@example.com", PASSWORD)
        .await;

    // The general API budget per token answers 429 too.
    let app2 = TestApp::spawn_with(backend, |s| s.rate_limit_per_minute = 5).await;
    app2.setup_admin().await;
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(app2.admin_api().get("/api/v1/me").await);
    }
    let limited = answers
        .into_iter()
        .find(|r| r.status == 429)
        .expect("rate limited");
    assert!(limited.headers.contains_key("retry-after"));
    app.stop().await;
    app2.stop().await;
}

/// The setup, sign-in, forgotten-password and reset pages answer a mistake with the page
/// again (422), the message beside the field and what was typed kept, never with a session.
async fn sign_in_pages_show_mistakes_on_the_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.new_client();
    let visitor = app.api(&client);
    let setup = visitor
        .form(
            "/setup",
            &[
                ("setup_token", "nope"),
                ("name", "Ada"),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await
        .expect(422);
    assert!(setup.text.contains("ada@example.com"), "{}", setup.text);
    assert!(setup.text.contains(r#"class="error""#), "{}", setup.text);
    app.setup_admin().await;

    let wrong = visitor
        .form(
            "/login",
            &[
                ("email", "admin@example.com"),
                ("password", "wrong password!"),
                ("next", "/crm"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.text);
    assert!(wrong.text.contains(r#"class="error""#), "{}", wrong.text);
    assert!(
        wrong.text.contains("admin@example.com"),
        "the address is kept"
    );
    assert!(
        wrong.text.contains(r#"value="/crm""#),
        "so is where to go next"
    );
    visitor.get("/account").await.expect(303);

    let forgot = visitor
        .form("/forgot-password", &[("email", "not an address")])
        .await
        .expect(422);
    assert!(forgot.text.contains("not an address"), "{}", forgot.text);
    let reset = visitor
        .form(
            "/reset-password",
            &[("token", "made-up"), ("password", PASSWORD)],
        )
        .await
        .expect(422);
    assert!(reset.text.contains("ask for a new one"), "{}", reset.text);
    let short = visitor
        .form(
            "/reset-password",
            &[("token", "made-up"), ("password", "short")],
        )
        .await
        .expect(422);
    assert!(short.text.contains(r#"class="error""#), "{}", short.text);

    // Signing in through the page, then out: the session ends and the page says so.
    let signed_in = visitor
        .form(
            "/login",
            &[
                ("email", "admin@example.com"),
                ("password", PASSWORD),
                ("next", ""),
            ],
        )
        .await
        .expect(303);
    assert_eq!(signed_in.header("location"), "/");
    visitor.get("/account").await.expect(200);
    let out = visitor.form("/logout", &[]).await.expect(303);
    assert_eq!(out.header("location"), "/login?done=signed-out");
    visitor.get("/account").await.expect(303);
    // Signing out without a session is harmless.
    app.visitor().form("/logout", &[]).await.expect(303);
    app.stop().await;
}
