//! Cards: physical ones imported as a pool and attached by number, virtual ones
//! emitted on demand.

use crate::members::lock_member;
use crate::{found, Store, StoreError, Tx};
use accrue_core::Millis;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub id: i64,
    pub number: String,
    /// `physical` (from an imported pool) or `virtual` (emitted on demand).
    pub kind: String,
    /// `free` (in the pool, no owner), `active` or `blocked`.
    pub state: String,
    pub member_id: Option<i64>,
    pub created_at: Millis,
    pub assigned_at: Option<Millis>,
    /// The card's category (see [`CardCategory`]), given when its pool was imported.
    pub category_id: Option<i64>,
}

/// A category of the program's cards ("gold", "student").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardCategory {
    pub id: i64,
    pub code: String,
    pub title: String,
    pub description: Option<String>,
    /// Virtual cards emitted from now on get this category.
    pub for_virtual: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFilter {
    pub member_id: Option<i64>,
    pub state: Option<String>,
    pub offset: i64,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub imported: u64,
    /// Numbers that were already in the program and were left as they are.
    pub skipped: Vec<String>,
}

const COLUMNS: &str = "id, number, kind, state, member_id, created_at, assigned_at, category_id";
const MAX_IMPORT: usize = 100_000;

fn card_from(row: &AnyRow) -> Result<Card, sqlx::Error> {
    Ok(Card {
        id: row.try_get("id")?,
        number: row.try_get("number")?,
        kind: row.try_get("kind")?,
        state: row.try_get("state")?,
        member_id: row.try_get("member_id")?,
        created_at: row.try_get("created_at")?,
        assigned_at: row.try_get("assigned_at")?,
        category_id: row.try_get("category_id")?,
    })
}

pub fn validate_number(number: &str) -> Result<String, StoreError> {
    let number = number.trim();
    let ok = !number.is_empty() && number.len() <= 64 && number.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(number.to_string())
    } else {
        Err(StoreError::Invalid(format!(
            "card number {number:?} must be 1 to 64 letters, digits or '-'"
        )))
    }
}

pub(crate) async fn card_by_number(tx: &mut Tx, program_id: i64, number: &str) -> Result<Option<Card>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM cards WHERE program_id = $1 AND number = $2{}",
        tx.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(program_id)
        .bind(number)
        .fetch_optional(tx.conn())
        .await?;
    Ok(row.as_ref().map(card_from).transpose()?)
}

/// Gives a free card of the pool to a member, in `tx`.
pub(crate) async fn assign_card_in(
    tx: &mut Tx,
    program_id: i64,
    number: String,
    member_id: i64,
) -> Result<Card, StoreError> {
    lock_member(tx, program_id, member_id).await?;
    let card = card_by_number(tx, program_id, &number)
        .await?
        .ok_or(StoreError::NotFound("card"))?;
    match (card.state.as_str(), card.member_id) {
        ("blocked", _) => return Err(StoreError::CardBlocked(number)),
        (_, Some(owner)) if owner == member_id => return Ok(card),
        (_, Some(_)) => return Err(StoreError::CardTaken(number)),
        _ => {}
    }
    let rows = sqlx::query(
        "UPDATE cards SET state = 'active', member_id = $1, assigned_at = $2 WHERE id = $3 AND member_id IS NULL",
    )
    .bind(member_id)
    .bind(tx.now)
    .bind(card.id)
    .execute(tx.conn())
    .await?;
    found(rows.rows_affected(), "card")?;
    card_by_number(tx, program_id, &number)
        .await?
        .ok_or(StoreError::NotFound("card"))
}

/// Creates a virtual card for a member, in `tx`.
pub(crate) async fn emit_virtual_card_in(tx: &mut Tx, program_id: i64, member_id: i64) -> Result<Card, StoreError> {
    lock_member(tx, program_id, member_id).await?;
    let number = loop {
        let candidate = format!("99{:014}", rand::thread_rng().gen_range(0..100_000_000_000_000_u64));
        if card_by_number(tx, program_id, &candidate).await?.is_none() {
            break candidate;
        }
    };
    let row = sqlx::query(&format!(
        "INSERT INTO cards (program_id, number, kind, state, member_id, created_at, assigned_at, category_id) \
         VALUES ($1, $2, 'virtual', 'active', $3, $4, $4, (SELECT id FROM card_categories \
         WHERE program_id = $1 AND for_virtual = 1 ORDER BY id DESC LIMIT 1)) RETURNING {COLUMNS}"
    ))
    .bind(program_id)
    .bind(&number)
    .bind(member_id)
    .bind(tx.now)
    .fetch_one(tx.conn())
    .await?;
    Ok(card_from(&row)?)
}

impl Store {
    /// A new card category; one `for_virtual` takes that role from any other.
    pub async fn create_card_category(
        &self,
        program_id: i64,
        code: String,
        title: String,
        description: Option<String>,
        for_virtual: bool,
    ) -> Result<CardCategory, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                if for_virtual {
                    sqlx::query("UPDATE card_categories SET for_virtual = 0 WHERE program_id = $1")
                        .bind(program_id)
                        .execute(tx.conn())
                        .await?;
                }
                let row = sqlx::query(
                    "INSERT INTO card_categories (program_id, code, title, description, for_virtual, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(program_id)
                .bind(&code)
                .bind(&title)
                .bind(&description)
                .bind(for_virtual as i64)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await
                .map_err(StoreError::unique(format!("card category {code} already exists")))?;
                Ok(CardCategory {
                    id: row.try_get(0)?,
                    code,
                    title,
                    description,
                    for_virtual,
                })
            })
        })
        .await
    }

    /// The program's card categories, by code.
    pub async fn card_categories(&self, program_id: i64) -> Result<Vec<CardCategory>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, code, title, description, for_virtual FROM card_categories WHERE program_id = $1 ORDER BY code",
        )
        .bind(program_id)
        .fetch_all(self.reads())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CardCategory {
                    id: r.try_get(0)?,
                    code: r.try_get(1)?,
                    title: r.try_get(2)?,
                    description: r.try_get(3)?,
                    for_virtual: r.try_get::<i64, _>(4)? != 0,
                })
            })
            .collect()
    }

    /// Adds physical cards to the program's pool, of the category `category` (a code)
    /// when given.
    pub async fn import_cards(
        &self,
        program_id: i64,
        numbers: Vec<String>,
        category: Option<String>,
    ) -> Result<ImportReport, StoreError> {
        if numbers.len() > MAX_IMPORT {
            return Err(StoreError::Invalid(format!("at most {MAX_IMPORT} cards per import")));
        }
        let numbers = numbers
            .iter()
            .map(|n| validate_number(n))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(move |tx| {
            Box::pin(async move {
                let category_id: Option<i64> = match &category {
                    Some(code) => {
                        let found = sqlx::query("SELECT id FROM card_categories WHERE program_id = $1 AND code = $2")
                            .bind(program_id)
                            .bind(code)
                            .fetch_optional(tx.conn())
                            .await?;
                        Some(found.ok_or(StoreError::NotFound("card category"))?.try_get(0)?)
                    }
                    None => None,
                };
                let mut report = ImportReport {
                    imported: 0,
                    skipped: Vec::new(),
                };
                for number in numbers {
                    let done = sqlx::query(
                        "INSERT INTO cards (program_id, number, kind, state, created_at, category_id) \
                         VALUES ($1, $2, 'physical', 'free', $3, $4) ON CONFLICT (program_id, number) DO NOTHING",
                    )
                    .bind(program_id)
                    .bind(&number)
                    .bind(tx.now)
                    .bind(category_id)
                    .execute(tx.conn())
                    .await?;
                    if done.rows_affected() == 1 {
                        report.imported += 1;
                    } else {
                        report.skipped.push(number);
                    }
                }
                Ok(report)
            })
        })
        .await
    }

    pub async fn cards(&self, program_id: i64, filter: CardFilter) -> Result<Vec<Card>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM cards WHERE program_id = $1 AND ($2 = 0 OR member_id = $2) \
             AND ($3 = '' OR state = $3) ORDER BY id LIMIT $4 OFFSET $5"
        );
        let rows = sqlx::query(&sql)
            .bind(program_id)
            .bind(filter.member_id.unwrap_or(0))
            .bind(filter.state.unwrap_or_default())
            .bind(filter.count)
            .bind(filter.offset)
            .fetch_all(self.reads())
            .await?;
        Ok(rows.iter().map(card_from).collect::<Result<_, _>>()?)
    }

    pub async fn card(&self, program_id: i64, number: &str) -> Result<Card, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cards WHERE program_id = $1 AND number = $2"
        ))
        .bind(program_id)
        .bind(number.trim())
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("card"))?;
        Ok(card_from(&row)?)
    }

    /// Gives a free card of the pool to a member.
    pub async fn assign_card(&self, program_id: i64, number: String, member_id: i64) -> Result<Card, StoreError> {
        let number = validate_number(&number)?;
        self.write(move |tx| Box::pin(assign_card_in(tx, program_id, number, member_id)))
            .await
    }

    /// Creates a virtual card for a member.
    pub async fn emit_virtual_card(&self, program_id: i64, member_id: i64) -> Result<Card, StoreError> {
        self.write(move |tx| Box::pin(emit_virtual_card_in(tx, program_id, member_id)))
            .await
    }

    pub async fn set_card_blocked(&self, program_id: i64, number: String, blocked: bool) -> Result<Card, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let card = card_by_number(tx, program_id, &number)
                    .await?
                    .ok_or(StoreError::NotFound("card"))?;
                let state = match (blocked, card.member_id) {
                    (true, _) => "blocked",
                    (false, Some(_)) => "active",
                    (false, None) => "free",
                };
                sqlx::query("UPDATE cards SET state = $1 WHERE id = $2")
                    .bind(state)
                    .bind(card.id)
                    .execute(tx.conn())
                    .await?;
                Ok(Card {
                    state: state.into(),
                    ..card
                })
            })
        })
        .await
    }
}

/// The id of an active card of the member, checked inside a transaction.
pub(crate) async fn member_card(tx: &mut Tx, program_id: i64, member_id: i64, number: &str) -> Result<i64, StoreError> {
    let card = card_by_number(tx, program_id, number)
        .await?
        .ok_or(StoreError::NotFound("card"))?;
    if card.member_id != Some(member_id) {
        return Err(StoreError::Invalid(format!(
            "card {number} does not belong to this member"
        )));
    }
    if card.state == "blocked" {
        return Err(StoreError::CardBlocked(number.to_string()));
    }
    Ok(card.id)
}
