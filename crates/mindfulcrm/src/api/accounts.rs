//! Connected accounts under `/api/v1/crm/`: mailboxes, suggested contacts, calendar feeds and
//! CalDAV accounts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_platform::http::problem::{ApiJson, ApiPath, ApiQuery};
use keel_platform::http::{Principal, Problem};
use keel_platform::{AppResult, Platform};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::caldav::{self, CalDavAccount, CalDavAccountInput, CalendarSelection};
use crate::calendar_feeds::{self, CalendarFeed, CalendarFeedInput};
use crate::contacts::Contact;
use crate::mailbox::{self, ConnectionCheck, MailAccount, MailAccountInput, SuggestedContact};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts, add_account))
        .routes(routes!(test_account))
        .routes(routes!(get_account, remove_account))
        .routes(routes!(sync_account))
        .routes(routes!(list_suggestions))
        .routes(routes!(accept_suggestion))
        .routes(routes!(ignore_suggestion))
        .routes(routes!(list_feeds, add_feed))
        .routes(routes!(get_feed, remove_feed))
        .routes(routes!(refresh_feed))
        .routes(routes!(list_caldav, add_caldav))
        .routes(routes!(get_caldav, remove_caldav))
        .routes(routes!(select_calendars))
        .routes(routes!(sync_caldav))
}

/// Your connected mail accounts with their sync state.
#[utoipa::path(get, path = "/api/v1/crm/mail-accounts", tag = "crm",
    responses((status = 200, body = Vec<MailAccount>)), security(("token" = []), ("session" = [])))]
async fn list_accounts(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<MailAccount>>> {
    Ok(Json(mailbox::list(&platform, &principal).await?))
}

/// Connect an IMAP mailbox; its first sync starts at once. The password is stored encrypted
/// and never returned.
#[utoipa::path(post, path = "/api/v1/crm/mail-accounts", tag = "crm", request_body = MailAccountInput,
    responses((status = 201, body = MailAccount), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn add_account(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<MailAccountInput>,
) -> AppResult<(StatusCode, Json<MailAccount>)> {
    Ok((
        StatusCode::CREATED,
        Json(mailbox::add(&platform, &principal, &body).await?),
    ))
}

/// Try the settings without saving them: connect, log in and list the folders. A failure is
/// answered with `ok: false` and what to change.
#[utoipa::path(post, path = "/api/v1/crm/mail-accounts/test", tag = "crm", request_body = MailAccountInput,
    responses((status = 200, body = ConnectionCheck), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn test_account(
    State(platform): State<Platform>,
    _principal: Principal,
    ApiJson(body): ApiJson<MailAccountInput>,
) -> AppResult<Json<ConnectionCheck>> {
    Ok(Json(mailbox::test_connection(&platform, &body).await?))
}

#[utoipa::path(get, path = "/api/v1/crm/mail-accounts/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = MailAccount), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_account(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<MailAccount>> {
    Ok(Json(mailbox::get(&platform, &principal, id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveOptions {
    /// Also delete the interactions its mail created (default: they stay).
    #[serde(default)]
    delete_interactions: bool,
}

/// Disconnect a mail account: its sync stops and its stored password is deleted.
#[utoipa::path(delete, path = "/api/v1/crm/mail-accounts/{id}", tag = "crm", params(("id" = i64, Path), RemoveOptions),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn remove_account(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(options): ApiQuery<RemoveOptions>,
) -> AppResult<StatusCode> {
    mailbox::remove(&platform, &principal, id, options.delete_interactions).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sync now instead of at the next poll.
#[utoipa::path(post, path = "/api/v1/crm/mail-accounts/{id}/sync", tag = "crm", params(("id" = i64, Path)),
    responses((status = 202), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn sync_account(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    mailbox::sync_now(&platform, &principal, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Addresses you wrote to more than once that are not your contacts yet.
#[utoipa::path(get, path = "/api/v1/crm/mail-suggestions", tag = "crm",
    responses((status = 200, body = Vec<SuggestedContact>)), security(("token" = []), ("session" = [])))]
async fn list_suggestions(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<SuggestedContact>>> {
    Ok(Json(mailbox::suggestions(&platform, &principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestionChoice {
    pub address: String,
}

/// Create the suggested contact; the mail already synced with them becomes interactions.
#[utoipa::path(post, path = "/api/v1/crm/mail-suggestions/accept", tag = "crm", request_body = SuggestionChoice,
    responses((status = 201, body = Contact), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn accept_suggestion(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<SuggestionChoice>,
) -> AppResult<(StatusCode, Json<Contact>)> {
    Ok((
        StatusCode::CREATED,
        Json(mailbox::accept_suggestion(&platform, &principal, &body.address).await?),
    ))
}

/// Never suggest this address again.
#[utoipa::path(post, path = "/api/v1/crm/mail-suggestions/ignore", tag = "crm", request_body = SuggestionChoice,
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn ignore_suggestion(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<SuggestionChoice>,
) -> AppResult<StatusCode> {
    mailbox::ignore_suggestion(&platform, &principal, &body.address).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your subscribed iCalendar feeds.
#[utoipa::path(get, path = "/api/v1/crm/calendar-feeds", tag = "crm",
    responses((status = 200, body = Vec<CalendarFeed>)), security(("token" = []), ("session" = [])))]
async fn list_feeds(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<CalendarFeed>>> {
    Ok(Json(calendar_feeds::list(&platform, &principal).await?))
}

/// Subscribe to an iCalendar URL (read-only); it is fetched at once and every 30 minutes.
/// The URL is stored encrypted and only its host is shown.
#[utoipa::path(post, path = "/api/v1/crm/calendar-feeds", tag = "crm", request_body = CalendarFeedInput,
    responses((status = 201, body = CalendarFeed), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn add_feed(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<CalendarFeedInput>,
) -> AppResult<(StatusCode, Json<CalendarFeed>)> {
    Ok((
        StatusCode::CREATED,
        Json(calendar_feeds::add(&platform, &principal, &body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/crm/calendar-feeds/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = CalendarFeed), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_feed(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<CalendarFeed>> {
    Ok(Json(calendar_feeds::get(&platform, &principal, id).await?))
}

/// Unsubscribe; the feed's events leave the calendar.
#[utoipa::path(delete, path = "/api/v1/crm/calendar-feeds/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn remove_feed(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    calendar_feeds::remove(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fetch the feed now instead of at its next refresh.
#[utoipa::path(post, path = "/api/v1/crm/calendar-feeds/{id}/refresh", tag = "crm", params(("id" = i64, Path)),
    responses((status = 202), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn refresh_feed(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    calendar_feeds::refresh_now(&platform, &principal, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Your CalDAV accounts and their calendars.
#[utoipa::path(get, path = "/api/v1/crm/caldav-accounts", tag = "crm",
    responses((status = 200, body = Vec<CalDavAccount>)), security(("token" = []), ("session" = [])))]
async fn list_caldav(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<CalDavAccount>>> {
    Ok(Json(caldav::list(&platform, &principal).await?))
}

/// Connect a CalDAV account: its calendars are discovered now (a wrong address or password
/// is a 422 naming the field), all are selected, and the first sync starts.
#[utoipa::path(post, path = "/api/v1/crm/caldav-accounts", tag = "crm", request_body = CalDavAccountInput,
    responses((status = 201, body = CalDavAccount), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn add_caldav(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<CalDavAccountInput>,
) -> AppResult<(StatusCode, Json<CalDavAccount>)> {
    Ok((
        StatusCode::CREATED,
        Json(caldav::add(&platform, &principal, &body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/crm/caldav-accounts/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = CalDavAccount), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_caldav(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<CalDavAccount>> {
    Ok(Json(caldav::get(&platform, &principal, id).await?))
}

/// Disconnect: the password and the events it brought in are deleted.
#[utoipa::path(delete, path = "/api/v1/crm/caldav-accounts/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn remove_caldav(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    caldav::remove(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Choose which calendars are read; a calendar no longer selected loses its events.
#[utoipa::path(put, path = "/api/v1/crm/caldav-accounts/{id}/calendars", tag = "crm", params(("id" = i64, Path)), request_body = CalendarSelection,
    responses((status = 200, body = CalDavAccount), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn select_calendars(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CalendarSelection>,
) -> AppResult<Json<CalDavAccount>> {
    Ok(Json(
        caldav::select(&platform, &principal, id, &body).await?,
    ))
}

/// Sync now instead of at the next poll.
#[utoipa::path(post, path = "/api/v1/crm/caldav-accounts/{id}/sync", tag = "crm", params(("id" = i64, Path)),
    responses((status = 202), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn sync_caldav(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    caldav::sync_now(&platform, &principal, id).await?;
    Ok(StatusCode::ACCEPTED)
}
