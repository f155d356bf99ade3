//! Who runs purchases: merchants, their devices (a till, a web shop) with client
//! credentials, and the tokens devices work with — anonymous, or for a member the
//! device identified by card, phone or the QR code of the member's app. Secrets and
//! tokens are random and stored only as SHA-256.

use crate::cache::memoized;
use crate::member_auth::{hash, new_token};
use crate::{Store, StoreError};
use accrue_core::purchase::Settings;
use accrue_core::Millis;
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub id: i64,
    pub program_id: i64,
    pub merchant_id: i64,
    pub merchant_code: String,
    pub name: String,
    pub location: Option<String>,
    pub client_id: String,
    pub created_at: Millis,
    pub disabled_at: Option<Millis>,
}

/// A device and its secret, as created (the only time the secret is seen).
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub device: Device,
    pub client_secret: String,
}

/// Who a device token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSession {
    pub program_id: i64,
    pub device_id: i64,
    pub merchant_id: i64,
    pub member_id: Option<i64>,
}

const DEVICE_COLUMNS: &str = "d.id, d.program_id, d.merchant_id, m.code, d.name, d.location, d.client_id, \
                              d.created_at, d.disabled_at";

fn device(row: &sqlx::any::AnyRow) -> Result<Device, StoreError> {
    Ok(Device {
        id: row.try_get(0)?,
        program_id: row.try_get(1)?,
        merchant_id: row.try_get(2)?,
        merchant_code: row.try_get(3)?,
        name: row.try_get(4)?,
        location: row.try_get(5)?,
        client_id: row.try_get(6)?,
        created_at: row.try_get(7)?,
        disabled_at: row.try_get(8)?,
    })
}

impl Store {
    pub async fn processing_settings(&self, program_id: i64) -> Result<Settings, StoreError> {
        memoized!(
            self,
            processing_settings,
            program_id,
            self.json_of::<Settings>(
                "SELECT settings FROM processing_settings WHERE program_id = $1",
                program_id
            )
            .await
        )
    }

    pub async fn set_processing_settings(&self, program_id: i64, settings: Settings) -> Result<(), StoreError> {
        settings.validate().map_err(StoreError::Invalid)?;
        let sql = "INSERT INTO processing_settings (program_id, settings, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (program_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at";
        self.save_json(sql, program_id, serde_json::to_string(&settings)?).await
    }

    /// A new device of a merchant with fresh client credentials.
    pub async fn create_device(
        &self,
        program_id: i64,
        merchant_code: String,
        name: String,
        location: Option<String>,
    ) -> Result<NewDevice, StoreError> {
        let client_id = format!("dev_{}", &new_token()[..24]);
        let client_secret = new_token();
        let secret_hash = hash(&client_secret);
        let id = self
            .write(move |tx| {
                Box::pin(async move {
                    let merchant = sqlx::query("SELECT id FROM merchants WHERE program_id = $1 AND code = $2")
                        .bind(program_id)
                        .bind(&merchant_code)
                        .fetch_optional(tx.conn())
                        .await?
                        .ok_or(StoreError::NotFound("merchant"))?;
                    let merchant_id: i64 = merchant.try_get(0)?;
                    let row = sqlx::query(
                        "INSERT INTO devices (program_id, merchant_id, name, location, client_id, secret_hash, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(program_id)
                    .bind(merchant_id)
                    .bind(&name)
                    .bind(&location)
                    .bind(&client_id)
                    .bind(&secret_hash)
                    .bind(tx.now)
                    .fetch_one(tx.conn())
                    .await?;
                    Ok(row.try_get::<i64, _>(0)?)
                })
            })
            .await?;
        Ok(NewDevice {
            device: self.device(program_id, id).await?,
            client_secret,
        })
    }

    /// A device and its merchant: from memory, since tills price every cheque at one.
    pub async fn device(&self, program_id: i64, id: i64) -> Result<Device, StoreError> {
        memoized!(self, devices, (program_id, id), self.load_device(program_id, id).await)
    }

    async fn load_device(&self, program_id: i64, id: i64) -> Result<Device, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN merchants m ON m.id = d.merchant_id \
             WHERE d.program_id = $1 AND d.id = $2"
        ))
        .bind(program_id)
        .bind(id)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("device"))?;
        device(&row)
    }

    pub async fn devices(&self, program_id: i64) -> Result<Vec<Device>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN merchants m ON m.id = d.merchant_id \
             WHERE d.program_id = $1 ORDER BY d.id"
        ))
        .bind(program_id)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(device).collect()
    }

    /// Disables a device: its credentials and tokens stop working at once.
    pub async fn disable_device(&self, program_id: i64, id: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE devices SET disabled_at = COALESCE(disabled_at, $3) WHERE program_id = $1 AND id = $2",
                )
                .bind(program_id)
                .bind(id)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("device"));
                }
                tx.changes_config().await?;
                Ok(())
            })
        })
        .await
    }

    /// The enabled device these credentials belong to.
    pub async fn device_by_credentials(&self, client_id: &str, secret: &str) -> Result<Option<Device>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS}, d.secret_hash FROM devices d JOIN merchants m ON m.id = d.merchant_id \
             WHERE d.client_id = $1 AND d.disabled_at IS NULL"
        ))
        .bind(client_id)
        .fetch_optional(self.reads())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get(9)?;
        (stored == hash(secret)).then(|| device(&row)).transpose()
    }

    /// A token for the device, anonymous or for a member of its program.
    pub async fn issue_device_token(
        &self,
        device_id: i64,
        member_id: Option<i64>,
        ttl: Millis,
    ) -> Result<String, StoreError> {
        let token = new_token();
        let hashed = hash(&token);
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO device_tokens (token_hash, device_id, member_id, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&hashed)
                .bind(device_id)
                .bind(member_id)
                .bind(tx.now + ttl)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await?;
        Ok(token)
    }

    /// Who a live device token speaks for (the device still enabled).
    pub async fn device_session(&self, token: &str) -> Result<Option<DeviceSession>, StoreError> {
        let hashed = hash(token);
        let now = self.now();
        let cache = &self.inner.shared.cache;
        let generation = cache.generation.current();
        if let Some((session, expires_at)) = cache.device_sessions.get(&hashed, generation) {
            return Ok((expires_at > now).then_some(session));
        }
        let row = sqlx::query(
            "SELECT d.program_id, d.id, d.merchant_id, t.member_id, t.expires_at FROM device_tokens t \
             JOIN devices d ON d.id = t.device_id \
             WHERE t.token_hash = $1 AND t.expires_at > $2 AND d.disabled_at IS NULL",
        )
        .bind(&hashed)
        .bind(now)
        .fetch_optional(self.reads())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let session = DeviceSession {
            program_id: r.try_get(0)?,
            device_id: r.try_get(1)?,
            merchant_id: r.try_get(2)?,
            member_id: r.try_get(3)?,
        };
        cache.device_sessions.put(hashed, generation, (session, r.try_get(4)?));
        Ok(Some(session))
    }
}
