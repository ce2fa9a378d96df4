//! AI providers and models, budgets and monthly spend, the call ledger, cached summaries.

use keel_platform::domain::Timestamp;
use keel_platform::store::Executor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderRow {
    pub id: i64,
    pub name: String,
    pub base_url: String,
    pub api_key_sealed: Option<String>,
    pub timeout_ms: i64,
    pub enabled: i64,
    pub created_at: i64,
}

pub async fn ai_providers<'c>(db: impl Executor<'c>) -> sqlx::Result<Vec<ProviderRow>> {
    sqlx::query_as(
        "SELECT id, name, base_url, api_key_sealed, timeout_ms, enabled, created_at FROM crm_ai_providers ORDER BY name",
    )
    .fetch_all(db)
    .await
}

pub async fn ai_provider<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<Option<ProviderRow>> {
    sqlx::query_as(
        "SELECT id, name, base_url, api_key_sealed, timeout_ms, enabled, created_at FROM crm_ai_providers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn insert_ai_provider<'c>(
    db: impl Executor<'c>,
    name: &str,
    base_url: &str,
    api_key_sealed: Option<&str>,
    timeout_ms: i64,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO crm_ai_providers (name, base_url, api_key_sealed, timeout_ms, enabled, created_at) \
         VALUES ($1, $2, $3, $4, 1, $5) RETURNING id",
    )
    .bind(name)
    .bind(base_url)
    .bind(api_key_sealed)
    .bind(timeout_ms)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
}

pub async fn delete_ai_provider<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM crm_ai_providers WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?
        .rows_affected())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ModelRow {
    pub id: i64,
    pub provider_id: i64,
    pub provider: String,
    pub provider_enabled: i64,
    pub name: String,
    pub context_window: i64,
    pub input_price_micros: i64,
    pub output_price_micros: i64,
    pub tier: String,
    pub enabled: i64,
}

/// Every model with its provider's name, by provider and name.
pub async fn ai_models<'c>(db: impl Executor<'c>) -> sqlx::Result<Vec<ModelRow>> {
    sqlx::query_as(
        "SELECT m.id, m.provider_id, p.name AS provider, p.enabled AS provider_enabled, m.name, m.context_window, \
         m.input_price_micros, m.output_price_micros, m.tier, m.enabled \
         FROM crm_ai_models m JOIN crm_ai_providers p ON p.id = m.provider_id ORDER BY p.name, m.name",
    )
    .fetch_all(db)
    .await
}

pub struct ModelFields<'a> {
    pub name: &'a str,
    pub context_window: i64,
    pub input_price_micros: i64,
    pub output_price_micros: i64,
    pub tier: &'a str,
}

pub async fn insert_ai_model<'c>(
    db: impl Executor<'c>,
    provider_id: i64,
    f: &ModelFields<'_>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO crm_ai_models (provider_id, name, context_window, input_price_micros, output_price_micros, tier, enabled) \
         VALUES ($1, $2, $3, $4, $5, $6, 1) RETURNING id",
    )
    .bind(provider_id)
    .bind(f.name)
    .bind(f.context_window)
    .bind(f.input_price_micros)
    .bind(f.output_price_micros)
    .bind(f.tier)
    .fetch_one(db)
    .await
}

pub async fn delete_ai_model<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM crm_ai_models WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?
        .rows_affected())
}

/// Budgets that apply to one user, read at once: the server's (`None` before the admin saved
/// any), the admin's for the user and the user's own limit.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BudgetRow {
    pub global_budget_micros: Option<i64>,
    pub user_default_micros: Option<i64>,
    pub budget_micros: Option<i64>,
    pub own_limit_micros: Option<i64>,
}

pub async fn ai_budgets_of<'c>(db: impl Executor<'c>, user_id: i64) -> sqlx::Result<BudgetRow> {
    sqlx::query_as(
        "SELECT (SELECT global_budget_micros FROM crm_ai_config WHERE id = 1) AS global_budget_micros, \
         (SELECT user_budget_micros FROM crm_ai_config WHERE id = 1) AS user_default_micros, \
         (SELECT budget_micros FROM crm_ai_users WHERE user_id = $1) AS budget_micros, \
         (SELECT own_limit_micros FROM crm_ai_users WHERE user_id = $1) AS own_limit_micros",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// The monthly budgets; `None` before the admin saved any.
pub async fn ai_config<'c>(db: impl Executor<'c>) -> sqlx::Result<Option<(i64, i64)>> {
    sqlx::query_as(
        "SELECT global_budget_micros, user_budget_micros FROM crm_ai_config WHERE id = 1",
    )
    .fetch_optional(db)
    .await
}

pub async fn save_ai_config<'c>(
    db: impl Executor<'c>,
    global_budget_micros: i64,
    user_budget_micros: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO crm_ai_config (id, global_budget_micros, user_budget_micros) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET global_budget_micros = excluded.global_budget_micros, \
         user_budget_micros = excluded.user_budget_micros",
    )
    .bind(global_budget_micros)
    .bind(user_budget_micros)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct AiUserRow {
    pub opted_in: i64,
    pub budget_micros: Option<i64>,
    pub own_limit_micros: Option<i64>,
}

pub async fn ai_user<'c>(db: impl Executor<'c>, user_id: i64) -> sqlx::Result<Option<AiUserRow>> {
    sqlx::query_as(
        "SELECT opted_in, budget_micros, own_limit_micros FROM crm_ai_users WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// The user's own choices; the admin's budget for them stays.
pub async fn save_ai_choices<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    opted_in: bool,
    own_limit_micros: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO crm_ai_users (user_id, opted_in, own_limit_micros) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET opted_in = excluded.opted_in, own_limit_micros = excluded.own_limit_micros",
    )
    .bind(user_id)
    .bind(i64::from(opted_in))
    .bind(own_limit_micros)
    .execute(db)
    .await?;
    Ok(())
}

/// The admin's budget for one user (`None`: the default).
pub async fn save_ai_user_budget<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    budget_micros: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO crm_ai_users (user_id, opted_in, budget_micros) VALUES ($1, 0, $2) \
         ON CONFLICT (user_id) DO UPDATE SET budget_micros = excluded.budget_micros",
    )
    .bind(user_id)
    .bind(budget_micros)
    .execute(db)
    .await?;
    Ok(())
}

/// Settled costs plus open reservations of `scope` in `month`.
pub async fn ai_committed<'c>(
    db: impl Executor<'c>,
    scope: &str,
    month: &str,
) -> sqlx::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT committed_micros FROM crm_ai_spend WHERE scope = $1 AND month = $2",
    )
    .bind(scope)
    .bind(month)
    .fetch_optional(db)
    .await?
    .unwrap_or(0))
}

/// Adds `amount` to what `scope` committed in `month` if the sum stays within `limit`; false
/// when it would not. The check and the write are one statement, so concurrent reservations
/// are serialised by the row.
pub async fn try_commit_ai_spend(
    tx: &mut sqlx::AnyConnection,
    scope: &str,
    month: &str,
    amount: i64,
    limit: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO crm_ai_spend (scope, month, committed_micros) SELECT $1, $2, $3 WHERE $3 <= $4 \
         ON CONFLICT (scope, month) DO UPDATE SET committed_micros = crm_ai_spend.committed_micros + excluded.committed_micros \
         WHERE crm_ai_spend.committed_micros + excluded.committed_micros <= $4",
    )
    .bind(scope)
    .bind(month)
    .bind(amount)
    .bind(limit)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// Moves what `scope` committed in `month` by `delta` (a reservation settled to its cost);
/// returns the new total.
pub async fn adjust_ai_spend(
    tx: &mut sqlx::AnyConnection,
    scope: &str,
    month: &str,
    delta: i64,
) -> sqlx::Result<i64> {
    Ok(sqlx::query_scalar(
        "UPDATE crm_ai_spend SET committed_micros = committed_micros + $3 WHERE scope = $1 AND month = $2 \
         RETURNING committed_micros",
    )
    .bind(scope)
    .bind(month)
    .bind(delta)
    .fetch_optional(&mut *tx)
    .await?
    .unwrap_or(0))
}

/// Notes that the `level` per cent warning of `scope` went out this month; false if it had.
pub async fn claim_ai_alert<'c>(
    db: impl Executor<'c>,
    scope: &str,
    month: &str,
    level: i64,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO crm_ai_alerts (scope, month, level) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(scope)
    .bind(month)
    .bind(level)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

pub struct LedgerFields<'a> {
    pub user_id: i64,
    pub feature: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub month: &'a str,
    pub input_tokens: i64,
    pub reserved_micros: i64,
    pub outcome: &'a str,
    pub detail: Option<&'a str>,
}

pub async fn insert_ai_ledger<'c>(
    db: impl Executor<'c>,
    f: &LedgerFields<'_>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO crm_ai_ledger (user_id, feature, provider, model, month, input_tokens, output_tokens, \
         reserved_micros, cost_micros, latency_ms, outcome, detail, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 0, 0, $8, $9, $10) RETURNING id",
    )
    .bind(f.user_id)
    .bind(f.feature)
    .bind(f.provider)
    .bind(f.model)
    .bind(f.month)
    .bind(f.input_tokens)
    .bind(f.reserved_micros)
    .bind(f.outcome)
    .bind(f.detail)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
}

pub struct LedgerOutcome<'a> {
    pub outcome: &'a str,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub latency_ms: i64,
    pub detail: Option<&'a str>,
}

pub async fn finish_ai_ledger(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    o: &LedgerOutcome<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE crm_ai_ledger SET outcome = $2, input_tokens = $3, output_tokens = $4, cost_micros = $5, \
         latency_ms = $6, detail = $7 WHERE id = $1",
    )
    .bind(id)
    .bind(o.outcome)
    .bind(o.input_tokens)
    .bind(o.output_tokens)
    .bind(o.cost_micros)
    .bind(o.latency_ms)
    .bind(o.detail)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// One group of a month's calls.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UsageRow {
    pub key: String,
    pub calls: i64,
    pub refused: i64,
    pub failed: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

/// A month's calls grouped by `by` (`feature`, `model`, `day` or `user`), of one user or all.
pub async fn ai_usage<'c>(
    db: impl Executor<'c>,
    user_id: Option<i64>,
    month: &str,
    by: UsageGroup,
) -> sqlx::Result<Vec<UsageRow>> {
    let key = match by {
        UsageGroup::Feature => "l.feature",
        UsageGroup::Model => "l.provider || ' / ' || l.model",
        // Days in UTC, from the millisecond timestamp.
        UsageGroup::Day => "CAST(l.created_at / 86400000 AS TEXT)",
        UsageGroup::User => "u.email",
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        // PostgreSQL sums BIGINT into NUMERIC: cast back.
        "SELECT {key} AS key, COUNT(*) AS calls, \
         CAST(SUM(CASE WHEN l.outcome = 'refused' THEN 1 ELSE 0 END) AS BIGINT) AS refused, \
         CAST(SUM(CASE WHEN l.outcome IN ('provider_error', 'timed_out') THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
         CAST(SUM(l.input_tokens) AS BIGINT) AS input_tokens, CAST(SUM(l.output_tokens) AS BIGINT) AS output_tokens, \
         CAST(SUM(l.cost_micros) AS BIGINT) AS cost_micros \
         FROM crm_ai_ledger l JOIN users u ON u.id = l.user_id \
         WHERE l.month = $1 AND ($2 IS NULL OR l.user_id = $2) GROUP BY {key} ORDER BY {key}"
    )))
    .bind(month)
    .bind(user_id)
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Feature,
    Model,
    Day,
    User,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TextRow {
    pub source_hash: String,
    pub state: String,
    pub text: Option<String>,
    pub model: Option<String>,
    pub error: Option<String>,
    pub updated_at: i64,
}

/// What the assistant wrote of `kind` (`summary`, `next_touch`) about a contact.
pub async fn ai_text<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    contact_id: i64,
    kind: &str,
) -> sqlx::Result<Option<TextRow>> {
    sqlx::query_as(
        "SELECT source_hash, state, text, model, error, updated_at FROM crm_ai_texts \
         WHERE user_id = $1 AND contact_id = $2 AND kind = $3",
    )
    .bind(user_id)
    .bind(contact_id)
    .bind(kind)
    .fetch_optional(db)
    .await
}

/// Marks a text as being made from `source_hash`; false when one for that hash is already
/// being made or made (so a page view queues at most one job). A failed one is started again
/// only with `retry`.
pub async fn start_ai_text<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    contact_id: i64,
    kind: &str,
    source_hash: &str,
    retry: bool,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "INSERT INTO crm_ai_texts (contact_id, kind, user_id, source_hash, state, updated_at) \
         VALUES ($1, $2, $3, $4, 'working', $5) \
         ON CONFLICT (contact_id, kind) DO UPDATE SET source_hash = excluded.source_hash, state = 'working', \
         error = NULL, updated_at = excluded.updated_at \
         WHERE crm_ai_texts.source_hash <> excluded.source_hash OR ($6 = 1 AND crm_ai_texts.state = 'failed')",
    )
    .bind(contact_id)
    .bind(kind)
    .bind(user_id)
    .bind(source_hash)
    .bind(now.as_millis())
    .bind(i64::from(retry))
    .execute(db)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Ends a run for `source_hash` (a newer run's row is left alone): the text, or why there is
/// none (the previous text stays).
pub async fn finish_ai_text<'c>(
    db: impl Executor<'c>,
    contact_id: i64,
    kind: &str,
    source_hash: &str,
    outcome: Result<(&str, &str), &str>,
    now: Timestamp,
) -> sqlx::Result<()> {
    let (state, text, model, error) = match outcome {
        Ok((text, model)) => ("ready", Some(text), Some(model), None),
        Err(error) => ("failed", None, None, Some(error)),
    };
    sqlx::query(
        "UPDATE crm_ai_texts SET state = $4, text = COALESCE($5, text), model = COALESCE($6, model), \
         error = $7, updated_at = $8 WHERE contact_id = $1 AND kind = $2 AND source_hash = $3",
    )
    .bind(contact_id)
    .bind(kind)
    .bind(source_hash)
    .bind(state)
    .bind(text)
    .bind(model)
    .bind(error)
    .bind(now.as_millis())
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProposalRow {
    pub id: i64,
    pub interaction_id: i64,
    pub title: String,
    pub due_on: Option<String>,
    pub state: String,
    pub task_id: Option<i64>,
    pub created_at: i64,
}

pub async fn insert_ai_proposal<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    interaction_id: i64,
    title: &str,
    due_on: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO crm_ai_proposals (user_id, interaction_id, title, due_on, state, created_at) \
         VALUES ($1, $2, $3, $4, 'open', $5)",
    )
    .bind(user_id)
    .bind(interaction_id)
    .bind(title)
    .bind(due_on)
    .bind(now.as_millis())
    .execute(db)
    .await?;
    Ok(())
}

/// Open proposals of the user, optionally only those from interactions with one contact.
pub async fn open_ai_proposals<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    contact_id: Option<i64>,
) -> sqlx::Result<Vec<ProposalRow>> {
    sqlx::query_as(
        "SELECT p.id, p.interaction_id, p.title, p.due_on, p.state, p.task_id, p.created_at FROM crm_ai_proposals p \
         WHERE p.user_id = $1 AND p.state = 'open' AND ($2 IS NULL OR EXISTS (SELECT 1 FROM crm_interaction_contacts ic \
         WHERE ic.interaction_id = p.interaction_id AND ic.contact_id = $2)) ORDER BY p.created_at DESC, p.id LIMIT 200",
    )
    .persistent(false)
    .bind(user_id)
    .bind(contact_id)
    .fetch_all(db)
    .await
}

pub async fn ai_proposal<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<Option<ProposalRow>> {
    sqlx::query_as(
        "SELECT id, interaction_id, title, due_on, state, task_id, created_at FROM crm_ai_proposals \
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Moves an open proposal to `state` (with the task it became); false if it was not open.
pub async fn close_ai_proposal<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    id: i64,
    state: &str,
    task_id: Option<i64>,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE crm_ai_proposals SET state = $3, task_id = $4 WHERE id = $1 AND user_id = $2 AND state = 'open'",
    )
    .bind(id)
    .bind(user_id)
    .bind(state)
    .bind(task_id)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Puts a proposal back to open (its accept failed) or links the task it became.
pub async fn update_ai_proposal<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    id: i64,
    state: &str,
    task_id: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE crm_ai_proposals SET state = $3, task_id = $4 WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .bind(state)
    .bind(task_id)
    .execute(db)
    .await?;
    Ok(())
}

/// One call of a month, for the CSV export.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LedgerRow {
    pub created_at: i64,
    pub email: String,
    pub feature: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub latency_ms: i64,
    pub outcome: String,
}

/// A month's calls, oldest first, of one user or all.
pub async fn ai_ledger<'c>(
    db: impl Executor<'c>,
    user_id: Option<i64>,
    month: &str,
) -> sqlx::Result<Vec<LedgerRow>> {
    sqlx::query_as(
        "SELECT l.created_at, u.email, l.feature, l.provider, l.model, l.input_tokens, l.output_tokens, \
         l.cost_micros, l.latency_ms, l.outcome FROM crm_ai_ledger l JOIN users u ON u.id = l.user_id \
         WHERE l.month = $1 AND ($2 IS NULL OR l.user_id = $2) ORDER BY l.id",
    )
    .persistent(false)
    .bind(month)
    .bind(user_id)
    .fetch_all(db)
    .await
}
