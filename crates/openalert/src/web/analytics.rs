//! The Analytics page: headline figures against the previous period, a weekly trend, incidents
//! per service, on-call load per person and the noisiest alerts, each linked to the incidents
//! it counts. Charts are SVG drawn here; the tables beside them carry the same numbers.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use keel_platform::Platform;
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::store::teams::Team;
use keel_platform::web::{FormErrors, PageContext, WebError, WebUser, render, render_invalid};
use serde::Deserialize;

use crate::analytics::{self, Group, Report, ReportQuery};
use crate::domain::analytics::{Durations, duration_words};
use crate::weekly_summary::{self, SummarySetting};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/openalert/analytics", get(analytics_page))
        .route(
            "/openalert/analytics/weekly-summary",
            post(weekly_summary_form),
        )
}

const PERIODS: &[(i64, &str)] = &[
    (7, "Last 7 days"),
    (30, "Last 30 days"),
    (90, "Last 90 days"),
    (365, "Last 12 months"),
];

#[derive(Deserialize, Default)]
pub struct Params {
    team_id: Option<String>,
    days: Option<i64>,
}

/// A shape of a chart, in the chart's own units.
pub struct Bar {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    class: &'static str,
    title: String,
}

pub struct Label {
    x: f64,
    y: f64,
    text: String,
    anchor: &'static str,
}

/// One row of a bar chart: its label and its stacked parts (value, class, tooltip). Charts
/// carry no links (an image holds no controls); the tables beside them do.
struct Row {
    name: String,
    parts: Vec<(usize, &'static str, String)>,
}

pub struct Chart {
    width: f64,
    height: f64,
    label: String,
    bars: Vec<Bar>,
    labels: Vec<Label>,
}

#[derive(Template)]
#[template(path = "openalert/analytics.html")]
struct AnalyticsPage {
    page: PageContext,
    tab: &'static str,
    teams: Vec<Team>,
    team_id: Option<i64>,
    days: i64,
    periods: &'static [(i64, &'static str)],
    report: Option<Report>,
    trend: Option<Chart>,
    services: Option<Chart>,
    people: Option<Chart>,
    errors: FormErrors,
    /// The chosen team's weekly summary mail, and whether the viewer may switch it.
    summary: Option<(SummarySetting, bool)>,
}

impl AnalyticsPage {
    fn duration(&self, d: &Durations, which: &str) -> String {
        let value = match which {
            "mean" => d.mean_seconds,
            "median" => d.median_seconds,
            _ => d.p90_seconds,
        };
        duration_words(value)
    }

    /// "+12 %", "−5 %", "same" or "new" for a count against the previous period's.
    fn change(&self, now: &usize, before: &usize) -> String {
        change_words(*now as f64, *before as f64)
    }

    fn change_seconds(&self, now: &Option<f64>, before: &Option<f64>) -> String {
        match (now, before) {
            (Some(n), Some(b)) => change_words(*n, *b),
            _ => String::new(),
        }
    }

    /// The incident list for the report's period (and team), narrowed by `extra`.
    fn incidents_link(&self, extra: &str) -> String {
        self.report
            .as_ref()
            .map_or_else(|| "/openalert".into(), |r| incidents_link(r, extra))
    }

    fn is_team(&self, id: &i64) -> bool {
        self.team_id == Some(*id)
    }

    fn csv_link(&self) -> String {
        let mut link = format!("/api/v1/analytics/incidents.csv?days={}", self.days);
        if let Some(team) = self.team_id {
            link.push_str(&format!("&team_id={team}"));
        }
        link
    }

    /// The smaller breakdowns, each as (heading, groups).
    fn group_tables(&self) -> Vec<(&'static str, &[Group])> {
        self.report.as_ref().map_or_else(Vec::new, |r| {
            vec![
                ("By team", r.by_team.as_slice()),
                ("By escalation policy", r.by_policy.as_slice()),
                ("By urgency", r.by_urgency.as_slice()),
            ]
        })
    }
}

fn incidents_link(r: &Report, extra: &str) -> String {
    let mut link = format!(
        "/openalert?status=all&since={}&until={}",
        encode(&r.from.to_string()),
        encode(&r.until.to_string())
    );
    if let Some(team) = r.team_id {
        link.push_str(&format!("&team_id={team}"));
    }
    link.push_str(extra);
    link
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn change_words(now: f64, before: f64) -> String {
    if before == 0.0 {
        return if now == 0.0 {
            "same".into()
        } else {
            "new".into()
        };
    }
    let percent = ((now - before) / before * 100.0).round();
    if percent == 0.0 {
        "same".into()
    } else if percent > 0.0 {
        format!("+{percent:.0} %")
    } else {
        format!("−{:.0} %", -percent)
    }
}

/// Mean time to acknowledge and to resolve per week, as pairs of bars (minutes).
fn trend_chart(report: &Report) -> Option<Chart> {
    if report.weekly.is_empty() || report.current.opened == 0 {
        return None;
    }
    let (left, top, plot_h, bottom) = (56.0, 12.0, 150.0, 34.0);
    let slot = 48.0;
    let width = left + slot * report.weekly.len() as f64 + 12.0;
    let max = report
        .weekly
        .iter()
        .flat_map(|w| [w.mean_seconds_to_acknowledge, w.mean_seconds_to_resolve])
        .flatten()
        .fold(0.0_f64, f64::max)
        .max(60.0);
    let scale = |s: f64| s / max * plot_h;
    let mut bars = Vec::new();
    let mut labels = vec![
        Label {
            x: left - 6.0,
            y: top + 4.0,
            text: duration_words(Some(max)),
            anchor: "end",
        },
        Label {
            x: left - 6.0,
            y: top + plot_h,
            text: "0".into(),
            anchor: "end",
        },
    ];
    for (n, week) in report.weekly.iter().enumerate() {
        let x = left + slot * n as f64 + 6.0;
        for (offset, value, class, what) in [
            (
                0.0,
                week.mean_seconds_to_acknowledge,
                "bar ack",
                "to acknowledge",
            ),
            (
                17.0,
                week.mean_seconds_to_resolve,
                "bar resolve",
                "to resolve",
            ),
        ] {
            if let Some(v) = value {
                let h = scale(v).max(1.0);
                bars.push(Bar {
                    x: x + offset,
                    y: top + plot_h - h,
                    width: 16.0,
                    height: h,
                    class,
                    title: format!(
                        "Week of {}: {} incidents, mean time {what} {}",
                        week.starts_on,
                        week.opened,
                        duration_words(Some(v))
                    ),
                });
            }
        }
        labels.push(Label {
            x: x + 16.0,
            y: top + plot_h + 16.0,
            text: week
                .starts_on
                .get(5..)
                .unwrap_or(&week.starts_on)
                .to_string(),
            anchor: "middle",
        });
        if n == 0 || week.starts_on.get(..4) != report.weekly[n - 1].starts_on.get(..4) {
            labels.push(Label {
                x: x + 16.0,
                y: top + plot_h + 30.0,
                text: week.starts_on.get(..4).unwrap_or_default().to_string(),
                anchor: "middle",
            });
        }
    }
    Some(Chart {
        width,
        height: top + plot_h + bottom,
        label: "Mean time to acknowledge and to resolve, week by week".into(),
        bars,
        labels,
    })
}

/// Horizontal bars, one row per item: (label, [(value, class, title)], link).
fn row_chart(label: &str, rows: Vec<Row>) -> Option<Chart> {
    if rows.is_empty() {
        return None;
    }
    let (name_w, bar_w, row_h) = (170.0, 360.0, 26.0);
    let max = rows
        .iter()
        .map(|row| row.parts.iter().map(|p| p.0).sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut bars = Vec::new();
    let mut labels = Vec::new();
    for (n, Row { name, parts }) in rows.iter().enumerate() {
        let y = 6.0 + row_h * n as f64;
        let short: String = if name.chars().count() > 24 {
            name.chars().take(23).chain(['…']).collect()
        } else {
            name.clone()
        };
        labels.push(Label {
            x: name_w - 8.0,
            y: y + 15.0,
            text: short,
            anchor: "end",
        });
        let mut x = name_w;
        for (value, class, title) in parts {
            let w = *value as f64 / max * bar_w;
            if *value > 0 {
                bars.push(Bar {
                    x,
                    y,
                    width: w.max(1.0),
                    height: row_h - 8.0,
                    class,
                    title: title.clone(),
                });
            }
            x += w;
        }
        let total: usize = parts.iter().map(|p| p.0).sum();
        labels.push(Label {
            x: x + 6.0,
            y: y + 15.0,
            text: total.to_string(),
            anchor: "start",
        });
    }
    Some(Chart {
        width: name_w + bar_w + 50.0,
        height: 10.0 + row_h * rows.len() as f64,
        label: label.to_string(),
        bars,
        labels,
    })
}

async fn view(
    platform: &Platform,
    principal: &Principal,
    params: &Params,
) -> Result<AnalyticsPage, WebError> {
    let team_id = params.team_id.as_deref().and_then(|t| t.parse().ok());
    let days = params.days.unwrap_or(30);
    let zone = if principal.user.time_zone.is_empty() {
        "UTC"
    } else {
        principal.user.time_zone.as_str()
    };
    let query = ReportQuery {
        team_id,
        days: Some(days),
        until: None,
        time_zone: Some(zone),
    };
    let teams = keel_platform::accounts::list_teams(platform, principal).await?;
    let (report, errors) = match analytics::report(platform, principal, &query).await {
        Ok(report) => (Some(report), FormErrors::default()),
        Err(err) => (None, FormErrors::from_app_error(err)?),
    };
    let charts = report.as_ref().map(|r| {
        let services = row_chart(
            "Incidents per service",
            r.by_service
                .iter()
                .take(12)
                .map(|g| Row {
                    name: g.name.clone(),
                    parts: vec![(
                        g.figures.opened,
                        "bar",
                        format!("{}: {} incidents", g.name, g.figures.opened),
                    )],
                })
                .collect(),
        );
        let people = row_chart(
            "Interruptions per person by time of day",
            r.people
                .iter()
                .take(12)
                .map(|p| {
                    let l = &p.load;
                    Row {
                        name: p.name.clone(),
                        parts: vec![
                            (
                                l.business_hours,
                                "bar business",
                                format!("{}: {} in business hours", p.name, l.business_hours),
                            ),
                            (
                                l.off_hours,
                                "bar off",
                                format!("{}: {} in evenings and weekends", p.name, l.off_hours),
                            ),
                            (
                                l.sleep,
                                "bar sleep",
                                format!("{}: {} in sleep hours", p.name, l.sleep),
                            ),
                        ],
                    }
                })
                .collect(),
        );
        (trend_chart(r), services, people)
    });
    let (trend, services, people) = charts.unwrap_or((None, None, None));
    let summary = match (team_id, &report) {
        (Some(team), Some(_)) => {
            let setting = weekly_summary::setting(platform, principal, team).await?;
            let may_switch = keel_platform::authz::require_team_manage(platform, principal, team)
                .await
                .is_ok();
            Some((setting, may_switch))
        }
        _ => None,
    };
    Ok(AnalyticsPage {
        page: PageContext::signed_in(principal, "openalert").in_time_zone(zone),
        tab: "analytics",
        teams,
        team_id,
        days,
        periods: PERIODS,
        report,
        trend,
        services,
        people,
        errors,
        summary,
    })
}

async fn analytics_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(params): Query<Params>,
) -> Result<Response, WebError> {
    let page = view(&platform, &principal, &params).await?;
    if page.report.is_none() {
        return render_invalid(&page);
    }
    render(&page)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_and_changes_read_as_words() {
        assert_eq!(super::duration_words(None), "—");
        assert_eq!(super::duration_words(Some(45.0)), "45 s");
        assert_eq!(super::duration_words(Some(720.0)), "12 min");
        assert_eq!(super::duration_words(Some(12_600.0)), "3.5 h");
        assert_eq!(super::duration_words(Some(181_440.0)), "2.1 d");
        assert_eq!(super::change_words(12.0, 10.0), "+20 %");
        assert_eq!(super::change_words(5.0, 10.0), "−50 %");
        assert_eq!(super::change_words(3.0, 0.0), "new");
        assert_eq!(super::change_words(0.0, 0.0), "same");
    }
}

#[derive(Deserialize)]
pub struct SummaryForm {
    team_id: i64,
    days: Option<i64>,
    /// A ticked box sends `on`; an unticked one sends nothing.
    enabled: Option<String>,
}

async fn weekly_summary_form(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<SummaryForm>,
) -> Result<Response, WebError> {
    weekly_summary::set_enabled(
        &platform,
        &principal,
        &meta,
        form.team_id,
        form.enabled.is_some(),
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/openalert/analytics?team_id={}&days={}",
        form.team_id,
        form.days.unwrap_or(30)
    ))
    .into_response())
}
