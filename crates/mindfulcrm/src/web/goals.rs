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
use crate::goals::{self, Goal, GoalInput, Period, PeriodProgress};

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

/// Width of a character of chart text (11px), generous so that labels are never clipped.
const CHAR_WIDTH: f64 = 7.0;

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_WIDTH
}

/// A period's tick: the day and month a week starts, a month, or a quarter.
fn tick(period: Period, start: jiff::civil::Date) -> String {
    match period {
        Period::Week => start.strftime("%-d %b").to_string(),
        Period::Month => start.strftime("%b").to_string(),
        Period::Quarter => format!("Q{}", (start.month() - 1) / 3 + 1),
    }
}

/// Bars for each period (oldest first) with the target as a line; a met period is green.
/// When the periods span years, the first tick and each one where the year changes also
/// name the year, on a second line.
pub fn history_chart(goal: &Goal) -> String {
    let periods: Vec<&PeriodProgress> = goal.history.iter().chain([&goal.current]).collect();
    let starts: Vec<Option<jiff::civil::Date>> =
        periods.iter().map(|p| p.starts_on.parse().ok()).collect();
    let years: Vec<Option<i16>> = starts.iter().map(|d| d.map(|d| d.year())).collect();
    let spans_years = years.iter().flatten().min() != years.iter().flatten().max();
    let ticks: Vec<(String, Option<i16>)> = starts
        .iter()
        .enumerate()
        .map(|(i, start)| match start {
            Some(d) => {
                let new_year = i == 0 || years[i - 1] != Some(d.year());
                (
                    tick(goal.period, *d),
                    (spans_years && new_year).then_some(d.year()),
                )
            }
            None => (periods[i].starts_on.clone(), None),
        })
        .collect();
    let top = periods
        .iter()
        .map(|p| p.value.max(p.target))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    // Each period's slot is wide enough for its widest text; the margins keep the value
    // labels above the bars and the ticks (one or two lines) below them inside the picture.
    let widest = periods
        .iter()
        .zip(&ticks)
        .map(|(p, (label, _))| text_width(label).max(text_width(&p.value.to_string())))
        .fold(40.0_f64, f64::max);
    let slot = widest + 8.0;
    let (side, above, plot, line) = (6.0, 16.0, 84.0, 13.0);
    let below = if spans_years {
        2.0 * line + 6.0
    } else {
        line + 6.0
    };
    let width = side * 2.0 + periods.len() as f64 * slot;
    let base = above + plot;
    let h = base + below;
    let scale = |v: i64| (v as f64 / top) * plot;
    let dated = |d: &jiff::civil::Date| format!("{} {}", tick(goal.period, *d), d.year());
    let label = match (starts.first(), starts.last()) {
        (Some(Some(first)), Some(Some(last))) if first != last => format!(
            "{}: progress per {}, {} to {}",
            goal.title,
            goal.period.as_str(),
            dated(first),
            dated(last)
        ),
        _ => format!("{}: progress per {}", goal.title, goal.period.as_str()),
    };
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {width:.1} {h:.1}" width="{width:.1}" height="{h:.1}" role="img" aria-label="{label}"><title>{label}</title>"#,
        label = esc(&label),
    );
    for (i, (p, (tick, year))) in periods.iter().zip(&ticks).enumerate() {
        let x = side + i as f64 * slot;
        let mid = x + slot / 2.0;
        let bar = scale(p.value);
        let class = if p.value >= p.target {
            "bar met"
        } else {
            "bar"
        };
        let year = year.map_or(String::new(), |y| {
            format!(r#" <tspan x="{mid:.1}" dy="{line}">{y}</tspan>"#)
        });
        svg.push_str(&format!(
            r#"<g><title>{}: {} of {}</title><rect class="{class}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/><text x="{mid:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis" x="{mid:.1}" y="{:.1}" text-anchor="middle">{}{year}</text></g>"#,
            esc(&p.starts_on),
            p.value,
            p.target,
            x + 4.0,
            base - bar,
            slot - 8.0,
            bar,
            base - bar - 3.0,
            p.value,
            base + line,
            esc(tick),
        ));
    }
    // The target of the current period (a reconnect group may have changed size).
    let y = base - scale(goal.current.target);
    svg.push_str(&format!(
        r#"<line class="target" x1="0" x2="{width:.1}" y1="{y:.1}" y2="{y:.1}"/></svg>"#
    ));
    svg
}

/// One horizontal bar per goal: this period's share of the target.
pub fn progress_chart(goals: &[Goal]) -> String {
    let (row, label, full) = (28.0, 180.0, 180.0);
    // Room on the right for the widest "value / target".
    let numbers = goals
        .iter()
        .map(|g| text_width(&format!("{} / {}", g.current.value, g.current.target)))
        .fold(0.0_f64, f64::max);
    let width = label + full + 6.0 + numbers + 4.0;
    let height = goals.len() as f64 * row + 4.0;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {width:.1} {height}" width="100%" height="{height}" role="img" aria-label="Goal progress this period"><title>Goal progress this period</title>"#
    );
    for (i, g) in goals.iter().enumerate() {
        let y = 4.0 + i as f64 * row;
        let pct = g.percent() as f64;
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
