//! MindfulCRM mailbox sync over HTTP, on SQLite and PostgreSQL, against a real Dovecot: the
//! first sync, new mail, a message in two folders counted once, a UIDVALIDITY change, a
//! connection cut mid-sync resuming with no gap and no duplicate, suggested contacts, plain
//! error messages, sealed passwords, the address guard, and one user never seeing another's
//! accounts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::dovecot::{Dovecot, message};
use common::{Backend, TestApp, crm_contact, crm_timeline, get, post, send};
use serde_json::{Value, json};

on_both_backends!(
    first_sync_new_mail_and_folders_count_each_message_once,
    a_sync_cut_off_mid_way_resumes_without_gap_or_duplicate,
    suggested_contacts_come_from_sent_mail,
    bad_settings_and_hostile_servers_get_plain_answers,
    accounts_are_private_and_removal_keeps_or_deletes_interactions,
);

/// An RFC 5322 date `days` before the app's clock.
fn days_ago(app: &TestApp, days: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(app.platform.now().as_millis() - days * 86_400_000)
        .unwrap();
    ts.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn account_input(port: u16, user: &str, password: &str) -> Value {
    json!({
        "address": format!("{user}@example.org"), "host": "127.0.0.1", "port": port, "tls": "plain",
        "username": user, "password": password,
    })
}

/// Waits until a sync run ended after the one `before` (the account as it was) shows: its
/// next run is planned anew whether it succeeded or failed. Returns the account.
async fn synced(app: &TestApp, client: &reqwest::Client, before: &Value) -> Value {
    synced_within(app, client, before, Duration::from_secs(60)).await
}

async fn synced_within(
    app: &TestApp,
    client: &reqwest::Client,
    before: &Value,
    limit: Duration,
) -> Value {
    let path = format!("/api/v1/crm/mail-accounts/{}", before["id"]);
    let deadline = tokio::time::Instant::now() + limit;
    let mut done = None;
    // Polled gently: a long sync must not run into the API's rate limit.
    while done.is_none() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let account = get(app, client, &path).await;
        let state = account["status"]["state"].as_str().unwrap_or("");
        let ended = matches!(state, "ok" | "error")
            && account["status"]["next_sync_at"] != before["status"]["next_sync_at"];
        done = ended.then_some(account);
    }
    match done {
        Some(account) => account,
        None => panic!("no sync finished: {}", get(app, client, &path).await),
    }
}

async fn sync_now(app: &TestApp, client: &reqwest::Client, account: &Value) -> Value {
    let id = account["id"].as_i64().unwrap();
    // The clock is the test's: move it so this sync's time differs from the last one's.
    app.clock.advance(Duration::from_secs(1));
    let (status, _) = send(
        client,
        app,
        reqwest::Method::POST,
        &format!("/api/v1/crm/mail-accounts/{id}/sync"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    synced(app, client, account).await
}

async fn first_sync_new_mail_and_folders_count_each_message_once(backend: Backend) {
    let Some(imap) = Dovecot::start() else { return };
    imap.wait_ready().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = crm_contact(&app, c, "Ada", "ada@example.com").await;
    imap.add_user("alice", "s3cret");
    let d = days_ago(&app, 3);
    imap.deliver(
        "alice",
        "",
        &message(
            "1@x",
            "Ada <ADA@example.com>",
            "alice@example.org",
            "Boat",
            &d,
            "The boat is ready.",
        ),
    );
    imap.deliver(
        "alice",
        "",
        &message(
            "2@x",
            "Stranger <s@example.net>",
            "alice@example.org",
            "Offer",
            &d,
            "Buy now",
        ),
    );
    // The same message in INBOX and Sent (a reply-all to oneself): one interaction.
    let both = message(
        "3@x",
        "alice@example.org",
        "ada@example.com, alice@example.org",
        "Lunch?",
        &d,
        "Lunch on Friday?",
    );
    imap.deliver("alice", "", &both);
    imap.deliver("alice", ".Sent", &both);
    imap.deliver(
        "alice",
        ".Archive",
        &message(
            "4@x",
            "ada@example.com",
            "alice@example.org",
            "Old",
            &days_ago(&app, 5),
            "Archived",
        ),
    );
    // Older than the backfill window is not read.
    let mut input = account_input(imap.port, "alice", "s3cret");
    input["folders"] = json!(["Archive", "Nope"]);
    input["backfill_days"] = json!(30);

    let account = post(&app, c, "/api/v1/crm/mail-accounts", input).await;
    assert!(account.get("password").is_none() && account.get("password_sealed").is_none());
    assert_eq!(account["folders"], json!(["Archive", "Nope"]));
    let id = account["id"].as_i64().unwrap();
    let account = synced(&app, c, &account).await;
    assert_eq!(account["status"]["state"], "ok", "{account}");
    assert_eq!(account["messages"], 4, "four distinct messages: {account}");
    assert_eq!(account["interactions"], 3, "three name Ada");

    let items = crm_timeline(&app, c, ada).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(items.iter().all(|i| i["kind"] == "email"));
    let lunch = items.iter().find(|i| i["subject"] == "Lunch?").unwrap();
    assert_eq!(lunch["direction"], "sent");
    assert_eq!(lunch["summary"], "Lunch on Friday?");
    let boat = items.iter().find(|i| i["subject"] == "Boat").unwrap();
    assert_eq!(boat["direction"], "received");
    assert_eq!(boat["source_ref"], "mail:1@x");
    let ada_now = get(&app, c, &format!("/api/v1/crm/contacts/{ada}")).await;
    assert!(
        !ada_now["last_interaction_at"].is_null(),
        "last talked moved"
    );

    // Logged by hand before it was synced: the sync reuses that interaction.
    post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "email", "subject": "Again", "contact_ids": [ada], "source_ref": "mail:5@x"}),
    )
    .await;
    // New mail arrives; the next sync picks up exactly it.
    imap.deliver(
        "alice",
        "",
        &message(
            "5@x",
            "ada@example.com",
            "alice@example.org",
            "Again",
            &days_ago(&app, 1),
            "Hi again",
        ),
    );
    // Old mail moved into the inbox is outside the backfill window: not read.
    imap.deliver_received(
        "alice",
        "",
        &message(
            "moved@x",
            "ada@example.com",
            "alice@example.org",
            "From the archive",
            &days_ago(&app, 400),
            "Years ago",
        ),
        std::time::SystemTime::now() - Duration::from_secs(400 * 86_400),
    );
    let account = sync_now(&app, c, &account).await;
    assert_eq!(account["status"]["state"], "ok", "{account}");
    assert_eq!(account["messages"], 5);
    assert_eq!(
        crm_timeline(&app, c, ada).await.len(),
        4,
        "no second interaction"
    );

    // A folder recreated with a new UIDVALIDITY is read again without duplicates.
    imap.drop_folder("alice", ".Archive");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    imap.deliver(
        "alice",
        ".Archive",
        &message(
            "4@x",
            "ada@example.com",
            "alice@example.org",
            "Old",
            &days_ago(&app, 5),
            "Archived",
        ),
    );
    imap.deliver(
        "alice",
        ".Archive",
        &message(
            "6@x",
            "ada@example.com",
            "alice@example.org",
            "Newer",
            &days_ago(&app, 2),
            "More",
        ),
    );
    let account = sync_now(&app, c, &account).await;
    assert_eq!(account["status"]["state"], "ok", "{account}");
    assert_eq!(
        account["messages"], 6,
        "only the new message was added: {account}"
    );
    assert_eq!(crm_timeline(&app, c, ada).await.len(), 5);

    // The stored password is sealed: the database alone does not reveal it.
    let sealed: String =
        sqlx::query_scalar("SELECT password_sealed FROM crm_mail_accounts WHERE id = $1")
            .bind(id)
            .fetch_one(app.platform.db.pool())
            .await
            .unwrap();
    assert!(sealed.starts_with("v1.") && !sealed.contains("s3cret"));
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sealed.trim_start_matches("v1."))
        .unwrap();
    assert!(!raw.windows(6).any(|w| w == b"s3cret"));

    // The page shows the account and its state.
    let page = app.page_text(c, "/crm/settings/accounts").await;
    assert!(
        page.contains("alice@example.org") && page.contains("Up to date"),
        "{page}"
    );
    assert!(!page.contains("s3cret"));

    // The export holds the account (without its password) and each interaction's direction.
    let mut archive = common::crm_export(&app, c).await;
    let accounts = common::zip_entry(&mut archive, "connected_accounts.json");
    assert!(accounts.contains("alice@example.org") && !accounts.contains("s3cret"));
    let interactions: Value =
        serde_json::from_str(&common::zip_entry(&mut archive, "interactions.json")).unwrap();
    let lunch = interactions
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["subject"] == "Lunch?")
        .unwrap();
    assert_eq!(lunch["direction"], "sent");
    app.stop().await;
}

/// A TCP proxy in front of Dovecot that cuts every connection after it passed `budget` bytes
/// from the server, as long as `cut` is set: the server vanishing mid-sync.
async fn cutting_proxy(target: u16, budget: usize, cut: Arc<AtomicUsize>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let cut = cut.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let server = tokio::net::TcpStream::connect(("127.0.0.1", target))
                    .await
                    .unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                let mut passed = 0usize;
                let mut buf = vec![0u8; 8192];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if cut.load(Ordering::SeqCst) > 0 && passed + n > budget {
                        cut.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    passed += n;
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    port
}

async fn a_sync_cut_off_mid_way_resumes_without_gap_or_duplicate(backend: Backend) {
    let Some(imap) = Dovecot::start() else { return };
    imap.wait_ready().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = crm_contact(&app, c, "Ada", "ada@example.com").await;
    imap.add_user("bob", "pw");
    let total = 1200;
    let d = days_ago(&app, 2);
    for n in 0..total {
        let from = if n % 2 == 0 {
            "ada@example.com"
        } else {
            "other@example.net"
        };
        imap.deliver(
            "bob",
            "",
            &message(
                &format!("m{n}@x"),
                from,
                "bob@example.org",
                &format!("Note {n}"),
                &d,
                &"word ".repeat(50),
            ),
        );
    }
    let cut = Arc::new(AtomicUsize::new(1));
    let port = cutting_proxy(imap.port, 400_000, cut.clone()).await;
    let account = post(
        &app,
        c,
        "/api/v1/crm/mail-accounts",
        account_input(port, "bob", "pw"),
    )
    .await;
    let failed = synced(&app, c, &account).await;
    assert_eq!(failed["status"]["state"], "error", "{failed}");
    assert!(
        cut.load(Ordering::SeqCst) > 1,
        "the proxy cut the connection"
    );
    let partial = failed["messages"].as_i64().unwrap();
    assert!(
        partial > 0 && partial < total,
        "some batches were committed: {partial}"
    );
    assert!(!failed["status"]["error"].as_str().unwrap().is_empty());

    cut.store(0, Ordering::SeqCst);
    let account = sync_now(&app, c, &failed).await;
    assert_eq!(account["status"]["state"], "ok", "{account}");
    assert_eq!(account["messages"], total, "no gap");
    assert_eq!(account["interactions"], total / 2, "no duplicate");
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM crm_interaction_contacts WHERE contact_id = $1")
            .bind(ada)
            .fetch_one(app.platform.db.pool())
            .await
            .unwrap();
    assert_eq!(count, total / 2);
    app.stop().await;
}

async fn suggested_contacts_come_from_sent_mail(backend: Backend) {
    let Some(imap) = Dovecot::start() else { return };
    imap.wait_ready().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    imap.add_user("carol", "pw");
    let d = days_ago(&app, 2);
    for n in 0..3 {
        imap.deliver(
            "carol",
            ".Sent",
            &message(
                &format!("s{n}@x"),
                "carol@example.org",
                "Grace Hopper <grace@example.com>",
                "Compilers",
                &d,
                "Let's talk",
            ),
        );
    }
    imap.deliver(
        "carol",
        ".Sent",
        &message(
            "once@x",
            "carol@example.org",
            "once@example.com",
            "Hi",
            &d,
            "x",
        ),
    );
    imap.deliver(
        "carol",
        ".Sent",
        &message(
            "t1@x",
            "carol@example.org",
            "turing@example.com",
            "Hi",
            &d,
            "x",
        ),
    );
    imap.deliver(
        "carol",
        ".Sent",
        &message(
            "t2@x",
            "carol@example.org",
            "turing@example.com",
            "Hi",
            &d,
            "x",
        ),
    );
    imap.deliver(
        "carol",
        "",
        &message(
            "in@x",
            "grace@example.com",
            "carol@example.org",
            "Re: Compilers",
            &d,
            "Sure",
        ),
    );
    let account = post(
        &app,
        c,
        "/api/v1/crm/mail-accounts",
        account_input(imap.port, "carol", "pw"),
    )
    .await;
    let account = synced(&app, c, &account).await;
    assert_eq!(account["interactions"], 0, "no contacts yet");

    let suggestions = get(&app, c, "/api/v1/crm/mail-suggestions").await;
    let addresses: Vec<&str> = suggestions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        addresses,
        ["grace@example.com", "turing@example.com"],
        "written to twice or more"
    );
    assert_eq!(suggestions[0]["name"], "Grace Hopper");
    assert_eq!(suggestions[0]["sent_count"], 3);

    let grace = post(
        &app,
        c,
        "/api/v1/crm/mail-suggestions/accept",
        json!({"address": "grace@example.com"}),
    )
    .await;
    assert_eq!(grace["given_name"], "Grace");
    assert_eq!(grace["family_name"], "Hopper");
    let items = crm_timeline(&app, c, grace["id"].as_i64().unwrap()).await;
    assert_eq!(items.len(), 4, "three sent and one received: {items:?}");
    assert!(!grace["last_interaction_at"].is_null());

    let (status, _) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/mail-suggestions/ignore",
        Some(json!({"address": "TURING@example.com"})),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        get(&app, c, "/api/v1/crm/mail-suggestions").await,
        json!([])
    );
    app.stop().await;
}

/// A server that greets like something other than IMAP, or sends an endless literal.
async fn hostile_server(answer: &'static [u8], endless: bool) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = socket.write_all(answer).await;
                if !endless {
                    return;
                }
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                {
                    // LOGIN answered with an untagged literal announced at 1 GB.
                    let _ = socket.write_all(b"* OK {1000000000}\r\n").await;
                    let chunk = vec![b'x'; 64 * 1024];
                    while socket.write_all(&chunk).await.is_ok() {}
                }
            });
        }
    });
    port
}

async fn check(app: &TestApp, client: &reqwest::Client, input: Value) -> Value {
    let (status, body) = send(
        client,
        app,
        reqwest::Method::POST,
        "/api/v1/crm/mail-accounts/test",
        Some(input.clone()),
    )
    .await;
    assert_eq!(status, 200, "{input}: {body}");
    body
}

async fn bad_settings_and_hostile_servers_get_plain_answers(backend: Backend) {
    let Some(imap) = Dovecot::start() else { return };
    imap.wait_ready().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    imap.add_user("dave", "right");

    let ok = check(&app, c, account_input(imap.port, "dave", "right")).await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["folders"], json!(["INBOX", "Sent"]));
    let wrong = check(&app, c, account_input(imap.port, "dave", "wrong")).await;
    assert_eq!(wrong["ok"], false);
    assert!(
        wrong["message"]
            .as_str()
            .unwrap()
            .contains("wrong user name or password"),
        "{wrong}"
    );
    let closed = check(&app, c, account_input(common::free_port(), "dave", "x")).await;
    assert!(
        closed["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{closed}"
    );
    let http = hostile_server(b"HTTP/1.1 400 Bad Request\r\n\r\n", false).await;
    let not_imap = check(&app, c, account_input(http, "dave", "x")).await;
    assert!(
        not_imap["message"]
            .as_str()
            .unwrap()
            .contains("not an IMAP server"),
        "{not_imap}"
    );
    let flood = hostile_server(b"* OK ready\r\n", true).await;
    let huge = check(&app, c, account_input(flood, "dave", "x")).await;
    assert_eq!(huge["ok"], false, "{huge}");
    assert!(
        huge["message"]
            .as_str()
            .unwrap()
            .contains("oversized answer"),
        "{huge}"
    );
    let mut starttls = account_input(imap.port, "dave", "right");
    starttls["tls"] = json!("starttls");
    let no_tls = check(&app, c, starttls).await;
    assert!(
        no_tls["message"].as_str().unwrap().contains("STARTTLS"),
        "{no_tls}"
    );

    // Unencrypted IMAP only to this machine; fields are named.
    let mut remote = account_input(993, "dave", "x");
    remote["host"] = json!("imap.example.com");
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/mail-accounts",
        Some(remote),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(common::field_names(&problem), ["tls"]);
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/mail-accounts",
        Some(json!({"address": "nope", "host": "", "password": "", "backfill_days": 0})),
    )
    .await;
    assert_eq!(status, 422);
    let mut fields = common::field_names(&problem);
    fields.sort();
    assert_eq!(fields, ["address", "backfill_days", "host", "password"]);

    // A wrong password on a saved account shows on the page with what to do.
    let account = post(
        &app,
        c,
        "/api/v1/crm/mail-accounts",
        account_input(imap.port, "dave", "wrong"),
    )
    .await;
    let failed = synced(&app, c, &account).await;
    assert_eq!(failed["status"]["state"], "error");
    let page = app.page_text(c, "/crm/settings/accounts").await;
    assert!(
        page.contains("Sync failed") && page.contains("app password"),
        "{page}"
    );
    app.stop().await;

    // Without the operator's permission, loopback is refused before anything is sent.
    let guarded =
        TestApp::spawn_with(backend, |s| s.outbound_allowed_networks = String::new()).await;
    guarded.setup_admin().await;
    let refused = check(
        &guarded,
        &guarded.client,
        account_input(imap.port, "dave", "right"),
    )
    .await;
    assert_eq!(refused["ok"], false);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("not on the public internet"),
        "{refused}"
    );
    guarded.stop().await;
}

async fn accounts_are_private_and_removal_keeps_or_deletes_interactions(backend: Backend) {
    let Some(imap) = Dovecot::start() else { return };
    imap.wait_ready().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = crm_contact(&app, c, "Ada", "ada@example.com").await;
    imap.add_user("erin", "pw");
    imap.add_user("frank", "pw");
    let d = days_ago(&app, 2);
    imap.deliver(
        "erin",
        "",
        &message(
            "e1@x",
            "ada@example.com",
            "erin@example.org",
            "One",
            &d,
            "x",
        ),
    );
    imap.deliver(
        "frank",
        "",
        &message(
            "f1@x",
            "ada@example.com",
            "frank@example.org",
            "Two",
            &d,
            &format!("Dear Frank,\n\n{}\nAda", "The boat is ready. ".repeat(30)),
        ),
    );
    let erin = post(
        &app,
        c,
        "/api/v1/crm/mail-accounts",
        account_input(imap.port, "erin", "pw"),
    )
    .await;
    // Frank's is added on the page, keeping the text of each message.
    let port = imap.port.to_string();
    let added = c
        .post(app.url("/crm/settings/accounts"))
        .form(&[
            ("address", "frank@example.org"),
            ("host", "127.0.0.1"),
            ("port", port.as_str()),
            ("tls", "plain"),
            ("username", "frank"),
            ("password", "pw"),
            ("backfill_days", "30"),
            ("keep_bodies", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 303, "back to the page");
    let frank = get(&app, c, "/api/v1/crm/mail-accounts").await[1].clone();
    assert_eq!(frank["address"], "frank@example.org");
    assert_eq!(frank["keep_bodies"], true);
    assert_eq!(erin["keep_bodies"], false);
    let erin_id = erin["id"].as_i64().unwrap();
    let frank_id = frank["id"].as_i64().unwrap();
    synced(&app, c, &erin).await;
    synced(&app, c, &frank).await;
    let timeline = crm_timeline(&app, c, ada).await;
    assert_eq!(timeline.len(), 2);
    let summary = |subject: &str| {
        let item = timeline.iter().find(|i| i["subject"] == subject).unwrap();
        item["summary"].as_str().unwrap().to_string()
    };
    assert_eq!(summary("One"), "x", "a snippet");
    let kept = summary("Two");
    assert!(
        kept.starts_with("Dear Frank,\n\nThe boat") && kept.ends_with("\nAda"),
        "the whole text: {kept}"
    );

    // Another user sees none of it and cannot act on it.
    let (_, other) = app.member("other@example.com").await;
    assert_eq!(
        get(&app, &other, "/api/v1/crm/mail-accounts").await,
        json!([])
    );
    for (method, path) in [
        (
            reqwest::Method::GET,
            format!("/api/v1/crm/mail-accounts/{erin_id}"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/crm/mail-accounts/{erin_id}/sync"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/crm/mail-accounts/{erin_id}"),
        ),
    ] {
        let (status, _) = send(&other, &app, method, &path, None).await;
        assert_eq!(status, 404, "{path}");
    }

    // Removing keeps the interactions by default, or deletes them when asked.
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/mail-accounts/{erin_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(crm_timeline(&app, c, ada).await.len(), 2);
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/mail-accounts/{frank_id}?delete_interactions=true"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let left = crm_timeline(&app, c, ada).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["subject"], "One");
    assert_eq!(get(&app, c, "/api/v1/crm/mail-accounts").await, json!([]));
    app.stop().await;
}

/// The mailbox benchmark (docs/benchmarks.md): an initial sync of `KEEL_BENCH_MAILBOX`
/// messages (half from 100 contacts), then 100 new ones. Skipped unless that is set; run it
/// with `--release`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_sync_benchmark() {
    let Some(count) = std::env::var("KEEL_BENCH_MAILBOX")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return;
    };
    let backend = if common::postgres_url().is_some() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let Some(imap) = Dovecot::start() else { return };
    imap.wait_ready().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    for n in 0..100 {
        crm_contact(&app, c, &format!("Person{n}"), &format!("p{n}@example.com")).await;
    }
    imap.add_user("bench", "pw");
    let d = days_ago(&app, 3);
    let body = "Thanks for the notes from Tuesday. ".repeat(20);
    for n in 0..count {
        let from = if n % 2 == 0 {
            format!("p{}@example.com", n % 100)
        } else {
            format!("list{n}@example.net")
        };
        imap.deliver(
            "bench",
            "",
            &message(
                &format!("b{n}@x"),
                &from,
                "bench@example.org",
                &format!("Update {n}"),
                &d,
                &body,
            ),
        );
    }
    let started = std::time::Instant::now();
    let account = post(
        &app,
        c,
        "/api/v1/crm/mail-accounts",
        account_input(imap.port, "bench", "pw"),
    )
    .await;
    let account = synced_within(&app, c, &account, Duration::from_secs(1800)).await;
    let initial = started.elapsed();
    assert_eq!(account["messages"], count, "{account}");
    for n in 0..100 {
        imap.deliver(
            "bench",
            "",
            &message(
                &format!("new{n}@x"),
                "p1@example.com",
                "bench@example.org",
                "New",
                &d,
                "x",
            ),
        );
    }
    let started = std::time::Instant::now();
    let account = sync_now(&app, c, &account).await;
    let incremental = started.elapsed();
    assert_eq!(account["messages"], count + 100);
    let peak = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024)
        .unwrap();
    println!(
        "mailbox sync on {backend:?}: {count} messages in {:.1} s ({:.0} messages/s), 100 new in {:.2} s, peak RSS of the whole test process {peak} MB",
        initial.as_secs_f64(),
        count as f64 / initial.as_secs_f64(),
        incremental.as_secs_f64()
    );
    app.stop().await;
}
