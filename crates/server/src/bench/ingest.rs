//! `keel bench ingest`: drives `POST /v2/enqueue` with a mix of new and duplicate dedup keys,
//! and reports events/s and latency percentiles. Every 202 counted was committed before it was
//! sent. With `--versus-alertmanager`, each run is followed by the same load, the same keys
//! and payload sizes, on Prometheus Alertmanager's own `POST /api/v2/alerts`, and the ratio is
//! printed: keel's durable intake against Alertmanager's in-memory one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use keel_platform::config::{Config, Settings};
use keel_platform::domain::{OrgRole, Timestamp};
use keel_platform::store;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::alertmanager::Alertmanager;
use super::{ms, scratch_dir};

pub struct IngestBench {
    pub database_url: Option<String>,
    pub events: usize,
    pub connections: usize,
    /// Share of events that repeat an earlier dedup key (0.0–1.0).
    pub duplicates: f64,
    /// Runs, each on a fresh database.
    pub runs: usize,
    pub versus_alertmanager: bool,
}

/// Where the load goes.
#[derive(Clone)]
enum Intake {
    Keel { routing_key: Arc<str> },
    Alertmanager,
}

impl Intake {
    /// Event `i` as this intake's request: the same dedup key (`i % unique`), host and
    /// payload either way.
    fn request(&self, addr: std::net::SocketAddr, i: usize, unique: usize) -> String {
        let (path, body) = match self {
            Intake::Keel { routing_key } => (
                "/v2/enqueue",
                format!(
                    r#"{{"routing_key":"{routing_key}","event_action":"trigger","dedup_key":"bench-{}","payload":{{"summary":"Disk almost full on host-{}","source":"host-{}","severity":"critical","custom_details":{{"used_percent":97,"event":{i}}}}}}}"#,
                    i % unique,
                    i % 97,
                    i % 97
                ),
            ),
            Intake::Alertmanager => (
                "/api/v2/alerts",
                format!(
                    r#"[{{"labels":{{"alertname":"DiskFull","dedup":"bench-{}","instance":"host-{}","severity":"critical"}},"annotations":{{"summary":"Disk almost full on host-{}","used_percent":"97","event":"{i}"}}}}]"#,
                    i % unique,
                    i % 97,
                    i % 97
                ),
            ),
        };
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn accepted(&self, status_line: &str) -> bool {
        match self {
            Intake::Keel { .. } => status_line.starts_with("HTTP/1.1 202"),
            Intake::Alertmanager => status_line.starts_with("HTTP/1.1 200"),
        }
    }
}

/// One run's answers: accepted latencies, sorted; failures; wall time.
struct Measured {
    latencies: Vec<Duration>,
    failures: usize,
    elapsed: Duration,
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let last = self.latencies.len().saturating_sub(1);
        self.latencies
            .get(((self.latencies.len() as f64 * p) as usize).min(last))
            .copied()
            .unwrap_or_default()
    }

    fn summary(&self, unit: &str) -> String {
        format!(
            "{:>8.0} {unit}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  failed {}",
            self.per_second(),
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.failures
        )
    }
}

pub async fn ingest(options: IngestBench) -> anyhow::Result<()> {
    let peer = if options.versus_alertmanager {
        Some(Alertmanager::start().await?)
    } else {
        None
    };
    let unique =
        ((options.events as f64) * (1.0 - options.duplicates.clamp(0.0, 1.0))).max(1.0) as usize;
    println!(
        "ingest benchmark: {} events per run, {} connections, {} distinct dedup keys, {} run(s)",
        options.events,
        options.connections,
        unique,
        options.runs.max(1)
    );
    let mut ratios = Vec::new();
    for run in 1..=options.runs.max(1) {
        let dir = scratch_dir()?;
        let keel = run_keel(&options, &dir, unique).await;
        let _ = std::fs::remove_dir_all(&dir);
        let keel = keel?;
        println!("run {run}  keel          {}", keel.summary("events"));
        if let Some(peer) = &peer {
            let theirs = drive(peer.addr, Intake::Alertmanager, &options, unique).await?;
            println!("run {run}  alertmanager  {}", theirs.summary("alerts"));
            let ratio = keel.per_second() / theirs.per_second();
            println!("run {run}  keel / alertmanager throughput {ratio:.2}");
            ratios.push(ratio);
        }
    }
    if !ratios.is_empty() {
        ratios.sort_by(f64::total_cmp);
        println!(
            "median keel / alertmanager throughput over {} runs: {:.2}",
            ratios.len(),
            ratios[ratios.len() / 2]
        );
    }
    Ok(())
}

/// One run against a keel started in this process on a fresh database in `dir` (or the
/// PostgreSQL URL given).
async fn run_keel(
    options: &IngestBench,
    dir: &std::path::Path,
    unique: usize,
) -> anyhow::Result<Measured> {
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        database_url: options.database_url.clone(),
        secret_key: Some(keel_platform::crypto::random_token(40)),
        ingest_rate_limit_per_minute: u32::MAX,
        database_max_connections: Some(8),
        ..Settings::default()
    };
    let config = Config::validate(settings)?;
    let backend = config.backend;
    let platform = crate::platform(config, crate::system_clock()).await?;
    let (service_id, routing_key) = prepare(&platform).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(crate::serve(platform.clone(), listener, stopped));
    let intake = Intake::Keel {
        routing_key: routing_key.into(),
    };
    let measured = drive(addr, intake, options, unique).await?;
    let incidents: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM oa_incidents WHERE service_id = $1")
            .bind(service_id)
            .fetch_one(platform.db.pool())
            .await?;
    let alerts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oa_alerts WHERE service_id = $1")
        .bind(service_id)
        .fetch_one(platform.db.pool())
        .await?;
    println!("        keel stored {incidents} incidents and {alerts} alerts ({backend:?})");
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    Ok(measured)
}

/// Sends `options.events` events over `options.connections` keep-alive connections.
async fn drive(
    addr: std::net::SocketAddr,
    intake: Intake,
    options: &IngestBench,
    unique: usize,
) -> anyhow::Result<Measured> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..options.connections {
        let (next, intake) = (next.clone(), intake.clone());
        let total = options.events;
        workers.push(tokio::spawn(async move {
            client(addr, &intake, next, total, unique).await
        }));
    }
    let mut latencies = Vec::with_capacity(options.events);
    let mut failures = 0usize;
    for worker in workers {
        let (lat, failed) = worker.await??;
        latencies.extend(lat);
        failures += failed;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Ok(Measured {
        latencies,
        failures,
        elapsed,
    })
}

/// A team, a service and an Events v2 integration; returns the service and the routing key.
pub(super) async fn prepare(platform: &keel_platform::Platform) -> anyhow::Result<(i64, String)> {
    let now = platform.now();
    let suffix = keel_platform::crypto::random_token(6);
    let team =
        store::teams::insert_team(platform.db.pool(), &format!("bench-{suffix}"), "", now).await?;
    let _ = store::accounts::insert_user(
        platform.db.pool(),
        store::accounts::NewUser {
            email: &format!("bench-{suffix}@example.com"),
            name: "bench",
            password_hash: "!",
            role: OrgRole::Member,
            now,
        },
    )
    .await;
    let fields = keel_openalert::store::services::ServiceFields {
        team_id: team.id,
        name: "bench",
        description: "",
        escalation_policy_id: None,
        urgency_rule: keel_openalert::domain::UrgencyRule::Severity,
        auto_resolve_minutes: None,
        ack_timeout_minutes: None,
    };
    let service =
        keel_openalert::store::services::insert_service(platform.db.pool(), &fields, now).await?;
    let key = keel_platform::crypto::random_token(32);
    let integration = keel_openalert::store::services::NewIntegration {
        service_id: service.id,
        kind: keel_openalert::domain::IntegrationKind::EventsV2,
        name: "bench",
        key_hash: &platform
            .secret
            .hash_token(keel_openalert::catalog::KEY_PURPOSE, &key),
        key_prefix: &key[..6],
        rate_limit_per_minute: None,
        heartbeat_seconds: None,
    };
    keel_openalert::store::services::insert_integration(
        platform.db.pool(),
        &integration,
        Timestamp::from_millis(now.as_millis()),
    )
    .await?;
    Ok((service.id, key))
}

/// One keep-alive HTTP/1.1 connection sending events until the shared counter runs out.
async fn client(
    addr: std::net::SocketAddr,
    intake: &Intake,
    next: Arc<std::sync::atomic::AtomicUsize>,
    total: usize,
    unique: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut latencies = Vec::new();
    let mut failures = 0;
    let mut line = String::new();
    loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if i >= total {
            break;
        }
        let request = intake.request(addr, i, unique);
        let sent = Instant::now();
        write.write_all(request.as_bytes()).await?;
        line.clear();
        read.read_line(&mut line)
            .await
            .context("reading the status line")?;
        let accepted = intake.accepted(&line);
        let mut length = 0usize;
        loop {
            line.clear();
            read.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut sink = vec![0u8; length];
        read.read_exact(&mut sink).await?;
        if accepted {
            latencies.push(sent.elapsed());
        } else {
            failures += 1;
        }
    }
    Ok((latencies, failures))
}
