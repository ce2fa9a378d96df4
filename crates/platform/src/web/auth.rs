use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{FormErrors, PageContext, WebError, notice, render, render_invalid, safe_next};
use crate::accounts::{self, NewAccount};
use crate::http::extract::session_cookie;
use crate::http::{ClientMeta, Principal};
use crate::state::Platform;
use crate::store;
use crate::store::teams::Team;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    page: PageContext,
    user_name: String,
    teams: Vec<Team>,
    is_admin: bool,
    cards: Vec<super::home::HomeCard>,
}

pub async fn home(
    State(platform): State<Platform>,
    axum::Extension(panels): axum::Extension<super::home::HomePanels>,
    principal: Option<Principal>,
) -> Result<Response, WebError> {
    let Some(principal) = principal else {
        let target = if accounts::needs_setup(&platform).await? {
            "/setup"
        } else {
            "/login"
        };
        return Ok(Redirect::to(target).into_response());
    };
    let teams = store::teams::list_teams_of_user(platform.db.pool(), principal.user.id)
        .await
        .map_err(crate::AppError::from)?;
    let mut cards = Vec::new();
    for panel in &panels.0 {
        match panel(platform.clone(), principal.clone()).await {
            Ok(Some(card)) => cards.push(card),
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "home card left out"),
        }
    }
    render(&HomePage {
        page: PageContext::signed_in(&principal, "home"),
        user_name: principal.user.name.clone(),
        teams,
        is_admin: principal.user.is_admin(),
        cards,
    })
}

#[derive(Deserialize, Default)]
pub struct SetupForm {
    #[serde(default)]
    setup_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    page: PageContext,
    form: SetupForm,
    errors: FormErrors,
}

pub async fn setup_page(State(platform): State<Platform>) -> Result<Response, WebError> {
    if !accounts::needs_setup(&platform).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    render(&SetupPage {
        page: PageContext::anonymous(),
        form: SetupForm::default(),
        errors: FormErrors::default(),
    })
}

pub async fn setup_submit(
    State(platform): State<Platform>,
    meta: ClientMeta,
    Form(form): Form<SetupForm>,
) -> Result<Response, WebError> {
    let created = accounts::setup_first_admin(
        &platform,
        &form.setup_token,
        NewAccount {
            email: &form.email,
            name: &form.name,
            password: &form.password,
        },
        &meta,
    )
    .await;
    match created {
        Ok(_) => {
            let signed_in = accounts::login(&platform, &form.email, &form.password, &meta).await?;
            Ok(signed_in_redirect(&platform, &signed_in, "/"))
        }
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&SetupPage {
                page: PageContext::anonymous(),
                form,
                errors,
            })
        }
    }
}

fn signed_in_redirect(platform: &Platform, signed_in: &accounts::SignedIn, next: &str) -> Response {
    (
        [(
            header::SET_COOKIE,
            session_cookie(platform, Some(&signed_in.cookie_value)),
        )],
        Redirect::to(safe_next(next)),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    page: PageContext,
    email: String,
    next: String,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    done: Option<String>,
}

pub async fn login_page(
    State(platform): State<Platform>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, WebError> {
    if accounts::needs_setup(&platform).await? {
        return Ok(Redirect::to("/setup").into_response());
    }
    render(&LoginPage {
        page: PageContext::anonymous().with_notice(notice(q.done.as_deref())),
        email: String::new(),
        next: safe_next(q.next.as_deref().unwrap_or("/")).to_string(),
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login_submit(
    State(platform): State<Platform>,
    meta: ClientMeta,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    match accounts::login(&platform, &form.email, &form.password, &meta).await {
        Ok(signed_in) => Ok(signed_in_redirect(&platform, &signed_in, &form.next)),
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&LoginPage {
                page: PageContext::anonymous(),
                email: form.email,
                next: form.next,
                errors,
            })
        }
    }
}

pub async fn logout(
    State(platform): State<Platform>,
    principal: Option<Principal>,
    meta: ClientMeta,
) -> Result<Response, WebError> {
    if let Some(principal) = principal {
        accounts::logout(&platform, &principal, &meta).await?;
    }
    Ok((
        [(header::SET_COOKIE, session_cookie(&platform, None))],
        Redirect::to("/login?done=signed-out"),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    page: PageContext,
    email: String,
    sent: bool,
    errors: FormErrors,
}

pub async fn forgot_page() -> Result<Response, WebError> {
    render(&ForgotPage {
        page: PageContext::anonymous(),
        email: String::new(),
        sent: false,
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

pub async fn forgot_submit(
    State(platform): State<Platform>,
    meta: ClientMeta,
    Form(form): Form<ForgotForm>,
) -> Result<Response, WebError> {
    match accounts::request_password_reset(&platform, &form.email, &meta).await {
        Ok(()) => render(&ForgotPage {
            page: PageContext::anonymous(),
            email: form.email,
            sent: true,
            errors: FormErrors::default(),
        }),
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&ForgotPage {
                page: PageContext::anonymous(),
                email: form.email,
                sent: false,
                errors,
            })
        }
    }
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    page: PageContext,
    token: String,
    /// Opened from an invitation: the account has no password of its owner's yet.
    welcome: bool,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
pub struct ResetQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    welcome: Option<String>,
}

pub async fn reset_page(Query(q): Query<ResetQuery>) -> Result<Response, WebError> {
    render(&ResetPage {
        page: PageContext::anonymous(),
        token: q.token,
        welcome: q.welcome.is_some(),
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    welcome: Option<String>,
}

pub async fn reset_submit(
    State(platform): State<Platform>,
    meta: ClientMeta,
    Form(form): Form<ResetForm>,
) -> Result<Response, WebError> {
    match accounts::confirm_password_reset(&platform, &form.token, &form.password, &meta).await {
        Ok(_) => Ok(Redirect::to("/login?done=reset").into_response()),
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&ResetPage {
                page: PageContext::anonymous(),
                token: form.token,
                welcome: form.welcome.is_some(),
                errors,
            })
        }
    }
}
