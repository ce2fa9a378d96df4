//! Escalation policies.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::store::teams::Team;
use keel_platform::web::{FormErrors, PageContext, WebError, WebUser, form_response, render};
use keel_platform::{AppError, AppResult, Platform, authz};

use crate::oncall::{self as service, LevelInput, PolicyInput};
use crate::store::escalation::{Policy, Target};

use super::super::services::managed_teams;
use super::*;

struct LevelForm {
    delay: String,
    /// Selected target keys (`user:1`, `schedule:2`, `team:3`).
    selected: Vec<String>,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "openalert/policy.html")]
struct PolicyPage {
    page: PageContext,
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
        page: PageContext::signed_in(principal, "openalert"),
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

pub(super) async fn policy_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    render(&policy_view(&platform, &principal, Some(id), None, FormErrors::default()).await?)
}

pub(super) async fn create_policy(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let result =
        async { service::create_policy(&platform, &principal, &policy_input(&form)?, &meta).await }
            .await;
    form_response(
        result,
        |policy| format!("/openalert/policies/{}", policy.id),
        |errors| policy_view(&platform, &principal, None, Some(&form), errors),
    )
    .await
}

pub(super) async fn update_policy(
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
    form_response(
        result,
        |_| format!("/openalert/policies/{id}"),
        |errors| policy_view(&platform, &principal, Some(id), Some(&form), errors),
    )
    .await
}

pub(super) async fn delete_policy(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    form_response(
        service::delete_policy(&platform, &principal, id, &meta).await,
        |()| "/openalert/oncall".into(),
        |errors| policy_view(&platform, &principal, Some(id), None, errors),
    )
    .await
}

/// A new policy starts on its own page with an empty editor.
pub(super) async fn new_policy(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    render(&policy_view(&platform, &principal, None, None, FormErrors::default()).await?)
}
