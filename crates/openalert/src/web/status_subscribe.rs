//! A visitor's e-mail subscription to a status page: the subscribe form's answer, and the page
//! its links open (confirm, choose components, unsubscribe). Opening a link changes nothing;
//! only its buttons do, so mail scanners that follow links cannot confirm or unsubscribe. The
//! unsubscribe address also takes RFC 8058 one-click posts from mail providers.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::web::WebError;
use keel_platform::{AppError, Platform};

use crate::status::public::{self, PublicView};
use crate::status::subscribers;
use crate::store::status::{PageKey, StatusPage};
use crate::store::status_subscribers::Subscriber;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/status/{slug}/subscribe", post(subscribe))
        .route("/status/{slug}/subscription/{token}", get(manage))
        .route("/status/{slug}/subscription/{token}/confirm", post(confirm))
        .route(
            "/status/{slug}/subscription/{token}/components",
            post(components),
        )
        .route(
            "/status/{slug}/subscription/{token}/unsubscribe",
            post(unsubscribe),
        )
}

#[derive(Template)]
#[template(path = "openalert/status/subscription.html")]
struct SubscriptionPage<'a> {
    view: &'a PublicView,
    base: String,
    heading: &'static str,
    message: Option<&'static str>,
    error: Option<String>,
    subscriber: Option<Subscriber>,
    token: String,
}

async fn page_of(
    platform: &Platform,
    slug: &str,
    viewer: &Result<Principal, AppError>,
) -> Result<StatusPage, WebError> {
    Ok(public::find_page(platform, PageKey::Slug(slug), viewer.as_ref().ok()).await?)
}

/// The page of a subscription link: the signed token is the entitlement (a private page's
/// subscriber unsubscribes from a mail program, signed out).
async fn linked_page(platform: &Platform, slug: &str) -> Result<StatusPage, WebError> {
    Ok(
        crate::store::status::page(platform.db.pool(), PageKey::Slug(slug))
            .await
            .map_err(AppError::from)?
            .ok_or(AppError::NotFound("status page"))?,
    )
}

/// Renders the subscription page with `status`.
async fn show(
    platform: &Platform,
    page: StatusPage,
    status: StatusCode,
    fill: impl FnOnce(&mut SubscriptionPage<'_>),
) -> Result<Response, WebError> {
    let view = public::view(platform, page).await?;
    let mut template = SubscriptionPage {
        base: format!("/status/{}", view.page.slug),
        view: &view,
        heading: "Your subscription",
        message: None,
        error: None,
        subscriber: None,
        token: String::new(),
    };
    fill(&mut template);
    Ok((status, Html(template.render()?)).into_response())
}

/// The fields of a form body; `component` may repeat.
fn form_fields(body: &str) -> (Option<String>, Vec<i64>) {
    let mut email = None;
    let mut components = Vec::new();
    for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
        match key.as_ref() {
            "email" => email = Some(value.into_owned()),
            "component" => components.extend(value.parse::<i64>().ok()),
            _ => {}
        }
    }
    (email, components)
}

async fn subscribe(
    State(platform): State<Platform>,
    viewer: Result<Principal, AppError>,
    meta: ClientMeta,
    Path(slug): Path<String>,
    body: String,
) -> Result<Response, WebError> {
    let page = page_of(&platform, &slug, &viewer).await?;
    let (email, components) = form_fields(&body);
    let result = subscribers::subscribe_email(
        &platform,
        &page,
        email.as_deref().unwrap_or_default(),
        &components,
        Some(meta.ip),
    )
    .await;
    match result {
        Ok(()) => {
            show(&platform, page, StatusCode::OK, |p| {
                p.heading = "Check your inbox";
                p.message = Some(
                    "If the address can receive mail, a message with a link is on its way. \
                     Nothing is sent to it until the link is used.",
                );
            })
            .await
        }
        Err(AppError::Validation(errors)) => {
            let message = errors
                .iter()
                .map(|e| format!("{}: {}", e.field.replace('_', " "), e.message))
                .collect::<Vec<_>>()
                .join("; ");
            show(&platform, page, StatusCode::UNPROCESSABLE_ENTITY, |p| {
                p.heading = "That did not work";
                p.error = Some(message);
            })
            .await
        }
        Err(other) => Err(other.into()),
    }
}

async fn manage(
    State(platform): State<Platform>,
    Path((slug, token)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let page = linked_page(&platform, &slug).await?;
    let subscriber = subscribers::by_token(&platform, &page, &token).await?;
    show(&platform, page, StatusCode::OK, |p| {
        if subscriber.confirmed_at.is_none() {
            p.heading = "Confirm your subscription";
        }
        p.subscriber = Some(subscriber);
        p.token = token;
    })
    .await
}

async fn confirm(
    State(platform): State<Platform>,
    Path((slug, token)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let page = linked_page(&platform, &slug).await?;
    subscribers::confirm(&platform, &page, &token).await?;
    Ok(Redirect::to(&format!("/status/{slug}/subscription/{token}")).into_response())
}

async fn components(
    State(platform): State<Platform>,
    Path((slug, token)): Path<(String, String)>,
    body: String,
) -> Result<Response, WebError> {
    let page = linked_page(&platform, &slug).await?;
    let (_, chosen) = form_fields(&body);
    subscribers::choose_components(&platform, &page, &token, &chosen).await?;
    Ok(Redirect::to(&format!("/status/{slug}/subscription/{token}")).into_response())
}

async fn unsubscribe(
    State(platform): State<Platform>,
    Path((slug, token)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let page = linked_page(&platform, &slug).await?;
    subscribers::unsubscribe(&platform, &page, &token).await?;
    show(&platform, page, StatusCode::OK, |p| {
        p.heading = "Unsubscribed";
        p.message = Some("You will not hear from this status page again.");
    })
    .await
}
