//! Log output. Alert summaries, names and other text from outside reach log fields; in the
//! text format a line break or escape sequence in them could forge a log line or drive the
//! operator's terminal, so every control character but the line's own end is escaped.
//! (The JSON format escapes by itself.)

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::fmt::MakeWriter;

pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().with_writer(io::stderr).init();
    } else {
        // Colours only on a terminal; their escape sequences are the only ones let through.
        let ansi = io::stderr().is_terminal();
        builder
            .with_ansi(ansi)
            .with_writer(EscapedStderr { keep_ansi: ansi })
            .init();
    }
}

#[derive(Clone, Copy)]
struct EscapedStderr {
    keep_ansi: bool,
}

impl<'a> MakeWriter<'a> for EscapedStderr {
    type Writer = EscapedLine<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapedLine {
            inner: io::stderr(),
            keep_ansi: self.keep_ansi,
        }
    }
}

/// Writes each formatted record with its control characters escaped.
struct EscapedLine<W> {
    inner: W,
    keep_ansi: bool,
}

impl<W: Write> Write for EscapedLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_all(&escape(buf, self.keep_ansi))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `buf` with `\n`, `\r` and other control bytes written as `\n`, `\r`, `\xNN`, except a final
/// line break (and ESC when colours are on).
fn escape(buf: &[u8], keep_ansi: bool) -> Vec<u8> {
    let (body, end) = match buf.strip_suffix(b"\n") {
        Some(body) => (body, &b"\n"[..]),
        None => (buf, &b""[..]),
    };
    let mut out = Vec::with_capacity(buf.len() + 8);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.push(b),
            0x1b if keep_ansi => out.push(b),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.extend_from_slice(end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_line_stays_on_its_own_line() {
        let line = b"INFO alert summary=disk full\nERROR admin logged in\r\x1b[2J\x07 ok\n";
        assert_eq!(
            String::from_utf8(escape(line, false)).unwrap(),
            "INFO alert summary=disk full\\nERROR admin logged in\\r\\x1b[2J\\x07 ok\n"
        );
        assert_eq!(
            escape(b"\x1b[32mINFO\x1b[0m x\n", true),
            b"\x1b[32mINFO\x1b[0m x\n"
        );
        assert_eq!(escape(b"tab\there", false), b"tab\there");
    }
}
