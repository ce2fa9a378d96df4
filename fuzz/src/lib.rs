//! What each fuzz target feeds its parser, shared by the targets (`fuzz_targets/`) so that a
//! crash input replays through exactly the code it was found with.
//!
//! The parsers must never panic, hang or allocate without bound, whatever the bytes; their
//! errors are ordinary results and are ignored here.

use keel_mindfulcrm::caldav::xml;
use keel_mindfulcrm::mailbox::message::MailMessage;
use keel_mindfulcrm::{csv_import, ics, vcard};
use keel_openalert::domain::{alertmanager, events_v2, generic};
use keel_platform::domain::Timestamp;

/// A fixed "now" (2026-01-01T00:00:00Z): recurrence windows and missing dates are read
/// against it, so a run is repeatable.
const NOW_MS: i64 = 1_767_225_600_000;

pub fn events_v2(data: &[u8]) {
    let _ = events_v2::parse(data);
}

pub fn alertmanager(data: &[u8]) {
    let _ = alertmanager::parse(data, alertmanager::Flavor::Alertmanager);
}

pub fn grafana(data: &[u8]) {
    let _ = alertmanager::parse(data, alertmanager::Flavor::Grafana);
}

pub fn generic(data: &[u8]) {
    let _ = generic::parse(data);
}

pub fn vcard(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vcard::read(text);
    }
}

pub fn csv_import(data: &[u8]) {
    if let Ok(table) = csv_import::read_table(data) {
        for header in &table.headers {
            let _ = csv_import::Field::parse(header);
        }
    }
}

pub fn icalendar(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ics::read(text, &ics::Window::around(NOW_MS));
    }
}

pub fn content_lines(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keel_platform::contentline::parse(text);
    }
}

pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keel_platform::config::Config::from_toml(text);
    }
}

/// The header block and the start of the body, split where a blank line first appears.
pub fn mail_message(data: &[u8]) {
    let split = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(data.len(), |at| at + 4);
    let (header, text) = data.split_at(split);
    let _ = MailMessage::parse(header, text, Timestamp::from_millis(NOW_MS), true);
}

pub fn caldav_multistatus(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = xml::multistatus(text);
    }
}
