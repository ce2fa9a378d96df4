//! The cost manager: budgets per user and for the whole server per calendar month (UTC), and
//! a ledger row for every call. Before a call its worst case is reserved against both budgets
//! in one transaction (conditional updates, so concurrent calls on any number of nodes never
//! overspend); afterwards the reservation is settled to the real cost. A reservation whose
//! call never settles (a node died mid-call) stays counted: it errs on the side of the budget.

use keel_platform::Platform;
use keel_platform::domain::Timestamp;

use super::alerts;
use super::selector::Model;
use crate::store::{self, LedgerFields, LedgerOutcome};

/// Budgets before the admin sets any: $20 a month for the server, $5 per user.
pub const DEFAULT_GLOBAL_BUDGET_MICROS: i64 = 20_000_000;
pub const DEFAULT_USER_BUDGET_MICROS: i64 = 5_000_000;

/// `2026-12`: the budget period holding `now`.
pub fn month_of(now: Timestamp) -> String {
    now.to_jiff().strftime("%Y-%m").to_string()
}

/// The first day of the next period, as people read it: `1 January 2027`.
pub fn resets_on(now: Timestamp) -> String {
    let date = jiff::tz::TimeZone::UTC.to_datetime(now.to_jiff()).date();
    date.last_of_month()
        .tomorrow()
        .map(|d| d.strftime("%-d %B %Y").to_string())
        .unwrap_or_default()
}

/// Dollars for people: `$5.00`, `$0.0042`.
pub fn dollars(micros: i64) -> String {
    if micros != 0 && micros.abs() < 10_000 {
        format!("${:.4}", micros as f64 / 1_000_000.0)
    } else {
        format!("${:.2}", micros as f64 / 1_000_000.0)
    }
}

pub(super) fn user_scope(user_id: i64) -> String {
    format!("user:{user_id}")
}

pub(super) const ALL: &str = "all";

/// A user's budgets and what is committed against them this month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub month: String,
    /// The smaller of the admin's budget for the user and the user's own limit.
    pub user_budget: i64,
    pub user_committed: i64,
    pub global_budget: i64,
    pub global_committed: i64,
}

impl Standing {
    /// What may still be spent: the lesser of what the user and the server have left.
    pub fn remaining(&self) -> i64 {
        (self.user_budget - self.user_committed)
            .min(self.global_budget - self.global_committed)
            .max(0)
    }
}

/// The server's budget and the user's (the smaller of the admin's and their own limit).
async fn budgets(platform: &Platform, user_id: i64) -> sqlx::Result<(i64, i64)> {
    let row = store::ai_budgets_of(platform.db.pool(), user_id).await?;
    let global = row
        .global_budget_micros
        .unwrap_or(DEFAULT_GLOBAL_BUDGET_MICROS);
    let admin = row
        .budget_micros
        .or(row.user_default_micros)
        .unwrap_or(DEFAULT_USER_BUDGET_MICROS);
    let user = row.own_limit_micros.map_or(admin, |own| own.min(admin));
    Ok((global, user))
}

pub async fn standing(platform: &Platform, user_id: i64) -> sqlx::Result<Standing> {
    let db = platform.db.pool();
    let month = month_of(platform.now());
    let (global_budget, user_budget) = budgets(platform, user_id).await?;
    Ok(Standing {
        user_committed: store::ai_committed(db, &user_scope(user_id), &month).await?,
        global_committed: store::ai_committed(db, ALL, &month).await?,
        month,
        user_budget,
        global_budget,
    })
}

impl Standing {
    /// The budget that is used up, if one is.
    pub fn exhausted(&self, now: Timestamp) -> Option<Refusal> {
        let (server_wide, budget_micros) = if self.global_committed >= self.global_budget {
            (true, self.global_budget)
        } else if self.user_committed >= self.user_budget {
            (false, self.user_budget)
        } else {
            return None;
        };
        Some(Refusal {
            server_wide,
            budget_micros,
            resets_on: resets_on(now),
        })
    }
}

/// Why a call was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Whose budget: the user's own, or the whole server's.
    pub server_wide: bool,
    pub budget_micros: i64,
    pub resets_on: String,
}

impl Refusal {
    pub fn message(&self) -> String {
        let whose = if self.server_wide {
            "This server's AI budget"
        } else {
            "Your AI budget"
        };
        format!(
            "{whose} of {} for this month is used up; it resets on {}.",
            dollars(self.budget_micros),
            self.resets_on
        )
    }
}

/// A granted reservation: settle it with [`settle`].
#[derive(Debug)]
pub struct Reservation {
    ledger_id: i64,
    user_id: i64,
    month: String,
    reserved: i64,
    user_budget: i64,
    global_budget: i64,
    started: std::time::Instant,
}

/// Reserves `worst_case` for a call by `user_id` to `model`, or refuses (and records the
/// refusal in the ledger).
pub async fn reserve(
    platform: &Platform,
    user_id: i64,
    feature: &str,
    model: &Model,
    input_tokens: i64,
    worst_case: i64,
) -> sqlx::Result<Result<Reservation, Refusal>> {
    // Only the budgets are read first: the conditional updates check what is committed.
    let (global_budget, user_budget) = budgets(platform, user_id).await?;
    let now = platform.now();
    let month = month_of(now);
    let mut tx = platform.db.begin().await?;
    let user = user_scope(user_id);
    let refused = if !store::try_commit_ai_spend(&mut tx, &user, &month, worst_case, user_budget)
        .await?
    {
        Some((false, user_budget))
    } else if !store::try_commit_ai_spend(&mut tx, ALL, &month, worst_case, global_budget).await? {
        Some((true, global_budget))
    } else {
        None
    };
    let fields = LedgerFields {
        user_id,
        feature,
        provider: &model.provider,
        model: &model.name,
        month: &month,
        input_tokens,
        reserved_micros: worst_case,
        outcome: "pending",
        detail: None,
    };
    if let Some((server_wide, budget_micros)) = refused {
        tx.rollback().await?;
        let refusal = Refusal {
            server_wide,
            budget_micros,
            resets_on: resets_on(now),
        };
        record_refusal(platform, fields, &refusal).await?;
        let scope = if server_wide { ALL.to_string() } else { user };
        let committed = store::ai_committed(platform.db.pool(), &scope, &month).await?;
        let spend = (committed, budget_micros);
        alerts::warn(platform, user_id, server_wide, &month, spend, true).await?;
        return Ok(Err(refusal));
    }
    let ledger_id = store::insert_ai_ledger(&mut *tx, &fields, now).await?;
    tx.commit().await?;
    Ok(Ok(Reservation {
        ledger_id,
        user_id,
        month,
        reserved: worst_case,
        user_budget,
        global_budget,
        started: std::time::Instant::now(),
    }))
}

/// Records a call not made because the remaining budget cannot hold even the cheapest
/// model's worst case; the shorter of the two budgets is named.
pub async fn refuse(
    platform: &Platform,
    user_id: i64,
    feature: &str,
    model: &Model,
    input_tokens: i64,
    standing: &Standing,
) -> sqlx::Result<Refusal> {
    let server_wide = standing.global_budget - standing.global_committed
        < standing.user_budget - standing.user_committed;
    let refusal = Refusal {
        server_wide,
        budget_micros: if server_wide {
            standing.global_budget
        } else {
            standing.user_budget
        },
        resets_on: resets_on(platform.now()),
    };
    let fields = LedgerFields {
        user_id,
        feature,
        provider: &model.provider,
        model: &model.name,
        month: &standing.month,
        input_tokens,
        reserved_micros: 0,
        outcome: "refused",
        detail: None,
    };
    record_refusal(platform, fields, &refusal).await?;
    Ok(refusal)
}

async fn record_refusal(
    platform: &Platform,
    fields: LedgerFields<'_>,
    refusal: &Refusal,
) -> sqlx::Result<()> {
    let detail = refusal.message();
    let fields = LedgerFields {
        outcome: "refused",
        reserved_micros: 0,
        detail: Some(&detail),
        ..fields
    };
    store::insert_ai_ledger(platform.db.pool(), &fields, platform.now()).await?;
    let labels = [
        ("model", format!("{}/{}", fields.provider, fields.model)),
        ("outcome", "refused".to_string()),
    ];
    metrics::counter!("keel_ai_calls_total", &labels).increment(1);
    Ok(())
}

/// How a reserved call ended.
pub struct Settlement<'a> {
    /// `ok`, `provider_error` or `timed_out`.
    pub outcome: &'a str,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub detail: Option<&'a str>,
}

/// Replaces the reservation by the real cost, in the ledger and in both budgets.
pub async fn settle(
    platform: &Platform,
    model: &Model,
    reservation: Reservation,
    s: &Settlement<'_>,
) -> sqlx::Result<()> {
    let delta = s.cost_micros - reservation.reserved;
    let latency_ms = reservation.started.elapsed().as_millis() as i64;
    let mut tx = platform.db.begin().await?;
    let user = user_scope(reservation.user_id);
    let month = &reservation.month;
    let user_total = store::adjust_ai_spend(&mut tx, &user, month, delta).await?;
    let all_total = store::adjust_ai_spend(&mut tx, ALL, month, delta).await?;
    store::finish_ai_ledger(
        &mut tx,
        reservation.ledger_id,
        &LedgerOutcome {
            outcome: s.outcome,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cost_micros: s.cost_micros,
            latency_ms,
            detail: s.detail,
        },
    )
    .await?;
    tx.commit().await?;
    count(
        model,
        s.outcome,
        s.input_tokens,
        s.output_tokens,
        s.cost_micros,
    );
    let uid = reservation.user_id;
    let user_spend = (user_total, reservation.user_budget);
    let all_spend = (all_total, reservation.global_budget);
    alerts::warn(platform, uid, false, month, user_spend, false).await?;
    alerts::warn(platform, uid, true, month, all_spend, false).await
}

fn count(model: &Model, outcome: &str, input: i64, output: i64, cost_micros: i64) {
    let labels = [
        ("model", format!("{}/{}", model.provider, model.name)),
        ("outcome", outcome.to_string()),
    ];
    metrics::counter!("keel_ai_calls_total", &labels).increment(1);
    let model_label = [("model", labels[0].1.clone())];
    metrics::counter!("keel_ai_input_tokens_total", &model_label).increment(input.max(0) as u64);
    metrics::counter!("keel_ai_output_tokens_total", &model_label).increment(output.max(0) as u64);
    metrics::counter!("keel_ai_cost_microdollars_total", &model_label)
        .increment(cost_micros.max(0) as u64);
}
