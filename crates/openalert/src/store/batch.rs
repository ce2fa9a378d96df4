//! Set-based statements for group-committed ingestion: a batch of triggers becomes a handful of
//! multi-row statements instead of several statements per event.

use keel_platform::db::Dialect;
use keel_platform::domain::Timestamp;
use sqlx::AssertSqlSafe;

use super::incidents::NewAlert;
use super::{Executor, id_list};
use crate::domain::Urgency;

/// Most rows per multi-row INSERT (keeps parameters well under SQLite's 32766 limit).
const ROWS_PER_INSERT: usize = 500;

/// `($1, $2, tail), ($3, $4, tail)` for `rows` rows of `cols` parameters followed by the
/// constant `tail` (built from trusted numbers and literals only).
fn values(dialect: Dialect, rows: usize, cols: usize, tail: &str) -> String {
    dialect.values(rows, cols, tail)
}

/// Open incidents among the given services whose dedup key is one of `keys`.
pub async fn open_incidents<'c>(
    db: impl Executor<'c>,
    dialect: Dialect,
    services: &[i64],
    keys: &[&str],
) -> sqlx::Result<Vec<(i64, i64, String, String)>> {
    if services.is_empty() || keys.is_empty() {
        return Ok(Vec::new());
    }
    let parameters: Vec<String> = (1..=keys.len()).map(|i| dialect.parameter(i)).collect();
    let sql = format!(
        "SELECT id, service_id, dedup_key, status FROM oa_incidents WHERE status <> 'resolved' AND service_id IN ({}) AND dedup_key IN ({})",
        id_list(services),
        parameters.join(", ")
    );
    let mut query = sqlx::query_as::<_, (i64, i64, String, String)>(AssertSqlSafe(sql));
    for key in keys {
        query = query.bind(*key);
    }
    query.fetch_all(db).await
}

/// The services among `services` that are inside a maintenance window at `now`.
pub async fn in_maintenance<'c>(
    db: impl Executor<'c>,
    services: &[i64],
    now: Timestamp,
) -> sqlx::Result<Vec<i64>> {
    if services.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT DISTINCT service_id FROM oa_maintenance_windows WHERE service_id IN ({}) AND starts_at <= $1 AND ends_at > $1",
        id_list(services)
    );
    sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(now.as_millis())
        .fetch_all(db)
        .await
}

/// Keys of the alerts still firing on the given incidents.
pub async fn firing_alert_keys<'c>(
    db: impl Executor<'c>,
    incidents: &[i64],
) -> sqlx::Result<Vec<(i64, String)>> {
    if incidents.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT DISTINCT incident_id, alert_key FROM oa_alerts WHERE incident_id IN ({}) AND status = 'firing'",
        id_list(incidents)
    );
    sqlx::query_as(AssertSqlSafe(sql)).fetch_all(db).await
}

/// Takes `count` incident numbers at once; returns the first.
pub async fn reserve_numbers<'c>(db: impl Executor<'c>, count: i64) -> sqlx::Result<i64> {
    let last: i64 = sqlx::query_scalar(
        "UPDATE oa_counters SET value = value + $1 WHERE name = 'incident_number' RETURNING value",
    )
    .bind(count)
    .fetch_one(db)
    .await?;
    Ok(last - count + 1)
}

pub struct IncidentRow<'a> {
    pub number: i64,
    pub service_id: i64,
    pub title: &'a str,
    pub urgency: Urgency,
    pub dedup_key: &'a str,
    pub alert_count: i64,
}

/// Inserts new triggered incidents; returns `(number, id)` pairs.
pub async fn insert_incidents(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    rows: &[IncidentRow<'_>],
    now: Timestamp,
) -> sqlx::Result<Vec<(i64, i64)>> {
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO oa_incidents (number, service_id, title, urgency, dedup_key, alert_count, status, created_at, updated_at, last_alert_at, escalation_due_at) \
             VALUES {} RETURNING number, id",
            values(
                dialect,
                chunk.len(),
                6,
                &format!(
                    "'triggered', {now}, {now}, {now}, {now}",
                    now = now.as_millis()
                )
            )
        );
        let mut query = sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql));
        for r in chunk {
            metrics::counter!("keel_incidents_opened_total", "urgency" => r.urgency.as_str())
                .increment(1);
            query = query
                .bind(r.number)
                .bind(r.service_id)
                .bind(r.title)
                .bind(r.urgency.as_str())
                .bind(r.dedup_key)
                .bind(r.alert_count);
        }
        ids.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(ids)
}

pub async fn insert_alerts(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    rows: &[NewAlert<'_>],
) -> sqlx::Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO oa_alerts (service_id, integration_id, incident_id, dedup_key, alert_key, summary, source, severity, \
             component, grp, class, details, links, images, raw, suppressed, received_at, status) VALUES {}",
            values(dialect, chunk.len(), 17, "'firing'")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for a in chunk {
            let e = a.event;
            query = query
                .bind(a.service_id)
                .bind(a.integration_id)
                .bind(a.incident_id)
                .bind(&e.dedup_key)
                .bind(&e.alert_key)
                .bind(&e.summary)
                .bind(&e.source)
                .bind(e.severity.as_str())
                .bind(e.component.as_deref())
                .bind(e.group.as_deref())
                .bind(e.class.as_deref())
                .bind(e.details.to_string())
                .bind(e.links.to_string())
                .bind(e.images.to_string())
                .bind(a.raw)
                .bind(i64::from(a.suppressed))
                .bind(a.now.as_millis());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

pub struct LogRow {
    pub incident_id: i64,
    pub kind: &'static str,
    pub message: String,
    pub details: String,
}

/// Timeline entries written by the monitoring tool (no user actor).
pub async fn insert_logs(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    rows: &[LogRow],
    now: Timestamp,
) -> sqlx::Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO oa_incident_log (incident_id, kind, message, details, at, actor) VALUES {}",
            values(
                dialect,
                chunk.len(),
                4,
                &format!("{}, 'monitoring'", now.as_millis())
            )
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            query = query
                .bind(r.incident_id)
                .bind(r.kind)
                .bind(&r.message)
                .bind(&r.details);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Adds to the alert counts of existing incidents in one statement.
pub async fn add_alert_counts<'c>(
    db: impl Executor<'c>,
    counts: &[(i64, i64)],
    now: Timestamp,
) -> sqlx::Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let cases: String = counts
        .iter()
        .map(|(id, n)| format!(" WHEN {id} THEN {n}"))
        .collect();
    let ids: Vec<i64> = counts.iter().map(|(id, _)| *id).collect();
    let sql = format!(
        "UPDATE oa_incidents SET alert_count = alert_count + CASE id{cases} ELSE 0 END, last_alert_at = $1, updated_at = $1 WHERE id IN ({})",
        id_list(&ids)
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(now.as_millis())
        .execute(db)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_numbers_parameters_in_order() {
        let pg = keel_platform::db::Dialect::new(keel_platform::config::Backend::Postgres);
        assert_eq!(
            super::values(pg, 2, 2, "'x'"),
            "($1, $2, 'x'), ($3, $4, 'x')"
        );
        let sqlite = keel_platform::db::Dialect::new(keel_platform::config::Backend::Sqlite);
        assert_eq!(super::values(sqlite, 1, 2, ""), "(?, ?)");
    }
}
