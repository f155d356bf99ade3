//! The IMSHOP face's settings per program: the API key IMSHOP's server calls with (kept
//! only as its SHA-256), the addresses it may call from, the till its orders are made at,
//! and what a new phone is asked for before its first code.

use crate::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImshopSettings {
    /// Hex SHA-256 of the API key (a random 32-byte token: a fast hash is enough).
    pub key_sha256: String,
    /// IP addresses or networks IMSHOP may call from; any when empty.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// The device (till) orders are made at.
    pub device_id: i64,
    /// What a new phone is asked for before its first code (IMSHOP's `dataRequired`).
    #[serde(default)]
    pub data_required: Vec<String>,
    /// Which of those may be left empty (`dataOptional`).
    #[serde(default)]
    pub data_optional: Vec<String>,
    /// The address invite links are made on (`https://invite.shop.example`); the
    /// server's public address when absent.
    #[serde(default)]
    pub link_base: Option<String>,
}

impl ImshopSettings {
    /// Whether `key` is the API key (compared in time independent of the input).
    pub fn accepts(&self, key: &str) -> bool {
        accrue_core::signature::constant_time_eq(key_hash(key).as_bytes(), self.key_sha256.as_bytes())
    }
}

/// The stored form of an API key.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new API key (shown once) and its stored form.
pub fn new_key() -> (String, String) {
    prefixed_key("imk")
}

/// A new random key `<prefix>_<64 hex digits>` (shown once) and its stored form.
pub fn prefixed_key(prefix: &str) -> (String, String) {
    let mut bytes = [0_u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    let key = format!("{prefix}_{}", hex::encode(bytes));
    let hash = key_hash(&key);
    (key, hash)
}

impl Store {
    /// The program's IMSHOP settings, if the face is set up for it.
    pub async fn imshop_settings(&self, program_id: i64) -> Result<Option<ImshopSettings>, StoreError> {
        self.json_of("SELECT settings FROM imshop_settings WHERE program_id = $1", program_id)
            .await
    }

    pub async fn set_imshop_settings(&self, program_id: i64, settings: ImshopSettings) -> Result<(), StoreError> {
        let sql = "INSERT INTO imshop_settings (program_id, settings, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (program_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at";
        self.save_json(sql, program_id, serde_json::to_string(&settings)?).await
    }
}

/// A line of a priced cart, as kept for the order that follows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    pub goods: String,
    pub price: rust_decimal::Decimal,
    pub quantity: rust_decimal::Decimal,
}

impl Store {
    /// Keeps the last cart priced for an app install (see [`CartLine`]).
    pub async fn remember_cart(
        &self,
        program_id: i64,
        install_id: String,
        lines: Vec<CartLine>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(&lines)?;
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO imshop_carts (program_id, install_id, lines, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (program_id, install_id) DO UPDATE SET lines = excluded.lines, updated_at = excluded.updated_at",
                )
                .bind(program_id)
                .bind(&install_id)
                .bind(&json)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// The last cart priced for an app install.
    pub async fn remembered_cart(&self, program_id: i64, install_id: &str) -> Result<Vec<CartLine>, StoreError> {
        let row = sqlx::query("SELECT lines FROM imshop_carts WHERE program_id = $1 AND install_id = $2")
            .bind(program_id)
            .bind(install_id)
            .fetch_optional(self.reads())
            .await?;
        match row {
            Some(row) => Ok(serde_json::from_str(&sqlx::Row::try_get::<String, _>(&row, 0)?)?),
            None => Ok(Vec::new()),
        }
    }
}
