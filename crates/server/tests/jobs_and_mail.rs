//! The durable job queue and mail delivery, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{Backend, PASSWORD, SmtpServer, TestApp, eventually};
use keel_platform::mail::{self, OutgoingMail};
use keel_platform::store;
use serde_json::json;

on_both_backends!(
    a_job_whose_worker_crashed_runs_again_after_its_lease,
    failing_jobs_back_off_then_become_visible_dead_letters,
    password_reset_mail_reaches_a_real_smtp_server,
    an_invitation_greets_instead_of_resetting,
    jobs_queued_together_are_each_delivered,
);

fn mail_to(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.into(),
        subject: "Hello".into(),
        text: "Body".into(),
        html: None,
        unsubscribe: None,
    }
}

async fn a_job_whose_worker_crashed_runs_again_after_its_lease(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let platform = &app.platform;
    let later = platform.now().plus(Duration::from_secs(3600));
    keel_platform::jobs::enqueue(
        platform.db.pool(),
        &mail::QueuedMail::seal(&platform.secret, &mail_to("ops@example.com")),
        later,
        5,
        platform.now(),
    )
    .await
    .unwrap();
    // A worker claims it when it is due… and dies without finishing.
    let lease = Duration::from_secs(300);
    let claimed = store::jobs::claim(
        platform.db.pool(),
        platform.db.dialect(),
        later,
        later.plus(lease),
        10,
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);

    // While the lease holds, nobody else runs it.
    app.clock.advance(Duration::from_secs(3600 + 60));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let stats = store::jobs::stats(platform.db.pool(), platform.now())
        .await
        .unwrap();
    assert_eq!(stats.running, 1);

    // Once it expires, the live worker takes it over and finishes it.
    app.clock.advance(lease);
    let mail_dir = platform.config.data_dir.join("mail");
    // The file appears before its content is written: wait for the whole message.
    let eml = eventually(Duration::from_secs(10), || {
        let dir = mail_dir.clone();
        async move {
            let path = std::fs::read_dir(&dir).ok()?.next()?.ok()?.path();
            std::fs::read_to_string(path)
                .ok()
                .filter(|text| text.contains("\r\n\r\n"))
        }
    })
    .await
    .expect("mail written after the lease expired");
    assert!(eml.contains("To: ops@example.com"), "{eml}");
    let gone = eventually(Duration::from_secs(5), || async {
        let s = store::jobs::stats(platform.db.pool(), platform.now())
            .await
            .unwrap();
        (s.queued + s.running + s.dead == 0).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the finished job is removed");
    // The crashed worker's late report cannot undo the second run (fenced by attempts).
    assert!(
        !store::jobs::complete(platform.db.pool(), claimed[0].id, claimed[0].attempts)
            .await
            .unwrap()
    );
    app.stop().await;
}

async fn failing_jobs_back_off_then_become_visible_dead_letters(backend: Backend) {
    // Nothing listens on this port: every delivery fails.
    let app = TestApp::spawn_with(backend, |s| {
        s.smtp_url = Some("smtp://127.0.0.1:9?timeout=1".into())
    })
    .await;
    app.setup_admin().await;
    let platform = &app.platform;
    let id = keel_platform::jobs::enqueue(
        platform.db.pool(),
        &mail::QueuedMail::seal(&platform.secret, &mail_to("ops@example.com")),
        platform.now(),
        3,
        platform.now(),
    )
    .await
    .unwrap();
    platform.job_wake.notify_one();
    let mut seen_attempts = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let dead = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the job never became a dead letter"
        );
        let overview = app.admin_api().get("/api/v1/admin/jobs").await.body;
        let job = overview["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .cloned();
        if let Some(job) = job {
            if job["status"] == "dead" {
                break Some((job, overview["stats"].clone()));
            }
            let attempts = job["attempts"].as_i64().unwrap();
            if job["status"] == "queued" && attempts > 0 && !seen_attempts.contains(&attempts) {
                seen_attempts.push(attempts);
                // The retry is scheduled in the future (backoff): move time to it.
                let run_at = keel_platform::domain::Timestamp::parse_rfc3339(
                    job["run_at"].as_str().unwrap(),
                )
                .unwrap();
                assert!(run_at > clock_now(&app.clock), "retry is backed off");
                app.clock.set(run_at);
                platform.job_wake.notify_one();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (job, stats) = dead.expect("the job ends as a dead letter");
    assert_eq!(job["attempts"], 3);
    assert!(
        job["last_error"].as_str().unwrap().contains("SMTP"),
        "{job}"
    );
    assert_eq!(stats["dead"], 1);
    assert!(!seen_attempts.is_empty());

    let metrics = app.admin_api().get("/metrics").await.text;
    assert!(metrics.contains("keel_jobs_dead 1"), "{metrics}");
    assert!(metrics.contains("keel_job_failures_total"));
    assert!(metrics.contains("keel_mail_failed_total"));

    // An admin can put it back in the queue.
    app.admin_api()
        .post(&format!("/api/v1/admin/jobs/{id}/retry"), None)
        .await
        .expect(204);
    let again = app
        .admin_api()
        .get("/api/v1/admin/jobs?status=dead")
        .await
        .body;
    assert!(
        again["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["id"] != id)
    );
    app.stop().await;
}

fn clock_now(clock: &keel_platform::clock::ManualClock) -> keel_platform::domain::Timestamp {
    use keel_platform::clock::Clock;
    clock.now()
}

async fn password_reset_mail_reaches_a_real_smtp_server(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    smtp.wait_ready().await;
    let app = TestApp::spawn_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
        s.public_url = Some("http://keel.test".into());
    })
    .await;
    app.setup_admin().await;
    app.request_password_reset("Admin@Example.com")
        .await
        .expect(202);
    let unknown = app.request_password_reset("nobody@example.com").await;
    assert_eq!(unknown.status, 202, "no account enumeration");

    let message = eventually(Duration::from_secs(15), || async {
        smtp.messages().into_iter().next()
    })
    .await
    .expect("reset mail delivered over SMTP");
    assert!(message.contains("admin@example.com"));
    assert!(message.contains("Reset your keel password"));
    let unfolded = message
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let token = unfolded
        .split("http://keel.test/reset-password?token=")
        .nth(1)
        .expect("link in mail")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>();
    assert_eq!(token.len(), 43);
    assert_eq!(smtp.messages().len(), 1, "only the real account got mail");

    app.confirm_password_reset(&token, "a fresh password")
        .await
        .expect(204);
    // Resetting ends existing sessions; the link works once.
    app.admin_api().get("/api/v1/me").await.expect(401);
    app.confirm_password_reset(&token, "another password")
        .await
        .expect(422);
    app.login(&app.new_client(), "admin@example.com", "a fresh password")
        .await;
    app.try_login("admin@example.com", PASSWORD)
        .await
        .expect(401);
    app.stop().await;
}

async fn an_invitation_greets_instead_of_resetting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    common::post(
        &app,
        &app.client,
        "/api/v1/users",
        json!({"email": "newcomer@example.com", "name": "Newcomer"}),
    )
    .await;
    let dir = app.db.dir().join("mail");
    let mail = eventually(Duration::from_secs(15), || async {
        std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .find_map(|e| std::fs::read_to_string(e.path()).ok())
    })
    .await
    .expect("invitation mailed");
    assert!(mail.contains("invited to keel"), "{mail}");
    let token: String = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
        .split("reset-password?token=")
        .nth(1)
        .expect("link in mail")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let page = app
        .page_text(
            &app.new_client(),
            &format!("/reset-password?token={token}&welcome=1"),
        )
        .await;
    assert!(page.contains("choose your password"), "{page}");
    assert!(!page.contains("sign in again"), "no reset wording: {page}");
    app.stop().await;
}

/// `jobs::enqueue_many` (a burst's messages in multi-row inserts) queues one job per payload,
/// each delivered once.
async fn jobs_queued_together_are_each_delivered(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    smtp.wait_ready().await;
    let app = TestApp::spawn_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
    })
    .await;
    let platform = &app.platform;
    let mails: Vec<_> = (0..3)
        .map(|n| mail::QueuedMail::seal(&platform.secret, &mail_to(&format!("ops{n}@example.com"))))
        .collect();
    let mut conn = platform.db.pool().acquire().await.unwrap();
    let queued = keel_platform::jobs::enqueue_many(
        &mut conn,
        platform.db.dialect(),
        &mails,
        platform.now(),
        3,
        platform.now(),
    )
    .await
    .unwrap();
    drop(conn);
    assert_eq!(queued, 3);
    platform.job_wake.notify_one();
    let delivered = eventually(Duration::from_secs(15), || async {
        let messages = smtp.messages();
        (messages.len() >= 3).then_some(messages)
    })
    .await
    .expect("three mails delivered");
    for n in 0..3 {
        let to = format!("ops{n}@example.com");
        assert_eq!(
            delivered.iter().filter(|m| m.contains(&to)).count(),
            1,
            "{to} got one mail"
        );
    }
    app.stop().await;
}
