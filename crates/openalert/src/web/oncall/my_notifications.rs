//! My notification settings.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use keel_platform::domain::Timestamp;
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::web::{
    FormErrors, PageContext, WebError, WebUser, not_found_page, render, render_invalid,
};
use keel_platform::{AppError, AppResult, Platform};

use crate::domain::schedule::{self as rules};
use crate::oncall::{self as service};
use crate::store::notify::{ContactMethod, NotificationRule};

use super::*;

#[derive(Template)]
#[template(path = "openalert/me.html")]
struct MePage {
    page: PageContext,
    tab: &'static str,
    methods: Vec<ContactMethod>,
    rules: Vec<(NotificationRule, String)>,
    shifts: Vec<(String, Timestamp, Timestamp)>,
    account_email: String,
    sms_enabled: bool,
    feed_url: Option<String>,
    errors: FormErrors,
}

async fn me_view(
    platform: &Platform,
    principal: &Principal,
    notice: Option<String>,
    feed_url: Option<String>,
    errors: FormErrors,
) -> AppResult<MePage> {
    let methods = crate::notify::my_methods(platform, principal).await?;
    let rules = crate::notify::my_rules(platform, principal)
        .await?
        .into_iter()
        .map(|r| {
            let label = methods
                .iter()
                .find(|m| m.id == r.contact_method_id)
                .map(|m| format!("{} ({})", m.label, m.kind))
                .unwrap_or_default();
            (r, label)
        })
        .collect();
    let now = platform.now();
    let until = Timestamp::from_millis(now.as_millis() + 28 * 86_400_000);
    let mut shifts = Vec::new();
    for schedule_id in
        crate::store::schedules::schedules_of_user(platform.db.pool(), principal.user.id).await?
    {
        let Ok(schedule) = service::visible_schedule(platform, principal, schedule_id).await else {
            continue;
        };
        for shift in rules::per_person(&service::timeline(platform, &schedule, now, until).await?) {
            if shift.user_id == principal.user.id {
                shifts.push((
                    schedule.name.clone(),
                    Timestamp::from_millis(shift.starts_at),
                    Timestamp::from_millis(shift.ends_at),
                ));
            }
        }
    }
    shifts.sort_by_key(|s| s.1);
    Ok(MePage {
        page: PageContext::signed_in(principal, "openalert").with_notice(notice),
        tab: "me",
        methods,
        rules,
        shifts,
        account_email: principal.user.email.clone(),
        sms_enabled: platform.config.twilio.is_some(),
        feed_url,
        errors,
    })
}

pub(super) async fn me_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    render(&me_view(&platform, &principal, None, None, FormErrors::default()).await?)
}

/// The settings page after an action: its notice, or the form errors (422).
async fn me_after(
    platform: &Platform,
    principal: &Principal,
    outcome: Result<String, AppError>,
) -> Result<Response, WebError> {
    match outcome {
        Ok(notice) => render(
            &me_view(
                platform,
                principal,
                Some(notice),
                None,
                FormErrors::default(),
            )
            .await?,
        ),
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&me_view(platform, principal, None, None, errors).await?)
        }
    }
}

pub(super) async fn add_method(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let outcome = crate::notify::create_method(
        &platform,
        &principal,
        field(&form, "kind"),
        field(&form, "label"),
        field(&form, "address"),
        &meta,
    )
    .await
    .map(|m| {
        format!(
            "A verification code was sent to {}. Enter it below.",
            m.address
        )
    });
    me_after(&platform, &principal, outcome).await
}

pub(super) async fn method_action(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let outcome = match action.as_str() {
        "verify" => crate::notify::verify(&platform, &principal, id, field(&form, "code"))
            .await
            .map(|_| "Verified: this method can now be used in your rules.")
            // Each method has its own code box: name the error after it.
            .map_err(|err| match err {
                AppError::Validation(mut errors) => {
                    errors
                        .iter_mut()
                        .for_each(|e| e.field = format!("code{id}"));
                    AppError::Validation(errors)
                }
                other => other,
            }),
        "send-code" => crate::notify::send_code(&platform, &principal, id)
            .await
            .map(|_| "A new code is on its way."),
        "test" => crate::notify::send_test(&platform, &principal, id)
            .await
            .map(|_| "Test notification sent."),
        "delete" => crate::notify::delete_method(&platform, &principal, id, &meta)
            .await
            .map(|_| "Contact method removed."),
        _ => return Err(not_found_page()),
    };
    me_after(&platform, &principal, outcome.map(str::to_string)).await
}

pub(super) async fn add_rule(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let outcome = async {
        let method = field(&form, "contact_method_id")
            .parse()
            .map_err(|_| AppError::field("contact_method_id", "choose a contact method"))?;
        let delay = field(&form, "delay_minutes")
            .parse()
            .map_err(|_| AppError::field("delay_minutes", "must be a whole number of minutes"))?;
        crate::notify::create_rule(
            &platform,
            &principal,
            method,
            field(&form, "urgency"),
            delay,
        )
        .await
    }
    .await
    .map(|_| "Rule added.".to_string());
    me_after(&platform, &principal, outcome).await
}

pub(super) async fn delete_rule(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    match crate::notify::delete_rule(&platform, &principal, id).await {
        Ok(()) => Ok(redirect("/openalert/me")),
        Err(AppError::NotFound(_)) => Err(not_found_page()),
        Err(other) => Err(other.into()),
    }
}

pub(super) async fn my_feed(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(action): Path<String>,
) -> Result<Response, WebError> {
    let url = service::set_personal_feed(&platform, &principal, action == "rotate").await?;
    render(
        &me_view(
            &platform,
            &principal,
            url.is_none()
                .then(|| "Your calendar feed is off.".to_string()),
            url,
            FormErrors::default(),
        )
        .await?,
    )
}
