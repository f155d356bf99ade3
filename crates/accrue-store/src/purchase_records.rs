//! What confirmed purchases leave behind and what pricing reads back: the usage of offers'
//! per-member caps, the member's facts for offers, and the history entries of purchases
//! and refunds (with the postings they made linked to them).

use crate::purchases::Purchase;
use crate::{placeholders, Store, StoreError, Tx};
use accrue_core::offers::{period_start, MemberFacts, Period, Usage, UsageSoFar};
use accrue_core::purchase::{PricedCheque, PurchaseEntry};
use accrue_core::Millis;
use sqlx::Row;
use std::collections::HashMap;

/// Records the usage of a just-confirmed purchase's offers and its history entry.
pub(crate) async fn purchase_confirmed(
    tx: &mut Tx,
    program_id: i64,
    p: &Purchase,
    cheque: &PricedCheque,
    postings: &[i64],
) -> Result<(), StoreError> {
    let Some(member_id) = p.member_id else {
        return Ok(());
    };
    for used in cheque.usage(p.accrual > 0) {
        sqlx::query(
            "INSERT INTO offer_usage (program_id, member_id, offer_code, purchase_id, used_at, applications, \
             discount, bonus) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(program_id)
        .bind(member_id)
        .bind(&used.offer_id)
        .bind(p.id)
        .bind(tx.now)
        .bind(i64::from(used.usage.applications))
        .bind(used.usage.discount)
        .bind(used.usage.bonus)
        .execute(tx.conn())
        .await?;
    }
    let entry = PurchaseEntry::purchase(cheque, p.bonus_paid, p.accrual);
    add_entry(tx, program_id, p, entry, postings).await
}

/// Adds a history entry of the purchase (a confirmation or a refund) and links the
/// postings it made to it.
pub(crate) async fn add_entry(
    tx: &mut Tx,
    program_id: i64,
    p: &Purchase,
    mut entry: PurchaseEntry,
    postings: &[i64],
) -> Result<(), StoreError> {
    let Some(member_id) = p.member_id else {
        return Ok(());
    };
    let names = goods_names(tx.conn(), program_id, &entry.goods_ids()).await?;
    for item in &mut entry.items {
        item.name = item.goods.goods_id.as_ref().and_then(|id| names.get(id).cloned());
    }
    let entry_id: i64 = sqlx::query(
        "INSERT INTO purchase_entries (program_id, member_id, purchase_id, currency_id, entry, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(program_id)
    .bind(member_id)
    .bind(p.id)
    .bind(p.currency_id)
    .bind(serde_json::to_string(&entry)?)
    .bind(tx.now)
    .fetch_one(tx.conn())
    .await?
    .try_get(0)?;
    if postings.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..postings.len()).map(|i| format!("(${}, $1)", i + 2)).collect();
    let sql = format!(
        "INSERT INTO purchase_postings (posting_id, entry_id) VALUES {}",
        rows.join(", ")
    );
    let mut insert = sqlx::query(&sql).bind(entry_id);
    for posting in postings {
        insert = insert.bind(posting);
    }
    insert.execute(tx.conn()).await?;
    Ok(())
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
