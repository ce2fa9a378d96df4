use askama::Template;
use axum::Router;
use axum::response::Response;
use axum::routing::get;
use keel_platform::Platform;
use keel_platform::web::{Nav, WebError, WebUser, render};

pub fn router() -> Router<Platform> {
    Router::new().route("/openalert", get(index))
}

#[derive(Template)]
#[template(path = "openalert/index.html")]
struct IndexPage {
    nav: Option<Nav>,
    section: &'static str,
    notice: Option<String>,
}

async fn index(WebUser(principal): WebUser) -> Result<Response, WebError> {
    render(&IndexPage {
        nav: Nav::of(&principal),
        section: "openalert",
        notice: None,
    })
}
