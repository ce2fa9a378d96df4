//! The weekly summary mail: on Monday from 09:00 UTC, each team that asked for it gets the
//! past week's headline figures and noisiest alerts (Monday to Monday, UTC). The engine
//! claims the week for the team and queues the job in one transaction, so each summary goes
//! out once however many nodes look; the job builds the report and mails the members.

use askama::Template;
use keel_platform::audit::{self, Actor};
use keel_platform::authz;
use keel_platform::domain::Timestamp;
use keel_platform::identity::{AuthMethod, ClientMeta, Principal};
use keel_platform::jobs::{self, Job, JobError};
use keel_platform::mail::{self, OutgoingMail};
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};

use crate::analytics::{self, Noisy, Report, ReportQuery};
use crate::domain::analytics::{Durations, duration_words};
use crate::store::summaries as store;

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// Summaries go out from this hour (UTC) on Monday, when the week's last incidents settled.
const SEND_FROM_HOUR: i64 = 9;
/// Noisy keys a summary names.
const NOISIEST: usize = 5;

/// Summarise one team's week.
#[derive(Debug, Serialize, Deserialize)]
pub struct WeeklySummary {
    pub team_id: i64,
    /// End of the week (Monday 00:00 UTC), milliseconds.
    pub week_ends_at: i64,
}

impl Job for WeeklySummary {
    const KIND: &'static str = "openalert.weekly_summary";
}

/// Whether a team gets the summary, as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SummarySetting {
    pub team_id: i64,
    pub enabled: bool,
    /// End of the last week a summary was sent for.
    pub last_week_ends_at: Option<Timestamp>,
}

/// Monday 00:00 UTC of the week holding `now`.
fn week_start(now: Timestamp) -> i64 {
    // The epoch was a Thursday: Monday 00:00 UTC is 4 days into the epoch's week.
    (now.as_millis() - 4 * DAY_MS).div_euclid(WEEK_MS) * WEEK_MS + 4 * DAY_MS
}

/// The week whose summary is due at `now`: its end (the latest Monday 00:00 UTC) once it is
/// Monday 09:00 or later; `None` before that on Mondays.
pub fn due_week_end(now: Timestamp) -> Option<i64> {
    let monday = week_start(now);
    (now.as_millis() >= monday + SEND_FROM_HOUR * 3_600_000).then_some(monday)
}

/// The last week counted as done when a team switches the summary on at `now`, so the first
/// mail is the next one due, not one for a week that ended long before.
fn already_sent_week_end(now: Timestamp) -> i64 {
    due_week_end(now).unwrap_or(week_start(now) - WEEK_MS)
}

/// Claims each due team's week and queues its summary; returns how many were queued here.
pub async fn schedule(platform: &Platform) -> AppResult<usize> {
    let now = platform.now();
    let Some(week_ends_at) = due_week_end(now) else {
        return Ok(0);
    };
    let mut queued = 0;
    for team_id in store::due(platform.db.pool(), week_ends_at).await? {
        let mut tx = platform.db.begin().await?;
        if store::claim(&mut *tx, team_id, week_ends_at, now).await? {
            let job = WeeklySummary {
                team_id,
                week_ends_at,
            };
            jobs::enqueue(&mut *tx, &job, now, jobs::DEFAULT_MAX_ATTEMPTS, now).await?;
            queued += 1;
        }
        tx.commit().await?;
    }
    if queued > 0 {
        platform.job_wake.notify_one();
    }
    Ok(queued)
}

pub async fn setting(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
) -> AppResult<SummarySetting> {
    authz::require_team_read(platform, principal, team_id).await?;
    let row = store::setting(platform.db.pool(), team_id).await?;
    Ok(SummarySetting {
        team_id,
        enabled: row.as_ref().is_some_and(|r| r.enabled != 0),
        last_week_ends_at: row.and_then(|r| r.week_ends_at).map(Timestamp::from_millis),
    })
}

/// Turns the team's summary on or off (its managers and admins).
pub async fn set_enabled(
    platform: &Platform,
    principal: &Principal,
    meta: &ClientMeta,
    team_id: i64,
    enabled: bool,
) -> AppResult<SummarySetting> {
    authz::require_team_manage(platform, principal, team_id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::set_enabled(&mut *tx, team_id, enabled, already_sent_week_end(now), now).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "weekly_summary.updated",
        ("team", &team_id.to_string()),
        serde_json::json!({"enabled": enabled}),
    )
    .await?;
    tx.commit().await?;
    setting(platform, principal, team_id).await
}

/// The job: the report for the team's week, mailed to each active member.
pub async fn send(platform: &Platform, job: &WeeklySummary) -> Result<(), JobError> {
    let members = keel_platform::accounts::active_team_members(platform, job.team_id)
        .await
        .map_err(|e| JobError::Failed(e.to_string()))?;
    let Some(first) = members.first() else {
        return Ok(());
    };
    // The report is read with a member's own rights, as if they opened the page.
    let reader = Principal {
        user: first.clone(),
        method: AuthMethod::Scheduled,
    };
    let until = Timestamp::from_millis(job.week_ends_at).to_string();
    let query = ReportQuery {
        team_id: Some(job.team_id),
        days: Some(7),
        until: Some(&until),
        time_zone: None,
    };
    let report = match analytics::report(platform, &reader, &query).await {
        Ok(report) => report,
        // The team was deleted since the week was claimed.
        Err(AppError::NotFound(_)) => return Ok(()),
        Err(err) => return Err(JobError::Failed(err.to_string())),
    };
    let team = keel_platform::accounts::get_team(platform, &reader, job.team_id)
        .await
        .map_err(|e| JobError::Failed(e.to_string()))?;
    let message = Message::of(platform, &team.name, &report)?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    for member in &members {
        let mail = OutgoingMail {
            to: member.email.clone(),
            subject: message.subject.clone(),
            text: message.text.clone(),
            html: Some(message.html.clone()),
            unsubscribe: None,
        };
        mail::queue(&mut *tx, &platform.secret, &mail, now).await?;
    }
    tx.commit().await?;
    platform.job_wake.notify_one();
    Ok(())
}

/// One headline: what, this week, the week before.
struct Headline {
    label: &'static str,
    now: String,
    before: String,
}

#[derive(Template)]
#[template(path = "openalert/mail/weekly_summary.html")]
struct SummaryMail<'a> {
    subject: &'a str,
    team: &'a str,
    period: &'a str,
    headlines: &'a [Headline],
    noisy: &'a [Noisy],
    url: &'a str,
}

struct Message {
    subject: String,
    text: String,
    html: String,
}

impl Message {
    fn of(platform: &Platform, team: &str, report: &Report) -> Result<Self, JobError> {
        let day = |t: Timestamp| t.to_string().chars().take(10).collect::<String>();
        let last_day = Timestamp::from_millis(report.until.as_millis() - DAY_MS);
        let period = format!("{} to {}", day(report.from), day(last_day));
        let (now, before) = (&report.current, &report.previous);
        let mean = |d: &Durations| duration_words(d.mean_seconds);
        let headlines = [
            Headline {
                label: "Incidents opened",
                now: now.opened.to_string(),
                before: before.opened.to_string(),
            },
            Headline {
                label: "Acknowledged by a person",
                now: now.acknowledged_by_person.to_string(),
                before: before.acknowledged_by_person.to_string(),
            },
            Headline {
                label: "Resolved without acknowledgement",
                now: now.auto_resolved.to_string(),
                before: before.auto_resolved.to_string(),
            },
            Headline {
                label: "Escalated past the first level",
                now: now.escalated.to_string(),
                before: before.escalated.to_string(),
            },
            Headline {
                label: "Mean time to acknowledge",
                now: mean(&now.time_to_acknowledge),
                before: mean(&before.time_to_acknowledge),
            },
            Headline {
                label: "Mean time to resolve",
                now: mean(&now.time_to_resolve),
                before: mean(&before.time_to_resolve),
            },
        ];
        let noisy: Vec<Noisy> = report.noisy.iter().take(NOISIEST).cloned().collect();
        let url = format!(
            "{}/openalert/analytics?team_id={}&days=7",
            platform.config.base_url(),
            report.team_id.unwrap_or_default()
        );
        let subject = format!("{team}: the week on call, {period}");
        let mut text = format!("{subject}\n\n");
        for h in &headlines {
            text.push_str(&format!(
                "{}: {} (the week before: {})\n",
                h.label, h.now, h.before
            ));
        }
        if !noisy.is_empty() {
            text.push_str("\nNoisiest alerts:\n");
            for n in &noisy {
                text.push_str(&format!(
                    "- {} / {}: {} incidents, {} resolved unacknowledged, {} re-fired within 24 h\n",
                    n.service_name,
                    n.key.dedup_key,
                    n.key.incidents,
                    n.key.unacknowledged,
                    n.key.refired_within_24h
                ));
            }
        }
        text.push_str(&format!(
            "\nThe whole report: {url}\nA team manager can turn this mail off on that page.\n"
        ));
        let html = SummaryMail {
            subject: &subject,
            team,
            period: &period,
            headlines: &headlines,
            noisy: &noisy,
            url: &url,
        }
        .render()
        .map_err(|e| JobError::Failed(format!("mail template: {e}")))?;
        Ok(Self {
            subject,
            text,
            html,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_due_week_ends_on_the_latest_monday_once_it_is_nine() {
        let at = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        let monday = at("2026-03-09T00:00:00Z").as_millis();
        assert_eq!(due_week_end(at("2026-03-09T08:59:59Z")), None);
        assert_eq!(due_week_end(at("2026-03-09T09:00:00Z")), Some(monday));
        assert_eq!(due_week_end(at("2026-03-15T23:59:59Z")), Some(monday));
        assert_eq!(
            due_week_end(at("2026-03-16T10:00:00Z")),
            Some(monday + WEEK_MS)
        );
    }

    #[test]
    fn switching_on_waits_for_the_next_summary() {
        let at = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        let monday = at("2026-03-09T00:00:00Z").as_millis();
        // Wednesday: the week that ended on Monday is not sent now; the next one is.
        assert_eq!(already_sent_week_end(at("2026-03-11T12:00:00Z")), monday);
        // Monday before 09:00: this morning's summary still goes out.
        assert_eq!(
            already_sent_week_end(at("2026-03-09T08:00:00Z")),
            monday - WEEK_MS
        );
    }
}
