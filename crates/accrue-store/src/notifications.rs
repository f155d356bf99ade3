//! Messages to a member shown in the member's app: written by the operator (and later by
//! offers and mailings), listed newest first, marked read one by one or all at once,
//! deleted by the member (kept, hidden).

use crate::members::lock_member;
use crate::{Store, StoreError};
use accrue_core::Millis;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub summary: String,
    pub image_url: Option<String>,
    pub created_at: Millis,
    pub read_at: Option<Millis>,
}

#[derive(Debug, Clone, Default)]
pub struct NewNotification {
    pub title: String,
    pub body: String,
    /// The body when not given.
    pub summary: Option<String>,
    pub image_url: Option<String>,
}

pub(crate) const COLUMNS: &str = "id, title, body, summary, image_url, created_at, read_at";

pub(crate) fn notification(row: &AnyRow) -> Result<Notification, StoreError> {
    Ok(Notification {
        id: row.try_get(0)?,
        title: row.try_get(1)?,
        body: row.try_get(2)?,
        summary: row.try_get(3)?,
        image_url: row.try_get(4)?,
        created_at: row.try_get(5)?,
        read_at: row.try_get(6)?,
    })
}

/// The live notifications of one member.
const MINE: &str = "member_id = $1 AND deleted_at IS NULL";

impl Store {
    pub async fn add_notification(
        &self,
        program_id: i64,
        member_id: i64,
        new: NewNotification,
    ) -> Result<Notification, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                lock_member(tx, program_id, member_id).await?;
                let summary = new.summary.unwrap_or_else(|| new.body.clone());
                let row = sqlx::query(&format!(
                    "INSERT INTO notifications (program_id, member_id, title, body, summary, image_url, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
                ))
                .bind(program_id)
                .bind(member_id)
                .bind(&new.title)
                .bind(&new.body)
                .bind(&summary)
                .bind(&new.image_url)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await?;
                notification(&row)
            })
        })
        .await
    }

    /// A page of the member's notifications, newest first.
    pub async fn notifications(&self, member_id: i64, from: i64, count: i64) -> Result<Vec<Notification>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM notifications WHERE {MINE} ORDER BY id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(member_id)
        .bind(count)
        .bind(from)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(notification).collect()
    }

    pub async fn unread_notifications(&self, member_id: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) FROM notifications WHERE {MINE} AND read_at IS NULL"
        ))
        .bind(member_id)
        .fetch_one(self.reads())
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Marks one of the member's notifications read (again is harmless) and returns it.
    pub async fn read_notification(&self, member_id: i64, id: i64) -> Result<Notification, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(&format!(
                    "UPDATE notifications SET read_at = COALESCE(read_at, $3) WHERE {MINE} AND id = $2 \
                     RETURNING {COLUMNS}"
                ))
                .bind(member_id)
                .bind(id)
                .bind(tx.now)
                .fetch_optional(tx.conn())
                .await?;
                row.as_ref()
                    .map(notification)
                    .transpose()?
                    .ok_or(StoreError::NotFound("notification"))
            })
        })
        .await
    }

    /// Marks all the member's unread notifications read; how many there were.
    pub async fn read_all_notifications(&self, member_id: i64) -> Result<u64, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(&format!(
                    "UPDATE notifications SET read_at = $2 WHERE {MINE} AND read_at IS NULL"
                ))
                .bind(member_id)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    pub async fn delete_notification(&self, member_id: i64, id: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(&format!(
                    "UPDATE notifications SET deleted_at = $3 WHERE {MINE} AND id = $2"
                ))
                .bind(member_id)
                .bind(id)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("notification"));
                }
                Ok(())
            })
        })
        .await
    }
}
