//! MindfulCRM: a personal relationship CRM on the keel platform.

mod web;

use keel_platform::db::MigrationSet;
use keel_platform::server::ProductRoutes;

/// MindfulCRM's schema (none yet: the first tables arrive with contacts).
pub static MIGRATIONS: &[&MigrationSet] = &[];

pub fn routes() -> ProductRoutes {
    ProductRoutes {
        web: Some(web::router()),
        ..ProductRoutes::default()
    }
}
