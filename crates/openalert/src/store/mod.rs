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
