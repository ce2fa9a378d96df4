//! One question to a model, with everything around it: the user's opt-in, the selector's
//! candidates, a reservation per attempt, the call, and the settlement, falling back to the
//! next candidate when a provider fails.

use std::time::Duration;

use keel_platform::Platform;

use super::client::{self, CallError, Endpoint, Prompt};
use super::ledger::{self, Refusal, Settlement};
use super::selector::{self, Model, Tier};
use super::{API_KEY_PURPOSE, usable_models};
use crate::store;

/// What a feature asks.
pub struct Question<'a> {
    pub user_id: i64,
    /// Ledger name of the feature, such as `summary`.
    pub feature: &'a str,
    pub tier: Tier,
    pub system: &'a str,
    pub text: &'a str,
    pub max_tokens: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    /// `provider / model`.
    pub model: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("AI is not set up on this server")]
    NotConfigured,
    #[error("turn AI on in Settings first")]
    NotOptedIn,
    #[error("{}", .0.message())]
    OverBudget(Refusal),
    #[error("the text is too long for every configured model")]
    TooLong,
    /// Every candidate failed; worth trying again later.
    #[error("no model answered: {0}")]
    Failed(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Asks the best candidate, then the next ones, each attempt in the ledger.
pub async fn ask(platform: &Platform, q: &Question<'_>) -> Result<Answer, AskError> {
    let db = platform.db.pool();
    let opted_in = store::ai_user(db, q.user_id)
        .await?
        .is_some_and(|u| u.opted_in == 1);
    if !opted_in {
        return Err(AskError::NotOptedIn);
    }
    let models = usable_models(platform).await?;
    if models.is_empty() {
        return Err(AskError::NotConfigured);
    }
    let prompt_tokens = selector::estimate_tokens(q.system) + selector::estimate_tokens(q.text);
    let max_tokens = i64::from(q.max_tokens);
    let standing = ledger::standing(platform, q.user_id).await?;
    let remaining = standing.remaining();
    let candidates = selector::candidates(
        &models,
        q.tier,
        prompt_tokens,
        max_tokens,
        remaining,
        standing.user_budget,
    );
    if candidates.is_empty() {
        let fits_some = models
            .iter()
            .any(|m| m.context_window >= prompt_tokens + max_tokens);
        if !fits_some {
            return Err(AskError::TooLong);
        }
        // Nothing affordable: refused by whichever budget is shorter, recorded in the ledger.
        let cheapest = models
            .iter()
            .min_by_key(|m| m.cost(prompt_tokens, max_tokens))
            .expect("models is not empty");
        let refusal = ledger::refuse(
            platform,
            q.user_id,
            q.feature,
            cheapest,
            prompt_tokens,
            &standing,
        )
        .await?;
        return Err(AskError::OverBudget(refusal));
    }
    let mut failures = Vec::new();
    for model in candidates {
        let worst = model.cost(prompt_tokens, max_tokens);
        let reservation =
            match ledger::reserve(platform, q.user_id, q.feature, model, prompt_tokens, worst)
                .await?
            {
                Ok(r) => r,
                Err(refusal) => return Err(AskError::OverBudget(refusal)),
            };
        let outcome = call(platform, model, q).await;
        let settlement = match &outcome {
            Ok(done) => {
                let input = done.input_tokens.unwrap_or(prompt_tokens);
                let output = done
                    .output_tokens
                    .unwrap_or_else(|| selector::estimate_tokens(&done.text));
                Settlement {
                    outcome: "ok",
                    input_tokens: input,
                    output_tokens: output,
                    // The provider's own figure wins over the price table.
                    cost_micros: done
                        .cost_micros
                        .unwrap_or_else(|| model.cost(input, output)),
                    detail: None,
                }
            }
            Err(err) => Settlement {
                outcome: if *err == CallError::TimedOut {
                    "timed_out"
                } else {
                    "provider_error"
                },
                input_tokens: 0,
                output_tokens: 0,
                cost_micros: 0,
                detail: None,
            },
        };
        let detail = outcome.as_ref().err().map(ToString::to_string);
        let settlement = Settlement {
            detail: detail.as_deref(),
            ..settlement
        };
        ledger::settle(platform, model, reservation, &settlement).await?;
        match outcome {
            Ok(done) => {
                return Ok(Answer {
                    text: done.text,
                    model: format!("{} / {}", model.provider, model.name),
                });
            }
            Err(err) => {
                tracing::warn!(model = %model.name, provider = %model.provider, error = %err, "AI call failed");
                failures.push(format!("{}: {err}", model.name));
            }
        }
    }
    Err(AskError::Failed(failures.join("; ")))
}

async fn call(
    platform: &Platform,
    model: &Model,
    q: &Question<'_>,
) -> Result<client::Completion, CallError> {
    let provider = store::ai_provider(platform.db.pool(), model.provider_id)
        .await
        .map_err(|e| CallError::Network(format!("database: {e}")))?
        .ok_or_else(|| CallError::Network("the provider was removed".into()))?;
    let key = match &provider.api_key_sealed {
        Some(sealed) => Some(
            platform
                .secret
                .unseal(API_KEY_PURPOSE, sealed)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    CallError::Network("the stored API key cannot be read: enter it again".into())
                })?,
        ),
        None => None,
    };
    let endpoint = Endpoint {
        base_url: &provider.base_url,
        api_key: key.as_deref(),
        timeout: Duration::from_millis(provider.timeout_ms.clamp(1_000, 600_000) as u64),
    };
    let prompt = Prompt {
        model: &model.name,
        system: q.system,
        user: q.text,
        max_tokens: q.max_tokens,
    };
    client::complete(&platform.outbound, &endpoint, &prompt).await
}
