//! The goals page, and the server-rendered SVG charts of goal progress used there and on the
//! dashboard.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use keel_platform::http::Principal;
use keel_platform::web::{FormErrors, PageContext, WebError, WebUser, form_response, render};
use keel_platform::{AppResult, Platform};
use serde::Deserialize;

use super::redirect;
use crate::domain::{InteractionKind, Stage};
use crate::goals::{self, Goal, GoalInput, PeriodProgress};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/crm/goals", get(goals_page).post(create_goal))
        .route("/crm/goals/{id}/delete", post(delete_goal))
}

#[derive(Template)]
#[template(path = "mindfulcrm/goals.html")]
struct GoalsPage {
    page: PageContext,
    tab: &'static str,
    goals: Vec<(Goal, String)>,
    stages: &'static [&'static str],
    kinds: &'static [&'static str],
    form: GoalForm,
    errors: FormErrors,
}

/// Escapes text for SVG/HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Bars for each period (oldest first) with the target as a line; a met period is green.
pub fn history_chart(goal: &Goal) -> String {
    let periods: Vec<&PeriodProgress> = goal.history.iter().chain([&goal.current]).collect();
    let (w, h, pad) = (40.0, 120.0, 18.0);
    let width = periods.len() as f64 * w + 8.0;
    let top = periods
        .iter()
        .map(|p| p.value.max(p.target))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let scale = |v: i64| (v as f64 / top) * (h - pad * 2.0);
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {width} {h}" width="{width}" height="{h}" role="img" aria-label="{}: progress per {}">"#,
        esc(&goal.title),
        goal.period.as_str()
    );
    for (i, p) in periods.iter().enumerate() {
        let x = 4.0 + i as f64 * w;
        let bar = scale(p.value);
        let class = if p.value >= p.target {
            "bar met"
        } else {
            "bar"
        };
        svg.push_str(&format!(
            r#"<g><title>{}: {} of {}</title><rect class="{class}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text></g>"#,
            esc(&p.starts_on),
            p.value,
            p.target,
            x + 4.0,
            h - pad - bar,
            w - 8.0,
            bar,
            x + w / 2.0,
            h - pad - bar - 3.0,
            p.value,
            x + w / 2.0,
            h - 4.0,
            esc(p.starts_on.get(5..).unwrap_or(&p.starts_on)),
        ));
    }
    // The target of the current period (a reconnect group may have changed size).
    let y = h - pad - scale(goal.current.target);
    svg.push_str(&format!(
        r#"<line class="target" x1="0" x2="{width}" y1="{y:.1}" y2="{y:.1}"/></svg>"#
    ));
    svg
}

/// One horizontal bar per goal: this period's share of the target.
pub fn progress_chart(goals: &[Goal]) -> String {
    let (row, width, label) = (28.0, 420.0, 180.0);
    let height = goals.len() as f64 * row + 4.0;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {width} {height}" width="100%" height="{height}" role="img" aria-label="Goal progress this period">"#
    );
    for (i, g) in goals.iter().enumerate() {
        let y = 4.0 + i as f64 * row;
        let pct = g.percent() as f64;
        let full = width - label - 60.0;
        svg.push_str(&format!(
            r#"<g><title>{}: {} of {}</title><text x="0" y="{:.1}">{}</text><rect class="track" x="{label}" y="{:.1}" width="{full:.1}" height="14"/><rect class="{}" x="{label}" y="{:.1}" width="{:.1}" height="14"/><text x="{:.1}" y="{:.1}">{} / {}</text></g>"#,
            esc(&g.title),
            g.current.value,
            g.current.target,
            y + 12.0,
            esc(&g.title.chars().take(24).collect::<String>()),
            y,
            if pct >= 100.0 { "bar met" } else { "bar" },
            y,
            full * pct / 100.0,
            label + full + 6.0,
            y + 12.0,
            g.current.value,
            g.current.target,
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct GoalForm {
    pub title: String,
    pub kind: String,
    pub period: String,
    pub target: String,
    pub interaction_kind: String,
    pub stage: String,
    pub tag: String,
}

async fn goals_view(
    platform: &Platform,
    principal: &Principal,
    form: GoalForm,
    errors: FormErrors,
) -> AppResult<GoalsPage> {
    let goals = goals::list(platform, principal, 7)
        .await?
        .into_iter()
        .map(|g| {
            let chart = history_chart(&g);
            (g, chart)
        })
        .collect();
    Ok(GoalsPage {
        page: PageContext::signed_in(principal, "crm"),
        tab: "goals",
        goals,
        stages: Stage::ALL,
        kinds: InteractionKind::ALL,
        form,
        errors,
    })
}

async fn goals_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    render(
        &goals_view(
            &platform,
            &principal,
            GoalForm {
                kind: "interactions".into(),
                period: "week".into(),
                ..GoalForm::default()
            },
            FormErrors::default(),
        )
        .await?,
    )
}

async fn create_goal(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<GoalForm>,
) -> Result<Response, WebError> {
    let input = GoalInput {
        title: form.title.clone(),
        kind: form.kind.clone(),
        period: form.period.clone(),
        target: match form.target.trim() {
            "" => None,
            raw => Some(raw.parse().unwrap_or(0)),
        },
        interaction_kind: Some(form.interaction_kind.clone()),
        stage: Some(form.stage.clone()),
        tag: Some(form.tag.clone()),
    };
    form_response(
        goals::save(&platform, &principal, None, &input).await,
        |_| "/crm/goals".into(),
        |errors| goals_view(&platform, &principal, form, errors),
    )
    .await
}

async fn delete_goal(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    goals::delete(&platform, &principal, id).await?;
    Ok(redirect("/crm/goals"))
}
