//! Services, their integrations and maintenance windows: validation, authorization (a service
//! belongs to a team; members of that team and admins see it), audit.

use keel_platform::audit::{self, Actor};
use keel_platform::authz;
use keel_platform::domain::{Timestamp, Validator};
use keel_platform::identity::{ClientMeta, Principal};
use keel_platform::{AppError, AppResult, Platform, crypto};
use serde_json::json;

use crate::domain::{IntegrationKind, UrgencyRule};
use crate::store::services::{
    self as store, Integration, IntegrationChanges, MaintenanceWindow, NewIntegration, Service,
    ServiceFields,
};

pub const KEY_PURPOSE: &str = "integration-key";
pub const KEY_CHARS: usize = 32;

/// The service, if the caller may see it (404 otherwise).
pub async fn visible_service(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<Service> {
    let service = store::service_by_id(platform.db.pool(), id)
        .await?
        .ok_or(AppError::NotFound("service"))?;
    authz::require_team_read(platform, principal, service.team_id)
        .await
        .map_err(|_| AppError::NotFound("service"))?;
    Ok(service)
}

/// The service, if the caller may change it: a manager of its team, or an admin.
async fn managed_service(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<Service> {
    let service = visible_service(platform, principal, id).await?;
    authz::require_team_manage(platform, principal, service.team_id).await?;
    Ok(service)
}

pub async fn list_services(platform: &Platform, principal: &Principal) -> AppResult<Vec<Service>> {
    let scope = authz::team_scope(platform, principal).await?;
    let teams = scope.teams();
    Ok(store::list_services(platform.db.pool(), teams).await?)
}

/// Raw input for creating or editing a service.
pub struct ServiceInput<'a> {
    pub team_id: Option<i64>,
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub escalation_policy_id: Option<Option<i64>>,
    pub urgency_rule: Option<&'a str>,
    pub auto_resolve_minutes: Option<Option<i64>>,
    pub ack_timeout_minutes: Option<Option<i64>>,
}

fn validate_service<'a>(
    input: &'a ServiceInput<'a>,
    current: Option<&'a Service>,
) -> AppResult<ServiceFields<'a>> {
    let mut v = Validator::new();
    let team_id = input.team_id.or(current.map(|s| s.team_id));
    if team_id.is_none() {
        v.add("team_id", "is required");
    }
    let name = input
        .name
        .map(str::trim)
        .or(current.map(|s| s.name.as_str()))
        .unwrap_or_default();
    v.check("name", keel_platform::domain::bounded_text(name, 100));
    let description = input
        .description
        .map(str::trim)
        .or(current.map(|s| s.description.as_str()))
        .unwrap_or_default();
    if description.chars().count() > 2000 {
        v.add("description", "must be at most 2000 characters");
    }
    let urgency_rule = match input.urgency_rule {
        Some(raw) => v.check("urgency_rule", UrgencyRule::parse(raw)),
        None => Some(current.map(|s| s.urgency_rule).unwrap_or(UrgencyRule::High)),
    };
    let minutes = |field: &str, value: Option<Option<i64>>, old: Option<i64>, v: &mut Validator| {
        match value {
            Some(Some(m)) if !(1..=10_080).contains(&m) => {
                v.add(
                    field,
                    "must be between 1 and 10080 minutes (a week), or null for never",
                );
                None
            }
            Some(m) => m,
            None => old,
        }
    };
    let auto_resolve_minutes = minutes(
        "auto_resolve_minutes",
        input.auto_resolve_minutes,
        current.and_then(|s| s.auto_resolve_minutes),
        &mut v,
    );
    let ack_timeout_minutes = minutes(
        "ack_timeout_minutes",
        input.ack_timeout_minutes,
        current.and_then(|s| s.ack_timeout_minutes),
        &mut v,
    );
    v.finish().map_err(AppError::Validation)?;
    Ok(ServiceFields {
        team_id: team_id.expect("validated"),
        name,
        description,
        escalation_policy_id: input
            .escalation_policy_id
            .unwrap_or(current.and_then(|s| s.escalation_policy_id)),
        urgency_rule: urgency_rule.expect("validated"),
        auto_resolve_minutes,
        ack_timeout_minutes,
    })
}

/// A service may only use an escalation policy of its own team (so one team cannot page
/// another's people).
async fn check_policy_team(platform: &Platform, fields: &ServiceFields<'_>) -> AppResult<()> {
    let Some(policy_id) = fields.escalation_policy_id else {
        return Ok(());
    };
    let team: Option<i64> =
        sqlx::query_scalar("SELECT team_id FROM oa_escalation_policies WHERE id = $1")
            .bind(policy_id)
            .fetch_optional(platform.db.pool())
            .await?;
    if team == Some(fields.team_id) {
        Ok(())
    } else {
        Err(AppError::field(
            "escalation_policy_id",
            "no such escalation policy in the service's team",
        ))
    }
}

fn service_conflict(err: sqlx::Error) -> AppError {
    if keel_platform::db::is_unique_violation(&err) {
        AppError::field("name", "the team already has a service with this name")
    } else if keel_platform::db::is_foreign_key_violation(&err) {
        AppError::field("escalation_policy_id", "no such escalation policy")
    } else {
        err.into()
    }
}

pub async fn create_service(
    platform: &Platform,
    principal: &Principal,
    input: ServiceInput<'_>,
    meta: &ClientMeta,
) -> AppResult<Service> {
    let fields = validate_service(&input, None)?;
    check_policy_team(platform, &fields).await?;
    authz::require_team_manage(platform, principal, fields.team_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => {
                AppError::field("team_id", "no such team, or you are not in it")
            }
            other => other,
        })?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let service = store::insert_service(&mut *tx, &fields, now)
        .await
        .map_err(service_conflict)?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "service.created",
        ("service", &service.id.to_string()),
        json!({"name": service.name, "team_id": service.team_id}),
    )
    .await?;
    tx.commit().await?;
    crate::ingest::targets::forget_all();
    Ok(service)
}

pub async fn update_service(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    input: ServiceInput<'_>,
    meta: &ClientMeta,
) -> AppResult<Service> {
    let current = managed_service(platform, principal, id).await?;
    let fields = validate_service(&input, Some(&current))?;
    check_policy_team(platform, &fields).await?;
    if fields.team_id != current.team_id {
        authz::require_team_manage(platform, principal, fields.team_id)
            .await
            .map_err(|_| {
                AppError::field(
                    "team_id",
                    "you can only move a service to a team you manage",
                )
            })?;
    }
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let service = store::update_service(&mut *tx, id, &fields, now)
        .await
        .map_err(service_conflict)?
        .ok_or(AppError::NotFound("service"))?;
    audit::record(&mut *tx, now, &Actor::user(principal, meta), "service.updated", ("service", &id.to_string()), json!({"name": service.name, "team_id": service.team_id, "urgency_rule": service.urgency_rule})).await?;
    tx.commit().await?;
    crate::ingest::targets::forget_all();
    Ok(service)
}

pub async fn delete_service(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let service = managed_service(platform, principal, id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::delete_service(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "service.deleted",
        ("service", &id.to_string()),
        json!({"name": service.name}),
    )
    .await?;
    tx.commit().await?;
    crate::ingest::targets::forget_all();
    Ok(())
}

// ---- maintenance windows ----

pub async fn list_windows(
    platform: &Platform,
    principal: &Principal,
    service_id: i64,
) -> AppResult<Vec<MaintenanceWindow>> {
    visible_service(platform, principal, service_id).await?;
    Ok(store::list_windows(platform.db.pool(), service_id, platform.now()).await?)
}

pub async fn create_window(
    platform: &Platform,
    principal: &Principal,
    service_id: i64,
    starts_at: &str,
    ends_at: &str,
    description: &str,
    meta: &ClientMeta,
) -> AppResult<MaintenanceWindow> {
    managed_service(platform, principal, service_id).await?;
    let mut v = Validator::new();
    let starts = v.check("starts_at", Timestamp::parse_rfc3339(starts_at));
    let ends = v.check("ends_at", Timestamp::parse_rfc3339(ends_at));
    if let (Some(s), Some(e)) = (starts, ends)
        && e <= s
    {
        v.add("ends_at", "must be after starts_at");
    }
    if description.chars().count() > 500 {
        v.add("description", "must be at most 500 characters");
    }
    v.finish().map_err(AppError::Validation)?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let window = store::insert_window(
        &mut *tx,
        service_id,
        starts.unwrap(),
        ends.unwrap(),
        description.trim(),
        principal.user.id,
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "service.maintenance_scheduled",
        ("service", &service_id.to_string()),
        json!({"starts_at": window.starts_at, "ends_at": window.ends_at}),
    )
    .await?;
    tx.commit().await?;
    crate::ingest::targets::forget_all();
    Ok(window)
}

pub async fn delete_window(
    platform: &Platform,
    principal: &Principal,
    service_id: i64,
    window_id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    managed_service(platform, principal, service_id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if !store::delete_window(&mut *tx, service_id, window_id).await? {
        return Err(AppError::NotFound("maintenance window"));
    }
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "service.maintenance_cancelled",
        ("service", &service_id.to_string()),
        json!({"window_id": window_id}),
    )
    .await?;
    tx.commit().await?;
    crate::ingest::targets::forget_all();
    Ok(())
}

// ---- integrations ----

/// A new or rotated integration and its key, shown this once.
pub struct IssuedKey {
    pub integration: Integration,
    pub key: String,
    pub ingest_url: String,
}

fn issue_key(platform: &Platform) -> (String, String, String) {
    let key = crypto::random_token(KEY_CHARS);
    let hash = platform.secret.hash_token(KEY_PURPOSE, &key);
    let prefix = key[..6].to_string();
    (key, hash, prefix)
}

pub fn ingest_url(platform: &Platform, kind: IntegrationKind, key: &str) -> String {
    format!("{}{}", platform.config.base_url(), kind.ingest_path(key))
}

pub async fn list_integrations(
    platform: &Platform,
    principal: &Principal,
    service_id: i64,
) -> AppResult<Vec<Integration>> {
    visible_service(platform, principal, service_id).await?;
    Ok(store::list_integrations(platform.db.pool(), service_id).await?)
}

/// Raw input for a new integration.
pub struct IntegrationInput<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub heartbeat_seconds: Option<i64>,
    pub rate_limit_per_minute: Option<i64>,
}

pub async fn create_integration(
    platform: &Platform,
    principal: &Principal,
    service_id: i64,
    input: IntegrationInput<'_>,
    meta: &ClientMeta,
) -> AppResult<IssuedKey> {
    let IntegrationInput {
        kind,
        name,
        heartbeat_seconds,
        rate_limit_per_minute,
    } = input;
    managed_service(platform, principal, service_id).await?;
    let mut v = Validator::new();
    let kind = v.check("type", IntegrationKind::parse(kind));
    let name = name.trim();
    v.check("name", keel_platform::domain::bounded_text(name, 100));
    match (kind, heartbeat_seconds) {
        (Some(IntegrationKind::Heartbeat), None) => v.add(
            "heartbeat_seconds",
            "is required for heartbeat integrations",
        ),
        (Some(IntegrationKind::Heartbeat), Some(s)) if !(30..=7 * 86_400).contains(&s) => {
            v.add("heartbeat_seconds", "must be between 30 and 604800")
        }
        (Some(k), Some(_)) if k != IntegrationKind::Heartbeat => v.add(
            "heartbeat_seconds",
            "only applies to heartbeat integrations",
        ),
        _ => {}
    }
    if rate_limit_per_minute.is_some_and(|r| !(1..=1_000_000).contains(&r)) {
        v.add("rate_limit_per_minute", "must be between 1 and 1000000");
    }
    v.finish().map_err(AppError::Validation)?;
    let kind = kind.expect("validated");
    let (key, hash, prefix) = issue_key(platform);
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let integration = store::insert_integration(
        &mut *tx,
        &NewIntegration {
            service_id,
            kind,
            name,
            key_hash: &hash,
            key_prefix: &prefix,
            rate_limit_per_minute,
            heartbeat_seconds,
        },
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "integration.created",
        ("integration", &integration.id.to_string()),
        json!({"service_id": service_id, "type": kind.as_str(), "name": name}),
    )
    .await?;
    tx.commit().await?;
    crate::ingest::targets::forget_all();
    let ingest_url = ingest_url(platform, kind, &key);
    Ok(IssuedKey {
        integration,
        key,
        ingest_url,
    })
}

async fn managed_integration(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<Integration> {
    let integration = store::integration_by_id(platform.db.pool(), id)
        .await?
        .ok_or(AppError::NotFound("integration"))?;
    managed_service(platform, principal, integration.service_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => AppError::NotFound("integration"),
            other => other,
        })?;
    Ok(integration)
}

/// Replaces the key; the old one stops working at once.
pub async fn rotate_key(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<IssuedKey> {
    let current = managed_integration(platform, principal, id).await?;
    let (key, hash, prefix) = issue_key(platform);
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let integration = store::set_integration_key(&mut *tx, id, &hash, &prefix, now)
        .await?
        .ok_or(AppError::NotFound("integration"))?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "integration.key_rotated",
        ("integration", &id.to_string()),
        json!({"service_id": current.service_id}),
    )
    .await?;
    tx.commit().await?;
    crate::ingest::targets::forget_all();
    let ingest_url = ingest_url(platform, integration.kind, &key);
    Ok(IssuedKey {
        integration,
        key,
        ingest_url,
    })
}

pub struct IntegrationUpdate<'a> {
    pub name: Option<&'a str>,
    pub enabled: Option<bool>,
    pub rate_limit_per_minute: Option<Option<i64>>,
    pub heartbeat_seconds: Option<i64>,
}

pub async fn update_integration(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    input: IntegrationUpdate<'_>,
    meta: &ClientMeta,
) -> AppResult<Integration> {
    let current = managed_integration(platform, principal, id).await?;
    let mut v = Validator::new();
    if let Some(name) = input.name {
        v.check("name", keel_platform::domain::bounded_text(name, 100));
    }
    if input
        .rate_limit_per_minute
        .flatten()
        .is_some_and(|r| !(1..=1_000_000).contains(&r))
    {
        v.add("rate_limit_per_minute", "must be between 1 and 1000000");
    }
    if let Some(s) = input.heartbeat_seconds {
        if current.kind != IntegrationKind::Heartbeat {
            v.add(
                "heartbeat_seconds",
                "only applies to heartbeat integrations",
            );
        } else if !(30..=7 * 86_400).contains(&s) {
            v.add("heartbeat_seconds", "must be between 30 and 604800");
        }
    }
    v.finish().map_err(AppError::Validation)?;
    let now = platform.now();
    let changes = IntegrationChanges {
        name: input.name.map(str::trim),
        disabled_at: input.enabled.map(|on| {
            if on {
                None
            } else {
                Some(current.disabled_at.unwrap_or(now))
            }
        }),
        rate_limit_per_minute: input.rate_limit_per_minute,
        heartbeat_seconds: input.heartbeat_seconds,
    };
    let mut tx = platform.db.begin().await?;
    let integration = store::update_integration(&mut *tx, id, &changes, now)
        .await?
        .ok_or(AppError::NotFound("integration"))?;
    audit::record(&mut *tx, now, &Actor::user(principal, meta), "integration.updated", ("integration", &id.to_string()), json!({"enabled": input.enabled, "name": input.name, "rate_limit_per_minute": input.rate_limit_per_minute})).await?;
    tx.commit().await?;
    crate::ingest::targets::forget_all();
    Ok(integration)
}

pub async fn delete_integration(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let current = managed_integration(platform, principal, id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::delete_integration(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "integration.deleted",
        ("integration", &id.to_string()),
        json!({"service_id": current.service_id, "name": current.name}),
    )
    .await?;
    tx.commit().await?;
    crate::ingest::targets::forget_all();
    Ok(())
}
