//! On-call pages: who is on call now, schedules with a two-week timeline and editor,
//! escalation policies, one's own contact methods and rules, and the confirmation page behind
//! the one-click links in notifications.

mod my_notifications;
mod one_click;
mod overview;
mod policies;
mod schedule;

use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use keel_platform::{AppError, AppResult, Platform};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/openalert/oncall", get(oncall_page))
        .route("/openalert/schedules", post(create_schedule))
        .route(
            "/openalert/schedules/{id}",
            get(schedule_page).post(update_schedule),
        )
        .route("/openalert/schedules/{id}/delete", post(delete_schedule))
        .route("/openalert/schedules/{id}/overrides", post(create_override))
        .route(
            "/openalert/schedules/{id}/overrides/{override_id}/delete",
            post(delete_override),
        )
        .route(
            "/openalert/schedules/{id}/feed/{action}",
            post(schedule_feed),
        )
        .route("/openalert/policies", post(create_policy))
        .route("/openalert/policies/new", get(new_policy))
        .route(
            "/openalert/policies/{id}",
            get(policy_page).post(update_policy),
        )
        .route("/openalert/policies/{id}/delete", post(delete_policy))
        .route("/openalert/me", get(me_page))
        .route("/openalert/me/methods", post(add_method))
        .route("/openalert/me/methods/{id}/{action}", post(method_action))
        .route("/openalert/me/rules", post(add_rule))
        .route("/openalert/me/rules/{id}/delete", post(delete_rule))
        .route("/openalert/me/feed/{action}", post(my_feed))
        .route("/openalert/act/{token}", get(act_confirm).post(act))
}

type Fields = Vec<(String, String)>;

fn field<'a>(form: &'a Fields, name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

fn all<'a>(form: &'a Fields, name: &str) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn redirect(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Users by id, with names and emails, for labels and for reading participant lists.
struct Directory(Vec<(i64, String, String)>);

impl Directory {
    async fn load(platform: &Platform) -> AppResult<Self> {
        Ok(Self(
            keel_platform::accounts::directory(platform)
                .await?
                .into_iter()
                .filter(|u| u.disabled_at.is_none())
                .map(|u| (u.id, u.name, u.email))
                .collect(),
        ))
    }

    fn name(&self, id: i64) -> String {
        self.0
            .iter()
            .find(|u| u.0 == id)
            .map(|u| u.1.clone())
            .unwrap_or_else(|| format!("user {id}"))
    }

    fn email(&self, id: i64) -> String {
        self.0
            .iter()
            .find(|u| u.0 == id)
            .map(|u| u.2.clone())
            .unwrap_or_default()
    }

    /// Reads "one email (or exact name) per line or comma" into ids, in order.
    fn parse(&self, text: &str, field: &str) -> AppResult<Vec<i64>> {
        let mut ids = Vec::new();
        for token in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let found = self
                .0
                .iter()
                .find(|u| u.2.eq_ignore_ascii_case(token) || u.1 == token)
                .ok_or_else(|| {
                    AppError::field(field, format!("no active user `{token}` (use their email)"))
                })?;
            ids.push(found.0);
        }
        Ok(ids)
    }
}

const PALETTE: &[&str] = &[
    "#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4d7c0f", "#db2777",
];

fn color(user_id: i64) -> &'static str {
    PALETTE[(user_id.unsigned_abs() as usize) % PALETTE.len()]
}

use my_notifications::*;
use one_click::*;
pub use overview::*;
use policies::*;
use schedule::*;
