//! Content lines as iCalendar (RFC 5545) and vCard (RFC 6350) share them: `NAME;PARAM=x:value`,
//! TEXT escaping, and lines folded at 75 octets with CRLF and a leading space.

/// Escapes a TEXT value: backslash, semicolon, comma and newlines.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`] (also accepting `\N`).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a structured value on unescaped `separator` (`;` for N and ADR, `,` for lists).
pub fn split_unescaped(value: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            parts.last_mut().expect("one part").extend(['\\', c]);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            parts.push(String::new());
        } else {
            parts.last_mut().expect("one part").push(c);
        }
    }
    parts.into_iter().map(|p| unescape(&p)).collect()
}

/// Appends a content line, folded so no physical line exceeds 75 octets (never inside a
/// UTF-8 sequence).
pub fn fold_into(out: &mut String, line: &str) {
    let mut used = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if used + len > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

/// One unfolded content line and the (1-based) physical line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentLine {
    pub line: usize,
    /// Upper-cased, without any `group.` prefix.
    pub name: String,
    /// Parameter names upper-cased; values as written (quotes removed).
    pub params: Vec<(String, String)>,
    /// Raw value (still escaped).
    pub value: String,
}

impl ContentLine {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Unfolds and parses a text into content lines; a line that is not `NAME[;params]:value` is
/// reported with its line number.
pub fn parse(text: &str) -> Result<Vec<ContentLine>, (usize, String)> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t']) {
            match logical.last_mut() {
                Some((_, last)) => last.push_str(rest),
                None => return Err((index + 1, "a continuation line cannot come first".into())),
            }
        } else if !raw.trim().is_empty() {
            logical.push((index + 1, raw.to_string()));
        }
    }
    logical
        .into_iter()
        .map(|(line, text)| {
            let colon = value_colon(&text)
                .ok_or((line, "is not a content line (NAME:value)".to_string()))?;
            let (head, value) = (&text[..colon], &text[colon + 1..]);
            let mut parts = head.split(';');
            let name = parts.next().unwrap_or_default();
            let name = name
                .rsplit('.')
                .next()
                .unwrap_or(name)
                .trim()
                .to_ascii_uppercase();
            if name.is_empty() {
                return Err((line, "has no property name".into()));
            }
            let params = parts
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (
                        k.trim().to_ascii_uppercase(),
                        v.trim_matches('"').to_string(),
                    ),
                    // vCard 2.1/3.0 bare types, e.g. `TEL;CELL:`.
                    None => ("TYPE".to_string(), p.trim().to_string()),
                })
                .collect();
            Ok(ContentLine {
                line,
                name,
                params,
                value: value.to_string(),
            })
        })
        .collect()
}

/// The colon that ends the name and parameters (colons inside quoted parameter values do not).
fn value_colon(text: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text_and_folding() {
        let text = "Ünïcode; commas, and\nnew lines \\ ".repeat(5);
        let mut out = String::new();
        fold_into(&mut out, &format!("NOTE:{}", escape(&text)));
        assert!(out.split("\r\n").all(|l| l.len() <= 75));
        let lines = parse(&out).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(unescape(&lines[0].value), text.replace('\r', ""));
    }

    #[test]
    fn parses_groups_params_and_structured_values() {
        let lines = parse(
            "item1.EMAIL;type=INTERNET;TYPE=\"work,pref\":a@b.example\r\nN:Lovelace;Ada;;;\r\nTEL;CELL:+1\r\nnonsense\r\n",
        );
        assert_eq!(
            lines.unwrap_err(),
            (4, "is not a content line (NAME:value)".to_string())
        );
        let lines =
            parse("item1.EMAIL;TYPE=\"work,pref\":a@b.example\nN:Love\\;lace;Ada;;;\n").unwrap();
        assert_eq!(lines[0].name, "EMAIL");
        assert_eq!(lines[0].param("TYPE"), Some("work,pref"));
        assert_eq!(
            split_unescaped(&lines[1].value, ';')[..2],
            ["Love;lace", "Ada"]
        );
    }
}
