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
use crate::store::batch as sets;
use crate::store::incidents::{self as store, NewAlert, NewIncident};
use crate::store::services::{self, IngestTarget};

/// Most submissions applied in one transaction.
const MAX_BATCH: usize = 512;
/// Submissions waiting for the writer before new requests are turned away with 503.
const QUEUE_CAPACITY: usize = 8192;
/// Attempts at a batch that lost a race with another node for the same new incident.
const RACE_ATTEMPTS: u32 = 4;

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
        match apply_with_retries(&platform, &batch, now).await {
            Ok(changes) => {
                for submission in batch.drain(..) {
                    let _ = submission.reply.send(Ok(()));
                }
                // Off the writer's path: with Redis each publish is a network round trip.
                tokio::spawn(announce(platform.clone(), changes, now));
            }
            Err(err) => {
                // Isolate the failure: retry each submission in its own transaction.
                tracing::warn!(error = %err, size = batch.len(), "ingest batch failed; retrying one by one");
                for submission in batch.drain(..) {
                    let single = std::slice::from_ref(&submission);
                    match apply_with_retries(&platform, single, now).await {
                        Ok(changes) => {
                            let _ = submission.reply.send(Ok(()));
                            tokio::spawn(announce(platform.clone(), changes, now));
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

/// Applies a batch, trying again when another node opened one of the same incidents first:
/// the unique index on open incidents refuses the second insert, and a new attempt finds the
/// incident open and adds to it, so a race between nodes never reaches the sender.
async fn apply_with_retries(
    platform: &Platform,
    batch: &[Submission],
    now: Timestamp,
) -> sqlx::Result<Vec<Change>> {
    let mut attempt = 1;
    loop {
        match apply_batch(platform, batch, now).await {
            Err(err) if attempt < RACE_ATTEMPTS && keel_platform::db::is_unique_violation(&err) => {
                metrics::counter!("keel_ingest_races_total").increment(1);
                attempt += 1;
            }
            result => return result,
        }
    }
}

async fn apply_batch(
    platform: &Platform,
    batch: &[Submission],
    now: Timestamp,
) -> sqlx::Result<Vec<Change>> {
    let mut tx = platform.db.begin().await?;
    let only_triggers = batch
        .iter()
        .all(|s| s.events.iter().all(|e| e.action == Action::Trigger));
    let changes = if only_triggers {
        apply_triggers(&mut tx, platform.db.dialect(), batch, now).await?
    } else {
        let mut changes = Vec::new();
        for submission in batch {
            for event in &submission.events {
                apply(
                    &mut tx,
                    platform.db.dialect(),
                    &submission.target,
                    event,
                    &submission.raw,
                    now,
                    &mut changes,
                )
                .await?;
            }
        }
        changes
    };
    tx.commit().await?;
    metrics::counter!("keel_ingest_events_total")
        .increment(batch.iter().map(|s| s.events.len() as u64).sum());
    Ok(changes)
}

async fn announce(platform: Platform, changes: Vec<Change>, now: Timestamp) {
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

/// Where an alert of the batch goes.
#[derive(Clone, Copy)]
enum Slot {
    Existing(i64),
    /// Index into the incidents this batch opens.
    New(usize),
    /// Recorded during maintenance: no incident.
    Suppressed,
}

/// The same rules as [`apply`] for a batch made only of triggers, as a few set-based
/// statements: the common case under load.
async fn apply_triggers(
    tx: &mut sqlx::AnyConnection,
    dialect: keel_platform::db::Dialect,
    submissions: &[Submission],
    now: Timestamp,
) -> sqlx::Result<Vec<Change>> {
    use std::collections::{HashMap, HashSet};

    let mut services: Vec<i64> = submissions.iter().map(|s| s.target.service_id).collect();
    services.sort_unstable();
    services.dedup();
    let mut keys: Vec<&str> = submissions
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.dedup_key.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();

    let open = sets::open_incidents(&mut *tx, dialect, &services, &keys).await?;
    let open_ids: HashMap<i64, (i64, &str)> = open
        .iter()
        .map(|(id, svc, key, _)| (*id, (*svc, key.as_str())))
        .collect();
    let mut slots: HashMap<(i64, &str), Slot> = open
        .iter()
        .map(|(id, svc, key, _)| ((*svc, key.as_str()), Slot::Existing(*id)))
        .collect();
    let maintenance: HashSet<i64> = sets::in_maintenance(&mut *tx, &services, now)
        .await?
        .into_iter()
        .collect();
    let firing_rows = if submissions
        .iter()
        .any(|s| s.events.iter().any(|e| e.repeat_is_duplicate))
    {
        let ids: Vec<i64> = open_ids.keys().copied().collect();
        sets::firing_alert_keys(&mut *tx, &ids).await?
    } else {
        Vec::new()
    };
    let mut firing: HashSet<(i64, String, String)> = firing_rows
        .into_iter()
        .filter_map(|(id, alert_key)| {
            open_ids
                .get(&id)
                .map(|(svc, key)| (*svc, key.to_string(), alert_key))
        })
        .collect();

    struct Opening<'a> {
        event: &'a NormalizedEvent,
        target: &'a IngestTarget,
        alerts: i64,
    }
    let mut opening: Vec<Opening> = Vec::new();
    let mut alerts: Vec<(Slot, &Submission, &NormalizedEvent)> = Vec::new();
    let mut logs: Vec<(Slot, &'static str, String, String)> = Vec::new();
    let mut counts: HashMap<i64, i64> = HashMap::new();
    for submission in submissions {
        let target = &*submission.target;
        for event in &submission.events {
            let key = (target.service_id, event.dedup_key.as_str());
            let firing_key = (
                target.service_id,
                event.dedup_key.clone(),
                event.alert_key.clone(),
            );
            match slots.get(&key).copied() {
                Some(slot) => {
                    if event.repeat_is_duplicate && firing.contains(&firing_key) {
                        continue; // a re-delivery of what we already have
                    }
                    firing.insert(firing_key);
                    match slot {
                        Slot::Existing(id) => *counts.entry(id).or_default() += 1,
                        Slot::New(i) => opening[i].alerts += 1,
                        Slot::Suppressed => {}
                    }
                    let details =
                        json!({"source": event.source, "severity": event.severity}).to_string();
                    logs.push((
                        slot,
                        "alert_added",
                        format!("Alert added: {}", event.summary),
                        details,
                    ));
                    alerts.push((slot, submission, event));
                }
                None if maintenance.contains(&target.service_id) => {
                    alerts.push((Slot::Suppressed, submission, event))
                }
                None => {
                    let slot = Slot::New(opening.len());
                    opening.push(Opening {
                        event,
                        target,
                        alerts: 1,
                    });
                    slots.insert(key, slot);
                    firing.insert(firing_key);
                    let details = json!({"integration_id": target.integration_id, "severity": event.severity}).to_string();
                    logs.push((
                        slot,
                        "triggered",
                        format!("Triggered by {}: {}", event.source, event.summary),
                        details,
                    ));
                    alerts.push((slot, submission, event));
                }
            }
        }
    }

    let mut new_ids = Vec::with_capacity(opening.len());
    let mut changes = Vec::new();
    if !opening.is_empty() {
        let first = sets::reserve_numbers(&mut *tx, opening.len() as i64).await?;
        let rows: Vec<sets::IncidentRow> = opening
            .iter()
            .enumerate()
            .map(|(i, o)| sets::IncidentRow {
                number: first + i as i64,
                service_id: o.target.service_id,
                title: &o.event.summary,
                urgency: UrgencyRule::parse(&o.target.urgency_rule)
                    .unwrap_or(UrgencyRule::High)
                    .urgency(o.event.severity),
                dedup_key: &o.event.dedup_key,
                alert_count: o.alerts,
            })
            .collect();
        let by_number: HashMap<i64, i64> = sets::insert_incidents(&mut *tx, dialect, &rows, now)
            .await?
            .into_iter()
            .collect();
        for (i, o) in opening.iter().enumerate() {
            let id = by_number[&(first + i as i64)];
            new_ids.push(id);
            changes.push(Change {
                topic: "incident.triggered",
                incident_id: id,
                team_id: o.target.team_id,
            });
        }
    }
    let incident_of = |slot: Slot| match slot {
        Slot::Existing(id) => Some(id),
        Slot::New(i) => Some(new_ids[i]),
        Slot::Suppressed => None,
    };
    let alert_rows: Vec<NewAlert> = alerts
        .iter()
        .map(|(slot, submission, event)| NewAlert {
            service_id: submission.target.service_id,
            integration_id: Some(submission.target.integration_id),
            incident_id: incident_of(*slot),
            event,
            raw: &submission.raw,
            suppressed: matches!(slot, Slot::Suppressed),
            now,
        })
        .collect();
    sets::insert_alerts(&mut *tx, dialect, &alert_rows).await?;
    let log_rows: Vec<sets::LogRow> = logs
        .into_iter()
        .filter_map(|(slot, kind, message, details)| {
            Some(sets::LogRow {
                incident_id: incident_of(slot)?,
                kind,
                message,
                details,
            })
        })
        .collect();
    sets::insert_logs(&mut *tx, dialect, &log_rows, now).await?;
    let counts: Vec<(i64, i64)> = counts.into_iter().collect();
    sets::add_alert_counts(&mut *tx, &counts, now).await?;
    let team_of: HashMap<i64, i64> = submissions
        .iter()
        .map(|s| (s.target.service_id, s.target.team_id))
        .collect();
    for (id, _) in &counts {
        if let Some((svc, _)) = open_ids.get(id) {
            changes.push(Change {
                topic: "incident.alert_added",
                incident_id: *id,
                team_id: team_of[svc],
            });
        }
    }
    Ok(changes)
}

/// Applies one event inside the writer's transaction.
async fn apply(
    tx: &mut sqlx::AnyConnection,
    dialect: keel_platform::db::Dialect,
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
                return sets::insert_alerts(&mut *tx, dialect, std::slice::from_ref(&alert)).await;
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
            sets::insert_alerts(&mut *tx, dialect, std::slice::from_ref(&alert)).await?;
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
        apply(
            &mut tx,
            platform.db.dialect(),
            target,
            event,
            "",
            now,
            &mut changes,
        )
        .await?;
    }
    tx.commit().await?;
    announce(platform.clone(), changes, now).await;
    Ok(())
}

/// A short-lived cache of integration keys, so a flood of events does not query the database
/// once per request. Changes made on this node clear it at once; other nodes see them within
/// [`targets::TTL`].
pub mod targets {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use keel_platform::Platform;

    use crate::store::services::{self, IngestTarget};

    pub const TTL: Duration = Duration::from_secs(1);
    const MAX_ENTRIES: usize = 10_000;

    type Cache = Mutex<HashMap<String, (Instant, Option<Arc<IngestTarget>>)>>;

    fn cache() -> &'static Cache {
        static CACHE: OnceLock<Cache> = OnceLock::new();
        CACHE.get_or_init(|| Mutex::new(HashMap::new()))
    }

    /// The integration a key hash belongs to (unknown keys are cached too, against floods).
    pub async fn lookup(
        platform: &Platform,
        key_hash: &str,
    ) -> sqlx::Result<Option<Arc<IngestTarget>>> {
        if let Some((at, target)) = cache().lock().expect("cache lock").get(key_hash)
            && at.elapsed() < TTL
        {
            return Ok(target.clone());
        }
        let target = services::ingest_target(platform.db.pool(), key_hash)
            .await?
            .map(Arc::new);
        let mut map = cache().lock().expect("cache lock");
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        map.insert(key_hash.to_string(), (Instant::now(), target.clone()));
        Ok(target)
    }

    /// Called after any change to integrations or services on this node.
    pub fn forget_all() {
        cache().lock().expect("cache lock").clear();
    }
}
