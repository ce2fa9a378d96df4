//! MindfulCRM connected accounts over HTTP, on SQLite and PostgreSQL. Mailbox sync against a
//! real Dovecot: the
//! first sync, new mail, a message in two folders counted once, a UIDVALIDITY change, a
//! connection cut mid-sync resuming with no gap and no duplicate, suggested contacts, plain
//! error messages, sealed passwords, the address guard, and one user never seeing another's
//! accounts. Calendar feeds served by the test: conditional GET, changes mirrored, broken and
//! oversized feeds, privacy. CalDAV against a real Radicale: discovery, sync tokens, changes
//! and deletions, calendar selection.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::dovecot::{Dovecot, message};
use common::radicale::Radicale;
use common::{Backend, TestApp, eventually, get, post, send};
use serde_json::{Value, json};

on_both_backends!(
    first_sync_new_mail_and_folders_count_each_message_once,
    a_sync_cut_off_mid_way_resumes_without_gap_or_duplicate,
    suggested_contacts_come_from_sent_mail,
    bad_settings_and_hostile_servers_get_plain_answers,
    accounts_are_private_and_removal_keeps_or_deletes_interactions,
    calendar_feeds_mirror_changes_with_conditional_get,
    caldav_calendars_are_discovered_and_mirrored_incrementally,
);

/// An RFC 5322 date `days` before the app's clock.
fn days_ago(app: &TestApp, days: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(app.platform.now().as_millis() - days * 86_400_000)
        .unwrap();
    ts.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

async fn contact(app: &TestApp, client: &reqwest::Client, name: &str, email: &str) -> i64 {
    post(
        app,
        client,
        "/api/v1/crm/contacts",
        json!({"given_name": name, "emails": [{"value": email}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
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

async fn timeline(app: &TestApp, client: &reqwest::Client, contact: i64) -> Vec<Value> {
    get(
        app,
        client,
        &format!("/api/v1/crm/interactions?contact_id={contact}"),
    )
    .await
    .as_array()
    .cloned()
    .unwrap_or_default()
}

async fn first_sync_new_mail_and_folders_count_each_message_once(backend: Backend) {
    let Some(imap) = Dovecot::start() else { return };
    imap.wait_ready().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = contact(&app, c, "Ada", "ada@example.com").await;
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

    let items = timeline(&app, c, ada).await;
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
    let account = sync_now(&app, c, &account).await;
    assert_eq!(account["messages"], 5);
    assert_eq!(timeline(&app, c, ada).await.len(), 4);

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
    assert_eq!(timeline(&app, c, ada).await.len(), 5);

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
    let ada = contact(&app, c, "Ada", "ada@example.com").await;
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
    let items = timeline(&app, c, grace["id"].as_i64().unwrap()).await;
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
    let ada = contact(&app, c, "Ada", "ada@example.com").await;
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
            "x",
        ),
    );
    let erin = post(
        &app,
        c,
        "/api/v1/crm/mail-accounts",
        account_input(imap.port, "erin", "pw"),
    )
    .await;
    let frank = post(
        &app,
        c,
        "/api/v1/crm/mail-accounts",
        account_input(imap.port, "frank", "pw"),
    )
    .await;
    let erin_id = erin["id"].as_i64().unwrap();
    let frank_id = frank["id"].as_i64().unwrap();
    synced(&app, c, &erin).await;
    synced(&app, c, &frank).await;
    assert_eq!(timeline(&app, c, ada).await.len(), 2);

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
    assert_eq!(timeline(&app, c, ada).await.len(), 2);
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/mail-accounts/{frank_id}?delete_interactions=true"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let left = timeline(&app, c, ada).await;
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
        contact(&app, c, &format!("Person{n}"), &format!("p{n}@example.com")).await;
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

/// An iCalendar feed on loopback: serves `body` with an ETag, answers 304 to a matching
/// If-None-Match, and records the If-None-Match of every request.
struct Feed {
    url: String,
    body: Arc<std::sync::Mutex<String>>,
    seen: Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

impl Feed {
    async fn start(body: String) -> Self {
        let body = Arc::new(std::sync::Mutex::new(body));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (serve, log) = (body.clone(), seen.clone());
        let app = axum::Router::new().route(
            "/secret/basic.ics",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let (serve, log) = (serve.clone(), log.clone());
                async move {
                    let text = serve.lock().unwrap().clone();
                    let etag = format!("\"{}\"", text.len());
                    let asked = headers
                        .get("if-none-match")
                        .map(|v| v.to_str().unwrap().to_string());
                    log.lock().unwrap().push(asked.clone());
                    if asked.as_deref() == Some(etag.as_str()) {
                        return (
                            axum::http::StatusCode::NOT_MODIFIED,
                            [("etag", etag)],
                            String::new(),
                        );
                    }
                    (axum::http::StatusCode::OK, [("etag", etag)], text)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/secret/basic.ics", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, body, seen }
    }
}

fn ics_event(uid: &str, title: &str, start: jiff::Timestamp, attendee: &str) -> String {
    let fmt = |t: jiff::Timestamp| t.strftime("%Y%m%dT%H%M%SZ").to_string();
    format!(
        "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{s}\r\nDTSTART:{s}\r\nDTEND:{e}\r\nSUMMARY:{title}\r\nATTENDEE:mailto:{attendee}\r\nEND:VEVENT\r\n",
        s = fmt(start),
        e = fmt(start + jiff::SignedDuration::from_hours(1)),
    )
}

fn ics(events: &[String]) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{}END:VCALENDAR\r\n",
        events.concat()
    )
}

/// Waits until the feed's refresh after the state `before` ended.
async fn refreshed(app: &TestApp, client: &reqwest::Client, before: &Value) -> Value {
    let path = format!("/api/v1/crm/calendar-feeds/{}", before["id"]);
    let done = eventually(Duration::from_secs(30), || async {
        let feed = get(app, client, &path).await;
        (feed["state"] != "new" && feed["next_sync_at"] != before["next_sync_at"]).then_some(feed)
    })
    .await;
    done.unwrap_or_else(|| panic!("feed {path} was not refreshed"))
}

async fn refresh(app: &TestApp, client: &reqwest::Client, feed: &Value) -> Value {
    app.clock.advance(Duration::from_secs(1));
    let path = format!("/api/v1/crm/calendar-feeds/{}/refresh", feed["id"]);
    let (status, _) = send(client, app, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 202);
    refreshed(app, client, feed).await
}

async fn calendar_feeds_mirror_changes_with_conditional_get(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = contact(&app, c, "Ada", "ada@example.com").await;
    let now = jiff::Timestamp::from_millisecond(app.platform.now().as_millis()).unwrap();
    let day = jiff::SignedDuration::from_hours(24);
    let past = ics_event("past@x", "Coffee", now - day, "ADA@example.com");
    let future = ics_event("future@x", "Planning", now + day, "ada@example.com");
    let feed_server = Feed::start(ics(&[past.clone(), future])).await;

    let feed = post(
        &app,
        c,
        "/api/v1/crm/calendar-feeds",
        json!({"name": "Work", "url": feed_server.url}),
    )
    .await;
    assert_eq!(feed["host"], "127.0.0.1");
    assert!(feed.get("url").is_none(), "the secret address is not shown");
    let feed = refreshed(&app, c, &feed).await;
    assert_eq!(feed["state"], "ok", "{feed}");
    assert_eq!(feed["events"], 2);
    let from = (now - day * 7).to_string();
    let events = get(&app, c, &format!("/api/v1/crm/events?from={from}")).await;
    let titles: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Coffee", "Planning"]);
    assert_eq!(events[0]["contacts"][0]["id"], ada, "attendee matched");
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    let items = timeline(&app, c, ada).await;
    assert_eq!(items.len(), 1, "the past meeting is on the timeline");
    assert_eq!(items[0]["kind"], "meeting");

    // Unchanged: the second request is conditional and answered 304.
    let feed = refresh(&app, c, &feed).await;
    assert_eq!(feed["state"], "ok");
    let seen = feed_server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].is_some(), "If-None-Match was sent: {seen:?}");

    // Changed: a renamed event changes, a removed one vanishes; the interaction stays.
    *feed_server.body.lock().unwrap() = ics(&[ics_event(
        "future@x",
        "Planning (moved)",
        now + day * 2,
        "ada@example.com",
    )]);
    let feed = refresh(&app, c, &feed).await;
    assert_eq!(feed["events"], 1, "{feed}");
    let events = get(&app, c, &format!("/api/v1/crm/events?from={from}")).await;
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["title"], "Planning (moved)");
    assert_eq!(timeline(&app, c, ada).await.len(), 1);

    // Broken or oversized feeds get a clear error; the events already read stay.
    *feed_server.body.lock().unwrap() = "<html>Sign in</html>".into();
    let feed = refresh(&app, c, &feed).await;
    assert_eq!(feed["state"], "error");
    assert!(
        feed["error"].as_str().unwrap().contains("iCalendar"),
        "{feed}"
    );
    *feed_server.body.lock().unwrap() = format!("BEGIN:VCALENDAR\r\n{}", "X".repeat(21_000_000));
    let feed = refresh(&app, c, &feed).await;
    assert!(
        feed["error"].as_str().unwrap().contains("larger than"),
        "{feed}"
    );
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/events?from={from}"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Another user cannot see or touch it; unsubscribing removes its events.
    let (_, other) = app.member("other@example.com").await;
    assert_eq!(
        get(&app, &other, "/api/v1/crm/calendar-feeds").await,
        json!([])
    );
    let path = format!("/api/v1/crm/calendar-feeds/{}", feed["id"]);
    let (status, _) = send(&other, &app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
    let page = app.page_text(c, "/crm/settings/accounts").await;
    assert!(page.contains("Calendar subscriptions") && page.contains("Work"));
    assert!(
        !page.contains("/secret/basic.ics"),
        "the secret address stays secret"
    );
    let (status, _) = send(c, &app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/events?from={from}")).await,
        json!([])
    );
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/calendar-feeds",
        Some(json!({"name": "", "url": "ftp://example.com/x.ics"})),
    )
    .await;
    assert_eq!(status, 422);
    let mut fields = common::field_names(&problem);
    fields.sort();
    assert_eq!(fields, ["name", "url"]);
    app.stop().await;

    // Without the operator's permission, a loopback feed is refused when entered.
    let guarded =
        TestApp::spawn_with(backend, |s| s.outbound_allowed_networks = String::new()).await;
    guarded.setup_admin().await;
    let (status, problem) = send(
        &guarded.client,
        &guarded,
        reqwest::Method::POST,
        "/api/v1/crm/calendar-feeds",
        Some(json!({"name": "Home", "url": feed_server.url})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(common::field_names(&problem), ["url"]);
    guarded.stop().await;
}

/// Waits until the CalDAV account's sync after the state `before` ended.
async fn caldav_synced(app: &TestApp, client: &reqwest::Client, before: &Value) -> Value {
    let path = format!("/api/v1/crm/caldav-accounts/{}", before["id"]);
    let done = eventually(Duration::from_secs(30), || async {
        let now = get(app, client, &path).await;
        (now["state"] != "new" && now["next_sync_at"] != before["next_sync_at"]).then_some(now)
    })
    .await;
    done.unwrap_or_else(|| panic!("no CalDAV sync finished: {before}"))
}

fn vcalendar(event: &str) -> String {
    ics(&[event.to_string()])
}

async fn caldav_calendars_are_discovered_and_mirrored_incrementally(backend: Backend) {
    let alice = ("alice", "pw");
    let Some(dav) = Radicale::start(&[alice, ("bob", "pw")]) else {
        return;
    };
    dav.wait_ready().await;
    dav.make_calendar(alice, "alice/work/", "Work").await;
    dav.make_calendar(alice, "alice/home/", "Home").await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = contact(&app, c, "Ada", "ada@example.com").await;
    let now = jiff::Timestamp::from_millisecond(app.platform.now().as_millis()).unwrap();
    let day = jiff::SignedDuration::from_hours(24);
    let put = |path: &'static str, body: String| {
        let dav = &dav;
        async move {
            assert!(
                matches!(dav.call("PUT", path, alice, &body).await, 201 | 204),
                "PUT {path}"
            )
        }
    };
    put(
        "alice/work/coffee.ics",
        vcalendar(&ics_event(
            "coffee@x",
            "Coffee",
            now - day,
            "ada@example.com",
        )),
    )
    .await;
    put(
        "alice/work/plan.ics",
        vcalendar(&ics_event(
            "plan@x",
            "Planning",
            now + day,
            "ada@example.com",
        )),
    )
    .await;
    put(
        "alice/home/party.ics",
        vcalendar(&ics_event(
            "party@x",
            "Party",
            now + day + jiff::SignedDuration::from_hours(1),
            "bob@example.com",
        )),
    )
    .await;

    // Discovery finds both calendars; a wrong password or a non-CalDAV address is named.
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/caldav-accounts",
        Some(json!({"url": dav.url, "username": "alice", "password": "wrong"})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(common::field_names(&problem), ["password"]);
    let not_dav = Feed::start("hello".into()).await;
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/caldav-accounts",
        Some(json!({"url": not_dav.url, "username": "alice", "password": "pw"})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(common::field_names(&problem), ["url"]);
    let account = post(
        &app,
        c,
        "/api/v1/crm/caldav-accounts",
        json!({"url": dav.url, "username": "alice", "password": "pw"}),
    )
    .await;
    let names: Vec<&str> = account["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Home", "Work"]);
    assert!(account.get("password").is_none());
    let path = format!("/api/v1/crm/caldav-accounts/{}", account["id"]);
    let account = caldav_synced(&app, c, &account).await;
    assert_eq!(account["state"], "ok", "{account}");
    let from = (now - day * 7).to_string();
    let titles = |events: Value| -> Vec<String> {
        events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        titles(get(&app, c, &format!("/api/v1/crm/events?from={from}")).await),
        ["Coffee", "Planning", "Party"]
    );
    let tokens: Vec<Option<String>> =
        sqlx::query_scalar("SELECT sync_token FROM crm_caldav_calendars ORDER BY id")
            .fetch_all(app.platform.db.pool())
            .await
            .unwrap();
    assert!(
        tokens.iter().all(Option::is_some),
        "a sync token is kept: {tokens:?}"
    );
    keel_mindfulcrm::engine::cycle(&app.platform).await.unwrap();
    assert_eq!(
        timeline(&app, c, ada).await.len(),
        1,
        "the past meeting is on the timeline"
    );

    // Changed, deleted and created on the server: the next sync asks with the token.
    put(
        "alice/work/plan.ics",
        vcalendar(&ics_event(
            "plan@x",
            "Planning (moved)",
            now + day * 2,
            "ada@example.com",
        )),
    )
    .await;
    assert_eq!(
        dav.call("DELETE", "alice/work/coffee.ics", alice, "").await,
        200
    );
    put(
        "alice/work/review.ics",
        vcalendar(&ics_event(
            "review@x",
            "Review",
            now + day * 3,
            "ada@example.com",
        )),
    )
    .await;
    app.clock.advance(Duration::from_secs(1));
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::POST,
        &format!("{path}/sync"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let account = caldav_synced(&app, c, &account).await;
    assert_eq!(account["state"], "ok", "{account}");
    assert_eq!(
        titles(get(&app, c, &format!("/api/v1/crm/events?from={from}")).await),
        ["Party", "Planning (moved)", "Review"]
    );
    let after: Vec<Option<String>> =
        sqlx::query_scalar("SELECT sync_token FROM crm_caldav_calendars ORDER BY id")
            .fetch_all(app.platform.db.pool())
            .await
            .unwrap();
    assert_ne!(after, tokens, "the work calendar's token moved on");
    assert_eq!(
        timeline(&app, c, ada).await.len(),
        1,
        "the interaction stays"
    );

    // Deselecting a calendar removes its events; another user sees nothing; removal cleans up.
    let work = account["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Work")
        .unwrap()["id"]
        .clone();
    let (status, account) = send(
        c,
        &app,
        reqwest::Method::PUT,
        &format!("{path}/calendars"),
        Some(json!({"selected": [work]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(account["calendars"][0]["selected"], false);
    assert_eq!(
        titles(get(&app, c, &format!("/api/v1/crm/events?from={from}")).await),
        ["Planning (moved)", "Review"]
    );
    let (_, other) = app.member("other@example.com").await;
    assert_eq!(
        get(&app, &other, "/api/v1/crm/caldav-accounts").await,
        json!([])
    );
    let (status, _) = send(&other, &app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
    let (status, _) = send(c, &app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(
        get(&app, c, &format!("/api/v1/crm/events?from={from}")).await,
        json!([])
    );
    app.stop().await;
}
