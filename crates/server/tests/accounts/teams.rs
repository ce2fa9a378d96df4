//! Teams and users: membership is private, teams in use are kept, admins manage users.

use super::*;

crate::on_both_backends!(
    teams_are_private_to_their_members,
    teams_in_use_are_kept_and_unknown_teams_are_not_found,
    admin_manages_users,
    roles_decide_who_manages_a_team,
);

/// Teams Red and Blue, and two members: Alice in Red, Bob where `bob` says.
struct Cast {
    red: i64,
    blue: i64,
    alice_id: i64,
    alice: reqwest::Client,
    bob_id: i64,
    bob: reqwest::Client,
}

/// Where Bob starts.
enum Bob {
    ManagesBlue,
    MemberOfRed,
}

async fn cast(app: &TestApp, place: Bob) -> Cast {
    app.setup_admin().await;
    let red = app.create_team("Red").await;
    let blue = app.create_team("Blue").await;
    let (alice_id, alice) = app.member("alice@example.com").await;
    let (bob_id, bob) = app.member("bob@example.com").await;
    app.add_member(red, alice_id, "member").await;
    match place {
        Bob::ManagesBlue => app.add_member(blue, bob_id, "manager").await,
        Bob::MemberOfRed => app.add_member(red, bob_id, "member").await,
    }
    Cast {
        red,
        blue,
        alice_id,
        alice,
        bob_id,
        bob,
    }
}

async fn teams_are_private_to_their_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Cast {
        red,
        blue,
        alice,
        bob_id,
        bob,
        ..
    } = cast(&app, Bob::ManagesBlue).await;
    let (alice, bob) = (app.api(&alice), app.api(&bob));

    let alice_teams = alice.list("/api/v1/teams").await;
    assert_eq!(alice_teams.len(), 1);
    assert_eq!(alice_teams[0]["name"], "Red");
    for path in [
        format!("/api/v1/teams/{blue}"),
        format!("/api/v1/teams/{blue}/members"),
        format!("/teams/{blue}"),
    ] {
        alice.get(&path).await.expect(404);
    }
    alice
        .patch(&format!("/api/v1/teams/{blue}"), json!({"name": "Mine"}))
        .await
        .expect(404);
    // A plain member sees their team but cannot change it; a manager can.
    alice
        .patch(&format!("/api/v1/teams/{red}"), json!({"name": "Renamed"}))
        .await
        .expect(403);
    bob.patch(
        &format!("/api/v1/teams/{blue}"),
        json!({"description": "on call"}),
    )
    .await
    .expect(200);
    // Members are not admins.
    for path in ["/api/v1/users", "/api/v1/audit-events", "/admin/users"] {
        alice.get(path).await.expect(403);
    }
    // Admins see every team.
    assert_eq!(app.admin_api().list("/api/v1/teams").await.len(), 2);
    // Removed members lose access at once.
    bob.delete(&format!("/api/v1/teams/{blue}/members/{bob_id}"))
        .await
        .expect(204);
    bob.get(&format!("/api/v1/teams/{blue}")).await.expect(404);
    app.stop().await;
}

async fn admin_manages_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.setup_admin().await;
    let admin_id = admin["user"]["id"].as_i64().unwrap();
    let (alice_id, alice) = app.member("alice@example.com").await;
    let api = app.admin_api();
    // The last admin cannot demote or disable themselves.
    api.patch(
        &format!("/api/v1/users/{admin_id}"),
        json!({"role": "member"}),
    )
    .await
    .expect(409);
    // Disabling a user ends their sessions.
    api.patch(
        &format!("/api/v1/users/{alice_id}"),
        json!({"disabled": true}),
    )
    .await
    .expect(200);
    app.api(&alice).get("/api/v1/me").await.expect(401);
    app.try_login("alice@example.com", PASSWORD)
        .await
        .expect(401);
    let enabled = api
        .patch(
            &format!("/api/v1/users/{alice_id}"),
            json!({"disabled": false, "role": "admin"}),
        )
        .await;
    assert_eq!(enabled.body["role"], "admin");
    api.patch("/api/v1/users/999999", json!({"name": "X"}))
        .await
        .expect(404);
    app.stop().await;
}

async fn teams_in_use_are_kept_and_unknown_teams_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let api = app.admin_api();
    let team = app.create_team("Ops").await;
    app.create_service(team, "api").await;
    let deleted = api.delete(&format!("/api/v1/teams/{team}")).await;
    assert_eq!(deleted.status, 409, "a team that owns a service stays");
    let (user, _) = app.member("ann@example.com").await;
    api.post("/api/v1/teams/987654/members", json!({"user_id": user}))
        .await
        .expect(404);
    // A team that is gone has no members to list, even for an admin.
    api.get("/api/v1/teams/987654/members").await.expect(404);
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
        let refused = api.post(path, body).await;
        assert!(
            matches!(refused.status, 404 | 422),
            "{path}: {}",
            refused.status
        );
    }
    app.stop().await;
}

async fn roles_decide_who_manages_a_team(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Cast {
        red,
        blue,
        alice_id,
        alice,
        bob_id,
        bob,
    } = cast(&app, Bob::MemberOfRed).await;
    let (alice, bob) = (app.api(&alice), app.api(&bob));
    let role = |team: i64, user: i64| format!("/api/v1/teams/{team}/members/{user}");

    // A member cannot promote anyone, themselves included.
    bob.put(&role(red, bob_id), json!({"role": "manager"}))
        .await
        .expect(403);
    // The admin promotes Bob; now he manages Red, and only Red.
    let promoted = app
        .admin_api()
        .put(&role(red, bob_id), json!({"role": "manager"}))
        .await
        .ok();
    assert_eq!(promoted["role"], "manager");
    bob.patch(
        &format!("/api/v1/teams/{red}"),
        json!({"description": "databases"}),
    )
    .await
    .expect(200);
    bob.put(&role(red, alice_id), json!({"role": "manager"}))
        .await
        .expect(200);
    bob.put(&role(blue, alice_id), json!({"role": "member"}))
        .await
        .expect(404);
    // Bad requests name the field.
    let unknown = bob
        .put(&role(red, alice_id), json!({"role": "owner"}))
        .await
        .expect(422);
    assert_eq!(unknown.body["errors"][0]["field"], "role");
    let both = bob
        .post(
            &format!("/api/v1/teams/{red}/members"),
            json!({"user_id": alice_id, "email": "alice@example.com", "role": "member"}),
        )
        .await
        .expect(422);
    assert_eq!(both.body["errors"][0]["field"], "user_id");
    // Alice, now a manager, may demote Bob.
    alice
        .put(&role(red, bob_id), json!({"role": "member"}))
        .await
        .expect(200);
    bob.patch(
        &format!("/api/v1/teams/{red}"),
        json!({"description": "mine"}),
    )
    .await
    .expect(403);
    app.stop().await;
}
