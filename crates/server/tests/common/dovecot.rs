//! A real Dovecot IMAP server on a free loopback port, with its own configuration, users and
//! maildirs in a temporary directory. Mail is delivered by writing maildir files, as a local
//! delivery agent would. As root, Dovecot's own accounts own the mail (it refuses uid 0).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct Dovecot {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    owner: Option<(u32, u32)>,
}

static DELIVERED: AtomicU64 = AtomicU64::new(0);

fn id(flag: &str, name: Option<&str>) -> Option<u32> {
    let mut cmd = Command::new("id");
    cmd.arg(flag);
    if let Some(name) = name {
        cmd.arg(name);
    }
    let out = cmd.output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

impl Dovecot {
    /// Starts Dovecot, or returns `None` (skipping the test) where it is not installed; CI
    /// must have it.
    pub fn start() -> Option<Self> {
        let binary = ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(binary) = binary else {
            assert!(
                std::env::var("CI").is_err(),
                "CI must provide dovecot (apt-get install dovecot-imapd)"
            );
            eprintln!("skipping: dovecot is not installed (apt-get install dovecot-imapd)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = super::free_port();
        let root = id("-u", None) == Some(0);
        let (internal, login, mail_user, owner) = if root {
            let uid = id("-u", Some("dovecot")).expect("user dovecot");
            let gid = id("-g", Some("dovecot")).expect("group dovecot");
            (
                "dovecot".to_string(),
                "dovenull".to_string(),
                format!("uid={uid} gid={gid}"),
                Some((uid, gid)),
            )
        } else {
            let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
                .unwrap()
                .trim()
                .to_string();
            let (uid, gid) = (id("-u", None).unwrap(), id("-g", None).unwrap());
            (me.clone(), me, format!("uid={uid} gid={gid}"), None)
        };
        let base = dir.path();
        for sub in ["run", "mail"] {
            std::fs::create_dir_all(base.join(sub)).unwrap();
        }
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(base.join("mail"), Some(uid), Some(gid)).unwrap();
        }
        std::fs::write(base.join("users"), "").unwrap();
        let config = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {b}/run\nstate_dir = {b}/run\n\
             log_path = {b}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             default_internal_user = {internal}\ndefault_internal_group = {internal}\ndefault_login_user = {login}\n\
             first_valid_uid = 1\nmail_location = maildir:{b}/mail/%u\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {b}/users\n}}\n\
             userdb {{\n  driver = static\n  args = {mail_user} home={b}/mail/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n\
             namespace inbox {{\n  inbox = yes\n  mailbox Sent {{\n    special_use = \\Sent\n    auto = subscribe\n  }}\n}}\n",
            b = base.display()
        );
        std::fs::write(base.join("dovecot.conf"), config).unwrap();
        let mut server = Self {
            port,
            dir,
            child: None,
            owner,
        };
        server.child = Some(server.spawn(binary));
        Some(server)
    }

    fn spawn(&self, binary: &str) -> Child {
        use std::os::unix::process::CommandExt;
        Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start dovecot")
    }

    pub async fn wait_ready(&self) {
        let ok = super::eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        assert!(ok.is_some(), "dovecot did not start: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    pub fn add_user(&self, name: &str, password: &str) {
        use std::io::Write;
        let mut users = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("users"))
            .unwrap();
        writeln!(users, "{name}:{{PLAIN}}{password}").unwrap();
        for folder in ["", ".Sent"] {
            self.make_folder(name, folder);
        }
    }

    fn folder_path(&self, user: &str, folder: &str) -> PathBuf {
        self.dir.path().join("mail").join(user).join(folder)
    }

    fn make_folder(&self, user: &str, folder: &str) {
        let path = self.folder_path(user, folder);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(path.join(sub)).unwrap();
        }
        if let Some((uid, gid)) = self.owner {
            for p in [
                self.dir.path().join("mail").join(user),
                path.clone(),
                path.join("cur"),
                path.join("new"),
                path.join("tmp"),
            ] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
            }
        }
    }

    /// Delivers a message to `folder` (`""` for INBOX, `.Sent`, `.Archive`…).
    pub fn deliver(&self, user: &str, folder: &str, message: &str) {
        self.deliver_received(user, folder, message, std::time::SystemTime::now());
    }

    /// Delivers a message that the server says it received at `received` (its INTERNALDATE:
    /// a maildir file's modification time), as when old mail is moved into a folder.
    pub fn deliver_received(
        &self,
        user: &str,
        folder: &str,
        message: &str,
        received: std::time::SystemTime,
    ) {
        self.make_folder(user, folder);
        let n = DELIVERED.fetch_add(1, Ordering::SeqCst);
        let name = format!("{}.M{n}P{}.keeltest", 1_700_000_000 + n, std::process::id());
        let path = self.folder_path(user, folder).join("new").join(name);
        std::fs::write(&path, message.replace('\n', "\r\n")).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(received))
            .unwrap();
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        }
    }

    /// Deletes a folder with everything Dovecot knew about it; recreating it gives it a new
    /// UIDVALIDITY.
    pub fn drop_folder(&self, user: &str, folder: &str) {
        std::fs::remove_dir_all(self.folder_path(user, folder)).unwrap();
    }

    /// Kills the whole server at once (SIGKILL to its process group).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A message in RFC 5322 form (LF line ends; delivery makes them CRLF).
pub fn message(id: &str, from: &str, to: &str, subject: &str, date: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nDate: {date}\nMessage-ID: <{id}>\n\n{body}\n"
    )
}
