//! Budget warnings by mail: at 80 % and when a budget is used up, once per budget and month,
//! to the user for their own budget and to every admin for the server's.

use keel_platform::Platform;
use keel_platform::domain::OrgRole;
use keel_platform::mail::{self, OutgoingMail};

use super::ledger::{ALL, dollars, resets_on, user_scope};
use crate::store;

const LEVELS: [i64; 2] = [100, 80];

/// Queues the warning `total` of `budget` calls for, unless it went out this month already;
/// `used_up` (a call was refused) counts as 100 % whatever is left. Runs after the call's own
/// transaction, holding no other connection.
pub(super) async fn warn(
    platform: &Platform,
    user_id: i64,
    server_wide: bool,
    month: &str,
    (total, budget): (i64, i64),
    used_up: bool,
) -> sqlx::Result<()> {
    let reached = LEVELS
        .into_iter()
        .find(|level| total.saturating_mul(100) >= budget.saturating_mul(*level));
    let Some(level) = (if used_up { Some(100) } else { reached }) else {
        return Ok(());
    };
    let scope = if server_wide {
        ALL.to_string()
    } else {
        user_scope(user_id)
    };
    // Claimed on its own: every call past 80 % gets here, and only the first goes further. A
    // crash before the mail is queued loses one warning, never sends two.
    if !store::claim_ai_alert(platform.db.pool(), &scope, month, level).await? {
        return Ok(());
    }
    let people = keel_platform::accounts::directory(platform)
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let mut tx = platform.db.begin().await?;
    let to: Vec<String> = people
        .into_iter()
        .filter(|u| match server_wide {
            true => u.role == OrgRole::Admin,
            false => u.id == user_id,
        })
        .map(|u| u.email)
        .collect();
    let now = platform.now();
    let (whose, subject_whose) = match server_wide {
        true => ("the server's AI budget", "The server's AI budget"),
        false => ("your AI budget", "Your AI budget"),
    };
    let state = match level {
        100 => "is used up".to_string(),
        _ => format!("is {level}% used"),
    };
    let page = platform
        .config
        .public_url
        .as_ref()
        .map(|u| format!("{}/crm/settings/ai", u.as_str().trim_end_matches('/')))
        .unwrap_or_else(|| "the AI page of MindfulCRM".into());
    let text = format!(
        "{subject_whose} for {month} {state}: {} committed of {}.\n\n\
         When it is used up, summaries stay as they are and no new AI calls are made until it \
         resets on {}.\n\nUsage and limits: {page}\n",
        dollars(total),
        dollars(budget),
        resets_on(now),
    );
    for address in to {
        let mail = OutgoingMail {
            to: address,
            subject: format!("MindfulCRM: {whose} {state}"),
            text: text.clone(),
            html: None,
            unsubscribe: None,
        };
        mail::queue(&mut *tx, &platform.secret, &mail, now).await?;
    }
    tx.commit().await
}
