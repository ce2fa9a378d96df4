//! The contact pages: the list, import, a contact with its timeline, photo and edits, and
//! logging interactions.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use keel_platform::http::Principal;
use keel_platform::web::{
    FormErrors, PageContext, WebError, WebUser, form_response, render, render_invalid,
};
use keel_platform::{AppError, AppResult, Platform};
use serde::Deserialize;

use crate::activity::{self, Interaction, InteractionInput, Task};
use crate::contacts::{self, Contact, ContactInput};
use crate::domain::{InteractionKind, Stage, TaskStatus};
use crate::store::LabeledValue;

use super::{back, redirect};

#[derive(Deserialize, Default)]
pub(super) struct ListParams {
    q: Option<String>,
    tag: Option<String>,
    stage: Option<String>,
    health: Option<String>,
    after: Option<String>,
    /// Set by the CSV import's redirect: how many contacts it created.
    imported: Option<String>,
}

#[derive(Template)]
#[template(path = "mindfulcrm/contacts.html")]
pub(super) struct ContactsPage {
    page: PageContext,
    tab: &'static str,
    contacts: Vec<Contact>,
    next: Option<String>,
    /// Contacts outside the archive, whatever the filter.
    total: i64,
    /// A search or filter narrows the list.
    filtered: bool,
    tags: Vec<(String, i64)>,
    stages: &'static [&'static str],
    /// What was typed into the new-contact form, kept when it comes back with errors.
    new_contact: ContactForm,
    q: String,
    tag: String,
    stage: String,
    due_only: bool,
    errors: FormErrors,
}

impl ContactsPage {
    /// "1,234 contacts", and for a filtered list how many of them are shown.
    fn count_text(&self) -> String {
        let total = keel_platform::web::thousands(self.total);
        let noun = if self.total == 1 {
            "contact"
        } else {
            "contacts"
        };
        if !self.filtered {
            return format!("{total} {noun}");
        }
        let shown = self.contacts.len();
        let more = if self.next.is_some() {
            " (more on the next pages)"
        } else {
            ""
        };
        format!(
            "{total} {noun} in all; {shown} match{}{more}",
            if shown == 1 { "es" } else { "" }
        )
    }
}

pub(super) async fn contacts_view(
    platform: &Platform,
    principal: &Principal,
    params: &ListParams,
    errors: FormErrors,
) -> AppResult<ContactsPage> {
    let filter = crate::api::contact_query(
        platform,
        params.q.as_deref(),
        params.tag.as_deref(),
        params.stage.as_deref(),
        params.health.as_deref(),
        params.after.as_deref(),
        Some(50),
    )?;
    let (contacts, next) = contacts::list(platform, principal, filter).await?;
    Ok(ContactsPage {
        page: PageContext::signed_in(principal, "crm"),
        tab: "contacts",
        contacts,
        next,
        total: contacts::count_active(platform, principal).await?,
        filtered: [&params.q, &params.tag, &params.stage, &params.health]
            .iter()
            .any(|p| p.as_deref().is_some_and(|v| !v.trim().is_empty())),
        tags: contacts::tags(platform, principal).await?,
        stages: Stage::ALL,
        new_contact: ContactForm::default(),
        q: params.q.clone().unwrap_or_default(),
        tag: params.tag.clone().unwrap_or_default(),
        stage: params.stage.clone().unwrap_or_default(),
        due_only: params.health.as_deref() == Some("due"),
        errors,
    })
}

/// An uploaded file (`file`) and whether only a check was asked for (`dry_run`).
pub(super) struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub dry_run: bool,
}

impl Upload {
    /// The file as text; `extension` names the kind of file expected in the error.
    pub(super) fn text(self, extension: &str) -> Result<String, AppError> {
        String::from_utf8(self.bytes)
            .map_err(|_| AppError::field("file", format!("must be a text ({extension}) file")))
    }

    /// A vCard by its name, or by its first line when the name says neither.
    pub fn is_vcard(&self) -> bool {
        let name = self.file_name.to_ascii_lowercase();
        if name.ends_with(".csv") {
            return false;
        }
        if name.ends_with(".vcf") || name.ends_with(".vcard") {
            return true;
        }
        let text = self
            .bytes
            .strip_prefix(b"\xef\xbb\xbf")
            .unwrap_or(&self.bytes);
        let start: Vec<u8> = text
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .take(b"BEGIN:VCARD".len())
            .copied()
            .collect();
        start.eq_ignore_ascii_case(b"BEGIN:VCARD")
    }
}

pub(super) async fn read_upload(mut form: axum::extract::Multipart) -> Result<Upload, WebError> {
    let mut upload = Upload {
        file_name: String::new(),
        bytes: Vec::new(),
        dry_run: false,
    };
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("the upload is broken: {e}")))?
    {
        match field.name() {
            Some("file") => {
                upload.file_name = field.file_name().unwrap_or_default().to_string();
                upload.bytes = field
                    .bytes()
                    .await
                    .map_err(|e| AppError::BadRequest(format!("the upload is broken: {e}")))?
                    .to_vec();
            }
            Some("dry_run") => upload.dry_run = true,
            _ => {}
        }
    }
    Ok(upload)
}

/// A file uploaded from the contacts page (`file`): a vCard is imported at once (`dry_run`
/// only checks it); a CSV file goes on to the column mapping step.
pub(super) async fn import_contacts(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    form: axum::extract::Multipart,
) -> Result<Response, WebError> {
    let upload = read_upload(form).await?;
    if !upload.is_vcard() {
        return super::csv_import::mapping_step(&platform, &principal, &upload).await;
    }
    let dry_run = upload.dry_run;
    let outcome = match upload.text(".vcf") {
        Ok(text) => crate::transfer::import_vcard(&platform, &principal, &text, dry_run).await,
        Err(err) => Err(err),
    };
    match outcome {
        Ok(done) => {
            let mut page = contacts_view(
                &platform,
                &principal,
                &ListParams::default(),
                FormErrors::default(),
            )
            .await?;
            let mut notice = if done.dry_run {
                format!(
                    "The file is fine: importing it would add {} contacts. Nothing was written.",
                    done.contacts
                )
            } else {
                format!("Imported {} contacts.", done.contacts)
            };
            if !done.skipped.is_empty() {
                notice.push_str(&format!(" Left out: {}.", done.skipped.join("; ")));
            }
            page.page.notice = Some(notice);
            render(&page)
        }
        Err(err) => {
            let page = contacts_view(
                &platform,
                &principal,
                &ListParams::default(),
                FormErrors::from_app_error(err)?,
            )
            .await?;
            render_invalid(&page)
        }
    }
}

pub(super) async fn contact_list(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    match contacts_view(&platform, &principal, &params, FormErrors::default()).await {
        Ok(mut page) => {
            // A fixed sentence around a number: nothing else from the URL is shown.
            if let Some(count) = params
                .imported
                .as_deref()
                .and_then(|n| n.parse::<u64>().ok())
            {
                page.page.notice = Some(format!("Imported {count} contacts from the CSV file."));
            }
            render(&page)
        }
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(
                &contacts_view(&platform, &principal, &ListParams::default(), errors).await?,
            )
        }
    }
}

/// The contact form's fields. Emails and phones are one per line, optionally followed by a
/// label in parentheses; tags are separated by commas.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ContactForm {
    given_name: String,
    family_name: String,
    display_name: String,
    company: String,
    title: String,
    birthday: String,
    website: String,
    notes: String,
    stage: String,
    cadence_days: String,
    emails: String,
    phones: String,
    /// One per line, as [`contacts::address_line`] writes them.
    addresses: String,
    links: String,
    tags: String,
}

/// One `value (label)` per line, read as the CSV import reads them.
pub(super) fn labeled_lines(text: &str, phone: bool) -> Vec<LabeledValue> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| contacts::split_label(line, phone))
        .collect()
}

pub(super) fn unlabeled(values: &[LabeledValue]) -> String {
    contacts::labeled_text(values, "\n")
}

impl ContactForm {
    fn input(&self) -> AppResult<ContactInput> {
        Ok(ContactInput {
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            display_name: self.display_name.clone(),
            company: self.company.clone(),
            title: self.title.clone(),
            birthday: Some(self.birthday.clone()),
            website: self.website.clone(),
            notes: self.notes.clone(),
            stage: Some(self.stage.clone()),
            cadence_days: match self.cadence_days.trim() {
                "" => None,
                n => Some(n.parse().map_err(|_| {
                    AppError::field("cadence_days", "must be a whole number of days")
                })?),
            },
            emails: labeled_lines(&self.emails, false),
            phones: labeled_lines(&self.phones, true),
            addresses: self
                .addresses
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(contacts::parse_address_line)
                .collect(),
            links: labeled_lines(&self.links, false),
            tags: self
                .tags
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    fn of(c: &Contact) -> Self {
        Self {
            given_name: c.given_name.clone(),
            family_name: c.family_name.clone(),
            display_name: c.display_name.clone(),
            company: c.company.clone(),
            title: c.title.clone(),
            birthday: c.birthday.clone().unwrap_or_default(),
            website: c.website.clone(),
            notes: c.notes.clone(),
            stage: c.stage.as_str().into(),
            cadence_days: c.cadence_days.map(|d| d.to_string()).unwrap_or_default(),
            emails: unlabeled(&c.emails),
            phones: unlabeled(&c.phones),
            addresses: c
                .addresses
                .iter()
                .map(contacts::address_line)
                .collect::<Vec<_>>()
                .join("\n"),
            links: unlabeled(&c.links),
            tags: c.tags.join(", "),
        }
    }
}

pub(super) async fn create_contact(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<ContactForm>,
) -> Result<Response, WebError> {
    let result = async { contacts::create(&platform, &principal, &form.input()?).await }.await;
    let params = ListParams::default();
    form_response(
        result,
        |contact| format!("/crm/contacts/{}", contact.id),
        |errors| async {
            let mut page = contacts_view(&platform, &principal, &params, errors).await?;
            page.new_contact = form;
            AppResult::Ok(page)
        },
    )
    .await
}

#[derive(Template)]
#[template(path = "mindfulcrm/contact.html")]
pub(super) struct ContactPage {
    pub(super) page: PageContext,
    pub(super) contact: Contact,
    form: ContactForm,
    interactions: Vec<Interaction>,
    tasks: Vec<Task>,
    events: Vec<crate::calendar::Event>,
    /// Only when the server has the AI assistant set up.
    summary: Option<crate::ai::contact_texts::ContactText>,
    /// Follow-ups the assistant proposed from interactions with this contact.
    proposals: Vec<crate::ai::proposals::Proposal>,
    /// The assistant is on for this user: offer "Find follow-ups".
    ai_on: bool,
    /// Pictures the photo finder found last.
    photo_candidates: Vec<crate::photo_finder::PhotoCandidate>,
    stages: &'static [&'static str],
    kinds: &'static [&'static str],
    errors: FormErrors,
}

impl ContactPage {
    /// Shown where there is no photo: the first letters of the names.
    fn initials(&self) -> String {
        let c = &self.contact;
        let first = |s: &str| s.chars().find(|ch| ch.is_alphanumeric());
        let letters: String = match (first(&c.given_name), first(&c.family_name)) {
            (Some(g), Some(f)) => [g, f].into_iter().collect(),
            _ => c
                .display_name
                .split_whitespace()
                .filter_map(first)
                .take(2)
                .collect(),
        };
        letters.to_uppercase()
    }

    /// The open task with this person that comes first: what to do next.
    fn next_step(&self) -> Option<&Task> {
        self.tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Open)
            .min_by_key(|t| t.due_at.map_or(i64::MAX, |d| d.as_millis()))
    }
}

pub(super) async fn contact_view(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    form: Option<ContactForm>,
    errors: FormErrors,
) -> AppResult<ContactPage> {
    let contact = contacts::get(platform, principal, id).await?;
    let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
    Ok(ContactPage {
        page: PageContext::signed_in(principal, "crm").in_time_zone(&settings.time_zone),
        form: form.unwrap_or_else(|| ContactForm::of(&contact)),
        interactions: activity::list_interactions(platform, principal, Some(id), None, 100).await?,
        tasks: activity::list_tasks(platform, principal, None, Some(id)).await?,
        events: {
            let quarter = std::time::Duration::from_secs(92 * 86_400);
            let now = platform.now();
            crate::calendar::list(
                platform,
                principal,
                now.minus(quarter),
                now.plus(quarter),
                Some(id),
            )
            .await?
        },
        summary: crate::ai::contact_texts::for_page(
            platform,
            principal,
            id,
            crate::ai::contact_texts::TextKind::Summary,
        )
        .await,
        proposals: crate::ai::proposals::list(platform, principal, Some(id)).await?,
        ai_on: crate::ai::is_on(platform, principal.user.id).await?,
        photo_candidates: crate::photo_finder::candidates(platform, principal, id).await?,
        contact,
        stages: Stage::ALL,
        kinds: InteractionKind::ALL,
        errors,
    })
}

pub(super) async fn contact_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    render(&contact_view(&platform, &principal, id, None, FormErrors::default()).await?)
}

pub(super) async fn update_contact(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Form(form): Form<ContactForm>,
) -> Result<Response, WebError> {
    let result = async { contacts::update(&platform, &principal, id, &form.input()?).await }.await;
    form_response(
        result,
        |_| format!("/crm/contacts/{id}"),
        |errors| contact_view(&platform, &principal, id, Some(form), errors),
    )
    .await
}

/// The photo form's `file`; a bad image shows the contact page with the reason.
pub(super) async fn upload_photo(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    form: axum::extract::Multipart,
) -> Result<Response, WebError> {
    // A file over the request size limit breaks the upload itself: say so as the photo's error.
    let saved = match read_upload(form).await {
        Ok(upload) => contacts::set_photo(&platform, &principal, id, upload.bytes).await,
        Err(_) => Err(AppError::field(
            "photo",
            "the file did not arrive whole; a photo may be at most 512 KiB",
        )),
    };
    form_response(
        saved,
        |()| format!("/crm/contacts/{id}"),
        |errors| contact_view(&platform, &principal, id, None, errors),
    )
    .await
}

pub(super) async fn remove_photo(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    contacts::remove_photo(&platform, &principal, id).await?;
    Ok(redirect(&format!("/crm/contacts/{id}")))
}

pub(super) async fn delete_contact(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    contacts::delete(&platform, &principal, id).await?;
    Ok(redirect("/crm/contacts"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InteractionForm {
    kind: String,
    /// `datetime-local`, read as UTC.
    occurred_at: String,
    subject: String,
    summary: String,
    sentiment: String,
}

/// A form's `datetime-local` value (the user's time zone) as RFC 3339; other text passes
/// through for the service to accept or name as invalid.
pub(super) async fn local_to_rfc3339(
    platform: &Platform,
    principal: &Principal,
    raw: &str,
) -> AppResult<String> {
    let raw = raw.trim();
    let Ok(local) = raw.parse::<jiff::civil::DateTime>() else {
        return Ok(raw.to_string());
    };
    let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
    Ok(settings
        .tz()
        .to_timestamp(local)
        .map_or_else(|_| raw.to_string(), |t| t.to_string()))
}

pub(super) async fn log_interaction(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Form(form): Form<InteractionForm>,
) -> Result<Response, WebError> {
    let input = InteractionInput {
        kind: form.kind.clone(),
        occurred_at: Some(local_to_rfc3339(&platform, &principal, &form.occurred_at).await?),
        subject: form.subject.clone(),
        summary: form.summary.clone(),
        sentiment: Some(form.sentiment.clone()),
        source_ref: None,
        contact_ids: vec![id],
    };
    form_response(
        activity::create_interaction(&platform, &principal, &input).await,
        |_| format!("/crm/contacts/{id}"),
        |errors| contact_view(&platform, &principal, id, None, errors),
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct BackForm {
    pub back: String,
}

pub(super) async fn delete_interaction(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Form(form): Form<BackForm>,
) -> Result<Response, WebError> {
    activity::delete_interaction(&platform, &principal, id).await?;
    Ok(redirect(&back(&form.back, "/crm")))
}
