//! OpenAlert's engine: a cycle over durable state that opens incidents for silent heartbeats,
//! re-triggers incidents whose acknowledgement timed out, resolves incidents whose alerts
//! went quiet, takes due escalation steps and hands timeline entries to outgoing webhooks.
//! Each step is a conditional update, so any number of nodes may run it at once.

use std::time::Duration;

use keel_platform::Platform;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::store::incidents as store;
use crate::store::services::{self, IngestTarget};

pub const CYCLE: Duration = Duration::from_secs(1);

/// Shortest sleep between passes, so a burst leaves the database to other work in between.
const SHORTEST_WAIT: Duration = Duration::from_millis(50);

pub async fn run(platform: Platform, mut shutdown: watch::Receiver<bool>) {
    let mut handoff_minute = None;
    let mut next_cycle = Instant::now();
    loop {
        // Whether an escalation-only pass took nothing: a step still overdue after it is failing
        // (or being taken elsewhere), and waits for the next full cycle rather than spin.
        let mut stalled = false;
        if Instant::now() >= next_cycle {
            next_cycle = (next_cycle + CYCLE).max(Instant::now());
            if let Err(err) = cycle(&platform).await {
                tracing::warn!(error = %err, "openalert engine cycle failed");
            }
            // Shift notices and weekly summaries need minute precision only.
            let minute = platform.now().as_millis() / 60_000;
            if handoff_minute != Some(minute) {
                handoff_minute = Some(minute);
                if let Err(err) = crate::handoff::run(&platform).await {
                    tracing::warn!(error = %err, "handoff notices failed");
                }
                if let Err(err) = crate::weekly_summary::schedule(&platform).await {
                    tracing::warn!(error = %err, "weekly summaries not scheduled");
                }
            }
        } else {
            match crate::escalation::run_due(&platform).await {
                Ok(taken) => stalled = taken == 0,
                Err(err) => {
                    stalled = true;
                    tracing::warn!(error = %err, "escalation pass failed");
                }
            }
        }
        // Escalation steps are taken when they fall due, not at the next whole cycle.
        let wake = match crate::escalation::next_due_in(&platform).await {
            Ok(Some(wait)) if !(stalled && wait.is_zero()) => {
                next_cycle.min(Instant::now() + wait.max(SHORTEST_WAIT))
            }
            Ok(_) => next_cycle,
            Err(err) => {
                tracing::warn!(error = %err, "next escalation step not found");
                next_cycle
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass over everything that is due.
pub async fn cycle(platform: &Platform) -> sqlx::Result<()> {
    let now = platform.now();
    for (integration_id, service_id, name, team_id) in
        services::overdue_heartbeats(platform.db.pool(), now).await?
    {
        let open = store::open_incident(
            platform.db.pool(),
            service_id,
            &crate::api::ingest::heartbeat_dedup_key(integration_id),
        )
        .await?;
        if open.is_some() {
            continue;
        }
        let target = IngestTarget {
            integration_id,
            kind: "heartbeat".into(),
            service_id,
            team_id,
            disabled_at: None,
            rate_limit_per_minute: None,
            urgency_rule: "high".into(),
            heartbeat_seconds: None,
        };
        let event = crate::api::ingest::heartbeat_event(integration_id, &name, false);
        if let Err(err) = crate::ingest::apply_now(platform, &target, &[event]).await {
            // Another node opened it first (unique open key): fine.
            tracing::debug!(error = %err, integration_id, "heartbeat incident not opened here");
        }
    }
    for id in store::ack_timed_out(platform.db.pool(), now).await? {
        let mut tx = platform.db.begin().await?;
        if store::retrigger(&mut tx, id, now).await? {
            store::log(
                &mut *tx,
                id,
                now,
                "retriggered",
                (None, "system"),
                "Triggered again: the acknowledgement timed out",
                &json!({}),
            )
            .await?;
            tx.commit().await?;
            announce(platform, id, "incident.retriggered").await;
        }
    }
    for id in store::auto_resolvable(platform.db.pool(), now).await? {
        let mut tx = platform.db.begin().await?;
        if store::resolve(&mut tx, id, None, "timeout", now).await? {
            store::log(
                &mut *tx,
                id,
                now,
                "resolved",
                (None, "system"),
                "Resolved automatically: no alert within the service's auto-resolve time",
                &json!({}),
            )
            .await?;
            tx.commit().await?;
            announce(platform, id, "incident.resolved").await;
        }
    }
    if let Err(err) = crate::escalation::run_due(platform).await {
        tracing::warn!(error = %err, "escalation cycle failed");
    }
    if let Err(err) = crate::status::maintenance::advance(platform).await {
        tracing::warn!(error = %err, "status page maintenances not advanced");
    }
    if let Err(err) = crate::status::automatic::reconcile(platform).await {
        tracing::warn!(error = %err, "status page components did not follow their services");
    }
    if let Err(err) = crate::notify::dispatch_webhooks(platform).await {
        tracing::warn!(error = %err, "webhook dispatch failed");
    }
    Ok(())
}

async fn announce(platform: &Platform, incident_id: i64, topic: &str) {
    if let Ok(Some(incident)) = store::incident_by_id(platform.db.pool(), incident_id).await {
        platform
            .bus
            .publish(keel_platform::realtime::Event::new(
                topic,
                keel_platform::realtime::Audience::Teams(vec![incident.team_id]),
                platform.now(),
                json!({"incident_id": incident.id, "number": incident.number, "status": incident.status}),
            ))
            .await;
    }
}
