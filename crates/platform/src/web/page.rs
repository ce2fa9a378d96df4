//! What every page shares: the signed-in user extractor, navigation, form errors, friendly
//! error pages and static assets.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::domain::FieldError;
use crate::error::AppError;
use crate::http::Principal;
use crate::state::Platform;

/// The signed-in user of a page; anonymous visitors are sent to sign in (or to first-run setup).
pub struct WebUser(pub Principal);

impl FromRequestParts<Platform> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, platform: &Platform) -> Result<Self, Response> {
        match Principal::from_request_parts(parts, platform).await {
            Ok(p) => Ok(Self(p)),
            Err(AppError::Unauthenticated) => {
                if crate::accounts::needs_setup(platform)
                    .await
                    .unwrap_or(false)
                {
                    return Err(Redirect::to("/setup").into_response());
                }
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let target = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Err(Redirect::to(&target).into_response())
            }
            Err(e) => Err(WebError::from(e).into_response()),
        }
    }
}

/// The navigation bar's view of the user.
pub struct Nav {
    pub name: String,
    pub is_admin: bool,
    /// The products' entries, as they registered them.
    pub products: &'static [ProductLink],
}

impl Nav {
    pub fn of(principal: &Principal) -> Option<Self> {
        Some(Self {
            name: principal.user.name.clone(),
            is_admin: principal.user.is_admin(),
            products: PRODUCTS.get().map_or(&[], Vec::as_slice),
        })
    }
}

/// A product's entry in the top navigation; pages of the product set `section` to mark it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductLink {
    pub href: &'static str,
    pub label: &'static str,
    pub section: &'static str,
}

/// The products of this binary: one set per process, so the first registration holds.
static PRODUCTS: std::sync::OnceLock<Vec<ProductLink>> = std::sync::OnceLock::new();

pub fn register_products(links: Vec<ProductLink>) {
    let _ = PRODUCTS.set(links);
}

/// What every page's frame needs: the navigation (signed in or not), the section it marks and
/// a one-line notice. Every page template holds one as `page`; `base.html` reads it.
pub struct PageContext {
    pub nav: Option<Nav>,
    pub section: &'static str,
    pub notice: Option<String>,
    /// The zone the page's times are shown in (a schedule's, the user's), when it says one;
    /// otherwise the reader's browser decides.
    pub time_zone: Option<String>,
}

impl PageContext {
    /// A page for the signed-in `principal` in `section` (a product's section, "admin", "account").
    pub fn signed_in(principal: &Principal, section: &'static str) -> Self {
        Self {
            nav: Nav::of(principal),
            section,
            notice: None,
            time_zone: None,
        }
    }

    /// A page without navigation: sign-in, setup, one-click links, public pages, errors.
    pub fn anonymous() -> Self {
        Self {
            nav: None,
            section: "",
            notice: None,
            time_zone: None,
        }
    }

    /// Shows the page's times in `zone` (the page also says which zone it is).
    pub fn in_time_zone(mut self, zone: &str) -> Self {
        self.time_zone = Some(zone.to_string());
        self
    }

    /// Adds the one-line notice shown above the content (e.g. after a redirect).
    pub fn with_notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }
}

/// Field errors of a submitted form, by field name.
#[derive(Default)]
pub struct FormErrors(HashMap<String, String>);

impl FormErrors {
    pub fn contains_key(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Messages of every field whose name starts with `prefix` (e.g. one row of a list).
    pub fn with_prefix(&self, prefix: &str) -> Vec<String> {
        self.fields_with_prefix(prefix)
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    /// (field, message) of every field whose name starts with `prefix`, by field name.
    pub fn fields_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = self
            .0
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, m)| (k.clone(), m.clone()))
            .collect();
        found.sort();
        found
    }

    /// Errors to show inline from a failed operation; anything that is not a field problem
    /// becomes a form-level message, internal errors become a `WebError`.
    pub fn from_app_error(err: AppError) -> Result<Self, WebError> {
        let mut map = HashMap::new();
        match err {
            AppError::Validation(errors) => {
                for FieldError { field, message } in errors {
                    map.entry(field).or_insert(message);
                }
            }
            AppError::InvalidCredentials
            | AppError::Conflict(_)
            | AppError::BadRequest(_)
            | AppError::Forbidden(_) => {
                map.insert("form".into(), err.to_string());
            }
            AppError::RateLimited(retry) => {
                map.insert(
                    "form".into(),
                    format!(
                        "Too many attempts. Try again in {} seconds.",
                        retry.seconds()
                    ),
                );
            }
            other => return Err(WebError::from(other)),
        }
        Ok(Self(map))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: PageContext,
    heading: String,
    message: String,
}

/// An error shown to a person as a page, never as a stack trace.
pub struct WebError(StatusCode, String, String);

impl WebError {
    /// An error page with a title and an explanation.
    pub fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self(status, title.into(), message.into())
    }
}

impl From<AppError> for WebError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::NotFound(what) => Self(
                StatusCode::NOT_FOUND,
                "Not found".into(),
                format!("This {what} does not exist, or you cannot see it."),
            ),
            AppError::Forbidden(why) => Self(
                StatusCode::FORBIDDEN,
                "Not allowed".into(),
                format!("Sorry: {why}."),
            ),
            AppError::RateLimited(retry) => Self(
                StatusCode::TOO_MANY_REQUESTS,
                "Slow down".into(),
                format!(
                    "Too many requests. Try again in {} seconds.",
                    retry.seconds()
                ),
            ),
            AppError::Internal(e) => {
                tracing::error!(error = ?e, "internal error on a page");
                Self(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong".into(),
                    "Something went wrong on our side. It has been logged; please try again."
                        .into(),
                )
            }
            other => Self(
                StatusCode::BAD_REQUEST,
                "That did not work".into(),
                other.to_string(),
            ),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(err: askama::Error) -> Self {
        WebError::from(AppError::Internal(err.into()))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            page: PageContext::anonymous(),
            heading: self.1,
            message: self.2,
        };
        match page.render() {
            Ok(html) => (self.0, Html(html)).into_response(),
            Err(_) => (self.0, "error").into_response(),
        }
    }
}

pub fn not_found_page() -> WebError {
    WebError(
        StatusCode::NOT_FOUND,
        "Page not found".into(),
        "There is no page at this address.".into(),
    )
}

/// Renders a template into a response.
pub fn render(template: &impl Template) -> Result<Response, WebError> {
    Ok(Html(template.render()?).into_response())
}

/// Renders a page that redisplays a form with errors (422, so scripts can tell).
pub fn render_invalid(template: &impl Template) -> Result<Response, WebError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(template.render()?)).into_response())
}

/// The answer to a submitted form: on success, a redirect to the address `to` makes of the
/// result; when the input was refused, the page again (built by `again`) with the errors inline.
pub async fn form_response<T, P, E, Fut>(
    result: crate::AppResult<T>,
    to: impl FnOnce(T) -> String,
    again: impl FnOnce(FormErrors) -> Fut,
) -> Result<Response, WebError>
where
    P: Template,
    E: Into<WebError>,
    Fut: std::future::Future<Output = Result<P, E>>,
{
    match result {
        Ok(value) => Ok(Redirect::to(&to(value)).into_response()),
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&again(errors).await.map_err(Into::into)?)
        }
    }
}

/// Only same-site relative paths may be redirect targets (no open redirects).
pub fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/"
    }
}

#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
struct Assets;

pub async fn static_asset(Path(path): Path<String>) -> Response {
    match Assets::get(&path) {
        Some(file) => {
            let mime = match path.rsplit('.').next() {
                Some("css") => "text/css; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("svg") => "image/svg+xml",
                _ => "application/octet-stream",
            };
            let mut response = file.data.into_owned().into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            response
        }
        None => not_found_page().into_response(),
    }
}

/// A fixed message for `?done=...` after a redirect (never echoes the query string).
pub fn notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "profile" => "Your name was saved.",
        "password" => "Password changed. Your other sessions were signed out.",
        "session" => "That session was signed out.",
        "token-revoked" => "The token was revoked.",
        "user" => "User saved.",
        "user-invited" => "User added. An invitation to choose a password was e-mailed.",
        "team" => "Team saved.",
        "member" => "Membership saved.",
        "member-removed" => "Member removed.",
        "job-retried" => "The job is back in the queue.",
        "job-discarded" => "The job was discarded.",
        "reset" => "Your password was changed. Sign in with it now.",
        "signed-out" => "You are signed out.",
        "account-deleted" => "Your account and all of its data were deleted.",
        _ => return None,
    };
    Some(text.to_string())
}

#[derive(serde::Deserialize, Default)]
pub struct Done {
    pub done: Option<String>,
}
