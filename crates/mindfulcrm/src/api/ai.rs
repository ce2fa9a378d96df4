//! The AI assistant under `/api/v1/crm/ai/`: providers, models and budgets (admins), your own
//! settings and usage, and a contact's relationship summary.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_platform::http::problem::{ApiJson, ApiPath, ApiQuery};
use keel_platform::http::{Principal, Problem};
use keel_platform::{AppResult, Platform};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::activity::Task;
use crate::ai::contact_texts::{self, ContactText, TextKind};
use crate::ai::proposals::{self, AcceptInput, Proposal};
use crate::ai::{
    self, AiBudgets, AiBudgetsInput, AiModelInput, AiProvider, AiProviderInput, AiUsage, MyAi,
    MyAiInput, UserBudgetInput,
};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_providers, add_provider))
        .routes(routes!(remove_provider))
        .routes(routes!(add_model))
        .routes(routes!(remove_model))
        .routes(routes!(get_budgets, set_budgets))
        .routes(routes!(set_user_budget))
        .routes(routes!(get_mine, set_mine))
        .routes(routes!(get_usage))
        .routes(routes!(get_ledger_csv))
        .routes(routes!(get_summary, refresh_summary))
        .routes(routes!(get_next_touch, refresh_next_touch))
        .routes(routes!(list_proposals))
        .routes(routes!(find_action_items))
        .routes(routes!(accept_proposal))
        .routes(routes!(dismiss_proposal))
}

/// AI providers with their models (admins).
#[utoipa::path(get, path = "/api/v1/crm/ai/providers", tag = "crm",
    responses((status = 200, body = Vec<AiProvider>), (status = 403, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_providers(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<AiProvider>>> {
    Ok(Json(ai::providers(&platform, &principal).await?))
}

/// Add an OpenAI-compatible provider (admins). The API key is stored encrypted and never
/// returned.
#[utoipa::path(post, path = "/api/v1/crm/ai/providers", tag = "crm", request_body = AiProviderInput,
    responses((status = 201, body = AiProvider), (status = 403, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn add_provider(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<AiProviderInput>,
) -> AppResult<(StatusCode, Json<AiProvider>)> {
    Ok((
        StatusCode::CREATED,
        Json(ai::add_provider(&platform, &principal, &body).await?),
    ))
}

/// Remove a provider and its models (admins).
#[utoipa::path(delete, path = "/api/v1/crm/ai/providers/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn remove_provider(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    ai::remove_provider(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a model to a provider, with its prices and tier (admins).
#[utoipa::path(post, path = "/api/v1/crm/ai/providers/{id}/models", tag = "crm", params(("id" = i64, Path)), request_body = AiModelInput,
    responses((status = 201, body = AiProvider), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn add_model(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AiModelInput>,
) -> AppResult<(StatusCode, Json<AiProvider>)> {
    Ok((
        StatusCode::CREATED,
        Json(ai::add_model(&platform, &principal, id, &body).await?),
    ))
}

#[utoipa::path(delete, path = "/api/v1/crm/ai/models/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn remove_model(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    ai::remove_model(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The monthly budgets and this month's spend on the whole server (admins).
#[utoipa::path(get, path = "/api/v1/crm/ai/budgets", tag = "crm",
    responses((status = 200, body = AiBudgets), (status = 403, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_budgets(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<AiBudgets>> {
    Ok(Json(ai::budgets(&platform, &principal).await?))
}

#[utoipa::path(put, path = "/api/v1/crm/ai/budgets", tag = "crm", request_body = AiBudgetsInput,
    responses((status = 200, body = AiBudgets), (status = 403, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn set_budgets(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<AiBudgetsInput>,
) -> AppResult<Json<AiBudgets>> {
    Ok(Json(ai::set_budgets(&platform, &principal, &body).await?))
}

/// One user's monthly budget (admins); null returns them to the default.
#[utoipa::path(put, path = "/api/v1/crm/ai/users/{id}/budget", tag = "crm", params(("id" = i64, Path)), request_body = UserBudgetInput,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn set_user_budget(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UserBudgetInput>,
) -> AppResult<StatusCode> {
    ai::set_user_budget(&platform, &principal, id, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your AI settings, budget and spend this month.
#[utoipa::path(get, path = "/api/v1/crm/ai/me", tag = "crm",
    responses((status = 200, body = MyAi)), security(("token" = []), ("session" = [])))]
async fn get_mine(State(platform): State<Platform>, principal: Principal) -> AppResult<Json<MyAi>> {
    Ok(Json(ai::mine(&platform, &principal).await?))
}

/// Turn the assistant on or off for yourself, and set a lower monthly limit.
#[utoipa::path(put, path = "/api/v1/crm/ai/me", tag = "crm", request_body = MyAiInput,
    responses((status = 200, body = MyAi), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn set_mine(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<MyAiInput>,
) -> AppResult<Json<MyAi>> {
    Ok(Json(ai::set_mine(&platform, &principal, &body).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageOptions {
    /// The whole server's usage (admins); default yours.
    #[serde(default)]
    all: bool,
}

/// This month's calls by day, feature and model (and user, for the whole server).
#[utoipa::path(get, path = "/api/v1/crm/ai/usage", tag = "crm", params(UsageOptions),
    responses((status = 200, body = AiUsage), (status = 403, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_usage(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(options): ApiQuery<UsageOptions>,
) -> AppResult<Json<AiUsage>> {
    Ok(Json(ai::usage(&platform, &principal, options.all).await?))
}

/// This month's calls, one row each, as CSV (cells a spreadsheet would run as formulas are
/// defused). Yours, or with `all=true` (admins) the whole server's.
#[utoipa::path(get, path = "/api/v1/crm/ai/ledger.csv", tag = "crm", params(UsageOptions),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_ledger_csv(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(options): ApiQuery<UsageOptions>,
) -> AppResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let csv = ai::ledger_csv(&platform, &principal, options.all).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"ai-usage.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

/// The contact's relationship summary. Reading it starts a new one in the background when
/// their notes or interactions changed; `state` says where that stands.
#[utoipa::path(get, path = "/api/v1/crm/contacts/{id}/summary", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = ContactText), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_summary(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<ContactText>> {
    Ok(Json(
        contact_texts::get(&platform, &principal, id, TextKind::Summary, false).await?,
    ))
}

/// Ask again after a failure. A used-up budget is answered 409 with the budget and when it
/// resets.
#[utoipa::path(post, path = "/api/v1/crm/contacts/{id}/summary", tag = "crm", params(("id" = i64, Path)),
    responses((status = 202, body = ContactText), (status = 404, body = Problem), (status = 409, body = Problem)), security(("token" = []), ("session" = [])))]
async fn refresh_summary(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<(StatusCode, Json<ContactText>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(contact_texts::get(&platform, &principal, id, TextKind::Summary, true).await?),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProposalFilter {
    /// Only those found in interactions with this contact.
    contact_id: Option<i64>,
}

/// Follow-ups the assistant proposed and you have not accepted or dismissed yet.
#[utoipa::path(get, path = "/api/v1/crm/ai/proposals", tag = "crm", params(ProposalFilter),
    responses((status = 200, body = Vec<Proposal>)), security(("token" = []), ("session" = [])))]
async fn list_proposals(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<ProposalFilter>,
) -> AppResult<Json<Vec<Proposal>>> {
    Ok(Json(
        proposals::list(&platform, &principal, filter.contact_id).await?,
    ))
}

/// Look for follow-ups in one interaction (hand-logged ones are read when saved). 409 when the
/// assistant is off for you or your budget is used up.
#[utoipa::path(post, path = "/api/v1/crm/interactions/{id}/action-items", tag = "crm", params(("id" = i64, Path)),
    responses((status = 202), (status = 404, body = Problem), (status = 409, body = Problem)), security(("token" = []), ("session" = [])))]
async fn find_action_items(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    proposals::find(&platform, &principal, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Make a proposal a task, as proposed or with an edited title and due day.
#[utoipa::path(post, path = "/api/v1/crm/ai/proposals/{id}/accept", tag = "crm", params(("id" = i64, Path)), request_body = AcceptInput,
    responses((status = 201, body = Task), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn accept_proposal(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AcceptInput>,
) -> AppResult<(StatusCode, Json<Task>)> {
    Ok((
        StatusCode::CREATED,
        Json(proposals::accept(&platform, &principal, id, &body).await?),
    ))
}

#[utoipa::path(post, path = "/api/v1/crm/ai/proposals/{id}/dismiss", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn dismiss_proposal(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    proposals::dismiss(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A suggested next touch for the contact (why now, and a draft to send; `text` holds the
/// model's JSON answer). Reading it starts a new one when their history changed.
#[utoipa::path(get, path = "/api/v1/crm/contacts/{id}/next-touch", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = ContactText), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_next_touch(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<ContactText>> {
    Ok(Json(
        contact_texts::get(&platform, &principal, id, TextKind::NextTouch, false).await?,
    ))
}

/// Ask again after a failure; 409 when the budget is used up.
#[utoipa::path(post, path = "/api/v1/crm/contacts/{id}/next-touch", tag = "crm", params(("id" = i64, Path)),
    responses((status = 202, body = ContactText), (status = 404, body = Problem), (status = 409, body = Problem)), security(("token" = []), ("session" = [])))]
async fn refresh_next_touch(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<(StatusCode, Json<ContactText>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(contact_texts::get(&platform, &principal, id, TextKind::NextTouch, true).await?),
    ))
}
