//! Outgoing mail. Always sent through the job queue (retries, dead letters). Without SMTP
//! configured, each message is written as an `.eml` file under the data directory and logged,
//! so nothing is silently dropped on an embedded install.

pub mod templates;

use std::path::PathBuf;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::crypto::SecretKey;
use crate::domain::Timestamp;
use crate::jobs;

pub const JOB_KIND: &str = "mail.send";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// A one-click unsubscribe address (RFC 8058): sent as `List-Unsubscribe` with
    /// `List-Unsubscribe-Post`.
    #[serde(default)]
    pub unsubscribe: Option<String>,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    pub fn new(
        smtp_url: Option<&str>,
        from: Mailbox,
        data_dir: &std::path::Path,
    ) -> Result<Self, String> {
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("smtp_url: {e}"))?
                    .build(),
            ),
            None => Transport::Files(data_dir.join("mail")),
        };
        Ok(Self { transport, from })
    }

    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), String> {
        let result = self.deliver(mail).await;
        match &result {
            Ok(()) => metrics::counter!("keel_mail_sent_total").increment(1),
            Err(_) => metrics::counter!("keel_mail_failed_total").increment(1),
        }
        result
    }

    async fn deliver(&self, mail: &OutgoingMail) -> Result<(), String> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| format!("bad recipient {:?}: {e}", mail.to))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject_line(&mail.subject));
        if let Some(url) = &mail.unsubscribe {
            use lettre::message::header::{HeaderName, HeaderValue};
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        let message = match &mail.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(mail.text.clone()),
        }
        .map_err(|e| format!("could not build message: {e}"))?;

        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.map_err(|e| format!("SMTP: {e}"))?;
                tracing::info!(subject = %mail.subject, "mail sent");
            }
            Transport::Files(dir) => {
                crate::files::create_private_dir(dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
                let name = format!(
                    "{}-{}.eml",
                    jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ"),
                    crate::crypto::random_token(6)
                );
                let path = dir.join(name);
                crate::files::write_private(&path, &message.formatted())
                    .await
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                tracing::info!(subject = %mail.subject, file = %path.display(), "no SMTP configured: mail written to file");
            }
        }
        Ok(())
    }
}

/// A subject on one line, at most 200 characters: far below RFC 5322's 998-character line limit
/// even once encoded, and whole on a phone's lock screen.
fn subject_line(subject: &str) -> String {
    let line: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.trim();
    if line.chars().count() <= 200 {
        line.to_string()
    } else {
        line.chars().take(199).collect::<String>() + "…"
    }
}

const SEAL_PURPOSE: &str = "queued-mail";

/// A mail job: the message sealed with the server key, because messages carry reset links,
/// invitations and one-click links that must not sit readable in the database.
#[derive(Serialize, Deserialize)]
pub struct QueuedMail(Queued);

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Queued {
    Sealed {
        sealed: String,
    },
    /// Queued by a version that did not seal mail yet; still delivered after an upgrade.
    Plain(OutgoingMail),
}

impl jobs::Job for QueuedMail {
    const KIND: &'static str = JOB_KIND;
}

impl QueuedMail {
    pub fn seal(secret: &SecretKey, mail: &OutgoingMail) -> Self {
        let plain = serde_json::to_vec(mail).expect("a message serializes");
        Self(Queued::Sealed {
            sealed: secret.seal(SEAL_PURPOSE, &plain),
        })
    }

    /// The message, if it was sealed with this server's key.
    pub fn open(&self, secret: &SecretKey) -> Result<OutgoingMail, jobs::JobError> {
        match &self.0 {
            Queued::Sealed { sealed } => {
                let plain = secret
                    .unseal(SEAL_PURPOSE, sealed)
                    .ok_or("mail payload could not be opened with this server's key")?;
                Ok(serde_json::from_slice(&plain)?)
            }
            Queued::Plain(mail) => Ok(mail.clone()),
        }
    }
}

/// Queues a message on `conn` (normally the transaction of the change that causes it).
pub async fn queue<'c>(
    conn: impl crate::store::Executor<'c>,
    secret: &SecretKey,
    mail: &OutgoingMail,
    now: Timestamp,
) -> sqlx::Result<i64> {
    jobs::enqueue(
        conn,
        &QueuedMail::seal(secret, mail),
        now,
        jobs::DEFAULT_MAX_ATTEMPTS,
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_mail_is_sealed_and_mail_queued_before_sealing_still_opens() {
        let secret = SecretKey::from_config("a-secret-key-of-at-least-32-characters").unwrap();
        let mail = OutgoingMail {
            to: "a@example.com".into(),
            subject: "Reset".into(),
            text: "https://keel.example/reset-password?token=abc".into(),
            html: None,
            unsubscribe: None,
        };
        let stored = serde_json::to_string(&QueuedMail::seal(&secret, &mail)).unwrap();
        assert!(
            !stored.contains("token") && !stored.contains("a@example.com"),
            "{stored}"
        );
        let opened = serde_json::from_str::<QueuedMail>(&stored)
            .unwrap()
            .open(&secret)
            .unwrap();
        assert_eq!(opened.text, mail.text);
        let legacy = serde_json::to_string(&mail).unwrap();
        let opened = serde_json::from_str::<QueuedMail>(&legacy)
            .unwrap()
            .open(&secret)
            .unwrap();
        assert_eq!(opened.to, "a@example.com");
    }
}
