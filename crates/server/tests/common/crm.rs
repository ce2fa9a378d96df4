//! MindfulCRM fixtures: contacts, interactions, tasks and the account export, as one user.

use serde_json::{Value, json};

use super::{Api, TestApp};

impl Api<'_> {
    /// Creates a contact from a full body; returns its id.
    pub async fn create_contact(&self, body: Value) -> i64 {
        id_of(&self.post("/api/v1/crm/contacts", body).await.ok())
    }

    /// One contact as the API shows it (insists on a 200).
    pub async fn contact(&self, id: i64) -> Value {
        self.get(&format!("/api/v1/crm/contacts/{id}"))
            .await
            .json_ok()
    }

    /// Logs an interaction; returns it as created.
    pub async fn log_interaction(&self, body: Value) -> Value {
        self.post("/api/v1/crm/interactions", body).await.ok()
    }

    /// Creates a task; returns it as created.
    pub async fn create_task(&self, body: Value) -> Value {
        self.post("/api/v1/crm/tasks", body).await.ok()
    }

    /// Creates a calendar event; returns it as created.
    pub async fn create_event(&self, body: Value) -> Value {
        self.post("/api/v1/crm/events", body).await.ok()
    }

    /// Creates a goal; returns it with its current progress.
    pub async fn create_goal(&self, body: Value) -> Value {
        self.post("/api/v1/crm/goals", body).await.ok()
    }
}

/// The `id` of a created thing.
fn id_of(created: &Value) -> i64 {
    created["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {created}"))
}

/// Creates a contact with one email address; returns its id.
pub async fn crm_contact(app: &TestApp, client: &reqwest::Client, name: &str, email: &str) -> i64 {
    app.api(client)
        .create_contact(json!({"given_name": name, "emails": [{"value": email}]}))
        .await
}

/// The interactions of one contact, newest first.
pub async fn crm_timeline(app: &TestApp, client: &reqwest::Client, contact: i64) -> Vec<Value> {
    app.api(client)
        .get(&format!("/api/v1/crm/interactions?contact_id={contact}"))
        .await
        .json_ok()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The account export (`account.zip`), checked to be a zip that is not compressed twice.
pub async fn crm_export(
    app: &TestApp,
    client: &reqwest::Client,
) -> zip::ZipArchive<std::io::Cursor<Vec<u8>>> {
    let answer = app
        .api(client)
        .header("accept-encoding", "gzip")
        .get("/api/v1/crm/export/account.zip")
        .await
        .expect(200);
    assert_eq!(answer.header("content-type"), "application/zip");
    // Never gzipped over its own compression.
    assert!(answer.headers.get("content-encoding").is_none());
    zip::ZipArchive::new(std::io::Cursor::new(answer.bytes)).unwrap()
}

/// Asserts that two users' events (in the same order) agree on every field an iCalendar file
/// carries.
#[track_caller]
pub fn assert_same_events(mine: &[Value], theirs: &[Value]) {
    for (a, b) in mine.iter().zip(theirs) {
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
}

/// One file of an archive as text.
pub fn zip_entry(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
    text
}
