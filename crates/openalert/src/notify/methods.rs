//! Contact methods and rules (the caller's own).

use std::time::Duration;

use keel_platform::audit::{self, Actor};
use keel_platform::domain::{Timestamp, Validator};
use keel_platform::identity::{ClientMeta, Principal};
use keel_platform::jobs;
use keel_platform::{AppError, AppResult, Platform, crypto};
use serde_json::json;

use crate::store::notify::{self as store, ContactMethod, NotificationRule};

use super::*;

pub(crate) fn validate_address(
    policy: &keel_platform::outbound::AddressPolicy,
    kind: &str,
    address: &str,
) -> Result<String, String> {
    let address = address.trim();
    match kind {
        "email" => keel_platform::domain::Email::parse(address).map(|e| e.as_str().to_string()),
        "sms" | "voice" => {
            let digits = address.strip_prefix('+').unwrap_or("");
            if (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
                Ok(address.to_string())
            } else {
                Err("must be a phone number in E.164 form, e.g. +14155550100".into())
            }
        }
        _ => {
            let url = url::Url::parse(address).map_err(|_| "must be a URL".to_string())?;
            if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
                return Err("must be an http:// or https:// URL".into());
            }
            policy.check_url(&url).map_err(|e| e.to_string())?;
            Ok(url.to_string())
        }
    }
}

pub async fn create_method(
    platform: &Platform,
    principal: &Principal,
    kind: &str,
    label: &str,
    address: &str,
    meta: &ClientMeta,
) -> AppResult<ContactMethod> {
    let mut v = Validator::new();
    if !KINDS.contains(&kind) {
        v.add("kind", format!("must be one of {}", KINDS.join(", ")));
    }
    if matches!(kind, "sms" | "voice") && platform.config.twilio.is_none() {
        v.add(
            "kind",
            "SMS and voice are not configured on this server (twilio_* settings)",
        );
    }
    let address = if KINDS.contains(&kind) {
        v.check(
            "address",
            validate_address(platform.outbound.policy(), kind, address),
        )
    } else {
        None
    };
    let label = label.trim();
    if label.chars().count() > 100 {
        v.add("label", "must be at most 100 characters");
    }
    v.finish().map_err(AppError::Validation)?;
    let address = address.expect("validated");
    let label = if label.is_empty() { kind } else { label };
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let method = store::insert_method(&mut *tx, principal.user.id, kind, label, &address, now)
        .await
        .map_err(|e| {
            if keel_platform::db::is_unique_violation(&e) {
                AppError::field("address", "you already have this contact method")
            } else {
                e.into()
            }
        })?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "contact_method.created",
        ("user", &principal.user.id.to_string()),
        json!({"kind": kind, "id": method.id}),
    )
    .await?;
    tx.commit().await?;
    send_code(platform, principal, method.id).await?;
    Ok(method)
}

async fn own_method(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<ContactMethod> {
    store::method_by_id(platform.db.pool(), id)
        .await?
        .filter(|m| m.user_id == principal.user.id)
        .ok_or(AppError::NotFound("contact method"))
}

/// Messages a person may trigger to their own methods (codes, tests): three a minute per
/// method and twenty an hour in all, so nobody can ring a stranger's phone in a loop.
async fn limit_direct(platform: &Platform, principal: &Principal, method_id: i64) -> AppResult<()> {
    use keel_platform::ratelimit::Limit;
    let per_method = Limit {
        max: 3,
        window: Duration::from_secs(60),
    };
    let per_user = Limit {
        max: 20,
        window: Duration::from_secs(3600),
    };
    platform
        .limiter
        .hit(&format!("oa-direct-method:{method_id}"), per_method)
        .await
        .map_err(AppError::RateLimited)?;
    platform
        .limiter
        .hit(&format!("oa-direct-user:{}", principal.user.id), per_user)
        .await
        .map_err(AppError::RateLimited)
}

/// Sends a fresh six-digit code through the method itself (valid 15 minutes).
pub async fn send_code(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    let method = own_method(platform, principal, id).await?;
    limit_direct(platform, principal, id).await?;
    let number = u32::from_le_bytes(crypto::random_bytes::<4>()) % 1_000_000;
    let code = format!("{number:06}");
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::set_verify_code(
        &mut *tx,
        id,
        &platform
            .secret
            .hash_token(CODE_PURPOSE, &format!("{id}:{code}")),
        now.plus(Duration::from_secs(900)),
    )
    .await?;
    let text = format!("Your keel verification code is {code}. It expires in 15 minutes.");
    queue_direct(
        &mut tx,
        &platform.secret,
        principal.user.id,
        &method,
        "verification",
        &text,
        now,
    )
    .await?;
    tx.commit().await?;
    platform.job_wake.notify_one();
    Ok(())
}

pub async fn verify(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    code: &str,
) -> AppResult<ContactMethod> {
    own_method(platform, principal, id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let (hash, expires, attempts) = store::take_verify_attempt(&mut *tx, id)
        .await?
        .ok_or(AppError::NotFound("contact method"))?;
    tx.commit().await?;
    let expected = platform
        .secret
        .hash_token(CODE_PURPOSE, &format!("{id}:{}", code.trim()));
    let valid = attempts <= 5
        && expires.is_some_and(|e| e > now.as_millis())
        && hash.as_deref() == Some(expected.as_str());
    if !valid {
        return Err(AppError::field(
            "code",
            if attempts > 5 {
                "too many attempts: send a new code"
            } else {
                "is wrong or has expired"
            },
        ));
    }
    store::mark_verified(platform.db.pool(), id, now).await?;
    own_method(platform, principal, id).await
}

pub async fn delete_method(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if !store::delete_method(&mut tx, principal.user.id, id).await? {
        return Err(AppError::NotFound("contact method"));
    }
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "contact_method.deleted",
        ("user", &principal.user.id.to_string()),
        json!({"id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends a test message through a verified method now.
pub async fn send_test(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    let method = own_method(platform, principal, id).await?;
    if !method.verified {
        return Err(AppError::Conflict(
            "verify this contact method first".into(),
        ));
    }
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    queue_direct(
        &mut tx,
        &platform.secret,
        principal.user.id,
        &method,
        "test",
        "This is a test notification from keel OpenAlert. It works!",
        now,
    )
    .await?;
    tx.commit().await?;
    platform.job_wake.notify_one();
    Ok(())
}

/// A message not about an incident (verification code, test), delivered like any other.
async fn queue_direct(
    tx: &mut sqlx::AnyConnection,
    secret: &keel_platform::crypto::SecretKey,
    user_id: i64,
    method: &ContactMethod,
    reason: &str,
    text: &str,
    now: Timestamp,
) -> AppResult<()> {
    let id = store::insert_notification(
        &mut *tx,
        &store::NewNotification {
            incident_id: None,
            user_id,
            contact_method_id: Some(method.id),
            kind: &method.kind,
            address: &method.address,
            reason,
            escalation_step: None,
            schedule_id: None,
            due_at: now,
        },
        now,
    )
    .await?;
    // The text travels in the job, not the notification row (whose detail records outcomes),
    // sealed: it may be a verification code.
    jobs::enqueue(
        &mut *tx,
        &NotifyJob::with_sealed_text(id, secret.seal(DIRECT_TEXT_PURPOSE, text.as_bytes())),
        now,
        3,
        now,
    )
    .await?;
    Ok(())
}

pub async fn create_rule(
    platform: &Platform,
    principal: &Principal,
    contact_method_id: i64,
    urgency: &str,
    delay_minutes: i64,
) -> AppResult<NotificationRule> {
    let mut v = Validator::new();
    if !matches!(urgency, "high" | "low") {
        v.add("urgency", "must be `high` or `low`");
    }
    if !(0..=1440).contains(&delay_minutes) {
        v.add("delay_minutes", "must be between 0 and 1440");
    }
    if own_method(platform, principal, contact_method_id)
        .await
        .is_err()
    {
        v.add("contact_method_id", "no such contact method of yours");
    }
    v.finish().map_err(AppError::Validation)?;
    store::insert_rule(
        platform.db.pool(),
        principal.user.id,
        contact_method_id,
        urgency,
        delay_minutes,
        platform.now(),
    )
    .await
    .map_err(|e| {
        if keel_platform::db::is_unique_violation(&e) {
            AppError::field("delay_minutes", "this rule already exists")
        } else {
            e.into()
        }
    })
}

/// The caller's own contact methods.
pub async fn my_methods(
    platform: &Platform,
    principal: &Principal,
) -> AppResult<Vec<ContactMethod>> {
    Ok(store::methods_of(platform.db.pool(), principal.user.id).await?)
}

/// The caller's own notification rules.
pub async fn my_rules(
    platform: &Platform,
    principal: &Principal,
) -> AppResult<Vec<NotificationRule>> {
    Ok(store::rules_of(platform.db.pool(), principal.user.id).await?)
}

/// Deletes one of the caller's rules; another person's is not found.
pub async fn delete_rule(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    if store::delete_rule(platform.db.pool(), principal.user.id, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound("notification rule"))
    }
}
