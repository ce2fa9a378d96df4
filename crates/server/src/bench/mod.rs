//! `keel bench …`: benchmarks against a server started in this process on a fresh database
//! (SQLite in a scratch directory, or the PostgreSQL URL given), driven over loopback with
//! keep-alive HTTP/1.1 connections. `ingest` times alert intake (beside Prometheus
//! Alertmanager's, when asked), `crm` the CRM's pages and API,
//! `status` a status page's public documents, `analytics` the on-call reports, `escalation`
//! a burst of escalation steps falling due together, and `soak` runs
//! a mixed load for minutes to show whether memory or latency drift.

mod alertmanager;
mod analytics;
mod crm;
mod escalation;
mod ingest;
mod soak;
mod status;

pub use analytics::{AnalyticsBench, analytics};
pub use crm::{CrmBench, crm};
pub use escalation::{EscalationBench, escalation};
pub use ingest::{IngestBench, ingest};
pub use soak::{SoakBench, soak};
pub use status::{StatusBench, status};

use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// A private temporary data directory for one run.
fn scratch_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "keel-bench-{}",
        keel_platform::crypto::random_token(8)
    ));
    keel_platform::files::create_private_dir(&dir)?;
    Ok(dir)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A platform on `dir` (SQLite) or `database_url`, with rate limits out of the way.
async fn bench_platform(
    dir: &std::path::Path,
    database_url: Option<String>,
) -> anyhow::Result<(keel_platform::Platform, keel_platform::db::Backend)> {
    let settings = keel_platform::config::Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        database_url,
        secret_key: Some(keel_platform::crypto::random_token(40)),
        rate_limit_per_minute: u32::MAX,
        ingest_rate_limit_per_minute: u32::MAX,
        ..keel_platform::config::Settings::default()
    };
    let config = keel_platform::config::Config::validate(settings)?;
    let backend = config.backend;
    Ok((
        crate::platform(config, crate::system_clock()).await?,
        backend,
    ))
}

/// A fresh user with an API token: (user id, `Authorization` header line).
async fn bench_user(
    platform: &keel_platform::Platform,
    role: keel_platform::domain::OrgRole,
    prefix: &str,
) -> anyhow::Result<(i64, String)> {
    let email = format!(
        "{prefix}-{}@example.com",
        keel_platform::crypto::random_token(6).to_lowercase()
    );
    let user = keel_platform::store::accounts::insert_user(
        platform.db.pool(),
        keel_platform::store::accounts::NewUser {
            email: &email,
            name: "bench",
            password_hash: "!",
            role,
            now: platform.now(),
        },
    )
    .await?;
    let (_, token) = keel_platform::accounts::create_token_cli(platform, &email, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((user.id, format!("Authorization: Bearer {token}\r\n")))
}

/// Times `requests` GETs of `path` after one warm-up request on a keep-alive connection and
/// prints a row: the first request (cold caches, fresh statements) apart, then p50, p99 and
/// the slowest of the steady state.
async fn time_requests(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    addr: std::net::SocketAddr,
    (label, path): (&str, &str),
    headers: &str,
    requests: usize,
) -> anyhow::Result<()> {
    let sent = std::time::Instant::now();
    get(write, read, addr, path, headers).await?;
    let first = sent.elapsed();
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests.max(1) {
        let sent = std::time::Instant::now();
        get(write, read, addr, path, headers).await?;
        times.push(sent.elapsed());
    }
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "{label:<40} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        ms(first),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(*times.last().unwrap_or(&first))
    );
    Ok(())
}

/// Polls `GET /readyz` on a connection of its own, as a load balancer would, until the
/// server answers 200; returns how long that took.
async fn wait_until_ready(addr: std::net::SocketAddr) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let (status, _) = request(&mut write, &mut read, addr, "GET", "/readyz", "", None).await?;
        if status == 200 {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "not ready after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The header line of [`time_requests`] rows.
fn print_timing_header() {
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>9}",
        "request", "first ms", "p50 ms", "p99 ms", "max ms"
    );
}

/// One GET on a keep-alive connection with extra header lines (each ending in CRLF); returns
/// the body (Content-Length or chunked) as sent.
async fn get(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    addr: std::net::SocketAddr,
    path: &str,
    headers: &str,
) -> anyhow::Result<Vec<u8>> {
    let (status, body) = request(write, read, addr, "GET", path, headers, None).await?;
    anyhow::ensure!(status == 200, "GET {path}: {status}");
    Ok(body)
}

/// One request on a keep-alive connection, with a JSON body if given; returns the status
/// code and the body.
async fn request(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: Option<&str>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let request = match body {
        Some(body) => format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        None => format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n"),
    };
    write.write_all(request.as_bytes()).await?;
    let mut line = String::new();
    read.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{method} {path}: no status line ({})", line.trim()))?;
    let (mut length, mut chunked) = (0usize, false);
    loop {
        line.clear();
        read.read_line(&mut line).await?;
        let header = line.trim().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(v) = header.strip_prefix("content-length:") {
            length = v.trim().parse().context("content-length")?;
        }
        if header.starts_with("transfer-encoding:") && header.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            read.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim(), 16).context("chunk size")?;
            let mut chunk = vec![0; size + 2];
            read.read_exact(&mut chunk).await?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        read.read_exact(&mut body).await?;
    }
    Ok((status, body))
}
