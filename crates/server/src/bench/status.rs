//! `keel bench status`: a status page with many components and years of history, read the way
//! the public reads it — `summary.json` and the HTML page from many keep-alive connections —
//! reporting requests/s and latency percentiles for each.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use keel_platform::config::{Config, Settings};
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{get, ms, scratch_dir};

/// Browsers ask for compressed pages.
const BROWSER: &str = "Accept-Encoding: gzip, deflate, br\r\n";

pub struct StatusBench {
    pub database_url: Option<String>,
    pub components: usize,
    /// Days of history behind every component.
    pub days: usize,
    pub requests: usize,
    pub connections: usize,
}

pub async fn status(options: StatusBench) -> anyhow::Result<()> {
    let dir = scratch_dir()?;
    let result = run(&options, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(options: &StatusBench, dir: &std::path::Path) -> anyhow::Result<()> {
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        database_url: options.database_url.clone(),
        secret_key: Some(keel_platform::crypto::random_token(40)),
        rate_limit_per_minute: u32::MAX,
        ..Settings::default()
    };
    let config = Config::validate(settings)?;
    let backend = config.backend;
    let platform = crate::platform(config, crate::system_clock()).await?;
    let seeded = Instant::now();
    let slug = seed(&platform, options).await?;
    println!(
        "status benchmark: {} components, {} days of history, {:?} (seeded in {:.1} s)",
        options.components,
        options.days,
        backend,
        seeded.elapsed().as_secs_f64()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(crate::serve(platform.clone(), listener, stopped));
    for path in [
        format!("/status/{slug}/api/v2/summary.json"),
        format!("/status/{slug}"),
    ] {
        let (first, bytes) = {
            let stream = TcpStream::connect(addr).await?;
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            let started = Instant::now();
            let body = get(&mut write, &mut read, addr, &path, BROWSER).await?;
            (started.elapsed(), body.len())
        };
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..options.connections {
            let (next, path, total) = (next.clone(), path.clone(), options.requests);
            workers.push(tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                let mut times = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let sent = Instant::now();
                    get(&mut write, &mut read, addr, &path, BROWSER).await?;
                    times.push(sent.elapsed());
                }
                anyhow::Ok(times)
            }));
        }
        let mut times: Vec<Duration> = Vec::with_capacity(options.requests);
        for worker in workers {
            times.extend(worker.await??);
        }
        let elapsed = started.elapsed();
        times.sort_unstable();
        let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        println!(
            "{path}: {} bytes, first (uncached) {:.1} ms; {:.0} requests/s over {} connections; \
             p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            bytes,
            ms(first),
            times.len() as f64 / elapsed.as_secs_f64(),
            options.connections,
            ms(pct(0.50)),
            ms(pct(0.99)),
            ms(*times.last().unwrap_or(&Duration::ZERO)),
        );
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    Ok(())
}

/// A team, a page with `components` components in five groups, a status change every few days
/// for each over `days` days, and an incident every week with three updates. Returns the slug.
async fn seed(platform: &keel_platform::Platform, options: &StatusBench) -> anyhow::Result<String> {
    let now = platform.now().as_millis();
    let day = 86_400_000i64;
    let start = now - options.days as i64 * day;
    let mut tx = platform.db.begin().await?;
    let team: i64 = sqlx::query_scalar(
        "INSERT INTO teams (name, description, created_at, updated_at) VALUES ('Bench', '', $1, $1) RETURNING id",
    )
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let page: i64 = sqlx::query_scalar(
        "INSERT INTO oa_status_pages (team_id, name, slug, time_zone, logo_url, private, created_at, updated_at) \
         VALUES ($1, 'Bench status', 'bench', 'Europe/Berlin', '', 0, $2, $2) RETURNING id",
    )
    .bind(team)
    .bind(start)
    .fetch_one(&mut *tx)
    .await?;
    let mut groups = Vec::new();
    for g in 0..5 {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO oa_status_groups (page_id, name, position, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(page)
        .bind(format!("Region {g}"))
        .bind(g as i64)
        .bind(start)
        .fetch_one(&mut *tx)
        .await?;
        groups.push(id);
    }
    let statuses = [
        "degraded_performance",
        "partial_outage",
        "major_outage",
        "under_maintenance",
    ];
    let mut components = Vec::new();
    for c in 0..options.components {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO oa_status_components (page_id, group_id, name, description, position, status, created_at, updated_at) \
             VALUES ($1, $2, $3, 'A part of the product', $4, 'operational', $5, $5) RETURNING id",
        )
        .bind(page)
        .bind(groups[c % groups.len()])
        .bind(format!("Component {c}"))
        .bind(c as i64)
        .bind(start)
        .fetch_one(&mut *tx)
        .await?;
        components.push(id);
        // Operational, with a short bad spell every 3 to 7 days.
        let mut at = start;
        let mut i = 0usize;
        while at < now {
            let next_bad = at + ((3 + (c + i) % 5) as i64) * day;
            let bad_until = (next_bad + ((10 + (c * 7 + i * 13) % 170) as i64) * 60_000).min(now);
            let ok_end = next_bad.min(now);
            insert_interval(
                &mut tx,
                id,
                "operational",
                at,
                (ok_end < now).then_some(ok_end),
            )
            .await?;
            if ok_end >= now {
                break;
            }
            let status = statuses[(c + i) % statuses.len()];
            insert_interval(
                &mut tx,
                id,
                status,
                ok_end,
                (bad_until < now).then_some(bad_until),
            )
            .await?;
            at = bad_until;
            i += 1;
        }
    }
    let mut at = start;
    let mut n = 0;
    while at < now - day {
        let event: i64 = sqlx::query_scalar(
            "INSERT INTO oa_status_events (page_id, kind, name, status, impact, postmortem, auto_transition, started_at, resolved_at, created_at, updated_at) \
             VALUES ($1, 'incident', $2, 'resolved', 'minor', '', 0, $3, $4, $3, $4) RETURNING id",
        )
        .bind(page)
        .bind(format!("Elevated error rates #{n}"))
        .bind(at)
        .bind(at + 3_600_000)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO oa_status_event_components (event_id, component_id) VALUES ($1, $2)",
        )
        .bind(event)
        .bind(components[n % components.len()])
        .execute(&mut *tx)
        .await?;
        for (k, status) in ["investigating", "monitoring", "resolved"]
            .iter()
            .enumerate()
        {
            sqlx::query(
                "INSERT INTO oa_status_updates (event_id, status, body, changes, notify, created_at) \
                 VALUES ($1, $2, 'We are looking into elevated error rates for some requests.', '[]', 0, $3)",
            )
            .bind(event)
            .bind(*status)
            .bind(at + k as i64 * 1_200_000)
            .execute(&mut *tx)
            .await?;
        }
        at += 7 * day;
        n += 1;
    }
    tx.commit().await?;
    Ok("bench".into())
}

async fn insert_interval(
    tx: &mut keel_platform::db::Tx,
    component: i64,
    status: &str,
    start: i64,
    end: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO oa_status_intervals (component_id, status, started_at, ended_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(component)
    .bind(status)
    .bind(start)
    .bind(end)
    .execute(&mut **tx)
    .await
    .map(drop)
}
