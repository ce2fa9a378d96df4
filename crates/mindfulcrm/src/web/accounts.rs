//! Settings → Connected accounts: add a mailbox (with "Test connection"), see each one's sync
//! state, sync now, disconnect; the suggested contacts found in sent mail; subscribed
//! calendar feeds; and CalDAV accounts with the calendars to read.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use keel_platform::http::Principal;
use keel_platform::web::{
    FormErrors, PageContext, WebError, WebUser, form_response, render, render_invalid,
};
use keel_platform::{AppResult, Platform};
use serde::Deserialize;

use super::redirect;
use crate::caldav::{self, CalDavAccount, CalDavAccountInput, CalendarSelection};
use crate::calendar_feeds::{self, CalendarFeed, CalendarFeedInput};
use crate::mailbox::{self, ConnectionCheck, MailAccount, MailAccountInput, SuggestedContact};

pub fn router() -> Router<Platform> {
    Router::new()
        .route(
            "/crm/settings/accounts",
            get(accounts_page).post(add_account),
        )
        .route("/crm/settings/accounts/test", post(test_account))
        .route("/crm/settings/accounts/{id}/sync", post(sync_account))
        .route("/crm/settings/accounts/{id}/remove", post(remove_account))
        .route("/crm/settings/suggestions/{action}", post(suggestion))
        .route("/crm/settings/feeds", post(add_feed))
        .route("/crm/settings/feeds/{id}/{action}", post(feed_action))
        .route("/crm/settings/caldav", post(add_caldav))
        .route(
            "/crm/settings/caldav/{id}/calendars",
            post(select_calendars),
        )
        .route("/crm/settings/caldav/{id}/{action}", post(caldav_action))
}

#[derive(Template)]
#[template(path = "mindfulcrm/accounts.html")]
struct AccountsPage {
    page: PageContext,
    tab: &'static str,
    accounts: Vec<MailAccount>,
    suggestions: Vec<SuggestedContact>,
    form: AccountForm,
    errors: FormErrors,
    check: Option<ConnectionCheck>,
    feeds: Vec<CalendarFeed>,
    feed_form: CalendarFeedInput,
    feed_errors: FormErrors,
    caldav: Vec<CalDavAccount>,
    caldav_form: CalDavAccountInput,
    caldav_errors: FormErrors,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct AccountForm {
    pub address: String,
    pub host: String,
    pub port: String,
    pub tls: String,
    pub username: String,
    pub password: String,
    /// One folder per line.
    pub folders: String,
    pub backfill_days: String,
    /// A checked box sends `on`.
    pub keep_bodies: Option<String>,
}

impl AccountForm {
    fn input(&self) -> AppResult<MailAccountInput> {
        let number = |field: &str, raw: &str| -> AppResult<Option<i64>> {
            match raw.trim() {
                "" => Ok(None),
                raw => raw
                    .parse()
                    .map(Some)
                    .map_err(|_| keel_platform::AppError::field(field, "must be a whole number")),
            }
        };
        let port = number("port", &self.port)?
            .map(|p| {
                u16::try_from(p).map_err(|_| {
                    keel_platform::AppError::field("port", "must be between 1 and 65535")
                })
            })
            .transpose()?;
        Ok(MailAccountInput {
            address: self.address.clone(),
            host: self.host.clone(),
            port,
            tls: self.tls.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            folders: self.folders.lines().map(str::to_string).collect(),
            backfill_days: number("backfill_days", &self.backfill_days)?,
            keep_bodies: self.keep_bodies.is_some(),
        })
    }

    /// The form to show again: everything but the password.
    fn without_password(mut self) -> Self {
        self.password.clear();
        self
    }
}

async fn view(
    platform: &Platform,
    principal: &Principal,
    form: AccountForm,
    errors: FormErrors,
    check: Option<ConnectionCheck>,
    notice: Option<String>,
) -> Result<AccountsPage, WebError> {
    Ok(AccountsPage {
        page: PageContext::signed_in(principal, "crm").with_notice(notice),
        tab: "accounts",
        accounts: mailbox::list(platform, principal).await?,
        suggestions: mailbox::suggestions(platform, principal).await?,
        form: form.without_password(),
        errors,
        check,
        feeds: calendar_feeds::list(platform, principal).await?,
        feed_form: CalendarFeedInput::default(),
        feed_errors: FormErrors::default(),
        caldav: caldav::list(platform, principal).await?,
        caldav_form: CalDavAccountInput::default(),
        caldav_errors: FormErrors::default(),
    })
}

/// The page with no form filled in, for a form further down to fill its own part.
async fn blank(platform: &Platform, principal: &Principal) -> Result<AccountsPage, WebError> {
    view(
        platform,
        principal,
        AccountForm::default(),
        FormErrors::default(),
        None,
        None,
    )
    .await
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "added" => "Mail account added. The first sync has started.",
        "sync" => "Sync started.",
        "removed" => "Mail account disconnected; its password was deleted.",
        "accepted" => "Contact created, with the mail you exchanged on their timeline.",
        "ignored" => "That address will not be suggested again.",
        "feed-added" => "Subscribed. The feed is being read now.",
        "feed-refresh" => "The feed is being read again.",
        "feed-removed" => "Unsubscribed; the feed's events were removed.",
        "caldav-added" => "CalDAV account added. Its calendars are being read now.",
        "caldav-sync" => "Sync started.",
        "caldav-saved" => "Calendar choice saved; reading them now.",
        "caldav-removed" => "CalDAV account disconnected; its password and events were removed.",
        _ => return None,
    };
    Some(text.to_string())
}

async fn accounts_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let form = AccountForm {
        tls: "implicit".into(),
        backfill_days: "365".into(),
        ..AccountForm::default()
    };
    render(
        &view(
            &platform,
            &principal,
            form,
            FormErrors::default(),
            None,
            notice(q.done.as_deref()),
        )
        .await?,
    )
}

async fn add_account(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    let added = async { mailbox::add(&platform, &principal, &form.input()?).await }.await;
    form_response(
        added,
        |_| "/crm/settings/accounts?done=added".into(),
        |errors| view(&platform, &principal, form, errors, None, None),
    )
    .await
}

async fn test_account(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    let checked = async { mailbox::test_connection(&platform, &form.input()?).await }.await;
    match checked {
        Ok(check) => render(
            &view(
                &platform,
                &principal,
                form,
                FormErrors::default(),
                Some(check),
                None,
            )
            .await?,
        ),
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&view(&platform, &principal, form, errors, None, None).await?)
        }
    }
}

async fn sync_account(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    mailbox::sync_now(&platform, &principal, id).await?;
    Ok(redirect("/crm/settings/accounts?done=sync"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RemoveForm {
    delete_interactions: Option<String>,
}

async fn remove_account(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Form(form): Form<RemoveForm>,
) -> Result<Response, WebError> {
    mailbox::remove(
        &platform,
        &principal,
        id,
        form.delete_interactions.is_some(),
    )
    .await?;
    Ok(redirect("/crm/settings/accounts?done=removed"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SuggestionForm {
    address: String,
}

async fn suggestion(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(action): Path<String>,
    Form(form): Form<SuggestionForm>,
) -> Result<Response, WebError> {
    match action.as_str() {
        "accept" => {
            let contact = mailbox::accept_suggestion(&platform, &principal, &form.address).await?;
            Ok(redirect(&format!("/crm/contacts/{}", contact.id)))
        }
        "ignore" => {
            mailbox::ignore_suggestion(&platform, &principal, &form.address).await?;
            Ok(redirect("/crm/settings/accounts?done=ignored"))
        }
        _ => Err(keel_platform::web::not_found_page()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FeedForm {
    name: String,
    url: String,
}

async fn add_feed(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<FeedForm>,
) -> Result<Response, WebError> {
    let input = CalendarFeedInput {
        name: form.name,
        url: form.url,
    };
    match calendar_feeds::add(&platform, &principal, &input).await {
        Ok(_) => Ok(redirect("/crm/settings/accounts?done=feed-added")),
        Err(err) => {
            let feed_errors = FormErrors::from_app_error(err)?;
            let mut page = blank(&platform, &principal).await?;
            page.feed_form = input;
            page.feed_errors = feed_errors;
            render_invalid(&page)
        }
    }
}

async fn feed_action(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Response, WebError> {
    match action.as_str() {
        "refresh" => {
            calendar_feeds::refresh_now(&platform, &principal, id).await?;
            Ok(redirect("/crm/settings/accounts?done=feed-refresh"))
        }
        "remove" => {
            calendar_feeds::remove(&platform, &principal, id).await?;
            Ok(redirect("/crm/settings/accounts?done=feed-removed"))
        }
        _ => Err(keel_platform::web::not_found_page()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CalDavForm {
    // Prefixed: the mail account form on the same page has its own user name and password.
    #[serde(rename = "caldav_url")]
    url: String,
    #[serde(rename = "caldav_username")]
    username: String,
    #[serde(rename = "caldav_password")]
    password: String,
}

async fn add_caldav(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<CalDavForm>,
) -> Result<Response, WebError> {
    let input = CalDavAccountInput {
        url: form.url,
        username: form.username,
        password: form.password,
    };
    match caldav::add(&platform, &principal, &input).await {
        Ok(_) => Ok(redirect("/crm/settings/accounts?done=caldav-added")),
        Err(err) => {
            let caldav_errors = FormErrors::from_app_error(err)?;
            let mut page = blank(&platform, &principal).await?;
            page.caldav_form = CalDavAccountInput {
                password: String::new(),
                ..input
            };
            page.caldav_errors = caldav_errors;
            render_invalid(&page)
        }
    }
}

async fn select_calendars(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Response, WebError> {
    // Checkboxes arrive as repeated `calendar=ID` pairs.
    let selected = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "calendar")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    caldav::select(&platform, &principal, id, &CalendarSelection { selected }).await?;
    Ok(redirect("/crm/settings/accounts?done=caldav-saved"))
}

async fn caldav_action(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Response, WebError> {
    match action.as_str() {
        "sync" => {
            caldav::sync_now(&platform, &principal, id).await?;
            Ok(redirect("/crm/settings/accounts?done=caldav-sync"))
        }
        "remove" => {
            caldav::remove(&platform, &principal, id).await?;
            Ok(redirect("/crm/settings/accounts?done=caldav-removed"))
        }
        _ => Err(keel_platform::web::not_found_page()),
    }
}
