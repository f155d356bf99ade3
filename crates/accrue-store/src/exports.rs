//! Exports written in the background: an export row with its progress, and the file as
//! parts in order. Each part is keyed by the last member id it holds and appended only
//! if the export still stands where its writer read it, so two servers working on one
//! export never write a part twice.

use crate::{Store, StoreError};
use accrue_core::Millis;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Export {
    pub id: i64,
    pub program_id: i64,
    pub kind: String,
    pub requested_by: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub rows_total: i64,
    pub rows_done: i64,
    /// The last member id written so far.
    pub last_key: i64,
    pub error: Option<String>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
}

/// A member as the members export writes them: balance in one currency (minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberLine {
    pub id: i64,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub state: String,
    pub created_at: Millis,
    pub balance: i64,
}

/// A part to append: the rows it holds, the last member id among them, its text, and
/// whether it is the last part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub rows: i64,
    pub last_key: i64,
    pub body: String,
    pub last: bool,
}

const COLUMNS: &str =
    "id, program_id, kind, requested_by, state, rows_total, rows_done, last_key, error, created_at, finished_at";

fn export(row: &AnyRow) -> Result<Export, StoreError> {
    Ok(Export {
        id: row.try_get(0)?,
        program_id: row.try_get(1)?,
        kind: row.try_get(2)?,
        requested_by: row.try_get(3)?,
        state: row.try_get(4)?,
        rows_total: row.try_get(5)?,
        rows_done: row.try_get(6)?,
        last_key: row.try_get(7)?,
        error: row.try_get(8)?,
        created_at: row.try_get(9)?,
        finished_at: row.try_get(10)?,
    })
}

impl Store {
    /// Starts an export of the program's members; its total is the count at the start.
    pub async fn begin_export(
        &self,
        program_id: i64,
        kind: String,
        requested_by: String,
    ) -> Result<Export, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let total: i64 = sqlx::query("SELECT COUNT(*) FROM members WHERE program_id = $1")
                    .bind(program_id)
                    .fetch_one(tx.conn())
                    .await?
                    .try_get(0)?;
                let row = sqlx::query(&format!(
                    "INSERT INTO exports (program_id, kind, requested_by, state, rows_total, created_at) \
                     VALUES ($1, $2, $3, 'running', $4, $5) RETURNING {COLUMNS}"
                ))
                .bind(program_id)
                .bind(&kind)
                .bind(&requested_by)
                .bind(total)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await?;
                export(&row)
            })
        })
        .await
    }

    /// Exports still being written, oldest first.
    pub async fn running_exports(&self) -> Result<Vec<Export>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM exports WHERE state = 'running' ORDER BY id"
        ))
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(export).collect()
    }

    /// A program's exports, newest first.
    pub async fn exports(&self, program_id: i64, offset: i64, count: i64) -> Result<Vec<Export>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM exports WHERE program_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(program_id)
        .bind(count)
        .bind(offset)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(export).collect()
    }

    pub async fn export(&self, program_id: i64, id: i64) -> Result<Export, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM exports WHERE program_id = $1 AND id = $2"
        ))
        .bind(program_id)
        .bind(id)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("export"))?;
        export(&row)
    }

    /// Up to `count` members after member id `after`, in id order, with their balance in
    /// `currency_id`.
    pub async fn member_lines(
        &self,
        program_id: i64,
        currency_id: i64,
        after: i64,
        count: i64,
    ) -> Result<Vec<MemberLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, m.phone, m.email, m.first_name, m.last_name, m.state, m.created_at, \
             COALESCE((SELECT b.balance FROM accounts a JOIN balances b ON b.account_id = a.id AND b.shard = 0 \
               WHERE a.member_id = m.id AND a.currency_id = $2 AND a.kind = 'wallet'), 0) \
             FROM members m WHERE m.program_id = $1 AND m.id > $3 ORDER BY m.id LIMIT $4",
        )
        .bind(program_id)
        .bind(currency_id)
        .bind(after)
        .bind(count)
        .fetch_all(self.reads())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MemberLine {
                    id: r.try_get(0)?,
                    phone: r.try_get(1)?,
                    email: r.try_get(2)?,
                    first_name: r.try_get(3)?,
                    last_name: r.try_get(4)?,
                    state: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                    balance: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// Appends a part written after member id `after`, and moves the export on (to
    /// `done` with the last part). Returns false, writing nothing, when the export has
    /// moved on since (another server wrote that part) or is no longer running.
    pub async fn add_export_part(&self, export_id: i64, after: i64, part: Part) -> Result<bool, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let (state, finished_at) = if part.last {
                    ("done", Some(tx.now))
                } else {
                    ("running", None)
                };
                let moved = sqlx::query(
                    "UPDATE exports SET rows_done = rows_done + $3, last_key = $4, state = $5, finished_at = $6 \
                     WHERE id = $1 AND last_key = $2 AND state = 'running'",
                )
                .bind(export_id)
                .bind(after)
                .bind(part.rows)
                .bind(part.last_key)
                .bind(state)
                .bind(finished_at)
                .execute(tx.conn())
                .await?
                .rows_affected();
                if moved == 0 {
                    return Ok(false);
                }
                // The last part of an export whose members filled the parts before it
                // exactly holds nothing.
                if part.body.is_empty() {
                    return Ok(true);
                }
                sqlx::query("INSERT INTO export_parts (export_id, part_key, body) VALUES ($1, $2, $3)")
                    .bind(export_id)
                    .bind(part.last_key)
                    .bind(&part.body)
                    .execute(tx.conn())
                    .await?;
                Ok(true)
            })
        })
        .await
    }

    /// Ends an export that cannot go on, saying why.
    pub async fn fail_export(&self, export_id: i64, error: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE exports SET state = 'failed', error = $2, finished_at = $3 WHERE id = $1 AND state = 'running'",
                )
                .bind(export_id)
                .bind(&error)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Up to `count` parts of an export after part key `after`, in order: `(key, body)`.
    pub async fn export_parts(&self, export_id: i64, after: i64, count: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT part_key, body FROM export_parts WHERE export_id = $1 AND part_key > $2 ORDER BY part_key LIMIT $3",
        )
        .bind(export_id)
        .bind(after)
        .bind(count)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }
}
