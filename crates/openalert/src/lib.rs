//! OpenAlert: incident response and on-call paging on the keel platform.

mod web;

use keel_platform::db::MigrationSet;
use keel_platform::server::ProductRoutes;

/// OpenAlert's schema (none yet: the first tables arrive with services and incidents).
pub static MIGRATIONS: &[&MigrationSet] = &[];

pub fn routes() -> ProductRoutes {
    ProductRoutes {
        web: Some(web::router()),
        ..ProductRoutes::default()
    }
}
