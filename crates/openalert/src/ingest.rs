//! Alert ingestion with group commit: request handlers parse and validate, then hand their
//! events to one writer task per node that applies whatever has queued up in a single
//! transaction. Each request is answered only after the transaction holding its events has
//! committed, so a 2xx always means the alert is durable; batching makes that cheap.

use std::sync::Arc;

use keel_platform::domain::Timestamp;
use keel_platform::realtime::{Audience, Event};
use keel_platform::{AppError, AppResult, Platform};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::domain::{Action, NormalizedEvent, UrgencyRule};
use crate::store::incidents::{self as store, NewAlert, NewIncident};
use crate::store::services::{self, IngestTarget};

/// Most submissions applied in one transaction.
const MAX_BATCH: usize = 512;
/// Submissions waiting for the writer before new requests are turned away with 503.
const QUEUE_CAPACITY: usize = 8192;

struct Submission {
    target: Arc<IngestTarget>,
    events: Vec<NormalizedEvent>,
    raw: Arc<str>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// A state change to announce once committed.
struct Change {
    topic: &'static str,
    incident_id: i64,
    team_id: i64,
}

#[derive(Clone)]
pub struct Ingestor {
    queue: mpsc::Sender<Submission>,
}

impl Ingestor {
    /// Starts this node's writer task.
    pub fn start(platform: Platform) -> Self {
        let (queue, inbox) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_loop(platform, inbox));
        Self { queue }
    }

    /// Applies the events of one request; returns once they are committed.
    pub async fn submit(
        &self,
        target: Arc<IngestTarget>,
        events: Vec<NormalizedEvent>,
        raw: &[u8],
    ) -> AppResult<()> {
        let raw =
            String::from_utf8_lossy(&raw[..raw.len().min(crate::domain::MAX_RAW_BYTES)]).into();
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Submission {
                target,
                events,
                raw,
                reply,
            })
            .map_err(|_| AppError::Unavailable("ingestion is overloaded; retry shortly".into()))?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AppError::Unavailable(format!(
                "the event could not be stored ({e}); retry"
            ))),
            Err(_) => Err(AppError::Unavailable(
                "the server is shutting down; retry".into(),
            )),
        }
    }
}

async fn write_loop(platform: Platform, mut inbox: mpsc::Receiver<Submission>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = inbox.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        metrics::histogram!("keel_ingest_batch_size").record(batch.len() as f64);
        let now = platform.now();
        match apply_batch(&platform, &batch, now).await {
            Ok(changes) => {
                for submission in batch.drain(..) {
                    let _ = submission.reply.send(Ok(()));
                }
                announce(&platform, changes, now).await;
            }
            Err(err) => {
                // Isolate the failure: retry each submission in its own transaction.
                tracing::warn!(error = %err, size = batch.len(), "ingest batch failed; retrying one by one");
                for submission in batch.drain(..) {
                    let single = std::slice::from_ref(&submission);
                    match apply_batch(&platform, single, now).await {
                        Ok(changes) => {
                            let _ = submission.reply.send(Ok(()));
                            announce(&platform, changes, now).await;
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "ingest: event could not be stored");
                            let _ = submission.reply.send(Err("database error".into()));
                        }
                    }
                }
            }
        }
    }
}

async fn apply_batch(
    platform: &Platform,
    batch: &[Submission],
    now: Timestamp,
) -> sqlx::Result<Vec<Change>> {
    let mut tx = platform.db.begin().await?;
    let mut changes = Vec::new();
    for submission in batch {
        for event in &submission.events {
            apply(
                &mut tx,
                &submission.target,
                event,
                &submission.raw,
                now,
                &mut changes,
            )
            .await?;
        }
    }
    tx.commit().await?;
    metrics::counter!("keel_ingest_events_total")
        .increment(batch.iter().map(|s| s.events.len() as u64).sum());
    Ok(changes)
}

async fn announce(platform: &Platform, changes: Vec<Change>, now: Timestamp) {
    for change in changes {
        platform
            .bus
            .publish(Event::new(
                change.topic,
                Audience::Teams(vec![change.team_id]),
                now,
                json!({"incident_id": change.incident_id}),
            ))
            .await;
    }
}

/// Applies one event inside the writer's transaction.
async fn apply(
    tx: &mut sqlx::AnyConnection,
    target: &IngestTarget,
    event: &NormalizedEvent,
    raw: &str,
    now: Timestamp,
    changes: &mut Vec<Change>,
) -> sqlx::Result<()> {
    let source = (None, "monitoring");
    let open = store::open_incident(&mut *tx, target.service_id, &event.dedup_key).await?;
    let change = |topic, incident_id| Change {
        topic,
        incident_id,
        team_id: target.team_id,
    };
    match event.action {
        Action::Trigger => {
            if open.is_none() && services::in_maintenance(&mut *tx, target.service_id, now).await? {
                let alert = NewAlert {
                    service_id: target.service_id,
                    integration_id: Some(target.integration_id),
                    incident_id: None,
                    event,
                    raw,
                    suppressed: true,
                    now,
                };
                return store::insert_alert(&mut *tx, &alert).await;
            }
            let incident_id = match open {
                Some((id, _)) => {
                    if event.repeat_is_duplicate
                        && store::alert_is_firing(&mut *tx, id, &event.alert_key).await?
                    {
                        return Ok(()); // a re-delivery of what we already have
                    }
                    store::log(
                        &mut *tx,
                        id,
                        now,
                        "alert_added",
                        source,
                        &format!("Alert added: {}", event.summary),
                        &json!({"source": event.source, "severity": event.severity}),
                    )
                    .await?;
                    changes.push(change("incident.alert_added", id));
                    id
                }
                None => {
                    let number = store::next_incident_number(&mut *tx).await?;
                    let rule =
                        UrgencyRule::parse(&target.urgency_rule).unwrap_or(UrgencyRule::High);
                    let id = store::insert_incident(
                        &mut *tx,
                        &NewIncident {
                            number,
                            service_id: target.service_id,
                            title: &event.summary,
                            urgency: rule.urgency(event.severity),
                            dedup_key: &event.dedup_key,
                            now,
                        },
                    )
                    .await?;
                    store::log(&mut *tx, id, now, "triggered", source, &format!("Triggered by {}: {}", event.source, event.summary), &json!({"integration_id": target.integration_id, "severity": event.severity})).await?;
                    changes.push(change("incident.triggered", id));
                    id
                }
            };
            let alert = NewAlert {
                service_id: target.service_id,
                integration_id: Some(target.integration_id),
                incident_id: Some(incident_id),
                event,
                raw,
                suppressed: false,
                now,
            };
            store::insert_alert(&mut *tx, &alert).await?;
            store::count_alert(&mut *tx, incident_id, now).await?;
        }
        Action::Acknowledge => {
            if let Some((id, status)) = open
                && status == "triggered"
                && store::acknowledge(&mut *tx, id, None, now).await?
            {
                store::log(
                    &mut *tx,
                    id,
                    now,
                    "acknowledged",
                    source,
                    "Acknowledged by the monitoring tool",
                    &json!({}),
                )
                .await?;
                changes.push(change("incident.acknowledged", id));
            }
        }
        Action::Resolve => {
            if let Some((id, _)) = open
                && store::resolve(&mut *tx, id, None, "source", now).await?
            {
                store::log(
                    &mut *tx,
                    id,
                    now,
                    "resolved",
                    source,
                    "Resolved by the monitoring tool",
                    &json!({}),
                )
                .await?;
                changes.push(change("incident.resolved", id));
            }
        }
        Action::ResolveAlert => {
            if let Some((id, _)) = open {
                let (resolved, still_firing) =
                    store::resolve_alert(&mut *tx, id, &event.alert_key, now).await?;
                if resolved > 0 {
                    store::log(
                        &mut *tx,
                        id,
                        now,
                        "alert_resolved",
                        source,
                        &format!("Alert resolved: {}", event.summary),
                        &json!({"alert_key": event.alert_key}),
                    )
                    .await?;
                }
                if still_firing == 0 && store::resolve(&mut *tx, id, None, "source", now).await? {
                    store::log(
                        &mut *tx,
                        id,
                        now,
                        "resolved",
                        source,
                        "Resolved: no alert is firing any more",
                        &json!({}),
                    )
                    .await?;
                    changes.push(change("incident.resolved", id));
                }
            }
        }
    }
    Ok(())
}

/// Applies events outside any request (heartbeat engine), with the same rules, and announces them.
pub async fn apply_now(
    platform: &Platform,
    target: &IngestTarget,
    events: &[NormalizedEvent],
) -> sqlx::Result<()> {
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let mut changes = Vec::new();
    for event in events {
        apply(&mut tx, target, event, "", now, &mut changes).await?;
    }
    tx.commit().await?;
    announce(platform, changes, now).await;
    Ok(())
}
