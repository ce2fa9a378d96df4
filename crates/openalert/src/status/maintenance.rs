//! Maintenances that move on their own: scheduled → in progress at `scheduled_for`, → completed
//! at `scheduled_until`, with an update and the components' statuses, told to subscribers. Any
//! number of nodes may try; a compare-and-set on the event's status lets one win.

use keel_platform::{AppResult, Platform};

use super::events::{apply_statuses, component_names, one_event, released_components};
use super::model::{ComponentStatus, Impact, MaintenanceStatus};
use super::notices::{self, Notice};
use super::public;
use crate::store::status as store;
use crate::store::status_events::{self as event_store, EventChanges};

/// Starts and completes maintenances whose time has come (from the engine's cycle).
pub async fn advance(platform: &Platform) -> AppResult<()> {
    let now = platform.now();
    for row in event_store::due_maintenances(platform.db.pool(), now.as_millis()).await? {
        let event = one_event(platform, row.page_id, row.id).await?;
        let starting =
            row.status == "scheduled" && row.scheduled_until.is_none_or(|u| u > now.as_millis());
        let (next, text) = if starting {
            (
                MaintenanceStatus::InProgress,
                "The maintenance has started.",
            )
        } else {
            (MaintenanceStatus::Completed, "The maintenance is complete.")
        };
        let ends = next == MaintenanceStatus::Completed;
        let targets: Vec<(i64, String, ComponentStatus)> = if ends {
            released_components(platform, &event)
                .await?
                .into_iter()
                .map(|(id, name)| (id, name, ComponentStatus::Operational))
                .collect()
        } else {
            let names = component_names(platform, row.page_id).await?;
            event
                .component_ids
                .iter()
                .map(|id| {
                    let name = names.get(id).cloned().unwrap_or_default();
                    (*id, name, ComponentStatus::UnderMaintenance)
                })
                .collect()
        };
        let mut tx = platform.db.begin().await?;
        let moved = event_store::update_event(
            &mut *tx,
            row.id,
            &row.status,
            &EventChanges {
                name: &row.name,
                status: next.as_str(),
                impact: Impact::Maintenance,
                postmortem: &row.postmortem,
                scheduled_for: row.scheduled_for,
                scheduled_until: row.scheduled_until,
                monitoring_at: row.monitoring_at,
                resolved_at: ends.then_some(now.as_millis()),
            },
            now,
        )
        .await?;
        if !moved {
            continue; // another node did it
        }
        let changes = apply_statuses(&mut tx, targets, now).await?;
        let update_id = event_store::insert_update(
            &mut *tx,
            row.id,
            next.as_str(),
            text,
            &serde_json::to_string(&changes).map_err(anyhow::Error::from)?,
            true,
            now,
        )
        .await?;
        let notice = Notice {
            page_id: row.page_id,
            event_id: Some(row.id),
            update_id: Some(update_id),
            change: None,
            at: now,
        };
        notices::queue(&mut *tx, &notice, now).await?;
        store::touch_page(&mut *tx, row.page_id, now).await?;
        tx.commit().await?;
        public::forget(row.page_id);
        tracing::info!(
            event_id = row.id,
            status = next.as_str(),
            "maintenance moved on its own"
        );
    }
    Ok(())
}
