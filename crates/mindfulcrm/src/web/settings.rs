//! The settings page: time zone, default cadence for new contacts, the daily digest.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use keel_platform::http::Principal;
use keel_platform::web::{FormErrors, PageContext, WebError, WebUser, render, render_invalid};
use keel_platform::{AppResult, Platform};
use serde::Deserialize;

use super::redirect;
use crate::settings::{self, Settings, SettingsInput};

pub fn router() -> Router<Platform> {
    Router::new().route("/crm/settings", get(settings_page).post(save_settings))
}

#[derive(Template)]
#[template(path = "mindfulcrm/settings.html")]
struct SettingsPage {
    page: PageContext,
    tab: &'static str,
    name: String,
    email: String,
    form: SettingsForm,
    errors: FormErrors,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct SettingsForm {
    pub time_zone: String,
    pub default_cadence_days: String,
    pub digest_enabled: Option<String>,
    pub digest_hour: String,
}

impl From<&Settings> for SettingsForm {
    fn from(s: &Settings) -> Self {
        Self {
            time_zone: s.time_zone.clone(),
            default_cadence_days: s
                .default_cadence_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            digest_enabled: s.digest_enabled.then(|| "on".into()),
            digest_hour: s.digest_hour.to_string(),
        }
    }
}

fn view(
    principal: &Principal,
    form: SettingsForm,
    errors: FormErrors,
    notice: Option<String>,
) -> SettingsPage {
    SettingsPage {
        page: PageContext::signed_in(principal, "crm").with_notice(notice),
        tab: "settings",
        name: principal.user.name.clone(),
        email: principal.user.email.clone(),
        form,
        errors,
    }
}

#[derive(Deserialize, Default)]
struct Saved {
    done: Option<String>,
}

async fn settings_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(q): Query<Saved>,
) -> Result<Response, WebError> {
    let current = settings::get(platform.db.pool(), principal.user.id).await?;
    let notice = q.done.map(|_| "Settings saved.".to_string());
    render(&view(
        &principal,
        (&current).into(),
        FormErrors::default(),
        notice,
    ))
}

async fn save_settings(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<SettingsForm>,
) -> Result<Response, WebError> {
    let result: AppResult<Settings> = async {
        let default_cadence_days = match form.default_cadence_days.trim() {
            "" => None,
            raw => Some(raw.parse().map_err(|_| {
                keel_platform::AppError::field("default_cadence_days", "must be a number of days")
            })?),
        };
        let digest_hour = form.digest_hour.trim().parse().map_err(|_| {
            keel_platform::AppError::field("digest_hour", "must be an hour from 0 to 23")
        })?;
        let input = SettingsInput {
            time_zone: form.time_zone.clone(),
            default_cadence_days,
            digest_enabled: form.digest_enabled.is_some(),
            digest_hour,
        };
        settings::save(&platform, &principal, &input).await
    }
    .await;
    match result {
        Ok(_) => Ok(redirect("/crm/settings?done=saved")),
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&view(&principal, form, errors, None))
        }
    }
}
