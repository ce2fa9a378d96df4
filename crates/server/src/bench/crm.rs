//! `keel bench crm`: MindfulCRM's most used pages and API calls at a seeded size.

use std::time::{Duration, Instant};

use keel_platform::domain::OrgRole;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{get, scratch_dir};

pub struct CrmBench {
    pub database_url: Option<String>,
    pub contacts: usize,
    pub interactions: usize,
    pub requests: usize,
}

/// `keel bench crm`: seeds one user's CRM on a fresh database, then times the pages and API
/// calls people use most, one request at a time over loopback.
pub async fn crm(options: CrmBench) -> anyhow::Result<()> {
    let dir = scratch_dir()?;
    let result = run_crm(&options, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_crm(options: &CrmBench, dir: &std::path::Path) -> anyhow::Result<()> {
    let (platform, backend) = super::bench_platform(dir, options.database_url.clone()).await?;
    let (user_id, auth) = super::bench_user(&platform, OrgRole::Member, "crm").await?;
    let started = Instant::now();
    let seeded =
        keel_mindfulcrm::seed::seed(&platform, user_id, options.contacts, options.interactions)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "crm benchmark on {backend:?}: seeded {} contacts, {} interactions in {:.1} s",
        seeded.contacts,
        seeded.interactions,
        started.elapsed().as_secs_f64()
    );
    // Two goals, so the dashboard draws its chart from a million interactions.
    for (title, kind, period, target, stage) in [
        ("5 conversations a week", "interactions", "week", 5, None),
        (
            "Every close contact this quarter",
            "reconnect",
            "quarter",
            1,
            Some("close"),
        ),
    ] {
        sqlx::query(
            "INSERT INTO crm_goals (user_id, title, kind, period, target, stage, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, 0)",
        )
        .bind(user_id)
        .bind(title)
        .bind(kind)
        .bind(period)
        .bind(target)
        .bind(stage)
        .execute(platform.db.pool())
        .await?;
    }
    let busiest: i64 = sqlx::query_scalar(
        "SELECT contact_id FROM crm_interaction_contacts GROUP BY contact_id ORDER BY COUNT(*) DESC LIMIT 1",
    )
    .fetch_one(platform.db.pool())
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(crate::serve(platform.clone(), listener, stopped));

    let cases = [
        (
            "contact list (API, 50 by name)",
            "/api/v1/crm/contacts?limit=50".to_string(),
        ),
        ("contact list page 40 (keyset)", String::new()),
        (
            "tag filter",
            "/api/v1/crm/contacts?tag=tag-07&limit=50".to_string(),
        ),
        (
            "search (name words)",
            "/api/v1/crm/contacts?q=hopper%2012&limit=50".to_string(),
        ),
        (
            "search (interaction subject)",
            "/api/v1/crm/contacts?q=catch-up%2054321&limit=50".to_string(),
        ),
        (
            "contact page with timeline (HTML)",
            format!("/crm/contacts/{busiest}"),
        ),
        ("dashboard (HTML)", "/crm".to_string()),
    ];
    let ready_after = super::wait_until_ready(addr).await?;
    println!(
        "ready {:.0} ms after the server task started",
        super::ms(ready_after)
    );
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    super::print_timing_header();
    for (label, path) in cases {
        let path = if path.is_empty() {
            // Walk 40 pages in, then measure that page.
            let mut after = String::new();
            for _ in 0..40 {
                let body = get(
                    &mut write,
                    &mut read,
                    addr,
                    &format!("/api/v1/crm/contacts?limit=50{after}"),
                    &auth,
                )
                .await?;
                let page: serde_json::Value = serde_json::from_slice(&body)?;
                after = format!("&after={}", page["next"].as_str().unwrap_or_default());
            }
            format!("/api/v1/crm/contacts?limit=50{after}")
        } else {
            path
        };
        super::time_requests(
            &mut write,
            &mut read,
            addr,
            (label, &path),
            &auth,
            options.requests,
        )
        .await?;
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    Ok(())
}
