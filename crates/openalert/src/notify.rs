//! Notifications: contact methods (verified by a code sent through them), personal rules,
//! delivery of each message through its channel, throttling into summaries, signed one-click
//! acknowledge/resolve links, and outgoing webhooks.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use keel_platform::audit::{self, Actor};
use keel_platform::domain::{Timestamp, Validator};
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::jobs::{self, Job, JobError};
use keel_platform::mail::OutgoingMail;
use keel_platform::{AppError, AppResult, Platform, crypto};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::store::incidents::{self as incidents_store, Incident};
use crate::store::notify::{self as store, ContactMethod, Notification, NotificationRule};

/// Deliver one notification (a row of `oa_notifications`).
#[derive(Debug, Serialize, Deserialize)]
pub struct NotifyJob {
    pub notification_id: i64,
    /// The body of a message not about an incident, sealed: it may be a verification code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_text: Option<String>,
}

impl Job for NotifyJob {
    const KIND: &'static str = "openalert.notify";
}

/// Send one summary of the messages held back for an address.
#[derive(Debug, Serialize, Deserialize)]
pub struct SummaryJob {
    pub kind: String,
    pub address: String,
}

impl Job for SummaryJob {
    const KIND: &'static str = "openalert.notify_summary";
}

/// Deliver one incident event to a team's webhook.
#[derive(Debug, Serialize, Deserialize)]
pub struct WebhookJob {
    pub webhook_id: i64,
    /// The team the event belongs to; a webhook of another team never receives it.
    pub team_id: i64,
    pub event: Value,
}

impl Job for WebhookJob {
    const KIND: &'static str = "openalert.webhook";
}
const CODE_PURPOSE: &str = "contact-verification";
const ACTION_PURPOSE: &str = "incident-action-link";
const DIRECT_TEXT_PURPOSE: &str = "direct-notification-text";
const THROTTLE_WINDOW: Duration = Duration::from_secs(60);
/// How long one-click links in notifications work.
pub const ACTION_LINK_TTL: Duration = Duration::from_secs(24 * 3600);

pub const KINDS: &[&str] = &[
    "email",
    "sms",
    "voice",
    "webhook",
    "slack",
    "teams",
    "mattermost",
    "discord",
];

/// Messages one address may receive per minute before the rest are bundled into a summary.
fn per_minute(kind: &str) -> i64 {
    match kind {
        "voice" => 1,
        "sms" => 3,
        "email" => 10,
        _ => 30,
    }
}

// ---- contact methods and rules (the caller's own) ----

fn validate_address(
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
            due_at: now,
        },
        now,
    )
    .await?;
    // The text travels in the job, not the notification row (whose detail records outcomes),
    // sealed: it may be a verification code.
    jobs::enqueue(
        &mut *tx,
        &NotifyJob {
            notification_id: id,
            sealed_text: Some(secret.seal(DIRECT_TEXT_PURPOSE, text.as_bytes())),
        },
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

// ---- one-click links ----

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
    let expected = platform.secret.sign(ACTION_PURPOSE, body.as_bytes());
    if signature.len() != 16 || !constant_time_eq(&signature, &expected[..16]) {
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

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---- delivery ----

/// Sends messages through their channels. One per process; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    platform: Platform,
}

impl Notifier {
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }

    /// The job handler: delivers one notification, or records why not. `text` is the body of
    /// a message not about an incident.
    pub async fn deliver(&self, job: &NotifyJob) -> Result<(), JobError> {
        let text = match &job.sealed_text {
            Some(sealed) => self
                .platform
                .secret
                .unseal(DIRECT_TEXT_PURPOSE, sealed)
                .and_then(|t| String::from_utf8(t).ok())
                .ok_or("notification text could not be opened with this server's key")?,
            None => String::new(),
        };
        self.try_deliver(job.notification_id, &text)
            .await
            .map_err(|e| match e {
                DeliveryError::Db(e) => JobError::Db(e),
                DeliveryError::Channel(message) => JobError::Failed(message),
            })
    }

    async fn try_deliver(&self, id: i64, text: &str) -> Result<(), DeliveryError> {
        let platform = &self.platform;
        let Some(n) = store::notification_by_id(platform.db.pool(), id).await? else {
            return Ok(());
        };
        if n.status != "pending" || n.detail == "held" {
            return Ok(());
        }
        if !self.method_still_stands(&n).await? {
            store::finish(
                platform.db.pool(),
                n.id,
                "skipped",
                "contact method deleted",
                platform.now(),
            )
            .await?;
            return Ok(());
        }
        let incident = match n.incident_id {
            Some(incident_id) => {
                incidents_store::incident_by_id(platform.db.pool(), incident_id).await?
            }
            None => None,
        };
        let now = platform.now();
        if let Some(incident) = &incident
            && incident.status != crate::domain::IncidentStatus::Triggered
        {
            let why = format!("{} first", incident.status.as_str());
            self.settle(
                &n,
                incident,
                "skipped",
                &why,
                &format!(
                    "Notification to {} by {} skipped: the incident was {why}",
                    n.user_name, n.kind
                ),
            )
            .await?;
            return Ok(());
        }
        if let Some(incident) = &incident {
            let window_start = now.minus(THROTTLE_WINDOW);
            if store::sent_since(platform.db.pool(), &n.kind, &n.address, window_start).await?
                >= per_minute(&n.kind)
            {
                let mut tx = platform.db.begin().await?;
                if store::hold(&mut *tx, n.id).await? {
                    incidents_store::log(&mut *tx, incident.id, now, "notification_held", (None, "system"), &format!("Notification to {} by {} held back: too many messages to it this minute; it goes out in a summary", n.user_name, n.kind), &json!({"notification_id": n.id})).await?;
                    jobs::enqueue(
                        &mut *tx,
                        &SummaryJob {
                            kind: n.kind.clone(),
                            address: n.address.clone(),
                        },
                        now.plus(THROTTLE_WINDOW),
                        5,
                        now,
                    )
                    .await?;
                }
                tx.commit().await?;
                return Ok(());
            }
        }
        let message = match &incident {
            Some(incident) => self.incident_message(incident, n.user_id, now).await?,
            None => Message::plain(text),
        };
        match self.send(&n.kind, &n.address, &message).await {
            Ok(()) => {
                if let Some(incident) = &incident {
                    self.settle(
                        &n,
                        incident,
                        "sent",
                        "",
                        &format!(
                            "Notified {} by {} ({})",
                            n.user_name,
                            n.kind,
                            redact(&n.kind, &n.address)
                        ),
                    )
                    .await?;
                } else {
                    store::finish(platform.db.pool(), n.id, "sent", "", now).await?;
                }
                metrics::counter!("keel_notifications_total", "kind" => n.kind.clone(), "outcome" => "sent").increment(1);
                Ok(())
            }
            Err(err) => {
                metrics::counter!("keel_notifications_total", "kind" => n.kind.clone(), "outcome" => "failed").increment(1);
                let attempts = store::record_attempt(platform.db.pool(), n.id, &err).await?;
                let last = attempts >= crate::escalation::NOTIFY_ATTEMPTS
                    || incident.is_none() && attempts >= 3;
                if let Some(incident) = &incident {
                    let text = if last {
                        format!(
                            "Notification to {} by {} failed for good after {attempts} attempts: {err}",
                            n.user_name, n.kind
                        )
                    } else {
                        format!(
                            "Notification to {} by {} failed (attempt {attempts}), retrying: {err}",
                            n.user_name, n.kind
                        )
                    };
                    incidents_store::log(
                        platform.db.pool(),
                        incident.id,
                        platform.now(),
                        "notification_failed",
                        (None, "system"),
                        &text,
                        &json!({"notification_id": n.id}),
                    )
                    .await?;
                }
                if last {
                    let mut tx = platform.db.begin().await?;
                    sqlx::query("UPDATE oa_notifications SET status = 'failed' WHERE id = $1 AND status = 'pending'").bind(n.id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    return Ok(());
                }
                Err(DeliveryError::Channel(err))
            }
        }
    }

    /// Whether the address a notification was queued for is still its owner's: the method
    /// exists, is theirs and has not changed. The account-email fallback has no method.
    async fn method_still_stands(&self, n: &Notification) -> Result<bool, DeliveryError> {
        let Some(method_id) = n.contact_method_id else {
            return Ok(n.kind == "email");
        };
        Ok(store::method_by_id(self.platform.db.pool(), method_id)
            .await?
            .is_some_and(|m| m.user_id == n.user_id && m.address == n.address))
    }

    /// Marks a notification settled and puts the outcome on the incident's timeline, once.
    async fn settle(
        &self,
        n: &Notification,
        incident: &Incident,
        status: &str,
        detail: &str,
        timeline: &str,
    ) -> Result<(), DeliveryError> {
        let now = self.platform.now();
        let mut tx = self.platform.db.begin().await?;
        if store::finish(&mut *tx, n.id, status, detail, now).await? {
            let kind = if status == "sent" {
                "notified"
            } else {
                "notification_skipped"
            };
            incidents_store::log(
                &mut *tx,
                incident.id,
                now,
                kind,
                (None, "system"),
                timeline,
                &json!({"notification_id": n.id, "user_id": n.user_id, "kind": n.kind}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn incident_message(
        &self,
        incident: &Incident,
        user_id: i64,
        now: Timestamp,
    ) -> Result<Message, DeliveryError> {
        let base = self.platform.config.base_url();
        let ack = format!(
            "{base}/openalert/act/{}",
            action_token(&self.platform, incident.id, user_id, "acknowledge", now)
        );
        let resolve = format!(
            "{base}/openalert/act/{}",
            action_token(&self.platform, incident.id, user_id, "resolve", now)
        );
        let url = format!("{base}/openalert/incidents/{}", incident.id);
        let alerts = incidents_store::list_alerts(self.platform.db.pool(), incident.id, 1).await?;
        let detail = alerts
            .first()
            .map(|a| format!("{} ({}, from {})", a.summary, a.severity.as_str(), a.source))
            .unwrap_or_default();
        let subject = format!(
            "[#{}] Triggered: {} ({})",
            incident.number, incident.title, incident.service_name
        );
        let text = format!(
            "Incident #{number} on {service} is triggered ({urgency} urgency).\n\n{title}\n{detail}\n\nAcknowledge: {ack}\nResolve: {resolve}\nOpen: {url}\n\nThe links work for 24 hours and ask for confirmation.\n",
            number = incident.number,
            service = incident.service_name,
            urgency = incident.urgency.as_str(),
            title = incident.title,
        );
        Ok(Message {
            subject,
            text,
            short: format!(
                "keel #{}: {} ({}). Ack: {ack}",
                incident.number,
                truncate(&incident.title, 80),
                incident.service_name
            ),
            spoken: format!(
                "This is keel. Incident {} on {} is triggered: {}. Open the app or your email to acknowledge.",
                incident.number,
                incident.service_name,
                truncate(&incident.title, 200)
            ),
            event: json!({
                "event": "incident.triggered",
                "incident": {"id": incident.id, "number": incident.number, "title": incident.title, "status": incident.status, "urgency": incident.urgency, "service": incident.service_name, "url": url},
                "acknowledge_url": ack,
                "resolve_url": resolve,
            }),
            url: Some(url),
        })
    }

    /// Delivers through one channel. Each chat service gets the shape it documents.
    async fn send(&self, kind: &str, address: &str, m: &Message) -> Result<(), String> {
        match kind {
            "email" => {
                self.platform
                    .mailer
                    .send(&OutgoingMail {
                        to: address.into(),
                        subject: m.subject.clone(),
                        text: m.text.clone(),
                        html: None,
                    })
                    .await
            }
            "sms" | "voice" => {
                let twilio = self
                    .platform
                    .config
                    .twilio
                    .as_ref()
                    .ok_or("SMS and voice are not configured (twilio_*)")?;
                let (path, form) = if kind == "sms" {
                    (
                        "Messages.json",
                        vec![
                            ("To", address.to_string()),
                            ("From", twilio.from.clone()),
                            ("Body", m.short.clone()),
                        ],
                    )
                } else {
                    let twiml = format!(
                        "<Response><Say>{}</Say><Pause length=\"1\"/><Say>{}</Say></Response>",
                        xml_escape(&m.spoken),
                        xml_escape(&m.spoken)
                    );
                    (
                        "Calls.json",
                        vec![
                            ("To", address.to_string()),
                            ("From", twilio.from.clone()),
                            ("Twiml", twiml),
                        ],
                    )
                };
                let url = format!(
                    "{}/2010-04-01/Accounts/{}/{path}",
                    twilio.api_url, twilio.account_sid
                );
                let request = self
                    .platform
                    .outbound
                    .post(&url)
                    .basic_auth(&twilio.account_sid, Some(&twilio.auth_token))
                    .form(&form);
                self.expect_success(request).await
            }
            "slack" | "mattermost" => {
                self.post_json(
                    address,
                    &json!({"text": format!("*{}*\n{}", m.subject, m.text)}),
                )
                .await
            }
            "discord" => {
                self.post_json(
                    address,
                    &json!({"content": truncate(&format!("**{}**\n{}", m.subject, m.text), 1900)}),
                )
                .await
            }
            "teams" => {
                let mut card = json!({"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": m.subject, "themeColor": "D92D20", "title": m.subject, "text": m.text.replace('\n', "<br>")});
                if let Some(url) = &m.url {
                    card["potentialAction"] = json!([{"@type": "OpenUri", "name": "Open incident", "targets": [{"os": "default", "uri": url}]}]);
                }
                self.post_json(address, &card).await
            }
            _ => self.post_json(address, &m.event).await,
        }
    }

    async fn post_json(&self, url: &str, body: &Value) -> Result<(), String> {
        self.expect_success(self.platform.outbound.post(url).json(body))
            .await
    }

    /// Through the outgoing-request guard; the reason of a failure is shown on the incident,
    /// so it never includes what the target answered.
    async fn expect_success(
        &self,
        request: keel_platform::outbound::RequestBuilder,
    ) -> Result<(), String> {
        self.platform
            .outbound
            .expect_success(request)
            .await
            .map_err(|e| e.to_string())
    }

    /// The summary job: one message listing every held-back incident for an address.
    pub async fn send_summary(&self, job: &SummaryJob) -> Result<(), JobError> {
        let (kind, address) = (job.kind.as_str(), job.address.as_str());
        let now = self.platform.now();
        let mut tx = self.platform.db.begin().await?;
        let held = store::take_held(&mut tx, kind, address, now).await?;
        tx.commit().await?;
        if held.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = held
            .iter()
            .take(20)
            .map(|(n, t)| format!("#{n} {t}"))
            .collect();
        let text = format!(
            "{} more incident{} triggered:\n{}\n\nOpen {}/openalert/incidents",
            held.len(),
            if held.len() == 1 { "" } else { "s" },
            lines.join("\n"),
            self.platform.config.base_url()
        );
        let mut message = Message::plain(&text);
        message.subject = format!("{} more incidents triggered", held.len());
        // The claim is committed before sending (no write lock held across the network); a
        // failed send puts the rows back on hold for the job's retry.
        if let Err(err) = self.send(kind, address, &message).await {
            store::unbundle(self.platform.db.pool(), kind, address, now).await?;
            return Err(err.into());
        }
        Ok(())
    }

    // ---- outgoing webhooks ----

    /// Delivers one webhook event, signed.
    pub async fn send_webhook(&self, job: &WebhookJob) -> Result<(), JobError> {
        // Deleting a webhook cancels its queued jobs; one already running, or a webhook of
        // another team, sends nothing.
        let Some(webhook) = store::webhook_by_id(self.platform.db.pool(), job.webhook_id)
            .await?
            .filter(|w| w.team_id == job.team_id)
        else {
            return Ok(());
        };
        let body = serde_json::to_string(&job.event)?;
        let timestamp = self.platform.now().as_millis() / 1000;
        let signature = webhook_signature(&self.platform, &webhook.secret_salt, timestamp, &body);
        let request = self
            .platform
            .outbound
            .post(&webhook.url)
            .header("content-type", "application/json")
            .header("x-keel-timestamp", timestamp.to_string())
            .header("x-keel-signature", format!("v1={signature}"))
            .body(body);
        Ok(self.expect_success(request).await?)
    }
}

/// Adds an outgoing webhook for a team's incidents (or one service's); returns it with its
/// signing secret, shown this once.
pub async fn create_webhook(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
    service_id: Option<i64>,
    url: &str,
    events: Option<&[String]>,
    meta: &ClientMeta,
) -> AppResult<(store::Webhook, String)> {
    let mut v = Validator::new();
    let url = v.check(
        "url",
        validate_address(platform.outbound.policy(), "webhook", url),
    );
    let events: Vec<String> = match events {
        Some(list) => list.to_vec(),
        None => DEFAULT_WEBHOOK_EVENTS
            .iter()
            .map(|e| e.to_string())
            .collect(),
    };
    if events.is_empty() {
        v.add("events", "must list at least one event");
    } else if let Some(bad) = events
        .iter()
        .find(|e| !WEBHOOK_EVENTS.contains(&e.as_str()))
    {
        v.add(
            "events",
            format!("`{bad}` is not one of {}", WEBHOOK_EVENTS.join(", ")),
        );
    }
    if let Some(service_id) = service_id {
        match crate::catalog::visible_service(platform, principal, service_id).await {
            Ok(service) if service.team_id == team_id => {}
            _ => v.add("service_id", "no such service in this team"),
        }
    }
    v.finish().map_err(AppError::Validation)?;
    keel_platform::authz::require_team_manage(platform, principal, team_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => {
                AppError::field("team_id", "no such team, or you are not in it")
            }
            other => other,
        })?;
    let salt = crypto::random_token(16);
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let hook = store::insert_webhook(
        &mut *tx,
        team_id,
        service_id,
        &url.expect("validated"),
        &events,
        &salt,
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "webhook.created",
        ("team", &team_id.to_string()),
        json!({"webhook_id": hook.id, "service_id": service_id, "events": events}),
    )
    .await?;
    tx.commit().await?;
    let secret = webhook_secret(platform, &salt);
    Ok((hook, secret))
}

pub async fn list_webhooks(
    platform: &Platform,
    principal: &Principal,
) -> AppResult<Vec<store::Webhook>> {
    let teams = match keel_platform::authz::team_scope(platform, principal).await? {
        keel_platform::authz::TeamScope::All => None,
        keel_platform::authz::TeamScope::Only(ids) => Some(ids),
    };
    let mut hooks = store::webhooks(platform.db.pool(), teams.as_deref()).await?;
    for hook in &mut hooks {
        hook.url = redact_url_path(&hook.url);
    }
    Ok(hooks)
}

pub async fn delete_webhook(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let hook = store::webhook_by_id(platform.db.pool(), id)
        .await?
        .ok_or(AppError::NotFound("webhook"))?;
    keel_platform::authz::require_team_read(platform, principal, hook.team_id)
        .await
        .map_err(|_| AppError::NotFound("webhook"))?;
    keel_platform::authz::require_team_manage(platform, principal, hook.team_id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::delete_webhook(&mut tx, id).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "webhook.deleted",
        ("team", &hook.team_id.to_string()),
        json!({"webhook_id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `https://host/…` with the path hidden (it often carries a token).
fn redact_url_path(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or_default()),
        Err(_) => String::new(),
    }
}

/// Incident timeline kinds a webhook may subscribe to.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "triggered",
    "acknowledged",
    "resolved",
    "retriggered",
    "escalated",
    "escalation_exhausted",
    "reassigned",
    "note",
    "alert_added",
];
pub const DEFAULT_WEBHOOK_EVENTS: &[&str] =
    &["triggered", "acknowledged", "resolved", "escalated", "note"];

/// Turns new incident timeline entries into webhook deliveries. The position in the timeline
/// advances by compare-and-set in the transaction that queues the jobs, so each entry is sent
/// once however many nodes run this. On Postgres, entries younger than a few seconds wait: a
/// transaction still in flight may commit an entry with a smaller id.
pub async fn dispatch_webhooks(platform: &Platform) -> AppResult<usize> {
    let now = platform.now();
    let settled = now.minus(platform.db.dialect().commit_order_slack());
    let cursor: i64 =
        sqlx::query_scalar("SELECT value FROM oa_counters WHERE name = 'webhook_log_cursor'")
            .fetch_one(platform.db.pool())
            .await?;
    // In id order, up to the first entry too young to be sure nothing before it is still
    // uncommitted.
    let entries: Vec<_> = store::log_after(platform.db.pool(), cursor, 500)
        .await?
        .into_iter()
        .take_while(|e| e.6 <= settled.as_millis())
        .collect();
    let Some(last) = entries.last().map(|e| e.0) else {
        return Ok(0);
    };
    let hooks = store::webhooks(platform.db.pool(), None).await?;
    let mut tx = platform.db.begin().await?;
    let moved = sqlx::query(
        "UPDATE oa_counters SET value = $1 WHERE name = 'webhook_log_cursor' AND value = $2",
    )
    .bind(last)
    .bind(cursor)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(0);
    }
    let mut queued = 0;
    for (log_id, incident_id, team_id, service_id, kind, message, at) in &entries {
        for hook in hooks.iter().filter(|h| {
            h.team_id == *team_id
                && h.service_id.is_none_or(|s| s == *service_id)
                && h.events.iter().any(|e| e == kind)
        }) {
            let event = json!({
                "id": log_id,
                "event": format!("incident.{kind}"),
                "occurred_at": Timestamp::from_millis(*at),
                "incident_id": incident_id,
                "service_id": service_id,
                "message": message,
                "url": format!("{}/openalert/incidents/{incident_id}", platform.config.base_url()),
            });
            jobs::enqueue_about(
                &mut *tx,
                &store::webhook_subject(hook.id),
                &WebhookJob {
                    webhook_id: hook.id,
                    team_id: hook.team_id,
                    event,
                },
                now,
                8,
                now,
            )
            .await?;
            queued += 1;
        }
    }
    tx.commit().await?;
    if queued > 0 {
        platform.job_wake.notify_one();
    }
    Ok(queued)
}

/// The secret a webhook receiver checks signatures with (shown once at creation).
pub fn webhook_secret(platform: &Platform, salt: &str) -> String {
    hex::encode(platform.secret.derive(&format!("webhook:{salt}")))
}

/// `hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`.
pub fn webhook_signature(platform: &Platform, salt: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(webhook_secret(platform, salt).as_bytes())
        .expect("any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[derive(Debug, Clone)]
struct Message {
    subject: String,
    text: String,
    /// SMS body.
    short: String,
    /// Voice script.
    spoken: String,
    /// Body for generic webhooks.
    event: Value,
    url: Option<String>,
}

impl Message {
    fn plain(text: &str) -> Self {
        Self {
            subject: "keel OpenAlert".into(),
            text: text.into(),
            short: text.into(),
            spoken: text.into(),
            event: json!({"event": "message", "text": text}),
            url: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Channel(String),
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Webhook URLs carry secrets in their paths: never show more than the host.
fn redact(kind: &str, address: &str) -> String {
    match kind {
        "email" | "sms" | "voice" => address.to_string(),
        _ => redact_url_path(address),
    }
}

/// Looks up what a list of notifications is for an incident (for the API and page).
pub async fn of_incident(platform: &Platform, incident_id: i64) -> AppResult<Vec<Notification>> {
    let mut list = store::notifications_of_incident(platform.db.pool(), incident_id).await?;
    for n in &mut list {
        n.address = redact(&n.kind, &n.address);
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_per_kind() {
        let policy = keel_platform::outbound::AddressPolicy::default();
        let check = |kind, address| validate_address(&policy, kind, address);
        assert!(check("sms", "+14155550100").is_ok());
        assert!(check("sms", "4155550100").is_err());
        assert!(check("slack", "https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(check("slack", "ftp://x").is_err());
        assert!(check("email", "nope").is_err());
        for private in [
            "http://127.1/hook",
            "http://2130706433/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://169.254.169.254/latest",
            "http://user:pass@hooks.example.com/x",
        ] {
            assert!(check("webhook", private).is_err(), "{private}");
        }
    }

    #[test]
    fn webhook_urls_are_redacted() {
        assert_eq!(
            redact("slack", "https://hooks.slack.com/services/T/B/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(redact("email", "a@b.example"), "a@b.example");
    }
}
