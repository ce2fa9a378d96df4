//! Assembles the HTTP application from the platform's routes and the products' routes, and
//! serves it with graceful shutdown.

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::http::middleware;
use crate::http::problem::Problem;
use crate::state::Platform;

pub use crate::http::MAX_BODY_BYTES;
pub use crate::web::ProductLink;
use crate::web::home::HomePanels;
pub use crate::web::home::{HomeCard, HomePanel};

/// The routes one product contributes.
#[derive(Default)]
pub struct ProductRoutes {
    /// Documented JSON API routes (under `/api/v1/...`), rate limited per token / IP.
    pub api: Option<OpenApiRouter<Platform>>,
    /// HTML pages.
    pub web: Option<Router<Platform>>,
    /// Routes called by machines (alert ingestion), with their own limits; documented.
    pub machine: Option<OpenApiRouter<Platform>>,
    /// A card on the home page.
    pub home: Option<HomePanel>,
    /// Its entry in the top navigation.
    pub nav: Option<ProductLink>,
    /// What it is, for the API document's description: `OpenAlert (incident response …)`.
    pub summary: Option<&'static str>,
    /// Tags its API operations use, with their descriptions.
    pub api_tags: &'static [(&'static str, &'static str)],
    /// Host names it serves on their own (e.g. a status page's domain).
    pub hosts: Option<HostPrefix>,
    /// The Prometheus metrics it exports, described on `/metrics` from the start.
    pub metrics: &'static [crate::observability::MetricInfo],
}

pub use crate::http::middleware::HostPrefix;

/// The whole application and its OpenAPI document.
pub fn app(platform: Platform, products: Vec<ProductRoutes>) -> Router {
    let mut api = crate::api::router().routes(routes!(crate::api::stream::stream));
    let mut machine = OpenApiRouter::new();
    let mut web = crate::web::router();
    let mut panels = HomePanels::default();
    let mut links = Vec::new();
    let mut summaries = Vec::new();
    let mut tags = Vec::new();
    let mut hosts = Vec::new();
    crate::observability::describe(crate::observability::PLATFORM_METRICS);
    for product in products {
        crate::observability::describe(product.metrics);
        hosts.extend(product.hosts);
        if let Some(panel) = product.home {
            panels.0.push(panel);
        }
        links.extend(product.nav);
        summaries.extend(product.summary);
        tags.extend_from_slice(product.api_tags);
        if let Some(r) = product.api {
            api = api.merge(r);
        }
        if let Some(r) = product.machine {
            machine = machine.merge(r);
        }
        if let Some(r) = product.web {
            web = web.merge(r);
        }
    }
    let (api_router, mut openapi) = api
        .layer(from_fn_with_state(
            platform.clone(),
            middleware::api_rate_limit,
        ))
        .split_for_parts();
    let (machine_router, machine_doc) = machine.split_for_parts();
    openapi.merge(machine_doc);
    let (health_router, health_doc) = crate::api::health_router().split_for_parts();
    openapi.merge(health_doc);
    crate::api::openapi::describe_products(&mut openapi, &summaries, &tags);
    crate::api::openapi::finish(&mut openapi);
    crate::web::register_products(links);

    let router = Router::new()
        .merge(api_router)
        .merge(machine_router)
        .merge(
            web.method_not_allowed_fallback(form_address_opened)
                .layer(axum::Extension(panels)),
        )
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .merge(health_router)
        .fallback(not_found)
        .layer(from_fn(middleware::record_metrics));

    let router: Router = router
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(middleware::cross_origin_guard))
        .layer(from_fn(middleware::header_size_limit))
        .layer(from_fn_with_state(
            platform.clone(),
            middleware::security_headers,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            platform.config.request_timeout,
        ))
        .layer(from_fn(middleware::problem_for_bare_errors))
        // Archives are compressed already; gzip would only spend CPU on them.
        .layer(CompressionLayer::new().compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new("application/zip")),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "something went wrong on our side; it has been logged".to_string(),
            )
            .into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .with_state(platform.clone());
    if hosts.is_empty() {
        return router;
    }
    // Rewriting the path has to happen before routing, so it wraps the routed app.
    let by_host = tower::Layer::layer(
        &from_fn_with_state(
            (platform, std::sync::Arc::new(hosts)),
            middleware::route_by_host,
        ),
        router,
    );
    Router::new().fallback_service(by_host)
}

/// A page address opened with the wrong method, typically a form's target opened as a link or
/// reloaded: an error page that says what happened, not a bare 405.
async fn form_address_opened(method: axum::http::Method) -> Response {
    let message = if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        "This address receives a form; go back to the page the form is on."
    } else {
        "This page cannot be sent to that way."
    };
    crate::web::WebError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Nothing to show here",
        message,
    )
    .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/")
        || crate::http::middleware::MACHINE_PATH_PREFIXES
            .iter()
            .any(|p| uri.path().starts_with(p))
    {
        Problem::new(
            StatusCode::NOT_FOUND,
            format!("no such endpoint: {}", uri.path()),
        )
        .into_response()
    } else {
        crate::web::not_found_page().into_response()
    }
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
