//! Members' own sign-in: a password hash (made by the caller; the store never sees a
//! password) and bearer tokens, stored as SHA-256 hashes with their expiry.

use crate::members::lock_member;
use crate::{Store, StoreError};
use accrue_core::Millis;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    Access,
    Refresh,
    /// Proves the password was right while the sign-in waits for its code.
    TwoFactor,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
            TokenKind::TwoFactor => "two_factor",
        }
    }
}

/// What a wrong password leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInFailure {
    /// Wrong; this many tries are left before the lock.
    AttemptsLeft(u32),
    /// Locked for this many seconds.
    Locked(i64),
    /// The count could not be kept.
    Failed(String),
}

/// The member's count of sign-in attempts and lock, locked for this transaction. The
/// upsert makes the row if there is none yet: a `SELECT … FOR UPDATE` of a missing row
/// locks nothing, and a first burst of sign-ins on PostgreSQL would each count from zero.
async fn sign_in_state(tx: &mut crate::Tx, member_id: i64) -> Result<(i64, Option<Millis>), StoreError> {
    let row = sqlx::query(
        "INSERT INTO sign_in_failures (member_id, failures, locked_until) VALUES ($1, 0, NULL) \
         ON CONFLICT (member_id) DO UPDATE SET failures = sign_in_failures.failures \
         RETURNING failures, locked_until",
    )
    .bind(member_id)
    .fetch_one(tx.conn())
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

async fn lock_sign_in(tx: &mut crate::Tx, member_id: i64, failures: i64, lock_seconds: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sign_in_failures (member_id, failures, locked_until) VALUES ($1, $2, $3) \
         ON CONFLICT (member_id) DO UPDATE SET locked_until = excluded.locked_until",
    )
    .bind(member_id)
    .bind(failures)
    .bind(tx.now + lock_seconds * 1000)
    .execute(tx.conn())
    .await?;
    Ok(())
}

fn seconds_until(at: Millis, now: Millis) -> i64 {
    ((at - now).max(0) + 999) / 1000
}

/// A freshly issued token pair; the only time the tokens exist in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
}

/// Who a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOwner {
    pub program_id: i64,
    pub member_id: i64,
}

pub(crate) fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn new_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

async fn insert_token(
    tx: &mut crate::Tx,
    owner: TokenOwner,
    kind: TokenKind,
    ttl_ms: Millis,
) -> Result<String, StoreError> {
    let token = new_token();
    sqlx::query(
        "INSERT INTO member_tokens (token_hash, member_id, program_id, kind, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash(&token))
    .bind(owner.member_id)
    .bind(owner.program_id)
    .bind(kind.as_str())
    .bind(tx.now + ttl_ms)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    Ok(token)
}

pub(crate) async fn insert_pair(
    tx: &mut crate::Tx,
    owner: TokenOwner,
    access_ttl: Millis,
    refresh_ttl: Millis,
) -> Result<TokenPair, StoreError> {
    Ok(TokenPair {
        access: insert_token(tx, owner, TokenKind::Access, access_ttl).await?,
        refresh: insert_token(tx, owner, TokenKind::Refresh, refresh_ttl).await?,
        expires_in: access_ttl / 1000,
    })
}

pub(crate) async fn store_password(tx: &mut crate::Tx, member_id: i64, password_hash: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO member_credentials (member_id, password_hash, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (member_id) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at",
    )
    .bind(member_id)
    .bind(password_hash)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Ends a token before its time, in `tx`.
pub(crate) async fn revoke_token_in(tx: &mut crate::Tx, token: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE member_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
        .bind(tx.now)
        .bind(hash(token))
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Whether the member has a password, read in `tx`.
pub(crate) async fn has_password_in(tx: &mut crate::Tx, member_id: i64) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 FROM member_credentials WHERE member_id = $1")
        .bind(member_id)
        .fetch_optional(tx.conn())
        .await?;
    Ok(row.is_some())
}

impl Store {
    /// Stores the member's password hash (an argon2 PHC string).
    pub async fn set_password_hash(
        &self,
        program_id: i64,
        member_id: i64,
        password_hash: String,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                lock_member(tx, program_id, member_id).await?;
                store_password(tx, member_id, &password_hash).await
            })
        })
        .await
    }

    /// Sets a new password and starts the member's sessions afresh: every earlier token is
    /// revoked, wrong-password counts are cleared, and a new pair is issued (password change
    /// and reset).
    pub async fn replace_password(
        &self,
        owner: TokenOwner,
        password_hash: String,
        access_ttl: Millis,
        refresh_ttl: Millis,
    ) -> Result<TokenPair, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                lock_member(tx, owner.program_id, owner.member_id).await?;
                store_password(tx, owner.member_id, &password_hash).await?;
                sqlx::query("UPDATE member_tokens SET revoked_at = $1 WHERE member_id = $2 AND revoked_at IS NULL")
                    .bind(tx.now)
                    .bind(owner.member_id)
                    .execute(tx.conn())
                    .await?;
                sqlx::query("DELETE FROM sign_in_failures WHERE member_id = $1")
                    .bind(owner.member_id)
                    .execute(tx.conn())
                    .await?;
                insert_pair(tx, owner, access_ttl, refresh_ttl).await
            })
        })
        .await
    }

    pub async fn password_hash(&self, member_id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM member_credentials WHERE member_id = $1")
            .bind(member_id)
            .fetch_optional(self.reads())
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Issues an access and a refresh token for a member.
    pub async fn issue_tokens(
        &self,
        owner: TokenOwner,
        access_ttl: Millis,
        refresh_ttl: Millis,
    ) -> Result<TokenPair, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                lock_member(tx, owner.program_id, owner.member_id).await?;
                insert_pair(tx, owner, access_ttl, refresh_ttl).await
            })
        })
        .await
    }

    /// Counts a sign-in attempt before its password is checked, so that a burst of
    /// guesses gets at most `max` of them checked: `Err(Locked)` while sign-in is locked
    /// or when `max` attempts are already counted (which locks it for `lock_seconds`).
    /// A right password then clears the count ([`Store::clear_sign_in_failures`]), a
    /// wrong one settles it ([`Store::settle_sign_in_failure`]).
    pub async fn claim_sign_in(&self, member_id: i64, max: u32, lock_seconds: i64) -> Result<(), SignInFailure> {
        let claimed = self
            .write(move |tx| {
                Box::pin(async move {
                    let (failures, locked_until) = sign_in_state(tx, member_id).await?;
                    if let Some(until) = locked_until.filter(|u| *u > tx.now) {
                        return Ok(Err(SignInFailure::Locked(seconds_until(until, tx.now))));
                    }
                    // A lock that has run out starts the count afresh.
                    let failures = if locked_until.is_some() { 0 } else { failures };
                    if failures >= i64::from(max) {
                        lock_sign_in(tx, member_id, failures, lock_seconds).await?;
                        return Ok(Err(SignInFailure::Locked(lock_seconds)));
                    }
                    sqlx::query(
                        "INSERT INTO sign_in_failures (member_id, failures, locked_until) VALUES ($1, $2, NULL) \
                         ON CONFLICT (member_id) DO UPDATE SET failures = excluded.failures, locked_until = NULL",
                    )
                    .bind(member_id)
                    .bind(failures + 1)
                    .execute(tx.conn())
                    .await?;
                    Ok(Ok(()))
                })
            })
            .await;
        claimed.unwrap_or_else(|e| Err(SignInFailure::Failed(e.to_string())))
    }

    /// A claimed attempt's password was wrong: how many tries are left, or the lock
    /// that the `max`-th wrong one in a row starts.
    pub async fn settle_sign_in_failure(
        &self,
        member_id: i64,
        max: u32,
        lock_seconds: i64,
    ) -> Result<SignInFailure, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let (failures, locked_until) = sign_in_state(tx, member_id).await?;
                if let Some(until) = locked_until.filter(|u| *u > tx.now) {
                    return Ok(SignInFailure::Locked(seconds_until(until, tx.now)));
                }
                if failures < i64::from(max) {
                    return Ok(SignInFailure::AttemptsLeft((i64::from(max) - failures) as u32));
                }
                lock_sign_in(tx, member_id, failures, lock_seconds).await?;
                Ok(SignInFailure::Locked(lock_seconds))
            })
        })
        .await
    }

    /// A right password starts the count again.
    pub async fn clear_sign_in_failures(&self, member_id: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("DELETE FROM sign_in_failures WHERE member_id = $1")
                    .bind(member_id)
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Issues one token of a kind (the two-factor token of a sign-in waiting for its code).
    pub async fn issue_token(&self, owner: TokenOwner, kind: TokenKind, ttl: Millis) -> Result<String, StoreError> {
        self.write(move |tx| Box::pin(async move { insert_token(tx, owner, kind, ttl).await }))
            .await
    }

    /// The owner of a live (unexpired, unrevoked) token of this kind issued for this
    /// program; a token of another program is unknown.
    pub async fn token_owner(
        &self,
        program_id: i64,
        token: &str,
        kind: TokenKind,
    ) -> Result<Option<TokenOwner>, StoreError> {
        let row = sqlx::query(
            "SELECT program_id, member_id FROM member_tokens \
             WHERE token_hash = $1 AND kind = $2 AND revoked_at IS NULL AND expires_at > $3 AND program_id = $4",
        )
        .bind(hash(token))
        .bind(kind.as_str())
        .bind(self.now())
        .bind(program_id)
        .fetch_optional(self.reads())
        .await?;
        row.map(|r| {
            Ok(TokenOwner {
                program_id: r.try_get(0)?,
                member_id: r.try_get(1)?,
            })
        })
        .transpose()
    }

    /// Ends a token before its time (a registration step handed out a new one).
    pub async fn revoke_token(&self, token: &str) -> Result<(), StoreError> {
        let token = token.to_string();
        self.write(move |tx| Box::pin(async move { revoke_token_in(tx, &token).await }))
            .await
    }

    /// Trades a refresh token of this program for a new pair; the old refresh token stops
    /// working. `None` when the token is unknown (or another program's), expired or
    /// already used.
    pub async fn refresh_tokens(
        &self,
        program_id: i64,
        refresh: &str,
        access_ttl: Millis,
        refresh_ttl: Millis,
    ) -> Result<Option<TokenPair>, StoreError> {
        let hashed = hash(refresh);
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(
                    "UPDATE member_tokens SET revoked_at = $1 WHERE token_hash = $2 AND kind = 'refresh' \
                     AND revoked_at IS NULL AND expires_at > $1 AND program_id = $3 RETURNING program_id, member_id",
                )
                .bind(tx.now)
                .bind(&hashed)
                .bind(program_id)
                .fetch_optional(tx.conn())
                .await?;
                let Some(row) = row else { return Ok(None) };
                let owner = TokenOwner {
                    program_id: row.try_get(0)?,
                    member_id: row.try_get(1)?,
                };
                Ok(Some(TokenPair {
                    access: insert_token(tx, owner, TokenKind::Access, access_ttl).await?,
                    refresh: insert_token(tx, owner, TokenKind::Refresh, refresh_ttl).await?,
                    expires_in: access_ttl / 1000,
                }))
            })
        })
        .await
    }
}
