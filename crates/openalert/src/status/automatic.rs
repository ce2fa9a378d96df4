//! Components that follow their service: while a high-urgency incident of the linked service is
//! open, such a component takes its automatic status (no text is published); when the last one
//! closes, it goes back to operational — unless someone set its status by hand meanwhile.
//! Run from the engine cycle; each change is a compare-and-set, so any number of nodes may run it.

use keel_platform::{AppResult, Platform};

use super::events::Change;
use super::model::ComponentStatus;
use super::notices::{self, Notice};
use super::public;
use crate::store::status::{self as store, PageKey};

pub async fn reconcile(platform: &Platform) -> AppResult<()> {
    let candidates = store::auto_candidates(platform.db.pool()).await?;
    for c in candidates {
        let (Ok(current), Ok(auto)) = (
            ComponentStatus::parse(&c.status),
            ComponentStatus::parse(&c.auto_status),
        ) else {
            continue;
        };
        let (next, applied) = if c.incident_open == 1 {
            (auto, true)
        } else {
            (ComponentStatus::Operational, false)
        };
        let tells = store::page(platform.db.pool(), PageKey::Id(c.page_id))
            .await?
            .is_some_and(|p| p.notify_component_changes);
        let now = platform.now();
        let mut tx = platform.db.begin().await?;
        if !store::set_automatic_status(&mut tx, c.id, current, next, applied, now).await? {
            continue; // changed meanwhile, by a person or another node
        }
        store::touch_page(&mut *tx, c.page_id, now).await?;
        if tells {
            let notice = Notice {
                page_id: c.page_id,
                event_id: None,
                update_id: None,
                change: Some(Change {
                    component_id: c.id,
                    name: c.name.clone(),
                    old_status: current,
                    new_status: next,
                }),
                at: now,
            };
            notices::queue(&mut *tx, &notice, now).await?;
        }
        tx.commit().await?;
        public::forget(c.page_id);
        tracing::info!(
            component_id = c.id,
            status = next.as_str(),
            "component status followed its service"
        );
    }
    Ok(())
}
