//! The text and HTML bodies of the platform's e-mails.

use std::time::Duration;

use askama::Template;

use crate::mail::OutgoingMail;

#[derive(Template)]
#[template(path = "mail/password_link.txt")]
struct PasswordLinkText<'a> {
    name: &'a str,
    link: &'a str,
    valid_for: String,
    invitation: bool,
}

#[derive(Template)]
#[template(path = "mail/password_link.html")]
struct PasswordLinkHtml<'a> {
    name: &'a str,
    link: &'a str,
    valid_for: String,
    invitation: bool,
}

fn human_duration(d: Duration) -> String {
    let hours = d.as_secs() / 3600;
    if hours >= 48 {
        format!("{} days", hours / 24)
    } else if hours >= 1 {
        format!("{hours} hour{}", if hours == 1 { "" } else { "s" })
    } else {
        format!("{} minutes", d.as_secs() / 60)
    }
}

/// A reset link (or, for a new account, an invitation to choose a password). `to` is left
/// for the caller to fill in.
pub fn password_link(
    name: &str,
    link: &str,
    valid_for: Duration,
    invitation: bool,
) -> OutgoingMail {
    let valid_for = human_duration(valid_for);
    let subject = if invitation {
        "You have been invited to keel".to_string()
    } else {
        "Reset your keel password".to_string()
    };
    let text = PasswordLinkText {
        name,
        link,
        valid_for: valid_for.clone(),
        invitation,
    }
    .render()
    .expect("template renders");
    let html = PasswordLinkHtml {
        name,
        link,
        valid_for,
        invitation,
    }
    .render()
    .expect("template renders");
    OutgoingMail {
        to: String::new(),
        subject,
        text,
        html: Some(html),
        unsubscribe: None,
    }
}
