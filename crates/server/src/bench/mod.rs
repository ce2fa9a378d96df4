//! `keel bench …`: benchmarks against a server started in this process on a fresh database
//! (SQLite in a scratch directory, or the PostgreSQL URL given), driven over loopback with
//! keep-alive HTTP/1.1 connections. `ingest` times alert intake, `crm` the CRM's pages and API,
//! `status` a status page's public documents.

mod crm;
mod ingest;
mod status;

pub use crm::{CrmBench, crm};
pub use ingest::{IngestBench, ingest};
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

/// One GET on a keep-alive connection with extra header lines (each ending in CRLF); returns
/// the body (Content-Length or chunked) as sent.
async fn get(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    addr: std::net::SocketAddr,
    path: &str,
    headers: &str,
) -> anyhow::Result<Vec<u8>> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n");
    write.write_all(request.as_bytes()).await?;
    let mut line = String::new();
    read.read_line(&mut line).await?;
    anyhow::ensure!(line.contains(" 200 "), "GET {path}: {}", line.trim());
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
    Ok(body)
}
