//! The message templates a program has changed (see [`accrue_core::messages`]); the
//! shipped defaults apply to the rest.

use crate::{Store, StoreError, Tx};
use accrue_core::messages::MessageName;
use serde_json::Value;
use sqlx::Row;

/// A program's template of a message, and whether the program changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: MessageName,
    pub template: Value,
    pub custom: bool,
}

/// The template of a message for a program, read in `tx`.
pub(crate) async fn template_in(tx: &mut Tx, program_id: i64, name: MessageName) -> Result<Value, StoreError> {
    let row = sqlx::query("SELECT template FROM message_templates WHERE program_id = $1 AND name = $2")
        .bind(program_id)
        .bind(name.as_str())
        .fetch_optional(tx.conn())
        .await?;
    match row {
        Some(row) => Ok(serde_json::from_str(&row.try_get::<String, _>(0)?)?),
        None => Ok(name.default_template()),
    }
}

impl Store {
    /// Every message's template for the program.
    pub async fn message_templates(&self, program_id: i64) -> Result<Vec<Template>, StoreError> {
        let rows = sqlx::query("SELECT name, template FROM message_templates WHERE program_id = $1")
            .bind(program_id)
            .fetch_all(self.reads())
            .await?;
        let mut custom = std::collections::HashMap::new();
        for row in &rows {
            let template: String = row.try_get(1)?;
            custom.insert(row.try_get::<String, _>(0)?, serde_json::from_str::<Value>(&template)?);
        }
        let all = MessageName::ALL
            .into_iter()
            .map(|name| match custom.remove(name.as_str()) {
                Some(template) => Template {
                    name,
                    template,
                    custom: true,
                },
                None => Template {
                    name,
                    template: name.default_template(),
                    custom: false,
                },
            });
        Ok(all.collect())
    }

    /// Sets a program's template of a message (checked first).
    pub async fn set_message_template(
        &self,
        program_id: i64,
        name: MessageName,
        template: Value,
    ) -> Result<(), StoreError> {
        name.validate(&template).map_err(StoreError::Invalid)?;
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO message_templates (program_id, name, template, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (program_id, name) DO UPDATE SET template = excluded.template, \
                     updated_at = excluded.updated_at",
                )
                .bind(program_id)
                .bind(name.as_str())
                .bind(template.to_string())
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Goes back to the shipped template of a message.
    pub async fn reset_message_template(&self, program_id: i64, name: MessageName) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("DELETE FROM message_templates WHERE program_id = $1 AND name = $2")
                    .bind(program_id)
                    .bind(name.as_str())
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
        })
        .await
    }
}
