//! Goals: measurable targets whose progress is computed from interactions, never typed in.
//! `interactions`: at least N interactions a period (optionally of one kind, with contacts of
//! one stage or tag). `reconnect`: reach every contact of a group (stage and/or tag) within
//! the period. Periods (week from Monday, month, quarter) follow the user's time zone; the
//! history is the same count over the periods before.

use keel_platform::domain::{Timestamp, Validator};
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{InteractionKind, Stage};
use crate::settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GoalKind {
    Interactions,
    Reconnect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Week,
    Month,
    Quarter,
}

impl GoalKind {
    fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "interactions" => Ok(Self::Interactions),
            "reconnect" => Ok(Self::Reconnect),
            _ => Err("must be interactions or reconnect".into()),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interactions => "interactions",
            Self::Reconnect => "reconnect",
        }
    }
}

impl Period {
    fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            "quarter" => Ok(Self::Quarter),
            _ => Err("must be week, month or quarter".into()),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
        }
    }

    /// The first day of the period holding `date`.
    fn start_of(self, date: jiff::civil::Date) -> jiff::civil::Date {
        match self {
            Self::Week => date
                .checked_sub(jiff::Span::new().days(date.weekday().to_monday_zero_offset()))
                .unwrap_or(date),
            Self::Month => date.first_of_month(),
            Self::Quarter => jiff::civil::date(date.year(), (date.month() - 1) / 3 * 3 + 1, 1),
        }
    }

    fn step(self) -> jiff::Span {
        match self {
            Self::Week => jiff::Span::new().weeks(1),
            Self::Month => jiff::Span::new().months(1),
            Self::Quarter => jiff::Span::new().months(3),
        }
    }
}

/// One period's count.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodProgress {
    /// First local day of the period, `YYYY-MM-DD`.
    pub starts_on: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// Interactions (or contacts reached) in the period.
    pub value: i64,
    /// What the period had to reach: the goal's target, or the group's size for `reconnect`.
    pub target: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Goal {
    pub id: i64,
    pub title: String,
    pub kind: GoalKind,
    pub period: Period,
    /// For `interactions`; `reconnect` targets the whole group.
    pub target: i64,
    pub interaction_kind: Option<InteractionKind>,
    pub stage: Option<Stage>,
    pub tag: Option<String>,
    /// The current period.
    pub current: PeriodProgress,
    /// Earlier periods, oldest first (only when asked for).
    pub history: Vec<PeriodProgress>,
}

impl Goal {
    /// Progress of the current period, 0-100.
    pub fn percent(&self) -> i64 {
        percent(&self.current)
    }
}

pub fn percent(p: &PeriodProgress) -> i64 {
    if p.target <= 0 {
        return 100;
    }
    (p.value * 100 / p.target).clamp(0, 100)
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GoalInput {
    pub title: String,
    /// `interactions` or `reconnect`.
    pub kind: String,
    /// `week`, `month` or `quarter`.
    pub period: String,
    /// Interactions per period (for `interactions`).
    pub target: Option<i64>,
    pub interaction_kind: Option<String>,
    pub stage: Option<String>,
    pub tag: Option<String>,
}

#[derive(sqlx::FromRow)]
struct GoalRow {
    id: i64,
    title: String,
    kind: String,
    period: String,
    target: i64,
    interaction_kind: Option<String>,
    stage: Option<String>,
    tag: Option<String>,
}

struct GoalFields {
    title: String,
    kind: GoalKind,
    period: Period,
    target: i64,
    interaction_kind: Option<InteractionKind>,
    stage: Option<Stage>,
    tag: Option<String>,
}

fn non_empty(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn validate(input: &GoalInput) -> AppResult<GoalFields> {
    let mut v = Validator::new();
    let title = input.title.trim().to_string();
    if title.is_empty() || title.chars().count() > 200 {
        v.add("title", "is required, at most 200 characters");
    }
    let kind = v.check("kind", GoalKind::parse(input.kind.trim()));
    let period = v.check("period", Period::parse(input.period.trim()));
    let interaction_kind = non_empty(&input.interaction_kind)
        .and_then(|k| v.check("interaction_kind", InteractionKind::parse(k)));
    let stage = non_empty(&input.stage).and_then(|s| v.check("stage", Stage::parse(s)));
    let tag = non_empty(&input.tag).map(str::to_lowercase);
    let target = match kind {
        Some(GoalKind::Interactions) => match input.target {
            Some(t) if (1..=10_000).contains(&t) => t,
            _ => {
                v.add("target", "must be between 1 and 10000 interactions");
                1
            }
        },
        _ => 1,
    };
    if kind == Some(GoalKind::Reconnect) && stage.is_none() && tag.is_none() {
        v.add(
            "stage",
            "a reconnect goal needs a group: a stage, a tag or both",
        );
    }
    v.finish().map_err(AppError::Validation)?;
    Ok(GoalFields {
        title,
        kind: kind.expect("validated"),
        period: period.expect("validated"),
        target,
        interaction_kind,
        stage,
        tag,
    })
}

pub async fn save(
    platform: &Platform,
    principal: &Principal,
    id: Option<i64>,
    input: &GoalInput,
) -> AppResult<Goal> {
    let f = validate(input)?;
    let now = platform.now().as_millis();
    let user_id = principal.user.id;
    let id = match id {
        None => {
            sqlx::query_scalar(
                "INSERT INTO crm_goals (user_id, title, kind, period, target, interaction_kind, stage, tag, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            )
            .bind(user_id)
            .bind(&f.title)
            .bind(f.kind.as_str())
            .bind(f.period.as_str())
            .bind(f.target)
            .bind(f.interaction_kind.map(InteractionKind::as_str))
            .bind(f.stage.map(Stage::as_str))
            .bind(&f.tag)
            .bind(now)
            .fetch_one(platform.db.pool())
            .await?
        }
        Some(id) => {
            let changed = sqlx::query(
                "UPDATE crm_goals SET title = $1, kind = $2, period = $3, target = $4, interaction_kind = $5, stage = $6, tag = $7, \
                 updated_at = $8 WHERE id = $9 AND user_id = $10",
            )
            .bind(&f.title)
            .bind(f.kind.as_str())
            .bind(f.period.as_str())
            .bind(f.target)
            .bind(f.interaction_kind.map(InteractionKind::as_str))
            .bind(f.stage.map(Stage::as_str))
            .bind(&f.tag)
            .bind(now)
            .bind(id)
            .bind(user_id)
            .execute(platform.db.pool())
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(AppError::NotFound("goal"));
            }
            id
        }
    };
    get(platform, principal, id, 0).await
}

pub async fn delete(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    let deleted = sqlx::query("DELETE FROM crm_goals WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(principal.user.id)
        .execute(platform.db.pool())
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(AppError::NotFound("goal"));
    }
    Ok(())
}

const GOAL_COLUMNS: &str = "id, title, kind, period, target, interaction_kind, stage, tag";

/// One goal with its current period and `history` earlier periods.
pub async fn get(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    history: usize,
) -> AppResult<Goal> {
    let row: GoalRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {GOAL_COLUMNS} FROM crm_goals WHERE id = $1 AND user_id = $2"
    )))
    .bind(id)
    .bind(principal.user.id)
    .fetch_optional(platform.db.pool())
    .await?
    .ok_or(AppError::NotFound("goal"))?;
    let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
    progress(platform, principal.user.id, &settings, row, history).await
}

/// All of the user's goals, oldest first, each with `history` earlier periods.
pub async fn list(
    platform: &Platform,
    principal: &Principal,
    history: usize,
) -> AppResult<Vec<Goal>> {
    let rows: Vec<GoalRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {GOAL_COLUMNS} FROM crm_goals WHERE user_id = $1 ORDER BY id LIMIT 100"
    )))
    .bind(principal.user.id)
    .fetch_all(platform.db.pool())
    .await?;
    let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
    // A few goals measured side by side, in order, leaving the pool to other requests.
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(rows)
        .map(|row| progress(platform, principal.user.id, &settings, row, history))
        .buffered(4)
        .try_collect()
        .await
}

/// Period boundaries, oldest first, the current period last: `periods + 1` instants.
fn boundaries(
    period: Period,
    settings: &Settings,
    now: Timestamp,
    periods: usize,
) -> Vec<(jiff::civil::Date, i64)> {
    let today = settings.local(now).date();
    let mut start = period.start_of(today);
    let mut out = Vec::with_capacity(periods + 1);
    // The end of the current period first, then each start going back.
    let end = start.checked_add(period.step()).unwrap_or(start);
    for _ in 0..periods {
        out.push(start);
        start = start.checked_sub(period.step()).unwrap_or(start);
    }
    out.reverse();
    out.push(end);
    out.into_iter()
        .map(|d| (d, settings.start_of_day(d)))
        .collect()
}

/// Conditions on contact `c` for a goal's group (stage, then tag), numbered by `next`.
fn group_filter(
    stage: Option<Stage>,
    tag: Option<&str>,
    next: &mut impl FnMut() -> String,
) -> Vec<String> {
    let mut group = Vec::new();
    if stage.is_some() {
        group.push(format!("c.stage = {}", next()));
    }
    if tag.is_some() {
        group.push(format!(
            "EXISTS (SELECT 1 FROM crm_contact_tags ct JOIN crm_tags t ON t.id = ct.tag_id WHERE ct.contact_id = c.id AND t.name = {})",
            next()
        ));
    }
    group
}

async fn progress(
    platform: &Platform,
    user_id: i64,
    settings: &Settings,
    row: GoalRow,
    history: usize,
) -> AppResult<Goal> {
    let kind = GoalKind::parse(&row.kind).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let period = Period::parse(&row.period).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let stage = row.stage.as_deref().and_then(|s| Stage::parse(s).ok());
    let interaction_kind = row
        .interaction_kind
        .as_deref()
        .and_then(|k| InteractionKind::parse(k).ok());
    let bounds = boundaries(period, settings, platform.now(), history + 1);
    // A reconnect goal's current period is read from the contacts' last interaction (one
    // pass over the group); interactions are counted only for the periods before it.
    let measured: &[(jiff::civil::Date, i64)] = if kind == GoalKind::Reconnect {
        &bounds[..=history]
    } else {
        &bounds
    };

    // $1 user, $2 / $3 the whole range, then the optional filters, then the inner boundaries.
    let mut n = 3;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    let mut filters = vec![
        "i.user_id = $1".to_string(),
        "i.occurred_at >= $2".to_string(),
        "i.occurred_at < $3".to_string(),
    ];
    if interaction_kind.is_some() {
        filters.push(format!("i.kind = {}", next()));
    }
    let group = group_filter(stage, row.tag.as_deref(), &mut next);
    // Boundaries between the measured periods.
    let inner = if measured.len() > 2 {
        &measured[1..measured.len() - 1]
    } else {
        &[]
    };
    let bucket_params: Vec<String> = inner.iter().map(|_| next()).collect();
    // Bucket 0 is the oldest period; each boundary passed moves an interaction one up.
    let bucket = if bucket_params.is_empty() {
        "0".to_string()
    } else {
        bucket_params
            .iter()
            .map(|p| format!("CASE WHEN i.occurred_at >= {p} THEN 1 ELSE 0 END"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let (counted, from) = if kind == GoalKind::Reconnect || !group.is_empty() {
        filters.extend(group);
        (
            if kind == GoalKind::Reconnect {
                "COUNT(DISTINCT ic.contact_id)"
            } else {
                "COUNT(DISTINCT i.id)"
            },
            "crm_interactions i JOIN crm_interaction_contacts ic ON ic.interaction_id = i.id \
             JOIN crm_contacts c ON c.id = ic.contact_id AND c.stage <> 'archived'",
        )
    } else {
        ("COUNT(*)", "crm_interactions i")
    };
    let sql = format!(
        "SELECT {bucket} AS bucket, {counted} AS n FROM {from} WHERE {} GROUP BY 1",
        filters.join(" AND ")
    );
    let counts = if measured.len() < 2 {
        Vec::new()
    } else {
        let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(measured[0].1)
            .bind(measured[measured.len() - 1].1);
        if let Some(k) = interaction_kind {
            q = q.bind(k.as_str());
        }
        if let Some(s) = stage {
            q = q.bind(s.as_str());
        }
        if let Some(tag) = &row.tag {
            q = q.bind(tag.clone());
        }
        for (_, at) in inner {
            q = q.bind(*at);
        }
        q.fetch_all(platform.db.pool()).await?
    };

    // (target, reached this period) of a reconnect goal's group.
    let reconnect = if kind == GoalKind::Reconnect {
        let mut n = 2;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let group = group_filter(stage, row.tag.as_deref(), &mut next);
        let sql = format!(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN c.last_interaction_at >= $2 THEN 1 ELSE 0 END), 0) \
             FROM crm_contacts c WHERE c.user_id = $1 AND c.stage <> 'archived'{}",
            group
                .iter()
                .map(|g| format!(" AND {g}"))
                .collect::<String>()
        );
        let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(bounds[history].1);
        if let Some(s) = stage {
            q = q.bind(s.as_str());
        }
        if let Some(tag) = &row.tag {
            q = q.bind(tag.clone());
        }
        Some(q.fetch_one(platform.db.pool()).await?)
    } else {
        None
    };
    let target = reconnect.map_or(row.target, |(size, _)| size);

    let mut periods: Vec<PeriodProgress> = bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| PeriodProgress {
            starts_on: w[0].0.to_string(),
            starts_at: Timestamp::from_millis(w[0].1),
            ends_at: Timestamp::from_millis(w[1].1),
            value: counts
                .iter()
                .find(|(b, _)| *b == i as i64)
                .map_or(0, |(_, n)| *n),
            target,
        })
        .collect();
    let mut current = periods.pop().expect("at least one period");
    if let Some((_, reached)) = reconnect {
        current.value = reached;
    }
    Ok(Goal {
        id: row.id,
        title: row.title,
        kind,
        period,
        target: row.target,
        interaction_kind,
        stage,
        tag: row.tag,
        current,
        history: periods,
    })
}
