//! A program's offers (JSON definitions checked by the offers engine before they get
//! here), every version they had, and the goods catalogue they refer to.

use crate::cache::memoized;
use crate::{Store, StoreError};
use accrue_core::offers::{Catalogue, Offer};
use accrue_core::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredOffer {
    /// The offer's number, which members' apps know it by.
    pub id: i64,
    pub code: String,
    pub version: i64,
    pub enabled: bool,
    pub definition: Value,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goods {
    pub goods_id: String,
    pub barcode: Option<String>,
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

const COLUMNS: &str = "code, version, enabled, definition, created_at, updated_at, id";

fn offer(row: &sqlx::any::AnyRow) -> Result<StoredOffer, StoreError> {
    Ok(StoredOffer {
        code: row.try_get(0)?,
        version: row.try_get(1)?,
        enabled: row.try_get::<i64, _>(2)? != 0,
        definition: serde_json::from_str(&row.try_get::<String, _>(3)?)?,
        created_at: row.try_get(4)?,
        updated_at: row.try_get(5)?,
        id: row.try_get(6)?,
    })
}

impl Store {
    /// Creates the offer `code`, or saves a new version of it; the version is returned.
    pub async fn save_offer(
        &self,
        program_id: i64,
        code: String,
        enabled: bool,
        definition: Value,
    ) -> Result<StoredOffer, StoreError> {
        let text = definition.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                tx.changes_config().await?;
                let existing = sqlx::query(&format!(
                    "SELECT id, version FROM offers WHERE program_id = $1 AND code = $2{}",
                    tx.for_update()
                ))
                .bind(program_id)
                .bind(&code)
                .fetch_optional(tx.conn())
                .await?;
                let (id, version) = match existing {
                    Some(row) => {
                        let (id, version): (i64, i64) = (row.try_get(0)?, row.try_get::<i64, _>(1)? + 1);
                        sqlx::query("UPDATE offers SET version = $1, enabled = $2, definition = $3, updated_at = $4 WHERE id = $5")
                            .bind(version)
                            .bind(enabled as i64)
                            .bind(&text)
                            .bind(tx.now)
                            .bind(id)
                            .execute(tx.conn())
                            .await?;
                        (id, version)
                    }
                    None => {
                        let row = sqlx::query(
                            "INSERT INTO offers (program_id, code, version, enabled, definition, created_at, updated_at) \
                             VALUES ($1, $2, 1, $3, $4, $5, $5) RETURNING id",
                        )
                        .bind(program_id)
                        .bind(&code)
                        .bind(enabled as i64)
                        .bind(&text)
                        .bind(tx.now)
                        .fetch_one(tx.conn())
                        .await
                        .map_err(StoreError::unique(format!("offer {code} was created concurrently")))?;
                        (row.try_get(0)?, 1)
                    }
                };
                sqlx::query("INSERT INTO offer_versions (offer_id, version, definition, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind(version)
                    .bind(&text)
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await?;
                let row = sqlx::query(&format!("SELECT {COLUMNS} FROM offers WHERE id = $1"))
                    .bind(id)
                    .fetch_one(tx.conn())
                    .await?;
                offer(&row)
            })
        })
        .await
    }

    pub async fn offer(&self, program_id: i64, code: &str) -> Result<StoredOffer, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM offers WHERE program_id = $1 AND code = $2"
        ))
        .bind(program_id)
        .bind(code)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("offer"))?;
        offer(&row)
    }

    /// The program's offers, or only the enabled ones (what prices a cheque).
    pub async fn offers(&self, program_id: i64, only_enabled: bool) -> Result<Vec<StoredOffer>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM offers WHERE program_id = $1 AND ($2 = 0 OR enabled = 1) ORDER BY code"
        ))
        .bind(program_id)
        .bind(only_enabled as i64)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(offer).collect()
    }

    /// Adds goods to the catalogue or replaces them (by goods id).
    pub async fn import_goods(&self, program_id: i64, goods: Vec<Goods>) -> Result<usize, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                tx.changes_config().await?;
                for g in &goods {
                    sqlx::query(
                        "INSERT INTO goods (program_id, goods_id, barcode, name, groups) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (program_id, goods_id) DO UPDATE SET barcode = excluded.barcode, \
                         name = excluded.name, groups = excluded.groups",
                    )
                    .bind(program_id)
                    .bind(&g.goods_id)
                    .bind(&g.barcode)
                    .bind(&g.name)
                    .bind(serde_json::to_string(&g.groups)?)
                    .execute(tx.conn())
                    .await?;
                }
                Ok(goods.len())
            })
        })
        .await
    }

    /// The program's enabled offers as the engine reads them; a stored definition that no
    /// longer reads (an older format) is logged and left out.
    pub async fn enabled_offers(&self, program_id: i64) -> Result<Arc<[Offer]>, StoreError> {
        memoized!(self, enabled_offers, program_id, self.parsed_offers(program_id).await)
    }

    async fn parsed_offers(&self, program_id: i64) -> Result<Arc<[Offer]>, StoreError> {
        let stored = self.offers(program_id, true).await?;
        Ok(stored
            .into_iter()
            .filter_map(|o| match serde_json::from_value::<Offer>(o.definition) {
                Ok(offer) => Some(offer),
                Err(e) => {
                    tracing::error!(offer = %o.code, error = %e, "stored offer no longer reads; skipped");
                    None
                }
            })
            .collect())
    }

    /// The catalogue groups of the goods of a cheque: from memory, and the goods not yet
    /// kept in one query.
    pub async fn catalogue(&self, program_id: i64, goods_ids: &[String]) -> Result<Catalogue, StoreError> {
        let cache = &self.inner.shared.cache;
        let generation = cache.generation.current();
        let mut catalogue = Catalogue::default();
        let mut missing = Vec::new();
        for id in goods_ids {
            match cache.goods_groups.get(&(program_id, id.clone()), generation) {
                Some(groups) => add_groups(&mut catalogue, id, &groups),
                None => missing.push(id.clone()),
            }
        }
        let mut loaded = self.goods_groups(program_id, &missing).await?;
        for id in missing {
            // Goods the catalogue lacks are kept too, with no groups.
            let groups = loaded.remove(&id).unwrap_or_default();
            add_groups(&mut catalogue, &id, &groups);
            cache.goods_groups.put((program_id, id), generation, groups);
        }
        Ok(catalogue)
    }

    async fn goods_groups(
        &self,
        program_id: i64,
        goods_ids: &[String],
    ) -> Result<HashMap<String, Arc<[String]>>, StoreError> {
        if goods_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT goods_id, groups FROM goods WHERE program_id = $1 AND goods_id IN ({})",
            crate::placeholders(2, goods_ids.len())
        );
        let mut query = sqlx::query(&sql).bind(program_id);
        for id in goods_ids {
            query = query.bind(id);
        }
        query
            .fetch_all(self.reads())
            .await?
            .iter()
            .map(|row| {
                let groups: Vec<String> = serde_json::from_str(&row.try_get::<String, _>(1)?)?;
                Ok((row.try_get(0)?, groups.into()))
            })
            .collect()
    }
}

fn add_groups(catalogue: &mut Catalogue, goods_id: &str, groups: &[String]) {
    for group in groups {
        catalogue.add(goods_id.to_string(), group.clone());
    }
}
