use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{
    Done, FormErrors, PageContext, WebError, WebUser, form_response, notice, render, render_invalid,
};
use crate::accounts;
use crate::http::extract::session_cookie;
use crate::http::{ClientMeta, Principal};
use crate::state::Platform;
use crate::store::accounts::{ApiToken, Session, User};

#[derive(Template)]
#[template(path = "account/index.html")]
struct AccountPage {
    page: PageContext,
    user: User,
    profile_name: String,
    sessions: Vec<Session>,
    /// Id of the session viewing the page (0 when signed in with a token).
    current_session: i64,
    tokens: Vec<ApiToken>,
    new_token: Option<String>,
    errors: FormErrors,
}

async fn account_page(
    platform: &Platform,
    principal: &Principal,
    notice: Option<String>,
    new_token: Option<String>,
    errors: FormErrors,
) -> Result<AccountPage, WebError> {
    Ok(AccountPage {
        page: PageContext::signed_in(principal, "account").with_notice(notice),
        user: principal.user.clone(),
        profile_name: principal.user.name.clone(),
        sessions: accounts::list_sessions(platform, principal).await?,
        current_session: principal.session_id().unwrap_or(0),
        tokens: accounts::list_tokens(platform, principal).await?,
        new_token,
        errors,
    })
}

pub async fn page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    render(
        &account_page(
            &platform,
            &principal,
            notice(q.done.as_deref()),
            None,
            FormErrors::default(),
        )
        .await?,
    )
}

/// Redirect after success; redisplay with inline errors after a validation failure.
async fn after(
    platform: &Platform,
    principal: &Principal,
    result: crate::AppResult<()>,
    done: &str,
) -> Result<Response, WebError> {
    form_response(
        result,
        |()| format!("/account?done={done}"),
        |errors| account_page(platform, principal, None, None, errors),
    )
    .await
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    time_zone: String,
}

pub async fn profile(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<ProfileForm>,
) -> Result<Response, WebError> {
    let result = accounts::update_profile(
        &platform,
        &principal,
        &form.name,
        Some(&form.time_zone),
        &meta,
    )
    .await
    .map(|_| ());
    after(&platform, &principal, result, "profile").await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn password(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let result = accounts::change_password(
        &platform,
        &principal,
        &form.current_password,
        &form.new_password,
        &meta,
    )
    .await;
    after(&platform, &principal, result, "password").await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    password: String,
}

pub async fn delete(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<DeleteForm>,
) -> Result<Response, WebError> {
    match accounts::delete_own_account(&platform, &principal, &form.password, &meta).await {
        Ok(()) => Ok((
            [(header::SET_COOKIE, session_cookie(&platform, None))],
            Redirect::to("/login?done=account-deleted"),
        )
            .into_response()),
        Err(err) => after(&platform, &principal, Err(err), "").await,
    }
}

pub async fn revoke_session(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    accounts::revoke_session(&platform, &principal, id, &meta).await?;
    Ok(Redirect::to("/account?done=session").into_response())
}

pub async fn revoke_all(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
) -> Result<Response, WebError> {
    accounts::revoke_all_sessions(&platform, &principal, &meta).await?;
    Ok((
        [(header::SET_COOKIE, session_cookie(&platform, None))],
        Redirect::to("/login?done=signed-out"),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token_name: String,
}

pub async fn create_token(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<TokenForm>,
) -> Result<Response, WebError> {
    match accounts::create_token(&platform, &principal, &form.token_name, &meta).await {
        // Shown on this response only; never stored in plain text or put in a URL.
        Ok((_, secret)) => render(
            &account_page(
                &platform,
                &principal,
                None,
                Some(secret),
                FormErrors::default(),
            )
            .await?,
        ),
        Err(crate::AppError::Validation(mut errors)) => {
            for e in &mut errors {
                e.field = "token_name".into();
            }
            let errors = FormErrors::from_app_error(crate::AppError::Validation(errors))?;
            render_invalid(&account_page(&platform, &principal, None, None, errors).await?)
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn revoke_token(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    accounts::revoke_token(&platform, &principal, id, &meta).await?;
    Ok(Redirect::to("/account?done=token-revoked").into_response())
}
