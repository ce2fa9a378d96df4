//! Which models a call tries, in order: the cheapest enabled model of the wanted tier whose
//! context window holds the prompt and the answer, then the others of that tier, then lower
//! tiers, then higher ones (a feature still works when only other tiers are configured). A
//! model whose worst case does not fit the remaining budget is left out, and a budget that is
//! running low starts one tier lower.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Economy,
    Standard,
    Best,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Economy, Tier::Standard, Tier::Best];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Economy => "economy",
            Tier::Standard => "standard",
            Tier::Best => "best",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    fn lower(self) -> Option<Self> {
        match self {
            Tier::Economy => None,
            Tier::Standard => Some(Tier::Economy),
            Tier::Best => Some(Tier::Standard),
        }
    }
}

/// An enabled model of an enabled provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub id: i64,
    pub provider_id: i64,
    pub provider: String,
    pub name: String,
    pub context_window: i64,
    /// Micro-dollars per million tokens.
    pub input_price_micros: i64,
    pub output_price_micros: i64,
    pub tier: Tier,
}

impl Model {
    /// What a call costs at this model's prices, in micro-dollars, rounded up.
    pub fn cost(&self, input_tokens: i64, output_tokens: i64) -> i64 {
        let total = i128::from(input_tokens.max(0)) * i128::from(self.input_price_micros)
            + i128::from(output_tokens.max(0)) * i128::from(self.output_price_micros);
        i64::try_from((total + 999_999) / 1_000_000).unwrap_or(i64::MAX)
    }
}

/// Below this share of the month's budget left, calls start one tier lower.
const LOW_BUDGET_PERCENT: i64 = 20;

/// A prompt's size in tokens, estimated from above: about three bytes a token (English runs
/// near four, so this over-reserves rather than under-reserves), plus a little per message.
pub fn estimate_tokens(text: &str) -> i64 {
    (text.len() as i64 + 2) / 3 + 8
}

/// The models to try, in order.
pub fn candidates(
    models: &[Model],
    wanted: Tier,
    prompt_tokens: i64,
    max_tokens: i64,
    remaining_micros: i64,
    budget_micros: i64,
) -> Vec<&Model> {
    let low =
        remaining_micros.saturating_mul(100) < budget_micros.saturating_mul(LOW_BUDGET_PERCENT);
    let start = if low {
        wanted.lower().unwrap_or(wanted)
    } else {
        wanted
    };
    let mut order = Vec::new();
    let mut tier = Some(start);
    while let Some(t) = tier {
        order.push(t);
        tier = t.lower();
    }
    order.extend(Tier::ALL.into_iter().filter(|t| *t > start));
    let fits = |m: &&Model| {
        m.context_window >= prompt_tokens + max_tokens
            && m.cost(prompt_tokens, max_tokens) <= remaining_micros
    };
    let mut out = Vec::new();
    for tier in order {
        let mut these: Vec<&Model> = models
            .iter()
            .filter(|m| m.tier == tier)
            .filter(fits)
            .collect();
        these.sort_by_key(|m| (m.cost(prompt_tokens, max_tokens), m.id));
        out.extend(these);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: i64, tier: Tier, window: i64, input: i64, output: i64) -> Model {
        Model {
            id,
            provider_id: 1,
            provider: "p".into(),
            name: format!("m{id}"),
            context_window: window,
            input_price_micros: input,
            output_price_micros: output,
            tier,
        }
    }

    fn ids(list: Vec<&Model>) -> Vec<i64> {
        list.into_iter().map(|m| m.id).collect()
    }

    #[test]
    fn cheapest_of_the_tier_first_then_lower_then_higher() {
        let models = [
            model(1, Tier::Standard, 100_000, 3_000_000, 15_000_000),
            model(2, Tier::Standard, 100_000, 1_000_000, 2_000_000),
            model(3, Tier::Economy, 100_000, 100_000, 400_000),
            model(4, Tier::Best, 100_000, 10_000_000, 30_000_000),
        ];
        let dollars = 1_000_000;
        assert_eq!(
            ids(candidates(
                &models,
                Tier::Standard,
                1_000,
                500,
                10 * dollars,
                10 * dollars
            )),
            [2, 1, 3, 4]
        );
    }

    #[test]
    fn the_context_window_must_hold_prompt_and_answer() {
        let models = [
            model(1, Tier::Economy, 8_000, 0, 0),
            model(2, Tier::Economy, 128_000, 0, 0),
        ];
        assert_eq!(
            ids(candidates(&models, Tier::Economy, 7_800, 500, 1, 1)),
            [2]
        );
        assert_eq!(
            ids(candidates(&models, Tier::Economy, 1_000, 500, 1, 1)),
            [1, 2]
        );
    }

    #[test]
    fn a_low_budget_steps_down_a_tier_and_unaffordable_models_are_left_out() {
        let models = [
            model(1, Tier::Best, 100_000, 10_000_000, 30_000_000),
            model(2, Tier::Standard, 100_000, 1_000_000, 2_000_000),
        ];
        let dollars = 1_000_000;
        // Plenty left: best first.
        assert_eq!(
            ids(candidates(
                &models,
                Tier::Best,
                1_000,
                1_000,
                5 * dollars,
                10 * dollars
            )),
            [1, 2]
        );
        // Under a fifth left: standard first, best after it.
        assert_eq!(
            ids(candidates(
                &models,
                Tier::Best,
                1_000,
                1_000,
                dollars,
                10 * dollars
            )),
            [2, 1]
        );
        // 3 cents left: the best model's worst case (4 cents) does not fit.
        assert_eq!(
            ids(candidates(
                &models,
                Tier::Best,
                1_000,
                1_000,
                30_000,
                10 * dollars
            )),
            [2]
        );
    }

    #[test]
    fn costs_round_up_to_the_micro_dollar() {
        let m = model(1, Tier::Economy, 1, 150_000, 600_000);
        // 1,000 tokens at $0.15/M and 500 at $0.60/M: $0.00015 + $0.0003.
        assert_eq!(m.cost(1_000, 500), 450);
        assert_eq!(m.cost(1, 0), 1);
        assert_eq!(
            model(2, Tier::Economy, 1, 0, 0).cost(1_000_000, 1_000_000),
            0
        );
    }

    #[test]
    fn token_estimates_err_high() {
        assert_eq!(estimate_tokens(""), 8);
        assert_eq!(estimate_tokens(&"word ".repeat(300)), 508);
    }
}
