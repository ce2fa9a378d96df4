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
    let out = keel(dir.path())
        .arg("backup")
        .arg("--to")
        .arg(&backup)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let mut child = keel(dir.path())
        .args(["--listen", "127.0.0.1:0", "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    let health = std::process::Command::new("curl")
        .args(["-s", &format!("{url}/healthz")])
        .output();
    if let Ok(health) = health {
        assert_eq!(String::from_utf8_lossy(&health.stdout), "ok");
    }
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
}

fn unsafe_sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
