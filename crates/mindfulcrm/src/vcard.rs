//! vCard: contacts written as vCard 4.0 (RFC 6350) and read from vCard 3.0 or 4.0 files with
//! many cards. Reading reports problems by line number and produces nothing on failure.

use keel_platform::contentline::{self, ContentLine, escape, fold_into, split_unescaped, unescape};

use crate::contacts::{Contact, ContactInput};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::store::{Address, LabeledValue, Photo};

/// One contact as a vCard 4.0.
pub fn write(contact: &Contact, photo: Option<&Photo>, out: &mut String) {
    let mut line = |text: String| fold_into(out, &text);
    line("BEGIN:VCARD".into());
    line("VERSION:4.0".into());
    line(format!("UID:urn:keel:contact:{}", contact.id));
    line(format!("FN:{}", escape(&contact.display_name)));
    line(format!(
        "N:{};{};;;",
        escape(&contact.family_name),
        escape(&contact.given_name)
    ));
    if !contact.company.is_empty() {
        line(format!("ORG:{}", escape(&contact.company)));
    }
    if !contact.title.is_empty() {
        line(format!("TITLE:{}", escape(&contact.title)));
    }
    if let Some(birthday) = &contact.birthday {
        // `YYYYMMDD`, or `--MMDD` without a year.
        let bday = match birthday.strip_prefix("--") {
            Some(month_day) => format!("--{}", month_day.replace('-', "")),
            None => birthday.replace('-', ""),
        };
        line(format!("BDAY:{bday}"));
    }
    for e in &contact.emails {
        line(typed("EMAIL", &e.label, &escape(&e.value)));
    }
    for p in &contact.phones {
        line(typed("TEL", &p.label, &escape(&p.value)));
    }
    for a in &contact.addresses {
        let parts = a.parts().map(escape).join(";");
        line(typed("ADR", &a.label, &format!(";;{parts}")));
    }
    if !contact.website.is_empty() {
        line(format!("URL:{}", contact.website));
    }
    // RFC 9554's SOCIALPROFILE; readers that do not know it keep it as an extension.
    for l in &contact.links {
        let service = parameter_value(&l.label);
        if service.is_empty() {
            line(format!("SOCIALPROFILE:{}", l.value));
        } else {
            line(format!("SOCIALPROFILE;SERVICE-TYPE={service}:{}", l.value));
        }
    }
    if !contact.notes.is_empty() {
        line(format!("NOTE:{}", escape(&contact.notes)));
    }
    if let Some(photo) = photo {
        line(format!(
            "PHOTO:data:{};base64,{}",
            photo.content_type,
            BASE64.encode(&photo.data)
        ));
    }
    if !contact.tags.is_empty() {
        let tags: Vec<String> = contact.tags.iter().map(|t| escape(t)).collect();
        line(format!("CATEGORIES:{}", tags.join(",")));
    }
    line("END:VCARD".into());
}

fn typed(name: &str, label: &str, value: &str) -> String {
    if label.is_empty() {
        format!("{name}:{value}")
    } else {
        format!("{name};TYPE={}:{value}", parameter_value(label))
    }
}

/// A label as a parameter value: what would end the parameter or the line becomes a space.
fn parameter_value(label: &str) -> String {
    label.replace(|c: char| c.is_control() || ";:,\"".contains(c), " ")
}

/// A card read from a file, with the line it starts on.
#[derive(Debug)]
pub struct ReadCard {
    pub line: usize,
    pub contact: ContactInput,
    pub photo: Option<Photo>,
    /// What was left out of this card, and why (`line N: …`).
    pub skipped: Vec<String>,
}

/// Reads every card of a vCard file: the cards that could be read and the problems (with
/// line numbers) of the rest. Callers treat any problem as failing the whole file.
pub fn read(text: &str) -> (Vec<ReadCard>, Vec<(usize, String)>) {
    let lines = match contentline::parse(text) {
        Ok(lines) => lines,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let mut cards = Vec::new();
    let mut errors = Vec::new();
    let mut current: Option<(usize, Vec<ContentLine>)> = None;
    for line in lines {
        match (line.name.as_str(), &mut current) {
            ("BEGIN", None) if line.value.eq_ignore_ascii_case("VCARD") => {
                current = Some((line.line, Vec::new()))
            }
            ("BEGIN", Some(_)) => errors.push((
                line.line,
                "a card begins before the previous one ended".into(),
            )),
            ("END", Some(_)) if line.value.eq_ignore_ascii_case("VCARD") => {
                let (start, props) = current.take().expect("inside a card");
                match card(start, &props) {
                    Ok(card) => cards.push(card),
                    Err(e) => errors.push(e),
                }
            }
            (_, Some((_, props))) => props.push(line),
            (_, None) => errors.push((
                line.line,
                format!("`{}` outside BEGIN:VCARD … END:VCARD", line.name),
            )),
        }
    }
    if let Some((start, _)) = current {
        errors.push((start, "this card has no END:VCARD".into()));
    }
    if cards.is_empty() && errors.is_empty() {
        errors.push((1, "the file has no cards".into()));
    }
    (cards, errors)
}

/// A card's contact and photo, and what was left out. Another program's extras that we cannot
/// keep (a photo we do not take, a link that is no web address) are skipped and reported, so
/// they never fail a whole file.
fn card(start: usize, props: &[ContentLine]) -> Result<ReadCard, (usize, String)> {
    let mut contact = ContactInput::default();
    let mut photo = None;
    let mut skipped = Vec::new();
    let label = |p: &ContentLine| {
        p.param("TYPE")
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| {
                        !matches!(
                            t.to_ascii_lowercase().as_str(),
                            "internet" | "pref" | "voice"
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            })
            .unwrap_or_default()
    };
    for p in props {
        match p.name.as_str() {
            "FN" => contact.display_name = unescape(&p.value),
            "N" => {
                let parts = split_unescaped(&p.value, ';');
                contact.family_name = parts.first().cloned().unwrap_or_default();
                contact.given_name = parts.get(1).cloned().unwrap_or_default();
            }
            "ORG" => {
                contact.company = split_unescaped(&p.value, ';')
                    .into_iter()
                    .next()
                    .unwrap_or_default()
            }
            "TITLE" => contact.title = unescape(&p.value),
            "NOTE" => contact.notes = unescape(&p.value),
            "URL" if contact.website.is_empty() => contact.website = p.value.trim().to_string(),
            "URL" | "SOCIALPROFILE" | "X-SOCIALPROFILE" => {
                // `example.com/ada` is a web address without its scheme.
                let value = match p.value.trim() {
                    v if v.contains("://") => v.to_string(),
                    v => format!("https://{v}"),
                };
                if crate::contacts::is_web_address(&value) {
                    contact.links.push(LabeledValue {
                        value,
                        label: p
                            .param("SERVICE-TYPE")
                            .map(str::to_string)
                            .unwrap_or_else(|| label(p)),
                    });
                } else {
                    skipped.push(format!(
                        "line {}: {} `{}` is not a web address; left out",
                        p.line, p.name, p.value
                    ));
                }
            }
            // 4.0: `PHOTO:data:image/jpeg;base64,…`; 3.0: `PHOTO;ENCODING=b;TYPE=JPEG:…`. A
            // photo given as a link to elsewhere is not fetched.
            "PHOTO" => {
                let value = p.value.trim();
                let encoded = match value.strip_prefix("data:") {
                    Some(data) => data.split_once(";base64,").map(|(_, b64)| b64),
                    None => p
                        .param("ENCODING")
                        .filter(|e| e.eq_ignore_ascii_case("b") || e.eq_ignore_ascii_case("base64"))
                        .map(|_| value),
                };
                let compact = encoded.map(|e| e.split_whitespace().collect::<String>());
                match compact.map(|c| BASE64.decode(c)) {
                    None => skipped.push(format!(
                        "line {}: PHOTO is a link, not an image; left out",
                        p.line
                    )),
                    Some(Err(_)) => skipped.push(format!(
                        "line {}: PHOTO is not valid base64; left out",
                        p.line
                    )),
                    Some(Ok(bytes)) => match Photo::new(bytes) {
                        Ok(image) => photo = Some(image),
                        Err(e) => skipped.push(format!("line {}: PHOTO {e}; left out", p.line)),
                    },
                }
            }
            "ADR" => {
                // PO box; extended address; street; locality; region; postal code; country.
                let parts = split_unescaped(&p.value, ';');
                let part = |i: usize| parts.get(i).cloned().unwrap_or_default();
                // Our address has one street line: the PO box and extended address join it.
                let street = [part(0), part(1), part(2)]
                    .into_iter()
                    .filter(|s| !s.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(", ");
                let address = Address {
                    label: label(p),
                    street,
                    locality: part(3),
                    region: part(4),
                    postal_code: part(5),
                    country: part(6),
                };
                if !address.is_blank() {
                    contact.addresses.push(address);
                }
            }
            "EMAIL" => contact.emails.push(LabeledValue {
                value: unescape(&p.value),
                label: label(p),
            }),
            "TEL" => contact.phones.push(LabeledValue {
                value: unescape(p.value.trim_start_matches("tel:")),
                label: label(p),
            }),
            "CATEGORIES" => contact.tags.extend(
                split_unescaped(&p.value, ',')
                    .into_iter()
                    .filter(|t| !t.trim().is_empty()),
            ),
            "BDAY" => {
                contact.birthday = Some(
                    birthday(&p.value)
                        .ok_or((p.line, format!("BDAY `{}` is not a date", p.value)))?,
                )
            }
            _ => {}
        }
    }
    if contact.display_name.trim().is_empty()
        && contact.given_name.is_empty()
        && contact.family_name.is_empty()
    {
        return Err((start, "this card has no name (FN or N)".into()));
    }
    Ok(ReadCard {
        line: start,
        contact,
        photo,
        skipped,
    })
}

/// vCard dates: `19850412`, `1985-04-12`, `--0412`, `--04-12` (a time part is ignored).
fn birthday(raw: &str) -> Option<String> {
    let date = raw.trim().split('T').next()?;
    let (no_year, digits) = match date.strip_prefix("--") {
        Some(rest) => (true, rest.replace('-', "")),
        None => (false, date.replace('-', "")),
    };
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    match (no_year, digits.len()) {
        (true, 4) => Some(format!("--{}-{}", &digits[..2], &digits[2..])),
        (false, 8) => Some(format!(
            "{}-{}-{}",
            &digits[..4],
            &digits[4..6],
            &digits[6..]
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_version_3_and_4_with_line_numbers() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lovelace;Ada;;;\r\nFN:Ada Lovelace\r\nEMAIL;TYPE=INTERNET,WORK:ada@example.com\r\nTEL;TYPE=CELL:+44 20 7946 0000\r\nBDAY:1815-12-10\r\nCATEGORIES:math,friends\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:4.0\r\nFN:Grace\r\nBDAY:--1209\r\nEND:VCARD\r\n";
        let (cards, errors) = read(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cards.len(), 2);
        assert_eq!(cards[0].contact.emails[0].label, "work");
        assert_eq!(cards[0].contact.birthday.as_deref(), Some("1815-12-10"));
        assert_eq!(cards[1].contact.birthday.as_deref(), Some("--12-09"));
        assert_eq!(cards[1].line, 10);
        let (_, bad) = read(
            "BEGIN:VCARD\nVERSION:4.0\nEMAIL:x@example.com\nEND:VCARD\nBEGIN:VCARD\nBDAY:someday\nFN:X\nEND:VCARD\n",
        );
        assert_eq!(
            bad,
            [
                (1, "this card has no name (FN or N)".to_string()),
                (6, "BDAY `someday` is not a date".to_string())
            ]
        );
    }

    #[test]
    fn an_address_keeps_its_po_box_and_extended_lines() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Box\r\nADR;TYPE=WORK:PO Box 7;Suite 4;1 Main St\\, Rear;Springfield;IL;62701;USA\r\nEND:VCARD\r\n";
        let (cards, errors) = read(text);
        assert!(errors.is_empty(), "{errors:?}");
        let address = &cards[0].contact.addresses[0];
        assert_eq!(address.street, "PO Box 7, Suite 4, 1 Main St, Rear");
        assert_eq!(
            (
                address.label.as_str(),
                address.locality.as_str(),
                address.country.as_str()
            ),
            ("work", "Springfield", "USA")
        );
    }
}
