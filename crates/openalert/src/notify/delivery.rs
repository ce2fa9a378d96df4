//! Delivery.

use askama::Template;
use keel_platform::Platform;
use keel_platform::domain::Timestamp;
use keel_platform::jobs::{self, JobError};
use keel_platform::mail::OutgoingMail;
use serde_json::{Value, json};

use crate::store::incidents::{self as incidents_store, Incident};
use crate::store::notify::{self as store, Notification};

use super::*;

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
            None => job.legacy_text.clone().unwrap_or_default(),
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
        if let Some(incident) = &incident
            && !self.take_a_place(&n, incident, now).await?
        {
            return Ok(());
        }
        let message = match &incident {
            Some(incident) => self.incident_message(incident, n.user_id, now).await?,
            None => Message::plain(text),
        };
        // The same key on every attempt: a provider that honours it sends once even when a
        // node died after its request went out and another node sent it again.
        let key = format!("keel-notification-{}", n.id);
        match self.send(&n.kind, &n.address, &message, Some(&key)).await {
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
                let last = attempts >= crate::paging::NOTIFY_ATTEMPTS
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
                    store::give_up(platform.db.pool(), n.id).await?;
                    return Ok(());
                }
                Err(DeliveryError::Channel(err))
            }
        }
    }

    /// Takes one of the messages an address may get this minute, or holds the notification
    /// for the summary when they are used up. Counting and taking happen under one lock per
    /// address across nodes, so a storm on several nodes cannot send more than the cap.
    async fn take_a_place(
        &self,
        n: &Notification,
        incident: &Incident,
        now: Timestamp,
    ) -> Result<bool, DeliveryError> {
        let platform = &self.platform;
        let mut tx = platform.db.begin().await?;
        if let Some(lock) = platform.db.dialect().exclusive_for_name() {
            sqlx::query(lock)
                .bind(format!("openalert.throttle:{}:{}", n.kind, n.address))
                .execute(&mut *tx)
                .await?;
        }
        let window_start = now.minus(THROTTLE_WINDOW);
        if store::sent_since(&mut *tx, &n.kind, &n.address, window_start, n.id).await?
            < per_minute(&n.kind)
        {
            store::reserve_send(&mut *tx, n.id, now).await?;
            tx.commit().await?;
            return Ok(true);
        }
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
        Ok(false)
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
        let alert = alerts.first();
        let subject = truncate(
            &format!(
                "[#{}] Triggered on {}: {}",
                incident.number, incident.service_name, incident.title
            ),
            SUBJECT_CHARS,
        );
        let links = alert.map(|a| web_links(&a.links)).unwrap_or_default();
        let details = alert.map(|a| details_text(&a.details)).unwrap_or_default();
        let mut text = format!(
            "Incident #{number} on {service} is triggered ({urgency} urgency).\n\n{title}\n",
            number = incident.number,
            service = incident.service_name,
            urgency = incident.urgency.as_str(),
            title = incident.title,
        );
        if let Some(a) = alert {
            text.push_str(&format!(
                "Severity {}, from {}.\n",
                a.severity.as_str(),
                a.source
            ));
            // The title is usually the alert's summary; say it once.
            if a.summary != incident.title {
                text.push_str(&format!("Alert: {}\n", a.summary));
            }
        }
        text.push_str(&format!(
            "\nAcknowledge: {ack}\nResolve: {resolve}\nOpen: {url}\n"
        ));
        for (href, label) in &links {
            text.push_str(&format!("{label}: {href}\n"));
        }
        if !details.is_empty() {
            text.push_str(&format!("\nDetails:\n{details}\n"));
        }
        text.push_str("\nThe links work for 24 hours and ask for confirmation.\n");
        let html = IncidentMail {
            subject: &subject,
            number: incident.number,
            service: &incident.service_name,
            urgency: incident.urgency.as_str(),
            title: &incident.title,
            alert,
            links,
            details,
            ack: &ack,
            resolve: &resolve,
            url: &url,
        }
        .render()
        .map_err(|e| DeliveryError::Channel(format!("mail template: {e}")))?;
        Ok(Message {
            subject,
            text,
            html: Some(html),
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

    /// Delivers through one channel. Each chat service gets the shape it documents; HTTP
    /// requests carry `Idempotency-Key` when given one.
    async fn send(
        &self,
        kind: &str,
        address: &str,
        m: &Message,
        idempotency_key: Option<&str>,
    ) -> Result<(), String> {
        match kind {
            "email" => {
                self.platform
                    .mailer
                    .send(&OutgoingMail {
                        to: address.into(),
                        subject: m.subject.clone(),
                        text: m.text.clone(),
                        html: m.html.clone(),
                        unsubscribe: None,
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
                self.expect_success(with_key(request, idempotency_key))
                    .await
            }
            "slack" | "mattermost" => {
                self.post_json(
                    idempotency_key,
                    address,
                    &json!({"text": format!("*{}*\n{}", m.subject, m.text)}),
                )
                .await
            }
            "discord" => {
                self.post_json(
                    idempotency_key,
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
                self.post_json(idempotency_key, address, &card).await
            }
            _ => self.post_json(idempotency_key, address, &m.event).await,
        }
    }

    async fn post_json(
        &self,
        idempotency_key: Option<&str>,
        url: &str,
        body: &Value,
    ) -> Result<(), String> {
        let request = self.platform.outbound.post(url).json(body);
        self.expect_success(with_key(request, idempotency_key))
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
        if let Err(err) = self.send(kind, address, &message, None).await {
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

fn with_key(
    request: keel_platform::outbound::RequestBuilder,
    idempotency_key: Option<&str>,
) -> keel_platform::outbound::RequestBuilder {
    match idempotency_key {
        Some(key) => request.header("idempotency-key", key),
        None => request,
    }
}
