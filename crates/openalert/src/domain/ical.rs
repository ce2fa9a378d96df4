//! A minimal iCalendar (RFC 5545) writer for on-call feeds: UTC times, escaped text, CRLF line
//! endings and lines folded at 75 octets.

use keel_platform::contentline::{escape, fold_into};

pub struct Event {
    pub uid: String,
    pub summary: String,
    pub starts_at: i64,
    pub ends_at: i64,
}

pub fn calendar(name: &str, now_ms: i64, events: &[Event]) -> String {
    let mut out = String::new();
    let mut line = |text: &str| fold_into(&mut out, text);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//keel//OpenAlert on-call//EN");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line(&format!("X-WR-CALNAME:{}", escape(name)));
    for event in events {
        line("BEGIN:VEVENT");
        line(&format!("UID:{}", escape(&event.uid)));
        line(&format!("DTSTAMP:{}", utc(now_ms)));
        line(&format!("DTSTART:{}", utc(event.starts_at)));
        line(&format!("DTEND:{}", utc(event.ends_at)));
        line(&format!("SUMMARY:{}", escape(&event.summary)));
        line("TRANSP:TRANSPARENT");
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

fn utc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_folds() {
        let text = calendar(
            "On call; primary, EU",
            0,
            &[Event {
                uid: "a@keel".into(),
                summary: "ü".repeat(60),
                starts_at: 1_767_225_600_000,
                ends_at: 1_767_312_000_000,
            }],
        );
        assert!(text.contains("X-WR-CALNAME:On call\\; primary\\, EU\r\n"));
        assert!(text.contains("DTSTART:20260101T000000Z\r\n"));
        assert!(text.lines().all(|l| l.len() <= 75));
        assert!(text.ends_with("END:VCALENDAR\r\n"));
    }
}
