//! What confirmed purchases leave behind and what pricing reads back: the usage of offers'
//! per-member caps, the member's facts for offers, and the history entries of purchases
//! and refunds (with the postings they made linked to them).

use crate::purchases::{bind_save, save, save_statement, AnyQuery, Purchase, SAVE_PARAMS};
use crate::{placeholders, Dialect, Store, StoreError, Tx};
use accrue_core::offers::{period_start, MemberFacts, OfferUsage, Period, Usage, UsageSoFar};
use accrue_core::purchase::PurchaseEntry;
use accrue_core::Millis;
use sqlx::Row;
use std::collections::HashMap;

/// Saves a purchase as a step left it, with what the step leaves behind: the usage of
/// the purchase's offers and its history entry (a confirmation or a refund), linked to
/// the postings the step made. A purchase without a member leaves nothing behind. One
/// statement on PostgreSQL.
pub(crate) async fn save_recorded(
    tx: &mut Tx,
    program_id: i64,
    p: &Purchase,
    usage: &[OfferUsage],
    entry: PurchaseEntry,
    postings: &[i64],
) -> Result<(), StoreError> {
    if p.member_id.is_none() {
        return save(tx, p).await;
    }
    let entry = serde_json::to_string(&named(tx, program_id, entry).await?)?;
    match tx.dialect {
        Dialect::Sqlite => {
            save(tx, p).await?;
            if !usage.is_empty() {
                let sql = usage_insert(1, usage.len());
                bind_usage(sqlx::query(&sql), program_id, p, tx.now, usage)
                    .execute(tx.conn())
                    .await?;
            }
            let sql = format!("{} RETURNING id", entry_insert(1));
            let entry_id: i64 = bind_entry(sqlx::query(&sql), program_id, p, tx.now, entry)
                .fetch_one(tx.conn())
                .await?
                .try_get(0)?;
            if !postings.is_empty() {
                let sql = links_insert("$1", 2, postings.len());
                bind_links(sqlx::query(&sql).bind(entry_id), postings)
                    .execute(tx.conn())
                    .await?;
            }
        }
        Dialect::Postgres => {
            let mut first = 1 + SAVE_PARAMS;
            let mut sql = format!("WITH saved AS ({}), ", save_statement(1));
            if !usage.is_empty() {
                sql += &format!("used AS ({}), ", usage_insert(first, usage.len()));
                first += USAGE_PARAMS * usage.len();
            }
            sql += &format!("entry AS ({} RETURNING id) ", entry_insert(first));
            first += ENTRY_PARAMS;
            sql += &match postings.is_empty() {
                true => "SELECT id FROM entry".to_string(),
                false => links_insert("(SELECT id FROM entry)", first, postings.len()),
            };
            let query = bind_save(sqlx::query(&sql), p, tx.now)?;
            let query = bind_usage(query, program_id, p, tx.now, usage);
            let query = bind_entry(query, program_id, p, tx.now, entry);
            bind_links(query, postings).execute(tx.conn()).await?;
        }
    }
    Ok(())
}

const USAGE_PARAMS: usize = 8;
const ENTRY_PARAMS: usize = 6;

fn usage_insert(first: usize, rows: usize) -> String {
    let rows: Vec<String> = (0..rows)
        .map(|i| format!("({})", placeholders(first + i * USAGE_PARAMS, USAGE_PARAMS)))
        .collect();
    format!(
        "INSERT INTO offer_usage (program_id, member_id, offer_code, purchase_id, used_at, applications, \
         discount, bonus) VALUES {}",
        rows.join(", ")
    )
}

fn bind_usage<'q>(
    mut query: AnyQuery<'q>,
    program_id: i64,
    p: &Purchase,
    now: Millis,
    usage: &[OfferUsage],
) -> AnyQuery<'q> {
    for used in usage {
        query = query
            .bind(program_id)
            .bind(p.member_id)
            .bind(used.offer_id.clone())
            .bind(p.id)
            .bind(now)
            .bind(i64::from(used.usage.applications))
            .bind(used.usage.discount)
            .bind(used.usage.bonus);
    }
    query
}

fn entry_insert(first: usize) -> String {
    format!(
        "INSERT INTO purchase_entries (program_id, member_id, purchase_id, currency_id, entry, created_at) \
         VALUES ({})",
        placeholders(first, ENTRY_PARAMS)
    )
}

fn bind_entry<'q>(query: AnyQuery<'q>, program_id: i64, p: &Purchase, now: Millis, entry: String) -> AnyQuery<'q> {
    query
        .bind(program_id)
        .bind(p.member_id)
        .bind(p.id)
        .bind(p.currency_id)
        .bind(entry)
        .bind(now)
}

/// Links postings, bound from `$first`, to the entry `entry` (a placeholder or a query).
fn links_insert(entry: &str, first: usize, postings: usize) -> String {
    let rows: Vec<String> = (first..first + postings).map(|i| format!("(${i}, {entry})")).collect();
    format!(
        "INSERT INTO purchase_postings (posting_id, entry_id) VALUES {}",
        rows.join(", ")
    )
}

fn bind_links<'q>(mut query: AnyQuery<'q>, postings: &[i64]) -> AnyQuery<'q> {
    for posting in postings {
        query = query.bind(*posting);
    }
    query
}

/// The entry with the catalogue's names of its goods.
pub(crate) async fn named(tx: &mut Tx, program_id: i64, mut entry: PurchaseEntry) -> Result<PurchaseEntry, StoreError> {
    let names = kept_names(tx, program_id, &entry.goods_ids()).await?;
    for item in &mut entry.items {
        item.name = item.goods.goods_id.as_ref().and_then(|id| names.get(id).cloned());
    }
    Ok(entry)
}

/// The goods' names, from memory where kept (the catalogue changes only by imports, which
/// mark their transaction as changing what the cache keeps); the rest in one query. As in
/// [`crate::cache::memoized_in_tx`], a transaction that changed the cache's data neither
/// reads it nor fills it.
async fn kept_names(tx: &mut Tx, program_id: i64, ids: &[String]) -> Result<HashMap<String, String>, StoreError> {
    let cache = tx.cache.clone();
    let generation = cache.generation.current();
    let trusted = !tx.config_changed;
    let mut names = HashMap::new();
    let mut missing = Vec::new();
    for id in ids {
        match cache
            .goods_names
            .get(&(program_id, id.clone()), generation)
            .filter(|_| trusted)
        {
            Some(name) => names.extend(name.map(|name| (id.clone(), name))),
            None => missing.push(id.clone()),
        }
    }
    if missing.is_empty() {
        return Ok(names);
    }
    let mut loaded = goods_names(tx.conn(), program_id, &missing).await?;
    for id in missing {
        let name = loaded.remove(&id);
        if trusted {
            cache
                .goods_names
                .put((program_id, id.clone()), generation, name.clone());
        }
        names.extend(name.map(|name| (id, name)));
    }
    Ok(names)
}

async fn goods_names<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    conn: E,
    program_id: i64,
    ids: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT goods_id, name FROM goods WHERE program_id = $1 AND goods_id IN ({})",
        placeholders(2, ids.len())
    );
    let mut query = sqlx::query(&sql).bind(program_id);
    for id in ids {
        query = query.bind(id);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

const PERIODS: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::Ever];

impl Store {
    /// The catalogue's names of these goods (those it has).
    pub async fn goods_names(&self, program_id: i64, ids: &[String]) -> Result<HashMap<String, String>, StoreError> {
        goods_names(self.reads(), program_id, ids).await
    }

    /// What offers know of a member: the facts of their attributes, the bonuses they can
    /// spend in the currency, whether no purchase of theirs was confirmed yet, and (when
    /// `with_usage`) their usage of every offer in the current cap periods.
    pub async fn purchase_facts(
        &self,
        program_id: i64,
        member_id: i64,
        currency_id: i64,
        utc_offset_minutes: i32,
        with_usage: bool,
    ) -> Result<(MemberFacts, UsageSoFar), StoreError> {
        // One statement: the attributes, the usable points (lots active and not expired;
        // held points have already left the wallet) and whether a purchase was confirmed.
        let row = sqlx::query(
            "SELECT m.attributes, \
               (SELECT CAST(COALESCE(SUM(l.remaining), 0) AS BIGINT) FROM accounts a JOIN lots l ON l.account_id = a.id \
                WHERE a.currency_id = $3 AND a.kind = 'wallet' AND a.member_id = m.id AND l.remaining > 0 \
                  AND l.activates_at <= $4 AND (l.expires_at IS NULL OR l.expires_at > $4)), \
               (SELECT COUNT(*) FROM (SELECT 1 FROM purchases p WHERE p.program_id = m.program_id \
                AND p.member_id = m.id AND p.state = 'confirmed' LIMIT 1) confirmed), \
               (SELECT k.code FROM cards c JOIN card_categories k ON k.id = c.category_id \
                WHERE c.member_id = m.id AND c.state = 'active' ORDER BY c.id LIMIT 1) \
             FROM members m WHERE m.program_id = $1 AND m.id = $2",
        )
        .bind(program_id)
        .bind(member_id)
        .bind(currency_id)
        .bind(self.now())
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("member"))?;
        let attributes: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&row.try_get::<String, _>(0)?)?;
        let mut facts = MemberFacts::from_attributes(&attributes);
        facts.balance = Some(row.try_get(1)?);
        facts.first_purchase = row.try_get::<i64, _>(2)? == 0;
        // The operator's `cardCategory` attribute stands; else the category of the card.
        if facts.card_category.is_none() {
            facts.card_category = row.try_get(3)?;
        }
        let usage = if with_usage {
            self.usage_so_far(program_id, member_id, utc_offset_minutes).await?
        } else {
            UsageSoFar::default()
        };
        Ok((facts, usage))
    }

    /// The member's usage of each offer since the start of each cap period.
    async fn usage_so_far(
        &self,
        program_id: i64,
        member_id: i64,
        utc_offset_minutes: i32,
    ) -> Result<UsageSoFar, StoreError> {
        let now = self.now();
        let starts: Vec<Millis> = PERIODS
            .iter()
            .map(|&p| period_start(p, now, utc_offset_minutes).unwrap_or(Millis::MIN))
            .collect();
        let sums: Vec<String> = (0..PERIODS.len())
            .flat_map(|i| {
                ["applications", "discount", "bonus"].map(|column| {
                    format!(
                        "CAST(SUM(CASE WHEN used_at >= ${} THEN {column} ELSE 0 END) AS BIGINT)",
                        i + 3
                    )
                })
            })
            .collect();
        let sql = format!(
            "SELECT offer_code, {} FROM offer_usage WHERE program_id = $1 AND member_id = $2 GROUP BY offer_code",
            sums.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(program_id).bind(member_id);
        for start in &starts {
            query = query.bind(*start);
        }
        let mut usage = UsageSoFar::default();
        for row in query.fetch_all(self.reads()).await? {
            let code: String = row.try_get(0)?;
            for (i, &period) in PERIODS.iter().enumerate() {
                let column = |k: usize| row.try_get::<i64, _>(1 + 3 * i + k);
                let used = Usage {
                    applications: u32::try_from(column(0)?).unwrap_or(u32::MAX),
                    discount: column(1)?,
                    bonus: column(2)?,
                };
                usage.set(code.clone(), period, used);
            }
        }
        Ok(usage)
    }
}
