//! One-click links.

use keel_platform::Platform;
use keel_platform::domain::Timestamp;

use super::*;

/// A signed, expiring link token for `action` (`acknowledge` or `resolve`) on an incident by
/// one recipient. Opening it shows a confirmation page; only the form post acts.
pub fn action_token(
    platform: &Platform,
    incident_id: i64,
    user_id: i64,
    action: &str,
    now: Timestamp,
) -> String {
    let expires = now.plus(ACTION_LINK_TTL).as_millis() / 1000;
    let body = format!("{incident_id}.{user_id}.{action}.{expires}");
    let signature = platform.secret.sign(ACTION_PURPOSE, body.as_bytes());
    format!("{body}.{}", hex::encode(&signature[..16]))
}

/// The incident, recipient and action a token stands for, if it is authentic and unexpired.
pub fn check_action_token(
    platform: &Platform,
    token: &str,
    now: Timestamp,
) -> Option<(i64, i64, String)> {
    let (body, signature) = token.rsplit_once('.')?;
    let signature = hex::decode(signature).ok()?;
    if signature.len() != 16
        || !platform
            .secret
            .verify_prefix(ACTION_PURPOSE, body.as_bytes(), &signature)
    {
        return None;
    }
    let mut parts = body.split('.');
    let incident = parts.next()?.parse().ok()?;
    let user = parts.next()?.parse().ok()?;
    let action = parts.next()?;
    let expires: i64 = parts.next()?.parse().ok()?;
    if !matches!(action, "acknowledge" | "resolve") || expires * 1000 < now.as_millis() {
        return None;
    }
    Some((incident, user, action.to_string()))
}
