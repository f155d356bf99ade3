//! The referral program on the database: its settings, clicks on invite links and the
//! first opens matched to them, who invited whom, and the rewards referrals earn.
//!
//! Rewards are paid by the hooks of what earns them (a finished registration, a
//! confirmed purchase; see [`crate::hooks`]) in the transaction of that event, and taken
//! back in the transaction of a refund. A reward is a row keyed by (referral, role,
//! trigger) written with `ON CONFLICT DO NOTHING` before anything is posted, so a replayed
//! webhook, a retried purchase or two registrations at once pay it once.

use crate::cache::memoized_in_tx;
use crate::hooks::Happening;
use crate::ledger::{accrue_in, reverse_accrual_in, Cause, Lifetime, Movement};
use crate::members::{lock_member, member_in_tx, Member, MemberSearch};
use crate::programs::default_currency_in;
use crate::purchases::Purchase;
use crate::{outbox, Store, StoreError, Tx};
use accrue_core::outbox::EventType;
use accrue_core::referral::{
    self, match_click, reward_points, suspicions, within_cap, Click, CodeRule, Platform, ReferralSettings, RewardRule,
    Role, Suspicion, Traces, Trigger,
};
use accrue_core::Millis;
use serde::Serialize;
use sqlx::Row;
use std::sync::Arc;

const DAY: i64 = 24 * 3600 * 1000;

/// Whether a referral pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralState {
    Approved,
    /// Waits for an operator: its rewards are held.
    Review,
    /// Refused by an operator: its held rewards are void.
    Rejected,
}

impl ReferralState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralState::Approved => "approved",
            ReferralState::Review => "review",
            ReferralState::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<ReferralState> {
        [ReferralState::Approved, ReferralState::Review, ReferralState::Rejected]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Who invited whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referral {
    pub id: i64,
    pub inviter_id: i64,
    pub invitee_id: i64,
    pub code: String,
    pub banner_id: Option<String>,
    pub state: ReferralState,
    pub suspicions: Vec<Suspicion>,
    pub created_at: Millis,
    pub decided_at: Option<Millis>,
}

/// A click on an invite link.
#[derive(Debug, Clone)]
pub struct NewClick {
    pub inviter_id: i64,
    pub code: String,
    pub banner_id: Option<String>,
    pub platform: Platform,
    pub ip: String,
    pub user_agent: String,
}

/// A kept click on an invite link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedClick {
    pub id: i64,
    pub inviter_id: i64,
    pub code: String,
    pub banner_id: Option<String>,
    pub platform: String,
    pub ip: String,
    pub user_agent: String,
    pub created_at: Millis,
    /// When a first open was matched to it.
    pub matched_at: Option<Millis>,
}

/// The click a first open was matched to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedClick {
    pub click_id: i64,
    pub code: String,
    pub banner_id: Option<String>,
}

/// What came with an invitee's registration.
#[derive(Debug, Clone, Default)]
pub struct Invitation {
    pub code: String,
    pub banner_id: Option<String>,
    /// The app's install id, device id or the like.
    pub device: Option<String>,
    pub ip: Option<String>,
}

/// What attributing an invitee did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// A new referral: approved, or waiting for review.
    Attributed(Referral),
    /// The invitee was referred before (by this or another inviter): nothing changed.
    AlreadyReferred(Referral),
    /// The code is the invitee's own.
    OwnCode,
}

/// A member's referral figures; amounts in minor units of the program's default currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Points earned by inviting, less what refunds took back.
    pub bonus: i64,
    /// Approved referrals.
    pub invited: i64,
    /// Referrals that brought a reward.
    pub rewarded: i64,
    /// Referrals waiting for review.
    pub pending: i64,
}

const REFERRAL_COLUMNS: &str = "id, inviter_id, invitee_id, code, banner_id, state, suspicions, created_at, decided_at";

fn referral_from(row: &sqlx::any::AnyRow) -> Result<Referral, StoreError> {
    let state: String = row.try_get(5)?;
    Ok(Referral {
        id: row.try_get(0)?,
        inviter_id: row.try_get(1)?,
        invitee_id: row.try_get(2)?,
        code: row.try_get(3)?,
        banner_id: row.try_get(4)?,
        state: ReferralState::parse(&state)
            .ok_or_else(|| StoreError::Internal(format!("bad referral state {state}")))?,
        suspicions: serde_json::from_str(&row.try_get::<String, _>(6)?)?,
        created_at: row.try_get(7)?,
        decided_at: row.try_get(8)?,
    })
}

async fn settings_in(tx: &mut Tx, program_id: i64) -> Result<Arc<ReferralSettings>, StoreError> {
    memoized_in_tx!(tx, referral_settings, program_id, {
        let row = sqlx::query("SELECT settings FROM referral_settings WHERE program_id = $1")
            .bind(program_id)
            .fetch_optional(tx.conn())
            .await?;
        let settings: ReferralSettings = match row {
            Some(row) => serde_json::from_str(&row.try_get::<String, _>(0)?)?,
            None => ReferralSettings::default(),
        };
        Ok::<_, StoreError>(Arc::new(settings))
    })
}

/// Whether the program's referrals reward anything on a confirmed purchase.
pub(crate) async fn rewards_purchases(tx: &mut Tx, program_id: i64) -> Result<bool, StoreError> {
    let settings = settings_in(tx, program_id).await?;
    Ok(settings.rewards.iter().any(|r| r.on == Trigger::FirstPurchase))
}

async fn referral_of(tx: &mut Tx, program_id: i64, invitee_id: i64) -> Result<Option<Referral>, StoreError> {
    let sql = format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE program_id = $1 AND invitee_id = $2");
    let row = sqlx::query(&sql)
        .bind(program_id)
        .bind(invitee_id)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(referral_from).transpose()
}

async fn referral_by_id(tx: &mut Tx, program_id: i64, id: i64) -> Result<Referral, StoreError> {
    let sql = format!(
        "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE program_id = $1 AND id = $2{}",
        tx.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(program_id)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    referral_from(&row.ok_or(StoreError::NotFound("referral"))?)
}

/// Phone, e-mail and the devices and addresses a member was seen with.
async fn traces_of(tx: &mut Tx, program_id: i64, member: &Member) -> Result<Traces, StoreError> {
    let rows = sqlx::query("SELECT kind, value FROM member_traces WHERE program_id = $1 AND member_id = $2")
        .bind(program_id)
        .bind(member.id)
        .fetch_all(tx.conn())
        .await?;
    let mut traces = Traces {
        phone: member.phone.clone(),
        email: member.email.clone(),
        ..Traces::default()
    };
    for row in rows {
        let (kind, value): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        match kind.as_str() {
            "device" => traces.devices.push(value),
            "email" => traces.email = traces.email.or(Some(value)),
            _ => traces.ips.push(value),
        }
    }
    Ok(traces)
}

pub(crate) async fn record_traces_in(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    seen: &[(&'static str, &str)],
) -> Result<(), StoreError> {
    for (kind, value) in seen.iter().filter(|(_, v)| !v.is_empty()) {
        sqlx::query(
            "INSERT INTO member_traces (program_id, member_id, kind, value, seen_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (member_id, kind, value) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(program_id)
        .bind(member_id)
        .bind(*kind)
        .bind(*value)
        .bind(tx.now)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

async fn announce(
    tx: &mut Tx,
    program_id: i64,
    event: EventType,
    r: &Referral,
    extra: serde_json::Value,
) -> Result<(), StoreError> {
    let mut data = serde_json::json!({
        "referral_id": r.id,
        "inviter_id": r.inviter_id,
        "invitee_id": r.invitee_id,
        "code": r.code,
        "banner_id": r.banner_id,
        "state": r.state,
        "suspicions": r.suspicions,
    });
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    outbox::emit(tx, program_id, event, data, None).await
}

/// Runs the referral program's part of what happened, in its transaction (see
/// [`crate::hooks`]).
pub(crate) async fn on_happening(tx: &mut Tx, program_id: i64, what: &Happening<'_>) -> Result<(), StoreError> {
    match what {
        Happening::RegistrationFinished { member_id } => {
            earn(tx, program_id, *member_id, Trigger::Registration, None).await
        }
        Happening::PurchaseConfirmed { purchase } => match purchase.member_id {
            Some(member_id) => earn(tx, program_id, member_id, Trigger::FirstPurchase, Some(purchase)).await,
            None => Ok(()),
        },
        Happening::PurchaseRefunded { purchase, .. } => take_back(tx, program_id, purchase).await,
    }
}

/// A purchase's total after discounts and what its refunds returned so far.
fn purchase_amounts(p: &Purchase) -> (i64, i64) {
    let total = p.cheque.as_ref().map_or(0, |c| c.calculation.total_amount);
    let refunded = p.refunded_lines.iter().flat_map(|r| &r.lines).map(|l| l.amount).sum();
    (total, refunded)
}

/// Pays (or holds) the rewards the invitee `member_id`'s referral earns by `trigger`.
async fn earn(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    trigger: Trigger,
    purchase: Option<&Purchase>,
) -> Result<(), StoreError> {
    let settings = settings_in(tx, program_id).await?;
    let rules: Vec<&RewardRule> = settings.rewards.iter().filter(|r| r.on == trigger).collect();
    if rules.is_empty() {
        return Ok(());
    }
    let Some(referral) = referral_of(tx, program_id, member_id).await? else {
        return Ok(());
    };
    if referral.state == ReferralState::Rejected {
        return Ok(());
    }
    let currency = match purchase {
        Some(p) => p.currency_id,
        None => default_currency_in(tx, program_id).await?.id,
    };
    let scale = crate::programs::currency_in(tx, program_id, currency).await?.scale;
    let total = purchase.map_or(0, |p| purchase_amounts(p).0);
    for rule in rules {
        if purchase.is_some() && !rule.purchase_qualifies(total, scale) {
            continue;
        }
        for role in [Role::Inviter, Role::Invitee] {
            let Some(reward) = rule.reward(role) else { continue };
            let amount = reward_points(reward, total, scale).map_err(|e| StoreError::Invalid(e.to_string()))?;
            if amount > 0 {
                let earned = Earned {
                    referral: &referral,
                    role,
                    rule,
                    currency,
                    amount,
                    purchase_key: purchase.map(|p| p.purchase_key.as_str()),
                };
                settle_reward(tx, program_id, earned).await?;
            }
        }
    }
    Ok(())
}

/// A reward a referral earned, before it is settled.
struct Earned<'a> {
    referral: &'a Referral,
    role: Role,
    rule: &'a RewardRule,
    currency: i64,
    amount: i64,
    purchase_key: Option<&'a str>,
}

impl Earned<'_> {
    fn member_id(&self) -> i64 {
        match self.role {
            Role::Inviter => self.referral.inviter_id,
            Role::Invitee => self.referral.invitee_id,
        }
    }
}

/// The inviter's rewards of `trigger` within the last `days`.
async fn given_lately(tx: &mut Tx, member_id: i64, trigger: Trigger, days: u32) -> Result<u32, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM referral_rewards WHERE member_id = $1 AND role = 'inviter' AND earned_on = $2 \
         AND state IN ('paid', 'held') AND created_at >= $3",
    )
    .bind(member_id)
    .bind(trigger.as_str())
    .bind(tx.now - i64::from(days) * DAY)
    .fetch_one(tx.conn())
    .await?;
    Ok(u32::try_from(row.try_get::<i64, _>(0)?).unwrap_or(u32::MAX))
}

/// Whether the reward fits the inviter's cap (invitees have none).
async fn fits_cap(tx: &mut Tx, e: &Earned<'_>) -> Result<bool, StoreError> {
    match (e.role, e.rule.inviter_cap) {
        (Role::Inviter, Some(cap)) => Ok(within_cap(
            Some(cap),
            given_lately(tx, e.member_id(), e.rule.on, cap.days).await?,
        )),
        _ => Ok(true),
    }
}

/// Records a reward once, and pays it unless the referral waits for review, the cap is
/// reached or the member cannot receive points.
async fn settle_reward(tx: &mut Tx, program_id: i64, e: Earned<'_>) -> Result<(), StoreError> {
    let state = if e.referral.state == ReferralState::Review {
        "held"
    } else if !fits_cap(tx, &e).await? {
        "capped"
    } else {
        "paid"
    };
    let expires_at = e.rule.lifetime_days.map(|d| tx.now + i64::from(d) * DAY);
    let inserted = sqlx::query(
        "INSERT INTO referral_rewards (program_id, referral_id, member_id, role, earned_on, state, purchase_key, \
         currency_id, amount, expires_at, taken_back, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11) \
         ON CONFLICT (referral_id, role, earned_on) DO NOTHING RETURNING id",
    )
    .bind(program_id)
    .bind(e.referral.id)
    .bind(e.member_id())
    .bind(e.role.as_str())
    .bind(e.rule.on.as_str())
    .bind(state)
    .bind(e.purchase_key)
    .bind(e.currency)
    .bind(e.amount)
    .bind(expires_at)
    .bind(tx.now)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = inserted else {
        return Ok(());
    };
    if state == "paid" {
        let reward = Reward {
            id: row.try_get(0)?,
            member_id: e.member_id(),
            role: e.role,
            trigger: e.rule.on,
            currency: e.currency,
            amount: e.amount,
            expires_at,
        };
        pay(tx, program_id, e.referral, &reward).await?;
    }
    Ok(())
}

/// A recorded reward.
struct Reward {
    id: i64,
    member_id: i64,
    role: Role,
    trigger: Trigger,
    currency: i64,
    amount: i64,
    expires_at: Option<Millis>,
}

/// Posts a recorded reward to its member; one who can no longer receive points (blocked,
/// archived) gets nothing and the reward is void.
async fn pay(tx: &mut Tx, program_id: i64, referral: &Referral, r: &Reward) -> Result<(), StoreError> {
    if !lock_member(tx, program_id, r.member_id).await?.may_transact() {
        return set_reward(tx, r.id, "voided", None).await;
    }
    let key = format!("referral:{}:{}:{}", referral.id, r.role.as_str(), r.trigger.as_str());
    let m = Movement {
        member_id: r.member_id,
        currency_id: r.currency,
        amount: r.amount,
        card: None,
        description: format!("referral reward ({}, {})", r.role.as_str(), r.trigger.as_str()),
        cause: Cause::operation(&key),
    };
    let life = Lifetime {
        activates_at: None,
        expires_at: r.expires_at,
    };
    let receipt = accrue_in(tx, program_id, m, life).await?;
    set_reward(tx, r.id, "paid", Some(receipt.posting_id)).await?;
    let extra = serde_json::json!({
        "member_id": r.member_id, "role": r.role.as_str(), "trigger": r.trigger.as_str(),
        "amount": r.amount, "posting_id": receipt.posting_id,
    });
    announce(tx, program_id, EventType::ReferralRewarded, referral, extra).await
}

async fn set_reward(tx: &mut Tx, id: i64, state: &str, posting: Option<i64>) -> Result<(), StoreError> {
    sqlx::query("UPDATE referral_rewards SET state = $1, posting_id = COALESCE($2, posting_id) WHERE id = $3")
        .bind(state)
        .bind(posting)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Takes back, from the rewards a refunded purchase paid, the share of the purchase
/// refunded so far (never more than the member still has; see
/// [`crate::ledger::reverse_accrual_in`]).
async fn take_back(tx: &mut Tx, program_id: i64, purchase: &Purchase) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT w.id, w.member_id, w.currency_id, w.amount, w.taken_back, w.posting_id, w.referral_id \
         FROM referral_rewards w WHERE w.program_id = $1 AND w.purchase_key = $2 AND w.state = 'paid'",
    )
    .bind(program_id)
    .bind(&purchase.purchase_key)
    .fetch_all(tx.conn())
    .await?;
    let (total, refunded) = purchase_amounts(purchase);
    for row in rows {
        let (id, member_id, currency_id): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let (amount, taken, posting): (i64, i64, i64) = (row.try_get(3)?, row.try_get(4)?, row.try_get(5)?);
        let due = referral::reversal_due(amount, total, refunded) - taken;
        if due <= 0 || !lock_member(tx, program_id, member_id).await?.may_transact() {
            continue;
        }
        let m = Movement {
            member_id,
            currency_id,
            amount: due,
            card: None,
            description: format!(
                "referral reward taken back: purchase {} refunded",
                purchase.purchase_key
            ),
            cause: Cause::purchase(&purchase.purchase_key, "referral-reversal"),
        };
        let (taken_now, reversal) = reverse_accrual_in(tx, program_id, &m, posting).await?;
        sqlx::query("UPDATE referral_rewards SET taken_back = taken_back + $1 WHERE id = $2")
            .bind(taken_now)
            .bind(id)
            .execute(tx.conn())
            .await?;
        let referral = referral_by_id(tx, program_id, row.try_get(6)?).await?;
        let extra = serde_json::json!({"member_id": member_id, "amount": taken_now, "posting_id": reversal});
        announce(tx, program_id, EventType::ReferralReversed, &referral, extra).await?;
    }
    Ok(())
}

/// Attributes `invitee_id` to `inviter` in `tx` (see [`Store::attribute_referral`]).
pub(crate) async fn attribute_in(
    tx: &mut Tx,
    program_id: i64,
    invitee_id: i64,
    inviter: &Member,
    invitation: &Invitation,
) -> Result<Attribution, StoreError> {
    // The invitee's lock makes concurrent registrations with one code meet here.
    lock_member(tx, program_id, invitee_id).await?;
    if let Some(existing) = referral_of(tx, program_id, invitee_id).await? {
        return Ok(Attribution::AlreadyReferred(existing));
    }
    if inviter.id == invitee_id {
        return Ok(Attribution::OwnCode);
    }
    let seen = [
        ("device", invitation.device.as_deref().unwrap_or_default()),
        ("ip", invitation.ip.as_deref().unwrap_or_default()),
    ];
    record_traces_in(tx, program_id, invitee_id, &seen).await?;
    let invitee = member_in_tx(tx, program_id, invitee_id).await?;
    let settings = settings_in(tx, program_id).await?;
    let inviter_traces = traces_of(tx, program_id, inviter).await?;
    let invitee_traces = traces_of(tx, program_id, &invitee).await?;
    let recent = match settings.fraud.velocity {
        Some(v) => {
            let since = tx.now - i64::from(v.hours) * 3600 * 1000;
            let row = sqlx::query("SELECT COUNT(*) FROM referrals WHERE inviter_id = $1 AND created_at >= $2")
                .bind(inviter.id)
                .bind(since)
                .fetch_one(tx.conn())
                .await?;
            u32::try_from(row.try_get::<i64, _>(0)?).unwrap_or(u32::MAX)
        }
        None => 0,
    };
    let found = suspicions(&inviter_traces, &invitee_traces, recent, &settings.fraud);
    let state = if found.is_empty() {
        ReferralState::Approved
    } else {
        ReferralState::Review
    };
    let sql = format!(
        "INSERT INTO referrals (program_id, inviter_id, invitee_id, code, banner_id, state, suspicions, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {REFERRAL_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(program_id)
        .bind(inviter.id)
        .bind(invitee_id)
        .bind(invitation.code.trim())
        .bind(invitation.banner_id.as_deref())
        .bind(state.as_str())
        .bind(serde_json::to_string(&found)?)
        .bind(tx.now)
        .fetch_one(tx.conn())
        .await?;
    let referral = referral_from(&row)?;
    let event = match state {
        ReferralState::Approved => EventType::ReferralAttributed,
        _ => EventType::ReferralFlagged,
    };
    announce(tx, program_id, event, &referral, serde_json::json!({})).await?;
    // An invitee whose registration already finished earns its reward now.
    if invitee.state.may_transact() {
        earn(tx, program_id, invitee_id, Trigger::Registration, None).await?;
    }
    Ok(Attribution::Attributed(referral))
}

/// Approves (paying the held rewards, within the inviter's cap) or rejects (voiding them)
/// a referral in review.
async fn decide_in(tx: &mut Tx, program_id: i64, id: i64, approve: bool) -> Result<Referral, StoreError> {
    let referral = referral_by_id(tx, program_id, id).await?;
    if referral.state != ReferralState::Review {
        return Err(StoreError::Conflict(format!(
            "referral {id} is {}, not in review",
            referral.state.as_str()
        )));
    }
    let state = if approve {
        ReferralState::Approved
    } else {
        ReferralState::Rejected
    };
    sqlx::query("UPDATE referrals SET state = $1, decided_at = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(tx.now)
        .bind(id)
        .execute(tx.conn())
        .await?;
    let referral = Referral {
        state,
        decided_at: Some(tx.now),
        ..referral
    };
    let held = sqlx::query(
        "SELECT id, member_id, role, earned_on, currency_id, amount, expires_at FROM referral_rewards \
         WHERE referral_id = $1 AND state = 'held' ORDER BY id",
    )
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    let settings = settings_in(tx, program_id).await?;
    for row in held {
        let (role, trigger): (String, String) = (row.try_get(2)?, row.try_get(3)?);
        let bad = || StoreError::Internal(format!("bad reward {role} {trigger}"));
        let (role, trigger) = (
            Role::parse(&role).ok_or_else(bad)?,
            Trigger::parse(&trigger).ok_or_else(bad)?,
        );
        let reward = Reward {
            id: row.try_get(0)?,
            member_id: row.try_get(1)?,
            role,
            trigger,
            currency: row.try_get(4)?,
            amount: row.try_get(5)?,
            expires_at: row.try_get(6)?,
        };
        let cap = settings
            .rewards
            .iter()
            .find(|r| r.on == trigger)
            .and_then(|r| r.inviter_cap);
        let over_cap = match (role, cap) {
            (Role::Inviter, Some(cap)) => !within_cap(
                Some(cap),
                given_lately(tx, reward.member_id, trigger, cap.days)
                    .await?
                    .saturating_sub(1),
            ),
            _ => false,
        };
        match (approve, over_cap) {
            (true, false) => pay(tx, program_id, &referral, &reward).await?,
            (true, true) => set_reward(tx, reward.id, "capped", None).await?,
            (false, _) => set_reward(tx, reward.id, "voided", None).await?,
        }
    }
    let event = if approve {
        EventType::ReferralAttributed
    } else {
        EventType::ReferralRejected
    };
    announce(tx, program_id, event, &referral, serde_json::json!({})).await?;
    Ok(referral)
}

/// One way a referral code may name a member.
enum Lookup {
    Id(i64),
    Search(MemberSearch),
}

impl Store {
    /// The program's referral settings (the defaults until some are saved).
    pub async fn referral_settings(&self, program_id: i64) -> Result<ReferralSettings, StoreError> {
        self.json_of(
            "SELECT settings FROM referral_settings WHERE program_id = $1",
            program_id,
        )
        .await
    }

    pub async fn set_referral_settings(&self, program_id: i64, settings: ReferralSettings) -> Result<(), StoreError> {
        settings.validate().map_err(StoreError::Invalid)?;
        let sql = "INSERT INTO referral_settings (program_id, settings, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (program_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at";
        self.save_json(sql, program_id, serde_json::to_string(&settings)?).await
    }

    /// The member whose referral code `code` is: the kind the program shares is tried
    /// first, then the others (a member id, an external id of the shared source, the
    /// generated code).
    pub async fn referral_inviter(&self, program_id: i64, code: &str, rule: &CodeRule) -> Result<Member, StoreError> {
        let code = code.trim();
        if code.is_empty() || code.len() > 100 {
            return Err(StoreError::NotFound("referral code"));
        }
        let by_id = code.parse::<i64>().ok().map(Lookup::Id);
        let generated = Some(Lookup::Search(MemberSearch::ReferralCode(code.to_string())));
        let order = match rule {
            CodeRule::MemberId => [by_id, generated, None],
            CodeRule::Generated => [generated, by_id, None],
            CodeRule::ExternalId { source } => {
                let id = code.to_string();
                let external = MemberSearch::ExternalId {
                    source: source.clone(),
                    id,
                };
                [Some(Lookup::Search(external)), by_id, generated]
            }
        };
        for lookup in order.into_iter().flatten() {
            let found = match lookup {
                Lookup::Id(id) => self.member(program_id, id).await,
                Lookup::Search(search) => self.find_member(program_id, search).await,
            };
            match found {
                Err(StoreError::NotFound(_)) => continue,
                found => return found,
            }
        }
        Err(StoreError::NotFound("referral code"))
    }

    /// Keeps a click on an invite link; returns its id.
    pub async fn record_referral_click(&self, program_id: i64, click: NewClick) -> Result<i64, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(
                    "INSERT INTO referral_clicks (program_id, inviter_id, code, banner_id, platform, ip, user_agent, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(program_id)
                .bind(click.inviter_id)
                .bind(&click.code)
                .bind(click.banner_id.as_deref())
                .bind(click.platform.as_str())
                .bind(&click.ip)
                .bind(&click.user_agent)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await?;
                Ok(row.try_get(0)?)
            })
        })
        .await
    }

    /// The click a first open from `ip` on `platform` came from, if one matches within
    /// the window (see [`accrue_core::referral::match_click`]); it is matched once.
    pub async fn match_referral_click(
        &self,
        program_id: i64,
        platform: Platform,
        ip: String,
        window_minutes: u32,
    ) -> Result<Option<MatchedClick>, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let since = tx.now - i64::from(window_minutes) * 60_000;
                let rows = sqlx::query(
                    "SELECT id, platform, created_at, matched_at, code, banner_id FROM referral_clicks \
                     WHERE program_id = $1 AND ip = $2 AND created_at >= $3 ORDER BY created_at DESC, id DESC LIMIT 100",
                )
                .bind(program_id)
                .bind(&ip)
                .bind(since)
                .fetch_all(tx.conn())
                .await?;
                let mut clicks = Vec::new();
                for row in &rows {
                    let platform: String = row.try_get(1)?;
                    clicks.push(Click {
                        id: row.try_get(0)?,
                        platform: Platform::parse(&platform).unwrap_or(Platform::Web),
                        ip: ip.clone(),
                        at: row.try_get(2)?,
                        matched: row.try_get::<Option<i64>, _>(3)?.is_some(),
                    });
                }
                let Some(found) = match_click(&clicks, platform, &ip, tx.now, window_minutes) else {
                    return Ok(None);
                };
                let row = &rows[clicks.iter().position(|c| c.id == found.id).unwrap_or_default()];
                sqlx::query("UPDATE referral_clicks SET matched_at = $1 WHERE id = $2")
                    .bind(tx.now)
                    .bind(found.id)
                    .execute(tx.conn())
                    .await?;
                Ok(Some(MatchedClick {
                    click_id: found.id,
                    code: row.try_get(4)?,
                    banner_id: row.try_get(5)?,
                }))
            })
        })
        .await
    }

    /// Clicks on invite links newest first, of one inviter when given.
    pub async fn referral_clicks(
        &self,
        program_id: i64,
        inviter_id: Option<i64>,
        (offset, count): (i64, i64),
    ) -> Result<Vec<RecordedClick>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, inviter_id, code, banner_id, platform, ip, user_agent, created_at, matched_at FROM referral_clicks \
             WHERE program_id = $1 AND ($2 = 0 OR inviter_id = $2) ORDER BY id DESC LIMIT $3 OFFSET $4",
        )
        .bind(program_id)
        .bind(inviter_id.unwrap_or(0))
        .bind(count)
        .bind(offset)
        .fetch_all(self.reads())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RecordedClick {
                    id: r.try_get(0)?,
                    inviter_id: r.try_get(1)?,
                    code: r.try_get(2)?,
                    banner_id: r.try_get(3)?,
                    platform: r.try_get(4)?,
                    ip: r.try_get(5)?,
                    user_agent: r.try_get(6)?,
                    created_at: r.try_get(7)?,
                    matched_at: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Remembers the address an app install first opened from (the first one kept).
    pub async fn record_app_install(&self, program_id: i64, install_id: String, ip: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO app_installs (program_id, install_id, ip, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (program_id, install_id) DO NOTHING",
                )
                .bind(program_id)
                .bind(&install_id)
                .bind(&ip)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Remembers a device or address a member used (for the fraud rules).
    pub async fn record_member_traces(
        &self,
        program_id: i64,
        member_id: i64,
        device: Option<String>,
        ip: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let seen = [
                    ("device", device.as_deref().unwrap_or_default()),
                    ("ip", ip.as_deref().unwrap_or_default()),
                ];
                record_traces_in(tx, program_id, member_id, &seen).await
            })
        })
        .await
    }

    /// Attributes the invitee to the inviter once: a second attribution of one invitee
    /// changes nothing. Fraud rules may put the referral in review. An invitee already
    /// registered earns the registration rewards at once; otherwise finishing the
    /// registration does.
    pub async fn attribute_referral(
        &self,
        program_id: i64,
        invitee_id: i64,
        inviter: Member,
        invitation: Invitation,
    ) -> Result<Attribution, StoreError> {
        self.write(move |tx| {
            Box::pin(async move { attribute_in(tx, program_id, invitee_id, &inviter, &invitation).await })
        })
        .await
    }

    /// The member's referral, if someone invited them.
    pub async fn referral_of_invitee(&self, program_id: i64, invitee_id: i64) -> Result<Option<Referral>, StoreError> {
        let sql = format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE program_id = $1 AND invitee_id = $2");
        let row = sqlx::query(&sql)
            .bind(program_id)
            .bind(invitee_id)
            .fetch_optional(self.reads())
            .await?;
        row.as_ref().map(referral_from).transpose()
    }

    /// Referrals newest first, by state and inviter when given.
    pub async fn referrals(
        &self,
        program_id: i64,
        state: Option<ReferralState>,
        inviter_id: Option<i64>,
        (offset, count): (i64, i64),
    ) -> Result<Vec<Referral>, StoreError> {
        let sql = format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE program_id = $1 AND ($2 = '' OR state = $2) \
             AND ($3 = 0 OR inviter_id = $3) ORDER BY id DESC LIMIT $4 OFFSET $5"
        );
        let rows = sqlx::query(&sql)
            .bind(program_id)
            .bind(state.map_or("", ReferralState::as_str))
            .bind(inviter_id.unwrap_or(0))
            .bind(count)
            .bind(offset)
            .fetch_all(self.reads())
            .await?;
        rows.iter().map(referral_from).collect()
    }

    /// Approves or rejects a referral in review (see [`ReferralState`]).
    pub async fn decide_referral(&self, program_id: i64, id: i64, approve: bool) -> Result<Referral, StoreError> {
        self.write(move |tx| Box::pin(async move { decide_in(tx, program_id, id, approve).await }))
            .await
    }

    /// What the member's invitations brought (see [`Figures`]).
    pub async fn referral_figures(&self, program_id: i64, member_id: i64) -> Result<Figures, StoreError> {
        let row = sqlx::query(
            "SELECT \
             (SELECT CAST(COALESCE(SUM(amount - taken_back), 0) AS BIGINT) FROM referral_rewards \
              WHERE member_id = $2 AND role = 'inviter' AND state = 'paid'), \
             (SELECT COUNT(*) FROM referrals WHERE program_id = $1 AND inviter_id = $2 AND state = 'approved'), \
             (SELECT COUNT(DISTINCT referral_id) FROM referral_rewards \
              WHERE member_id = $2 AND role = 'inviter' AND state = 'paid' AND amount > taken_back), \
             (SELECT COUNT(*) FROM referrals WHERE program_id = $1 AND inviter_id = $2 AND state = 'review')",
        )
        .bind(program_id)
        .bind(member_id)
        .fetch_one(self.reads())
        .await?;
        Ok(Figures {
            bonus: row.try_get(0)?,
            invited: row.try_get(1)?,
            rewarded: row.try_get(2)?,
            pending: row.try_get(3)?,
        })
    }
}
