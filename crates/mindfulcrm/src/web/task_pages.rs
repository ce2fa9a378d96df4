//! The task list and its actions.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use keel_platform::http::Principal;
use keel_platform::web::{
    FormErrors, PageContext, WebError, WebUser, not_found_page, render, render_invalid,
};
use keel_platform::{AppResult, Platform};
use serde::Deserialize;

use crate::activity::{self, Task, TaskInput};
use crate::domain::TaskStatus;

use super::{BackForm, back, contact_view, local_to_rfc3339, redirect};

#[derive(Template)]
#[template(path = "mindfulcrm/tasks.html")]
pub(super) struct TasksPage {
    page: PageContext,
    tab: &'static str,
    open: Vec<Task>,
    done: Vec<Task>,
    errors: FormErrors,
}

pub(super) async fn tasks_view(
    platform: &Platform,
    principal: &Principal,
    errors: FormErrors,
) -> AppResult<TasksPage> {
    Ok(TasksPage {
        page: PageContext::signed_in(principal, "crm"),
        tab: "tasks",
        open: activity::list_tasks(platform, principal, Some(TaskStatus::Open), None).await?,
        done: activity::list_tasks(platform, principal, Some(TaskStatus::Done), None).await?,
        errors,
    })
}

pub(super) async fn task_list(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    render(&tasks_view(&platform, &principal, FormErrors::default()).await?)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct TaskForm {
    title: String,
    notes: String,
    due_at: String,
    priority: String,
    contact_id: String,
    back: String,
}

pub(super) async fn create_task(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<TaskForm>,
) -> Result<Response, WebError> {
    let input = TaskInput {
        title: form.title.clone(),
        notes: form.notes.clone(),
        due_at: Some(local_to_rfc3339(&platform, &principal, &form.due_at).await?),
        priority: Some(form.priority.clone()),
        contact_ids: form.contact_id.trim().parse().ok().into_iter().collect(),
    };
    match activity::save_task(&platform, &principal, None, &input).await {
        Ok(_) => Ok(redirect(&back(&form.back, "/crm/tasks"))),
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            match input.contact_ids.first() {
                Some(id) => {
                    render_invalid(&contact_view(&platform, &principal, *id, None, errors).await?)
                }
                None => render_invalid(&tasks_view(&platform, &principal, errors).await?),
            }
        }
    }
}

pub(super) async fn task_action(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<BackForm>,
) -> Result<Response, WebError> {
    match action.as_str() {
        "complete" => activity::set_done(&platform, &principal, id, true)
            .await
            .map(|_| ())?,
        "reopen" => activity::set_done(&platform, &principal, id, false)
            .await
            .map(|_| ())?,
        "delete" => activity::delete_task(&platform, &principal, id).await?,
        _ => return Err(not_found_page()),
    }
    Ok(redirect(&back(&form.back, "/crm/tasks")))
}
