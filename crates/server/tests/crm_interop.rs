//! vCard and iCalendar interop with a real CardDAV/CalDAV server (Radicale): our exports are
//! stored by it item by item, and what it serves back imports field for field.

mod common;

use std::time::Duration;

use common::{Backend, TestApp, eventually};
use serde_json::{Value, json};

on_both_backends!(
    radicale_stores_our_vcards_and_its_files_import_back,
    radicale_stores_our_events_and_its_calendar_imports_back,
);

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

const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";

impl Radicale {
    /// Creates `/keel/{name}/` (and `/keel/` the first time) as an address book or calendar.
    async fn collection(&self, dav: &reqwest::Client, name: &str, namespace: &str, kind: &str) {
        let mkcol = reqwest::Method::from_bytes(b"MKCOL").unwrap();
        let home = dav
            .request(mkcol.clone(), format!("{}/keel/", self.url))
            .send()
            .await
            .unwrap();
        assert!(
            home.status() == 201 || home.status() == 405,
            "{}",
            home.status()
        );
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:C="{namespace}"><D:set><D:prop><D:resourcetype><D:collection/>{kind}</D:resourcetype></D:prop></D:set></D:mkcol>"#
        );
        let r = dav
            .request(mkcol, format!("{}/keel/{name}/", self.url))
            .header("content-type", "application/xml")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
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
               "tags": ["climbing", "friends"],
               "addresses": [{"label": "home", "street": "1 Main St, Flat 2", "locality": "Springfield", "region": "IL", "postal_code": "62701", "country": "USA"}],
               "links": [{"value": "https://www.linkedin.com/in/zoe", "label": "linkedin"}]}),
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
    radicale
        .collection(&dav, "contacts", CARDDAV, "<C:addressbook/>")
        .await;
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

async fn radicale_stores_our_events_and_its_calendar_imports_back(backend: Backend) {
    let Some(radicale) = Radicale::start().await else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let events = [
        json!({"title": "Board meeting; budget, Q1", "starts_at": "2026-11-30T09:00:00Z", "ends_at": "2026-11-30T10:30:00Z",
               "location": "Room 4, 2nd floor", "description": "Agenda:\n1. numbers\n2. hiring — with ümlauts and a line long enough to need folding at seventy-five octets",
               "attendees": ["ceo@example.com", "cfo@example.com"]}),
        json!({"title": "Holiday", "starts_at": "2026-12-24", "ends_at": "2026-12-26", "all_day": true}),
    ];
    for event in &events {
        let r = c
            .post(app.url("/api/v1/crm/events"))
            .json(event)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let export = c
        .get(app.url("/api/v1/crm/export/events.ics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let dav = reqwest::Client::new();
    radicale
        .collection(&dav, "calendar", CALDAV, "<C:calendar/>")
        .await;
    // CalDAV stores one event per resource: split our calendar, keeping its envelope.
    let (head, rest) = export.split_once("BEGIN:VEVENT\r\n").unwrap();
    let body = format!("BEGIN:VEVENT\r\n{rest}");
    let body = body.strip_suffix("END:VCALENDAR\r\n").unwrap();
    for (n, event) in body.split_inclusive("END:VEVENT\r\n").enumerate() {
        let r = dav
            .put(format!("{}/keel/calendar/{n}.ics", radicale.url))
            .header("content-type", "text/calendar")
            .body(format!("{head}{event}END:VCALENDAR\r\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "event {n}: {}", r.text().await.unwrap());
    }
    // Radicale serves the whole collection as one calendar of its own making.
    let served = dav
        .get(format!("{}/keel/calendar/", radicale.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served.matches("BEGIN:VEVENT").count(), 2, "{served}");

    let (_, bob) = app.member("bob@example.com").await;
    let imported = bob
        .post(app.url("/api/v1/crm/import/ics"))
        .body(served)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200, "{}", imported.text().await.unwrap());
    let range = "/api/v1/crm/events?from=2026-11-01T00:00:00Z&to=2027-01-01T00:00:00Z";
    let mine: Value = c
        .get(app.url(range))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let theirs: Value = bob
        .get(app.url(range))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs.as_array().unwrap().len(), 2);
    for (a, b) in mine
        .as_array()
        .unwrap()
        .iter()
        .zip(theirs.as_array().unwrap())
    {
        for key in [
            "uid",
            "title",
            "starts_at",
            "ends_at",
            "all_day",
            "location",
            "description",
            "attendees",
        ] {
            assert_eq!(a[key], b[key], "{key}");
        }
    }
    app.stop().await;
}
