//! A program's named lifetime definitions of points (see
//! [`accrue_core::lifetimes`]); one may be the program's default.

use crate::{found, Store, StoreError};
use accrue_core::lifetimes::{is_external_id, LifetimeDefinition};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedLifetime {
    pub external_id: String,
    pub is_default: bool,
    #[serde(flatten)]
    pub definition: LifetimeDefinition,
}

fn named(row: &AnyRow) -> Result<NamedLifetime, StoreError> {
    Ok(NamedLifetime {
        external_id: row.try_get(0)?,
        definition: serde_json::from_str(&row.try_get::<String, _>(1)?)?,
        is_default: row.try_get::<i64, _>(2)? == 1,
    })
}

const COLUMNS: &str = "external_id, definition, is_default";

impl Store {
    pub async fn lifetimes(&self, program_id: i64) -> Result<Vec<NamedLifetime>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM lifetime_definitions WHERE program_id = $1 ORDER BY external_id"
        ))
        .bind(program_id)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(named).collect()
    }

    /// The definition a caller names, or the program's default when it names none
    /// (`None` when the program has no default: points never expire).
    pub async fn lifetime(
        &self,
        program_id: i64,
        external_id: Option<&str>,
    ) -> Result<Option<NamedLifetime>, StoreError> {
        let (sql, key) = match external_id {
            Some(id) => ("external_id = $2", id.to_string()),
            None => ("is_default = 1 AND $2 = ''", String::new()),
        };
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM lifetime_definitions WHERE program_id = $1 AND {sql}"
        ))
        .bind(program_id)
        .bind(&key)
        .fetch_optional(self.reads())
        .await?;
        match (row, external_id) {
            (Some(row), _) => Ok(Some(named(&row)?)),
            (None, Some(_)) => Err(StoreError::NotFound("lifetime definition")),
            (None, None) => Ok(None),
        }
    }

    /// Creates or replaces a definition; the default one unseats the program's former
    /// default.
    pub async fn put_lifetime(&self, program_id: i64, named: NamedLifetime) -> Result<(), StoreError> {
        if !is_external_id(&named.external_id) {
            return Err(StoreError::Invalid(
                "an external id has 1 to 100 characters and no control characters".into(),
            ));
        }
        named.definition.validate().map_err(StoreError::Invalid)?;
        let definition = serde_json::to_string(&named.definition)?;
        self.write(move |tx| {
            Box::pin(async move {
                if named.is_default {
                    sqlx::query("UPDATE lifetime_definitions SET is_default = 0 WHERE program_id = $1")
                        .bind(program_id)
                        .execute(tx.conn())
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO lifetime_definitions (program_id, external_id, definition, is_default, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (program_id, external_id) DO UPDATE SET \
                     definition = excluded.definition, is_default = excluded.is_default, updated_at = excluded.updated_at",
                )
                .bind(program_id)
                .bind(&named.external_id)
                .bind(&definition)
                .bind(i64::from(named.is_default))
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn delete_lifetime(&self, program_id: i64, external_id: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM lifetime_definitions WHERE program_id = $1 AND external_id = $2")
                    .bind(program_id)
                    .bind(&external_id)
                    .execute(tx.conn())
                    .await?;
                found(done.rows_affected(), "lifetime definition")
            })
        })
        .await
    }
}
