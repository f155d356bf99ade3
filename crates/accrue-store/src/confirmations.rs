//! Confirmation codes for phone and e-mail. A code is sent through the outbox in the
//! transaction that creates it and stored only as a salted SHA-256 (the queued message
//! carries it sealed until it is delivered); wrong entries are counted (and committed
//! even though the call fails), and too many lock the channel.

use crate::messages::template_in;
use crate::outbox::{enqueue, NewMessage};
use crate::{Sealer, Store, StoreError, Tx};
use accrue_core::messages::MessageName;
use accrue_core::outbox::MessageKind;
use accrue_core::registration::{code_from, Channel, CodeRules};
use accrue_core::Millis;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Another code was sent less than `resend_after_seconds` ago.
    #[error("a new code can be sent in {seconds} s")]
    TooSoon { seconds: i64 },
    /// Too many wrong entries: the channel is locked.
    #[error("too many wrong codes; try again in {seconds} s")]
    Locked { seconds: i64 },
    #[error("wrong code; {attempts_left} attempts left")]
    Wrong { attempts_left: u32 },
    #[error("the code has expired; ask for a new one")]
    Expired,
    #[error("no code was sent")]
    NotSent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    pub target: String,
    pub expires_at: Millis,
    pub length: u32,
}

/// The live state of a member's channel.
struct CodeRow {
    target: String,
    code_hash: Option<String>,
    salt: String,
    expires_at: Millis,
    attempts: i64,
    sent_at: Millis,
    locked_until: Option<Millis>,
}

fn hash(salt: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}:{code}").as_bytes()))
}

fn seconds_until(at: Millis, now: Millis) -> i64 {
    (at - now + 999) / 1000
}

async fn current(tx: &mut Tx, member_id: i64, channel: Channel) -> Result<Option<CodeRow>, StoreError> {
    let sql = format!(
        "SELECT target, code_hash, salt, expires_at, attempts, sent_at, locked_until FROM confirmation_codes \
         WHERE member_id = $1 AND channel = $2{}",
        tx.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(member_id)
        .bind(channel.as_str())
        .fetch_optional(tx.conn())
        .await?;
    row.map(|r| {
        Ok(CodeRow {
            target: r.try_get(0)?,
            code_hash: r.try_get(1)?,
            salt: r.try_get(2)?,
            expires_at: r.try_get(3)?,
            attempts: r.try_get(4)?,
            sent_at: r.try_get(5)?,
            locked_until: r.try_get(6)?,
        })
    })
    .transpose()
}

/// The message that carries a code, from the program's template: its text names
/// `{code}`, and the code itself travels sealed, so the outbox keeps it in clear nowhere.
async fn message(
    tx: &mut Tx,
    program_id: i64,
    (channel, target): (Channel, String),
    code: &str,
    sealer: &Sealer,
) -> Result<NewMessage, StoreError> {
    let (kind, name) = match channel {
        Channel::Phone => (MessageKind::Sms, MessageName::CodeSms),
        Channel::Email => (MessageKind::Email, MessageName::CodeEmail),
    };
    let payload = template_in(tx, program_id, name).await?;
    Ok(NewMessage {
        sealed_secrets: Some(sealer.seal(&serde_json::json!({ "code": code }).to_string())),
        ..NewMessage::new(kind, target, payload)
    })
}

/// Makes and queues a new code in `tx` (see [`Store::send_code`]).
pub(crate) async fn send_code_in(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    (channel, target): (Channel, String),
    rules: CodeRules,
    sealer: &Sealer,
) -> Result<SentCode, StoreError> {
    crate::members::lock_member(tx, program_id, member_id).await?;
    if let Some(row) = current(tx, member_id, channel).await? {
        if let Some(until) = row.locked_until.filter(|u| *u > tx.now) {
            return Err(CodeError::Locked {
                seconds: seconds_until(until, tx.now),
            }
            .into());
        }
        // The pause limits repeats to one target; a corrected phone or address is sent at once.
        let next = row.sent_at + rules.resend_after_seconds * 1000;
        if next > tx.now && row.target == target {
            return Err(CodeError::TooSoon {
                seconds: seconds_until(next, tx.now),
            }
            .into());
        }
    }
    let code = code_from(rand::random::<u64>(), rules.length);
    let mut salt = [0_u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = hex::encode(salt);
    let expires_at = tx.now + rules.ttl_seconds * 1000;
    sqlx::query(
        "INSERT INTO confirmation_codes (member_id, channel, target, code_hash, salt, expires_at, attempts, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT (member_id, channel) DO UPDATE SET \
         target = excluded.target, code_hash = excluded.code_hash, salt = excluded.salt, \
         expires_at = excluded.expires_at, attempts = 0, sent_at = excluded.sent_at, locked_until = NULL",
    )
    .bind(member_id)
    .bind(channel.as_str())
    .bind(&target)
    .bind(hash(&salt, &code))
    .bind(&salt)
    .bind(expires_at)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    let sent = message(tx, program_id, (channel, target.clone()), &code, sealer).await?;
    enqueue(tx, program_id, &sent).await?;
    Ok(SentCode {
        target,
        expires_at,
        length: rules.length,
    })
}

/// Checks a typed code in `tx`: the outcome, with a wrong attempt counted in `tx` (which
/// the caller commits).
pub(crate) async fn check_code_in(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    channel: Channel,
    code: &str,
    rules: CodeRules,
) -> Result<Result<String, CodeError>, StoreError> {
    crate::members::lock_member(tx, program_id, member_id).await?;
    let Some(row) = current(tx, member_id, channel).await? else {
        return Ok(Err(CodeError::NotSent));
    };
    if let Some(until) = row.locked_until.filter(|u| *u > tx.now) {
        return Ok(Err(CodeError::Locked {
            seconds: seconds_until(until, tx.now),
        }));
    }
    let Some(stored) = row.code_hash else {
        return Ok(Err(CodeError::NotSent));
    };
    if row.expires_at <= tx.now {
        return Ok(Err(CodeError::Expired));
    }
    let key = (member_id, channel.as_str());
    if hash(&row.salt, code) == stored {
        sqlx::query("UPDATE confirmation_codes SET code_hash = NULL WHERE member_id = $1 AND channel = $2")
            .bind(key.0)
            .bind(key.1)
            .execute(tx.conn())
            .await?;
        return Ok(Ok(row.target));
    }
    let attempts = row.attempts + 1;
    let exhausted = attempts >= i64::from(rules.max_attempts);
    let locked_until = exhausted.then_some(tx.now + rules.lock_seconds * 1000);
    sqlx::query(
        "UPDATE confirmation_codes SET attempts = $1, locked_until = $2, \
         code_hash = CASE WHEN $3 = 1 THEN NULL ELSE code_hash END WHERE member_id = $4 AND channel = $5",
    )
    .bind(attempts)
    .bind(locked_until)
    .bind(exhausted as i64)
    .bind(key.0)
    .bind(key.1)
    .execute(tx.conn())
    .await?;
    Ok(Err(match locked_until {
        Some(until) => CodeError::Locked {
            seconds: seconds_until(until, tx.now),
        },
        None => CodeError::Wrong {
            attempts_left: (i64::from(rules.max_attempts) - attempts) as u32,
        },
    }))
}

impl Store {
    /// Makes a new code for the member's channel and target (replacing any earlier one) and
    /// queues it in the same transaction: by SMS for the phone, by e-mail otherwise, with the
    /// program's template (see [`crate::messages`]). Refused with [`CodeError::TooSoon`] within `resend_after_seconds`
    /// of the previous send to the same target, and with
    /// [`CodeError::Locked`] while the channel is locked. Only a salted SHA-256 of the code
    /// is stored, and the queued message carries the code sealed with the server's key. The
    /// pause applies to the same target: a corrected number or address gets its code at once.
    pub async fn send_code(
        &self,
        program_id: i64,
        member_id: i64,
        channel: Channel,
        target: String,
        rules: CodeRules,
    ) -> Result<SentCode, StoreError> {
        let sealer = self.sealer().clone();
        self.write(move |tx| {
            Box::pin(async move { send_code_in(tx, program_id, member_id, (channel, target), rules, &sealer).await })
        })
        .await
    }

    /// Checks a typed code. Right → the confirmed target, and the code is used up (checking
    /// again answers [`CodeError::NotSent`]). Wrong → [`CodeError::Wrong`], the attempt
    /// counted in a committed write; the `max_attempts`-th wrong entry voids the code and
    /// locks the channel for `lock_seconds` ([`CodeError::Locked`], also for the right code
    /// while it lasts). After `ttl_seconds`: [`CodeError::Expired`].
    pub async fn confirm_code(
        &self,
        program_id: i64,
        member_id: i64,
        channel: Channel,
        code: &str,
        rules: CodeRules,
    ) -> Result<String, StoreError> {
        let code = code.trim().to_string();
        let checked = self
            .write(move |tx| {
                Box::pin(async move { check_code_in(tx, program_id, member_id, channel, &code, rules).await })
            })
            .await?;
        Ok(checked?)
    }

    /// Voids the member's live code on the channel (a reset the member gave up). The resend
    /// throttle and any lock stay as they are.
    pub async fn cancel_code(&self, member_id: i64, channel: Channel) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("UPDATE confirmation_codes SET code_hash = NULL WHERE member_id = $1 AND channel = $2")
                    .bind(member_id)
                    .bind(channel.as_str())
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// The target of the member's live (sent, not used up, not voided by a lock) code on
    /// this channel, if any; an expired code still counts, so confirming it says Expired.
    pub async fn pending_target(&self, member_id: i64, channel: Channel) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT target FROM confirmation_codes WHERE member_id = $1 AND channel = $2 AND code_hash IS NOT NULL",
        )
        .bind(member_id)
        .bind(channel.as_str())
        .fetch_optional(self.reads())
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}
