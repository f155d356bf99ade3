//! Admin API keys. Only a SHA-256 of each key is stored: keys are 160 random bits, so
//! a fast hash is enough (a slow password hash protects guessable secrets, not these).

use crate::{Store, StoreError};
use accrue_core::member::normalize_text;
use accrue_core::Millis;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminKey {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    pub created_at: Millis,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Store {
    /// Creates a key and returns it with its secret, which is not stored and cannot be
    /// shown again.
    pub async fn create_admin_key(&self, name: &str) -> Result<(AdminKey, String), StoreError> {
        let name = normalize_text("key name", name, 200).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut random = [0_u8; 20];
        rand::thread_rng().fill_bytes(&mut random);
        let secret = format!("acr_{}", hex::encode(random));
        let prefix = secret[..12].to_string();
        let key_hash = hash(&secret);
        let key = self
            .write(move |tx| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "INSERT INTO admin_keys (name, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(&name)
                    .bind(&key_hash)
                    .bind(&prefix)
                    .bind(tx.now)
                    .fetch_one(tx.conn())
                    .await?;
                    Ok(AdminKey { id: row.try_get(0)?, name, prefix, created_at: tx.now })
                })
            })
            .await?;
        Ok((key, secret))
    }

    /// The key with this secret, if it exists and is not revoked.
    pub async fn verify_admin_key(&self, secret: &str) -> Result<Option<AdminKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, prefix, created_at FROM admin_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash(secret))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(AdminKey {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                prefix: r.try_get(2)?,
                created_at: r.try_get(3)?,
            })
        })
        .transpose()
    }

    /// Creates the first key when there is none; `None` when keys exist already.
    pub async fn bootstrap_admin_key(&self) -> Result<Option<String>, StoreError> {
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM admin_keys")
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        if count > 0 {
            return Ok(None);
        }
        Ok(Some(self.create_admin_key("bootstrap").await?.1))
    }
}
