//! One schedule.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use keel_platform::domain::Timestamp;
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::web::{
    FormErrors, PageContext, WebError, WebUser, form_response, not_found_page, render,
};
use keel_platform::{AppError, AppResult, Platform, authz};

use crate::domain::schedule::{self as rules};
use crate::oncall::{self as service, OverrideInput};
use crate::store::schedules::{Schedule, ScheduleOverride};

use super::*;

struct Bar {
    x: f64,
    width: f64,
    color: &'static str,
    label: String,
    title: String,
}

/// Who is on call from when until when, in the schedule's time zone.
struct Shift {
    who: String,
    from: String,
    until: String,
}

struct OverrideView {
    row: ScheduleOverride,
    who: String,
    from: String,
    until: String,
}

struct TimelineRow {
    label: String,
    y: i64,
    bars: Vec<Bar>,
}

struct LayerForm {
    index: usize,
    name: String,
    unit: String,
    length: String,
    start: String,
    participants: String,
    restrictions: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "openalert/schedule.html")]
struct SchedulePage {
    page: PageContext,
    schedule: Schedule,
    can_manage: bool,
    rows: Vec<TimelineRow>,
    days: Vec<(f64, String)>,
    svg_height: i64,
    on_call: Vec<String>,
    overrides: Vec<OverrideView>,
    shifts: Vec<Shift>,
    layers: Vec<LayerForm>,
    people: Vec<(i64, String)>,
    /// E-mail and name of everyone who can be put in a layer, for the people picker.
    people_by_email: Vec<(String, String)>,
    me: i64,
    feed_url: Option<String>,
    errors: FormErrors,
}

const SVG_WIDTH: f64 = 1000.0;
const ROW_HEIGHT: i64 = 30;

async fn schedule_view(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    edited: Option<&Fields>,
    feed_url: Option<String>,
    errors: FormErrors,
) -> AppResult<SchedulePage> {
    let schedule = service::visible_schedule(platform, principal, id).await?;
    let can_manage = authz::require_team_manage(platform, principal, schedule.team_id)
        .await
        .is_ok();
    let people = Directory::load(platform).await?;
    let now = platform.now();
    // Two weeks from the start of today in the schedule's time zone.
    let tz = rules::time_zone(&schedule.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let today = jiff::Timestamp::from_millisecond(now.as_millis())
        .unwrap_or_default()
        .to_zoned_datetime(tz.clone())
        .date();
    let from = Timestamp::from_millis(
        today
            .to_datetime(jiff::civil::Time::midnight())
            .to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(now.as_millis()),
    );
    let to = Timestamp::from_millis(from.as_millis() + 14 * 86_400_000);
    let span = (to.as_millis() - from.as_millis()) as f64;
    let x = |ms: i64| ((ms - from.as_millis()) as f64 / span * SVG_WIDTH).clamp(0.0, SVG_WIDTH);
    let bar = |user: i64, s: i64, e: i64| {
        let name = people.name(user);
        Bar {
            x: x(s),
            width: (x(e) - x(s)).max(1.0),
            color: color(user),
            label: if x(e) - x(s) > 8.0 * name.len() as f64 {
                name.clone()
            } else {
                String::new()
            },
            title: format!(
                "{name}: {} → {} ({})",
                Timestamp::from_millis(s).local_text(&tz),
                Timestamp::from_millis(e).local_text(&tz),
                schedule.time_zone
            ),
        }
    };
    let mut rows = Vec::new();
    for (i, shifts) in service::layer_shifts(&schedule, from, to)
        .into_iter()
        .enumerate()
    {
        rows.push(TimelineRow {
            label: schedule
                .layers
                .get(i)
                .map(|l| l.name.clone())
                .unwrap_or_default(),
            y: 20 + i as i64 * ROW_HEIGHT,
            bars: shifts
                .into_iter()
                .map(|s| bar(s.user_id, s.starts_at, s.ends_at))
                .collect(),
        });
    }
    let overrides_in_range = service::list_overrides(platform, principal, id, from, to).await?;
    rows.push(TimelineRow {
        label: "Overrides".into(),
        y: 20 + rows.len() as i64 * ROW_HEIGHT,
        bars: overrides_in_range
            .iter()
            .map(|o| bar(o.user_id, o.starts_at.as_millis(), o.ends_at.as_millis()))
            .collect(),
    });
    let final_shifts = rules::per_person(&service::timeline(platform, &schedule, from, to).await?);
    // The same final schedule as words: readable on a phone and by a screen reader.
    let shifts = final_shifts
        .iter()
        .map(|s| Shift {
            who: people.name(s.user_id),
            from: Timestamp::from_millis(s.starts_at).local_text(&tz),
            until: Timestamp::from_millis(s.ends_at).local_text(&tz),
        })
        .collect();
    rows.push(TimelineRow {
        label: "Final".into(),
        y: 20 + rows.len() as i64 * ROW_HEIGHT,
        bars: final_shifts
            .into_iter()
            .map(|s| bar(s.user_id, s.starts_at, s.ends_at))
            .collect(),
    });
    let days = (0..14)
        .filter_map(|d| {
            let date = today.checked_add(jiff::Span::new().days(d)).ok()?;
            let ms = date
                .to_datetime(jiff::civil::Time::midnight())
                .to_zoned_datetime(tz.clone())
                .ok()?
                .timestamp()
                .as_millisecond();
            Some((x(ms), date.strftime("%a %d").to_string()))
        })
        .collect();
    let svg_height = 20 + rows.len() as i64 * ROW_HEIGHT;

    let upcoming = service::list_overrides(
        platform,
        principal,
        id,
        now,
        Timestamp::from_millis(now.as_millis() + 366 * 86_400_000),
    )
    .await?;
    let mut layers: Vec<LayerForm> = match edited {
        Some(form) => (0..=schedule.layers.len().max(form.len()).min(10))
            .filter(|i| {
                form.iter()
                    .any(|(k, _)| k.starts_with(&format!("layer{i}_")))
            })
            .map(|i| {
                let key = |name: &str| format!("layer{i}_{name}");
                LayerForm {
                    index: i,
                    name: field(form, &key("name")).into(),
                    unit: field(form, &key("unit")).into(),
                    length: field(form, &key("length")).into(),
                    start: field(form, &key("start")).into(),
                    participants: field(form, &key("participants")).into(),
                    restrictions: field(form, &key("restrictions")).into(),
                    errors: Vec::new(),
                }
            })
            .collect(),
        None => schedule
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| LayerForm {
                index: i,
                name: l.name.clone(),
                unit: l.shift_unit.as_str().into(),
                length: l.shift_length.to_string(),
                start: l.starts_local.clone(),
                participants: l
                    .participants
                    .iter()
                    .map(|u| people.email(*u))
                    .collect::<Vec<_>>()
                    .join("\n"),
                restrictions: rules::format_restrictions(&l.restrictions),
                errors: Vec::new(),
            })
            .collect(),
    };
    if edited.is_none() && layers.len() < 10 {
        layers.push(LayerForm {
            index: layers.len(),
            name: String::new(),
            unit: "weeks".into(),
            length: "1".into(),
            start: String::new(),
            participants: String::new(),
            restrictions: String::new(),
            errors: Vec::new(),
        });
    }
    // Errors name layers by their position among the submitted (non-blank) ones.
    for (position, layer) in layers
        .iter_mut()
        .filter(|l| !l.participants.is_empty() || !l.start.is_empty())
        .enumerate()
    {
        layer.errors = errors.with_prefix(&format!("layers[{position}]"));
    }
    Ok(SchedulePage {
        page: PageContext::signed_in(principal, "openalert").in_time_zone(&schedule.time_zone),
        on_call: service::on_call_at(platform, id, now)
            .await?
            .into_iter()
            .map(|u| people.name(u))
            .collect(),
        overrides: upcoming
            .into_iter()
            .map(|o| OverrideView {
                who: people.name(o.user_id),
                from: o.starts_at.local_text(&tz),
                until: o.ends_at.local_text(&tz),
                row: o,
            })
            .collect(),
        shifts,
        people: people
            .0
            .iter()
            .map(|u| (u.0, format!("{} <{}>", u.1, u.2)))
            .collect(),
        people_by_email: people
            .0
            .iter()
            .map(|u| (u.2.clone(), u.1.clone()))
            .collect(),
        me: principal.user.id,
        schedule,
        can_manage,
        rows,
        days,
        svg_height,
        layers,
        feed_url,
        errors,
    })
}

pub(super) async fn schedule_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    render(&schedule_view(&platform, &principal, id, None, None, FormErrors::default()).await?)
}

pub(super) async fn update_schedule(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let result = async {
        let people = Directory::load(&platform).await?;
        let input = schedule_input(&form, &people)?;
        service::update_schedule(&platform, &principal, id, &input, &meta).await
    }
    .await;
    form_response(
        result,
        |_| format!("/openalert/schedules/{id}"),
        |errors| schedule_view(&platform, &principal, id, Some(&form), None, errors),
    )
    .await
}

pub(super) async fn delete_schedule(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    form_response(
        service::delete_schedule(&platform, &principal, id, &meta).await,
        |()| "/openalert/oncall".into(),
        |errors| schedule_view(&platform, &principal, id, None, None, errors),
    )
    .await
}

/// `datetime-local` values are read in the schedule's time zone.
fn local_instant(schedule: &Schedule, field_name: &str, raw: &str) -> AppResult<String> {
    let tz = rules::time_zone(&schedule.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let local = rules::parse_local(raw).map_err(|e| AppError::field(field_name, e))?;
    let zoned = local
        .to_zoned_datetime(tz)
        .map_err(|e| AppError::field(field_name, e.to_string()))?;
    Ok(zoned.timestamp().to_string())
}

pub(super) async fn create_override(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let result = async {
        let schedule = service::visible_schedule(&platform, &principal, id).await?;
        let input = OverrideInput {
            user_id: field(&form, "user_id")
                .parse()
                .map_err(|_| AppError::field("user_id", "choose someone"))?,
            mode: Some(field(&form, "mode").to_string()),
            starts_at: local_instant(&schedule, "starts_at", field(&form, "starts_at"))?,
            ends_at: local_instant(&schedule, "ends_at", field(&form, "ends_at"))?,
        };
        service::create_override(&platform, &principal, id, &input, &meta).await
    }
    .await;
    form_response(
        result,
        |_| format!("/openalert/schedules/{id}"),
        |errors| schedule_view(&platform, &principal, id, None, None, errors),
    )
    .await
}

pub(super) async fn delete_override(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, override_id)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    service::delete_override(&platform, &principal, id, override_id, &meta).await?;
    Ok(redirect(&format!("/openalert/schedules/{id}")))
}

pub(super) async fn schedule_feed(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Response, WebError> {
    match action.as_str() {
        "rotate" => {
            let url = service::rotate_schedule_feed(&platform, &principal, id, &meta).await?;
            render(
                &schedule_view(
                    &platform,
                    &principal,
                    id,
                    None,
                    Some(url),
                    FormErrors::default(),
                )
                .await?,
            )
        }
        "revoke" => {
            service::revoke_schedule_feed(&platform, &principal, id, &meta).await?;
            Ok(redirect(&format!("/openalert/schedules/{id}")))
        }
        _ => Err(not_found_page()),
    }
}
