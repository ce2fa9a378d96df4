//! The SQLite and PostgreSQL migration histories must build the same schema: the same tables,
//! columns, nullability and indexes, apart from full-text search, which each database does
//! its own way. A migration added for one database and forgotten for the other fails here.

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestApp};

/// Full-text search: FTS5 virtual tables (and their shadow tables) on SQLite; a search table,
/// tsvector columns and GIN indexes on PostgreSQL.
const SQLITE_ONLY: &[&str] = &[
    "table crm_contact_fts",
    "column crm_contact_fts.body",
    "table crm_interaction_fts",
    "column crm_interaction_fts.subject",
    "column crm_interaction_fts.summary",
];
const POSTGRES_ONLY: &[&str] = &[
    "table crm_contact_search",
    "column crm_contact_search.contact_id not null",
    "column crm_contact_search.body not null",
    "index crm_contact_search_body",
    "column crm_interactions.search",
    "index crm_interactions_search",
];

/// One line per table, column (with nullability) and index.
async fn schema(app: &TestApp) -> BTreeSet<String> {
    let pool = app.platform.db.pool();
    let mut lines = BTreeSet::new();
    match app.platform.config.backend {
        keel_platform::config::Backend::Sqlite => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND name NOT LIKE '_sqlx%' AND name NOT LIKE '%_fts_%' ORDER BY name",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for table in tables {
                lines.insert(format!("table {table}"));
                let columns: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!("SELECT name, \"notnull\", pk FROM pragma_table_info('{table}')"),
                ))
                .fetch_all(pool)
                .await
                .unwrap();
                for (name, not_null, pk) in columns {
                    // A primary key column is never null, whatever the table info says.
                    let null = if not_null == 1 || pk > 0 {
                        " not null"
                    } else {
                        ""
                    };
                    lines.insert(format!("column {table}.{name}{null}"));
                }
                let indexes: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_index_list('{table}') WHERE origin = 'c'"
                )))
                .fetch_all(pool)
                .await
                .unwrap();
                for index in indexes {
                    lines.insert(format!("index {index}"));
                }
            }
        }
        keel_platform::config::Backend::Postgres => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 AND table_name NOT LIKE '_sqlx%' ORDER BY 1",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for table in tables {
                lines.insert(format!("table {table}"));
            }
            let columns: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT table_name::text, column_name::text, is_nullable::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for (table, name, nullable) in columns {
                let null = if nullable == "NO" { " not null" } else { "" };
                lines.insert(format!("column {table}.{name}{null}"));
            }
            // Indexes made by CREATE INDEX, not those behind primary keys and UNIQUE
            // constraints (SQLite names those itself).
            let indexes: Vec<String> = sqlx::query_scalar(
                "SELECT i.indexname::text FROM pg_indexes i WHERE i.schemaname = current_schema() \
                 AND i.tablename NOT LIKE '_sqlx%' AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                 WHERE c.conname = i.indexname AND c.contype IN ('p', 'u'))",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for index in indexes {
                lines.insert(format!("index {index}"));
            }
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_build_the_same_schema() {
    if common::postgres_url().is_none() {
        return;
    }
    let sqlite = TestApp::spawn(Backend::Sqlite).await;
    let postgres = TestApp::spawn(Backend::Postgres).await;
    let mut on_sqlite = schema(&sqlite).await;
    let mut on_postgres = schema(&postgres).await;
    for only in SQLITE_ONLY {
        assert!(
            on_sqlite.remove(*only),
            "`{only}` is gone: update SQLITE_ONLY"
        );
    }
    for only in POSTGRES_ONLY {
        assert!(
            on_postgres.remove(*only),
            "`{only}` is gone: update POSTGRES_ONLY"
        );
    }
    let missing_on_postgres: Vec<_> = on_sqlite.difference(&on_postgres).collect();
    let missing_on_sqlite: Vec<_> = on_postgres.difference(&on_sqlite).collect();
    assert!(
        missing_on_postgres.is_empty() && missing_on_sqlite.is_empty(),
        "the schemas differ\nonly on SQLite: {missing_on_postgres:#?}\nonly on PostgreSQL: {missing_on_sqlite:#?}"
    );
    sqlite.stop().await;
    postgres.stop().await;
}
