//! The web console's operators and their sessions. Passwords arrive hashed (argon2, by
//! the server); a session's token is kept as SHA-256. A sign-in attempt is counted before
//! the password is compared: five wrong ones in a row lock the login for a quarter of an
//! hour, and each address has a minute's allowance of attempts, whoever it tries.

use crate::imshop::key_hash;
use crate::{rate_limits, Store, StoreError, Tx};
use accrue_core::Millis;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Wrong passwords in a row that lock a login.
const LOCK_AFTER: i64 = 5;
const LOCK_MS: Millis = 15 * 60_000;
/// Sign-in attempts an address may make a minute.
const ATTEMPTS_PER_MINUTE: i64 = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    pub id: i64,
    pub login: String,
    pub name: String,
    /// `admin`, `support` or `analyst`.
    pub role: String,
    pub created_at: Millis,
    pub disabled_at: Option<Millis>,
}

const COLUMNS: &str = "id, login, name, role, created_at, disabled_at";

fn operator(row: &AnyRow) -> Result<Operator, StoreError> {
    Ok(Operator {
        id: row.try_get(0)?,
        login: row.try_get(1)?,
        name: row.try_get(2)?,
        role: row.try_get(3)?,
        created_at: row.try_get(4)?,
        disabled_at: row.try_get(5)?,
    })
}

async fn operator_by_login(tx: &mut Tx, login: &str) -> Result<Operator, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM operators WHERE login = $1"))
        .bind(login)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::NotFound("operator"))?;
    operator(&row)
}

async fn end_sessions(tx: &mut Tx, operator_id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM console_sessions WHERE operator_id = $1")
        .bind(operator_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

impl Store {
    /// Adds an operator; a login taken is a conflict.
    pub async fn create_operator(
        &self,
        login: String,
        name: String,
        role: String,
        password_hash: String,
    ) -> Result<Operator, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(&format!(
                    "INSERT INTO operators (login, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING {COLUMNS}"
                ))
                .bind(&login)
                .bind(&name)
                .bind(&role)
                .bind(&password_hash)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await
                .map_err(StoreError::unique(format!("login {login} is taken")))?;
                operator(&row)
            })
        })
        .await
    }

    pub async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM operators ORDER BY login"))
            .fetch_all(self.reads())
            .await?;
        rows.iter().map(operator).collect()
    }

    /// Disables an operator (their sessions end at once) or enables one again. The last
    /// active admin cannot be disabled: someone must be able to sign in and manage.
    pub async fn set_operator_disabled(&self, login: String, disabled: bool) -> Result<Operator, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let found = operator_by_login(tx, &login).await?;
                if disabled && found.role == "admin" && found.disabled_at.is_none() {
                    let row = sqlx::query(
                        "SELECT COUNT(*) FROM operators WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1",
                    )
                    .bind(found.id)
                    .fetch_one(tx.conn())
                    .await?;
                    if row.try_get::<i64, _>(0)? == 0 {
                        return Err(StoreError::Conflict(format!(
                            "{login} is the last active admin and cannot be disabled"
                        )));
                    }
                }
                let at = disabled.then_some(tx.now);
                let row = sqlx::query(&format!(
                    "UPDATE operators SET disabled_at = $2 WHERE id = $1 RETURNING {COLUMNS}"
                ))
                .bind(found.id)
                .bind(at)
                .fetch_one(tx.conn())
                .await?;
                if disabled {
                    end_sessions(tx, found.id).await?;
                }
                operator(&row)
            })
        })
        .await
    }

    /// Sets an operator's password (argon2 hash, made by the server): every session of
    /// theirs ends, and a lock by wrong passwords is lifted.
    pub async fn set_operator_password(&self, login: String, password_hash: String) -> Result<Operator, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let found = operator_by_login(tx, &login).await?;
                sqlx::query(
                    "UPDATE operators SET password_hash = $2, failed_attempts = 0, locked_until = NULL WHERE id = $1",
                )
                .bind(found.id)
                .bind(&password_hash)
                .execute(tx.conn())
                .await?;
                end_sessions(tx, found.id).await?;
                Ok(found)
            })
        })
        .await
    }

    /// Counts a sign-in attempt from `address` for `login` before its password is
    /// compared: the operator and the hash to compare with, `None` for no such active
    /// login; refused while the address is out of attempts or the login is locked.
    pub async fn console_attempt(
        &self,
        login: String,
        address: String,
    ) -> Result<Option<(Operator, String)>, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                rate_limits::take(tx, &format!("console-sign-in:{address}"), ATTEMPTS_PER_MINUTE).await?;
                // Locked, so that a burst of attempts is counted one after another.
                let row = sqlx::query(&format!(
                    "SELECT {COLUMNS}, password_hash, locked_until FROM operators \
                     WHERE login = $1 AND disabled_at IS NULL{}",
                    tx.for_update()
                ))
                .bind(&login)
                .fetch_optional(tx.conn())
                .await?;
                let Some(row) = row else { return Ok(None) };
                let locked_until: Option<Millis> = row.try_get(7)?;
                if let Some(until) = locked_until.filter(|until| *until > tx.now) {
                    return Err(StoreError::RateLimited {
                        retry_after: (until - tx.now + 999) / 1000,
                    });
                }
                let found = operator(&row)?;
                sqlx::query(
                    "UPDATE operators SET failed_attempts = failed_attempts + 1, \
                     locked_until = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE NULL END WHERE id = $1",
                )
                .bind(found.id)
                .bind(LOCK_AFTER)
                .bind(tx.now + LOCK_MS)
                .execute(tx.conn())
                .await?;
                Ok(Some((found, row.try_get(6)?)))
            })
        })
        .await
    }

    /// Opens a session for an operator whose password matched (the failed attempts are
    /// forgotten) with the cookie's `token`, for `ttl_ms`.
    pub async fn begin_console_session(&self, operator_id: i64, token: &str, ttl_ms: Millis) -> Result<(), StoreError> {
        let hash = key_hash(token);
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await?;
                sqlx::query("UPDATE operators SET failed_attempts = 0, locked_until = NULL WHERE id = $1")
                    .bind(operator_id)
                    .execute(tx.conn())
                    .await?;
                sqlx::query(
                    "INSERT INTO console_sessions (token_sha256, operator_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&hash)
                .bind(operator_id)
                .bind(tx.now + ttl_ms)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// The operator of a live session of an active operator.
    pub async fn console_session(&self, token: &str) -> Result<Option<Operator>, StoreError> {
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("o.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = sqlx::query(&format!(
            "SELECT {columns} FROM console_sessions s JOIN operators o ON o.id = s.operator_id \
             WHERE s.token_sha256 = $1 AND s.expires_at > $2 AND o.disabled_at IS NULL"
        ))
        .bind(key_hash(token))
        .bind(self.now())
        .fetch_optional(self.reads())
        .await?;
        row.as_ref().map(operator).transpose()
    }

    pub async fn end_console_session(&self, token: &str) -> Result<(), StoreError> {
        let hash = key_hash(token);
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("DELETE FROM console_sessions WHERE token_sha256 = $1")
                    .bind(&hash)
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
        })
        .await
    }
}
