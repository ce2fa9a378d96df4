//! What the on-call figures read: incident facts and pages sent in a period.

use sqlx::FromRow;

use keel_platform::db::Dialect;

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
///
/// They travel packed, one row per service and week, each incident a text record: the SQLite
/// driver costs several microseconds per row it hands over, which at 25,000 incidents cost
/// more than the query itself.
pub async fn incident_facts<'c>(
    db: impl Executor<'c>,
    dialect: Dialect,
    teams: Option<&[i64]>,
    from: i64,
    until: i64,
) -> sqlx::Result<Vec<IncidentFacts>> {
    if teams.is_some_and(<[i64]>::is_empty) {
        return Ok(Vec::new());
    }
    let record = format!(
        "CAST(i.id AS TEXT) || ',' || i.urgency || ',' || CAST(i.created_at AS TEXT) || ',' \
         || COALESCE(CAST(i.first_acknowledged_at AS TEXT), '') || ',' \
         || CAST(i.acknowledged_by_person AS TEXT) || ',' || COALESCE(CAST(i.resolved_at AS TEXT), '') || ',' \
         || COALESCE(i.resolved_how, '') || ',' || CAST(i.retrigger_count AS TEXT) || ',' \
         || CAST(i.peak_escalation_level AS TEXT) || ',' || {}",
        dialect.text_as_hex("i.dedup_key")
    );
    let sql = format!(
        "SELECT i.service_id, s.team_id, s.escalation_policy_id, {} AS records {FROM_TEAM_INCIDENTS} \
         WHERE i.created_at >= $1 AND i.created_at < $2{} \
         GROUP BY i.service_id, s.team_id, s.escalation_policy_id, i.created_at / {WEEK_MS}",
        dialect.string_agg(&record, ";"),
        team_clause(teams)
    );
    let rows: Vec<(i64, i64, Option<i64>, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(until)
        .fetch_all(db)
        .await?;
    let mut facts = Vec::new();
    for (service_id, team_id, policy_id, records) in rows {
        for record in records.split(';') {
            let unpacked = unpack(service_id, team_id, policy_id, record);
            facts.push(unpacked.ok_or_else(|| {
                sqlx::Error::Decode(format!("incident record {record:?} is malformed").into())
            })?);
        }
    }
    Ok(facts)
}

const WEEK_MS: i64 = 7 * 86_400_000;

/// One record of [`incident_facts`]: ten comma-separated fields, the dedup key hex-encoded
/// (it may hold any character), empty for NULL.
fn unpack(
    service_id: i64,
    team_id: i64,
    policy_id: Option<i64>,
    record: &str,
) -> Option<IncidentFacts> {
    let mut f = record.split(',');
    let mut next = || f.next();
    let number = |s: &str| s.parse::<i64>().ok();
    let optional = |s: &str| {
        if s.is_empty() {
            Some(None)
        } else {
            number(s).map(Some)
        }
    };
    let id = number(next()?)?;
    let urgency = Urgency::parse(next()?).unwrap_or(Urgency::High);
    let created_at = number(next()?)?;
    let first_acknowledged_at = optional(next()?)?;
    let acknowledged_by_person = number(next()?)? != 0;
    let resolved_at = optional(next()?)?;
    let resolved_how = Some(next()?).filter(|s| !s.is_empty()).map(str::to_owned);
    let retriggers = number(next()?)?;
    let peak_level = number(next()?)?;
    let dedup_key = String::from_utf8(hex::decode(next()?).ok()?).ok()?;
    Some(IncidentFacts {
        id,
        service_id,
        team_id,
        policy_id,
        urgency,
        dedup_key,
        created_at,
        first_acknowledged_at,
        acknowledged_by_person,
        resolved_at,
        resolved_how,
        retriggers,
        peak_level,
    })
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
    dialect: Dialect,
    teams: Option<&[i64]>,
    from: i64,
    until: i64,
) -> sqlx::Result<Vec<Page>> {
    if teams.is_some_and(<[i64]>::is_empty) {
        return Ok(Vec::new());
    }
    // Packed one row per person, for the same reason as the incidents: `sent_at:schedule_id`
    // records, the schedule empty when none put the person on call.
    let sql = format!(
        "SELECT n.user_id, {} {FROM_TEAM_INCIDENTS} JOIN oa_notifications n ON n.incident_id = i.id \
         WHERE i.created_at >= $3 AND i.created_at < $2 AND n.sent_at >= $1 AND n.sent_at < $2 \
         AND n.status = 'sent' AND n.kind <> 'email'{} GROUP BY n.user_id",
        dialect.string_agg(
            "CAST(n.sent_at AS TEXT) || ':' || COALESCE(CAST(n.schedule_id AS TEXT), '')",
            ","
        ),
        team_clause(teams)
    );
    let rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(until)
        .bind(from - PAGES_REACH_BACK_MS)
        .fetch_all(db)
        .await?;
    let mut pages = Vec::new();
    for (user_id, records) in rows {
        for record in records.split(',') {
            let unpacked = record.split_once(':').and_then(|(sent_at, schedule)| {
                Some(Page {
                    user_id,
                    sent_at: sent_at.parse().ok()?,
                    schedule_id: match schedule {
                        "" => None,
                        id => Some(id.parse().ok()?),
                    },
                })
            });
            pages.push(unpacked.ok_or_else(|| {
                sqlx::Error::Decode(format!("page record {record:?} is malformed").into())
            })?);
        }
    }
    Ok(pages)
}
