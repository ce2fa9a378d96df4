//! The audit log and the signed-in pages.

use super::*;

crate::on_both_backends!(
    audit_log_records_and_filters,
    pages_render_for_signed_in_users,
);

async fn audit_log_records_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let api = app.admin_api();
    app.create_team("Ops").await;
    let (alice_id, _) = app.member("alice@example.com").await;
    let events = |page: &Value| page["events"].as_array().unwrap().clone();
    let page = api.get("/api/v1/audit-events").await.body;
    let actions: Vec<String> = events(&page)
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for expected in ["user.created", "auth.login", "team.created"] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
    let users = api.get("/api/v1/audit-events?action=user.").await.body;
    assert!(
        events(&users)
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("user."))
    );
    let alice = api
        .get(&format!(
            "/api/v1/audit-events?action=user.created&target_id={alice_id}"
        ))
        .await
        .body;
    let events_of_alice = events(&alice);
    assert_eq!(events_of_alice.len(), 1);
    assert_eq!(events_of_alice[0]["actor"], "admin@example.com");
    assert_eq!(events_of_alice[0]["ip"], "127.0.0.1");
    assert_eq!(events_of_alice[0]["details"]["email"], "alice@example.com");
    // Keyset pagination walks everything exactly once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/audit-events?limit=2".to_string();
    loop {
        let page = api.get(&path).await.body;
        seen.extend(events(&page).iter().map(|e| e["id"].as_i64().unwrap()));
        match page["next_before"].as_i64() {
            Some(before) => path = format!("/api/v1/audit-events?limit=2&before={before}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(seen, unique);
    assert!(seen.len() >= 4);
    let csv = api.get("/api/v1/audit-events?format=csv").await;
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    assert!(csv.text.starts_with("id,at,actor_user_id,actor,action"));
    assert_eq!(csv.text.lines().count(), seen.len() + 1);
    app.stop().await;
}

async fn pages_render_for_signed_in_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let api = app.admin_api();
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
        let html = api.page(path).await;
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
    let anonymous = app.visitor().get("/account").await.expect(303);
    assert_eq!(anonymous.header("location"), "/login?next=%2Faccount");
    let missing = api.get("/no/such/page").await.expect(404);
    assert!(missing.text.contains("Page not found"));
    // Disabling the only admin is refused as an error, and the button asks first.
    let me = app
        .login(&app.client, "admin@example.com", common::PASSWORD)
        .await["user"]["id"]
        .as_i64()
        .unwrap();
    let users = app.page_text(&app.client, "/admin/users").await;
    assert!(users.contains("data-confirm=\"Disable Ada Admin?"));
    let refused = api
        .form(&format!("/admin/users/{me}/disable"), &[("role", "")])
        .await
        .expect(422);
    assert!(
        refused
            .text
            .contains(r#"<p class="error" role="alert">Not changed:"#),
        "{}",
        refused.text
    );
    assert!(
        !refused.text.contains(r#"class="notice""#),
        "not a success notice"
    );
    // A form's address opened as a link says so on a page, not as JSON.
    let opened = api.get("/account/password").await.expect(405);
    assert!(opened.header("content-type").starts_with("text/html"));
    assert!(opened.text.contains("receives a form"));
    // A form with errors is shown again with the message next to the field.
    let form = api
        .form("/admin/teams", &[("name", ""), ("description", "")])
        .await
        .expect(422);
    assert!(form.text.contains("is required"));
    app.stop().await;
}
