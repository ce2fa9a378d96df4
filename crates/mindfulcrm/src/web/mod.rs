//! MindfulCRM's pages: the router and what the page modules share. Contacts (list, detail
//! with timeline and edit) are in `contact_pages`, tasks in `task_pages`.
//! Every form posts to a route that calls the same operations as the JSON API.

use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use keel_platform::Platform;

use crate::domain::Health;

mod accounts;
pub(crate) mod ai;
mod calendar;
mod contact_pages;
mod csv_import;
mod dashboard;
mod goals;
mod merge;
mod settings;
mod task_pages;

use contact_pages::{
    BackForm, ListParams, Upload, contact_list, contact_page, contact_view, contacts_view,
    create_contact, delete_contact, delete_interaction, import_contacts, local_to_rfc3339,
    log_interaction, read_upload, remove_photo, update_contact, upload_photo,
};
use task_pages::{create_task, task_action, task_list};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/crm", get(dashboard::dashboard))
        .merge(calendar::router())
        .merge(goals::router())
        .merge(settings::router())
        .merge(accounts::router())
        .merge(ai::router())
        .route("/crm/contacts", get(contact_list).post(create_contact))
        .merge(
            Router::new()
                .route("/crm/contacts/import", post(import_contacts))
                .route("/crm/contacts/import/csv", post(csv_import::import_csv))
                .route("/crm/calendar/import", post(calendar::import_events))
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::api::IMPORT_MAX_BYTES,
                )),
        )
        .route("/crm/contacts/{id}", get(contact_page).post(update_contact))
        .route("/crm/contacts/{id}/delete", post(delete_contact))
        .route("/crm/contacts/{id}/photo", post(upload_photo))
        .route("/crm/contacts/{id}/photo/delete", post(remove_photo))
        .route("/crm/contacts/duplicates", get(merge::duplicates_page))
        .route("/crm/contacts/{id}/merge", post(merge::merge_contact))
        .route("/crm/contacts/{id}/merged", get(merge::merged_page))
        .route("/crm/contacts/{id}/interactions", post(log_interaction))
        .route("/crm/interactions/{id}/delete", post(delete_interaction))
        .route("/crm/tasks", get(task_list).post(create_task))
        .route("/crm/tasks/{id}/{action}", post(task_action))
}

fn redirect(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Where a form came from, to return there (only our own pages).
fn back(to: &str, fallback: &str) -> String {
    if to.starts_with("/crm") && !to.starts_with("//") {
        to.to_string()
    } else {
        fallback.to_string()
    }
}

/// For templates: how a health reads.
pub fn health_label(health: &Health) -> &'static str {
    match health {
        Health::OnCadence => "on cadence",
        Health::Due => "due",
        Health::Overdue => "overdue",
        Health::None => "",
    }
}
