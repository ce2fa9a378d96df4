//! On-call pages: who is on call now, schedules with a two-week timeline and editor,
//! escalation policies, one's own contact methods and rules, and the confirmation page behind
//! the one-click links in notifications.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use keel_platform::domain::Timestamp;
use keel_platform::http::{AuthMethod, ClientMeta, Principal};
use keel_platform::store::teams::Team;

use super::managed_teams;
use keel_platform::web::{
    FormErrors, Nav, WebError, WebUser, not_found_page, render, render_invalid,
};
use keel_platform::{AppError, AppResult, Platform, authz};

use crate::domain::schedule::{self as rules, Restriction};
use crate::incidents::{self, Transition};
use crate::oncall::{
    self as service, LayerInput, LevelInput, OverrideInput, PolicyInput, ScheduleInput,
};
use crate::store::escalation::{Policy, Target};
use crate::store::notify::{self as notify_store, ContactMethod, NotificationRule};
use crate::store::schedules::{Schedule, ScheduleOverride};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/openalert/oncall", get(oncall_page))
        .route("/openalert/schedules", post(create_schedule))
        .route(
            "/openalert/schedules/{id}",
            get(schedule_page).post(update_schedule),
        )
        .route("/openalert/schedules/{id}/delete", post(delete_schedule))
        .route("/openalert/schedules/{id}/overrides", post(create_override))
        .route(
            "/openalert/schedules/{id}/overrides/{override_id}/delete",
            post(delete_override),
        )
        .route(
            "/openalert/schedules/{id}/feed/{action}",
            post(schedule_feed),
        )
        .route("/openalert/policies", post(create_policy))
        .route("/openalert/policies/new", get(new_policy))
        .route(
            "/openalert/policies/{id}",
            get(policy_page).post(update_policy),
        )
        .route("/openalert/policies/{id}/delete", post(delete_policy))
        .route("/openalert/me", get(me_page))
        .route("/openalert/me/methods", post(add_method))
        .route("/openalert/me/methods/{id}/{action}", post(method_action))
        .route("/openalert/me/rules", post(add_rule))
        .route("/openalert/me/rules/{id}/delete", post(delete_rule))
        .route("/openalert/me/feed/{action}", post(my_feed))
        .route("/openalert/act/{token}", get(act_confirm).post(act))
}

type Fields = Vec<(String, String)>;

fn field<'a>(form: &'a Fields, name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

fn all<'a>(form: &'a Fields, name: &str) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn redirect(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Users by id, with names and emails, for labels and for reading participant lists.
struct Directory(Vec<(i64, String, String)>);

impl Directory {
    async fn load(platform: &Platform) -> AppResult<Self> {
        Ok(Self(
            sqlx::query_as(
                "SELECT id, name, email FROM users WHERE disabled_at IS NULL ORDER BY name, id",
            )
            .fetch_all(platform.db.pool())
            .await?,
        ))
    }

    fn name(&self, id: i64) -> String {
        self.0
            .iter()
            .find(|u| u.0 == id)
            .map(|u| u.1.clone())
            .unwrap_or_else(|| format!("user {id}"))
    }

    fn email(&self, id: i64) -> String {
        self.0
            .iter()
            .find(|u| u.0 == id)
            .map(|u| u.2.clone())
            .unwrap_or_default()
    }

    /// Reads "one email (or exact name) per line or comma" into ids, in order.
    fn parse(&self, text: &str, field: &str) -> AppResult<Vec<i64>> {
        let mut ids = Vec::new();
        for token in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let found = self
                .0
                .iter()
                .find(|u| u.2.eq_ignore_ascii_case(token) || u.1 == token)
                .ok_or_else(|| {
                    AppError::field(field, format!("no active user `{token}` (use their email)"))
                })?;
            ids.push(found.0);
        }
        Ok(ids)
    }
}

const PALETTE: &[&str] = &[
    "#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4d7c0f", "#db2777",
];

fn color(user_id: i64) -> &'static str {
    PALETTE[(user_id.unsigned_abs() as usize) % PALETTE.len()]
}

// ---- who is on call ----

struct ScheduleRow {
    schedule: Schedule,
    on_call: Vec<String>,
}

#[derive(Template)]
#[template(path = "openalert/oncall.html")]
struct OnCallPage {
    nav: Option<Nav>,
    section: &'static str,
    notice: Option<String>,
    tab: &'static str,
    schedules: Vec<ScheduleRow>,
    policies: Vec<(Policy, String)>,
    teams: Vec<Team>,
    errors: FormErrors,
}

async fn oncall_view(
    platform: &Platform,
    principal: &Principal,
    errors: FormErrors,
) -> AppResult<OnCallPage> {
    let people = Directory::load(platform).await?;
    let now = platform.now();
    let mut schedules = Vec::new();
    for schedule in service::list_schedules(platform, principal).await? {
        let on_call = service::on_call_at(platform, schedule.id, now)
            .await?
            .into_iter()
            .map(|u| people.name(u))
            .collect();
        schedules.push(ScheduleRow { schedule, on_call });
    }
    let mut policies = Vec::new();
    for policy in service::list_policies(platform, principal).await? {
        let summary = policy_summary(platform, &policy, &people).await?;
        policies.push((policy, summary));
    }
    Ok(OnCallPage {
        nav: Nav::of(principal),
        section: "openalert",
        notice: None,
        tab: "oncall",
        schedules,
        policies,
        teams: managed_teams(platform, principal).await?,
        errors,
    })
}

async fn policy_summary(
    platform: &Platform,
    policy: &Policy,
    people: &Directory,
) -> AppResult<String> {
    let mut levels = Vec::new();
    for (i, level) in policy.levels.iter().enumerate() {
        let mut names = Vec::new();
        for target in &level.targets {
            names.push(target_label(platform, target, people).await?);
        }
        levels.push(format!(
            "{}. {} ({} min)",
            i + 1,
            names.join(", "),
            level.delay_minutes
        ));
    }
    let repeat = if policy.repeat_count > 0 {
        format!(" · repeats {}×", policy.repeat_count)
    } else {
        String::new()
    };
    Ok(format!("{}{repeat}", levels.join(" → ")))
}

async fn target_label(
    platform: &Platform,
    target: &Target,
    people: &Directory,
) -> AppResult<String> {
    Ok(match *target {
        Target::User(id) => people.name(id),
        Target::Schedule(id) => {
            let name: Option<String> =
                sqlx::query_scalar("SELECT name FROM oa_schedules WHERE id = $1")
                    .bind(id)
                    .fetch_optional(platform.db.pool())
                    .await?;
            format!(
                "on call in {}",
                name.unwrap_or_else(|| "a deleted schedule".into())
            )
        }
        Target::Team(id) => {
            let team = keel_platform::store::teams::team_by_id(platform.db.pool(), id).await?;
            format!(
                "everyone in {}",
                team.map(|t| t.name)
                    .unwrap_or_else(|| "a deleted team".into())
            )
        }
    })
}

/// Names of the people the first level of a policy reaches now (for service pages).
pub async fn first_responders(
    platform: &Platform,
    policy_id: Option<i64>,
) -> AppResult<Vec<String>> {
    let Some(id) = policy_id else {
        return Ok(Vec::new());
    };
    let mut conn = platform.db.pool().acquire().await?;
    let Some(policy) = crate::store::escalation::policy_by_id(&mut conn, id).await? else {
        return Ok(Vec::new());
    };
    drop(conn);
    let Some(level) = policy.levels.first() else {
        return Ok(Vec::new());
    };
    let people = Directory::load(platform).await?;
    let users =
        crate::escalation::resolve_targets(platform, &level.targets, platform.now()).await?;
    Ok(users.into_iter().map(|u| people.name(u)).collect())
}

/// The home page card: who is on call now in each schedule the user can see.
pub async fn on_call_card(
    platform: &Platform,
    principal: &Principal,
) -> AppResult<Option<keel_platform::server::HomeCard>> {
    let schedules = service::list_schedules(platform, principal).await?;
    if schedules.is_empty() {
        return Ok(None);
    }
    let people = Directory::load(platform).await?;
    let now = platform.now();
    let mut lines = Vec::new();
    for schedule in schedules {
        let who: Vec<String> = service::on_call_at(platform, schedule.id, now)
            .await?
            .into_iter()
            .map(|u| people.name(u))
            .collect();
        let who = if who.is_empty() {
            "nobody".to_string()
        } else {
            who.join(", ")
        };
        lines.push(format!("{}: {who}", schedule.name));
    }
    Ok(Some(keel_platform::server::HomeCard {
        title: "On call now".into(),
        href: "/openalert/oncall".into(),
        lines,
    }))
}

async fn oncall_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    render(&oncall_view(&platform, &principal, FormErrors::default()).await?)
}

/// Builds schedule input from the editor's fields: `layerN_name`, `layerN_unit`,
/// `layerN_length`, `layerN_start`, `layerN_participants`, `layerN_restrictions`. A layer
/// with neither participants nor a start is left out (the editor always offers a blank one).
fn schedule_input(form: &Fields, people: &Directory) -> AppResult<ScheduleInput> {
    let team_id = field(form, "team_id")
        .parse()
        .map_err(|_| AppError::field("team_id", "choose a team"))?;
    let mut layers = Vec::new();
    for i in 0..10 {
        let key = |name: &str| format!("layer{i}_{name}");
        let participants = field(form, &key("participants"));
        let start = field(form, &key("start"));
        if participants.is_empty() && start.is_empty() {
            continue;
        }
        let index = layers.len();
        layers.push(LayerInput {
            name: field(form, &key("name")).to_string(),
            shift_unit: field(form, &key("unit")).to_string(),
            shift_length: field(form, &key("length")).parse().map_err(|_| {
                AppError::field(
                    &format!("layers[{index}].shift_length"),
                    "must be a whole number",
                )
            })?,
            starts_local: start.to_string(),
            participants: people.parse(participants, &format!("layers[{index}].participants"))?,
            restrictions: parse_restrictions(field(form, &key("restrictions")))
                .map_err(|e| AppError::field(&format!("layers[{index}].restrictions"), e))?,
        });
    }
    Ok(ScheduleInput {
        team_id,
        name: field(form, "name").to_string(),
        description: field(form, "description").to_string(),
        time_zone: field(form, "time_zone").to_string(),
        layers,
    })
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Reads lines like `mon-fri 09:00-17:00` or `sat,sun 10:00-14:00`.
pub fn parse_restrictions(text: &str) -> Result<Vec<Restriction>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let err = || format!("`{line}`: write days and hours like `mon-fri 09:00-17:00`");
        let (days_part, hours) = line.split_once(' ').ok_or_else(err)?;
        let (start, end) = hours.trim().split_once('-').ok_or_else(err)?;
        let day = |name: &str| {
            DAYS.iter()
                .position(|d| name.trim().to_ascii_lowercase().starts_with(d))
                .map(|p| p as i8 + 1)
        };
        let mut days = Vec::new();
        for part in days_part.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a).ok_or_else(err)?, day(b).ok_or_else(err)?);
                    let mut d = a;
                    loop {
                        days.push(d);
                        if d == b {
                            break;
                        }
                        d = d % 7 + 1;
                    }
                }
                None => days.push(day(part).ok_or_else(err)?),
            }
        }
        let restriction = Restriction {
            days,
            start: start.trim().into(),
            end: end.trim().into(),
        };
        restriction
            .validate()
            .map_err(|e| format!("`{line}`: {e}"))?;
        out.push(restriction);
    }
    Ok(out)
}

fn format_restrictions(list: &[Restriction]) -> String {
    list.iter()
        .map(|r| {
            let days: Vec<&str> = r
                .days
                .iter()
                .filter_map(|d| DAYS.get((*d - 1) as usize).copied())
                .collect();
            format!("{} {}-{}", days.join(","), r.start, r.end)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn create_schedule(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let result = async {
        let people = Directory::load(&platform).await?;
        let input = schedule_input(&form, &people)?;
        service::create_schedule(&platform, &principal, &input, &meta).await
    }
    .await;
    match result {
        Ok(schedule) => Ok(redirect(&format!("/openalert/schedules/{}", schedule.id))),
        Err(err) => render_invalid(
            &oncall_view(&platform, &principal, FormErrors::from_app_error(err)?).await?,
        ),
    }
}

// ---- one schedule ----

struct Bar {
    x: f64,
    width: f64,
    color: &'static str,
    label: String,
    title: String,
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
    nav: Option<Nav>,
    section: &'static str,
    notice: Option<String>,
    schedule: Schedule,
    can_manage: bool,
    rows: Vec<TimelineRow>,
    days: Vec<(f64, String)>,
    svg_height: i64,
    on_call: Vec<String>,
    overrides: Vec<(ScheduleOverride, String)>,
    layers: Vec<LayerForm>,
    people: Vec<(i64, String)>,
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
                "{name}: {} → {}",
                Timestamp::from_millis(s),
                Timestamp::from_millis(e)
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
                restrictions: format_restrictions(&l.restrictions),
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
        nav: Nav::of(principal),
        section: "openalert",
        notice: None,
        on_call: service::on_call_at(platform, id, now)
            .await?
            .into_iter()
            .map(|u| people.name(u))
            .collect(),
        overrides: upcoming
            .into_iter()
            .map(|o| {
                let n = people.name(o.user_id);
                (o, n)
            })
            .collect(),
        people: people
            .0
            .iter()
            .map(|u| (u.0, format!("{} <{}>", u.1, u.2)))
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

async fn schedule_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    render(&schedule_view(&platform, &principal, id, None, None, FormErrors::default()).await?)
}

async fn update_schedule(
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
    match result {
        Ok(_) => Ok(redirect(&format!("/openalert/schedules/{id}"))),
        Err(err) => render_invalid(
            &schedule_view(
                &platform,
                &principal,
                id,
                Some(&form),
                None,
                FormErrors::from_app_error(err)?,
            )
            .await?,
        ),
    }
}

async fn delete_schedule(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    match service::delete_schedule(&platform, &principal, id, &meta).await {
        Ok(()) => Ok(redirect("/openalert/oncall")),
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&schedule_view(&platform, &principal, id, None, None, errors).await?)
        }
    }
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

async fn create_override(
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
    match result {
        Ok(_) => Ok(redirect(&format!("/openalert/schedules/{id}"))),
        Err(err) => render_invalid(
            &schedule_view(
                &platform,
                &principal,
                id,
                None,
                None,
                FormErrors::from_app_error(err)?,
            )
            .await?,
        ),
    }
}

async fn delete_override(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, override_id)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    service::delete_override(&platform, &principal, id, override_id, &meta).await?;
    Ok(redirect(&format!("/openalert/schedules/{id}")))
}

async fn schedule_feed(
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

// ---- escalation policies ----

struct LevelForm {
    delay: String,
    /// Selected target keys (`user:1`, `schedule:2`, `team:3`).
    selected: Vec<String>,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "openalert/policy.html")]
struct PolicyPage {
    nav: Option<Nav>,
    section: &'static str,
    notice: Option<String>,
    policy: Option<Policy>,
    can_manage: bool,
    summary: String,
    used_by: Vec<String>,
    teams: Vec<Team>,
    policy_name: String,
    description: String,
    team_id: i64,
    repeat_count: String,
    levels: Vec<LevelForm>,
    /// (key, label) of every target the caller may choose.
    options: Vec<(String, String)>,
    errors: FormErrors,
}

fn target_key(target: &Target) -> String {
    match target {
        Target::User(id) => format!("user:{id}"),
        Target::Schedule(id) => format!("schedule:{id}"),
        Target::Team(id) => format!("team:{id}"),
    }
}

fn parse_target(key: &str) -> Option<Target> {
    let (kind, id) = key.split_once(':')?;
    let id = id.parse().ok()?;
    match kind {
        "user" => Some(Target::User(id)),
        "schedule" => Some(Target::Schedule(id)),
        "team" => Some(Target::Team(id)),
        _ => None,
    }
}

async fn target_options(
    platform: &Platform,
    principal: &Principal,
    people: &Directory,
) -> AppResult<Vec<(String, String)>> {
    let mut options: Vec<(String, String)> = Vec::new();
    for schedule in service::list_schedules(platform, principal).await? {
        options.push((
            format!("schedule:{}", schedule.id),
            format!("On call in {}", schedule.name),
        ));
    }
    let teams = match authz::team_scope(platform, principal).await? {
        authz::TeamScope::All => {
            keel_platform::store::teams::list_all_teams(platform.db.pool()).await?
        }
        authz::TeamScope::Only(_) => {
            keel_platform::store::teams::list_teams_of_user(platform.db.pool(), principal.user.id)
                .await?
        }
    };
    for team in teams {
        options.push((
            format!("team:{}", team.id),
            format!("Everyone in {}", team.name),
        ));
    }
    for (id, name, email) in &people.0 {
        options.push((format!("user:{id}"), format!("{name} <{email}>")));
    }
    Ok(options)
}

/// Levels from `levelN_delay` and repeated `levelN_targets`; blank levels are left out.
fn policy_input(form: &Fields) -> AppResult<PolicyInput> {
    let team_id = field(form, "team_id")
        .parse()
        .map_err(|_| AppError::field("team_id", "choose a team"))?;
    let mut levels = Vec::new();
    for i in 0..20 {
        let targets: Vec<Target> = all(form, &format!("level{i}_targets"))
            .into_iter()
            .filter_map(parse_target)
            .collect();
        // A level without targets is a blank row of the editor.
        if targets.is_empty() {
            continue;
        }
        let delay = field(form, &format!("level{i}_delay"));
        let index = levels.len();
        levels.push(LevelInput {
            delay_minutes: delay.parse().map_err(|_| {
                AppError::field(
                    &format!("levels[{index}].delay_minutes"),
                    "must be a whole number of minutes",
                )
            })?,
            targets,
        });
    }
    Ok(PolicyInput {
        team_id,
        name: field(form, "name").into(),
        description: field(form, "description").into(),
        repeat_count: field(form, "repeat_count").parse().unwrap_or(0),
        levels,
    })
}

async fn policy_view(
    platform: &Platform,
    principal: &Principal,
    id: Option<i64>,
    edited: Option<&Fields>,
    errors: FormErrors,
) -> AppResult<PolicyPage> {
    let people = Directory::load(platform).await?;
    let policy = match id {
        Some(id) => Some(service::visible_policy(platform, principal, id).await?),
        None => None,
    };
    let can_manage = match &policy {
        Some(p) => authz::require_team_manage(platform, principal, p.team_id)
            .await
            .is_ok(),
        None => true,
    };
    let mut levels: Vec<LevelForm> = match (edited, &policy) {
        (Some(form), _) => (0..20)
            .filter(|i| form.iter().any(|(k, _)| k == &format!("level{i}_delay")))
            .map(|i| LevelForm {
                delay: field(form, &format!("level{i}_delay")).into(),
                selected: all(form, &format!("level{i}_targets"))
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                errors: Vec::new(),
            })
            .collect(),
        (None, Some(p)) => p
            .levels
            .iter()
            .map(|l| LevelForm {
                delay: l.delay_minutes.to_string(),
                selected: l.targets.iter().map(target_key).collect(),
                errors: Vec::new(),
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    if edited.is_none() && levels.len() < 20 {
        levels.push(LevelForm {
            delay: "15".into(),
            selected: Vec::new(),
            errors: Vec::new(),
        });
    }
    for (i, level) in levels.iter_mut().enumerate() {
        level.errors = errors.with_prefix(&format!("levels[{i}]"));
    }
    let summary = match &policy {
        Some(p) => policy_summary(platform, p, &people).await?,
        None => String::new(),
    };
    let used_by = match &policy {
        Some(p) => crate::store::escalation::services_using(platform.db.pool(), p.id).await?,
        None => Vec::new(),
    };
    Ok(PolicyPage {
        nav: Nav::of(principal),
        section: "openalert",
        notice: None,
        can_manage,
        summary,
        used_by,
        teams: managed_teams(platform, principal).await?,
        policy_name: edited
            .map(|f| field(f, "name").to_string())
            .or(policy.as_ref().map(|p| p.name.clone()))
            .unwrap_or_default(),
        description: edited
            .map(|f| field(f, "description").to_string())
            .or(policy.as_ref().map(|p| p.description.clone()))
            .unwrap_or_default(),
        team_id: edited
            .and_then(|f| field(f, "team_id").parse().ok())
            .or(policy.as_ref().map(|p| p.team_id))
            .unwrap_or_default(),
        repeat_count: edited
            .map(|f| field(f, "repeat_count").to_string())
            .or(policy.as_ref().map(|p| p.repeat_count.to_string()))
            .unwrap_or_else(|| "0".into()),
        levels,
        options: target_options(platform, principal, &people).await?,
        policy,
        errors,
    })
}

async fn policy_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    render(&policy_view(&platform, &principal, Some(id), None, FormErrors::default()).await?)
}

async fn create_policy(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let result =
        async { service::create_policy(&platform, &principal, &policy_input(&form)?, &meta).await }
            .await;
    match result {
        Ok(policy) => Ok(redirect(&format!("/openalert/policies/{}", policy.id))),
        Err(err) => render_invalid(
            &policy_view(
                &platform,
                &principal,
                None,
                Some(&form),
                FormErrors::from_app_error(err)?,
            )
            .await?,
        ),
    }
}

async fn update_policy(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let result = async {
        service::update_policy(&platform, &principal, id, &policy_input(&form)?, &meta).await
    }
    .await;
    match result {
        Ok(_) => Ok(redirect(&format!("/openalert/policies/{id}"))),
        Err(err) => render_invalid(
            &policy_view(
                &platform,
                &principal,
                Some(id),
                Some(&form),
                FormErrors::from_app_error(err)?,
            )
            .await?,
        ),
    }
}

async fn delete_policy(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    match service::delete_policy(&platform, &principal, id, &meta).await {
        Ok(()) => Ok(redirect("/openalert/oncall")),
        Err(err) => render_invalid(
            &policy_view(
                &platform,
                &principal,
                Some(id),
                None,
                FormErrors::from_app_error(err)?,
            )
            .await?,
        ),
    }
}

/// A new policy starts on its own page with an empty editor.
async fn new_policy(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    render(&policy_view(&platform, &principal, None, None, FormErrors::default()).await?)
}

// ---- my notification settings ----

#[derive(Template)]
#[template(path = "openalert/me.html")]
struct MePage {
    nav: Option<Nav>,
    section: &'static str,
    notice: Option<String>,
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
    let methods = notify_store::methods_of(platform.db.pool(), principal.user.id).await?;
    let rules = notify_store::rules_of(platform.db.pool(), principal.user.id)
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
        nav: Nav::of(principal),
        section: "openalert",
        notice,
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

async fn me_page(
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

async fn add_method(
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

async fn method_action(
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

async fn add_rule(
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

async fn delete_rule(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    if !notify_store::delete_rule(platform.db.pool(), principal.user.id, id)
        .await
        .map_err(AppError::from)?
    {
        return Err(not_found_page());
    }
    Ok(redirect("/openalert/me"))
}

async fn my_feed(
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

// ---- one-click acknowledge / resolve ----

#[derive(Template)]
#[template(path = "openalert/act.html")]
struct ActPage {
    nav: Option<Nav>,
    section: &'static str,
    notice: Option<String>,
    token: String,
    action: String,
    number: i64,
    title: String,
    status: String,
    done: bool,
}

fn link_refused() -> WebError {
    WebError::new(
        axum::http::StatusCode::NOT_FOUND,
        "This link does not work",
        "It has expired, was changed, or its incident is gone. Sign in to act on the incident.",
    )
}

/// The person a link was issued to, acting through it.
async fn link_principal(
    platform: &Platform,
    token: &str,
) -> Result<(Principal, i64, String), WebError> {
    let (incident_id, user_id, action) =
        crate::notify::check_action_token(platform, token, platform.now())
            .ok_or_else(link_refused)?;
    let user = keel_platform::store::accounts::user_by_id(platform.db.pool(), user_id)
        .await
        .map_err(AppError::from)?
        .filter(|u| u.disabled_at.is_none())
        .ok_or_else(link_refused)?;
    Ok((
        Principal {
            user,
            method: AuthMethod::SignedLink,
        },
        incident_id,
        action,
    ))
}

/// Opening the link only shows what it would do: mail scanners follow links.
async fn act_confirm(
    State(platform): State<Platform>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (principal, incident_id, action) = link_principal(&platform, &token).await?;
    let incident = incidents::visible_incident(&platform, &principal, incident_id)
        .await
        .map_err(|_| link_refused())?;
    render(&ActPage {
        nav: None,
        section: "openalert",
        notice: None,
        token,
        action,
        number: incident.number,
        title: incident.title,
        status: incident.status.as_str().into(),
        done: false,
    })
}

async fn act(
    State(platform): State<Platform>,
    meta: ClientMeta,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (principal, incident_id, action) = link_principal(&platform, &token).await?;
    let to = if action == "resolve" {
        Transition::Resolve
    } else {
        Transition::Acknowledge
    };
    let incident = match incidents::transition(&platform, &principal, incident_id, to, &meta).await
    {
        Ok(incident) => incident,
        Err(AppError::Conflict(_)) => {
            incidents::visible_incident(&platform, &principal, incident_id)
                .await
                .map_err(|_| link_refused())?
        }
        Err(AppError::NotFound(_)) => return Err(link_refused()),
        Err(err) => return Err(err.into()),
    };
    render(&ActPage {
        nav: None,
        section: "openalert",
        notice: None,
        token,
        action,
        number: incident.number,
        title: incident.title,
        status: incident.status.as_str().into(),
        done: true,
    })
}
