//! vCard interop with a real CardDAV server (Radicale): our export is stored by it card by
//! card, and what it serves back imports field for field.

mod common;

use std::time::Duration;

use common::{Backend, TestApp, eventually};
use serde_json::{Value, json};

on_both_backends!(radicale_stores_our_vcards_and_its_files_import_back);

/// Radicale on a free loopback port, no authentication, storage in a temporary directory.
struct Radicale {
    url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Radicale {
    async fn start() -> Option<Self> {
        if std::process::Command::new("radicale")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(std::env::var("CI").is_err(), "CI must provide radicale");
            eprintln!("skipping: radicale is not installed (apt-get install radicale)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new("radicale")
            .args([
                "--server-hosts",
                &format!("127.0.0.1:{port}"),
                "--auth-type",
                "none",
                "--rights-type",
                "authenticated",
            ])
            .arg("--storage-filesystem-folder")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start radicale");
        let ready = eventually(Duration::from_secs(15), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        assert!(ready.is_some(), "radicale did not start");
        Some(Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        })
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn radicale_stores_our_vcards_and_its_files_import_back(backend: Backend) {
    let Some(radicale) = Radicale::start().await else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let people = [
        json!({"given_name": "Zoë", "family_name": "O'Neil; Jr", "display_name": "Zoë O'Neil", "company": "Acme, Inc.", "title": "CTO",
               "birthday": "--07-14", "website": "https://zoe.example", "notes": "Met at the conference.\nLikes tea, jazz; climbing.",
               "emails": [{"value": "zoe@example.com", "label": "work"}], "phones": [{"value": "+1 555 0100", "label": "cell"}],
               "tags": ["climbing", "friends"]}),
        json!({"given_name": "Ana", "family_name": "Lima", "birthday": "1990-02-28", "emails": [{"value": "ana@example.com", "label": ""}]}),
        json!({"display_name": "Dr. Bo", "notes": "A very long note that will certainly need folding because it goes on and on well past seventy-five octets of text, with ümlauts."}),
    ];
    for person in &people {
        let r = c
            .post(app.url("/api/v1/crm/contacts"))
            .json(person)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let export = c
        .get(app.url("/api/v1/crm/export/contacts.vcf"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let dav = reqwest::Client::new();
    let mkcol = reqwest::Method::from_bytes(b"MKCOL").unwrap();
    let r = dav
        .request(mkcol.clone(), format!("{}/keel/", radicale.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let book = r#"<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><C:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>"#;
    let r = dav
        .request(mkcol, format!("{}/keel/contacts/", radicale.url))
        .header("content-type", "application/xml")
        .body(book)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // One resource per card, as CardDAV clients store them; Radicale parses each (and refuses
    // what it cannot read).
    for (n, card) in export.split_inclusive("END:VCARD\r\n").enumerate() {
        let r = dav
            .put(format!("{}/keel/contacts/{n}.vcf", radicale.url))
            .header("content-type", "text/vcard")
            .body(card.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "card {n}: {}", r.text().await.unwrap());
    }
    let served = dav
        .get(format!("{}/keel/contacts/", radicale.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served.matches("BEGIN:VCARD").count(), 3);

    let (_, bob) = app.member("bob@example.com").await;
    let imported = bob
        .post(app.url("/api/v1/crm/import/vcard"))
        .body(served)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200, "{}", imported.text().await.unwrap());
    let list: Value = bob
        .get(app.url("/api/v1/crm/contacts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for person in &people {
        let name = person["display_name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "{} {}",
                    person["given_name"].as_str().unwrap(),
                    person["family_name"].as_str().unwrap()
                )
            });
        let id = list["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["display_name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} imported"))["id"]
            .as_i64()
            .unwrap();
        let back: Value = bob
            .get(app.url(&format!("/api/v1/crm/contacts/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for (key, value) in person.as_object().unwrap() {
            assert_eq!(&back[key], value, "{name}: {key}");
        }
    }
    app.stop().await;
}
