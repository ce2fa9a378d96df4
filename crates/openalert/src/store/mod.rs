//! OpenAlert's SQL. Plain data access; policy lives in the service modules.

pub mod analytics;
pub mod batch;
pub mod escalation;
pub mod incidents;
pub mod notify;
pub mod retention;
pub mod schedules;
pub mod services;
pub mod status;
pub mod status_events;
pub mod status_subscribers;
pub mod summaries;

pub use keel_platform::store::Executor;

/// Comma-separated integers for an `IN (…)` list (ids are numbers, never text).
pub(crate) fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
