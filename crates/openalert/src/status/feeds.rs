//! RSS 2.0 and Atom feeds of a page's incidents and maintenances, one entry per event with
//! its updates as the content (text, escaped).

use std::fmt::Write;

use keel_platform::domain::Timestamp;

use super::events::Event;
use super::public::PublicView;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn rfc3339(at: Timestamp) -> String {
    at.to_jiff().to_string()
}

fn rfc2822(at: Timestamp) -> String {
    jiff::fmt::rfc2822::to_string(&at.to_jiff().to_zoned_datetime(jiff::tz::TimeZone::UTC))
        .unwrap_or_default()
}

fn content(e: &Event) -> String {
    let mut text = String::new();
    for u in &e.updates {
        let _ = writeln!(text, "{} ({}): {}", u.status, rfc3339(u.created_at), u.body);
    }
    text
}

fn link(v: &PublicView, e: &Event) -> String {
    format!("{}/incidents/{}", v.url.trim_end_matches('/'), e.id)
}

pub fn atom(v: &PublicView) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let updated = v
        .events
        .iter()
        .map(|e| e.updated_at)
        .max()
        .unwrap_or(v.page.updated_at);
    let _ = write!(
        out,
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><id>{url}</id><title>{title} status history</title>\
         <link href=\"{url}\"/><updated>{updated}</updated>",
        url = escape(&v.url),
        title = escape(&v.page.name),
        updated = rfc3339(updated),
    );
    for e in &v.events {
        let _ = write!(
            out,
            "<entry><id>{link}</id><title>{title}</title><link href=\"{link}\"/>\
             <published>{published}</published><updated>{updated}</updated>\
             <content type=\"text\">{content}</content></entry>",
            link = escape(&link(v, e)),
            title = escape(&e.name),
            published = rfc3339(e.started_at),
            updated = rfc3339(e.updated_at),
            content = escape(&content(e)),
        );
    }
    out.push_str("</feed>\n");
    out
}

pub fn rss(v: &PublicView) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<rss version=\"2.0\"><channel><title>{title} status history</title><link>{url}</link>\
         <description>Incidents and maintenances of {title}</description>",
        url = escape(&v.url),
        title = escape(&v.page.name),
    );
    for e in &v.events {
        let _ = write!(
            out,
            "<item><title>{title}</title><link>{link}</link><guid isPermaLink=\"true\">{link}</guid>\
             <pubDate>{date}</pubDate><description>{content}</description></item>",
            title = escape(&e.name),
            link = escape(&link(v, e)),
            date = rfc2822(e.started_at),
            content = escape(&content(e)),
        );
    }
    out.push_str("</channel></rss>\n");
    out
}
