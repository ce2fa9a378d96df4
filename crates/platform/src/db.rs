//! One data-access codebase for SQLite (embedded default) and PostgreSQL (multi-node).
//!
//! Queries are written once in the SQL both databases share: `$1` parameters (SQLite accepts
//! them), `RETURNING`, `ON CONFLICT`, integers for ids and timestamps (milliseconds), text for
//! JSON. The few places where a database feature matters go through [`Db::dialect`].

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, Executor, SqlSafeStr};

pub use crate::config::Backend;

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// Dropped with the last clone of this `Db`, which stops the background checkpointer.
    _checkpointer: Option<std::sync::Arc<tokio::sync::oneshot::Sender<()>>>,
}

/// The schema changes one crate owns, for both databases. Versions are globally unique
/// (platform 1xxx, OpenAlert 2xxx, MindfulCRM 3xxx) so the crates share one history table.
pub struct MigrationSet {
    pub owner: &'static str,
    pub sqlite: &'static [(i64, &'static str, &'static str)],
    pub postgres: &'static [(i64, &'static str, &'static str)],
    /// Tables whose ids jobs, links or caches hold on to: an id of a deleted row must never
    /// name a new one. PostgreSQL sequences never reuse; on SQLite these become
    /// `AUTOINCREMENT` (see [`Db::migrate`]).
    pub never_reuse_ids: &'static [&'static str],
}

impl MigrationSet {
    pub const fn never_reusing_ids(self, tables: &'static [&'static str]) -> Self {
        Self {
            never_reuse_ids: tables,
            ..self
        }
    }
}

/// Where SQL has to differ between the databases. Keep this small.
#[derive(Debug, Clone, Copy)]
pub struct Dialect(Backend);

impl Dialect {
    pub fn new(backend: Backend) -> Self {
        Self(backend)
    }

    /// The database underneath. Outside this file, ask a method below instead (clippy
    /// refuses calls elsewhere), so every difference stays listed here.
    pub fn backend(self) -> Backend {
        self.0
    }

    /// Full-text search differs in tables, functions and query syntax: `sqlite` (FTS5) or
    /// `postgres` (tsvector), whichever this database takes.
    pub fn full_text<T>(self, sqlite: T, postgres: T) -> T {
        match self.0 {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }

    /// A search query matching all `words`, the last as a prefix (it may be half-typed):
    /// FTS5 `"a" "b"*`, tsquery `a & b:*`. Words must be free of the syntax's characters.
    pub fn prefix_search_query(self, words: &[String]) -> String {
        let last = words.len().saturating_sub(1);
        let terms = words
            .iter()
            .enumerate()
            .map(|(i, w)| match (self.0, i == last) {
                (Backend::Sqlite, true) => format!("\"{w}\"*"),
                (Backend::Sqlite, false) => format!("\"{w}\""),
                (Backend::Postgres, true) => format!("{w}:*"),
                (Backend::Postgres, false) => w.clone(),
            });
        let separator = match self.0 {
            Backend::Sqlite => " ",
            Backend::Postgres => " & ",
        };
        terms.collect::<Vec<_>>().join(separator)
    }

    /// Row locks for a read-then-write in a transaction: PostgreSQL's `FOR UPDATE`; SQLite's
    /// transactions already hold the one write lock (`BEGIN IMMEDIATE`).
    pub fn for_update(self) -> &'static str {
        match self.0 {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    /// A statement that makes the rest of the transaction exclusive for the name bound as
    /// `$1` across every node (PostgreSQL's transaction-scoped advisory lock). None on SQLite,
    /// whose transactions already hold the one write lock (`BEGIN IMMEDIATE`).
    pub fn exclusive_for_name(self) -> Option<&'static str> {
        match self.0 {
            Backend::Postgres => Some(
                "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) AS held",
            ),
            Backend::Sqlite => None,
        }
    }

    /// A statement answering the oldest transaction that may still commit: rows written by
    /// transactions below it (a `pg_current_xact_id()` default) are all visible or never will
    /// be. None on SQLite, which commits one writer at a time, in id order.
    pub fn commit_horizon(self) -> Option<&'static str> {
        match self.0 {
            Backend::Postgres => {
                Some("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            }
            Backend::Sqlite => None,
        }
    }

    /// What to run after loading many rows into `tables`: PostgreSQL's statistics are stale
    /// and its visibility map empty (index-only scans visit the heap for every row) until
    /// autovacuum comes by, so `VACUUM (ANALYZE)` now. SQLite needs nothing.
    pub fn after_bulk_load(self, tables: &[&str]) -> Option<String> {
        match self.0 {
            Backend::Postgres => Some(format!("VACUUM (ANALYZE) {}", tables.join(", "))),
            Backend::Sqlite => None,
        }
    }

    /// Bind parameter number `n` (1-based). SQLite looks `$N` names up linearly, which makes
    /// statements with hundreds of parameters quadratic; positional `?` has no such cost.
    /// Only for generated multi-row statements, where parameters appear in order.
    pub fn parameter(self, n: usize) -> String {
        match self.0 {
            Backend::Postgres => format!("${n}"),
            Backend::Sqlite => "?".to_string(),
        }
    }

    /// `(p1, p2, …[, tail]), (…)` for a multi-row `INSERT … VALUES` of `rows` rows of `cols`
    /// bound values each, numbered in row order; `tail` is appended to every row as literal SQL.
    pub fn values(self, rows: usize, cols: usize, tail: &str) -> String {
        (0..rows)
            .map(|r| {
                let mut params: Vec<String> =
                    (1..=cols).map(|c| self.parameter(r * cols + c)).collect();
                if !tail.is_empty() {
                    params.push(tail.to_string());
                }
                format!("({})", params.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// An aggregate joining the text `expr` of a group's rows with `separator` (a literal
    /// without quotes): SQLite's `group_concat`, PostgreSQL's `string_agg`.
    pub fn string_agg(self, expr: &str, separator: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("group_concat({expr}, '{separator}')"),
            Backend::Postgres => format!("string_agg({expr}, '{separator}')"),
        }
    }

    /// The UTF-8 bytes of the text `expr` in hexadecimal (upper case on SQLite, lower on
    /// PostgreSQL), so any text can travel inside a delimited record.
    pub fn text_as_hex(self, expr: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("hex({expr})"),
            Backend::Postgres => format!("encode(convert_to({expr}, 'UTF8'), 'hex')"),
        }
    }

    /// Row locking for queue claims: Postgres lets workers on many nodes skip each other's
    /// rows; SQLite has a single writer, so the claiming UPDATE is already exclusive.
    pub fn for_update_skip_locked(self) -> &'static str {
        match self.0 {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }
}

/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so one
/// unlucky writer waits for pages to be copied and synced. Checkpointing from here every
/// second keeps the log short and that wait off every request; a passive checkpoint never
/// blocks readers or the writer. Ends when the pool is closed or its `Db` is dropped.
async fn checkpoint_in_background(pool: AnyPool, mut dropped: tokio::sync::oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut dropped => return,
        }
        if pool.is_closed() {
            return;
        }
        if let Err(err) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %err, "background WAL checkpoint failed");
        }
    }
}

impl Db {
    pub async fn connect(url: &str, backend: Backend, max_connections: u32) -> sqlx::Result<Self> {
        sqlx::any::install_default_drivers();
        if backend == Backend::Sqlite
            && let Some(path) = sqlite_file_path(url)
            && let Some(dir) = Path::new(&path).parent()
            && !dir.as_os_str().is_empty()
        {
            crate::files::create_private_dir(dir).map_err(sqlx::Error::Io)?;
        }
        if backend == Backend::Sqlite
            && let Some(path) = sqlite_file_path(url)
            && url.contains("mode=rwc")
        {
            crate::files::create_private_file(Path::new(&path)).map_err(sqlx::Error::Io)?;
        }
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            // An embedded file cannot drop the connection; pinging it costs a thread hand-off.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer. FULL syncs the log at every
                        // commit, so a 2xx survives a power cut, not only a process crash; group
                        // commit makes that one fsync per batch of requests.
                        // Checkpoints run in the background (see `checkpoint_in_background`);
                        // the automatic one stays as a backstop for a runaway log.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA wal_autocheckpoint = 16384;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let checkpointer = (backend == Backend::Sqlite).then(|| {
            let (guard, dropped) = tokio::sync::oneshot::channel();
            tokio::spawn(checkpoint_in_background(pool.clone(), dropped));
            std::sync::Arc::new(guard)
        });
        Ok(Self {
            pool,
            backend,
            _checkpointer: checkpointer,
        })
    }

    /// Opens the pool's connections and has each read the schema, so the first requests
    /// after start do not pay for either; gives up quietly after `budget`.
    pub async fn warm(&self, budget: Duration) {
        let size = self.pool.options().get_max_connections() as usize;
        let warm_one = || async {
            let mut conn = self.pool.acquire().await?;
            let statement = match self.backend {
                Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_schema",
                Backend::Postgres => "SELECT COUNT(*) FROM pg_catalog.pg_namespace",
            };
            sqlx::query(statement).execute(&mut *conn).await?;
            // Held until every connection is open, so each warms a different one.
            Ok::<_, sqlx::Error>(conn)
        };
        let all = futures_util::future::join_all((0..size).map(|_| warm_one()));
        match tokio::time::timeout(budget, all).await {
            Ok(results) => {
                if let Some(Err(err)) = results.into_iter().find(Result::is_err) {
                    tracing::warn!(error = %err, "database warm-up failed");
                }
            }
            Err(_) => tracing::debug!("database warm-up stopped at its time budget"),
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn dialect(&self) -> Dialect {
        Dialect(self.backend)
    }

    /// Starts a transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`)
    /// so a read-then-write transaction never fails half-way with SQLITE_BUSY.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Applies every pending migration of every set, in order.
    pub async fn migrate(&self, sets: &[&MigrationSet]) -> Result<(), sqlx::migrate::MigrateError> {
        for set in sets {
            let steps = match self.backend {
                Backend::Sqlite => set.sqlite,
                Backend::Postgres => set.postgres,
            };
            let migrations = steps
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        sql.into_sql_str(),
                        false,
                    )
                })
                .collect();
            let mut migrator = Migrator::with_migrations(migrations);
            // Other crates' versions live in the same history table.
            migrator.set_ignore_missing(true);
            migrator.run(&self.pool).await?;
            if self.backend == Backend::Sqlite {
                for table in set.never_reuse_ids {
                    self.sqlite_autoincrement(table)
                        .await
                        .map_err(sqlx::migrate::MigrateError::Execute)?;
                }
            }
        }
        Ok(())
    }

    /// SQLite gives a new row the largest id plus one, so deleting the newest row frees its
    /// id for the next insert, unless the table is `AUTOINCREMENT`. That cannot be added in
    /// place: the table is rebuilt once from its own stored definition (whatever columns
    /// later migrations added), its rows copied with their ids, and its indexes and triggers
    /// recreated. Foreign keys are off meanwhile so the drop cascades nowhere.
    async fn sqlite_autoincrement(&self, table: &str) -> sqlx::Result<()> {
        let mut conn = self.pool.acquire().await?;
        let definition: Option<String> =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(table)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(definition) = definition else {
            return Err(sqlx::Error::Protocol(format!(
                "never_reuse_ids names `{table}`, which does not exist"
            )));
        };
        if definition.to_ascii_uppercase().contains("AUTOINCREMENT") {
            return Ok(());
        }
        let rebuilt = autoincrement_definition(&definition, table).ok_or_else(|| {
            sqlx::Error::Protocol(format!(
                "`{table}` has no `INTEGER PRIMARY KEY` column to make AUTOINCREMENT"
            ))
        })?;
        let dependents: Vec<String> = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE tbl_name = $1 AND type IN ('index', 'trigger') AND sql IS NOT NULL",
        )
        .bind(table)
        .fetch_all(&mut *conn)
        .await?;
        conn.execute("PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON")
            .await?;
        let result = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            tx.execute(AssertSqlSafe(rebuilt)).await?;
            tx.execute(AssertSqlSafe(format!(
                "INSERT INTO \"{table}__rebuild\" SELECT * FROM \"{table}\"; \
                 DROP TABLE \"{table}\"; \
                 ALTER TABLE \"{table}__rebuild\" RENAME TO \"{table}\""
            )))
            .await?;
            for sql in &dependents {
                tx.execute(AssertSqlSafe(sql.clone())).await?;
            }
            tx.commit().await
        }
        .await;
        conn.execute("PRAGMA legacy_alter_table = OFF; PRAGMA foreign_keys = ON")
            .await?;
        result
    }

    pub async fn ping(&self) -> sqlx::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `CREATE TABLE name (… id INTEGER PRIMARY KEY …)` as `CREATE TABLE "name__rebuild" (… id
/// INTEGER PRIMARY KEY AUTOINCREMENT …)`.
fn autoincrement_definition(definition: &str, table: &str) -> Option<String> {
    let upper = definition.to_ascii_uppercase();
    let open = upper.find('(')?;
    let key = upper[open..].find("INTEGER PRIMARY KEY")? + open + "INTEGER PRIMARY KEY".len();
    let after = upper[key..].trim_start();
    if !upper[key..].starts_with(|c: char| c == ',' || c == ')' || c.is_whitespace())
        || ["REFERENCES", "ASC", "DESC", "ON CONFLICT"]
            .iter()
            .any(|clause| after.starts_with(clause))
    {
        return None;
    }
    Some(format!(
        "CREATE TABLE \"{table}__rebuild\" {} AUTOINCREMENT{}",
        &definition[open..key],
        &definition[key..]
    ))
}

/// The file behind a `sqlite:` URL, if it names one.
pub fn sqlite_file_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

/// True when the error is a unique-constraint violation (mapped to 409 by callers).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// True when the error is a foreign-key violation: a referenced row does not exist, or
/// (`ON DELETE RESTRICT`) rows still refer to the one being deleted. SQLite reports the latter
/// with an extended code sqlx does not classify, so its message is read too.
pub fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation
            || db.message().contains("FOREIGN KEY constraint failed"))
}

/// Embeds a crate's migration files: `migrations!("0001_accounts" => 1001, ...)` expands to a
/// [`MigrationSet`] reading `migrations/sqlite/NAME.sql` and `migrations/postgres/NAME.sql`.
#[macro_export]
macro_rules! migrations {
    ($owner:expr, $($name:literal => $version:literal),+ $(,)?) => {
        $crate::db::MigrationSet {
            owner: $owner,
            sqlite: &[$(($version, $name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $name, ".sql")))),+],
            postgres: &[$(($version, $name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $name, ".sql")))),+],
            never_reuse_ids: &[],
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_file_path("sqlite://data/keel.db?mode=rwc").as_deref(),
            Some("data/keel.db")
        );
        assert_eq!(sqlite_file_path("sqlite::memory:"), None);
    }

    #[test]
    fn autoincrement_definitions() {
        assert_eq!(
            autoincrement_definition(
                "CREATE TABLE things (\n    id   INTEGER PRIMARY KEY,\n    name TEXT NOT NULL\n)",
                "things"
            )
            .as_deref(),
            Some(
                "CREATE TABLE \"things__rebuild\" (\n    id   INTEGER PRIMARY KEY AUTOINCREMENT,\n    name TEXT NOT NULL\n)"
            )
        );
        assert_eq!(
            autoincrement_definition(
                "CREATE TABLE s (user_id INTEGER PRIMARY KEY REFERENCES users (id))",
                "s"
            ),
            None
        );
        assert_eq!(
            autoincrement_definition("CREATE TABLE s (a TEXT)", "s"),
            None
        );
    }
}
