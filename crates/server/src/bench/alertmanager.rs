//! Prometheus Alertmanager as the yardstick of `keel bench ingest --versus-alertmanager`:
//! started from the system's package on a free loopback port with a receiver that sends
//! nothing, so that its own intake (`POST /api/v2/alerts`, kept in memory) can be timed under
//! the same load as keel's durable one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::scratch_dir;

/// The binary's names in Debian's package and upstream's release.
const BINARIES: &[&str] = &["prometheus-alertmanager", "alertmanager"];

pub struct Alertmanager {
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Alertmanager {
    pub async fn start() -> anyhow::Result<Self> {
        let binary = BINARIES
            .iter()
            .find(|name| on_path(name))
            .context("no Alertmanager on PATH: install the prometheus-alertmanager package")?;
        let dir = scratch_dir()?;
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n",
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            // A single instance: no gossip port.
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let peer = Self { addr, child, dir };
        for _ in 0..100 {
            if ready(addr).await {
                return Ok(peer);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{binary} did not become ready on {addr}")
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// Whether `GET /-/ready` answers 200.
async fn ready(addr: SocketAddr) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let request = format!("GET /-/ready HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    answer.starts_with(b"HTTP/1.1 200")
}
