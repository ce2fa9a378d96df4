//! The platform's JSON API under `/api/v1`, documented in the OpenAPI document.
//! Request bodies reject unknown fields, so a typo is a clear 422 instead of a silent no-op.

mod admin;
mod audit;
mod auth;
mod health;
mod me;
pub mod openapi;
pub mod stream;
mod teams;
mod users;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::state::Platform;

/// Liveness, readiness and metrics: documented, but outside the API rate limit.
pub fn health_router() -> OpenApiRouter<Platform> {
    use utoipa_axum::routes;
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
}

#[derive(OpenApi)]
#[openapi(
    // The description names the products; `server::app` writes it from what they register.
    info(title = "keel"),
    modifiers(&SecurityAddon),
    components(schemas(crate::http::Problem, crate::domain::FieldError)),
    tags(
        (name = "auth", description = "Sign-in, first-run setup and password resets"),
        (name = "me", description = "The signed-in user: profile, password, sessions, API tokens"),
        (name = "users", description = "User administration (admins)"),
        (name = "teams", description = "Teams and their members"),
        (name = "audit", description = "The audit log (admins)"),
        (name = "admin", description = "Operations: job queue health"),
    )
)]
pub struct PlatformApi;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::http::extract::SESSION_COOKIE,
            ))),
        );
    }
}

/// Every platform API route, with its documentation.
pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::with_openapi(PlatformApi::openapi())
        .merge(auth::router())
        .merge(me::router())
        .merge(users::router())
        .merge(teams::router())
        .merge(audit::router())
        .merge(admin::router())
}
