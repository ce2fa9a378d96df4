//! MindfulCRM's AI assistant over HTTP, on SQLite and PostgreSQL, against a fake
//! OpenAI-compatible server started by the test that checks the wire contract: opt-in and
//! privacy, the cached relationship summary, fallback across models, and budgets that hold
//! under concurrent calls and roll over with the month.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Backend, TestApp, crm_contact, eventually, get, post, send};
use keel_mindfulcrm::ai::ask::{AskError, Question, ask};
use keel_mindfulcrm::ai::selector::Tier;
use serde_json::{Value, json};

on_both_backends!(
    summaries_follow_the_wire_contract_and_are_cached,
    failing_models_fall_back_in_order_and_each_attempt_is_in_the_ledger,
    concurrent_calls_never_overspend_and_budgets_roll_over,
    follow_ups_are_proposed_and_become_tasks_only_when_accepted,
    the_dashboard_suggests_a_next_touch_for_due_contacts,
    the_settings_page_sets_up_providers_budgets_and_the_opt_in,
);

/// One request the fake provider received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// An OpenAI-compatible chat-completions server on loopback. Its answer depends on the model
/// asked for: `good` answers with usage figures, `exact` also reports a cost equal to the
/// worst case of the budget test, `limited` is rate limited, `broken` fails, `garbage`
/// answers what is not JSON, `slow` takes longer than any test's time limit.
struct FakeProvider {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

const ANSWER: &str = "Ada is an old friend from the rowing club. <script>alert(1)</script>";
const NEXT_TOUCH: &str =
    "{\"why\": \"A month since the regatta.\", \"draft\": \"Hi Ada! How did the race go? <3\"}";
const FOLLOW_UPS: &str = "Here you go: [{\"title\": \"Send Ada the regatta photos\", \"due\": \"2026-12-10\"}, \
    {\"title\": \"<b>Book</b> the boat\", \"due\": null}]";

impl FakeProvider {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                let log = log.clone();
                async move {
                    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let header =
                        |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
                    log.lock().unwrap().push(Seen {
                        path: uri.path().to_string(),
                        authorization: header("authorization"),
                        content_type: header("content-type"),
                        body: body.clone(),
                    });
                    let asked_for_follow_ups = body["messages"][0]["content"]
                        .as_str()
                        .is_some_and(|s| s.contains("follow-ups"));
                    let asked_for_a_touch = body["messages"][0]["content"]
                        .as_str()
                        .is_some_and(|s| s.contains("due for a reconnect"));
                    let content = if asked_for_follow_ups {
                        FOLLOW_UPS
                    } else if asked_for_a_touch {
                        NEXT_TOUCH
                    } else {
                        ANSWER
                    };
                    let ok = |usage: Value| {
                        let answer = json!({
                            "id": "chatcmpl-1", "object": "chat.completion",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                            "usage": usage,
                        });
                        (axum::http::StatusCode::OK, [("retry-after", "0")], answer.to_string())
                    };
                    match body["model"].as_str().unwrap_or("") {
                        "good" => ok(json!({"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150})),
                        "exact" => ok(json!({"prompt_tokens": 18, "completion_tokens": 100, "cost": 0.000118})),
                        "limited" => (
                            axum::http::StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "7")],
                            json!({"error": {"message": "slow down"}}).to_string(),
                        ),
                        "garbage" => (axum::http::StatusCode::OK, [("retry-after", "0")], "{\"choices\": [".into()),
                        "slow" => {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            ok(json!({}))
                        }
                        _ => (
                            axum::http::StatusCode::BAD_GATEWAY,
                            [("retry-after", "0")],
                            "upstream".into(),
                        ),
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Adds a provider with `models` (name, tier, dollars per million in and out); returns its id.
async fn provider(
    app: &TestApp,
    fake: &FakeProvider,
    timeout: i64,
    models: &[(&str, &str, f64, f64)],
) -> i64 {
    let c = &app.client;
    let added = post(
        app,
        c,
        "/api/v1/crm/ai/providers",
        json!({"name": "Fake", "base_url": fake.base_url, "api_key": "sk-test-123", "timeout_seconds": timeout}),
    )
    .await;
    let id = added["id"].as_i64().unwrap();
    for (name, tier, input, output) in models {
        post(
            app,
            c,
            &format!("/api/v1/crm/ai/providers/{id}/models"),
            json!({"name": name, "context_window": 128000, "input_price_per_million": input,
                   "output_price_per_million": output, "tier": tier}),
        )
        .await;
    }
    id
}

async fn opt_in(app: &TestApp, client: &reqwest::Client) -> Value {
    let (status, me) = send(
        client,
        app,
        reqwest::Method::PUT,
        "/api/v1/crm/ai/me",
        Some(json!({"opted_in": true})),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    me
}

/// Reads the summary until it is no longer being written.
async fn summary_done(app: &TestApp, client: &reqwest::Client, contact: i64) -> Value {
    let path = format!("/api/v1/crm/contacts/{contact}/summary");
    eventually(Duration::from_secs(20), || async {
        let s = get(app, client, &path).await;
        (s["state"] != "working").then_some(s)
    })
    .await
    .expect("the summary was written")
}

/// The contact page's HTML as sent (to see how model output is escaped).
async fn contact_html(app: &TestApp, contact: i64) -> String {
    let url = app.url(&format!("/crm/contacts/{contact}"));
    app.client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn ledger(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT model, outcome FROM crm_ai_ledger ORDER BY id")
        .fetch_all(app.platform.db.pool())
        .await
        .unwrap()
}

async fn summaries_follow_the_wire_contract_and_are_cached(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let ada = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Ada", "notes": "Met at the rowing club", "emails": [{"value": "ada@example.com"}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "call", "subject": "Regatta plans", "summary": "She is racing in May", "contact_ids": [ada]}),
    )
    .await;
    let path = format!("/api/v1/crm/contacts/{ada}/summary");

    // Off until a model is set up and the user opts in; nothing leaves the server.
    assert_eq!(get(&app, c, &path).await["state"], "off");
    provider(&app, &fake, 30, &[("good", "economy", 1.0, 2.0)]).await;
    let off = get(&app, c, &path).await;
    assert_eq!(off["state"], "off");
    assert!(
        off["message"].as_str().unwrap().contains("Turn on"),
        "{off}"
    );
    assert!(fake.seen().is_empty(), "no call before opting in");
    let me = opt_in(&app, c).await;
    assert_eq!(me["available"], true);
    assert_eq!(me["monthly_budget_usd"], 5.0);

    // The first read starts a summary; it lands once the job ran.
    assert_eq!(get(&app, c, &path).await["state"], "working");
    let ready = summary_done(&app, c, ada).await;
    assert_eq!(ready["state"], "ready", "{ready}");
    assert_eq!(ready["text"], ANSWER);
    assert_eq!(ready["model"], "Fake / good");
    assert_eq!(ready["stale"], false);
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let call = &seen[0];
    assert_eq!(call.path, "/v1/chat/completions");
    assert_eq!(call.authorization.as_deref(), Some("Bearer sk-test-123"));
    assert_eq!(call.content_type.as_deref(), Some("application/json"));
    assert_eq!(call.body["model"], "good");
    assert_eq!(call.body["max_tokens"], 400);
    assert_eq!(call.body["stream"], false);
    assert_eq!(call.body["messages"][0]["role"], "system");
    assert_eq!(call.body["messages"][1]["role"], "user");
    let prompt = call.body["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("Name: Ada")
            && prompt.contains("rowing club")
            && prompt.contains("Regatta plans"),
        "{prompt}"
    );

    // Cached: reading again costs nothing; a new interaction makes a new one.
    assert_eq!(get(&app, c, &path).await["state"], "ready");
    assert_eq!(fake.seen().len(), 1);
    post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "email", "subject": "Photos", "contact_ids": [ada]}),
    )
    .await;
    let again = get(&app, c, &path).await;
    assert_eq!(again["state"], "working");
    assert_eq!(again["stale"], true, "the old text is shown meanwhile");
    summary_done(&app, c, ada).await;
    assert_eq!(fake.seen().len(), 2);

    // The ledger and usage: 120 tokens at $1/M and 30 at $2/M are 180 micro-dollars a call.
    let usage = get(&app, c, "/api/v1/crm/ai/usage").await;
    assert_eq!(usage["by_feature"][0]["key"], "summary");
    assert_eq!(usage["by_feature"][0]["calls"], 2);
    assert_eq!(usage["by_feature"][0]["input_tokens"], 240);
    assert!((usage["by_feature"][0]["cost_usd"].as_f64().unwrap() - 0.00036).abs() < 1e-9);
    assert_eq!(usage["by_model"][0]["key"], "Fake / good");
    let me = get(&app, c, "/api/v1/crm/ai/me").await;
    assert!(
        (me["spent_usd"].as_f64().unwrap() - 0.00036).abs() < 1e-9,
        "{me}"
    );

    // The page shows the summary escaped.
    let html = contact_html(&app, ada).await;
    assert!(
        html.contains("Relationship summary") && html.contains("rowing club. &#60;script&#62;")
    );
    assert!(!html.contains("<script>alert"));
    let settings = app.page_text(c, "/crm/settings/ai").await;
    assert!(settings.contains("Fake") && settings.contains("Monthly budgets"));
    assert!(
        settings.contains("Usage this month, everyone") && settings.contains("admin@example.com")
    );
    let csv = app
        .client
        .get(app.url("/api/v1/crm/ai/ledger.csv?all=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("time,user,feature,provider,model"));
    assert!(
        lines[1].contains(",admin@example.com,summary,Fake,good,120,30,0.000180,")
            && lines[1].ends_with(",ok")
    );

    // The key is stored sealed.
    let sealed: String = sqlx::query_scalar("SELECT api_key_sealed FROM crm_ai_providers")
        .fetch_one(app.platform.db.pool())
        .await
        .unwrap();
    assert!(!sealed.contains("sk-test"));
    assert!(
        !get(&app, c, "/api/v1/crm/ai/providers")
            .await
            .to_string()
            .contains("sk-test"),
        "the key is never returned"
    );

    // Another user sees none of it, cannot manage providers, and has spent nothing.
    let (_, other) = app.member("other@example.com").await;
    let (status, _) = send(&other, &app, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 404);
    for admins_only in [
        "/api/v1/crm/ai/providers",
        "/api/v1/crm/ai/budgets",
        "/api/v1/crm/ai/usage?all=true",
        "/api/v1/crm/ai/ledger.csv?all=true",
    ] {
        let (status, _) = send(&other, &app, reqwest::Method::GET, admins_only, None).await;
        assert_eq!(status, 403, "{admins_only}");
    }
    assert_eq!(
        get(&app, &other, "/api/v1/crm/ai/usage").await["by_feature"],
        json!([])
    );
    let theirs = crm_contact(&app, &other, "Bo", "bo@example.com").await;
    assert_eq!(
        get(
            &app,
            &other,
            &format!("/api/v1/crm/contacts/{theirs}/summary")
        )
        .await["state"],
        "off",
        "not opted in: nothing is sent"
    );
    assert_eq!(fake.seen().len(), 2);

    // Bad settings are named.
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        "/api/v1/crm/ai/providers",
        Some(json!({"name": "", "base_url": "ftp://x", "timeout_seconds": 0})),
    )
    .await;
    assert_eq!(status, 422);
    let mut fields = common::field_names(&problem);
    fields.sort();
    assert_eq!(fields, ["base_url", "name", "timeout_seconds"]);
    app.stop().await;
}

async fn failing_models_fall_back_in_order_and_each_attempt_is_in_the_ledger(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    // Cheapest first within economy, then standard: limited, broken, garbage, slow, good.
    provider(
        &app,
        &fake,
        1,
        &[
            ("limited", "economy", 0.1, 0.1),
            ("broken", "economy", 0.2, 0.2),
            ("garbage", "economy", 0.3, 0.3),
            ("slow", "economy", 0.4, 0.4),
            ("good", "standard", 1.0, 1.0),
        ],
    )
    .await;
    opt_in(&app, c).await;
    let ada = crm_contact(&app, c, "Ada", "ada@example.com").await;
    get(&app, c, &format!("/api/v1/crm/contacts/{ada}/summary")).await;
    let done = summary_done(&app, c, ada).await;
    assert_eq!(done["state"], "ready", "{done}");
    assert_eq!(done["model"], "Fake / good");
    let asked: Vec<String> = fake
        .seen()
        .iter()
        .map(|s| s.body["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(asked, ["limited", "broken", "garbage", "slow", "good"]);
    let rows = ledger(&app).await;
    let outcomes: Vec<&str> = rows.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "provider_error",
            "provider_error",
            "provider_error",
            "timed_out",
            "ok"
        ]
    );
    // Failed attempts cost nothing: only the answered call is counted.
    let me = get(&app, c, "/api/v1/crm/ai/me").await;
    assert!(
        (me["spent_usd"].as_f64().unwrap() - 0.00015).abs() < 1e-9,
        "{me}"
    );
    let usage = get(&app, c, "/api/v1/crm/ai/usage").await;
    assert_eq!(usage["by_feature"][0]["failed"], 4);
    app.stop().await;
}

async fn concurrent_calls_never_overspend_and_budgets_roll_over(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = TestApp::spawn(backend).await;
    let admin = app.setup_admin().await;
    let user_id = admin["user"]["id"].as_i64().unwrap();
    let c = &app.client;
    // Worst case of each call: 18 prompt tokens at $1/M and 100 output tokens at $1/M, 118
    // micro-dollars, which is also what the provider reports it cost. Room for exactly 5.
    let id = provider(&app, &fake, 30, &[("exact", "economy", 1.0, 1.0)]).await;
    opt_in(&app, c).await;
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/crm/ai/users/{user_id}/budget"),
        Some(json!({"monthly_usd": 0.00059})),
    )
    .await;
    assert_eq!(status, 204);
    let question = Question {
        user_id,
        feature: "test",
        tier: Tier::Economy,
        system: "s",
        text: "t",
        max_tokens: 100,
    };
    let calls = (0..15).map(|_| ask(&app.platform, &question));
    let outcomes = futures_util::future::join_all(calls).await;
    let answered = outcomes.iter().filter(|o| o.is_ok()).count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Err(AskError::OverBudget(_))))
        .count();
    assert_eq!((answered, refused), (5, 10), "{outcomes:?}");
    assert_eq!(fake.seen().len(), 5);
    let refusal = outcomes
        .iter()
        .find_map(|o| match o {
            Err(AskError::OverBudget(r)) => Some(r.message()),
            _ => None,
        })
        .unwrap();
    assert!(
        refusal.starts_with("Your AI budget of $0.0006"),
        "{refusal}"
    );
    assert!(refusal.contains("resets on 1 "), "{refusal}");
    let me = get(&app, c, "/api/v1/crm/ai/me").await;
    assert_eq!(me["remaining_usd"], 0.0);
    // One warning that it is used up, however many calls crossed the line (and one at 80 %
    // before it when a call settled there first).
    let used_up = "MindfulCRM: your AI budget is used up".to_string();
    let warnings = eventually(Duration::from_secs(15), || async {
        let subjects = common::mailed(&app);
        subjects.contains(&used_up).then_some(subjects)
    })
    .await
    .expect("the budget warning is mailed");
    let mut once = warnings.clone();
    once.dedup();
    assert_eq!(once, warnings, "each warning goes out once");
    assert!(
        warnings
            .iter()
            .all(|w| w == &used_up || w.ends_with("is 80% used")),
        "{warnings:?}"
    );

    // Asked for explicitly over HTTP: 409 with the budget named.
    let ada = crm_contact(&app, c, "Ada", "ada@example.com").await;
    let (status, problem) = send(
        c,
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/crm/contacts/{ada}/summary"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Your AI budget")
    );

    // A failed call releases its reservation.
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/ai/providers/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let broken = provider(&app, &fake, 30, &[("broken", "economy", 0.0, 0.0)]).await;
    let spent_before = get(&app, c, "/api/v1/crm/ai/me").await["spent_usd"].clone();
    assert!(matches!(
        ask(&app.platform, &question).await,
        Err(AskError::Failed(_))
    ));
    assert_eq!(
        get(&app, c, "/api/v1/crm/ai/me").await["spent_usd"],
        spent_before
    );

    // Next month the budget is whole again.
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/crm/ai/providers/{broken}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    provider(&app, &fake, 30, &[("exact", "economy", 1.0, 1.0)]).await;
    app.clock.advance(Duration::from_secs(32 * 86_400));
    app.login(c, "admin@example.com", common::PASSWORD).await;
    let me = get(&app, c, "/api/v1/crm/ai/me").await;
    assert_eq!(me["spent_usd"], 0.0, "{me}");
    // Four calls one after another reach 80 % of it: that warning goes out for this month.
    let eighty = "MindfulCRM: your AI budget is 80% used".to_string();
    let sent = || {
        common::mailed(&app)
            .iter()
            .filter(|s| **s == eighty)
            .count()
    };
    let before = sent();
    for _ in 0..4 {
        assert!(ask(&app.platform, &question).await.is_ok());
    }
    eventually(Duration::from_secs(15), || async {
        (sent() == before + 1).then_some(())
    })
    .await
    .expect("the 80 % warning is mailed");
    app.stop().await;
}

/// `KEEL_BENCH_AI=1`: prompt assembly for a contact with 2,000 interactions, and the overhead
/// of a ledger reservation and its settlement, on SQLite or (with KEEL_TEST_DATABASE_URL)
/// PostgreSQL. Figures go to docs/benchmarks.md.
#[tokio::test]
async fn ai_benchmark() {
    if std::env::var("KEEL_BENCH_AI").is_err() {
        return;
    }
    let backend = if common::postgres_url().is_some() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let app = TestApp::spawn_with(backend, |s| s.rate_limit_per_minute = 100_000).await;
    let admin = app.setup_admin().await;
    let user_id = admin["user"]["id"].as_i64().unwrap();
    let c = &app.client;
    let ada = crm_contact(&app, c, "Ada", "ada@example.com").await;
    for n in 0..2_000 {
        post(
            &app,
            c,
            "/api/v1/crm/interactions",
            json!({"kind": "email", "subject": format!("Message {n}"),
                   "summary": "Thanks for the notes from Tuesday; see you at the regatta.", "contact_ids": [ada]}),
        )
        .await;
    }
    let mut prompt_ms = Vec::new();
    for _ in 0..50 {
        let started = std::time::Instant::now();
        let text = keel_mindfulcrm::ai::contact_texts::source_text(
            &app.platform,
            user_id,
            ada,
            keel_mindfulcrm::ai::contact_texts::TextKind::Summary,
        )
        .await
        .unwrap();
        prompt_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(text.len() > 20_000);
    }
    let model = keel_mindfulcrm::ai::selector::Model {
        id: 1,
        provider_id: 1,
        provider: "bench".into(),
        name: "bench".into(),
        context_window: 128_000,
        input_price_micros: 1,
        output_price_micros: 1,
        tier: Tier::Economy,
    };
    let mut ledger_ms = Vec::new();
    for _ in 0..1_000 {
        let started = std::time::Instant::now();
        let reservation =
            keel_mindfulcrm::ai::ledger::reserve(&app.platform, user_id, "bench", &model, 100, 1)
                .await
                .unwrap()
                .unwrap();
        let settlement = keel_mindfulcrm::ai::ledger::Settlement {
            outcome: "ok",
            input_tokens: 100,
            output_tokens: 10,
            cost_micros: 0,
            detail: None,
        };
        keel_mindfulcrm::ai::ledger::settle(&app.platform, &model, reservation, &settlement)
            .await
            .unwrap();
        ledger_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
    };
    println!(
        "AI on {backend:?}: prompt assembly (2,000 interactions) p50 {:.1} ms p99 {:.1} ms; reserve+settle p50 {:.2} ms p99 {:.2} ms",
        pct(&mut prompt_ms, 0.5),
        pct(&mut prompt_ms, 0.99),
        pct(&mut ledger_ms, 0.5),
        pct(&mut ledger_ms, 0.99),
    );
    app.stop().await;
}

async fn follow_ups_are_proposed_and_become_tasks_only_when_accepted(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    provider(&app, &fake, 30, &[("good", "economy", 1.0, 2.0)]).await;
    opt_in(&app, c).await;
    let ada = crm_contact(&app, c, "Ada", "ada@example.com").await;
    let proposals_path = format!("/api/v1/crm/ai/proposals?contact_id={ada}");

    // A hand-logged interaction is read once saved; the proposals wait for the user.
    let logged = post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "call", "subject": "Regatta", "summary": "I promised to send her the photos and to book the boat.", "contact_ids": [ada]}),
    )
    .await;
    let proposals = eventually(Duration::from_secs(20), || async {
        let list = get(&app, c, &proposals_path).await;
        (list.as_array().unwrap().len() == 2).then_some(list)
    })
    .await
    .expect("two follow-ups are proposed");
    assert_eq!(proposals[0]["interaction_id"], logged["id"]);
    let titles: Vec<&str> = proposals
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"Send Ada the regatta photos") && titles.contains(&"<b>Book</b> the boat")
    );
    assert_eq!(
        get(&app, c, "/api/v1/crm/tasks").await,
        json!([]),
        "nothing written before an accept"
    );
    let html = contact_html(&app, ada).await;
    assert!(html.contains("Proposed follow-ups") && html.contains("&#60;b&#62;Book"));
    assert!(!html.contains("<b>Book"));

    // Accepted with an edited title: a task with the interaction's contact, due that morning.
    let photos = proposals
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["due_on"] == "2026-12-10")
        .unwrap()["id"]
        .clone();
    let accept = format!("/api/v1/crm/ai/proposals/{photos}/accept");
    let (status, task) = send(
        c,
        &app,
        reqwest::Method::POST,
        &accept,
        Some(json!({"title": "Send the regatta photos"})),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["title"], "Send the regatta photos");
    assert_eq!(task["due_at"], "2026-12-10T09:00:00.000Z");
    assert_eq!(task["contacts"][0]["id"], ada);
    let (status, _) = send(c, &app, reqwest::Method::POST, &accept, Some(json!({}))).await;
    assert_eq!(status, 409, "one task per proposal");
    let boat = proposals
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["due_on"].is_null())
        .unwrap()["id"]
        .clone();
    // Accepted on the contact page, edited on the way.
    let back = format!("/crm/contacts/{ada}");
    let accepted = submit(
        &app,
        &format!("/crm/proposals/{boat}/accept"),
        &[
            ("back", back.as_str()),
            ("title", "Book the boat for Saturday"),
            ("due_on", "2026-12-12"),
        ],
    )
    .await;
    assert_eq!(accepted.0, 303);
    assert_eq!(get(&app, c, &proposals_path).await, json!([]));
    let tasks = get(&app, c, "/api/v1/crm/tasks").await;
    let titles: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2);
    assert!(titles.contains(&"Book the boat for Saturday"), "{titles:?}");

    // Synced mail is read only when asked.
    let calls = fake.seen().len();
    let synced = post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "email", "subject": "Photos", "summary": "Could you send me the photos from Saturday, please?", "source_ref": "mail:p@x", "contact_ids": [ada]}),
    )
    .await;
    let find = format!("/api/v1/crm/interactions/{}/action-items", synced["id"]);
    let (_, other) = app.member("other@example.com").await;
    let (status, _) = send(&other, &app, reqwest::Method::POST, &find, None).await;
    assert_eq!(status, 404, "another user's interaction");
    let (status, _) = send(
        &other,
        &app,
        reqwest::Method::POST,
        &accept.replace("accept", "dismiss"),
        None,
    )
    .await;
    assert_eq!(status, 404, "another user's proposal");
    assert_eq!(fake.seen().len(), calls, "not read on its own");
    let (status, _) = send(c, &app, reqwest::Method::POST, &find, None).await;
    assert_eq!(status, 202);
    eventually(Duration::from_secs(20), || async {
        (get(&app, c, &proposals_path)
            .await
            .as_array()
            .unwrap()
            .len()
            == 2)
            .then_some(())
    })
    .await
    .expect("the mail's follow-ups are proposed");
    // Dismissed: one through the API, one on the page.
    let open = get(&app, c, &proposals_path).await;
    let (first, second) = (open[0]["id"].clone(), open[1]["id"].clone());
    let dismiss = format!("/api/v1/crm/ai/proposals/{first}/dismiss");
    assert_eq!(
        send(c, &app, reqwest::Method::POST, &dismiss, None).await.0,
        204
    );
    let page_dismiss = format!("/crm/proposals/{second}/dismiss");
    assert_eq!(
        submit(&app, &page_dismiss, &[("back", back.as_str())])
            .await
            .0,
        303
    );
    assert_eq!(get(&app, c, &proposals_path).await, json!([]));
    app.stop().await;
}

async fn the_dashboard_suggests_a_next_touch_for_due_contacts(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    provider(&app, &fake, 30, &[("good", "economy", 1.0, 2.0)]).await;
    let ada = post(
        &app,
        c,
        "/api/v1/crm/contacts",
        json!({"given_name": "Ada", "cadence_days": 7}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let month_ago =
        jiff::Timestamp::from_millisecond(app.platform.now().as_millis() - 30 * 86_400_000)
            .unwrap();
    post(
        &app,
        c,
        "/api/v1/crm/interactions",
        json!({"kind": "call", "subject": "Regatta", "occurred_at": month_ago.to_string(), "contact_ids": [ada]}),
    )
    .await;
    // Off: the dashboard offers nothing and sends nothing.
    let page = app.page_text(c, "/crm").await;
    assert!(!page.contains("Suggested next touches"));
    assert!(fake.seen().is_empty());
    opt_in(&app, c).await;
    let page = app.page_text(c, "/crm").await;
    assert!(
        page.contains("Suggested next touches") && page.contains("Writing a suggestion"),
        "{page}"
    );
    let path = format!("/api/v1/crm/contacts/{ada}/next-touch");
    let ready = eventually(Duration::from_secs(20), || async {
        let t = get(&app, c, &path).await;
        (t["state"] == "ready").then_some(t)
    })
    .await
    .expect("the suggestion is written");
    assert_eq!(ready["text"], NEXT_TOUCH);
    let prompt = fake.seen()[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.contains("every 7 days") && prompt.contains("Regatta"),
        "{prompt}"
    );
    let html = app
        .client
        .get(app.url("/crm"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("A month since the regatta.") && html.contains("How did the race go? &#60;3")
    );
    // Unchanged history: viewing again costs nothing.
    app.page_text(c, "/crm").await;
    assert_eq!(fake.seen().len(), 1);
    app.stop().await;
}

/// Posts a form to a page; returns the status and the page it answered with.
async fn submit(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let answer = app
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

async fn the_settings_page_sets_up_providers_budgets_and_the_opt_in(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;

    // Mistakes are named on the page, the key is never sent back.
    let provider_form = [
        ("name", "Local"),
        ("base_url", "not a url"),
        ("api_key", "sk-page-secret"),
        ("timeout_seconds", "30"),
    ];
    let (status, html) = submit(&app, "/crm/settings/ai/providers", &provider_form).await;
    assert_eq!(status, 422);
    assert!(html.contains("must be a URL") && !html.contains("sk-page-secret"));
    let base_url = fake.base_url.clone();
    let provider_form = [
        ("name", "Local"),
        ("base_url", base_url.as_str()),
        ("api_key", ""),
        ("timeout_seconds", "30"),
    ];
    assert_eq!(
        submit(&app, "/crm/settings/ai/providers", &provider_form)
            .await
            .0,
        303
    );
    let providers = get(&app, c, "/api/v1/crm/ai/providers").await;
    assert_eq!(
        providers[0]["has_api_key"], false,
        "a local server needs no key"
    );
    let provider_id = providers[0]["id"].to_string();
    let model_form = [
        ("provider_id", provider_id.as_str()),
        ("name", "good"),
        ("context_window", "32000"),
        ("input_price_per_million", "0"),
        ("output_price_per_million", "0"),
        ("tier", "standard"),
    ];
    assert_eq!(
        submit(&app, "/crm/settings/ai/models", &model_form).await.0,
        303
    );
    let model = &get(&app, c, "/api/v1/crm/ai/providers").await[0]["models"][0];
    assert_eq!(
        (model["name"].as_str(), model["tier"].as_str()),
        (Some("good"), Some("standard"))
    );

    // Budgets: a bad amount is named, a good one saved.
    let (status, html) = submit(
        &app,
        "/crm/settings/ai/budgets",
        &[("global_monthly_usd", "lots"), ("user_monthly_usd", "2")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("must be a number"));
    let budgets = [("global_monthly_usd", "50"), ("user_monthly_usd", "2.5")];
    assert_eq!(
        submit(&app, "/crm/settings/ai/budgets", &budgets).await.0,
        303
    );
    let saved = get(&app, c, "/api/v1/crm/ai/budgets").await;
    assert_eq!(
        (
            saved["global_monthly_usd"].as_f64(),
            saved["user_monthly_usd"].as_f64()
        ),
        (Some(50.0), Some(2.5))
    );

    // The opt-in with a lower limit of one's own.
    let mine = [("opted_in", "on"), ("own_limit_usd", "1")];
    assert_eq!(submit(&app, "/crm/settings/ai", &mine).await.0, 303);
    let me = get(&app, c, "/api/v1/crm/ai/me").await;
    assert_eq!(
        (me["opted_in"].as_bool(), me["monthly_budget_usd"].as_f64()),
        (Some(true), Some(1.0))
    );
    let page = app.page_text(c, "/crm/settings/ai").await;
    assert!(page.contains("$0.00 of $1.00 used"), "{page}");

    // A member sees only their own part.
    let (_, other) = app.member("other@example.com").await;
    let theirs = other
        .get(app.url("/crm/settings/ai"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        theirs.contains("Turn on the AI assistant for me") && !theirs.contains("Add a provider")
    );
    let answer = other
        .post(app.url("/crm/settings/ai/budgets"))
        .form(&budgets)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    app.stop().await;
}
