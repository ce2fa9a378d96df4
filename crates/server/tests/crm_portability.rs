//! MindfulCRM data freedom over HTTP on SQLite and PostgreSQL: vCard and CSV round trips,
//! photos, and account deletion that leaves no row behind.

mod common;

use base64::Engine;
use common::{Backend, TestApp, field_names, get, post, send};
use serde_json::{Value, json};

on_both_backends!(
    vcard_and_csv_round_trip_and_bad_files_write_nothing,
    account_deletion_asks_for_the_password_and_leaves_no_row_behind,
    photos_are_checked_served_kept_private_and_travel_in_vcards,
);

async fn vcard_and_csv_round_trip_and_bad_files_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let original = json!({
        "given_name": "Zoë", "family_name": "O'Neil; Jr", "display_name": "Zoë O'Neil", "company": "Acme, Inc.",
        "title": "CTO", "birthday": "--07-14", "website": "https://zoe.example", "notes": "Met at the conference.\nLikes climbing, tea; jazz.",
        "stage": "close", "emails": [{"value": "zoe@example.com", "label": "work"}, {"value": "z@home.example", "label": ""}],
        "phones": [{"value": "+1 (555) 010-0199", "label": "cell"}], "tags": ["climbing", "friends"],
        "addresses": [
            {"label": "home", "street": "1 Rue de la Paix; Apt 2", "locality": "Paris", "region": "", "postal_code": "75002", "country": "France"},
            {"label": "", "street": "", "locality": "Zürich", "region": "ZH", "postal_code": "", "country": ""}
        ],
        "links": [{"value": "https://www.linkedin.com/in/zoe", "label": "linkedin"}, {"value": "https://zoe.example/blog?a=1;b=2", "label": ""}]
    });
    post(&app, c, "/api/v1/crm/contacts", original.clone()).await;
    for n in 0..620 {
        post(
            &app,
            c,
            "/api/v1/crm/contacts",
            json!({"given_name": format!("Person {n:04}")}),
        )
        .await;
    }

    // The export spans several pages of the stream and holds every contact once.
    let vcf = c
        .get(app.url("/api/v1/crm/export/contacts.vcf"))
        .send()
        .await
        .unwrap();
    assert_eq!(vcf.status(), 200);
    assert!(
        vcf.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/vcard")
    );
    let vcf = vcf.text().await.unwrap();
    assert_eq!(vcf.matches("BEGIN:VCARD").count(), 621);
    assert!(vcf.lines().all(|l| l.len() <= 75));
    let csv = c
        .get(app.url("/api/v1/crm/export/contacts.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.records().count(), 621);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let zoe = reader
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[1] == "Zoë O'Neil")
        .unwrap();
    assert_eq!(
        (&zoe[4], &zoe[8], &zoe[11], &zoe[13], &zoe[14]),
        (
            "Acme, Inc.",
            "https://www.linkedin.com/in/zoe (linkedin)\nhttps://zoe.example/blog?a=1;b=2",
            "zoe@example.com (work); z@home.example",
            "1 Rue de la Paix; Apt 2; Paris; ; 75002; France (home)\n; Zürich; ZH; ; ",
            "climbing, friends"
        )
    );

    // Another user imports the file: field for field the same contact.
    let (_, bob) = app.member("bob@example.com").await;
    let dry = bob
        .post(app.url("/api/v1/crm/import/vcard?dry_run=true"))
        .body(vcf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status(), 200);
    assert_eq!(
        dry.json::<Value>().await.unwrap(),
        json!({"dry_run": true, "contacts": 621, "skipped": []})
    );
    assert_eq!(
        get(&app, &bob, "/api/v1/crm/contacts").await["contacts"],
        json!([])
    );
    let done = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(vcf)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let found = get(&app, &bob, "/api/v1/crm/contacts?q=zo%C3%AB").await;
    let id = found["contacts"][0]["id"].as_i64().unwrap();
    let imported = get(&app, &bob, &format!("/api/v1/crm/contacts/{id}")).await;
    for key in [
        "given_name",
        "family_name",
        "display_name",
        "company",
        "title",
        "birthday",
        "website",
        "notes",
        "stage",
        "emails",
        "phones",
        "tags",
        "addresses",
        "links",
    ] {
        let expected = if key == "stage" {
            json!("new")
        } else {
            original[key].clone()
        };
        assert_eq!(imported[key], expected, "{key}");
    }

    // A malformed file: every problem by line, and nothing written.
    let before = get(&app, &bob, "/api/v1/crm/contacts?limit=200").await["contacts"]
        .as_array()
        .unwrap()
        .len();
    let bad = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Fine\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:4.0\r\nEMAIL:nobody@example.com\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:Bad mail\r\nEMAIL:not-an-address\r\nEND:VCARD\r\n";
    let refused = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["line 5", "line 9"]);
    assert_eq!(
        get(&app, &bob, "/api/v1/crm/contacts?limit=200").await["contacts"]
            .as_array()
            .unwrap()
            .len(),
        before
    );

    // The page's upload form does the same.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text(bad).file_name("bad.vcf"),
    );
    let page = bob
        .post(app.url("/crm/contacts/import"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 422);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("line 5: this card has no name")
    );
    let good = "BEGIN:VCARD\nVERSION:3.0\nN:Doe;Jane;;;\nEND:VCARD\n";
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text(good).file_name("jane.vcf"),
    );
    let page = bob
        .post(app.url("/crm/contacts/import"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Imported 1 contacts"));
    app.stop().await;
}

/// Rows of `user_id` left in any table with such a column, and rows left in any CRM table
/// (the deleted user is the only one with CRM data here), by table.
async fn rows_left(app: &TestApp, user_id: i64) -> Vec<(String, i64)> {
    let pool = app.platform.db.pool();
    let (tables_sql, user_tables_sql) = match app.platform.config.backend {
        keel_platform::config::Backend::Sqlite => (
            // FTS shadow tables are created with quoted names; their virtual tables are counted.
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'crm%' AND sql NOT LIKE 'CREATE TABLE ''%'",
            "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'user_id'",
        ),
        keel_platform::config::Backend::Postgres => (
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'crm%'",
            "SELECT table_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'user_id'",
        ),
    };
    let mut left = Vec::new();
    let crm: Vec<String> = sqlx::query_scalar(tables_sql)
        .fetch_all(pool)
        .await
        .unwrap();
    assert!(crm.len() >= 10, "CRM tables found: {crm:?}");
    for table in crm {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(pool)
                .await
                .unwrap();
        if n > 0 {
            left.push((table, n));
        }
    }
    let with_user: Vec<String> = sqlx::query_scalar(user_tables_sql)
        .fetch_all(pool)
        .await
        .unwrap();
    for table in with_user {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE user_id = $1"
        )))
        .bind(user_id)
        .fetch_one(pool)
        .await
        .unwrap();
        if n > 0 {
            left.push((table, n));
        }
    }
    left
}

async fn account_deletion_asks_for_the_password_and_leaves_no_row_behind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let (bob_id, bob) = app.member("bob@example.com").await;
    let token = post(&app, &bob, "/api/v1/tokens", json!({"name": "script"})).await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let contact = post(&app, &bob, "/api/v1/crm/contacts", json!({
        "given_name": "Rita", "emails": [{"value": "rita@example.com"}], "phones": [{"value": "+1 555 0100"}],
        "tags": ["family"], "notes": "private words"
    }))
    .await["id"]
        .as_i64()
        .unwrap();
    post(
        &app,
        &bob,
        "/api/v1/crm/interactions",
        json!({"kind": "call", "summary": "Long call", "contact_ids": [contact]}),
    )
    .await;
    post(
        &app,
        &bob,
        "/api/v1/crm/tasks",
        json!({"title": "Send photos", "contact_ids": [contact]}),
    )
    .await;
    post(
        &app,
        &bob,
        "/api/v1/me/contact-methods",
        json!({"kind": "email", "address": "bob@example.com"}),
    )
    .await;
    post(&app, &bob, "/api/v1/crm/events", json!({"title": "Dinner", "starts_at": "2026-12-01T18:00:00Z", "attendees": ["rita@example.com"]})).await;
    post(
        &app,
        &bob,
        "/api/v1/crm/goals",
        json!({"title": "Calls", "kind": "interactions", "period": "week", "target": 2}),
    )
    .await;
    let (status, _) = send(
        &bob,
        &app,
        reqwest::Method::PUT,
        "/api/v1/crm/settings",
        Some(json!({"time_zone": "Europe/Paris", "digest_enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!rows_left(&app, bob_id).await.is_empty());

    // A wrong password names the field and deletes nothing.
    let (status, problem) = send(
        &bob,
        &app,
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(json!({"password": "not it at all"})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(field_names(&problem), ["password"]);
    assert_eq!(
        get(&app, &bob, "/api/v1/crm/contacts").await["contacts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The only admin cannot leave the organisation without one.
    let (status, _) = send(
        &app.client,
        &app,
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(json!({"password": common::PASSWORD})),
    )
    .await;
    assert_eq!(status, 409);
    get(&app, &app.client, "/api/v1/me").await;

    let (status, _) = send(
        &bob,
        &app,
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(json!({"password": common::PASSWORD})),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(rows_left(&app, bob_id).await, Vec::<(String, i64)>::new());
    let (status, _) = send(&bob, &app, reqwest::Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, 401, "the session ended with the account");
    let with_token = app
        .new_client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 401, "and so did the token");
    let audit = get(
        &app,
        &app.client,
        "/api/v1/audit-events?action=user.deleted_own_account",
    )
    .await;
    assert!(audit.to_string().contains("bob@example.com"), "{audit}");

    // The page form: wrong password shows inline, the right one signs out and deletes.
    let (carol_id, carol) = app.member("carol@example.com").await;
    let wrong = carol
        .post(app.url("/account/delete"))
        .form(&[("password", "nope nope nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    assert!(wrong.text().await.unwrap().contains("is not your password"));
    let done = carol
        .post(app.url("/account/delete"))
        .form(&[("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, "/login?done=account-deleted");
    let signed_out = carol.get(app.url(&location)).send().await.unwrap();
    assert!(signed_out.text().await.unwrap().contains("were deleted"));
    let (status, _) = send(&carol, &app, reqwest::Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, 401);
    assert_eq!(rows_left(&app, carol_id).await, Vec::<(String, i64)>::new());
    app.stop().await;
}

/// A real 1×1 PNG.
const PNG: &str = "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63f8dfc0000004010180c52a185d0000000049454e44ae426082";

async fn photos_are_checked_served_kept_private_and_travel_in_vcards(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let png = hex::decode(PNG).unwrap();
    let id = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"display_name": "Pia Photo"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/crm/contacts/{id}/photo");
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/contacts/{id}")).await["photo_url"],
        Value::Null
    );
    let put = |client: &reqwest::Client, body: Vec<u8>| {
        client
            .put(app.url(&path))
            .header("content-type", "image/png")
            .body(body)
            .send()
    };

    // Not an image, or too large: 422 naming the photo, nothing stored.
    for bad in [
        b"<svg onload=alert(1)>".to_vec(),
        [png.clone(), vec![0; 600 * 1024]].concat(),
    ] {
        let refused = put(c, bad).await.unwrap();
        assert_eq!(refused.status(), 422);
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(field_names(&problem), ["photo"]);
    }
    assert_eq!(c.get(app.url(&path)).send().await.unwrap().status(), 404);

    assert_eq!(put(c, png.clone()).await.unwrap().status(), 204);
    let contact = get(&app, c, &format!("/api/v1/crm/contacts/{id}")).await;
    let url = contact["photo_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{path}?v=")), "{url}");
    let served = c.get(app.url(&url)).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().to_vec(), png);
    let page = app.page_text(c, &format!("/crm/contacts/{id}")).await;
    assert!(page.contains(&format!(r#"<img class="contact-photo" src="{url}""#)));

    // Nobody else sees or changes it.
    let (_, bob) = app.member("bob@example.com").await;
    assert_eq!(bob.get(app.url(&path)).send().await.unwrap().status(), 404);
    assert_eq!(put(&bob, png.clone()).await.unwrap().status(), 404);
    assert_eq!(
        bob.delete(app.url(&path)).send().await.unwrap().status(),
        404
    );
    assert_eq!(c.get(app.url(&path)).send().await.unwrap().status(), 200);

    // The vCard export carries it; importing the file elsewhere brings it back byte for byte.
    let vcf = app.page_text(c, "/api/v1/crm/export/contacts.vcf").await;
    assert!(vcf.contains("PHOTO:data:image/png;base64,"));
    let imported = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(vcf)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200);
    let theirs = get(&app, &bob, "/api/v1/crm/contacts").await["contacts"][0].clone();
    let their_photo = bob
        .get(app.url(theirs["photo_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(their_photo.to_vec(), png);
    // A vCard 3.0 photo reads too.
    let v3 = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Old Card\r\nPHOTO;ENCODING=b;TYPE=PNG:{}\r\nEND:VCARD\r\n",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    let r = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(v3)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A photo we cannot take, or a link that is no web address, is left out and reported; the
    // card still imports.
    let odd = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Odd\r\nPHOTO;ENCODING=b;TYPE=PNG:@@@\r\nX-SOCIALPROFILE;TYPE=twitter:x-apple:odd\r\nEND:VCARD\r\n";
    let r = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(odd)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(
        outcome["skipped"],
        json!([
            "line 4: PHOTO is not valid base64; left out",
            "line 5: X-SOCIALPROFILE `x-apple:odd` is not a web address; left out"
        ])
    );
    let listed = get(&app, &bob, "/api/v1/crm/contacts").await["contacts"].clone();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .iter()
            .any(|c| c["display_name"] == "Odd" && c["photo_url"].is_null())
    );

    // Merging a contact without a photo with one that has it keeps the photo.
    let plain = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"display_name": "Pia P."}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (status, merged) = send(
        c,
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/crm/contacts/{plain}/merge"),
        Some(json!({"duplicate_id": id})),
    )
    .await;
    assert_eq!(status, 200, "{merged}");
    let kept = c
        .get(app.url(merged["photo_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(kept.to_vec(), png);
    let id = plain;
    let path = format!("/api/v1/crm/contacts/{id}/photo");

    // The page's form replaces it; a bad file shows the reason; the remove button removes it.
    let form = |bytes: Vec<u8>| {
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("me.png"),
        )
    };
    let page_path = format!("/crm/contacts/{id}/photo");
    let bad = c
        .post(app.url(&page_path))
        .multipart(form(b"GIF00 nope".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("must be a JPEG, PNG, GIF or WebP image")
    );
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let replaced = c
        .post(app.url(&page_path))
        .multipart(form(gif.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 303);
    let served = c.get(app.url(&path)).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/gif");
    let removed = c
        .post(app.url(&format!("{page_path}/delete")))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 303);
    assert_eq!(c.get(app.url(&path)).send().await.unwrap().status(), 404);
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/contacts/{id}")).await["photo_url"],
        Value::Null
    );
    app.stop().await;
}
