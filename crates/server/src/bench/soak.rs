//! `keel bench soak`: a mixed load for several minutes — alert intake with mostly duplicate
//! keys and some resolves, incident lists and acknowledgements, CRM searches and logged
//! interactions, and live-update WebSocket clients — printing each minute's throughput, p99
//! per kind of request, failures and the process's resident memory, so drift shows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_platform::domain::OrgRole;
use keel_platform::observability::{resident_bytes, sqlite_memory_bytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{bench_platform, bench_user, ms, request, scratch_dir};

pub struct SoakBench {
    pub database_url: Option<String>,
    pub minutes: u64,
    /// Live-update clients held open for the whole run.
    pub websockets: usize,
}

/// Latencies and failures of the current minute, by kind of request.
#[derive(Default)]
struct Window {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    failures: BTreeMap<&'static str, usize>,
}

type Shared = Arc<Mutex<Window>>;

fn record(window: &Shared, kind: &'static str, took: Duration, ok: bool) {
    let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
    if ok {
        w.latencies.entry(kind).or_default().push(took);
    } else {
        *w.failures.entry(kind).or_default() += 1;
    }
}

pub async fn soak(options: SoakBench) -> anyhow::Result<()> {
    let dir = scratch_dir()?;
    let result = run(&options, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(options: &SoakBench, dir: &std::path::Path) -> anyhow::Result<()> {
    let (platform, backend) = bench_platform(dir, options.database_url.clone()).await?;
    let (_, key) = super::ingest::prepare(&platform).await?;
    let (user_id, auth) = bench_user(&platform, OrgRole::Admin, "soak").await?;
    keel_mindfulcrm::seed::seed(&platform, user_id, 2_000, 10_000)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_server, server_stopped) = watch::channel(false);
    let server = tokio::spawn(crate::serve(platform.clone(), listener, server_stopped));

    println!(
        "soak benchmark on {backend:?}: {} minutes; 2 ingest connections (500 keys, 1 in 10 a \
         resolve), 1 incident reader acknowledging, 1 CRM client, {} WebSocket clients",
        options.minutes, options.websockets
    );
    println!(
        "{:>6} {:>9} {:>9} {:>10} {:>10} {:>10} {:>8} {:>8} {:>9}",
        "minute",
        "ingest/s",
        "other/s",
        "ingest p99",
        "reads p99",
        "crm p99",
        "failed",
        "RSS MB",
        "SQLite MB"
    );
    let window: Shared = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(options.minutes * 60);
    let mut tasks = Vec::new();
    for n in 0..2 {
        let (window, key) = (window.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            ingest(addr, &key, n, deadline, &window).await
        }));
    }
    {
        let (window, auth) = (window.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            incidents(addr, &auth, deadline, &window).await
        }));
    }
    {
        let (window, auth) = (window.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            crm(addr, &auth, deadline, &window).await
        }));
    }
    for _ in 0..options.websockets {
        let auth = auth.clone();
        tasks.push(tokio::spawn(
            async move { listen(addr, &auth, deadline).await },
        ));
    }

    let mut minute = 0;
    let mut rows = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(60).min(deadline - Instant::now())).await;
        minute += 1;
        let w = std::mem::take(&mut *window.lock().unwrap_or_else(|e| e.into_inner()));
        let p99 = |kind: &str| {
            w.latencies.get(kind).map_or(0.0, |l| {
                let mut l = l.clone();
                l.sort_unstable();
                ms(l[((l.len() as f64 * 0.99) as usize).min(l.len() - 1)])
            })
        };
        let count = |kind: &str| w.latencies.get(kind).map_or(0, Vec::len);
        let ingested = count("ingest");
        let other =
            count("incidents") + count("acknowledge") + count("crm search") + count("crm log");
        let failed: usize = w.failures.values().sum();
        let rss = mb(resident_bytes().unwrap_or(0));
        let sqlite = mb(sqlite_memory_bytes());
        println!(
            "{minute:>6} {:>9.0} {:>9.0} {:>10.2} {:>10.2} {:>10.2} {failed:>8} {rss:>8.1} {sqlite:>9.1}",
            ingested as f64 / 60.0,
            other as f64 / 60.0,
            p99("ingest"),
            p99("incidents"),
            p99("crm search"),
        );
        rows.push((p99("ingest"), rss, failed));
    }
    for task in tasks {
        task.await??;
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let failed: usize = rows.iter().map(|r| r.2).sum();
        println!(
            "first minute: ingest p99 {:.2} ms, RSS {:.1} MB; last minute: ingest p99 {:.2} ms, \
             RSS {:.1} MB; failed requests in all: {failed}",
            first.0, first.1, last.0, last.1
        );
    }
    let _ = stop_server.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    Ok(())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn connect(
    addr: std::net::SocketAddr,
) -> anyhow::Result<(
    tokio::net::tcp::OwnedWriteHalf,
    BufReader<tokio::net::tcp::OwnedReadHalf>,
)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    Ok((write, BufReader::new(read)))
}

/// Events v2 triggers cycling over 500 dedup keys (so most repeat an open incident), every
/// tenth a resolve.
async fn ingest(
    addr: std::net::SocketAddr,
    key: &str,
    worker: usize,
    deadline: Instant,
    window: &Shared,
) -> anyhow::Result<()> {
    let (mut write, mut read) = connect(addr).await?;
    let mut i = worker;
    while Instant::now() < deadline {
        let action = if i % 10 == 9 { "resolve" } else { "trigger" };
        let body = format!(
            r#"{{"routing_key":"{key}","event_action":"{action}","dedup_key":"soak-{}","payload":{{"summary":"Latency high on host-{}","source":"host-{}","severity":"error"}}}}"#,
            i % 500,
            i % 31,
            i % 31
        );
        let sent = Instant::now();
        let (status, _) = request(
            &mut write,
            &mut read,
            addr,
            "POST",
            "/v2/enqueue",
            "",
            Some(&body),
        )
        .await?;
        record(window, "ingest", sent.elapsed(), status == 202);
        i += 2;
    }
    Ok(())
}

/// Lists open incidents and acknowledges the first triggered one, over and over.
async fn incidents(
    addr: std::net::SocketAddr,
    auth: &str,
    deadline: Instant,
    window: &Shared,
) -> anyhow::Result<()> {
    let (mut write, mut read) = connect(addr).await?;
    let path = "/api/v1/incidents?status=triggered&limit=50";
    while Instant::now() < deadline {
        let sent = Instant::now();
        let (status, body) = request(&mut write, &mut read, addr, "GET", path, auth, None).await?;
        record(window, "incidents", sent.elapsed(), status == 200);
        let list: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if let Some(id) = list["incidents"][0]["id"].as_i64() {
            let path = format!("/api/v1/incidents/{id}/acknowledge");
            let sent = Instant::now();
            let (status, _) =
                request(&mut write, &mut read, addr, "POST", &path, auth, Some("{}")).await?;
            // Someone else (a resolve) may have closed it first.
            record(window, "acknowledge", sent.elapsed(), status < 500);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Searches contacts by a changing prefix and logs an interaction with the first match.
async fn crm(
    addr: std::net::SocketAddr,
    auth: &str,
    deadline: Instant,
    window: &Shared,
) -> anyhow::Result<()> {
    let (mut write, mut read) = connect(addr).await?;
    let prefixes = ["an", "ma", "jo", "el", "sa", "li", "da", "ka"];
    let mut n = 0;
    while Instant::now() < deadline {
        let path = format!(
            "/api/v1/crm/contacts?q={}&limit=20",
            prefixes[n % prefixes.len()]
        );
        let sent = Instant::now();
        let (status, body) = request(&mut write, &mut read, addr, "GET", &path, auth, None).await?;
        record(window, "crm search", sent.elapsed(), status == 200);
        let found: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if let Some(id) = found["contacts"][0]["id"].as_i64() {
            let body = format!(
                r#"{{"kind":"call","subject":"Catch-up {n}","summary":"Talked about plans","contact_ids":[{id}]}}"#
            );
            let sent = Instant::now();
            let (status, _) = request(
                &mut write,
                &mut read,
                addr,
                "POST",
                "/api/v1/crm/interactions",
                auth,
                Some(&body),
            )
            .await?;
            record(
                window,
                "crm log",
                sent.elapsed(),
                status == 201 || status == 200,
            );
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// A live-update client: the WebSocket handshake, then reading whatever the server pushes.
async fn listen(addr: std::net::SocketAddr, auth: &str, deadline: Instant) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    let handshake = format!(
        "GET /api/v1/stream HTTP/1.1\r\nHost: {addr}\r\n{auth}Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c29hay1iZW5jaC1rZXkxMg==\r\n\r\n"
    );
    stream.write_all(handshake.as_bytes()).await?;
    let mut buffer = vec![0u8; 16 * 1024];
    let read = stream.read(&mut buffer).await?;
    let answer = String::from_utf8_lossy(&buffer[..read]);
    anyhow::ensure!(
        answer.starts_with("HTTP/1.1 101"),
        "the stream refused the WebSocket: {}",
        answer.lines().next().unwrap_or_default()
    );
    let header_end = answer.find("\r\n\r\n").map_or(read, |at| at + 4);
    let mut pending: Vec<u8> = buffer[header_end..read].to_vec();
    while Instant::now() < deadline {
        // Answer every ping, as a browser does, or the server closes the stream.
        while let Some((opcode, payload, used)) = frame(&pending) {
            if opcode == 0x9 {
                stream.write_all(&pong(&payload)).await?;
            }
            anyhow::ensure!(opcode != 0x8, "the server closed a live-update stream");
            pending.drain(..used);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) => anyhow::bail!("the server dropped a live-update stream"),
            Ok(Ok(n)) => pending.extend_from_slice(&buffer[..n]),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => break,
        }
    }
    Ok(())
}

/// The first whole server frame in `bytes` (servers do not mask): its opcode, payload and
/// length in bytes.
fn frame(bytes: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let (length, start) = match second & 0x7f {
        126 => (
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = bytes.get(start..start + length)?.to_vec();
    Some((first & 0x0f, payload, start + length))
}

/// A masked pong frame carrying `payload` (at most 125 bytes, as a ping's is).
fn pong(payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x81];
    let mut out = vec![0x8a, 0x80 | payload.len().min(125) as u8];
    out.extend_from_slice(&mask);
    out.extend(
        payload
            .iter()
            .take(125)
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4]),
    );
    out
}
