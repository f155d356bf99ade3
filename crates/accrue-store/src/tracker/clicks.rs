//! Custom fields, leads, registration links and the clicks on them.

use super::{invalid, json};
use crate::cache::memoized;
use crate::{Store, StoreError, Tx};
use accrue_core::member::normalize_text;
use accrue_core::tracker::link;
use accrue_core::Millis;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

/// A custom field of the program's leads, written by `fields.<key>=…` on postbacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub key: String,
    pub name: String,
    pub created_at: Millis,
}

/// A contact of the operator, known by the id its CRM or chat platform gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub id: i64,
    pub external_id: String,
    pub fields: Map<String, Value>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub id: i64,
    pub program_id: i64,
    pub integration_id: i64,
    pub name: String,
    pub slug: String,
    pub base_url: String,
    pub params: Vec<(String, String)>,
    /// With `{{…}}` placeholders.
    pub final_url: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLink {
    pub integration_id: i64,
    pub name: String,
    pub slug: String,
    pub base_url: String,
    pub params: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Click {
    pub id: i64,
    pub click_id: String,
    pub link_id: i64,
    pub integration_id: i64,
    pub lead_id: Option<i64>,
    pub source: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub subs: Vec<(String, String)>,
    pub created_at: Millis,
    pub visited_at: Option<Millis>,
}

/// A click to record: a visit of `/t/{slug}` or a final URL issued by the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewClick {
    /// The click id to use when this is a new click.
    pub click_id: String,
    /// An issued click id the visit comes back with: its visit is recorded on it.
    pub reuse: Option<String>,
    pub lead: Option<String>,
    /// `redirect` or `issued`.
    pub source: &'static str,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub subs: Vec<(String, String)>,
}

/// What a recorded click renders: the link's final URL for this click and lead.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickRecorded {
    pub click_id: String,
    pub final_url: String,
    pub lead: Option<Lead>,
}

/// The longest external id of a lead.
const MAX_EXTERNAL_ID: usize = 200;

fn check_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "field key must be 1 to 64 letters, digits, `_`, `-` or `.`, got {key:?}"
        )))
    }
}

fn lead_from(row: &AnyRow) -> Result<Lead, StoreError> {
    Ok(Lead {
        id: row.try_get("id")?,
        external_id: row.try_get("external_id")?,
        fields: json(&row.try_get::<String, _>("fields")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const LINK_COLUMNS: &str = "id, program_id, integration_id, name, slug, base_url, params, final_url, created_at";

fn link_from(row: &AnyRow) -> Result<Link, StoreError> {
    Ok(Link {
        id: row.try_get("id")?,
        program_id: row.try_get("program_id")?,
        integration_id: row.try_get("integration_id")?,
        name: row.try_get("name")?,
        slug: row.try_get("slug")?,
        base_url: row.try_get("base_url")?,
        params: json(&row.try_get::<String, _>("params")?)?,
        final_url: row.try_get("final_url")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) const CLICK_COLUMNS: &str = "id, click_id, link_id, integration_id, lead_id, source, ip, user_agent, \
     referrer, subs, created_at, visited_at";

pub(crate) fn click_from(row: &AnyRow) -> Result<Click, StoreError> {
    Ok(Click {
        id: row.try_get("id")?,
        click_id: row.try_get("click_id")?,
        link_id: row.try_get("link_id")?,
        integration_id: row.try_get("integration_id")?,
        lead_id: row.try_get("lead_id")?,
        source: row.try_get("source")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        referrer: row.try_get("referrer")?,
        subs: json(&row.try_get::<String, _>("subs")?)?,
        created_at: row.try_get("created_at")?,
        visited_at: row.try_get("visited_at")?,
    })
}

/// Finds or creates the lead with this external id, in the current transaction.
async fn upsert_lead(tx: &mut Tx, program_id: i64, external_id: &str) -> Result<Lead, StoreError> {
    sqlx::query(
        "INSERT INTO tracker_leads (program_id, external_id, fields, created_at, updated_at) \
         VALUES ($1, $2, '{}', $3, $3) ON CONFLICT (program_id, external_id) DO NOTHING",
    )
    .bind(program_id)
    .bind(external_id)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    let row = sqlx::query(
        "SELECT id, external_id, fields, created_at, updated_at FROM tracker_leads \
         WHERE program_id = $1 AND external_id = $2",
    )
    .bind(program_id)
    .bind(external_id)
    .fetch_one(tx.conn())
    .await?;
    lead_from(&row)
}

/// Clips text from a request header to a sensible length.
fn clip(text: Option<String>, max: usize) -> Option<String> {
    text.map(|t| t.chars().take(max).collect())
}

impl Store {
    /// Defines (or renames) a custom field.
    pub async fn put_tracker_field(&self, program_id: i64, key: &str, name: &str) -> Result<Field, StoreError> {
        check_key(key)?;
        let name = normalize_text("name", name, 200).map_err(invalid)?;
        let key = key.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO tracker_fields (program_id, key, name, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (program_id, key) DO UPDATE SET name = excluded.name",
                )
                .bind(program_id)
                .bind(&key)
                .bind(&name)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                let created_at =
                    sqlx::query("SELECT created_at FROM tracker_fields WHERE program_id = $1 AND key = $2")
                        .bind(program_id)
                        .bind(&key)
                        .fetch_one(tx.conn())
                        .await?
                        .try_get(0)?;
                Ok(Field { key, name, created_at })
            })
        })
        .await
    }

    pub async fn tracker_fields(&self, program_id: i64) -> Result<Vec<Field>, StoreError> {
        let rows = sqlx::query("SELECT key, name, created_at FROM tracker_fields WHERE program_id = $1 ORDER BY key")
            .bind(program_id)
            .fetch_all(self.reads())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Field {
                    key: r.try_get(0)?,
                    name: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Creates the lead if needed and merges `fields` (only defined keys) into its fields.
    pub async fn put_lead(
        &self,
        program_id: i64,
        external_id: &str,
        fields: Map<String, Value>,
    ) -> Result<Lead, StoreError> {
        let external_id = normalize_text("external_id", external_id, MAX_EXTERNAL_ID).map_err(invalid)?;
        let defined: Vec<String> = self
            .tracker_fields(program_id)
            .await?
            .into_iter()
            .map(|f| f.key)
            .collect();
        if let Some(unknown) = fields.keys().find(|k| !defined.contains(k)) {
            return Err(StoreError::Invalid(format!(
                "field {unknown:?} is not defined; define it with PUT /admin/v1/tracker/fields/{unknown}"
            )));
        }
        self.write(move |tx| {
            Box::pin(async move {
                let mut lead = upsert_lead(tx, program_id, &external_id).await?;
                if !fields.is_empty() {
                    lead.fields.extend(fields);
                    lead.updated_at = tx.now;
                    write_lead_fields(tx, &lead).await?;
                }
                Ok(lead)
            })
        })
        .await
    }

    pub async fn lead(&self, program_id: i64, external_id: &str) -> Result<Lead, StoreError> {
        let row = sqlx::query(
            "SELECT id, external_id, fields, created_at, updated_at FROM tracker_leads \
             WHERE program_id = $1 AND external_id = $2",
        )
        .bind(program_id)
        .bind(external_id)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("lead"))?;
        lead_from(&row)
    }

    /// Creates a registration link; its final URL is composed from the base URL, the
    /// parameters and the integration's click parameter.
    pub async fn create_link(&self, program_id: i64, click_param: &str, new: NewLink) -> Result<Link, StoreError> {
        let name = normalize_text("name", &new.name, 200).map_err(invalid)?;
        if new.params.len() > 50 {
            return Err(StoreError::Invalid("at most 50 parameters".into()));
        }
        let final_url = link::final_url(new.base_url.trim(), &new.params, click_param).map_err(invalid)?;
        let slug = new.slug.clone();
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO tracker_links (program_id, integration_id, name, slug, base_url, params, final_url, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(program_id)
                .bind(new.integration_id)
                .bind(&name)
                .bind(&new.slug)
                .bind(new.base_url.trim())
                .bind(serde_json::to_string(&new.params)?)
                .bind(final_url.source())
                .bind(tx.now)
                .execute(tx.conn())
                .await
                .map_err(StoreError::unique("a link with this slug exists"))?;
                Ok(())
            })
        })
        .await?;
        self.link_by_slug(&slug).await
    }

    pub async fn links(&self, program_id: i64) -> Result<Vec<Link>, StoreError> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM tracker_links WHERE program_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql).bind(program_id).fetch_all(self.reads()).await?;
        rows.iter().map(link_from).collect()
    }

    pub async fn link(&self, program_id: i64, id: i64) -> Result<Link, StoreError> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM tracker_links WHERE program_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(program_id)
            .bind(id)
            .fetch_optional(self.reads())
            .await?;
        link_from(&row.ok_or(StoreError::NotFound("link"))?)
    }

    pub async fn link_by_slug(&self, slug: &str) -> Result<Link, StoreError> {
        memoized!(self, links, slug.to_string(), {
            let sql = format!("SELECT {LINK_COLUMNS} FROM tracker_links WHERE slug = $1");
            let row = sqlx::query(&sql).bind(slug).fetch_optional(self.reads()).await?;
            link_from(&row.ok_or(StoreError::NotFound("link"))?)
        })
    }

    /// Records a click on `link` (one write) and renders the link's final URL for it.
    pub async fn record_click(&self, link: &Link, click: NewClick) -> Result<ClickRecorded, StoreError> {
        let template = link::LinkTemplate::parse(&link.final_url).map_err(|e| StoreError::Internal(e.to_string()))?;
        let lead = click
            .lead
            .as_deref()
            .map(|l| normalize_text("lead", l, MAX_EXTERNAL_ID).map_err(invalid))
            .transpose()?;
        let (program_id, link_id, integration_id) = (link.program_id, link.id, link.integration_id);
        self.write(move |tx| {
            Box::pin(async move {
                let lead = match &lead {
                    Some(external) => Some(upsert_lead(tx, program_id, external).await?),
                    None => None,
                };
                let lead_id = lead.as_ref().map(|l| l.id);
                let reused = match &click.reuse {
                    Some(id) => revisit(tx, &click, id, link_id, lead_id).await?,
                    None => false,
                };
                let click_id = if reused {
                    click.reuse.clone().unwrap_or_default()
                } else {
                    click.click_id.clone()
                };
                if !reused {
                    let visited = (click.source == "redirect").then_some(tx.now);
                    sqlx::query(
                        "INSERT INTO tracker_clicks (click_id, program_id, link_id, integration_id, lead_id, source, \
                         ip, user_agent, referrer, subs, created_at, visited_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(&click_id)
                    .bind(program_id)
                    .bind(link_id)
                    .bind(integration_id)
                    .bind(lead_id)
                    .bind(click.source)
                    .bind(clip(click.ip.clone(), 64))
                    .bind(clip(click.user_agent.clone(), 512))
                    .bind(clip(click.referrer.clone(), 2048))
                    .bind(serde_json::to_string(&click.subs)?)
                    .bind(tx.now)
                    .bind(visited)
                    .execute(tx.conn())
                    .await
                    .map_err(StoreError::unique("click id collision"))?;
                }
                let values = link::values(&click_id, lead.as_ref().map(|l| (l.external_id.as_str(), &l.fields)));
                Ok(ClickRecorded {
                    final_url: template.render(&values),
                    click_id,
                    lead,
                })
            })
        })
        .await
    }
}

/// Records a visit on an issued click, when `click_id` is one of this link and lead.
/// Only the first visit's details are kept.
async fn revisit(
    tx: &mut Tx,
    click: &NewClick,
    click_id: &str,
    link_id: i64,
    lead_id: Option<i64>,
) -> Result<bool, StoreError> {
    let rows = sqlx::query(
        "UPDATE tracker_clicks SET ip = COALESCE(ip, $1), user_agent = COALESCE(user_agent, $2), \
         referrer = COALESCE(referrer, $3), subs = CASE WHEN visited_at IS NULL THEN $4 ELSE subs END, \
         visited_at = COALESCE(visited_at, $5) \
         WHERE click_id = $6 AND link_id = $7 AND (lead_id = $8 OR (lead_id IS NULL AND $8 IS NULL))",
    )
    .bind(clip(click.ip.clone(), 64))
    .bind(clip(click.user_agent.clone(), 512))
    .bind(clip(click.referrer.clone(), 2048))
    .bind(serde_json::to_string(&click.subs)?)
    .bind(tx.now)
    .bind(click_id)
    .bind(link_id)
    .bind(lead_id)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(rows > 0)
}

pub(crate) async fn write_lead_fields(tx: &mut Tx, lead: &Lead) -> Result<(), StoreError> {
    sqlx::query("UPDATE tracker_leads SET fields = $1, updated_at = $2 WHERE id = $3")
        .bind(serde_json::to_string(&lead.fields)?)
        .bind(tx.now)
        .bind(lead.id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn lead_by_id(tx: &mut Tx, id: i64) -> Result<Lead, StoreError> {
    let row = sqlx::query("SELECT id, external_id, fields, created_at, updated_at FROM tracker_leads WHERE id = $1")
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    lead_from(&row)
}
