//! The duplicates page: suggested pairs side by side, each side with a button that merges the
//! other contact into it, and the kept contact's page with a notice after a merge.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use keel_platform::http::Principal;
use keel_platform::web::{FormErrors, PageContext, WebError, WebUser, form_response, render};
use keel_platform::{AppError, AppResult, Platform};
use serde::Deserialize;

use super::contact_view;
use crate::merge::{self, DuplicateContact};

/// One contact of a suggestion, with the one that would be merged into it.
struct Side {
    contact: DuplicateContact,
    other_id: i64,
    other_name: String,
}

struct SuggestionView {
    reasons: Vec<String>,
    sides: Vec<Side>,
}

#[derive(Template)]
#[template(path = "mindfulcrm/merge.html")]
struct DuplicatesPage {
    page: PageContext,
    tab: &'static str,
    suggestions: Vec<SuggestionView>,
    errors: FormErrors,
}

async fn duplicates_view(
    platform: &Platform,
    principal: &Principal,
    errors: FormErrors,
) -> AppResult<DuplicatesPage> {
    let suggestions = merge::suggestions(platform, principal, 50)
        .await?
        .into_iter()
        .map(|s| {
            let sides = s
                .contacts
                .iter()
                .zip(s.contacts.iter().rev())
                .map(|(contact, other)| Side {
                    contact: contact.clone(),
                    other_id: other.id,
                    other_name: other.display_name.clone(),
                })
                .collect();
            SuggestionView {
                reasons: s.reasons,
                sides,
            }
        })
        .collect();
    Ok(DuplicatesPage {
        page: PageContext::signed_in(principal, "crm"),
        tab: "contacts",
        suggestions,
        errors,
    })
}

pub(super) async fn duplicates_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    render(&duplicates_view(&platform, &principal, FormErrors::default()).await?)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct MergeForm {
    duplicate_id: String,
}

/// Merges the form's `duplicate_id` into the contact of the path, then shows the kept contact.
pub(super) async fn merge_contact(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Form(form): Form<MergeForm>,
) -> Result<Response, WebError> {
    let merged = async {
        let duplicate = form.duplicate_id.trim().parse().map_err(|_| {
            AppError::field("duplicate_id", "pick the contact to merge into this one")
        })?;
        merge::merge(&platform, &principal, id, duplicate).await
    }
    .await;
    // A missing contact becomes the 404 page; a bad pick is shown on the duplicates page.
    form_response(
        merged,
        |contact| format!("/crm/contacts/{}/merged", contact.id),
        |errors| duplicates_view(&platform, &principal, errors),
    )
    .await
}

/// The kept contact's page, saying the merge happened (a fixed text: nothing from the URL).
pub(super) async fn merged_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let mut page = contact_view(&platform, &principal, id, None, FormErrors::default()).await?;
    page.page.notice = Some(format!(
        "Merged into {}: the other contact's emails, phones, tags, interactions, tasks and events are here now, and it was deleted.",
        page.contact.display_name
    ));
    render(&page)
}
