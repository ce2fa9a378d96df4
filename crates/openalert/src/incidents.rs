//! What people do with incidents: look, acknowledge, resolve, note, reassign, open by hand.
//! Every change is on the incident's timeline, in the audit log and on the realtime bus.

use keel_platform::audit::{self, Actor};
use keel_platform::authz::{self, TeamScope};
use keel_platform::domain::{Timestamp, Validator};
use keel_platform::identity::{ClientMeta, Principal};
use keel_platform::realtime::{Audience, Event};
use keel_platform::{AppError, AppResult, Platform};
use serde::Serialize;
use serde_json::json;

use crate::domain::{IncidentSort, IncidentStatus, OwnerFilter, Severity, Urgency};
use crate::store::incidents::{
    self as store, Alert, Incident, IncidentFilter, LogEntry, NewIncident,
};

/// The incident, if the caller may see it (404 otherwise).
pub async fn visible_incident(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<Incident> {
    let incident = store::incident_by_id(platform.db.pool(), id)
        .await?
        .ok_or(AppError::NotFound("incident"))?;
    authz::require_team_read(platform, principal, incident.team_id)
        .await
        .map_err(|_| AppError::NotFound("incident"))?;
    Ok(incident)
}

/// Filters as a client sends them (validated here).
#[derive(Debug, Default)]
pub struct ListQuery<'a> {
    pub status: Option<&'a str>,
    pub service_id: Option<i64>,
    pub team_id: Option<i64>,
    pub urgency: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    /// `newest` (default), `oldest` or `most_alerts`.
    pub sort: Option<&'a str>,
    /// `me`, `nobody` or a user id.
    pub owner: Option<&'a str>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

pub async fn list(
    platform: &Platform,
    principal: &Principal,
    q: ListQuery<'_>,
) -> AppResult<(Vec<Incident>, Option<i64>)> {
    let mut v = Validator::new();
    let mut statuses = Vec::new();
    if let Some(raw) = q.status {
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "open" => statuses.extend([IncidentStatus::Triggered, IncidentStatus::Acknowledged]),
                other => {
                    if let Some(s) = v.check("status", IncidentStatus::parse(other).map_err(|_| "must be a comma-separated list of `open`, `triggered`, `acknowledged`, `resolved`".to_string())) {
                        statuses.push(s);
                    }
                }
            }
        }
    }
    let urgency = q
        .urgency
        .and_then(|u| v.check("urgency", Urgency::parse(u)));
    let since = q
        .since
        .and_then(|s| v.check("since", Timestamp::parse_rfc3339(s)));
    let until = q
        .until
        .and_then(|s| v.check("until", Timestamp::parse_rfc3339(s)));
    let sort = q
        .sort
        .and_then(|s| v.check("sort", IncidentSort::parse(s)))
        .unwrap_or_default();
    let owner = q
        .owner
        .and_then(|o| v.check("owner", OwnerFilter::parse(o, principal.user.id)));
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        v.add("limit", "must be between 1 and 500");
    }
    v.finish().map_err(AppError::Validation)?;
    let visible_teams = match authz::team_scope(platform, principal).await? {
        TeamScope::All => None,
        TeamScope::Only(ids) => Some(ids),
    };
    let filter = IncidentFilter {
        statuses,
        service_id: q.service_id,
        team_id: q.team_id,
        urgency,
        since,
        until,
        visible_teams,
        sort,
        owner,
        before_id: q.before,
        limit,
    };
    let incidents = store::list_incidents(platform.db.pool(), &filter).await?;
    let next = (incidents.len() as i64 == limit)
        .then(|| incidents.last().map(|i| i.id))
        .flatten();
    Ok((incidents, next))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Assignee {
    pub user_id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: Incident,
    pub assignees: Vec<Assignee>,
    /// Newest first, at most 200.
    pub alerts: Vec<Alert>,
    /// Oldest first.
    pub timeline: Vec<LogEntry>,
    /// Every message sent (or held, skipped, failed) about the incident, oldest first.
    pub notifications: Vec<crate::store::notify::Notification>,
}

pub async fn detail(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<IncidentDetail> {
    let incident = visible_incident(platform, principal, id).await?;
    let pool = platform.db.pool();
    let assignees = store::assignees(pool, id)
        .await?
        .into_iter()
        .map(|(user_id, name, email)| Assignee {
            user_id,
            name,
            email,
        })
        .collect();
    let alerts = store::list_alerts(pool, id, 200).await?;
    let timeline = store::timeline(pool, id).await?;
    let notifications = crate::notify::of_incident(platform, id).await?;
    Ok(IncidentDetail {
        incident,
        assignees,
        alerts,
        timeline,
        notifications,
    })
}

async fn announce(platform: &Platform, topic: &str, incident: &Incident) {
    platform
        .bus
        .publish(Event::new(topic, Audience::Teams(vec![incident.team_id]), platform.now(), json!({"incident_id": incident.id, "number": incident.number, "status": incident.status})))
        .await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Acknowledge,
    Resolve,
}

/// Acknowledges or resolves. Repeating a transition that already happened is not an error.
pub async fn transition(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    to: Transition,
    meta: &ClientMeta,
) -> AppResult<Incident> {
    let incident = visible_incident(platform, principal, id).await?;
    let actor = Actor::user(principal, meta);
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let (changed, kind, verb) = match to {
        Transition::Acknowledge if incident.status == IncidentStatus::Resolved => {
            return Err(AppError::Conflict(
                "the incident is resolved; it cannot be acknowledged".into(),
            ));
        }
        Transition::Acknowledge => (
            store::acknowledge(&mut tx, id, Some(principal.user.id), now).await?,
            "acknowledged",
            "Acknowledged",
        ),
        Transition::Resolve => (
            store::resolve(&mut tx, id, Some(principal.user.id), "user", now).await?,
            "resolved",
            "Resolved",
        ),
    };
    // Whoever acknowledges an incident nobody owns takes it.
    let mut message = format!("{verb} by {}", principal.user.name);
    if changed && to == Transition::Acknowledge && store::assignees(&mut *tx, id).await?.is_empty()
    {
        store::set_assignees(&mut tx, id, &[principal.user.id], now).await?;
        message.push_str(", who now owns it");
    }
    if changed {
        store::log(
            &mut *tx,
            id,
            now,
            kind,
            (Some(principal.user.id), &principal.user.email),
            &message,
            &json!({}),
        )
        .await?;
        audit::record(
            &mut *tx,
            now,
            &actor,
            &format!("incident.{kind}"),
            ("incident", &id.to_string()),
            json!({"number": incident.number}),
        )
        .await?;
    }
    tx.commit().await?;
    let incident = store::incident_by_id(platform.db.pool(), id)
        .await?
        .ok_or(AppError::NotFound("incident"))?;
    if changed {
        announce(platform, &format!("incident.{kind}"), &incident).await;
    }
    Ok(incident)
}

pub async fn add_note(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    text: &str,
    meta: &ClientMeta,
) -> AppResult<LogEntry> {
    let incident = visible_incident(platform, principal, id).await?;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 10_000 {
        return Err(AppError::field("text", "must be 1 to 10000 characters"));
    }
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::log(
        &mut *tx,
        id,
        now,
        "note",
        (Some(principal.user.id), &principal.user.email),
        text,
        &json!({}),
    )
    .await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "incident.note_added",
        ("incident", &id.to_string()),
        json!({"number": incident.number}),
    )
    .await?;
    tx.commit().await?;
    announce(platform, "incident.note_added", &incident).await;
    let entry = store::timeline(platform.db.pool(), id)
        .await?
        .into_iter()
        .rev()
        .find(|e| e.kind == "note");
    entry.ok_or_else(|| AppError::Internal(anyhow::anyhow!("note vanished")))
}

/// Replaces the assignees; each must be able to see the incident (in its team, or an admin).
pub async fn reassign(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    user_ids: &[i64],
    meta: &ClientMeta,
) -> AppResult<IncidentDetail> {
    let incident = visible_incident(platform, principal, id).await?;
    if user_ids.len() > 20 {
        return Err(AppError::field("user_ids", "at most 20 assignees"));
    }
    let mut names = Vec::new();
    for &user_id in user_ids {
        let user = keel_platform::store::accounts::user_by_id(platform.db.pool(), user_id).await?;
        let allowed = match &user {
            Some(u) if u.disabled_at.is_none() => {
                u.is_admin()
                    || keel_platform::store::teams::member_role(
                        platform.db.pool(),
                        incident.team_id,
                        user_id,
                    )
                    .await?
                    .is_some()
            }
            _ => false,
        };
        if !allowed {
            return Err(AppError::field(
                "user_ids",
                format!("user {user_id} is not an active member of the service's team"),
            ));
        }
        names.push(user.map(|u| u.name).unwrap_or_default());
    }
    let mut ids = user_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let now = platform.now();
    let before: Vec<i64> = store::assignees(platform.db.pool(), id)
        .await?
        .into_iter()
        .map(|a| a.0)
        .collect();
    let mut tx = platform.db.begin().await?;
    store::set_assignees(&mut tx, id, &ids, now).await?;
    if incident.status == IncidentStatus::Triggered {
        let new: Vec<crate::paging::Recipient> = ids
            .iter()
            .copied()
            .filter(|u| !before.contains(u))
            .map(crate::paging::Recipient::person)
            .collect();
        crate::paging::queue_notifications(
            &mut tx,
            platform.db.dialect(),
            &[id],
            &crate::paging::Paging {
                recipients: &new,
                urgency: incident.urgency.as_str(),
                reason: "reassigned",
                escalation_step: None,
            },
            now,
        )
        .await?;
    }
    let message = if names.is_empty() {
        "Unassigned".to_string()
    } else {
        format!("Reassigned to {}", names.join(", "))
    };
    store::log(
        &mut *tx,
        id,
        now,
        "reassigned",
        (Some(principal.user.id), &principal.user.email),
        &message,
        &json!({"user_ids": ids}),
    )
    .await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "incident.reassigned",
        ("incident", &id.to_string()),
        json!({"user_ids": ids}),
    )
    .await?;
    tx.commit().await?;
    platform.job_wake.notify_one();
    announce(platform, "incident.reassigned", &incident).await;
    detail(platform, principal, id).await
}

/// Opens an incident by hand on a service the caller can see.
pub async fn create(
    platform: &Platform,
    principal: &Principal,
    service_id: i64,
    title: &str,
    urgency: Option<&str>,
    details: Option<&str>,
    meta: &ClientMeta,
) -> AppResult<Incident> {
    let service = crate::catalog::visible_service(platform, principal, service_id)
        .await
        .map_err(|_| AppError::field("service_id", "no such service"))?;
    let mut v = Validator::new();
    let title = title.trim();
    if title.is_empty() || title.chars().count() > crate::domain::MAX_SUMMARY_CHARS {
        v.add("title", "must be 1 to 1024 characters");
    }
    let urgency = match urgency {
        Some(u) => v.check("urgency", Urgency::parse(u)),
        None => Some(service.urgency_rule.urgency(Severity::Error)),
    };
    v.finish().map_err(AppError::Validation)?;
    let now = platform.now();
    let dedup_key = format!("manual:{}", keel_platform::crypto::random_token(16));
    let mut tx = platform.db.begin().await?;
    let number = store::next_incident_number(&mut *tx).await?;
    let id = store::insert_incident(
        &mut *tx,
        &NewIncident {
            number,
            service_id,
            title,
            urgency: urgency.expect("validated"),
            dedup_key: &dedup_key,
            now,
        },
    )
    .await?;
    store::log(
        &mut *tx,
        id,
        now,
        "triggered",
        (Some(principal.user.id), &principal.user.email),
        &format!("Opened by {}", principal.user.name),
        &json!({"details": details}),
    )
    .await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "incident.created",
        ("incident", &id.to_string()),
        json!({"number": number, "service_id": service_id}),
    )
    .await?;
    tx.commit().await?;
    let incident = store::incident_by_id(platform.db.pool(), id)
        .await?
        .ok_or(AppError::NotFound("incident"))?;
    announce(platform, "incident.triggered", &incident).await;
    Ok(incident)
}

/// Result of a bulk action, per incident.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkOutcome {
    pub id: i64,
    /// `ok`, `not_found` or `conflict`.
    pub result: String,
}

/// Who owns each of the listed incidents (already visible to the caller), by incident id.
pub async fn assignees_of(
    platform: &Platform,
    incidents: &[Incident],
) -> AppResult<std::collections::HashMap<i64, Vec<String>>> {
    let ids: Vec<i64> = incidents.iter().map(|i| i.id).collect();
    let mut owners: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for (id, name) in store::assignee_names(platform.db.pool(), &ids).await? {
        owners.entry(id).or_default().push(name);
    }
    Ok(owners)
}

pub async fn bulk(
    platform: &Platform,
    principal: &Principal,
    ids: &[i64],
    to: Transition,
    meta: &ClientMeta,
) -> AppResult<Vec<BulkOutcome>> {
    if ids.is_empty() || ids.len() > 500 {
        return Err(AppError::field("ids", "give 1 to 500 incident ids"));
    }
    let mut outcomes = Vec::with_capacity(ids.len());
    for &id in ids {
        let result = match transition(platform, principal, id, to, meta).await {
            Ok(_) => "ok",
            Err(AppError::NotFound(_)) => "not_found",
            Err(AppError::Conflict(_)) => "conflict",
            Err(other) => return Err(other),
        };
        outcomes.push(BulkOutcome {
            id,
            result: result.into(),
        });
    }
    Ok(outcomes)
}

/// "Escalate now": the next level of the policy is notified at once.
pub async fn escalate(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<IncidentDetail> {
    let incident = visible_incident(platform, principal, id).await?;
    if incident.status != IncidentStatus::Triggered {
        return Err(AppError::Conflict(
            "only a triggered incident can be escalated".into(),
        ));
    }
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if crate::store::escalation::schedule_step(&mut *tx, id, false, now).await? {
        store::log(
            &mut *tx,
            id,
            now,
            "escalate_requested",
            (Some(principal.user.id), &principal.user.email),
            &format!("{} escalated to the next level", principal.user.name),
            &json!({}),
        )
        .await?;
        audit::record(
            &mut *tx,
            now,
            &Actor::user(principal, meta),
            "incident.escalated",
            ("incident", &id.to_string()),
            json!({"number": incident.number}),
        )
        .await?;
    }
    tx.commit().await?;
    // Take the step now rather than at the next engine cycle.
    crate::escalation::run_due(platform).await?;
    detail(platform, principal, id).await
}
