//! OpenAlert: incident response and on-call paging on the keel platform.
//!
//! `domain` holds the rules and the readers of monitoring tools' formats, `store` the SQL,
//! `catalog` / `incidents` / `ingest` the operations, `engine` the background cycle, `api`
//! and `web` the HTTP surfaces.

pub mod api;
pub mod catalog;
pub mod domain;
pub mod engine;
pub mod incidents;
pub mod ingest;
pub mod store;
mod web;

use keel_platform::Platform;
use keel_platform::db::MigrationSet;
use keel_platform::server::ProductRoutes;

/// OpenAlert's schema.
pub static MIGRATIONS: &[&MigrationSet] = &[&SCHEMA];
static SCHEMA: MigrationSet = keel_platform::migrations!("openalert", "0001_incidents" => 2001);

/// OpenAlert's routes; starts this node's ingestion writer.
pub fn routes(platform: &Platform) -> ProductRoutes {
    let ingestor = ingest::Ingestor::start(platform.clone());
    ProductRoutes {
        api: Some(api::services::router().merge(api::incidents::router())),
        machine: Some(api::ingest::router(ingestor)),
        web: Some(web::router()),
    }
}
