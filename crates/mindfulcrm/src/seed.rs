//! Realistic volumes for benchmarks and demos: `keel crm seed`. Contacts with an email, a
//! company, notes and a few of twenty tags; interactions spread over the last two years, each
//! with one contact. Written with multi-row inserts in large transactions; deterministic.

use keel_platform::seeding::{ROWS_PER_STATEMENT, Rng};
use keel_platform::{AppResult, Platform};

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Linus",
    "Radia",
    "Donald",
    "Frances",
    "John",
    "Hedy",
    "Tim",
    "Katherine",
    "Niklaus",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Torvalds",
    "Perlman",
    "Knuth",
    "Allen",
    "McCarthy",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Wirth",
];
const COMPANIES: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
];
const STAGES: &[&str] = &["prospect", "new", "active", "close", "dormant"];
const KINDS: &[&str] = &["email", "meeting", "call", "message", "note"];

pub struct Seeded {
    pub contacts: usize,
    pub interactions: usize,
}

/// Adds `contacts` contacts and `interactions` interactions to a user's data.
pub async fn seed(
    platform: &Platform,
    user_id: i64,
    contacts: usize,
    interactions: usize,
) -> AppResult<Seeded> {
    let dialect = platform.db.dialect();
    let now = platform.now().as_millis();
    let mut rng = Rng::new(0x2545_F491_4F6C_DD1D);
    let mut tx = platform.db.begin().await?;

    for t in 0..20 {
        sqlx::query("INSERT INTO crm_tags (user_id, name) VALUES ($1, $2) ON CONFLICT (user_id, name) DO NOTHING")
            .bind(user_id)
            .bind(format!("tag-{t:02}"))
            .execute(&mut *tx)
            .await?;
    }
    let tag_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM crm_tags WHERE user_id = $1 AND name LIKE 'tag-%' ORDER BY name",
    )
    .bind(user_id)
    .fetch_all(&mut *tx)
    .await?;
    let first_new: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM crm_contacts")
        .fetch_one(&mut *tx)
        .await?;

    let mut done = 0;
    while done < contacts {
        let n = ROWS_PER_STATEMENT.min(contacts - done);
        let sql = format!(
            "INSERT INTO crm_contacts (user_id, given_name, family_name, display_name, company, title, website, notes, stage, cadence_days, created_at, updated_at) VALUES {}",
            dialect.values(n, 12, "")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for i in done..done + n {
            let (first, last) = (FIRST[rng.next(16) as usize], LAST[rng.next(16) as usize]);
            let cadence = [None, Some(7), Some(14), Some(30), Some(90)][rng.next(5) as usize];
            q = q
                .bind(user_id)
                .bind(first)
                .bind(format!("{last} {i}"))
                .bind(format!("{first} {last} {i}"))
                .bind(COMPANIES[rng.next(10) as usize])
                .bind("Engineer")
                .bind("")
                .bind(format!(
                    "Met {first} at a meetup about {}; follow up on project {}.",
                    KINDS[rng.next(5) as usize],
                    rng.next(1000)
                ))
                .bind(STAGES[rng.next(5) as usize])
                .bind(cadence)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut *tx).await?;
        done += n;
    }
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM crm_contacts WHERE user_id = $1 AND id > $2 ORDER BY id",
    )
    .bind(user_id)
    .bind(first_new)
    .fetch_all(&mut *tx)
    .await?;

    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO crm_contact_emails (contact_id, position, user_id, email, label) VALUES {}",
            dialect.values(chunk.len(), 4, "''")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q
                .bind(*id)
                .bind(0i64)
                .bind(user_id)
                .bind(format!("person{id}@example.com"));
        }
        q.execute(&mut *tx).await?;

        let mut pairs = Vec::new();
        for id in chunk {
            let count = rng.next(4) as usize;
            let mut chosen: Vec<i64> = Vec::new();
            for _ in 0..count {
                let tag = tag_ids[rng.next(tag_ids.len() as u64) as usize];
                if !chosen.contains(&tag) {
                    chosen.push(tag);
                    pairs.push((*id, tag));
                }
            }
        }
        if !pairs.is_empty() {
            let sql = format!(
                "INSERT INTO crm_contact_tags (contact_id, tag_id) VALUES {}",
                dialect.values(pairs.len(), 2, "")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, t) in &pairs {
                q = q.bind(*c).bind(*t);
            }
            q.execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;

    let two_years = 2 * 365 * 86_400_000i64;
    let mut latest: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    let mut done = 0;
    while done < interactions && !ids.is_empty() {
        let mut tx = platform.db.begin().await?;
        let batch_end = (done + 50_000).min(interactions);
        while done < batch_end {
            let n = ROWS_PER_STATEMENT.min(batch_end - done);
            let sql = format!(
                "INSERT INTO crm_interactions (user_id, kind, occurred_at, subject, summary, created_at) VALUES {} RETURNING id",
                dialect.values(n, 6, "")
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            let mut owners = Vec::with_capacity(n);
            for _ in 0..n {
                let owner = ids[rng.next(ids.len() as u64) as usize];
                let at = now - rng.next(two_years as u64) as i64;
                owners.push(owner);
                let last = latest.entry(owner).or_insert(at);
                *last = (*last).max(at);
                q = q
                    .bind(user_id)
                    .bind(KINDS[rng.next(5) as usize])
                    .bind(at)
                    .bind(format!("Catch-up {}", rng.next(100_000)))
                    .bind("Talked about work, family and the next trip.")
                    .bind(now);
            }
            let new_ids = q.fetch_all(&mut *tx).await?;
            let sql = format!(
                "INSERT INTO crm_interaction_contacts (interaction_id, contact_id) VALUES {}",
                dialect.values(n, 2, "")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (interaction, contact) in new_ids.iter().zip(&owners) {
                q = q.bind(*interaction).bind(*contact);
            }
            q.execute(&mut *tx).await?;
            done += n;
        }
        tx.commit().await?;
    }

    // Each contact's latest interaction, known from the rows just written, set 500 at a time
    // (a correlated or joined UPDATE over a million interactions is slow on SQLite).
    let latest: Vec<(i64, i64)> = latest.into_iter().collect();
    let mut tx = platform.db.begin().await?;
    for chunk in latest.chunks(ROWS_PER_STATEMENT) {
        let cases: String = chunk
            .iter()
            .map(|(id, at)| format!(" WHEN {id} THEN {at}"))
            .collect();
        let list = chunk
            .iter()
            .map(|(id, _)| id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE crm_contacts SET last_interaction_at = CASE id{cases} END WHERE id IN ({list})"
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let tables = [
        "crm_contacts",
        "crm_contact_emails",
        "crm_contact_tags",
        "crm_tags",
        "crm_interactions",
        "crm_interaction_contacts",
        "crm_contact_search",
    ];
    if let Some(sql) = platform.db.dialect().after_bulk_load(&tables) {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(platform.db.pool())
            .await?;
    }
    Ok(Seeded {
        contacts: ids.len(),
        interactions: done,
    })
}
