//! MindfulCRM's photo finder over HTTP, on SQLite and PostgreSQL, against an avatar service
//! and a website served by the test: candidates by email hash and from the page, SVG,
//! oversize and non-images refused, the chosen one becomes the photo, other users and the
//! address guard kept out.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Backend, TestApp, get, post, send};
use serde_json::json;

on_both_backends!(pictures_are_found_checked_and_chosen);

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR avatar";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF og image";

/// An avatar service and a website on loopback; counts the requests it gets.
async fn pictures_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    let ada = keel_platform::crypto::sha256_hex("ada@example.com");
    let page = "<html><head><meta property=\"og:image\" content=\"/og.jpg\">\
                <link rel=\"icon\" href=\"/logo.svg\"><link rel=\"apple-touch-icon\" href=\"/huge.png\">\
                <link rel=\"icon\" href=\"/not-an-image.png\"></head></html>";
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let (count, ada) = (count.clone(), ada.clone());
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            let path = uri.path().to_string();
            let ok = |body: Vec<u8>| (axum::http::StatusCode::OK, body);
            match path.as_str() {
                p if p == format!("/avatar/{ada}") => ok(PNG.to_vec()),
                "/site" => ok(page.as_bytes().to_vec()),
                "/og.jpg" => ok(JPEG.to_vec()),
                "/huge.png" => ok([PNG, &vec![0u8; 600 * 1024]].concat()),
                "/not-an-image.png" => ok(b"<html>sign in</html>".to_vec()),
                "/logo.svg" => ok(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec()),
                _ => (axum::http::StatusCode::NOT_FOUND, Vec::new()),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, hits)
}

async fn pictures_are_found_checked_and_chosen(backend: Backend) {
    let (base, hits) = pictures_server().await;
    let lookup = format!("{base}/avatar/{{sha256}}");
    let app = TestApp::spawn_with(backend, |s| s.photo_lookup_urls = lookup.clone()).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Ada", "emails": [{"value": "Ada@Example.com"}], "website": format!("{base}/site")}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/crm/contacts/{ada}/photo-candidates");
    let found = post(&app, c, &path, json!({})).await;
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 2, "the avatar and the page's image: {found:?}");
    assert_eq!(found[0]["source"], "127.0.0.1");
    let avatar = app
        .client
        .get(app.url(found[0]["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(avatar.headers()["content-type"], "image/png");
    assert_eq!(avatar.bytes().await.unwrap().as_ref(), PNG);
    assert_eq!(get(&app, c, &path).await.as_array().unwrap().len(), 2);

    // Another user reaches none of it.
    let (_, other) = app.member("other@example.com").await;
    let (status, _) = send(&other, &app, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &other,
        &app,
        reqwest::Method::GET,
        found[1]["url"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The chosen one becomes the photo; the others go.
    let chosen = format!("{}/use", found[1]["url"].as_str().unwrap());
    let (status, _) = send(c, &app, reqwest::Method::POST, &chosen, None).await;
    assert_eq!(status, 204);
    let photo = app
        .client
        .get(app.url(&format!("/api/v1/crm/contacts/{ada}/photo")))
        .send()
        .await
        .unwrap();
    assert_eq!(photo.headers()["content-type"], "image/jpeg");
    assert_eq!(get(&app, c, &path).await, json!([]));

    // The same on the contact page: find, see the candidates, use one.
    let cy = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Cy", "emails": [{"value": "ada@example.com"}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let page = format!("/crm/contacts/{cy}");
    let found = c
        .post(app.url(&format!("{page}/photo-candidates")))
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 303);
    let html = c
        .get(app.url(&page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let candidate = get(
        &app,
        c,
        &format!("/api/v1/crm/contacts/{cy}/photo-candidates"),
    )
    .await[0]["id"]
        .clone();
    assert!(
        html.contains("Use this one") && html.contains(&format!("photo-candidates/{candidate}"))
    );
    let used = c
        .post(app.url(&format!("{page}/photo-candidates/{candidate}/use")))
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), 303);
    let contact = get(&app, c, &format!("/api/v1/crm/contacts/{cy}")).await;
    assert!(!contact["photo_url"].is_null(), "{contact}");
    app.stop().await;

    // Without the operator's permission, nothing on this machine is fetched.
    let before = hits.load(Ordering::SeqCst);
    let guarded = TestApp::spawn_with(backend, |s| {
        s.photo_lookup_urls = lookup.clone();
        s.outbound_allowed_networks = String::new();
    })
    .await;
    guarded.setup_admin().await;
    let bo = post(
        &guarded,
        &guarded.client,
        "/api/v1/crm/contacts",
        json!({"given_name": "Bo", "emails": [{"value": "ada@example.com"}], "website": format!("{base}/site")}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let found = post(
        &guarded,
        &guarded.client,
        &format!("/api/v1/crm/contacts/{bo}/photo-candidates"),
        json!({}),
    )
    .await;
    assert_eq!(found, json!([]));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "no request left the guard"
    );
    guarded.stop().await;
}
