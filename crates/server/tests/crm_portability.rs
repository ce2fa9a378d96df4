//! MindfulCRM data freedom over HTTP on SQLite and PostgreSQL: vCard and CSV round trips,
//! photos, and account deletion that leaves no row behind.

mod common;

use base64::Engine;
use common::{Backend, TestApp};
use serde_json::{Value, json};

on_both_backends!(
    vcard_and_csv_round_trip_and_bad_files_write_nothing,
    account_deletion_asks_for_the_password_and_leaves_no_row_behind,
    photos_are_checked_served_kept_private_and_travel_in_vcards,
);

async fn vcard_and_csv_round_trip_and_bad_files_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
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
    c.create_contact(original.clone()).await;
    for n in 0..620 {
        c.create_contact(json!({"given_name": format!("Person {n:04}")}))
            .await;
    }

    // The export spans several pages of the stream and holds every contact once.
    let vcf = c.get("/api/v1/crm/export/contacts.vcf").await.expect(200);
    assert!(vcf.header("content-type").starts_with("text/vcard"));
    let vcf = vcf.text;
    assert_eq!(vcf.matches("BEGIN:VCARD").count(), 621);
    assert!(vcf.lines().all(|l| l.len() <= 75));
    let csv = c.get("/api/v1/crm/export/contacts.csv").await.text;
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
    let bob = app.api(&bob);
    let dry = bob
        .post_body("/api/v1/crm/import/vcard?dry_run=true", vcf.clone())
        .await
        .json_ok();
    assert_eq!(
        dry,
        json!({"dry_run": true, "contacts": 621, "skipped": []})
    );
    assert_eq!(
        bob.get("/api/v1/crm/contacts").await.json_ok()["contacts"],
        json!([])
    );
    bob.post_body("/api/v1/crm/import/vcard", vcf)
        .await
        .expect(200);
    let found = bob.get("/api/v1/crm/contacts?q=zo%C3%AB").await.json_ok();
    let imported = bob
        .contact(found["contacts"][0]["id"].as_i64().unwrap())
        .await;
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
    let count = async || {
        bob.get("/api/v1/crm/contacts?limit=200").await.json_ok()["contacts"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = count().await;
    let bad = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Fine\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:4.0\r\nEMAIL:nobody@example.com\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:Bad mail\r\nEMAIL:not-an-address\r\nEND:VCARD\r\n";
    let refused = bob
        .post_body("/api/v1/crm/import/vcard", bad)
        .await
        .expect(422);
    assert_eq!(refused.fields(), ["line 5", "line 9"]);
    assert_eq!(count().await, before);

    // The page's upload form does the same.
    let upload = |text: &'static str, name: &'static str| {
        reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::text(text).file_name(name))
    };
    let page = bob
        .multipart("/crm/contacts/import", upload(bad, "bad.vcf"))
        .await
        .expect(422);
    assert!(page.text.contains("line 5: this card has no name"));
    let good = "BEGIN:VCARD\nVERSION:3.0\nN:Doe;Jane;;;\nEND:VCARD\n";
    let page = bob
        .multipart("/crm/contacts/import", upload(good, "jane.vcf"))
        .await
        .expect(200);
    assert!(page.text.contains("Imported 1 contacts"));
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
    let admin = app.admin_api();
    let (bob_id, bob) = app.member("bob@example.com").await;
    let bob = app.api(&bob);
    let token = bob
        .post("/api/v1/tokens", json!({"name": "script"}))
        .await
        .ok()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let contact = bob.create_contact(json!({
        "given_name": "Rita", "emails": [{"value": "rita@example.com"}], "phones": [{"value": "+1 555 0100"}],
        "tags": ["family"], "notes": "private words"
    }))
    .await;
    bob.log_interaction(json!({"kind": "call", "summary": "Long call", "contact_ids": [contact]}))
        .await;
    bob.create_task(json!({"title": "Send photos", "contact_ids": [contact]}))
        .await;
    bob.post(
        "/api/v1/me/contact-methods",
        json!({"kind": "email", "address": "bob@example.com"}),
    )
    .await
    .ok();
    bob.create_event(json!({"title": "Dinner", "starts_at": "2026-12-01T18:00:00Z", "attendees": ["rita@example.com"]})).await;
    bob.create_goal(
        json!({"title": "Calls", "kind": "interactions", "period": "week", "target": 2}),
    )
    .await;
    bob.put(
        "/api/v1/crm/settings",
        json!({"time_zone": "Europe/Paris", "digest_enabled": true}),
    )
    .await
    .expect(200);
    assert!(!rows_left(&app, bob_id).await.is_empty());

    // A wrong password names the field and deletes nothing.
    let delete_me = async |api: &common::Api<'_>, password: &str| {
        api.send(
            reqwest::Method::DELETE,
            "/api/v1/me",
            Some(json!({"password": password})),
        )
        .await
    };
    let problem = delete_me(&bob, "not it at all").await.expect(422);
    assert_eq!(problem.fields(), ["password"]);
    assert_eq!(
        bob.get("/api/v1/crm/contacts").await.json_ok()["contacts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The only admin cannot leave the organisation without one.
    delete_me(&admin, common::PASSWORD).await.expect(409);
    admin.get("/api/v1/me").await.json_ok();

    delete_me(&bob, common::PASSWORD).await.expect(204);
    assert_eq!(rows_left(&app, bob_id).await, Vec::<(String, i64)>::new());
    let me = bob.get("/api/v1/me").await;
    assert_eq!(me.status, 401, "the session ended with the account");
    let with_token = app.visitor().bearer(&token).get("/api/v1/me").await;
    assert_eq!(with_token.status, 401, "and so did the token");
    let audit = admin
        .get("/api/v1/audit-events?action=user.deleted_own_account")
        .await
        .json_ok();
    assert!(audit.to_string().contains("bob@example.com"), "{audit}");

    // The page form: wrong password shows inline, the right one signs out and deletes.
    let (carol_id, carol) = app.member("carol@example.com").await;
    let carol = app.api(&carol);
    let wrong = carol
        .form("/account/delete", &[("password", "nope nope nope")])
        .await
        .expect(422);
    assert!(wrong.text.contains("is not your password"));
    let done = carol
        .form("/account/delete", &[("password", common::PASSWORD)])
        .await
        .expect(303);
    let location = done.header("location");
    assert_eq!(location, "/login?done=account-deleted");
    assert!(carol.get(location).await.text.contains("were deleted"));
    carol.get("/api/v1/me").await.expect(401);
    assert_eq!(rows_left(&app, carol_id).await, Vec::<(String, i64)>::new());
    app.stop().await;
}

/// A real 1×1 PNG.
const PNG: &str = "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63f8dfc0000004010180c52a185d0000000049454e44ae426082";

async fn photos_are_checked_served_kept_private_and_travel_in_vcards(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let png = hex::decode(PNG).unwrap();
    let id = c.create_contact(json!({"display_name": "Pia Photo"})).await;
    let path = format!("/api/v1/crm/contacts/{id}/photo");
    assert_eq!(c.contact(id).await["photo_url"], Value::Null);
    let put = async |api: &common::Api<'_>, body: Vec<u8>| {
        api.clone()
            .header("content-type", "image/png")
            .send_body(reqwest::Method::PUT, &path, body)
            .await
    };

    // Not an image, or too large: 422 naming the photo, nothing stored.
    for bad in [
        b"<svg onload=alert(1)>".to_vec(),
        [png.clone(), vec![0; 600 * 1024]].concat(),
    ] {
        let refused = put(&c, bad).await.expect(422);
        assert_eq!(refused.fields(), ["photo"]);
    }
    c.get(&path).await.expect(404);

    put(&c, png.clone()).await.expect(204);
    let url = c.contact(id).await["photo_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with(&format!("{path}?v=")), "{url}");
    let served = c.get(&url).await.expect(200);
    assert_eq!(served.header("content-type"), "image/png");
    assert_eq!(served.bytes, png);
    let page = c.get(&format!("/crm/contacts/{id}")).await.text;
    assert!(page.contains(&format!(r#"<img class="contact-photo" src="{url}""#)));

    // Nobody else sees or changes it.
    let (_, bob) = app.member("bob@example.com").await;
    let bob = app.api(&bob);
    bob.get(&path).await.expect(404);
    put(&bob, png.clone()).await.expect(404);
    bob.delete(&path).await.expect(404);
    c.get(&path).await.expect(200);

    // The vCard export carries it; importing the file elsewhere brings it back byte for byte.
    let vcf = c.get("/api/v1/crm/export/contacts.vcf").await.text;
    assert!(vcf.contains("PHOTO:data:image/png;base64,"));
    bob.post_body("/api/v1/crm/import/vcard", vcf)
        .await
        .expect(200);
    let theirs = bob.get("/api/v1/crm/contacts").await.json_ok()["contacts"][0].clone();
    let their_photo = bob.get(theirs["photo_url"].as_str().unwrap()).await.bytes;
    assert_eq!(their_photo, png);
    // A vCard 3.0 photo reads too.
    let v3 = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Old Card\r\nPHOTO;ENCODING=b;TYPE=PNG:{}\r\nEND:VCARD\r\n",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    bob.post_body("/api/v1/crm/import/vcard", v3)
        .await
        .expect(200);
    // A photo we cannot take, or a link that is no web address, is left out and reported; the
    // card still imports.
    let odd = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Odd\r\nPHOTO;ENCODING=b;TYPE=PNG:@@@\r\nX-SOCIALPROFILE;TYPE=twitter:x-apple:odd\r\nEND:VCARD\r\n";
    let outcome = bob
        .post_body("/api/v1/crm/import/vcard", odd)
        .await
        .json_ok();
    assert_eq!(
        outcome["skipped"],
        json!([
            "line 4: PHOTO is not valid base64; left out",
            "line 5: X-SOCIALPROFILE `x-apple:odd` is not a web address; left out"
        ])
    );
    let listed = bob.get("/api/v1/crm/contacts").await.json_ok()["contacts"].clone();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .iter()
            .any(|c| c["display_name"] == "Odd" && c["photo_url"].is_null())
    );

    // Merging a contact without a photo with one that has it keeps the photo.
    let plain = c.create_contact(json!({"display_name": "Pia P."})).await;
    let merged = c
        .post(
            &format!("/api/v1/crm/contacts/{plain}/merge"),
            json!({"duplicate_id": id}),
        )
        .await
        .json_ok();
    let kept = c.get(merged["photo_url"].as_str().unwrap()).await.bytes;
    assert_eq!(kept, png);
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
        .multipart(&page_path, form(b"GIF00 nope".to_vec()))
        .await
        .expect(422);
    assert!(bad.text.contains("must be a JPEG, PNG, GIF or WebP image"));
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    c.multipart(&page_path, form(gif.clone())).await.expect(303);
    assert_eq!(c.get(&path).await.header("content-type"), "image/gif");
    c.post(&format!("{page_path}/delete"), None)
        .await
        .expect(303);
    c.get(&path).await.expect(404);
    assert_eq!(c.contact(id).await["photo_url"], Value::Null);
    app.stop().await;
}
