//! The AI assistant, off until the admin adds a provider and each user opts in. The admin's
//! providers and models and the budgets live here; `selector` picks models for a call,
//! `client` speaks the OpenAI-compatible wire, `ledger` reserves and settles every call's cost,
//! `ask` puts them together; `contact_texts` (relationship summary, suggested next touch) and
//! `proposals` (follow-ups found in interactions) are the features built on them.

mod alerts;
pub mod ask;
pub mod client;
pub mod contact_texts;
pub mod ledger;
pub mod proposals;
pub mod selector;

use keel_platform::authz::require_admin;
use keel_platform::domain::{Timestamp, Validator};
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::{self, UsageGroup};
use selector::{Model, Tier};

/// Tells the user's open pages that the assistant wrote something about these contacts
/// (topic `crm.ai.contact.<id>.<what>`), so a page showing "working…" reloads.
pub(crate) async fn announce(platform: &Platform, user_id: i64, contact_ids: &[i64], what: &str) {
    use keel_platform::realtime::{Audience, Event};
    for id in contact_ids {
        let event = Event::new(
            format!("crm.ai.contact.{id}.{what}"),
            Audience::Users(vec![user_id]),
            platform.now(),
            serde_json::json!({"contact_id": id}),
        );
        platform.bus.publish(event).await;
    }
}

/// What API keys are sealed for; a sealed value for another purpose does not open.
pub const API_KEY_PURPOSE: &str = "mindfulcrm.ai_api_key";
const DEFAULT_TIMEOUT_SECONDS: i64 = 60;

fn usd(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// A dollar amount from a form or the API: 0 to 1,000,000, kept in micro-dollars.
fn micros(v: &mut Validator, field: &str, dollars: f64) -> i64 {
    if !dollars.is_finite() || !(0.0..=1_000_000.0).contains(&dollars) {
        v.add(field, "must be an amount in US dollars from 0 to 1000000");
        return 0;
    }
    (dollars * 1_000_000.0).round() as i64
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiModel {
    pub id: i64,
    pub name: String,
    pub context_window: i64,
    /// US dollars per million tokens.
    pub input_price_per_million: f64,
    pub output_price_per_million: f64,
    pub tier: Tier,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiProvider {
    pub id: i64,
    pub name: String,
    /// Such as `https://api.openai.com/v1`; calls go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// Whether a key is stored (it is never shown again).
    pub has_api_key: bool,
    pub timeout_seconds: i64,
    pub models: Vec<AiModel>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AiProviderInput {
    pub name: String,
    pub base_url: String,
    /// Empty for a local server that takes none.
    pub api_key: String,
    /// Default 60.
    #[schema(minimum = 1, maximum = 600)]
    pub timeout_seconds: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiModelInput {
    /// As the provider names it, such as `gpt-4o-mini` or `mistralai/mistral-small`.
    pub name: String,
    #[schema(minimum = 512, maximum = 10000000)]
    pub context_window: i64,
    /// US dollars per million tokens; 0 for a local model.
    #[schema(minimum = 0, maximum = 1000000)]
    pub input_price_per_million: f64,
    #[schema(minimum = 0, maximum = 1000000)]
    pub output_price_per_million: f64,
    pub tier: Tier,
}

/// The providers with their models (admin only).
pub async fn providers(platform: &Platform, principal: &Principal) -> AppResult<Vec<AiProvider>> {
    require_admin(principal)?;
    let db = platform.db.pool();
    let models = store::ai_models(db).await?;
    Ok(store::ai_providers(db)
        .await?
        .into_iter()
        .map(|p| AiProvider {
            models: models
                .iter()
                .filter(|m| m.provider_id == p.id)
                .map(|m| AiModel {
                    id: m.id,
                    name: m.name.clone(),
                    context_window: m.context_window,
                    input_price_per_million: usd(m.input_price_micros),
                    output_price_per_million: usd(m.output_price_micros),
                    tier: Tier::parse(&m.tier).unwrap_or(Tier::Economy),
                })
                .collect(),
            id: p.id,
            name: p.name,
            base_url: p.base_url,
            has_api_key: p.api_key_sealed.is_some(),
            timeout_seconds: p.timeout_ms / 1000,
            created_at: Timestamp::from_millis(p.created_at),
        })
        .collect())
}

pub async fn add_provider(
    platform: &Platform,
    principal: &Principal,
    input: &AiProviderInput,
) -> AppResult<AiProvider> {
    require_admin(principal)?;
    let mut v = Validator::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        v.add("name", "is required, at most 100 characters");
    }
    let base_url = input.base_url.trim().trim_end_matches('/');
    match url::Url::parse(base_url) {
        Ok(url) if base_url.len() <= 500 => {
            if let Err(e) = platform.outbound.policy().check_url(&url) {
                v.add("base_url", e.to_string());
            }
        }
        _ => v.add(
            "base_url",
            "must be a URL such as https://api.openai.com/v1 or http://localhost:11434/v1",
        ),
    }
    if input.api_key.len() > 1000 || input.api_key.chars().any(char::is_control) {
        v.add("api_key", "must be at most 1000 characters on one line");
    }
    let timeout = input.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if !(1..=600).contains(&timeout) {
        v.add("timeout_seconds", "must be from 1 to 600");
    }
    v.finish().map_err(AppError::Validation)?;
    let key = input.api_key.trim();
    let sealed = (!key.is_empty()).then(|| platform.secret.seal(API_KEY_PURPOSE, key.as_bytes()));
    let id = store::insert_ai_provider(
        platform.db.pool(),
        name,
        base_url,
        sealed.as_deref(),
        timeout * 1000,
        platform.now(),
    )
    .await
    .map_err(|e| match keel_platform::db::is_unique_violation(&e) {
        true => AppError::field("name", "is already taken"),
        false => e.into(),
    })?;
    provider(platform, principal, id).await
}

async fn provider(platform: &Platform, principal: &Principal, id: i64) -> AppResult<AiProvider> {
    providers(platform, principal)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(AppError::NotFound("AI provider"))
}

/// Removes a provider with its models; the ledger keeps its name.
pub async fn remove_provider(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    require_admin(principal)?;
    match store::delete_ai_provider(platform.db.pool(), id).await? {
        0 => Err(AppError::NotFound("AI provider")),
        _ => Ok(()),
    }
}

pub async fn add_model(
    platform: &Platform,
    principal: &Principal,
    provider_id: i64,
    input: &AiModelInput,
) -> AppResult<AiProvider> {
    require_admin(principal)?;
    store::ai_provider(platform.db.pool(), provider_id)
        .await?
        .ok_or(AppError::NotFound("AI provider"))?;
    let mut v = Validator::new();
    let name = input.name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        v.add("name", "is required, at most 200 characters");
    }
    if !(512..=10_000_000).contains(&input.context_window) {
        v.add("context_window", "must be from 512 to 10000000 tokens");
    }
    let input_price = micros(
        &mut v,
        "input_price_per_million",
        input.input_price_per_million,
    );
    let output_price = micros(
        &mut v,
        "output_price_per_million",
        input.output_price_per_million,
    );
    v.finish().map_err(AppError::Validation)?;
    store::insert_ai_model(
        platform.db.pool(),
        provider_id,
        &store::ModelFields {
            name,
            context_window: input.context_window,
            input_price_micros: input_price,
            output_price_micros: output_price,
            tier: input.tier.as_str(),
        },
    )
    .await
    .map_err(|e| match keel_platform::db::is_unique_violation(&e) {
        true => AppError::field("name", "this provider already has that model"),
        false => e.into(),
    })?;
    provider(platform, principal, provider_id).await
}

pub async fn remove_model(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    require_admin(principal)?;
    match store::delete_ai_model(platform.db.pool(), id).await? {
        0 => Err(AppError::NotFound("AI model")),
        _ => Ok(()),
    }
}

/// Whether the assistant works for this user: a model is set up and they opted in.
pub async fn is_on(platform: &Platform, user_id: i64) -> sqlx::Result<bool> {
    let opted_in = store::ai_user(platform.db.pool(), user_id)
        .await?
        .is_some_and(|u| u.opted_in == 1);
    Ok(opted_in && !usable_models(platform).await?.is_empty())
}

/// Models calls may use: enabled, of an enabled provider.
pub(crate) async fn usable_models(platform: &Platform) -> sqlx::Result<Vec<Model>> {
    Ok(store::ai_models(platform.db.pool())
        .await?
        .into_iter()
        .filter(|m| m.enabled == 1 && m.provider_enabled == 1)
        .filter_map(|m| {
            Some(Model {
                tier: Tier::parse(&m.tier)?,
                id: m.id,
                provider_id: m.provider_id,
                provider: m.provider,
                name: m.name,
                context_window: m.context_window,
                input_price_micros: m.input_price_micros,
                output_price_micros: m.output_price_micros,
            })
        })
        .collect())
}

/// The server's monthly budgets and this month's spend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiBudgets {
    /// `2026-12`: calendar months in UTC.
    pub month: String,
    pub global_monthly_usd: f64,
    /// Each user's budget unless set for them.
    pub user_monthly_usd: f64,
    /// Committed this month on the whole server (settled costs and open reservations).
    pub global_spent_usd: f64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiBudgetsInput {
    #[schema(minimum = 0, maximum = 1000000)]
    pub global_monthly_usd: f64,
    #[schema(minimum = 0, maximum = 1000000)]
    pub user_monthly_usd: f64,
}

pub async fn budgets(platform: &Platform, principal: &Principal) -> AppResult<AiBudgets> {
    require_admin(principal)?;
    let standing = ledger::standing(platform, principal.user.id).await?;
    let (_, user_default) = store::ai_config(platform.db.pool())
        .await?
        .unwrap_or((0, ledger::DEFAULT_USER_BUDGET_MICROS));
    Ok(AiBudgets {
        month: standing.month,
        global_monthly_usd: usd(standing.global_budget),
        user_monthly_usd: usd(user_default),
        global_spent_usd: usd(standing.global_committed),
    })
}

pub async fn set_budgets(
    platform: &Platform,
    principal: &Principal,
    input: &AiBudgetsInput,
) -> AppResult<AiBudgets> {
    require_admin(principal)?;
    let mut v = Validator::new();
    let global = micros(&mut v, "global_monthly_usd", input.global_monthly_usd);
    let user = micros(&mut v, "user_monthly_usd", input.user_monthly_usd);
    v.finish().map_err(AppError::Validation)?;
    store::save_ai_config(platform.db.pool(), global, user).await?;
    budgets(platform, principal).await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBudgetInput {
    /// Null: the server's default for users.
    #[schema(minimum = 0, maximum = 1000000)]
    pub monthly_usd: Option<f64>,
}

/// The admin sets one user's monthly budget.
pub async fn set_user_budget(
    platform: &Platform,
    principal: &Principal,
    user_id: i64,
    input: &UserBudgetInput,
) -> AppResult<()> {
    require_admin(principal)?;
    let mut v = Validator::new();
    let budget = input.monthly_usd.map(|d| micros(&mut v, "monthly_usd", d));
    v.finish().map_err(AppError::Validation)?;
    let users = keel_platform::accounts::directory(platform).await?;
    if !users.iter().any(|u| u.id == user_id) {
        return Err(AppError::NotFound("user"));
    }
    store::save_ai_user_budget(platform.db.pool(), user_id, budget).await?;
    Ok(())
}

/// A user's AI settings and standing this month.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyAi {
    /// The admin has set up at least one model.
    pub available: bool,
    pub opted_in: bool,
    /// Your budget this month: the admin's, or your own lower limit.
    pub monthly_budget_usd: f64,
    pub own_limit_usd: Option<f64>,
    pub spent_usd: f64,
    pub remaining_usd: f64,
    pub month: String,
    pub resets_on: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MyAiInput {
    pub opted_in: bool,
    /// A lower monthly limit for yourself; null for none.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000)]
    pub own_limit_usd: Option<f64>,
}

pub async fn mine(platform: &Platform, principal: &Principal) -> AppResult<MyAi> {
    let user_id = principal.user.id;
    let user = store::ai_user(platform.db.pool(), user_id)
        .await?
        .unwrap_or_default();
    let standing = ledger::standing(platform, user_id).await?;
    Ok(MyAi {
        available: !usable_models(platform).await?.is_empty(),
        opted_in: user.opted_in == 1,
        monthly_budget_usd: usd(standing.user_budget),
        own_limit_usd: user.own_limit_micros.map(usd),
        spent_usd: usd(standing.user_committed),
        remaining_usd: usd(standing.remaining()),
        resets_on: ledger::resets_on(platform.now()),
        month: standing.month,
    })
}

pub async fn set_mine(
    platform: &Platform,
    principal: &Principal,
    input: &MyAiInput,
) -> AppResult<MyAi> {
    let mut v = Validator::new();
    let own = input
        .own_limit_usd
        .map(|d| micros(&mut v, "own_limit_usd", d));
    v.finish().map_err(AppError::Validation)?;
    store::save_ai_choices(platform.db.pool(), principal.user.id, input.opted_in, own).await?;
    mine(platform, principal).await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageLine {
    /// The feature, `provider / model`, the day (`2026-12-03`) or the user's email.
    pub key: String,
    pub calls: i64,
    pub refused: i64,
    pub failed: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiUsage {
    pub month: String,
    pub by_day: Vec<UsageLine>,
    pub by_feature: Vec<UsageLine>,
    pub by_model: Vec<UsageLine>,
    /// Only for the whole server (admins).
    pub by_user: Vec<UsageLine>,
}

/// This month's calls: yours, or with `everyone` (admins) the whole server's.
pub async fn usage(
    platform: &Platform,
    principal: &Principal,
    everyone: bool,
) -> AppResult<AiUsage> {
    if everyone {
        require_admin(principal)?;
    }
    let user = (!everyone).then_some(principal.user.id);
    let month = ledger::month_of(platform.now());
    let db = platform.db.pool();
    let lines = |rows: Vec<store::UsageRow>, days: bool| -> Vec<UsageLine> {
        rows.into_iter()
            .map(|r| UsageLine {
                key: match r.key.parse::<i64>() {
                    Ok(day) if days => jiff::civil::date(1970, 1, 1)
                        .checked_add(jiff::Span::new().days(day))
                        .map(|d| d.to_string())
                        .unwrap_or(r.key),
                    _ => r.key,
                },
                calls: r.calls,
                refused: r.refused,
                failed: r.failed,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cost_usd: usd(r.cost_micros),
            })
            .collect()
    };
    Ok(AiUsage {
        by_day: lines(
            store::ai_usage(db, user, &month, UsageGroup::Day).await?,
            true,
        ),
        by_feature: lines(
            store::ai_usage(db, user, &month, UsageGroup::Feature).await?,
            false,
        ),
        by_model: lines(
            store::ai_usage(db, user, &month, UsageGroup::Model).await?,
            false,
        ),
        by_user: if everyone {
            lines(
                store::ai_usage(db, None, &month, UsageGroup::User).await?,
                false,
            )
        } else {
            Vec::new()
        },
        month,
    })
}

/// This month's calls as CSV: yours, or with `everyone` (admins) the whole server's.
pub async fn ledger_csv(
    platform: &Platform,
    principal: &Principal,
    everyone: bool,
) -> AppResult<String> {
    if everyone {
        require_admin(principal)?;
    }
    let user = (!everyone).then_some(principal.user.id);
    let month = ledger::month_of(platform.now());
    let rows = store::ai_ledger(platform.db.pool(), user, &month).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    // Every cell defused: a spreadsheet must not run a user's email or a model's name.
    let write = |out: &mut csv::Writer<Vec<u8>>, record: &[String]| {
        let cells = record
            .iter()
            .map(|c| keel_platform::spreadsheet::safe_cell(c));
        out.write_record(cells.map(|c| c.into_owned()))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("writing CSV: {e}")))
    };
    let header = [
        "time",
        "user",
        "feature",
        "provider",
        "model",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "latency_ms",
        "outcome",
    ];
    write(&mut out, &header.map(String::from))?;
    for r in rows {
        write(
            &mut out,
            &[
                Timestamp::from_millis(r.created_at).to_string(),
                r.email,
                r.feature,
                r.provider,
                r.model,
                r.input_tokens.to_string(),
                r.output_tokens.to_string(),
                format!("{:.6}", usd(r.cost_micros)),
                r.latency_ms.to_string(),
                r.outcome,
            ],
        )?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("writing CSV: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
