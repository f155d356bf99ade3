//! Integrations with partner programs.

use super::{invalid, json};
use crate::{found, Store, StoreError};
use accrue_core::member::normalize_text;
use accrue_core::template::UrlTemplate;
use accrue_core::tracker::templates::PostbackConfig;
use accrue_core::tracker::{currency, event, forward};
use accrue_core::Millis;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub id: i64,
    /// The random UUID in the postback URL.
    pub uid: String,
    pub program_id: i64,
    pub name: String,
    /// The ready-made template it was created from.
    pub template: Option<String>,
    pub click_param: String,
    pub click_in_link: bool,
    pub postbacks: Vec<PostbackConfig>,
    pub secret_param: String,
    /// Sealed shared secret (the store never sees it in clear).
    pub sealed_secret: Option<String>,
    /// IP networks postbacks may come from; empty for any.
    pub allowed_ips: Vec<String>,
    pub rate_limit_per_minute: i64,
    /// URL template of the forwarded postback, placeholders from `forward::PLACEHOLDERS`.
    pub forward_url: Option<String>,
    /// Currency of amounts that arrive without one.
    pub default_currency: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Integration {
    /// The events of its postback configurations that are not standard ones.
    pub fn custom_events(&self) -> Vec<String> {
        custom_events(&self.postbacks)
    }
}

fn custom_events(postbacks: &[PostbackConfig]) -> Vec<String> {
    let mut events: Vec<String> = Vec::new();
    for p in postbacks {
        if !event::is_standard(&p.event) && !events.contains(&p.event) {
            events.push(p.event.clone());
        }
    }
    events
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIntegration {
    pub uid: String,
    pub name: String,
    pub template: Option<String>,
    pub click_param: String,
    pub click_in_link: bool,
    pub postbacks: Vec<PostbackConfig>,
    pub secret_param: String,
    pub sealed_secret: Option<String>,
    pub allowed_ips: Vec<String>,
    pub rate_limit_per_minute: i64,
    pub forward_url: Option<String>,
    pub default_currency: String,
}

/// Changes; `None` leaves a field as it is. `sealed_secret: Some(None)` removes the secret,
/// `forward_url: Some(None)` stops forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationUpdate {
    pub name: Option<String>,
    pub click_param: Option<String>,
    pub postbacks: Option<Vec<PostbackConfig>>,
    pub sealed_secret: Option<Option<String>>,
    pub allowed_ips: Option<Vec<String>>,
    pub rate_limit_per_minute: Option<i64>,
    pub forward_url: Option<Option<String>>,
    pub default_currency: Option<String>,
}

/// A parameter name as partner programs write them.
fn check_param(field: &str, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{field} must be 1 to 64 letters, digits, `_`, `-` or `.`, got {name:?}"
        )))
    }
}

fn check_postbacks(postbacks: &[PostbackConfig]) -> Result<(), StoreError> {
    if postbacks.len() > 20 {
        return Err(StoreError::Invalid("at most 20 postback configurations".into()));
    }
    for p in postbacks {
        normalize_text("postback label", &p.label, 100).map_err(invalid)?;
        let lower = p.event.to_ascii_lowercase();
        if lower != p.event || lower.len() > event::MAX_EVENT_LEN {
            return Err(StoreError::Invalid(format!(
                "postback event {:?} must be lower case and at most {} characters",
                p.event,
                event::MAX_EVENT_LEN
            )));
        }
        check_param("postback event", &p.event)?;
        for (name, value) in &p.params {
            check_param("postback parameter", name)?;
            if value.contains(['&', '#', ' ']) || value.len() > 200 {
                return Err(StoreError::Invalid(format!(
                    "postback parameter {name}: the value may not contain `&`, `#` or spaces"
                )));
            }
        }
    }
    Ok(())
}

fn check(i: &NewIntegration) -> Result<(), StoreError> {
    normalize_text("name", &i.name, 200).map_err(invalid)?;
    check_param("click_param", &i.click_param)?;
    check_param("secret_param", &i.secret_param)?;
    check_postbacks(&i.postbacks)?;
    if !(1..=1_000_000).contains(&i.rate_limit_per_minute) {
        return Err(StoreError::Invalid("rate_limit_per_minute must be 1 to 1000000".into()));
    }
    if let Some(url) = &i.forward_url {
        UrlTemplate::parse(url, forward::PLACEHOLDERS).map_err(|e| invalid(format!("forward_url: {e}")))?;
    }
    currency::normalize(&i.default_currency).map_err(invalid)?;
    Ok(())
}

const COLUMNS: &str = "id, uid, program_id, name, template, click_param, click_in_link, postbacks, secret_param, \
     secret, allowed_ips, rate_limit_per_minute, forward_url, default_currency, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Integration, StoreError> {
    Ok(Integration {
        id: row.try_get("id")?,
        uid: row.try_get("uid")?,
        program_id: row.try_get("program_id")?,
        name: row.try_get("name")?,
        template: row.try_get("template")?,
        click_param: row.try_get("click_param")?,
        click_in_link: row.try_get::<i64, _>("click_in_link")? != 0,
        postbacks: json(&row.try_get::<String, _>("postbacks")?)?,
        secret_param: row.try_get("secret_param")?,
        sealed_secret: row.try_get("secret")?,
        allowed_ips: json(&row.try_get::<String, _>("allowed_ips")?)?,
        rate_limit_per_minute: row.try_get("rate_limit_per_minute")?,
        forward_url: row.try_get("forward_url")?,
        default_currency: row.try_get("default_currency")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn create_integration(&self, program_id: i64, new: NewIntegration) -> Result<Integration, StoreError> {
        check(&new)?;
        let uid = new.uid.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "INSERT INTO tracker_integrations ({}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
                    &COLUMNS[4..]
                );
                sqlx::query(&sql)
                    .bind(&new.uid)
                    .bind(program_id)
                    .bind(new.name.trim())
                    .bind(&new.template)
                    .bind(&new.click_param)
                    .bind(i64::from(new.click_in_link))
                    .bind(serde_json::to_string(&new.postbacks)?)
                    .bind(&new.secret_param)
                    .bind(&new.sealed_secret)
                    .bind(serde_json::to_string(&new.allowed_ips)?)
                    .bind(new.rate_limit_per_minute)
                    .bind(&new.forward_url)
                    .bind(currency::normalize(&new.default_currency).map_err(invalid)?)
                    .bind(tx.now)
                    .fetch_one(tx.conn())
                    .await
                    .map_err(StoreError::unique("an integration with this id exists"))?;
                Ok(())
            })
        })
        .await?;
        self.integration_by_uid(&uid)
            .await?
            .ok_or(StoreError::NotFound("integration"))
    }

    pub async fn integrations(&self, program_id: i64) -> Result<Vec<Integration>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tracker_integrations WHERE program_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql).bind(program_id).fetch_all(self.reads()).await?;
        rows.iter().map(from_row).collect()
    }

    /// The integration a postback URL names, in any program.
    pub async fn integration_by_uid(&self, uid: &str) -> Result<Option<Integration>, StoreError> {
        let cache = &self.inner.shared.cache;
        let generation = cache.generation.current();
        if let Some(integration) = cache.integrations.get(&uid.to_string(), generation) {
            return Ok(Some(integration));
        }
        let sql = format!("SELECT {COLUMNS} FROM tracker_integrations WHERE uid = $1");
        let row = sqlx::query(&sql).bind(uid).fetch_optional(self.reads()).await?;
        let integration = row.as_ref().map(from_row).transpose()?;
        if let Some(found) = &integration {
            cache.integrations.put(uid.to_string(), generation, found.clone());
        }
        Ok(integration)
    }

    pub async fn integration(&self, program_id: i64, uid: &str) -> Result<Integration, StoreError> {
        self.integration_by_uid(&uid.to_ascii_lowercase())
            .await?
            .filter(|i| i.program_id == program_id)
            .ok_or(StoreError::NotFound("integration"))
    }

    pub async fn update_integration(
        &self,
        program_id: i64,
        uid: &str,
        update: IntegrationUpdate,
    ) -> Result<Integration, StoreError> {
        let current = self.integration(program_id, uid).await?;
        let changed = NewIntegration {
            uid: current.uid.clone(),
            name: update.name.unwrap_or(current.name),
            template: current.template,
            click_param: update.click_param.unwrap_or(current.click_param),
            click_in_link: current.click_in_link,
            postbacks: update.postbacks.unwrap_or(current.postbacks),
            secret_param: current.secret_param,
            sealed_secret: update.sealed_secret.unwrap_or(current.sealed_secret),
            allowed_ips: update.allowed_ips.unwrap_or(current.allowed_ips),
            rate_limit_per_minute: update.rate_limit_per_minute.unwrap_or(current.rate_limit_per_minute),
            forward_url: update.forward_url.unwrap_or(current.forward_url),
            default_currency: update.default_currency.unwrap_or(current.default_currency),
        };
        check(&changed)?;
        let id = current.id;
        self.write(move |tx| {
            Box::pin(async move {
                tx.changes_config().await?;
                let rows = sqlx::query(
                    "UPDATE tracker_integrations SET name = $1, click_param = $2, postbacks = $3, secret = $4, \
                     allowed_ips = $5, rate_limit_per_minute = $6, forward_url = $7, default_currency = $8, \
                     updated_at = $9 WHERE id = $10",
                )
                .bind(changed.name.trim())
                .bind(&changed.click_param)
                .bind(serde_json::to_string(&changed.postbacks)?)
                .bind(&changed.sealed_secret)
                .bind(serde_json::to_string(&changed.allowed_ips)?)
                .bind(changed.rate_limit_per_minute)
                .bind(&changed.forward_url)
                .bind(currency::normalize(&changed.default_currency).map_err(invalid)?)
                .bind(tx.now)
                .bind(id)
                .execute(tx.conn())
                .await?
                .rows_affected();
                found(rows, "integration")
            })
        })
        .await?;
        self.integration(program_id, uid).await
    }
}
