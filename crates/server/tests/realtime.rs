//! The realtime stream: authorization per event, and fan-out across nodes through Redis.

mod common;

use std::time::Duration;

use common::{Backend, TestApp};
use futures_util::StreamExt;
use keel_platform::realtime::{Audience, Event};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

on_both_backends!(
    stream_delivers_only_what_the_user_may_see,
    an_event_published_on_one_node_reaches_a_client_on_another
);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn token_for(app: &TestApp) -> String {
    let created: Value = app
        .client
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": "stream"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["secret"].as_str().unwrap().to_string()
}

async fn connect(app: &TestApp, token: &str) -> Socket {
    let mut request = format!("ws://{}/api/v1/stream", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects")
        .0
}

/// Publishes `noise` then `wanted` every 200 ms until the socket yields a text message.
async fn first_message(
    socket: &mut Socket,
    publisher: &TestApp,
    noise: Event,
    wanted: Event,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        publisher.platform.bus.publish(noise.clone()).await;
        publisher.platform.bus.publish(wanted.clone()).await;
        match tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
            Ok(Some(Ok(message))) if message.is_text() => {
                return serde_json::from_str(message.to_text().unwrap()).unwrap();
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(other) => panic!("stream ended: {other:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "no event arrived");
    }
}

async fn stream_delivers_only_what_the_user_may_see(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.setup_admin().await;
    let admin_id = admin["user"]["id"].as_i64().unwrap();
    let team = app.create_team("Ops").await;
    let (alice_id, alice) = app.member("alice@example.com").await;
    let created: Value = alice
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": "s"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice_token = created["secret"].as_str().unwrap().to_string();

    let anonymous = reqwest::get(app.url("/api/v1/stream")).await.unwrap();
    assert_eq!(anonymous.status(), 401);

    let mut socket = connect(&app, &alice_token).await;
    let now = app.platform.now();
    let private_to_admin = Event::new(
        "secret.thing",
        Audience::Users(vec![admin_id]),
        now,
        json!({"n": 1}),
    );
    let other_team = Event::new(
        "team.thing",
        Audience::Teams(vec![team + 1000]),
        now,
        json!({"n": 2}),
    );
    let for_alice = Event::new(
        "alice.thing",
        Audience::Users(vec![alice_id]),
        now,
        json!({"n": 3}),
    );
    app.platform.bus.publish(other_team).await;
    let message = first_message(&mut socket, &app, private_to_admin, for_alice).await;
    assert_eq!(message["topic"], "alice.thing");
    assert_eq!(message["data"]["n"], 3);
    assert!(
        message.get("audience").is_none(),
        "audience is not sent to clients"
    );

    // Team events reach members of that team.
    app.add_member(team, alice_id, "member").await;
    drop(socket);
    let mut socket = connect(&app, &alice_token).await;
    let team_event = Event::new("team.update", Audience::Teams(vec![team]), now, json!({}));
    let admins_only = Event::new("admin.only", Audience::Admins, now, json!({}));
    let message = first_message(&mut socket, &app, admins_only, team_event).await;
    assert_eq!(message["topic"], "team.update");
    app.stop().await;
}

async fn an_event_published_on_one_node_reaches_a_client_on_another(backend: Backend) {
    let Some(redis_url) = common::redis_url() else {
        return;
    };
    let prefix = format!("keel-test-{}", keel_platform::crypto::random_token(8));
    let node_a = TestApp::spawn_with(backend, |s| {
        s.redis_url = Some(redis_url.clone());
        s.redis_prefix = prefix.clone();
    })
    .await;
    let mut settings = common::settings_for(&node_a.db);
    settings.redis_url = Some(redis_url.clone());
    settings.redis_prefix = prefix.clone();
    let node_b = TestApp::spawn_on(node_a.db.clone(), settings).await;

    let admin = node_a.setup_admin().await;
    let admin_id = admin["user"]["id"].as_i64().unwrap();
    let token = token_for(&node_a).await;
    let mut socket = connect(&node_b, &token).await;
    let now = node_a.platform.now();
    let noise = Event::new(
        "someone.else",
        Audience::Users(vec![admin_id + 1]),
        now,
        json!({}),
    );
    let wanted = Event::new(
        "incident.triggered",
        Audience::Users(vec![admin_id]),
        now,
        json!({"from": "node a"}),
    );
    let message = first_message(&mut socket, &node_a, noise, wanted).await;
    assert_eq!(message["topic"], "incident.triggered");
    assert_eq!(message["data"]["from"], "node a");

    let ready: Value = node_b
        .client
        .get(node_b.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ready["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "redis" && c["ok"] == true)
    );
    node_b.stop().await;
    node_a.stop().await;
}
