//! Who hears about a status page: e-mail subscribers (double opt-in, one-click unsubscribe,
//! rate limited so the form cannot mail-bomb a third party) and webhooks the team adds.
//!
//! Links carry `{id}.{signature}`: the signature covers the subscriber's id and creation time,
//! so a link stops working when its subscription is gone, and no token sits in the database.

use std::time::Duration;

use keel_platform::audit::Actor;
use keel_platform::domain::{Email, Validator};
use keel_platform::identity::{ClientMeta, Principal};
use keel_platform::mail::OutgoingMail;
use keel_platform::ratelimit::Limit;
use keel_platform::{AppError, AppResult, Platform, authz};
use serde_json::json;

use super::{commit_change, public, visible_page};
use crate::store::status::{self as store, StatusPage};
use crate::store::status_subscribers::{self as subscribers, Subscriber};

const LINK_PURPOSE: &str = "status-subscription";
/// One confirmation (or "manage your subscription") mail per address per hour at most.
const ASK_EVERY: Duration = Duration::from_secs(3600);

/// The token of a subscriber's confirm / manage / unsubscribe links.
pub fn link_token(platform: &Platform, s: &Subscriber) -> String {
    let body = format!("{}.{}", s.id, s.created_at.as_millis());
    let signature = platform.secret.sign(LINK_PURPOSE, body.as_bytes());
    format!("{}.{}", s.id, hex::encode(&signature[..16]))
}

/// The subscriber a link token stands for, on the page it belongs to.
pub async fn by_token(
    platform: &Platform,
    page: &StatusPage,
    token: &str,
) -> AppResult<Subscriber> {
    let gone = || AppError::NotFound("subscription");
    let (id, signature) = token.split_once('.').ok_or_else(gone)?;
    let id: i64 = id.parse().map_err(|_| gone())?;
    let subscriber = subscribers::by_id(platform.db.pool(), id)
        .await?
        .filter(|s| s.page_id == page.id)
        .ok_or_else(gone)?;
    let given = hex::decode(signature).map_err(|_| gone())?;
    let body = format!("{}.{}", subscriber.id, subscriber.created_at.as_millis());
    if given.len() != 16
        || !platform
            .secret
            .verify_prefix(LINK_PURPOSE, body.as_bytes(), &given)
    {
        return Err(gone());
    }
    Ok(subscriber)
}

/// The page's address for a subscriber's links.
pub fn manage_url(platform: &Platform, page: &StatusPage, s: &Subscriber) -> String {
    format!(
        "{}/subscription/{}",
        public::page_url(platform, page),
        link_token(platform, s)
    )
}

/// Checks component ids against the page; empty means all.
async fn checked_components(
    platform: &Platform,
    page_id: i64,
    v: &mut Validator,
    ids: &[i64],
) -> AppResult<Vec<i64>> {
    let known = store::components(platform.db.pool(), page_id).await?;
    let mut out: Vec<i64> = Vec::new();
    for id in ids {
        if known.iter().any(|c| c.id == *id) {
            if !out.contains(id) {
                out.push(*id);
            }
        } else {
            v.add("components", format!("no component {id} on this page"));
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// A visitor asks to be told by e-mail. The answer is the same whether or not the address is
/// known; what is mailed depends: a confirmation link for a new or unconfirmed address, a
/// link to manage the subscription for a confirmed one — each at most hourly per address.
pub async fn subscribe_email(
    platform: &Platform,
    page: &StatusPage,
    address: &str,
    components: &[i64],
    client_ip: Option<std::net::IpAddr>,
) -> AppResult<()> {
    let mut v = Validator::new();
    let email = v.check("email", Email::parse(address));
    let components = checked_components(platform, page.id, &mut v, components).await?;
    v.finish().map_err(AppError::Validation)?;
    let email = email.expect("validated");
    let ip = client_ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    platform
        .limiter
        .hit(&format!("status-subscribe-ip:{ip}"), Limit::per_minute(5))
        .await
        .map_err(AppError::RateLimited)?;
    platform
        .limiter
        .hit(
            &format!("status-subscribe-page:{}", page.id),
            Limit::per_minute(60),
        )
        .await
        .map_err(AppError::RateLimited)?;
    let now = platform.now();
    let not_before = now.minus(ASK_EVERY).as_millis();
    let mut tx = platform.db.begin().await?;
    let existing = subscribers::find(&mut *tx, page.id, "email", email.as_str()).await?;
    // A new row counts as asked now; a known one is asked again at most hourly.
    let (subscriber, ask) = match existing {
        Some((s, _)) => {
            let ask = subscribers::claim_ask(&mut *tx, s.id, not_before, now).await?;
            (s, ask)
        }
        None => {
            let s = subscribers::upsert(
                &mut *tx,
                page.id,
                "email",
                email.as_str(),
                &components,
                false,
                now,
            )
            .await?;
            (s, true)
        }
    };
    if ask {
        let mail = if subscriber.confirmed_at.is_some() {
            manage_mail(platform, page, &subscriber)
        } else {
            confirm_mail(platform, page, &subscriber)
        };
        keel_platform::mail::queue(&mut *tx, &platform.secret, &mail, now).await?;
    }
    tx.commit().await?;
    platform.job_wake.notify_one();
    Ok(())
}

fn confirm_mail(platform: &Platform, page: &StatusPage, s: &Subscriber) -> OutgoingMail {
    let link = manage_url(platform, page, s);
    OutgoingMail {
        to: s.address.clone(),
        subject: format!("Confirm your subscription to {} status", page.name),
        text: format!(
            "Someone, hopefully you, asked to be told by e-mail about incidents and maintenance \
             on the {name} status page.\n\nTo confirm, open this link and press Confirm:\n{link}\n\n\
             If it was not you, ignore this message: nothing will be sent.\n",
            name = page.name,
        ),
        html: None,
        unsubscribe: None,
    }
}

fn manage_mail(platform: &Platform, page: &StatusPage, s: &Subscriber) -> OutgoingMail {
    let link = manage_url(platform, page, s);
    OutgoingMail {
        to: s.address.clone(),
        subject: format!("Your subscription to {} status", page.name),
        text: format!(
            "You are already subscribed to the {name} status page.\n\nChoose components or \
             unsubscribe here:\n{link}\n",
            name = page.name,
        ),
        html: None,
        unsubscribe: Some(format!("{link}/unsubscribe")),
    }
}

/// Confirms the subscription a link stands for.
pub async fn confirm(platform: &Platform, page: &StatusPage, token: &str) -> AppResult<Subscriber> {
    let s = by_token(platform, page, token).await?;
    subscribers::confirm(platform.db.pool(), s.id, platform.now()).await?;
    subscribers::by_id(platform.db.pool(), s.id)
        .await?
        .ok_or(AppError::NotFound("subscription"))
}

/// Ends the subscription a link stands for (again: fine).
pub async fn unsubscribe(platform: &Platform, page: &StatusPage, token: &str) -> AppResult<()> {
    match by_token(platform, page, token).await {
        Ok(s) => {
            subscribers::delete(platform.db.pool(), page.id, s.id).await?;
            Ok(())
        }
        Err(AppError::NotFound(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// Changes the components a subscriber hears about (from its manage link).
pub async fn choose_components(
    platform: &Platform,
    page: &StatusPage,
    token: &str,
    components: &[i64],
) -> AppResult<Subscriber> {
    let s = by_token(platform, page, token).await?;
    let mut v = Validator::new();
    let components = checked_components(platform, page.id, &mut v, components).await?;
    v.finish().map_err(AppError::Validation)?;
    subscribers::set_components(platform.db.pool(), s.id, &components).await?;
    Ok(Subscriber { components, ..s })
}

/// The page's subscribers, for its team's managers (they are people's addresses).
pub async fn list(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
) -> AppResult<Vec<Subscriber>> {
    let page = visible_page(platform, principal, page_id).await?;
    authz::require_team_manage(platform, principal, page.team_id).await?;
    Ok(subscribers::of_page(platform.db.pool(), page_id, false).await?)
}

/// A subscriber added by the team, with the webhook's signing secret (shown once).
pub struct Added {
    pub subscriber: Subscriber,
    pub secret: Option<String>,
}

/// The salt of a webhook subscriber's signing secret.
pub fn webhook_salt(s: &Subscriber) -> String {
    format!("status-subscriber:{}:{}", s.id, s.created_at.as_millis())
}

/// The team adds a webhook (active at once) or an e-mail address (which still confirms).
pub async fn add(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    kind: &str,
    address: &str,
    components: &[i64],
    meta: &ClientMeta,
) -> AppResult<Added> {
    let page = visible_page(platform, principal, page_id).await?;
    authz::require_team_manage(platform, principal, page.team_id).await?;
    let mut v = Validator::new();
    let address = match kind {
        "email" | "webhook" => v.check(
            "address",
            crate::notify::validate_address(platform.outbound.policy(), kind, address),
        ),
        _ => {
            v.add("kind", "must be email or webhook");
            None
        }
    };
    let components = checked_components(platform, page_id, &mut v, components).await?;
    v.finish().map_err(AppError::Validation)?;
    let address = address.expect("validated");
    let now = platform.now();
    let webhook = kind == "webhook";
    let mut tx = platform.db.begin().await?;
    let subscriber =
        subscribers::upsert(&mut *tx, page_id, kind, &address, &components, webhook, now).await?;
    if !webhook && subscriber.confirmed_at.is_none() {
        let mail = confirm_mail(platform, &page, &subscriber);
        keel_platform::mail::queue(&mut *tx, &platform.secret, &mail, now).await?;
    }
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        "status_subscriber.added",
        json!({"subscriber_id": subscriber.id, "kind": kind}),
    )
    .await?;
    platform.job_wake.notify_one();
    let secret =
        webhook.then(|| crate::notify::webhook_secret(platform, &webhook_salt(&subscriber)));
    Ok(Added { subscriber, secret })
}

pub async fn remove(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let page = visible_page(platform, principal, page_id).await?;
    authz::require_team_manage(platform, principal, page.team_id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if !subscribers::delete(&mut *tx, page_id, id).await? {
        return Err(AppError::NotFound("subscriber"));
    }
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        "status_subscriber.removed",
        json!({"subscriber_id": id}),
    )
    .await
}

/// The subscribers as CSV (kind, address, components, confirmed, created).
pub async fn export_csv(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
) -> AppResult<String> {
    let list = list(platform, principal, page_id).await?;
    let mut out = String::from("kind,address,components,confirmed_at,created_at\r\n");
    let field = |text: &str| {
        format!(
            "\"{}\"",
            keel_platform::spreadsheet::safe_cell(text).replace('"', "\"\"")
        )
    };
    for s in list {
        let components: Vec<String> = s.components.iter().map(i64::to_string).collect();
        out.push_str(&format!(
            "{},{},{},{},{}\r\n",
            s.kind,
            field(&s.address),
            field(&components.join(" ")),
            s.confirmed_at.map(|t| t.to_string()).unwrap_or_default(),
            s.created_at
        ));
    }
    Ok(out)
}

/// Whether a subscriber wants to hear about an event touching `components` (none: all do).
pub fn interested(s: &Subscriber, components: &[i64]) -> bool {
    s.components.is_empty()
        || components.is_empty()
        || s.components.iter().any(|c| components.contains(c))
}
