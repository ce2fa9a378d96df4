//! vCard and iCalendar interop with a real CardDAV/CalDAV server (Radicale): our exports are
//! stored by it item by item, and what it serves back imports field for field.

mod common;

use std::time::Duration;

use common::crm::assert_same_events;
use common::{Api, Backend, TestApp, eventually};
use serde_json::json;

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
    async fn collection(&self, dav: &Api<'_>, name: &str, namespace: &str, kind: &str) {
        let mkcol = reqwest::Method::from_bytes(b"MKCOL").unwrap();
        let home = dav
            .send(mkcol.clone(), &format!("{}/keel/", self.url), None)
            .await;
        assert!(home.status == 201 || home.status == 405, "{}", home.status);
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:C="{namespace}"><D:set><D:prop><D:resourcetype><D:collection/>{kind}</D:resourcetype></D:prop></D:set></D:mkcol>"#
        );
        dav.clone()
            .header("content-type", "application/xml")
            .send_body(mkcol, &format!("{}/keel/{name}/", self.url), body)
            .await
            .expect(201);
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
    let c = app.admin_api();
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
        c.post("/api/v1/crm/contacts", person.clone())
            .await
            .expect(201);
    }
    let export = c.get("/api/v1/crm/export/contacts.vcf").await.text;

    let dav = app.sender();
    radicale
        .collection(&dav, "contacts", CARDDAV, "<C:addressbook/>")
        .await;
    // One resource per card, as CardDAV clients store them; Radicale parses each (and refuses
    // what it cannot read).
    let cards = dav.clone().header("content-type", "text/vcard");
    for (n, card) in export.split_inclusive("END:VCARD\r\n").enumerate() {
        let url = format!("{}/keel/contacts/{n}.vcf", radicale.url);
        cards
            .send_body(reqwest::Method::PUT, &url, card.to_string())
            .await
            .expect(201);
    }
    let served = dav
        .get(&format!("{}/keel/contacts/", radicale.url))
        .await
        .text;
    assert_eq!(served.matches("BEGIN:VCARD").count(), 3);

    let (_, bob) = app.member("bob@example.com").await;
    let bob = app.api(&bob);
    bob.post_body("/api/v1/crm/import/vcard", served)
        .await
        .expect(200);
    let list = bob.get("/api/v1/crm/contacts").await.body;
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
        let back = bob.get(&format!("/api/v1/crm/contacts/{id}")).await.body;
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
    let c = app.admin_api();
    let events = [
        json!({"title": "Board meeting; budget, Q1", "starts_at": "2026-11-30T09:00:00Z", "ends_at": "2026-11-30T10:30:00Z",
               "location": "Room 4, 2nd floor", "description": "Agenda:\n1. numbers\n2. hiring — with ümlauts and a line long enough to need folding at seventy-five octets",
               "attendees": ["ceo@example.com", "cfo@example.com"]}),
        json!({"title": "Holiday", "starts_at": "2026-12-24", "ends_at": "2026-12-26", "all_day": true}),
    ];
    for event in &events {
        c.post("/api/v1/crm/events", event.clone())
            .await
            .expect(201);
    }
    let export = c.get("/api/v1/crm/export/events.ics").await.text;

    let dav = app.sender();
    radicale
        .collection(&dav, "calendar", CALDAV, "<C:calendar/>")
        .await;
    // CalDAV stores one event per resource: split our calendar, keeping its envelope.
    let (head, rest) = export.split_once("BEGIN:VEVENT\r\n").unwrap();
    let body = format!("BEGIN:VEVENT\r\n{rest}");
    let body = body.strip_suffix("END:VCALENDAR\r\n").unwrap();
    let calendars = dav.clone().header("content-type", "text/calendar");
    for (n, event) in body.split_inclusive("END:VEVENT\r\n").enumerate() {
        let url = format!("{}/keel/calendar/{n}.ics", radicale.url);
        calendars
            .send_body(
                reqwest::Method::PUT,
                &url,
                format!("{head}{event}END:VCALENDAR\r\n"),
            )
            .await
            .expect(201);
    }
    // Radicale serves the whole collection as one calendar of its own making.
    let served = dav
        .get(&format!("{}/keel/calendar/", radicale.url))
        .await
        .text;
    assert_eq!(served.matches("BEGIN:VEVENT").count(), 2, "{served}");

    let (_, bob) = app.member("bob@example.com").await;
    let bob = app.api(&bob);
    bob.post_body("/api/v1/crm/import/ics", served)
        .await
        .expect(200);
    let range = "/api/v1/crm/events?from=2026-11-01T00:00:00Z&to=2027-01-01T00:00:00Z";
    let mine = c.list(range).await;
    let theirs = bob.list(range).await;
    assert_eq!(theirs.len(), 2);
    assert_same_events(&mine, &theirs);
    app.stop().await;
}
