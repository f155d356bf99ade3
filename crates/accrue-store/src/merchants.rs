//! Merchants (shops) and what members see of them: a profile with the address, hours
//! and coordinates, and the city, which has an id of its own.

use crate::{Store, StoreError, Tx};
use accrue_core::merchant::Profile;
use accrue_core::Millis;
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Merchant {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub profile: Profile,
    /// The city of the profile's address.
    pub city_id: Option<i64>,
    pub created_at: Millis,
}

/// A change to a merchant: what is `Some` is replaced.
#[derive(Debug, Clone, Default)]
pub struct MerchantChange {
    pub name: Option<String>,
    pub profile: Option<Profile>,
}

const COLUMNS: &str = "id, code, name, profile, city_id, created_at";

fn merchant(row: &sqlx::any::AnyRow) -> Result<Merchant, StoreError> {
    let profile: String = row.try_get(3)?;
    Ok(Merchant {
        id: row.try_get(0)?,
        code: row.try_get(1)?,
        name: row.try_get(2)?,
        profile: serde_json::from_str(&profile)?,
        city_id: row.try_get(4)?,
        created_at: row.try_get(5)?,
    })
}

/// The id of the profile's city, made when first seen; its prefix follows the latest
/// profile that names it.
async fn city_of(tx: &mut Tx, program_id: i64, profile: &Profile) -> Result<Option<i64>, StoreError> {
    let Some(address) = &profile.address else {
        return Ok(None);
    };
    let row = sqlx::query(
        "INSERT INTO cities (program_id, name, prefix) VALUES ($1, $2, $3) \
         ON CONFLICT (program_id, name) DO UPDATE SET prefix = excluded.prefix RETURNING id",
    )
    .bind(program_id)
    .bind(address.city.trim())
    .bind(&address.city_prefix)
    .fetch_one(tx.conn())
    .await?;
    Ok(Some(row.try_get(0)?))
}

async fn load(tx: &mut Tx, program_id: i64, code: &str) -> Result<Merchant, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM merchants WHERE program_id = $1 AND code = $2"
    ))
    .bind(program_id)
    .bind(code)
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound("merchant"))?;
    merchant(&row)
}

impl Store {
    pub async fn create_merchant(
        &self,
        program_id: i64,
        code: String,
        name: String,
        profile: Profile,
    ) -> Result<Merchant, StoreError> {
        profile.validate().map_err(StoreError::Invalid)?;
        self.write(move |tx| {
            Box::pin(async move {
                let city_id = city_of(tx, program_id, &profile).await?;
                let row = sqlx::query(
                    "INSERT INTO merchants (program_id, code, name, profile, city_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(program_id)
                .bind(&code)
                .bind(&name)
                .bind(serde_json::to_string(&profile)?)
                .bind(city_id)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await
                .map_err(StoreError::unique(format!("merchant {code} already exists")))?;
                Ok(Merchant {
                    id: row.try_get(0)?,
                    code,
                    name,
                    profile,
                    city_id,
                    created_at: tx.now,
                })
            })
        })
        .await
    }

    /// Changes a merchant's name or profile (replaced whole).
    pub async fn update_merchant(
        &self,
        program_id: i64,
        code: String,
        change: MerchantChange,
    ) -> Result<Merchant, StoreError> {
        if let Some(profile) = &change.profile {
            profile.validate().map_err(StoreError::Invalid)?;
        }
        self.write(move |tx| {
            Box::pin(async move {
                let mut m = load(tx, program_id, &code).await?;
                if let Some(name) = change.name {
                    m.name = name;
                }
                if let Some(profile) = change.profile {
                    m.city_id = city_of(tx, program_id, &profile).await?;
                    m.profile = profile;
                }
                sqlx::query("UPDATE merchants SET name = $1, profile = $2, city_id = $3 WHERE id = $4")
                    .bind(&m.name)
                    .bind(serde_json::to_string(&m.profile)?)
                    .bind(m.city_id)
                    .bind(m.id)
                    .execute(tx.conn())
                    .await?;
                Ok(m)
            })
        })
        .await
    }

    /// The program's merchants, by code.
    pub async fn merchants(&self, program_id: i64) -> Result<Vec<Merchant>, StoreError> {
        self.fetch_merchants("WHERE program_id = $1 ORDER BY code", program_id)
            .await
    }

    /// The merchants members see: those with an address, in the order they were made.
    pub async fn listed_merchants(&self, program_id: i64) -> Result<Vec<Merchant>, StoreError> {
        self.fetch_merchants("WHERE program_id = $1 AND city_id IS NOT NULL ORDER BY id", program_id)
            .await
    }

    async fn fetch_merchants(&self, filter: &str, program_id: i64) -> Result<Vec<Merchant>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM merchants {filter}"))
            .bind(program_id)
            .fetch_all(self.reads())
            .await?;
        rows.iter().map(merchant).collect()
    }
}
