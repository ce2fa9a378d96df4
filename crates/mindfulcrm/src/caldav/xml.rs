//! The WebDAV/CalDAV XML keel sends and reads: request bodies, and a reader for the
//! `multistatus` answers of PROPFIND and REPORT that keeps only what sync needs. Elements are
//! matched by local name (`href`, `getetag`, `calendar-data`…), which no server reuses for
//! anything else in these answers.

use quick_xml::Reader;
use quick_xml::events::Event;

pub const PRINCIPAL: &str = r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>"#;
pub const HOME_SET: &str = r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-home-set/></d:prop></d:propfind>"#;
pub const CALENDARS: &str = r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:resourcetype/><d:displayname/><c:supported-calendar-component-set/></d:prop></d:propfind>"#;
pub const ETAGS: &str = r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#;

/// RFC 6578 `sync-collection` from `token` (empty for everything).
pub fn sync_collection(token: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#,
        escape(token)
    )
}

/// RFC 4791 `calendar-multiget` for these hrefs.
pub fn multiget(hrefs: &[String]) -> String {
    let mut body = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>"#,
    );
    for href in hrefs {
        body.push_str("<d:href>");
        body.push_str(&escape(href));
        body.push_str("</d:href>");
    }
    body.push_str("</c:calendar-multiget>");
    body
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// One `response` of a multistatus.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DavResponse {
    pub href: String,
    /// The response's own status (a deleted member in a sync report is `404`).
    pub status: Option<u16>,
    pub etag: Option<String>,
    pub calendar_data: Option<String>,
    pub display_name: Option<String>,
    pub is_calendar: bool,
    /// Whether the calendar holds events (no component set named means it does).
    pub has_events: bool,
    pub principal: Option<String>,
    pub home_set: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Multistatus {
    pub responses: Vec<DavResponse>,
    pub sync_token: Option<String>,
}

/// Reads a multistatus body; `None` when it is not one.
pub fn multistatus(body: &str) -> Option<Multistatus> {
    let mut reader = Reader::from_str(body);
    let mut path: Vec<String> = Vec::new();
    let mut out = Multistatus::default();
    let mut current = DavResponse::default();
    let mut components: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut seen_root = false;
    loop {
        let event = reader.read_event().ok()?;
        let opens = matches!(event, Event::Start(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                if !seen_root {
                    if name != "multistatus" {
                        return None;
                    }
                    seen_root = true;
                }
                match name.as_str() {
                    "response" => {
                        current = DavResponse::default();
                        components.clear();
                    }
                    "calendar" if path.last().is_some_and(|p| p == "resourcetype") => {
                        current.is_calendar = true;
                    }
                    "comp" => {
                        if let Some(Ok(attr)) = e.attributes().find(|a| {
                            a.as_ref()
                                .is_ok_and(|a| a.key.local_name().as_ref() == "name")
                        }) {
                            components.push(attr.value.to_uppercase());
                        }
                    }
                    _ => {}
                }
                text.clear();
                if opens {
                    path.push(name);
                }
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.into_inner()),
            Event::GeneralRef(r) => {
                let entity = format!("&{};", r.xml10_content());
                if let Ok(resolved) = quick_xml::escape::unescape(&entity) {
                    text.push_str(&resolved);
                }
            }
            Event::End(_) => {
                let name = path.pop()?;
                let parent = path.last().map(String::as_str).unwrap_or("");
                let value = text.trim().to_string();
                match (name.as_str(), parent) {
                    ("href", "response") => current.href = value,
                    ("href", "current-user-principal") => current.principal = Some(value),
                    ("href", "calendar-home-set") => current.home_set = Some(value),
                    ("status", "response") => current.status = status_code(&value),
                    ("getetag", _) => current.etag = Some(value),
                    ("calendar-data", _) => current.calendar_data = Some(text.clone()),
                    ("displayname", _) => current.display_name = Some(value),
                    ("sync-token", "multistatus") => out.sync_token = Some(value),
                    ("response", _) => {
                        current.has_events =
                            components.is_empty() || components.iter().any(|c| c == "VEVENT");
                        out.responses.push(std::mem::take(&mut current));
                    }
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    seen_root.then_some(out)
}

/// `HTTP/1.1 404 Not Found` → 404.
fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_sync_report_with_changes_deletions_and_a_token() {
        let body = r#"<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <response><href>/u/cal/a.ics</href><propstat><prop><getetag>"1"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>
  <response><href>/u/cal/b.ics</href><status>HTTP/1.1 404 Not Found</status></response>
  <sync-token>http://radicale.org/ns/sync/abc</sync-token>
</multistatus>"#;
        let m = multistatus(body).unwrap();
        assert_eq!(
            m.sync_token.as_deref(),
            Some("http://radicale.org/ns/sync/abc")
        );
        assert_eq!(m.responses.len(), 2);
        assert_eq!(m.responses[0].etag.as_deref(), Some("\"1\""));
        assert_eq!(m.responses[0].status, None);
        assert_eq!(m.responses[1].status, Some(404));
    }

    #[test]
    fn reads_calendars_principals_and_escaped_calendar_data() {
        let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:response><d:href>/u/</d:href><d:propstat><d:prop><d:current-user-principal><d:href>/u/</d:href></d:current-user-principal>
<c:calendar-home-set><d:href>/u/home/</d:href></c:calendar-home-set></d:prop></d:propstat></d:response>
<d:response><d:href>/u/home/work/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><c:calendar/></d:resourcetype>
<d:displayname>Work &amp; more</d:displayname><c:supported-calendar-component-set><c:comp name="VEVENT"/></c:supported-calendar-component-set></d:prop></d:propstat></d:response>
<d:response><d:href>/u/home/todo/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><c:calendar/></d:resourcetype>
<c:supported-calendar-component-set><c:comp name="VTODO"/></c:supported-calendar-component-set></d:prop></d:propstat></d:response>
<d:response><d:href>/u/home/work/e.ics</d:href><d:propstat><d:prop><c:calendar-data>BEGIN:VCALENDAR&#13;
SUMMARY:a &lt; b
END:VCALENDAR</c:calendar-data></d:prop></d:propstat></d:response>
</d:multistatus>"#;
        let m = multistatus(body).unwrap();
        assert_eq!(m.responses[0].principal.as_deref(), Some("/u/"));
        assert_eq!(m.responses[0].home_set.as_deref(), Some("/u/home/"));
        assert!(m.responses[1].is_calendar && m.responses[1].has_events);
        assert_eq!(m.responses[1].display_name.as_deref(), Some("Work & more"));
        assert!(m.responses[2].is_calendar && !m.responses[2].has_events);
        assert!(!m.responses[0].is_calendar);
        assert_eq!(
            m.responses[3].calendar_data.as_deref(),
            Some("BEGIN:VCALENDAR\r\nSUMMARY:a < b\nEND:VCALENDAR")
        );
        assert!(multistatus("<html>nope</html>").is_none());
        assert!(multistatus("garbage <<<").is_none());
    }
}
