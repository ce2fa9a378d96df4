//! What MindfulCRM keeps of a message: read from its header and the first bytes of its body
//! (never the whole message), with encoded words decoded and a short snippet of its text.

use keel_platform::domain::Timestamp;
use mail_parser::MessageParser;

/// Longest snippet kept, in characters.
pub const SNIPPET_CHARS: usize = 240;
/// Longest body kept (when the account keeps bodies), in characters.
pub const BODY_CHARS: usize = 20_000;
const SUBJECT_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Lower-case.
    pub address: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailMessage {
    /// Message-ID without angle brackets, or a digest when the message has none.
    pub key: String,
    pub sent_at: Timestamp,
    pub from: Option<Person>,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    pub subject: String,
    pub snippet: String,
    /// The plain text, when asked for.
    pub body: Option<String>,
    /// In-Reply-To and References ids.
    pub thread_refs: Vec<String>,
}

impl MailMessage {
    /// Reads a message from its header block and the start of its body (`text`, possibly cut
    /// mid-way). `received_at` (the server's INTERNALDATE) stands in for a missing or absurd
    /// Date header. With `keep_body`, the plain text is kept too.
    pub fn parse(header: &[u8], text: &[u8], received_at: Timestamp, keep_body: bool) -> Self {
        let mut raw = Vec::with_capacity(header.len() + text.len() + 4);
        raw.extend_from_slice(header);
        if !header.ends_with(b"\r\n\r\n") && !header.ends_with(b"\n\n") {
            raw.extend_from_slice(b"\r\n\r\n");
        }
        raw.extend_from_slice(text);
        let Some(parsed) = MessageParser::default().parse(&raw[..]) else {
            return Self::empty(received_at);
        };
        let people = |address: Option<&mail_parser::Address<'_>>| -> Vec<Person> {
            address
                .map(|a| a.iter().filter_map(person).collect())
                .unwrap_or_default()
        };
        let from = people(parsed.from()).into_iter().next();
        let subject = clean(parsed.subject().unwrap_or(""), SUBJECT_CHARS);
        let sent_at = parsed
            .date()
            .map(|d| d.to_timestamp() * 1000)
            // A Date more than a day ahead of the server's own clock is not believed.
            .filter(|&ms| ms > 0 && ms <= received_at.as_millis() + 86_400_000)
            .map(Timestamp::from_millis)
            .unwrap_or(received_at);
        let mut thread_refs: Vec<String> = Vec::new();
        for value in [parsed.in_reply_to(), parsed.references()] {
            let ids = match value {
                mail_parser::HeaderValue::Text(id) => vec![id.to_string()],
                mail_parser::HeaderValue::TextList(ids) => {
                    ids.iter().map(|id| id.to_string()).collect()
                }
                _ => Vec::new(),
            };
            for id in ids {
                if !thread_refs.contains(&id) && thread_refs.len() < 50 {
                    thread_refs.push(id);
                }
            }
        }
        let key = match parsed.message_id() {
            Some(id) if !id.trim().is_empty() => clean(id, 500),
            _ => digest(&[
                &sent_at.as_millis().to_string(),
                from.as_ref().map_or("", |p| p.address.as_str()),
                &subject,
            ]),
        };
        let text = parsed.body_text(0);
        let snippet = text.as_deref().map(snippet).unwrap_or_default();
        let body = keep_body.then(|| body(text.as_deref().unwrap_or("")));
        Self {
            key,
            sent_at,
            from,
            to: people(parsed.to()),
            cc: people(parsed.cc()),
            subject,
            snippet,
            body,
            thread_refs,
        }
    }

    fn empty(received_at: Timestamp) -> Self {
        Self {
            key: digest(&[&received_at.as_millis().to_string()]),
            sent_at: received_at,
            from: None,
            to: Vec::new(),
            cc: Vec::new(),
            subject: String::new(),
            snippet: String::new(),
            body: None,
            thread_refs: Vec::new(),
        }
    }

    /// Everyone on the message but `own` (the account's address), lower-case, once each.
    pub fn others(&self, own: &str) -> Vec<&Person> {
        let mut out: Vec<&Person> = Vec::new();
        for p in self.from.iter().chain(&self.to).chain(&self.cc) {
            if !p.address.eq_ignore_ascii_case(own) && !out.iter().any(|o| o.address == p.address) {
                out.push(p);
            }
        }
        out
    }
}

fn person(addr: &mail_parser::Addr<'_>) -> Option<Person> {
    let address = addr.address()?.trim().to_lowercase();
    if !address.contains('@') || address.len() > 320 {
        return None;
    }
    Some(Person {
        address,
        name: clean(addr.name().unwrap_or(""), 200),
    })
}

/// One line without control characters, at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.retain(|c| !c.is_control());
    out.trim_matches(|c| c == '<' || c == '>')
        .chars()
        .take(max)
        .collect()
}

/// The text as written (line breaks kept, quoted replies too), without control characters,
/// cut to [`BODY_CHARS`].
fn body(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out: String = text
        .trim()
        .chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .take(BODY_CHARS)
        .collect();
    if text.trim().chars().count() > BODY_CHARS {
        out.push('…');
    }
    out
}

/// The first words of a body: quoted replies and signatures left out, whitespace collapsed.
fn snippet(text: &str) -> String {
    let mut kept = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line == "--" || line.starts_with("On ") && line.ends_with("wrote:") {
            break;
        }
        if line.starts_with('>') || line.is_empty() {
            continue;
        }
        kept.push_str(line);
        kept.push(' ');
        if kept.len() > SNIPPET_CHARS * 4 {
            break;
        }
    }
    let mut out = clean(&kept, SNIPPET_CHARS);
    if kept.trim().chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out
}

fn digest(parts: &[&str]) -> String {
    format!(
        "sha256:{}",
        keel_platform::crypto::sha256_hex(&parts.join("\n"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_200_000_000;

    #[test]
    fn reads_people_subject_date_and_snippet() {
        let header = b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <Juergen@Example.COM>\r\n\
To: Me <me@example.org>, ada@example.com\r\nCc: \"Bob, B.\" <bob@example.com>\r\n\
Subject: =?UTF-8?B?R3LDvMOfZQ==?= from\r\n the lake\r\nDate: Tue, 1 Dec 2026 10:00:00 +0100\r\n\
Message-ID: <abc@example.com>\r\nIn-Reply-To: <x@y>\r\nReferences: <w@y> <x@y>\r\n\r\n";
        let text =
            b"Hello Ada,\r\n\r\nthe boat is ready.\r\n\r\nOn Monday, Bob wrote:\r\n> old stuff\r\n";
        let m = MailMessage::parse(header, text, Timestamp::from_millis(NOW), false);
        assert_eq!(m.key, "abc@example.com");
        assert_eq!(
            m.from,
            Some(Person {
                address: "juergen@example.com".into(),
                name: "Jürgen Müller".into()
            })
        );
        assert_eq!(m.to.len(), 2);
        assert_eq!(m.cc[0].name, "Bob, B.");
        assert_eq!(m.subject, "Grüße from the lake");
        assert_eq!(m.sent_at.as_millis(), 1_796_115_600_000);
        assert_eq!(m.snippet, "Hello Ada, the boat is ready.");
        assert_eq!(m.thread_refs, vec!["x@y".to_string(), "w@y".to_string()]);
        let others: Vec<&str> = m
            .others("ME@example.org")
            .iter()
            .map(|p| p.address.as_str())
            .collect();
        assert_eq!(
            others,
            ["juergen@example.com", "ada@example.com", "bob@example.com"]
        );
    }

    #[test]
    fn multipart_cut_mid_way_still_gives_a_snippet() {
        let header = b"From: a@example.com\r\nSubject: hi\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n";
        let text = b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 at ten?\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>Caf";
        let m = MailMessage::parse(header, text, Timestamp::from_millis(NOW), false);
        assert_eq!(m.snippet, "Café at ten?");
        assert!(m.key.starts_with("sha256:"), "no Message-ID: a digest");
        assert_eq!(m.sent_at.as_millis(), NOW, "no Date: the server's time");
    }

    #[test]
    fn garbage_and_future_dates_do_not_break_anything() {
        let m = MailMessage::parse(
            b"\x00\xff\xfe garbage",
            b"",
            Timestamp::from_millis(NOW),
            true,
        );
        assert_eq!(m.subject, "");
        let header = b"From: a@example.com\r\nDate: Fri, 1 Jan 2100 00:00:00 +0000\r\nSubject: \x07bell\r\n\r\n";
        let m = MailMessage::parse(header, b"", Timestamp::from_millis(NOW), false);
        assert_eq!(m.sent_at.as_millis(), NOW);
        assert_eq!(m.subject, "bell");
        let long = "x".repeat(5000);
        let m = MailMessage::parse(
            b"Subject: s\r\n\r\n",
            long.as_bytes(),
            Timestamp::from_millis(NOW),
            false,
        );
        assert_eq!(m.snippet.chars().count(), SNIPPET_CHARS + 1);
        assert_eq!(m.body, None, "bodies only when asked for");
    }

    #[test]
    fn a_kept_body_keeps_its_lines_and_is_capped() {
        let text = b"Hello Ada,\r\n\r\nthe boat is ready.\x07\r\n\r\nOn Monday, Bob wrote:\r\n> old stuff\r\n";
        let m = MailMessage::parse(
            b"Subject: s\r\n\r\n",
            text,
            Timestamp::from_millis(NOW),
            true,
        );
        assert_eq!(
            m.body.as_deref(),
            Some("Hello Ada,\n\nthe boat is ready.\n\nOn Monday, Bob wrote:\n> old stuff")
        );
        assert_eq!(m.snippet, "Hello Ada, the boat is ready.");
        let long = "word ".repeat(10_000);
        let m = MailMessage::parse(
            b"Subject: s\r\n\r\n",
            long.as_bytes(),
            Timestamp::from_millis(NOW),
            true,
        );
        assert_eq!(m.body.unwrap().chars().count(), BODY_CHARS + 1);
    }
}
