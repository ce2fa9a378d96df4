//! The calendar page: one week at a time as an agenda in the user's time zone, with forms to
//! add an event, import an `.ics` file, and a link to export every event; and an event's own
//! page to edit it (or, for an event mirrored from a feed or CalDAV, to read it).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use keel_platform::domain::Timestamp;
use keel_platform::http::Principal;
use keel_platform::web::{
    FormErrors, PageContext, WebError, WebUser, form_response, render, render_invalid,
};
use keel_platform::{AppError, AppResult, Platform};
use serde::Deserialize;

use super::{BackForm, back, redirect};
use crate::calendar::{self, Event, EventInput, EventSource};
use crate::settings::Settings;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/crm/calendar", get(week_page).post(create_event))
        .route("/crm/events/{id}", get(event_page).post(update_event))
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
    /// Set by a redirect after a change, for its notice.
    done: Option<String>,
}

/// All-day events are dates, kept as UTC midnights: the same days in every zone.
fn utc_date(at: Timestamp) -> jiff::civil::Date {
    at.to_jiff()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
}

/// An all-day event's first and last day (the stored end is the midnight after it).
fn all_day_dates(event: &Event) -> (jiff::civil::Date, jiff::civil::Date) {
    let first = utc_date(event.starts_at);
    let last = utc_date(event.ends_at)
        .yesterday()
        .map_or(first, |d| d.max(first));
    (first, last)
}

/// The day an event starts on, as the week view files it.
fn first_day(event: &Event, settings: &Settings) -> jiff::civil::Date {
    if event.all_day {
        utc_date(event.starts_at)
    } else {
        settings.local(event.starts_at).date()
    }
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
                            utc_date(e.starts_at) <= w[0] && w[0] < utc_date(e.ends_at)
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
    let mut page = week_view(
        &platform,
        &principal,
        params.week.as_deref(),
        EventForm::default(),
        FormErrors::default(),
    )
    .await?;
    if params.done.as_deref() == Some("event-saved") {
        page.page.notice = Some("Event saved.".into());
    }
    render(&page)
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

impl EventForm {
    fn input(&self) -> EventInput {
        EventInput {
            title: self.title.clone(),
            starts_at: self.starts_at.clone(),
            ends_at: Some(self.ends_at.clone()),
            all_day: self.all_day.is_some(),
            location: self.location.clone(),
            description: self.description.clone(),
            attendees: self
                .attendees
                .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }

    /// The form as the edit page first shows it: times in the user's zone as the pickers take
    /// them; for an all-day event its dates, the last one inclusive as the form reads it.
    fn of(event: &Event, settings: &Settings) -> Self {
        let (starts_at, ends_at) = if event.all_day {
            let (first, last) = all_day_dates(event);
            (first.to_string(), last.to_string())
        } else {
            let local = |at: Timestamp| {
                let t = settings.local(at);
                // Seconds only when there are some, so a picker shows the usual minutes.
                let format = if t.second() == 0 {
                    "%Y-%m-%dT%H:%M"
                } else {
                    "%Y-%m-%dT%H:%M:%S"
                };
                t.strftime(format).to_string()
            };
            (local(event.starts_at), local(event.ends_at))
        };
        Self {
            title: event.title.clone(),
            all_day: event.all_day.then(|| "on".into()),
            starts_at,
            ends_at,
            location: event.location.clone(),
            attendees: event.attendees.join(", "),
            description: event.description.clone(),
        }
    }
}

async fn create_event(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<EventForm>,
) -> Result<Response, WebError> {
    match calendar::create(&platform, &principal, &form.input()).await {
        Ok(event) => {
            let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
            let day = first_day(&event, &settings);
            Ok(redirect(&format!("/crm/calendar?week={day}")))
        }
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&week_view(&platform, &principal, None, form, errors).await?)
        }
    }
}

#[derive(Template)]
#[template(path = "mindfulcrm/event.html")]
struct EventPage {
    page: PageContext,
    tab: &'static str,
    time_zone: String,
    event: Event,
    /// Where a mirrored event comes from, said for people; such an event is only shown.
    synced_from: Option<String>,
    /// An all-day event's dates, said for people.
    dates: String,
    /// The calendar week the event is in.
    week: String,
    /// The pickers' type: an all-day form shows dates only, also without JavaScript.
    picker: &'static str,
    form: EventForm,
    errors: FormErrors,
}

async fn event_view(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    form: Option<EventForm>,
    errors: FormErrors,
) -> AppResult<EventPage> {
    let event = calendar::get(platform, principal, id).await?;
    let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
    let synced_from = match event.source {
        Some(source) => {
            let name = calendar::source_name(platform, principal, source).await?;
            Some(match source {
                EventSource::Feed(_) => format!("your calendar subscription “{name}”"),
                EventSource::CalDav(_) => format!("the CalDAV calendar “{name}”"),
            })
        }
        None => None,
    };
    let (first, last) = all_day_dates(&event);
    let dates = if first == last {
        first.strftime("%A %-d %B %Y").to_string()
    } else {
        format!(
            "{} – {}",
            first.strftime("%A %-d %B"),
            last.strftime("%A %-d %B %Y")
        )
    };
    let form = form.unwrap_or_else(|| EventForm::of(&event, &settings));
    let picker = if form.all_day.is_some() {
        "date"
    } else {
        "datetime-local"
    };
    let form = EventForm {
        // A date picker drops a value with a time, so an all-day form keeps only the dates.
        starts_at: picker_value(&form.starts_at, picker),
        ends_at: picker_value(&form.ends_at, picker),
        ..form
    };
    Ok(EventPage {
        page: PageContext::signed_in(principal, "crm").in_time_zone(&settings.time_zone),
        tab: "calendar",
        time_zone: settings.time_zone.clone(),
        week: format!("/crm/calendar?week={}", first_day(&event, &settings)),
        synced_from,
        dates,
        picker,
        form,
        event,
        errors,
    })
}

fn picker_value(raw: &str, picker: &str) -> String {
    match raw.get(..10) {
        Some(date) if picker == "date" && date.parse::<jiff::civil::Date>().is_ok() => {
            date.to_string()
        }
        _ => raw.to_string(),
    }
}

async fn event_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    render(&event_view(&platform, &principal, id, None, FormErrors::default()).await?)
}

async fn update_event(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Form(form): Form<EventForm>,
) -> Result<Response, WebError> {
    let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
    form_response(
        calendar::update(&platform, &principal, id, &form.input()).await,
        |event| {
            let day = first_day(&event, &settings);
            format!("/crm/calendar?week={day}&done=event-saved")
        },
        |errors| event_view(&platform, &principal, id, Some(form), errors),
    )
    .await
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
