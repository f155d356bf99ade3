//! The Integra partner API's use cases: users, payments, figures, messages and the
//! member cabinet. The face opens and checks the call; this turns its arguments into
//! amounts of the partner's currency and days of the partner's time zone.

use accrue_core::integra::{deeplink, Standing};
use accrue_core::money::{parse_minor, MAX_AMOUNT};
use accrue_core::Millis;
use accrue_store::integra::{
    CabinetSession, Decision, IntegraMessage, IntegraUser, Movements, NewIntegraUser, NotificationTemplate, Partner,
    Payment, NOTIFY_PLACEHOLDERS,
};
use accrue_store::ledger::{HistoryItem, HistoryQuery};
use accrue_store::notifications::Notification;
use accrue_store::{Currency, Store, StoreError};
use chrono::{FixedOffset, NaiveDate, TimeZone};

/// How far back the average daily expense of `getUserData` looks.
const EXPENSE_DAYS: i64 = 30;
const DAY_MS: Millis = 86_400_000;

pub async fn currency(store: &Store, partner: &Partner) -> Result<Currency, StoreError> {
    let currencies = store.currencies(partner.program_id).await?;
    currencies
        .into_iter()
        .find(|c| c.id == partner.currency_id)
        .ok_or(StoreError::NotFound("currency"))
}

/// An amount the partner sent (text or number), in minor units, zero and negative
/// allowed where `signed`.
fn amount(text: &str, scale: u32, signed: bool) -> Result<i64, StoreError> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) if signed => (true, rest),
        _ => (false, text),
    };
    if digits.trim_start_matches(['0', '.']).is_empty() && !digits.is_empty() && signed {
        return Ok(0);
    }
    let minor = parse_minor(digits, scale).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(if negative { -minor } else { minor })
}

pub async fn create_user(
    store: &Store,
    partner: &Partner,
    new: NewIntegraUser,
) -> Result<(IntegraUser, String), StoreError> {
    if new.login.trim().is_empty() || new.login.chars().count() > 128 {
        return Err(StoreError::Invalid("username must have 1 to 128 characters".into()));
    }
    store.create_integra_user(partner, new).await
}

/// Opens a cabinet session (`cryptLogin`); `login` and `hash`, when given, must be the
/// user's. Returns the session's token.
pub async fn log_in(
    store: &Store,
    partner: &Partner,
    user: &IntegraUser,
    login: Option<&str>,
    notify_url: Option<String>,
) -> Result<String, StoreError> {
    if login.is_some_and(|l| l != user.login) {
        return Err(StoreError::Invalid("login is not this user's".into()));
    }
    if user.archived_at.is_some() {
        return Err(StoreError::Conflict("the user is archived".into()));
    }
    if let Some(url) = &notify_url {
        accrue_core::template::UrlTemplate::parse(url, &NOTIFY_PLACEHOLDERS)
            .map_err(|e| StoreError::Invalid(format!("paymentNotifyUrl: {e}")))?;
    }
    store.open_cabinet_session(partner, user.id, notify_url).await
}

/// Archives (or brings back) a user; the date of the last debit is the day of
/// archiving in the partner's time zone.
pub async fn archive(
    store: &Store,
    partner: &Partner,
    user: &IntegraUser,
    archived: bool,
) -> Result<(IntegraUser, Option<String>), StoreError> {
    let user = store.set_integra_archived(user.id, archived).await?;
    let last = user.archived_at.map(|at| local_date(partner, at).to_string());
    Ok((user, last))
}

/// A payment the partner made (`doPayment`); a negative `sum` refunds.
pub async fn pay(
    store: &Store,
    partner: &Partner,
    user: &IntegraUser,
    reference: String,
    sum: &str,
    bonus: Option<&str>,
) -> Result<(Payment, bool), StoreError> {
    if reference.trim().is_empty() || reference.len() > 64 {
        return Err(StoreError::Invalid("paymentHash must have 1 to 64 characters".into()));
    }
    let scale = currency(store, partner).await?.scale;
    let sum = amount(sum, scale, true)?;
    let bonus = match bonus {
        Some(text) if !text.trim().is_empty() => amount(text, scale, true)?,
        _ => 0,
    };
    if bonus < 0 || (sum < 0 && bonus > 0) {
        return Err(StoreError::Invalid(
            "paymentSumBonus is zero or more, and only with a positive paymentSum".into(),
        ));
    }
    if sum == 0 && bonus == 0 {
        return Err(StoreError::Invalid("paymentSum must not be zero".into()));
    }
    store.direct_payment(partner, user, reference, sum, bonus).await
}

/// The partner's answer to a top-up: `Some(amount)` confirms, `None` declines.
pub async fn decide(
    store: &Store,
    partner: &Partner,
    user: &IntegraUser,
    transaction_id: String,
    confirm: Option<&str>,
) -> Result<Payment, StoreError> {
    let scale = currency(store, partner).await?.scale;
    let decision = match confirm {
        Some(text) => Decision::Confirm {
            amount: amount(text, scale, false)?,
        },
        None => Decision::Decline,
    };
    store
        .decide_top_up(partner, user, transaction_id, decision, scale)
        .await
}

/// The partner's calendar day of an instant.
fn local_date(partner: &Partner, at: Millis) -> NaiveDate {
    let zone = zone(partner);
    zone.timestamp_millis_opt(at)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// The partner's time zone.
pub fn zone(partner: &Partner) -> FixedOffset {
    FixedOffset::east_opt(partner.settings.utc_offset_minutes * 60).unwrap_or(FixedOffset::east_opt(0).expect("UTC"))
}

/// When a day starts and ends, in the partner's time zone.
fn day_bounds(partner: &Partner, day: NaiveDate) -> (Millis, Millis) {
    let start = zone(partner)
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .map(|t| t.timestamp_millis())
        .unwrap_or_default();
    (start, start + DAY_MS)
}

/// `getFinSummaryByDate`: what came in and went out on a day, and the balance at its end.
pub async fn day_summary(
    store: &Store,
    partner: &Partner,
    user: &IntegraUser,
    date: &str,
) -> Result<(NaiveDate, Movements, Currency), StoreError> {
    let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .map_err(|_| StoreError::Invalid("date must be YYYY-MM-DD".into()))?;
    let (from, to) = day_bounds(partner, day);
    let moved = store
        .wallet_movements(user.member_id, partner.currency_id, from, to)
        .await?;
    Ok((day, moved, currency(store, partner).await?))
}

/// What `getUserData` tells of a user.
#[derive(Debug, Clone)]
pub struct UserData {
    pub user: IntegraUser,
    pub balance: i64,
    pub daily_budget: i64,
    pub daily_expense: i64,
    pub standing: Standing,
    /// The decimal places of the partner's currency.
    pub scale: u32,
}

pub async fn user_data(store: &Store, partner: &Partner, user: IntegraUser) -> Result<UserData, StoreError> {
    let now = store.now();
    let balances = store.balances(partner.program_id, user.member_id).await?;
    let wallet = balances.iter().find(|b| b.currency_id == partner.currency_id);
    let available = wallet.map_or(0, |b| b.available);
    let month = store
        .wallet_movements(user.member_id, partner.currency_id, now - EXPENSE_DAYS * DAY_MS, now)
        .await?;
    let standing = Standing {
        archived: user.archived_at.is_some(),
        ever_credited: store.ever_credited(user.member_id, partner.currency_id).await?,
        available,
    };
    Ok(UserData {
        balance: wallet.map_or(0, |b| b.balance),
        daily_budget: user.monthly_budget / 30,
        daily_expense: -month.outcome / EXPENSE_DAYS,
        standing,
        user,
        scale: currency(store, partner).await?.scale,
    })
}

/// `getUsersData`: a page of the partner's users (at most 1000).
pub async fn users_data(
    store: &Store,
    partner: &Partner,
    offset: i64,
    count: i64,
) -> Result<Vec<UserData>, StoreError> {
    let users = store
        .integra_users(partner.id, offset.max(0), count.clamp(1, 1000))
        .await?;
    let mut all = Vec::with_capacity(users.len());
    for user in users {
        all.push(user_data(store, partner, user).await?);
    }
    Ok(all)
}

/// Unread messages of one user, or of all the partner's users.
pub async fn messages(
    store: &Store,
    partner: &Partner,
    user: Option<&IntegraUser>,
    mark_read: bool,
) -> Result<Vec<IntegraMessage>, StoreError> {
    store.integra_messages(partner.id, user.map(|u| u.id), mark_read).await
}

pub async fn templates(store: &Store, partner: &Partner) -> Result<Vec<NotificationTemplate>, StoreError> {
    store.notification_templates(partner.program_id).await
}

/// `readMessages`: `ids` as the partner sends them, `1,2,3`.
pub async fn read_messages(store: &Store, partner: &Partner, ids: &str) -> Result<u64, StoreError> {
    let ids = ids
        .split(',')
        .filter(|id| !id.trim().is_empty())
        .map(|id| id.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| StoreError::Invalid("ids must be numbers separated by commas".into()))?;
    if ids.is_empty() || ids.len() > 10_000 {
        return Err(StoreError::Invalid("ids must name 1 to 10000 messages".into()));
    }
    store.read_integra_messages(partner.id, ids).await
}

/// `changeUrl`: the user's project address; returns the one before.
pub async fn change_url(store: &Store, user: &IntegraUser, url: String) -> Result<Option<String>, StoreError> {
    let url = url.trim().to_string();
    if url.is_empty() || url.len() > 2048 || url.chars().any(char::is_whitespace) {
        return Err(StoreError::Invalid(
            "url must be an address of at most 2048 characters".into(),
        ));
    }
    store.change_integra_url(user.id, url).await
}

pub async fn attach_counter(
    store: &Store,
    user: &IntegraUser,
    counter_id: String,
    token: String,
) -> Result<i64, StoreError> {
    let counter_ok = !counter_id.is_empty() && counter_id.len() <= 32 && counter_id.bytes().all(|b| b.is_ascii_digit());
    if !counter_ok {
        return Err(StoreError::Invalid("counterId must be the counter's number".into()));
    }
    if token.trim().is_empty() || token.len() > 512 {
        return Err(StoreError::Invalid("accessToken must have 1 to 512 characters".into()));
    }
    store.attach_counter(user.id, counter_id, token).await
}

/// What the cabinet's home page shows.
#[derive(Debug, Clone)]
pub struct Cabinet {
    pub session: CabinetSession,
    pub currency: Currency,
    pub balance: i64,
    pub history: Vec<HistoryItem>,
    pub messages: Vec<Notification>,
    pub payments: Vec<Payment>,
}

/// The cabinet of a session token, if it is live.
pub async fn cabinet(store: &Store, partner: &Partner, token: &str) -> Result<Option<Cabinet>, StoreError> {
    let Some(session) = store.cabinet_session(partner, token).await? else {
        return Ok(None);
    };
    let member_id = session.user.member_id;
    let balances = store.balances(partner.program_id, member_id).await?;
    let query = HistoryQuery {
        member_id,
        currency_id: Some(partner.currency_id),
        count: 20,
        ..Default::default()
    };
    Ok(Some(Cabinet {
        balance: balances
            .iter()
            .find(|b| b.currency_id == partner.currency_id)
            .map_or(0, |b| b.available),
        history: store.history(partner.program_id, query).await?.items,
        messages: store.notifications(member_id, 0, 50).await?,
        payments: store.integra_payments(partner.id, Some(session.user.id), 0, 5).await?,
        currency: currency(store, partner).await?,
        session,
    }))
}

/// A top-up the user asks for in the cabinet.
pub async fn top_up(store: &Store, session: &CabinetSession, sum: &str) -> Result<Payment, StoreError> {
    let scale = currency(store, &session.partner).await?.scale;
    let minor = amount(sum, scale, false)?;
    if minor > MAX_AMOUNT {
        return Err(StoreError::Invalid("amount is too large".into()));
    }
    store.start_top_up(session, minor, scale).await
}

/// Where a `{{go/…}}` link of a message leads: the partner's module page with
/// `open=go/…` when it has one, else the cabinet's own page.
pub fn link_target(partner: &Partner, cabinet_base: &str, name: &str) -> Option<String> {
    let page = deeplink(name)?;
    Some(match &partner.settings.module_url {
        Some(module) => {
            let joiner = if module.contains('?') { '&' } else { '?' };
            format!("{module}{joiner}open={page}")
        }
        None => format!("{cabinet_base}/{page}"),
    })
}

/// Today's date in the partner's zone, for pages that show it.
pub fn today(store: &Store, partner: &Partner) -> NaiveDate {
    local_date(partner, store.now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_signed_only_where_asked() {
        assert_eq!(amount("100", 2, true).ok(), Some(10_000));
        assert_eq!(amount("-12.5", 2, true).ok(), Some(-1250));
        assert_eq!(amount(" 0 ", 2, true).ok(), Some(0));
        assert!(amount("-1", 2, false).is_err());
        assert!(amount("1.234", 2, true).is_err());
        assert!(amount("abc", 2, true).is_err());
        assert!(amount("--1", 2, true).is_err());
    }
}
