//! Coupons: series the operator defines (Loymax's emissions) and coupons of a series
//! issued to members. A coupon is shown in the member's app, presented at the till,
//! lets the offers that name its series apply while it is valid, and is used up by the
//! purchase's Confirm.

use crate::{Store, StoreError, Tx};
use accrue_core::offers::IssuedCoupon;
use accrue_core::Millis;
use rand::RngCore;
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CouponSeries {
    pub id: i64,
    pub code: String,
    pub title: String,
    pub short_description: Option<String>,
    pub description: Option<String>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSeries {
    pub code: String,
    pub title: String,
    pub short_description: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CouponState {
    Issued,
    Used,
    Rejected,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coupon {
    pub id: i64,
    pub number: String,
    pub series: CouponSeries,
    pub member_id: i64,
    pub state: CouponState,
    pub issued_at: Millis,
    pub expires_at: Option<Millis>,
    /// When it was issued, used or rejected last.
    pub changed_at: Millis,
    /// The purchase that used it.
    pub purchase_key: Option<String>,
}

const SERIES_COLUMNS: &str = "s.id, s.code, s.title, s.short_description, s.description, s.created_at";
const COUPON_COLUMNS: &str = "c.id, c.number, c.member_id, c.state, c.issued_at, c.expires_at, c.changed_at, \
                              c.purchase_key";

fn series(row: &sqlx::any::AnyRow, at: usize) -> Result<CouponSeries, StoreError> {
    Ok(CouponSeries {
        id: row.try_get(at)?,
        code: row.try_get(at + 1)?,
        title: row.try_get(at + 2)?,
        short_description: row.try_get(at + 3)?,
        description: row.try_get(at + 4)?,
        created_at: row.try_get(at + 5)?,
    })
}

/// A coupon row (its columns, then its series'), as it reads at `now`.
fn coupon(row: &sqlx::any::AnyRow, now: Millis) -> Result<Coupon, StoreError> {
    let expires_at: Option<Millis> = row.try_get(5)?;
    let state = match row.try_get::<String, _>(3)?.as_str() {
        "used" => CouponState::Used,
        "rejected" => CouponState::Rejected,
        _ if expires_at.is_some_and(|e| e <= now) => CouponState::Expired,
        _ => CouponState::Issued,
    };
    Ok(Coupon {
        id: row.try_get(0)?,
        number: row.try_get(1)?,
        member_id: row.try_get(2)?,
        state,
        issued_at: row.try_get(4)?,
        expires_at,
        changed_at: row.try_get(6)?,
        purchase_key: row.try_get(7)?,
        series: series(row, 8)?,
    })
}

/// A new coupon number: 12 letters and digits that cannot be mistaken for each other.
fn new_number() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0_u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Marks the member's `numbers` used by the purchase (those still issued and valid).
pub(crate) async fn use_coupons(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    numbers: &[String],
    purchase_key: &str,
) -> Result<(), StoreError> {
    for number in numbers {
        sqlx::query(
            "UPDATE coupons SET state = 'used', changed_at = $1, purchase_key = $2 WHERE program_id = $3 \
             AND member_id = $4 AND number = $5 AND state = 'issued' AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(tx.now)
        .bind(purchase_key)
        .bind(program_id)
        .bind(member_id)
        .bind(number)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// Issues the member one coupon of each of `series` (codes; an unknown series, removed
/// since the offer named it, issues nothing), in `tx`.
pub(crate) async fn issue_for_purchase(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    series: &[String],
) -> Result<(), StoreError> {
    for code in series {
        let found = sqlx::query("SELECT id FROM coupon_series WHERE program_id = $1 AND code = $2")
            .bind(program_id)
            .bind(code)
            .fetch_optional(tx.conn())
            .await?;
        if let Some(row) = found {
            insert_coupon(tx, program_id, row.try_get(0)?, member_id, None).await?;
        }
    }
    Ok(())
}

async fn insert_coupon(
    tx: &mut Tx,
    program_id: i64,
    series_id: i64,
    member_id: i64,
    expires_at: Option<Millis>,
) -> Result<String, StoreError> {
    let number = new_number();
    sqlx::query(
        "INSERT INTO coupons (program_id, series_id, number, member_id, state, issued_at, expires_at, \
         changed_at) VALUES ($1, $2, $3, $4, 'issued', $5, $6, $5)",
    )
    .bind(program_id)
    .bind(series_id)
    .bind(&number)
    .bind(member_id)
    .bind(tx.now)
    .bind(expires_at)
    .execute(tx.conn())
    .await?;
    Ok(number)
}

impl Store {
    pub async fn create_coupon_series(&self, program_id: i64, new: NewSeries) -> Result<CouponSeries, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(
                    "INSERT INTO coupon_series (program_id, code, title, short_description, description, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(program_id)
                .bind(&new.code)
                .bind(&new.title)
                .bind(&new.short_description)
                .bind(&new.description)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await
                .map_err(StoreError::unique(format!("coupon series {} already exists", new.code)))?;
                Ok(CouponSeries {
                    id: row.try_get(0)?,
                    code: new.code,
                    title: new.title,
                    short_description: new.short_description,
                    description: new.description,
                    created_at: tx.now,
                })
            })
        })
        .await
    }

    pub async fn coupon_series(&self, program_id: i64) -> Result<Vec<CouponSeries>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SERIES_COLUMNS} FROM coupon_series s WHERE s.program_id = $1 ORDER BY s.code"
        ))
        .bind(program_id)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(|r| series(r, 0)).collect()
    }

    /// Issues `count` new coupons of the series to the member.
    pub async fn issue_coupons(
        &self,
        program_id: i64,
        series_code: String,
        member_id: i64,
        count: u32,
        expires_at: Option<Millis>,
    ) -> Result<Vec<Coupon>, StoreError> {
        let issued = self
            .write(move |tx| {
                Box::pin(async move {
                    let found = sqlx::query("SELECT id FROM coupon_series WHERE program_id = $1 AND code = $2")
                        .bind(program_id)
                        .bind(&series_code)
                        .fetch_optional(tx.conn())
                        .await?;
                    let series_id: i64 = found.ok_or(StoreError::NotFound("coupon series"))?.try_get(0)?;
                    crate::members::lock_member(tx, program_id, member_id).await?;
                    let mut numbers = Vec::new();
                    for _ in 0..count {
                        numbers.push(insert_coupon(tx, program_id, series_id, member_id, expires_at).await?);
                    }
                    Ok(numbers)
                })
            })
            .await?;
        let mine = self.member_coupons(program_id, member_id).await?;
        Ok(mine.into_iter().filter(|c| issued.contains(&c.number)).collect())
    }

    /// Takes an issued coupon back: it can no longer be used.
    pub async fn reject_coupon(&self, program_id: i64, number: String) -> Result<Coupon, StoreError> {
        let number = self
            .write(move |tx| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE coupons SET state = 'rejected', changed_at = $1 WHERE program_id = $2 AND number = $3 \
                     AND state = 'issued'",
                    )
                    .bind(tx.now)
                    .bind(program_id)
                    .bind(&number)
                    .execute(tx.conn())
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("issued coupon"));
                    }
                    Ok(number)
                })
            })
            .await?;
        self.coupon_by_number(program_id, &number).await
    }

    /// The member's coupons, newest first.
    pub async fn member_coupons(&self, program_id: i64, member_id: i64) -> Result<Vec<Coupon>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COUPON_COLUMNS}, {SERIES_COLUMNS} FROM coupons c JOIN coupon_series s ON s.id = c.series_id \
             WHERE c.program_id = $1 AND c.member_id = $2 ORDER BY c.id DESC"
        ))
        .bind(program_id)
        .bind(member_id)
        .fetch_all(self.reads())
        .await?;
        let now = self.now();
        rows.iter().map(|r| coupon(r, now)).collect()
    }

    pub async fn coupon_by_number(&self, program_id: i64, number: &str) -> Result<Coupon, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COUPON_COLUMNS}, {SERIES_COLUMNS} FROM coupons c JOIN coupon_series s ON s.id = c.series_id \
             WHERE c.program_id = $1 AND c.number = $2"
        ))
        .bind(program_id)
        .bind(number)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("coupon"))?;
        coupon(&row, self.now())
    }

    /// The valid coupons of the member among `numbers` (as a cheque presents them).
    pub async fn valid_coupons(
        &self,
        program_id: i64,
        member_id: i64,
        numbers: &[String],
    ) -> Result<Vec<IssuedCoupon>, StoreError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let mine = self.member_coupons(program_id, member_id).await?;
        Ok(mine
            .into_iter()
            .filter(|c| c.state == CouponState::Issued && numbers.contains(&c.number))
            .map(|c| IssuedCoupon {
                number: c.number,
                series: c.series.code,
            })
            .collect())
    }
}
