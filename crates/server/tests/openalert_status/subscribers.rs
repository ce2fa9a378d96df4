//! Subscribers by e-mail (through real SMTP) and by signed webhook.

use super::*;

crate::on_both_backends!(
    subscribers_confirm_hear_and_unsubscribe,
    webhook_subscribers_get_signed_notices,
);

/// The text of a mail with quoted-printable soft breaks undone.
fn unfolded(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The subscription token in a mail's link.
fn token_in(mail: &str) -> String {
    unfolded(mail)
        .split("/status/acme/subscription/")
        .nth(1)
        .expect("a subscription link")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect::<String>()
        .trim_end_matches('.')
        .to_string()
}

async fn subscribers_confirm_hear_and_unsubscribe(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    smtp.wait_ready().await;
    let app = TestApp::spawn_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
    })
    .await;
    let s = StatusFixture::new(&app, "acme", "UTC").await;
    let api = s.component("API", None).await;
    let web = s.component("Website", None).await;
    let visitor = common::client();
    let reader = app.api(&visitor);
    let subscribe = async |email: &str| {
        reader
            .form("/status/acme/subscribe", &[("email", email)])
            .await
    };
    let answer = subscribe("reader@example.com").await.expect(200);
    assert!(answer.text.contains("Check your inbox"));
    subscribe("not an address").await.expect(422);
    let confirmation = eventually(Duration::from_secs(15), || async {
        smtp.messages().into_iter().next()
    })
    .await
    .expect("a confirmation mail");
    assert!(confirmation.contains("Subject: Confirm your subscription to Acme status"));
    let token = token_in(&confirmation);
    // Asking again within the hour mails nobody (no mail bombing through the form).
    subscribe("reader@example.com").await;
    // An incident before confirming reaches nobody.
    s.incident(json!({"name": "Early", "body": "Before confirming.", "notify": true}))
        .await;
    app.clock.advance(Duration::from_secs(60));

    let manage = format!("/status/acme/subscription/{token}");
    let page = app.page_text(&visitor, &manage).await;
    assert!(
        page.contains("Confirm my subscription"),
        "opening the link confirms nothing"
    );
    reader
        .post(&format!("{manage}/confirm"), None)
        .await
        .expect(303);
    let listed = app.admin_api().get(&s.path("/subscribers")).await.body;
    assert!(listed[0]["confirmed_at"].is_string(), "{listed}");
    // Only the API, from now on.
    reader
        .form(
            &format!("{manage}/components"),
            &[("component", &api.to_string())],
        )
        .await
        .expect(303);

    s.incident(
        json!({"name": "Website slow", "body": "Only the website.", "notify": true,
        "components": [{"id": web, "status": "degraded_performance"}]}),
    )
    .await;
    let event = s
        .incident(
            json!({"name": "API errors <b>", "body": "Errors on writes.", "notify": true,
            "components": [{"id": api, "status": "partial_outage"}]}),
        )
        .await;
    let notice = eventually(Duration::from_secs(20), || async {
        smtp.messages()
            .into_iter()
            .find(|m| m.contains("API errors"))
    })
    .await
    .expect("the update reached the subscriber");
    assert!(notice.contains("Subject: [Acme] API errors <b>: Investigating"));
    assert!(notice.contains("List-Unsubscribe: <http"));
    assert!(notice.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(unfolded(&notice).contains("Errors on writes."));
    // An update not marked "notify" stays quiet; one that is reaches the subscriber.
    s.update(
        event["id"].as_i64().unwrap(),
        json!({"status": "identified", "body": "Quiet."}),
    )
    .await;
    s.update(
        event["id"].as_i64().unwrap(),
        json!({"status": "resolved", "body": "Fixed now.", "notify": true}),
    )
    .await;
    eventually(Duration::from_secs(20), || async {
        smtp.messages()
            .into_iter()
            .find(|m| m.contains("Fixed now."))
            .map(drop)
    })
    .await
    .expect("the resolution reached the subscriber");
    let all = smtp.messages();
    assert!(
        !all.iter().any(|m| m.contains("Website slow")),
        "not interested in the website"
    );
    let early: Vec<&String> = all.iter().filter(|m| m.contains("Early")).collect();
    assert!(early.is_empty(), "nothing before confirming: {early:?}");
    assert!(
        !all.iter().any(|m| m.contains("Quiet.")),
        "silent updates stay silent"
    );
    assert_eq!(
        all.iter()
            .filter(|m| m.contains("Confirm your subscription"))
            .count(),
        1
    );

    // One-click unsubscribe as a mail provider sends it: a bare POST, no cookie, no origin.
    let unsubscribe = unfolded(&notice)
        .split("List-Unsubscribe: <")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap()
        .to_string();
    let path = unsubscribe
        .split_once("/status/")
        .map(|(_, p)| format!("/status/{p}"))
        .unwrap();
    app.sender()
        .header("content-type", "application/x-www-form-urlencoded")
        .post_body(&path, "List-Unsubscribe=One-Click")
        .await
        .expect(200);
    let listed = app.admin_api().get(&s.path("/subscribers")).await.body;
    assert_eq!(listed, json!([]));
    // The old link is dead, and a forged one never worked.
    let (status, _) = s.public_text(&format!("/subscription/{token}")).await;
    assert_eq!(status, 404);
    let (status, _) = s
        .public_text("/subscription/1.00000000000000000000000000000000")
        .await;
    assert_eq!(status, 404);
}

async fn webhook_subscribers_get_signed_notices(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = StatusFixture::new(&app, "acme", "UTC").await;
    let api = s.component("API", None).await;
    let receiver = Receiver::start().await;
    let added = common::post(
        &app,
        &app.client,
        &s.path("/subscribers"),
        json!({"kind": "webhook", "address": format!("{}/hook", receiver.url)}),
    )
    .await;
    let secret = added["secret"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    // Members cannot add subscribers; addresses outside the outbound policy are refused.
    let (status, _) = send(
        &s.member,
        &app,
        reqwest::Method::POST,
        &s.path("/subscribers"),
        Some(json!({"kind": "webhook", "address": "http://example.invalid/x"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, problem) = send(
        &app.client,
        &app,
        reqwest::Method::POST,
        &s.path("/subscribers"),
        Some(json!({"kind": "webhook", "address": "http://10.0.0.1/x"})),
    )
    .await;
    assert_eq!(
        (status, common::field_names(&problem)),
        (422, vec!["address".to_string()])
    );

    s.incident(json!({"name": "API down", "body": "Down.", "notify": true,
        "components": [{"id": api, "status": "major_outage"}]}))
        .await;
    let got = receiver.wait_for("/hook", 1).await;
    let request = &got[0];
    let timestamp = request.headers["x-keel-timestamp"].to_str().unwrap();
    let signature = request.headers["x-keel-signature"].to_str().unwrap();
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", request.body).as_bytes());
    assert_eq!(
        signature,
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    );
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["incident"]["name"], "API down");
    assert_eq!(
        body["incident"]["update"]["affected_components"][0]["new_status"],
        "major_outage"
    );
    assert!(
        body["meta"]["unsubscribe"]
            .as_str()
            .unwrap()
            .contains("/subscription/")
    );

    // Status changes without an incident are told when the page says so.
    common::send(
        &app.client,
        &app,
        reqwest::Method::PATCH,
        &s.path(""),
        Some(json!({"notify_component_changes": true})),
    )
    .await;
    common::send(
        &s.member,
        &app,
        reqwest::Method::PATCH,
        &s.path(&format!("/components/{api}")),
        Some(json!({"status": "operational"})),
    )
    .await;
    let got = receiver.wait_for("/hook", 2).await;
    let body: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(body["component_update"]["new_status"], "operational");
    assert_eq!(body["component_update"]["old_status"], "major_outage");

    // Addresses are for the team's managers only.
    let (status, _) = send(
        &s.member,
        &app,
        reqwest::Method::GET,
        &s.path("/subscribers"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    // CSV export, and removal.
    let csv = app.admin_api().get(&s.path("/subscribers.csv")).await.text;
    assert!(csv.starts_with("kind,address,components,confirmed_at,created_at"));
    assert!(csv.contains(&format!("{}/hook", receiver.url)));
    let id = added["id"].as_i64().unwrap();
    let (status, _) = send(
        &app.client,
        &app,
        reqwest::Method::DELETE,
        &s.path(&format!("/subscribers/{id}")),
        None,
    )
    .await;
    assert_eq!(status, 204);
}
