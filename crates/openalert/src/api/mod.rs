//! OpenAlert's HTTP API: ingestion endpoints for monitoring tools, and the JSON API for people.

pub mod analytics;
pub mod incidents;
pub mod ingest;
pub mod notifications;
pub mod oncall;
pub mod services;
pub mod status_pages;
