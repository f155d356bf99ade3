//! Admin API keys. Only a SHA-256 of each key is stored: keys are 160 random bits, so
//! a fast hash is enough (a slow password hash protects guessable secrets, not these).
//! A key may be limited to one program, and to reading.

use crate::{Store, StoreError, Tx};
use accrue_core::member::normalize_text;
use accrue_core::Millis;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminKey {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    pub scope: KeyScope,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// What a key may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyScope {
    /// The one program (its code) the key works on; every program when `None`.
    pub program: Option<String>,
    /// Reading only: no call that changes anything.
    pub read_only: bool,
}

impl KeyScope {
    /// Whether the key may do everything, including managing keys.
    pub fn is_full(&self) -> bool {
        self.program.is_none() && !self.read_only
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The name the bootstrap key's creation is claimed under, once per database.
const BOOTSTRAP: &str = "bootstrap_admin_key";

const COLUMNS: &str = "k.id, k.name, k.prefix, k.created_at, k.revoked_at, k.read_only, p.code";
const FROM: &str = "admin_keys k LEFT JOIN programs p ON p.id = k.program_id";

fn key_from(row: &AnyRow) -> Result<AdminKey, StoreError> {
    Ok(AdminKey {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        prefix: row.try_get(2)?,
        created_at: row.try_get(3)?,
        revoked_at: row.try_get(4)?,
        scope: KeyScope {
            read_only: row.try_get::<i64, _>(5)? != 0,
            program: row.try_get(6)?,
        },
    })
}

/// A new random key: `acr_` and 40 hex digits.
fn new_secret() -> String {
    let mut random = [0_u8; 20];
    rand::thread_rng().fill_bytes(&mut random);
    format!("acr_{}", hex::encode(random))
}

async fn insert_key(tx: &mut Tx, name: &str, scope: &KeyScope, secret: &str) -> Result<AdminKey, StoreError> {
    let program_id: Option<i64> = match &scope.program {
        Some(code) => Some(
            sqlx::query("SELECT id FROM programs WHERE code = $1")
                .bind(code)
                .fetch_optional(tx.conn())
                .await?
                .ok_or(StoreError::NotFound("program"))?
                .try_get(0)?,
        ),
        None => None,
    };
    let row = sqlx::query(
        "INSERT INTO admin_keys (name, key_hash, prefix, created_at, program_id, read_only) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(name)
    .bind(hash(secret))
    .bind(&secret[..12])
    .bind(tx.now)
    .bind(program_id)
    .bind(i64::from(scope.read_only))
    .fetch_one(tx.conn())
    .await?;
    Ok(AdminKey {
        id: row.try_get(0)?,
        name: name.to_string(),
        prefix: secret[..12].to_string(),
        scope: scope.clone(),
        created_at: tx.now,
        revoked_at: None,
    })
}

impl Store {
    /// Creates a key for every program with full rights (see [`Store::create_scoped_admin_key`]).
    pub async fn create_admin_key(&self, name: &str) -> Result<(AdminKey, String), StoreError> {
        self.create_scoped_admin_key(name, KeyScope::default()).await
    }

    /// Creates a key and returns it with its secret, which is not stored and cannot be
    /// shown again.
    pub async fn create_scoped_admin_key(&self, name: &str, scope: KeyScope) -> Result<(AdminKey, String), StoreError> {
        let name = normalize_text("key name", name, 200).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let secret = new_secret();
        let shown = secret.clone();
        let key = self
            .write(move |tx| Box::pin(async move { insert_key(tx, &name, &scope, &secret).await }))
            .await?;
        Ok((key, shown))
    }

    /// The key with this secret, if it exists and is not revoked.
    pub async fn verify_admin_key(&self, secret: &str) -> Result<Option<AdminKey>, StoreError> {
        let hashed = hash(secret);
        let cache = &self.inner.shared.cache;
        let generation = cache.generation.current();
        if let Some(key) = cache.admin_keys.get(&hashed, generation) {
            return Ok(Some(key));
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE k.key_hash = $1 AND k.revoked_at IS NULL"
        ))
        .bind(&hashed)
        .fetch_optional(self.reads())
        .await?;
        let key = row.as_ref().map(key_from).transpose()?;
        if let Some(key) = &key {
            cache.admin_keys.put(hashed, generation, key.clone());
        }
        Ok(key)
    }

    /// Every key, newest first (revoked ones too).
    pub async fn admin_keys(&self) -> Result<Vec<AdminKey>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM {FROM} ORDER BY k.id DESC"))
            .fetch_all(self.reads())
            .await?;
        rows.iter().map(key_from).collect()
    }

    /// Revokes a key: it stops working at once.
    pub async fn revoke_admin_key(&self, id: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let revoked = sqlx::query("UPDATE admin_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(tx.now)
                    .bind(id)
                    .execute(tx.conn())
                    .await?;
                tx.changes_config().await?;
                crate::found(revoked.rows_affected(), "active admin key")
            })
        })
        .await
    }

    /// Creates the first key when there is none; `None` when keys exist already. Once
    /// per database even when several servers start on it at the same moment: the
    /// first to claim the creation makes the key, the others wait for it and make none.
    pub async fn bootstrap_admin_key(&self) -> Result<Option<String>, StoreError> {
        let secret = new_secret();
        self.write(move |tx| {
            Box::pin(async move {
                let claimed = sqlx::query(
                    "INSERT INTO singletons (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(BOOTSTRAP)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                if claimed.rows_affected() == 0 {
                    return Ok(None);
                }
                let keys: i64 = sqlx::query("SELECT COUNT(*) FROM admin_keys")
                    .fetch_one(tx.conn())
                    .await?
                    .try_get(0)?;
                if keys > 0 {
                    return Ok(None);
                }
                insert_key(tx, "bootstrap", &KeyScope::default(), &secret).await?;
                Ok(Some(secret))
            })
        })
        .await
    }
}
