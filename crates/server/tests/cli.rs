//! The `keel` binary as an operator uses it.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn keel(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    cmd.arg("--data-dir").arg(data_dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("KEEL_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1").env("RUST_LOG", "warn");
    cmd
}

/// `keel backup --to <to>` on `data_dir`, which must succeed.
fn take_backup(data_dir: &std::path::Path, to: &std::path::Path) {
    let out = keel(data_dir)
        .arg("backup")
        .arg("--to")
        .arg(to)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_with_stdin(mut cmd: Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `keel bench escalation` runs the engine over a burst and fails unless every incident
/// escalated exactly once.
#[test]
fn the_escalation_benchmark_takes_each_step_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = keel(dir.path())
        .args([
            "bench",
            "escalation",
            "--incidents",
            "300",
            "--spread-seconds",
            "1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("300 escalations for 300 incidents"),
        "{stdout}"
    );
    assert!(stdout.contains("300 notifications queued"), "{stdout}");
}

#[test]
fn config_check_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let ok = keel(dir.path()).args(["config", "check"]).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("configuration OK"));

    let bad = keel(dir.path())
        .env("KEEL_LISTEN", "not-an-address")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("KEEL_LISTEN"));

    let pg = keel(dir.path())
        .env("KEEL_DATABASE_URL", "postgres://localhost/keel")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(pg.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&pg.stderr).contains("KEEL_SECRET_KEY"));

    std::fs::write(
        dir.path().join("bad.toml"),
        "listen = \"127.0.0.1:9000\"\nlisten_port = 3\n",
    )
    .unwrap();
    let unknown = keel(dir.path())
        .arg("--config")
        .arg(dir.path().join("bad.toml"))
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("listen_port"));
}

#[test]
fn users_tokens_and_backups_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut create = keel(dir.path());
    create.args([
        "user",
        "create",
        "--email",
        "Ops@Example.com",
        "--admin",
        "--password-stdin",
    ]);
    let out = run_with_stdin(create, "correct horse battery\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin user ops@example.com"));

    let mut weak = keel(dir.path());
    weak.args([
        "user",
        "create",
        "--email",
        "x@example.com",
        "--password-stdin",
    ]);
    let out = run_with_stdin(weak, "short\n");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password: must be at least 10 characters")
    );

    let token = keel(dir.path())
        .args([
            "token",
            "create",
            "--user",
            "ops@example.com",
            "--name",
            "deploy",
        ])
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    assert!(
        String::from_utf8_lossy(&token.stdout)
            .trim()
            .starts_with("keel_")
    );

    let mut reset = keel(dir.path());
    reset.args([
        "user",
        "reset-password",
        "--email",
        "ops@example.com",
        "--password-stdin",
    ]);
    assert!(
        run_with_stdin(reset, "another long password\n")
            .status
            .success()
    );

    let backup = dir.path().join("backup.db");
    take_backup(dir.path(), &backup);
    assert!(std::fs::metadata(&backup).unwrap().len() > 0);
    let again = keel(dir.path())
        .arg("backup")
        .arg("--to")
        .arg(&backup)
        .output()
        .unwrap();
    assert!(!again.status.success(), "never overwrites an existing file");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // Private whatever the umask: the key, the database and its log, and backups.
        for file in [
            "secret.key",
            "keel.db",
            "keel.db-wal",
            "keel.db-shm",
            "backup.db",
        ] {
            let path = dir.path().join(file);
            if path.exists() || file != "keel.db-wal" && file != "keel.db-shm" {
                assert_eq!(mode(&path), 0o600, "{file}");
            }
        }
        // A data directory keel creates is its owner's alone.
        let fresh = dir.path().join("fresh");
        let out = keel(&fresh).arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(mode(&fresh), 0o700);
        assert_eq!(mode(&fresh.join("keel.db")), 0o600);
        // Wider files left by an older install are reported at start.
        std::fs::set_permissions(
            fresh.join("keel.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let out = keel(&fresh).arg("migrate").output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("readable by other users"), "{log}");
    }
}

#[test]
fn serve_prints_its_url_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = serve(dir.path());
    let health = std::process::Command::new("curl")
        .args(["-s", &format!("{url}/healthz")])
        .output();
    if let Ok(health) = health {
        assert_eq!(String::from_utf8_lossy(&health.stdout), "ok");
    }
    let ready = keel(dir.path())
        .args(["healthcheck", "--url", &format!("{url}/readyz")])
        .output()
        .unwrap();
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    unsafe_sigterm(child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful exit, got {status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let gone = keel(dir.path())
        .args(["healthcheck", "--url", &format!("{url}/readyz")])
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(1), "a stopped server is not ready");
}

fn unsafe_sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts `keel serve` on a free loopback port in `dir`; returns the process and its URL.
fn serve(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut child = keel(dir)
        .args(["--listen", "127.0.0.1:0", "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(
        line.starts_with("keel is listening on http://127.0.0.1:"),
        "{line}"
    );
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    (child, url)
}

fn stop(mut child: std::process::Child) {
    unsafe_sigterm(child.id());
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_ingest_restores_everything_answered_before_it() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let live = tempfile::tempdir().unwrap();
    let mut create = keel(live.path());
    create.args([
        "user",
        "create",
        "--email",
        "ops@example.com",
        "--admin",
        "--password-stdin",
    ]);
    assert!(
        run_with_stdin(create, "correct horse battery\n")
            .status
            .success()
    );
    let out = keel(live.path())
        .args([
            "token",
            "create",
            "--user",
            "ops@example.com",
            "--name",
            "restore test",
        ])
        .output()
        .unwrap();
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (server, url) = serve(live.path());
    keel_platform::crypto::install_tls_provider();
    let http = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, format!("{url}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let json = |r: reqwest::Response| async move {
        assert!(r.status().is_success(), "{}", r.status());
        r.json::<serde_json::Value>().await.unwrap()
    };
    let team = json(
        api(
            reqwest::Method::POST,
            "/api/v1/teams",
            serde_json::json!({"name": "Ops"}),
        )
        .await
        .unwrap(),
    )
    .await;
    let service = json(
        api(
            reqwest::Method::POST,
            "/api/v1/services",
            serde_json::json!({"team_id": team["id"], "name": "api"}),
        )
        .await
        .unwrap(),
    )
    .await;
    let integration = json(
        api(
            reqwest::Method::POST,
            &format!("/api/v1/services/{}/integrations", service["id"]),
            serde_json::json!({"type": "events_v2", "name": "pd"}),
        )
        .await
        .unwrap(),
    )
    .await;
    let key = integration["key"].as_str().unwrap().to_string();

    // One sender, one event at a time, each with its own dedup key: `answered` counts the
    // events acknowledged (202, committed) so far.
    let answered = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn({
        let (answered, done, http, url) =
            (answered.clone(), done.clone(), http.clone(), url.clone());
        async move {
            let mut n = 0;
            while !done.load(Ordering::SeqCst) {
                let answer = http
                    .post(format!("{url}/v2/enqueue"))
                    .json(&serde_json::json!({"routing_key": key, "event_action": "trigger",
                        "dedup_key": format!("e{n}"),
                        "payload": {"summary": "disk full", "source": "db1", "severity": "critical"}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 202);
                n += 1;
                answered.store(n, Ordering::SeqCst);
            }
        }
    });
    while answered.load(Ordering::SeqCst) < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let copy = live.path().join("during-ingest.db");
    let before_backup = answered.load(Ordering::SeqCst);
    take_backup(live.path(), &copy);
    done.store(true, Ordering::SeqCst);
    sender.await.unwrap();
    stop(server);

    // Restore into a new data directory that has the same secret key.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(
        live.path().join("secret.key"),
        restored.path().join("secret.key"),
    )
    .unwrap();
    let out = keel(restored.path())
        .arg("restore")
        .arg("--from")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = keel(restored.path())
        .arg("restore")
        .arg("--from")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!again.status.success(), "never over an existing database");
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let not_keel = restored.path().join("not-keel.db");
    std::fs::write(&not_keel, b"hello").unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = keel(empty.path())
        .arg("restore")
        .arg("--from")
        .arg(&not_keel)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a file that is not a database is refused"
    );

    let db_url = format!(
        "sqlite://{}?mode=ro",
        restored.path().join("keel.db").display()
    );
    let db = keel_platform::db::Db::connect(&db_url, keel_platform::config::Backend::Sqlite, 1)
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let keys: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT dedup_key FROM oa_incidents")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .into_iter()
            .collect();
    db.close().await;
    let missing: Vec<usize> = (0..before_backup)
        .filter(|n| !keys.contains(&format!("e{n}")))
        .collect();
    assert!(
        missing.is_empty(),
        "answered before the backup but not restored: {missing:?}"
    );

    // The restored node serves, and the old token still works against it.
    let (server, url) = serve(restored.path());
    let ready = keel(restored.path())
        .args(["healthcheck", "--url", &format!("{url}/readyz")])
        .output()
        .unwrap();
    assert!(ready.status.success());
    let incidents = http
        .get(format!("{url}/api/v1/incidents?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(incidents.status(), 200);
    stop(server);
}
