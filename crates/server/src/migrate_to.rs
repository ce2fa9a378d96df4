//! `keel migrate-to --database-url postgres://…`: moves an embedded (SQLite) installation to
//! PostgreSQL. The target gets this version's schema from the migrations, then every table
//! the two databases share is copied row for row, ids included, parents before children, in
//! one PostgreSQL transaction checked table by table before it commits: a failure leaves the
//! target as it was. The full-text indexes differ by design (FTS5 tables against tsvector
//! columns and tables); PostgreSQL's triggers and generated columns rebuild them as rows
//! arrive.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::{Context, bail};
use futures_util::TryStreamExt;
use keel_platform::config::{Backend, Config};
use keel_platform::db::Db;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, Connection, Row, TypeInfo, ValueRef};

/// Most bind parameters in one INSERT (PostgreSQL allows 65,535).
const MAX_PARAMETERS: usize = 30_000;

/// What was copied.
pub struct Copied {
    pub tables: Vec<(String, i64)>,
    /// SQLite's own full-text and bookkeeping tables, which PostgreSQL does without.
    pub left_behind: Vec<String>,
    pub seconds: f64,
}

pub async fn migrate_to(config: &Config, target_url: &str) -> anyhow::Result<Copied> {
    let started = Instant::now();
    if config.backend != Backend::Sqlite {
        bail!("keel already runs on PostgreSQL here; copy it with pg_dump and pg_restore");
    }
    if !(target_url.starts_with("postgres://") || target_url.starts_with("postgresql://")) {
        bail!("--database-url must be a postgres:// URL");
    }
    let Some(file) = keel_platform::db::sqlite_file_path(&config.database_url) else {
        bail!("the configured database names no SQLite file");
    };
    if !std::path::Path::new(&file).is_file() {
        bail!("there is no keel database at {file}");
    }
    // Both sides at this version's schema: the source as any start of keel would leave it.
    let mut migrations = vec![&keel_platform::state::MIGRATIONS];
    migrations.extend(crate::migrations());
    for (url, backend) in [
        (config.database_url.as_str(), Backend::Sqlite),
        (target_url, Backend::Postgres),
    ] {
        let db = Db::connect(url, backend, 2)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        db.migrate(&migrations).await?;
        db.close().await;
    }

    let options = SqliteConnectOptions::new().filename(&file).read_only(true);
    let mut source = sqlx::ConnectOptions::connect(&options).await?;
    // One read transaction: every table is copied from the same moment.
    sqlx::query("BEGIN").execute(&mut source).await?;
    let mut target = PgConnection::connect(target_url).await?;
    let mut tx = target.begin().await?;

    let holds_data: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await?;
    if holds_data > 0 {
        bail!("the target database already holds keel data; migrate into a new, empty database");
    }
    let source_tables: BTreeSet<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut source)
            .await?
            .into_iter()
            .collect();
    let target_tables: BTreeSet<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let shared: BTreeSet<String> = source_tables
        .intersection(&target_tables)
        .filter(|t| *t != "_sqlx_migrations")
        .cloned()
        .collect();
    let order = parents_first(&mut tx, &shared).await?;

    // The migrations seed a few rows (counters, defaults); the copy brings the real ones.
    for table in order.iter().rev() {
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&mut *tx)
            .await?;
    }
    let mut tables = Vec::new();
    for table in &order {
        let rows = copy_table(&mut source, &mut tx, table).await?;
        tables.push((table.clone(), rows));
    }
    continue_identities(&mut source, &mut tx, &shared).await?;
    tx.commit().await?;
    sqlx::query("COMMIT").execute(&mut source).await?;
    source.close().await?;

    let left_behind = source_tables
        .difference(&target_tables)
        .filter(|t| *t != "_sqlx_migrations")
        .cloned()
        .collect();
    Ok(Copied {
        tables,
        left_behind,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The tables in an order where every table comes after those its foreign keys point to.
async fn parents_first(
    tx: &mut PgConnection,
    tables: &BTreeSet<String>,
) -> anyhow::Result<Vec<String>> {
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c \
         WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut parents: BTreeMap<&str, BTreeSet<&str>> = tables
        .iter()
        .map(|t| (t.as_str(), BTreeSet::new()))
        .collect();
    for (child, parent) in &edges {
        // A table pointing at itself is copied in id order, parents first.
        if child != parent
            && tables.contains(parent)
            && let Some(set) = parents.get_mut(child.as_str())
        {
            set.insert(parent.as_str());
        }
    }
    let mut order: Vec<String> = Vec::with_capacity(tables.len());
    while order.len() < tables.len() {
        let ready: Vec<&str> = parents
            .iter()
            .filter(|(table, waiting)| {
                !order.iter().any(|t| t == *table)
                    && waiting.iter().all(|p| order.iter().any(|t| t == p))
            })
            .map(|(table, _)| *table)
            .collect();
        if ready.is_empty() {
            bail!("the foreign keys between tables form a cycle; cannot order the copy");
        }
        order.extend(ready.into_iter().map(str::to_string));
    }
    Ok(order)
}

/// One SQLite value, as stored (SQLite keeps a type per value, not per column).
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

fn cell(row: &SqliteRow, index: usize) -> anyhow::Result<Cell> {
    let raw = row.try_get_raw(index)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    Ok(match raw.type_info().name() {
        "INTEGER" => Cell::Integer(row.try_get(index)?),
        "REAL" => Cell::Real(row.try_get(index)?),
        "BLOB" => Cell::Blob(row.try_get(index)?),
        _ => Cell::Text(row.try_get(index)?),
    })
}

/// Copies one table's rows; returns how many, after checking the target holds as many.
async fn copy_table(
    source: &mut SqliteConnection,
    tx: &mut PgConnection,
    table: &str,
) -> anyhow::Result<i64> {
    // PostgreSQL's columns that are written (not generated), in both databases, with their
    // PostgreSQL types: each value is cast to its column's type.
    let target_columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' \
         ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *tx)
    .await?;
    let source_columns: BTreeSet<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT name FROM pragma_table_info('{table}')"
    )))
    .fetch_all(&mut *source)
    .await?
    .into_iter()
    .collect();
    let columns: Vec<(String, String)> = target_columns
        .into_iter()
        .filter(|(name, _)| source_columns.contains(name))
        .collect();
    if columns.is_empty() {
        return Ok(0);
    }
    let names = columns
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let rows_per_insert = (MAX_PARAMETERS / columns.len()).clamp(1, 1000);
    let select = format!("SELECT {names} FROM {table} ORDER BY rowid");
    let mut rows = sqlx::query(AssertSqlSafe(select)).fetch(&mut *source);
    let mut batch: Vec<Vec<Cell>> = Vec::with_capacity(rows_per_insert);
    let mut copied = 0i64;
    while let Some(row) = rows.try_next().await? {
        batch.push(
            (0..columns.len())
                .map(|i| cell(&row, i))
                .collect::<anyhow::Result<_>>()?,
        );
        if batch.len() == rows_per_insert {
            copied += insert(tx, table, &names, &columns, &batch).await?;
            batch.clear();
        }
    }
    drop(rows);
    if !batch.is_empty() {
        copied += insert(tx, table, &names, &columns, &batch).await?;
    }
    let source_count: i64 =
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut *source)
            .await?;
    let target_count: i64 =
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut *tx)
            .await?;
    if source_count != target_count || copied != source_count {
        bail!(
            "{table}: {source_count} rows in SQLite, {target_count} in PostgreSQL after the copy"
        );
    }
    Ok(copied)
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds a stored value as its PostgreSQL column's type, so that every row of a statement
/// sends each parameter with the same type (the statement is prepared once and reused).
fn bind_as<'q>(query: PgQuery<'q>, ty: &str, value: &'q Cell) -> anyhow::Result<PgQuery<'q>> {
    let text = |v: &Cell| -> Option<String> {
        match v {
            Cell::Null => None,
            Cell::Integer(i) => Some(i.to_string()),
            Cell::Real(r) => Some(r.to_string()),
            Cell::Text(t) => Some(t.clone()),
            Cell::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    };
    Ok(match ty {
        "bigint" | "integer" | "smallint" => query.bind(match value {
            Cell::Null => None,
            Cell::Integer(i) => Some(*i),
            Cell::Real(r) => Some(*r as i64),
            Cell::Text(t) => Some(t.trim().parse::<i64>().context("not a whole number")?),
            Cell::Blob(_) => bail!("a blob where a number belongs"),
        }),
        "boolean" => query.bind(match value {
            Cell::Null => None,
            Cell::Integer(i) => Some(*i != 0),
            other => Some(matches!(text(other).as_deref(), Some("1" | "true" | "t"))),
        }),
        "double precision" | "real" | "numeric" => query.bind(match value {
            Cell::Null => None,
            Cell::Integer(i) => Some(*i as f64),
            Cell::Real(r) => Some(*r),
            other => Some(text(other).unwrap_or_default().trim().parse::<f64>()?),
        }),
        "bytea" => query.bind(match value {
            Cell::Null => None,
            Cell::Blob(b) => Some(b.clone()),
            other => text(other).map(String::into_bytes),
        }),
        _ => query.bind(text(value)),
    })
}

async fn insert(
    tx: &mut PgConnection,
    table: &str,
    names: &str,
    columns: &[(String, String)],
    rows: &[Vec<Cell>],
) -> anyhow::Result<i64> {
    let mut n = 0;
    let values = rows
        .iter()
        .map(|_| {
            let row = columns
                .iter()
                .map(|_| {
                    n += 1;
                    format!("${n}")
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("({row})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("INSERT INTO {table} ({names}) OVERRIDING SYSTEM VALUE VALUES {values}");
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for row in rows {
        for (value, (column, ty)) in row.iter().zip(columns) {
            query = bind_as(query, ty, value).with_context(|| format!("{table}.{column}"))?;
        }
    }
    let done = query
        .execute(&mut *tx)
        .await
        .with_context(|| format!("copying {table}"))?;
    Ok(done.rows_affected() as i64)
}

/// Identity columns continue after the highest id SQLite ever gave (AUTOINCREMENT keeps
/// that past deleted rows), so no id is used twice.
async fn continue_identities(
    source: &mut SqliteConnection,
    tx: &mut PgConnection,
    tables: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let given: BTreeMap<String, i64> = sqlx::query_as("SELECT name, seq FROM sqlite_sequence")
        .fetch_all(&mut *source)
        .await
        .unwrap_or_default()
        .into_iter()
        .collect();
    for (table, column) in identities.iter().filter(|(t, _)| tables.contains(t)) {
        let highest: Option<i64> =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT MAX({column}) FROM {table}")))
                .fetch_one(&mut *tx)
                .await?;
        let next_after = highest
            .unwrap_or(0)
            .max(given.get(table).copied().unwrap_or(0));
        if next_after > 0 {
            sqlx::query_scalar::<_, i64>("SELECT setval(pg_get_serial_sequence($1, $2), $3)")
                .bind(table)
                .bind(column)
                .bind(next_after)
                .fetch_one(&mut *tx)
                .await?;
        }
    }
    Ok(())
}
