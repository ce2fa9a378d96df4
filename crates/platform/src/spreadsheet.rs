//! CSV cells that spreadsheets cannot mistake for formulas. A cell starting with `=`, `+`,
//! `-`, `@`, a tab or a carriage return is run as a formula by Excel, LibreOffice and Google
//! Sheets (and can fetch URLs or run commands); such cells are written behind a `'`, which
//! spreadsheets hide, and keel's own CSV import removes it again.

use std::borrow::Cow;

fn looks_like_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A cell as written to a CSV export.
pub fn safe_cell(text: &str) -> Cow<'_, str> {
    if looks_like_formula(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// A cell as read from a CSV import: what [`safe_cell`] wrote, back as it was.
pub fn read_cell(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if looks_like_formula(rest) => rest,
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_read_back() {
        for text in [
            "=HYPERLINK(\"http://x\")",
            "+14155550100",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            let written = safe_cell(text);
            assert!(written.starts_with('\''), "{text:?}");
            assert_eq!(read_cell(&written), text);
        }
        for text in ["Ada", "", "'quoted", "a=b", "'plain"] {
            assert_eq!(safe_cell(text), text);
            assert_eq!(read_cell(text), text);
        }
    }
}
