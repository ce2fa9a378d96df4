//! A real Radicale CalDAV server on a free loopback port, with plain-text users and its
//! collections in a temporary directory.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Radicale {
    pub url: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Radicale {
    /// Starts Radicale with these users, or returns `None` (skipping the test) where it is
    /// not installed; CI must have it.
    pub fn start(users: &[(&str, &str)]) -> Option<Self> {
        if Command::new("radicale").arg("--version").output().is_err() {
            assert!(
                std::env::var("CI").is_err(),
                "CI must provide radicale (apt-get install radicale)"
            );
            eprintln!("skipping: radicale is not installed (apt-get install radicale)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        let htpasswd: String = users.iter().map(|(u, p)| format!("{u}:{p}\n")).collect();
        std::fs::write(dir.path().join("users"), htpasswd).unwrap();
        let config = format!(
            "[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\nhtpasswd_filename = {d}/users\n\
             htpasswd_encryption = plain\n[rights]\ntype = owner_only\n[storage]\nfilesystem_folder = {d}/collections\n\
             [logging]\nlevel = warning\n",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        let child = Command::new("radicale")
            .arg("--config")
            .arg(dir.path().join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start radicale");
        Some(Self {
            url: format!("http://127.0.0.1:{port}/"),
            dir,
            child,
        })
    }

    pub async fn wait_ready(&self) {
        let client = super::client();
        let ok = super::eventually(Duration::from_secs(15), || async {
            client.get(&self.url).send().await.ok().map(|_| ())
        })
        .await;
        assert!(
            ok.is_some(),
            "radicale did not start in {:?}",
            self.dir.path()
        );
    }

    /// Sends a WebDAV request as `user`; returns the status.
    pub async fn call(&self, method: &str, path: &str, user: (&str, &str), body: &str) -> u16 {
        super::client()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{}", self.url, path.trim_start_matches('/')),
            )
            .basic_auth(user.0, Some(user.1))
            .header(
                "Content-Type",
                if method == "PUT" {
                    "text/calendar"
                } else {
                    "application/xml"
                },
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn make_calendar(&self, user: (&str, &str), path: &str, name: &str) {
        let body = format!(
            r#"<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>{name}</D:displayname></D:prop></D:set></C:mkcalendar>"#
        );
        let status = self.call("MKCALENDAR", path, user, &body).await;
        assert_eq!(status, 201, "MKCALENDAR {path}");
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
