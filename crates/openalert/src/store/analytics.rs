//! What the on-call figures read: incident facts and pages sent in a period.

use sqlx::FromRow;

use super::Executor;
use crate::domain::Urgency;
use crate::domain::analytics::{IncidentFacts, Page};

/// An incident as the CSV export lists it.
pub struct ExportRow {
    pub number: i64,
    pub title: String,
    pub facts: IncidentFacts,
}

#[derive(FromRow)]
struct ExportFields {
    number: i64,
    title: String,
    #[sqlx(flatten)]
    facts: FactsRow,
}

#[derive(FromRow)]
struct FactsRow {
    id: i64,
    service_id: i64,
    team_id: i64,
    escalation_policy_id: Option<i64>,
    urgency: String,
    dedup_key: String,
    created_at: i64,
    first_acknowledged_at: Option<i64>,
    acknowledged_by_person: i64,
    resolved_at: Option<i64>,
    resolved_how: Option<String>,
    retrigger_count: i64,
    peak_escalation_level: i64,
}

const FROM_TEAM_INCIDENTS: &str = "FROM oa_services s JOIN oa_incidents i ON i.service_id = s.id";

const FACT_COLUMNS: &str = "i.id, i.service_id, s.team_id, s.escalation_policy_id, i.urgency, i.dedup_key, \
    i.created_at, i.first_acknowledged_at, i.acknowledged_by_person, i.resolved_at, i.resolved_how, \
    i.retrigger_count, i.peak_escalation_level";

/// ` AND s.team_id IN (…)` for a set of validated ids, or nothing for every team.
fn team_clause(teams: Option<&[i64]>) -> String {
    match teams {
        None => String::new(),
        Some(ids) => {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!(" AND s.team_id IN ({})", list.join(", "))
        }
    }
}

/// Incidents created in `[from, until)` of the given teams' services (`None`: all teams).
pub async fn incident_facts<'c>(
    db: impl Executor<'c>,
    teams: Option<&[i64]>,
    from: i64,
    until: i64,
) -> sqlx::Result<Vec<IncidentFacts>> {
    if teams.is_some_and(<[i64]>::is_empty) {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {FACT_COLUMNS} {FROM_TEAM_INCIDENTS} \
         WHERE i.created_at >= $1 AND i.created_at < $2{}",
        team_clause(teams)
    );
    let rows: Vec<FactsRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(until)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(IncidentFacts::from).collect())
}

/// Like [`incident_facts`] with each incident's number and title, oldest first; at most
/// `limit` rows.
pub async fn export_rows<'c>(
    db: impl Executor<'c>,
    teams: Option<&[i64]>,
    from: i64,
    until: i64,
    limit: i64,
) -> sqlx::Result<Vec<ExportRow>> {
    if teams.is_some_and(<[i64]>::is_empty) {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT i.number, i.title, {FACT_COLUMNS} {FROM_TEAM_INCIDENTS} \
         WHERE i.created_at >= $1 AND i.created_at < $2{} ORDER BY i.created_at, i.id LIMIT $3",
        team_clause(teams)
    );
    let rows: Vec<ExportFields> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(until)
        .bind(limit)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ExportRow {
            number: r.number,
            title: r.title,
            facts: r.facts.into(),
        })
        .collect())
}

impl From<FactsRow> for IncidentFacts {
    fn from(r: FactsRow) -> Self {
        Self {
            id: r.id,
            service_id: r.service_id,
            team_id: r.team_id,
            policy_id: r.escalation_policy_id,
            urgency: Urgency::parse(&r.urgency).unwrap_or(Urgency::High),
            dedup_key: r.dedup_key,
            created_at: r.created_at,
            first_acknowledged_at: r.first_acknowledged_at,
            acknowledged_by_person: r.acknowledged_by_person != 0,
            resolved_at: r.resolved_at,
            resolved_how: r.resolved_how,
            retriggers: r.retrigger_count,
            peak_level: r.peak_escalation_level,
        }
    }
}

/// How long before a period an incident may have opened and still page someone in it (an
/// escalation repeating, an acknowledgement timing out).
const PAGES_REACH_BACK_MS: i64 = 7 * 86_400_000;

/// Pages (every sent notification but e-mail) sent in `[from, until)` about the given teams'
/// incidents opened up to a week before. The read goes from the teams' incidents (by service
/// and creation time) to their notifications, so its cost follows the team, not the server.
pub async fn pages<'c>(
    db: impl Executor<'c>,
    teams: Option<&[i64]>,
    from: i64,
    until: i64,
) -> sqlx::Result<Vec<Page>> {
    if teams.is_some_and(<[i64]>::is_empty) {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT n.user_id, n.sent_at {FROM_TEAM_INCIDENTS} JOIN oa_notifications n ON n.incident_id = i.id \
         WHERE i.created_at >= $3 AND i.created_at < $2 AND n.sent_at >= $1 AND n.sent_at < $2 \
         AND n.status = 'sent' AND n.kind <> 'email'{}",
        team_clause(teams)
    );
    let rows: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(until)
        .bind(from - PAGES_REACH_BACK_MS)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(user_id, sent_at)| Page { user_id, sent_at })
        .collect())
}
