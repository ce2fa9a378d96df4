use serde::Serialize;
use sqlx::FromRow;

use super::Executor;
use crate::domain::{TeamRole, Timestamp};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: Timestamp,
}

#[derive(FromRow)]
struct TeamRow {
    id: i64,
    name: String,
    description: String,
    created_at: i64,
}

impl From<TeamRow> for Team {
    fn from(r: TeamRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            created_at: Timestamp::from_millis(r.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamMember {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: TeamRole,
    pub added_at: Timestamp,
}

pub async fn insert_team<'c>(
    db: impl Executor<'c>,
    name: &str,
    description: &str,
    now: Timestamp,
) -> sqlx::Result<Team> {
    sqlx::query_as::<_, TeamRow>(
        "INSERT INTO teams (name, description, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         RETURNING id, name, description, created_at",
    )
    .bind(name)
    .bind(description)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
    .map(Team::from)
}

pub async fn team_by_id<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<Option<Team>> {
    sqlx::query_as::<_, TeamRow>(
        "SELECT id, name, description, created_at FROM teams WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(Team::from))
}

pub async fn update_team<'c>(
    db: impl Executor<'c>,
    id: i64,
    name: Option<&str>,
    description: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<Option<Team>> {
    sqlx::query_as::<_, TeamRow>(
        "UPDATE teams SET name = COALESCE($1, name), description = COALESCE($2, description), \
         updated_at = $3 WHERE id = $4 RETURNING id, name, description, created_at",
    )
    .bind(name)
    .bind(description)
    .bind(now.as_millis())
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(Team::from))
}

pub async fn delete_team<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM teams WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

pub async fn list_all_teams<'c>(db: impl Executor<'c>) -> sqlx::Result<Vec<Team>> {
    sqlx::query_as::<_, TeamRow>(
        "SELECT id, name, description, created_at FROM teams ORDER BY name",
    )
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(Team::from).collect())
}

pub async fn list_teams_of_user<'c>(
    db: impl Executor<'c>,
    user_id: i64,
) -> sqlx::Result<Vec<Team>> {
    sqlx::query_as::<_, TeamRow>(
        "SELECT t.id, t.name, t.description, t.created_at FROM teams t \
         JOIN team_members m ON m.team_id = t.id WHERE m.user_id = $1 ORDER BY t.name",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(Team::from).collect())
}

pub async fn member_role<'c>(
    db: impl Executor<'c>,
    team_id: i64,
    user_id: i64,
) -> sqlx::Result<Option<TeamRole>> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .fetch_optional(db)
            .await?;
    Ok(role.and_then(|r| TeamRole::parse(&r).ok()))
}

/// Ids of the teams the user belongs to.
pub async fn team_ids_of_user<'c>(db: impl Executor<'c>, user_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT team_id FROM team_members WHERE user_id = $1 ORDER BY team_id")
        .bind(user_id)
        .fetch_all(db)
        .await
}

pub async fn list_members<'c>(
    db: impl Executor<'c>,
    team_id: i64,
) -> sqlx::Result<Vec<TeamMember>> {
    #[derive(FromRow)]
    struct Row {
        user_id: i64,
        email: String,
        name: String,
        role: String,
        created_at: i64,
    }
    let rows = sqlx::query_as::<_, Row>(
        "SELECT m.user_id, u.email, u.name, m.role, m.created_at FROM team_members m \
         JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 ORDER BY u.name, u.email",
    )
    .bind(team_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TeamMember {
            user_id: r.user_id,
            email: r.email,
            name: r.name,
            role: TeamRole::parse(&r.role).unwrap_or(TeamRole::Member),
            added_at: Timestamp::from_millis(r.created_at),
        })
        .collect())
}

/// Adds the user to the team or changes their role.
pub async fn upsert_member<'c>(
    db: impl Executor<'c>,
    team_id: i64,
    user_id: i64,
    role: TeamRole,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(team_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now.as_millis())
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn remove_member<'c>(
    db: impl Executor<'c>,
    team_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
        .bind(team_id)
        .bind(user_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}
