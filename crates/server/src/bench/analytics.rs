//! `keel bench analytics`: the Analytics page and API for one team at a seeded incident
//! history (by default a million incidents over two years).

use std::time::{Duration, Instant};

use keel_openalert::seed::{SeedPlan, seed};
use keel_platform::domain::OrgRole;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::scratch_dir;

pub struct AnalyticsBench {
    pub database_url: Option<String>,
    pub incidents: usize,
    pub teams: usize,
    pub days: i64,
    pub requests: usize,
}

pub async fn analytics(options: AnalyticsBench) -> anyhow::Result<()> {
    let dir = scratch_dir()?;
    let result = run(&options, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(options: &AnalyticsBench, dir: &std::path::Path) -> anyhow::Result<()> {
    let (platform, backend) = super::bench_platform(dir, options.database_url.clone()).await?;
    let started = Instant::now();
    let seeded = seed(
        &platform,
        &SeedPlan {
            teams: options.teams,
            services_per_team: 8,
            people_per_team: 6,
            incidents: options.incidents,
            days: options.days,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "analytics benchmark on {backend:?}: seeded {} incidents and {} pages for {} teams over {} days in {:.1} s",
        seeded.incidents,
        seeded.pages,
        seeded.teams.len(),
        options.days,
        started.elapsed().as_secs_f64()
    );
    let (_, auth) = super::bench_user(&platform, OrgRole::Admin, "analytics").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(crate::serve(platform.clone(), listener, stopped));

    let team = seeded.teams[0];
    let cases = [
        (
            "analytics API, one team, 90 days",
            format!("/api/v1/analytics?team_id={team}&days=90"),
        ),
        (
            "analytics page, one team, 90 days",
            format!("/openalert/analytics?team_id={team}&days=90"),
        ),
        (
            "analytics API, one team, 365 days",
            format!("/api/v1/analytics?team_id={team}&days=365"),
        ),
        (
            "analytics API, every team, 30 days",
            "/api/v1/analytics?days=30".to_string(),
        ),
        (
            "incidents CSV, one team, 30 days",
            format!("/api/v1/analytics/incidents.csv?team_id={team}&days=30"),
        ),
    ];
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    super::print_timing_header();
    for (label, path) in &cases {
        super::time_requests(
            &mut write,
            &mut read,
            addr,
            (label, path),
            &auth,
            options.requests,
        )
        .await?;
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    Ok(())
}
