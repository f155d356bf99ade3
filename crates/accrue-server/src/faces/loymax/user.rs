//! The member's own data: `User`, `User/Balance`, `User/DetailedBalance`.

use super::auth::Member;
use super::envelope::Answer;
use super::query::{date_range, page, param, FILTERED};
use crate::format::public_base;
use crate::service::referral;
use crate::AppState;
use accrue_core::member::{mask_phone, MemberState};
use accrue_core::money::to_decimal;
use accrue_core::Millis;
use accrue_store::ledger::Balance;
use accrue_store::{CardFilter, Currency};
use axum::extract::{Path, Query, State};
use rust_decimal::prelude::ToPrimitive;
use serde_json::{json, Value};

/// Loymax amounts are JSON numbers.
pub fn amount(minor: i64, currency: &Currency) -> Value {
    json!(to_decimal(minor, currency.scale).to_f64().unwrap_or_default())
}

/// A quantity as the JSON number clients parse.
pub fn quantity(q: rust_decimal::Decimal) -> Value {
    json!(q.to_f64().unwrap_or_default())
}

/// A stable UUID-shaped id made from one of ours, where Loymax has GUIDs.
pub fn guid(id: i64) -> String {
    format!("00000000-0000-0000-0000-{:012x}", id)
}

/// A currency as Loymax describes it.
pub fn currency(c: &Currency) -> Value {
    json!({
        "id": c.id,
        "name": c.name_plural,
        "code": c.code,
        "uid": guid(c.id),
        // Clients parse it as a GUID.
        "externalId": guid(c.id),
        "description": c.description,
        "isDeleted": false,
        "nameCases": {
            "nominative": c.name_nominative,
            "genitive": c.name_genitive,
            "plural": c.name_plural,
            "abbreviation": c.abbreviation,
        },
    })
}

/// `GET User/Balance`: per currency, the balance, what is not active yet, and what was
/// accumulated and paid over all time.
pub async fn balance(State(state): State<AppState>, member: Member) -> Answer {
    let (program, id) = (member.owner.program_id, member.owner.member_id);
    let result = async {
        let currencies = state.store.currencies(program).await?;
        let balances = state.store.balances(program, id).await?;
        let totals = state.store.wallet_totals(program, id).await?;
        let rows: Vec<Value> = balances
            .iter()
            .filter_map(|b| {
                let c = currencies.iter().find(|c| c.id == b.currency_id)?;
                let (earned, spent) = earned_and_spent(&totals, c.id);
                Some(json!({
                    "currency": currency(c),
                    "balance": amount(b.balance, c),
                    "notActivated": amount(b.not_activated, c),
                    "accumulated": amount(earned, c),
                    "paid": amount(spent, c),
                }))
            })
            .collect();
        Ok::<_, accrue_store::StoreError>(rows)
    };
    match result.await {
        Ok(rows) => Answer::success(member.version, Value::Array(rows)),
        Err(e) => Answer::fail(member.version, &e.to_string()),
    }
}

/// `GET User/Referral` (Accrue's own; the document has no referral method): the code the
/// member shares, its invite link, and what inviting brought.
pub async fn referral(State(state): State<AppState>, member: Member, headers: axum::http::HeaderMap) -> Answer {
    let (program, id) = (member.owner.program_id, member.owner.member_id);
    let store = &state.store;
    let result = async {
        let me = store.member(program, id).await?;
        let (link, code) = referral::invite_link(store, program, &me, &public_base(&headers)).await?;
        let (f, currency) = referral::figures(store, program, id).await?;
        Ok::<_, accrue_store::StoreError>(json!({
            "code": code, "link": link, "invitedCount": f.invited, "rewardedCount": f.rewarded,
            "pendingCount": f.pending, "bonus": amount(f.bonus, &currency), "currency": self::currency(&currency),
        }))
    };
    match result.await {
        Ok(data) => Answer::success(member.version, data),
        Err(e) => Answer::fail(member.version, &e.to_string()),
    }
}

/// What the member earned and spent in a currency, from [`accrue_store::Store::wallet_totals`].
pub fn earned_and_spent(totals: &[(i64, i64, i64)], currency_id: i64) -> (i64, i64) {
    totals
        .iter()
        .find(|t| t.0 == currency_id)
        .map_or((0, 0), |t| (t.1, t.2))
}

/// An amount with its currency, as `User`'s `balanceShortInfo` and cards' totals have them.
pub fn money(minor: i64, c: &Currency) -> Value {
    json!({"amount": amount(minor, c), "currency": c.code, "currencyInfo": currency(c)})
}

/// Loymax's member states as its PHP client documents them: `Normal` while the
/// registration goes on ("не зарегистрирован"), `Registered` once finished (a blocked
/// member too: blocking shows on cards and balances, and the token endpoint refuses it),
/// `Deleted` when archived.
fn state_name(state: MemberState) -> &'static str {
    match state {
        MemberState::Registering => "Normal",
        MemberState::Active | MemberState::Blocked => "Registered",
        MemberState::Archived => "Deleted",
    }
}

/// `GET User`: the member's profile, phone masked.
pub async fn profile(State(state): State<AppState>, member: Member) -> Answer {
    let (program, id) = (member.owner.program_id, member.owner.member_id);
    let result = async {
        let m = state.store.member(program, id).await?;
        let cards = state
            .store
            .cards(
                program,
                CardFilter {
                    member_id: Some(id),
                    count: 1,
                    ..Default::default()
                },
            )
            .await?;
        let currencies = state.store.currencies(program).await?;
        let balances = state.store.balances(program, id).await?;
        let totals = state.store.wallet_totals(program, id).await?;
        let main = balances
            .first()
            .and_then(|b| Some((b, currencies.iter().find(|c| c.id == b.currency_id)?)));
        let short_info = main.map(|(b, c)| {
            let (earned, spent) = earned_and_spent(&totals, c.id);
            json!({"balance": money(b.balance, c), "notActivated": money(b.not_activated, c),
                   "accumulated": money(earned, c), "paid": money(spent, c)})
        });
        // Names and the birthday are the answers to the questionnaire's questions of
        // these logical names, where it has them; the member's own fields otherwise.
        let tree = state.store.questionnaire(program).await?;
        let answers = state.store.answers(id).await?;
        let answer = |name: &str| {
            let question = tree
                .questions()
                .into_iter()
                .find(|q| q.logical_name.as_deref() == Some(name))?
                .id;
            answers.iter().find(|a| a.question_id == question)?.value.clone()
        };
        let card = cards.first().map(|c| {
            let blocked = c.state == "blocked";
            let balance = main.map_or(json!(0.0), |(b, cur)| amount(b.balance, cur));
            json!({"id": c.id, "number": c.number, "balance": balance, "isBlocked": blocked,
                   "state": if blocked { "Blocked" } else { "Activated" }})
        });
        Ok::<_, accrue_store::StoreError>(json!({
            "id": m.id,
            "personUid": guid(m.id),
            "firstName": answer("FirstName").or(m.first_name),
            "lastName": answer("LastName").or(m.last_name),
            "patronymicName": answer("PatronymicName"),
            "birthDay": answer("BirthDay"),
            "state": state_name(m.state),
            "phoneNumber": m.phone.as_deref().map(mask_phone),
            "email": m.email,
            "cardShortInfo": card,
            "balanceShortInfo": short_info,
        }))
    };
    match result.await {
        Ok(data) => Answer::success(member.version, data),
        Err(e) => Answer::fail(member.version, &e.to_string()),
    }
}

const DAY_MS: i64 = 86_400_000;

/// What activates (positive) and expires (negative) within a week, by date; and what
/// activates and expires later, in Loymax's three periods (both sums positive).
fn lifetimes(b: &Balance, c: &Currency, now: Millis) -> (Vec<Value>, Vec<Value>) {
    let changes = coming_changes(b);
    let by_time = changes
        .iter()
        .filter(|(at, _)| *at < now + 7 * DAY_MS)
        .map(|&change| change_json(change, c))
        .collect();
    let changes = changes.iter().copied();
    let periods = [
        ("FromWeekToMonth", 7, Some(30)),
        ("FromMonthToYear", 30, Some(365)),
        ("FromYear", 365, None),
    ];
    let by_period = periods
        .into_iter()
        .map(|(name, from, until): (&str, i64, Option<i64>)| {
            let within = |at: Millis| at >= now + from * DAY_MS && until.is_none_or(|u| at < now + u * DAY_MS);
            let sum = |positive: bool| -> i64 {
                changes
                    .clone()
                    .filter(|(at, n)| within(*at) && (*n > 0) == positive)
                    .map(|(_, n)| n.abs())
                    .sum()
            };
            json!({"activationAmount": amount(sum(true), c), "expirationAmount": amount(sum(false), c), "period": name})
        })
        .collect();
    (by_time, by_period)
}

/// What activates (positive) and expires (negative) from now on, soonest first.
fn coming_changes(b: &Balance) -> Vec<(Millis, i64)> {
    let activations = b.activations.iter().map(|a| (a.activates_at, a.amount));
    let mut changes: Vec<(Millis, i64)> = activations
        .chain(b.expirations.iter().map(|e| (e.expires_at, -e.amount)))
        .collect();
    changes.sort();
    changes
}

fn change_json((at, n): (Millis, i64), c: &Currency) -> Value {
    json!({"amount": amount(n, c), "date": crate::format::time(at)})
}

/// `GET User/DetailedBalance/{currencyId}/Operations`: every coming activation and
/// expiration of one currency, filtered by `filter.changeTypes` (`BonusActivation`,
/// `BonusExpiration`) and `filter.fromDate`/`filter.toDate`, soonest first unless
/// `orderByDateAscending=false`, paged by `filter.from`/`filter.count`.
pub async fn detailed_balance_operations(
    State(state): State<AppState>,
    member: Member,
    Path(currency_id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Answer {
    let v = member.version;
    let filter = match OperationsFilter::read(&pairs) {
        Ok(filter) => filter,
        Err((field, message)) => return Answer::invalid(v, field, message),
    };
    let (program, id) = (member.owner.program_id, member.owner.member_id);
    let result = async {
        let currencies = state.store.currencies(program).await?;
        let balances = state.store.balances(program, id).await?;
        let found = currencies.iter().find(|c| c.id.to_string() == currency_id);
        let Some(c) = found else {
            return Ok(None);
        };
        let changes = balances
            .iter()
            .find(|b| b.currency_id == c.id)
            .map(coming_changes)
            .unwrap_or_default();
        Ok::<_, accrue_store::StoreError>(Some(
            filter.apply(changes).map(|change| change_json(change, c)).collect(),
        ))
    };
    match result.await {
        Ok(Some(rows)) => Answer::success(v, Value::Array(rows)),
        Ok(None) => Answer::error(v, "Не найдена валюта."),
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}

struct OperationsFilter {
    ascending: bool,
    /// Activations (`Some(true)`), expirations (`Some(false)`) or both.
    activations: Option<bool>,
    from_date: Option<Millis>,
    to_date: Option<Millis>,
    skip: usize,
    take: usize,
}

impl OperationsFilter {
    fn read(pairs: &[(String, String)]) -> Result<OperationsFilter, (&'static str, String)> {
        let ascending = match param(pairs, "orderByDateAscending") {
            None => true,
            Some(t) if t.eq_ignore_ascii_case("true") => true,
            Some(t) if t.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(("orderByDateAscending", "Ожидается true или false.".into())),
        };
        let activations = match param(pairs, "filter.changeTypes") {
            None => None,
            Some(t) if t.eq_ignore_ascii_case("BonusActivation") => Some(true),
            Some(t) if t.eq_ignore_ascii_case("BonusExpiration") => Some(false),
            Some(_) => {
                return Err((
                    "filter.changeTypes",
                    "Ожидается BonusActivation или BonusExpiration.".into(),
                ))
            }
        };
        let (from_date, to_date) = date_range(pairs).map_err(|key| (key, "Неверный формат даты.".to_string()))?;
        let (skip, take) = page(pairs, FILTERED)?;
        Ok(OperationsFilter {
            ascending,
            activations,
            from_date,
            to_date,
            skip,
            take,
        })
    }

    fn apply(&self, mut changes: Vec<(Millis, i64)>) -> impl Iterator<Item = (Millis, i64)> + '_ {
        if !self.ascending {
            changes.reverse();
        }
        changes
            .into_iter()
            .filter(|(at, n)| {
                self.activations.is_none_or(|a| (*n > 0) == a)
                    && self.from_date.is_none_or(|from| *at >= from)
                    && self.to_date.is_none_or(|to| *at <= to)
            })
            .skip(self.skip)
            .take(self.take)
    }
}

/// `GET User/DetailedBalance`: per currency, what activates and expires within a week
/// by date, and later by period.
pub async fn detailed_balance(State(state): State<AppState>, member: Member) -> Answer {
    let (program, id) = (member.owner.program_id, member.owner.member_id);
    let result = async {
        let currencies = state.store.currencies(program).await?;
        let m = state.store.member(program, id).await?;
        let items: Vec<Value> = state
            .store
            .balances(program, id)
            .await?
            .iter()
            .filter_map(|b| {
                let c = currencies.iter().find(|c| c.id == b.currency_id)?;
                let (by_time, by_period) = lifetimes(b, c, state.store.now());
                Some(json!({
                    "currency": currency(c),
                    "amount": amount(b.balance, c),
                    "notActivatedAmount": amount(b.not_activated, c),
                    "accountIsBlocked": !m.state.may_transact(),
                    "lifeTimesByTime": by_time,
                    "lifeTimesByPeriod": by_period,
                }))
            })
            .collect();
        Ok::<_, accrue_store::StoreError>(json!({"items": items}))
    };
    match result.await {
        Ok(data) => Answer::success(member.version, data),
        Err(e) => Answer::fail(member.version, &e.to_string()),
    }
}

/// `GET User/Logins`: what the member can sign in with — phone (digits), e-mail, login
/// and card numbers — each as Loymax lists them (`identifierType: "Login"`). Accrue
/// links no social networks to members yet: `socialIdentifiers` is empty.
pub async fn logins(State(state): State<AppState>, member: Member) -> Answer {
    match crate::service::registration::sign_in_identifiers(&state.store, member.owner).await {
        Ok(values) => {
            let identifiers: Vec<Value> = values
                .into_iter()
                .map(|value| json!({"identifierType": "Login", "value": value}))
                .collect();
            Answer::success(
                member.version,
                json!({"identifiers": identifiers, "socialIdentifiers": []}),
            )
        }
        Err(e) => Answer::fail(member.version, &e.to_string()),
    }
}

/// `GET User/Status`: the program's status system with the member's standing in it (an
/// empty list when the program has none).
pub async fn status(State(state): State<AppState>, member: Member) -> Answer {
    let (program, id) = (member.owner.program_id, member.owner.member_id);
    match crate::service::status::member_status(&state.store, program, id).await {
        Ok(None) => Answer::success(member.version, json!([])),
        Ok(Some(s)) => {
            let c = &s.currency;
            let level = |l: &accrue_core::status::Level| {
                json!({"name": l.name, "description": l.description, "threshold": amount(l.threshold, c),
                       "preferences": l.preferences, "preferencesAdditional": null})
            };
            let standing = s.system.standing(s.value);
            let system = json!({
                "name": s.system.name,
                "logicalName": s.system.logical_name,
                "description": s.system.description,
                "statuses": s.system.levels.iter().map(level).collect::<Vec<_>>(),
                "currentStatus": standing.level.map(level),
                "currentValue": amount(s.value, c),
                // At the top there is nothing further to reach: the value itself.
                "nextStatusValue": amount(standing.next.unwrap_or(s.value), c),
            });
            Answer::success(member.version, json!([system]))
        }
        Err(e) => Answer::fail(member.version, &e.to_string()),
    }
}
