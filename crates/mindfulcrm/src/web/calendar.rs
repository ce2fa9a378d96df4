//! The calendar page: one week at a time as an agenda in the user's time zone, with forms to
//! add an event, import an `.ics` file, and a link to export every event.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use keel_platform::domain::Timestamp;
use keel_platform::http::Principal;
use keel_platform::web::{FormErrors, PageContext, WebError, WebUser, render, render_invalid};
use keel_platform::{AppError, AppResult, Platform};
use serde::Deserialize;

use super::{BackForm, back, redirect};
use crate::calendar::{self, Event, EventInput};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/crm/calendar", get(week_page).post(create_event))
        .route("/crm/events/{id}/delete", post(delete_event))
}

/// One day of the agenda.
pub struct Day {
    pub label: String,
    pub today: bool,
    pub events: Vec<Event>,
}

#[derive(Template)]
#[template(path = "mindfulcrm/calendar.html")]
struct CalendarPage {
    page: PageContext,
    tab: &'static str,
    time_zone: String,
    week_label: String,
    previous: String,
    next: String,
    days: Vec<Day>,
    form: EventForm,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
struct WeekParams {
    /// Any day of the week to show, `YYYY-MM-DD`; default this week.
    week: Option<String>,
}

async fn week_view(
    platform: &Platform,
    principal: &Principal,
    week: Option<&str>,
    form: EventForm,
    errors: FormErrors,
) -> AppResult<CalendarPage> {
    let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
    let today = settings.local(platform.now()).date();
    let day = match week.map(str::trim).filter(|w| !w.is_empty()) {
        Some(raw) => raw
            .parse::<jiff::civil::Date>()
            .map_err(|_| AppError::field("week", "must be a date such as 2026-11-23"))?,
        None => today,
    };
    let monday = day
        .checked_sub(jiff::Span::new().days(day.weekday().to_monday_zero_offset()))
        .unwrap_or(day);
    let dates: Vec<jiff::civil::Date> = (0..8)
        .filter_map(|i| monday.checked_add(jiff::Span::new().days(i)).ok())
        .collect();
    let from = Timestamp::from_millis(settings.start_of_day(dates[0]));
    let to = Timestamp::from_millis(settings.start_of_day(dates[dates.len() - 1]));
    let events = calendar::list(platform, principal, from, to, None).await?;
    let days = dates
        .windows(2)
        .map(|w| {
            let (start, end) = (settings.start_of_day(w[0]), settings.start_of_day(w[1]));
            Day {
                label: w[0].strftime("%A %-d %B").to_string(),
                today: w[0] == today,
                events: events
                    .iter()
                    .filter(|e| {
                        if e.all_day {
                            // All-day events are dates (kept as UTC midnights), the same
                            // days in every zone.
                            let date = |t: Timestamp| {
                                t.to_jiff()
                                    .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                                    .date()
                            };
                            date(e.starts_at) <= w[0] && w[0] < date(e.ends_at)
                        } else {
                            e.starts_at.as_millis() < end && e.ends_at.as_millis() > start
                        }
                    })
                    .cloned()
                    .collect(),
            }
        })
        .collect();
    let week_of = |d: jiff::civil::Date| format!("/crm/calendar?week={d}");
    Ok(CalendarPage {
        page: PageContext::signed_in(principal, "crm").in_time_zone(&settings.time_zone),
        tab: "calendar",
        time_zone: settings.time_zone.clone(),
        week_label: format!(
            "{} – {}",
            dates[0].strftime("%-d %B"),
            dates[6].strftime("%-d %B %Y")
        ),
        previous: week_of(
            monday
                .checked_sub(jiff::Span::new().weeks(1))
                .unwrap_or(monday),
        ),
        next: week_of(dates[7]),
        days,
        form,
        errors,
    })
}

async fn week_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(params): Query<WeekParams>,
) -> Result<Response, WebError> {
    render(
        &week_view(
            &platform,
            &principal,
            params.week.as_deref(),
            EventForm::default(),
            FormErrors::default(),
        )
        .await?,
    )
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct EventForm {
    pub title: String,
    pub all_day: Option<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub location: String,
    pub attendees: String,
    pub description: String,
}

async fn create_event(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<EventForm>,
) -> Result<Response, WebError> {
    let input = EventInput {
        title: form.title.clone(),
        starts_at: form.starts_at.clone(),
        ends_at: Some(form.ends_at.clone()),
        all_day: form.all_day.is_some(),
        location: form.location.clone(),
        description: form.description.clone(),
        attendees: form
            .attendees
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
    };
    match calendar::create(&platform, &principal, &input).await {
        Ok(event) => {
            let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
            let day = settings.local(event.starts_at).date();
            Ok(redirect(&format!("/crm/calendar?week={day}")))
        }
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&week_view(&platform, &principal, None, form, errors).await?)
        }
    }
}

async fn delete_event(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Form(form): Form<BackForm>,
) -> Result<Response, WebError> {
    calendar::delete(&platform, &principal, id).await?;
    Ok(redirect(&back(&form.back, "/crm/calendar")))
}

/// An `.ics` file uploaded from the calendar page (`file`, and `dry_run` to only check it).
pub(super) async fn import_events(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    form: axum::extract::Multipart,
) -> Result<Response, WebError> {
    let upload = super::read_upload(form).await?;
    let dry_run = upload.dry_run;
    let text = upload.text(".ics")?;
    match calendar::import_ics(&platform, &principal, &text, dry_run).await {
        Ok(done) => {
            let mut page = week_view(
                &platform,
                &principal,
                None,
                EventForm::default(),
                FormErrors::default(),
            )
            .await?;
            page.page.notice = Some(if done.dry_run {
                format!(
                    "The file is fine: {} events, {} of them new. Nothing was written.",
                    done.events, done.created
                )
            } else {
                format!(
                    "Imported {} events ({} new, {} updated).",
                    done.events,
                    done.created,
                    done.events - done.created
                )
            });
            render(&page)
        }
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(
                &week_view(&platform, &principal, None, EventForm::default(), errors).await?,
            )
        }
    }
}
