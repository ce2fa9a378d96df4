//! The MindfulCRM dashboard: who is due for a reconnect (with the assistant's suggested next
//! touch when it is on), tasks due, upcoming events, goals and recent interactions.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use keel_platform::Platform;
use keel_platform::http::Principal;
use keel_platform::web::{PageContext, WebError, WebUser, render};

use super::goals;
use crate::activity::{self, Interaction, Task};
use crate::contacts::{self, Contact};
use crate::domain::TaskStatus;
use crate::store;

#[derive(Template)]
#[template(path = "mindfulcrm/dashboard.html")]
struct DashboardPage {
    page: PageContext,
    tab: &'static str,
    due: Vec<Contact>,
    tasks: Vec<Task>,
    recent: Vec<Interaction>,
    contact_count: usize,
    upcoming: Vec<crate::calendar::Event>,
    goal_chart: Option<String>,
    /// The assistant's suggestions for the first due contacts (when it is on).
    touches: Vec<TouchView>,
}

struct TouchView {
    contact_id: i64,
    name: String,
    suggestion: Option<crate::ai::contact_texts::NextTouch>,
    message: String,
}

/// Suggested next touches for the first three due contacts; none when the assistant is off.
async fn touches(platform: &Platform, principal: &Principal, due: &[Contact]) -> Vec<TouchView> {
    use crate::ai::contact_texts::{NextTouch, TextKind, for_page};
    let mut out = Vec::new();
    if due.is_empty()
        || !crate::ai::is_on(platform, principal.user.id)
            .await
            .unwrap_or(false)
    {
        return out;
    }
    for c in due.iter().take(3) {
        let Some(text) = for_page(platform, principal, c.id, TextKind::NextTouch).await else {
            continue;
        };
        out.push(TouchView {
            contact_id: c.id,
            name: c.display_name.clone(),
            suggestion: text.text.as_deref().map(NextTouch::parse),
            message: text.message.unwrap_or_default(),
        });
    }
    out
}

pub(super) async fn dashboard(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    let now = platform.now();
    // Independent reads, run side by side: the page waits for the slowest, not for their sum.
    let due = contacts::list(
        &platform,
        &principal,
        store::ContactQuery {
            due_at: Some(now.as_millis()),
            least_recent_first: true,
            limit: 12,
            ..Default::default()
        },
    );
    let tasks = activity::list_tasks(&platform, &principal, Some(TaskStatus::Open), None);
    let recent = activity::list_interactions(&platform, &principal, None, None, 10);
    let upcoming = crate::calendar::list(
        &platform,
        &principal,
        now,
        now.plus(std::time::Duration::from_secs(7 * 86_400)),
        None,
    );
    let goals = crate::goals::list(&platform, &principal, 0);
    let any_contact = contacts::list(
        &platform,
        &principal,
        store::ContactQuery {
            limit: 1,
            ..Default::default()
        },
    );
    let ((due, _), tasks, recent, mut upcoming, goals, (all, _)) =
        tokio::try_join!(due, tasks, recent, upcoming, goals, any_contact)?;
    let end_of_today = now.as_millis() + 86_400_000;
    let tasks = tasks
        .into_iter()
        .filter(|t| t.due_at.is_some_and(|d| d.as_millis() < end_of_today))
        .collect();
    upcoming.truncate(8);
    let goal_chart = (!goals.is_empty()).then(|| goals::progress_chart(&goals));
    let touches = touches(&platform, &principal, &due).await;
    render(&DashboardPage {
        page: PageContext::signed_in(&principal, "crm"),
        tab: "dashboard",
        due,
        tasks,
        recent,
        contact_count: all.len(),
        upcoming,
        goal_chart,
        touches,
    })
}
