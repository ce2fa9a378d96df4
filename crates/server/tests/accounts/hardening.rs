//! What every request meets: cross-origin writes refused, errors that name the field,
//! security headers.

use super::*;

crate::on_both_backends!(
    cross_origin_unsafe_requests_are_refused,
    validation_errors_name_the_field,
    security_headers_on_every_response,
);

async fn cross_origin_unsafe_requests_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let attempts = [
        ("sec-fetch-site", "cross-site".to_string()),
        ("sec-fetch-site", "same-site".to_string()),
        ("origin", "http://evil.example".to_string()),
    ];
    for (header, value) in attempts {
        let forged = app
            .admin_api()
            .header(header, &value)
            .post("/api/v1/teams", json!({"name": "Forged"}))
            .await;
        assert_eq!(forged.status, 403, "{header}: {value}");
    }
    let teams = app.admin_api().list("/api/v1/teams").await;
    assert!(teams.is_empty(), "nothing was created by forged requests");
    // The web form path is guarded the same way.
    app.admin_api()
        .header("origin", "http://evil.example")
        .post("/logout", None)
        .await
        .expect(403);
    // Same-origin browsers pass.
    app.admin_api()
        .header("sec-fetch-site", "same-origin")
        .header("origin", &app.base)
        .post("/api/v1/teams", json!({"name": "Real"}))
        .await
        .expect(201);
    app.stop().await;
}

async fn validation_errors_name_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let api = app.admin_api();
    let invalid = api
        .post(
            "/api/v1/users",
            json!({"email": "not-an-email", "name": "", "password": "short", "role": "king"}),
        )
        .await
        .expect(422);
    assert_eq!(invalid.header("content-type"), "application/problem+json");
    let mut fields = invalid.fields();
    fields.sort();
    assert_eq!(fields, ["email", "name", "password", "role"]);

    let first_field = |answer: Answer| answer.expect(422).body["errors"][0]["field"].clone();
    let unknown = api
        .post("/api/v1/teams", json!({"name": "X", "colour": "red"}))
        .await;
    assert_eq!(first_field(unknown), "colour");
    let wrong_type = api.post("/api/v1/teams", json!({"name": 7})).await;
    assert_eq!(first_field(wrong_type), "name");
    app.admin_api()
        .header("content-type", "application/json")
        .post_body("/api/v1/teams", "{\"name\": ")
        .await
        .expect(400);
    // A struct's fields in an array are not a body (serde would read them in order).
    let array = api.patch("/api/v1/teams/1", json!([null, null])).await;
    assert_eq!(first_field(array), "body");
    api.get("/api/v1/teams/abc").await.expect(400);
    let duplicate = api
        .post(
            "/api/v1/users",
            json!({"email": "ADMIN@example.com", "name": "Again", "password": PASSWORD}),
        )
        .await;
    assert_eq!(first_field(duplicate), "email");
    let bad_query = api.get("/api/v1/audit-events?since=yesterday").await;
    assert_eq!(first_field(bad_query), "since");
    // Nothing half-written: still only the admin, no teams.
    assert_eq!(api.list("/api/v1/users").await.len(), 1);
    // Last: the server answers 413 without reading the body and closes the connection.
    app.admin_api()
        .header("content-type", "application/json")
        .post_body("/api/v1/teams", vec![b' '; 2 * 1024 * 1024])
        .await
        .expect(413);
    app.stop().await;
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
        let response = app.admin_api().get(path).await;
        let h = &response.headers;
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
    let response = https.admin_api().get("/login").await;
    assert!(
        response
            .header("strict-transport-security")
            .contains("max-age=")
    );
    https.setup_admin().await;
    app.stop().await;
    https.stop().await;
}
