//! Who is on call.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::store::teams::Team;
use keel_platform::web::{FormErrors, PageContext, WebError, WebUser, form_response, render};
use keel_platform::{AppError, AppResult, Platform};

use crate::domain::schedule as rules;
use crate::oncall::{self as service, LayerInput, ScheduleInput};
use crate::store::escalation::{Policy, Target};
use crate::store::schedules::Schedule;

use super::super::services::managed_teams;
use super::*;

struct ScheduleRow {
    schedule: Schedule,
    on_call: Vec<String>,
}

#[derive(Template)]
#[template(path = "openalert/oncall.html")]
struct OnCallPage {
    page: PageContext,
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
        page: PageContext::signed_in(principal, "openalert"),
        tab: "oncall",
        schedules,
        policies,
        teams: managed_teams(platform, principal).await?,
        errors,
    })
}

pub(super) async fn policy_summary(
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
            let name = service::schedule_name(platform, id).await?;
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
    let users = crate::paging::resolve_targets(platform, &level.targets, platform.now()).await?;
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

pub(super) async fn oncall_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    render(&oncall_view(&platform, &principal, FormErrors::default()).await?)
}

/// Builds schedule input from the editor's fields: `layerN_name`, `layerN_unit`,
/// `layerN_length`, `layerN_start`, `layerN_participants`, `layerN_restrictions`. A layer
/// with neither participants nor a start is left out (the editor always offers a blank one).
pub(super) fn schedule_input(form: &Fields, people: &Directory) -> AppResult<ScheduleInput> {
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
            restrictions: rules::parse_restrictions(field(form, &key("restrictions")))
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

pub(super) async fn create_schedule(
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
    form_response(
        result,
        |schedule| format!("/openalert/schedules/{}", schedule.id),
        |errors| oncall_view(&platform, &principal, errors),
    )
    .await
}
