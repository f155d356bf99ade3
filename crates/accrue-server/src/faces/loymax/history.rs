//! `History`: the member's operations, newest first. As documented, rows come only when
//! both `filter.toDate` and `filter.count` are given; `toDate` alone answers the count
//! without rows; anything less answers zero rows — except under v1.2, where a missing
//! `toDate` means now (the public clients never send one). v1.2 adds `historyItemType`, the
//! `$type` of each row's data, `historyVersion` and `userUid`, and calls purchases
//! `PurchaseData`. A purchase (and each refund of it) is one row with its cheque items,
//! the bonuses it withdrew and the rewards it gave.

use super::auth::Member;
use super::envelope::{Answer, Version};
use super::merchants::merchant_json;
use super::query::{date_range, param};
use super::user::{amount, currency, guid, quantity};
use crate::service::history::{totals, Sums, Totals};
use crate::AppState;
use accrue_core::ledger::PostingKind;
use accrue_core::purchase::{EntryItem, PurchaseEntry};
use accrue_store::member_history::{HistoryQuery, HistoryRow, Operation, PurchaseRecord};
use accrue_store::merchants::Merchant;
use accrue_store::Currency;
use axum::extract::{Query, State};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const MAX_COUNT: i64 = 1000;

/// The query with lowercase keys (clients vary the case of `filter.toDate`).
/// The ledger operations a `historyItemType` asks for, whether purchases, whether
/// activations (rewards that became spendable).
fn kinds_of(item_type: &str) -> Option<(Vec<PostingKind>, bool, bool)> {
    match item_type.to_ascii_lowercase().as_str() {
        "all" => Some((Operation::KINDS.to_vec(), true, true)),
        "purchase" | "purchasedata" => Some((Vec::new(), true, false)),
        "rewarddata" => Some((vec![PostingKind::Accrual], false, true)),
        "withdrawdata" => Some((
            vec![PostingKind::Withdrawal, PostingKind::HoldCapture, PostingKind::Expiry],
            false,
            false,
        )),
        _ => None,
    }
}

fn money(value: i64, c: &Currency) -> Value {
    json!({"amount": amount(value, c), "currency": c.name_plural, "currencyInfo": currency(c)})
}

/// A history row; `shop` is where a purchase was made, when members may see it.
fn row(version: Version, member_id: i64, history_row: &HistoryRow, c: &Currency, shop: Option<&Merchant>) -> Value {
    let (id, time, kind, model, description, identity, data) = match history_row {
        HistoryRow::Operation(op) => {
            let (kind, model, data) = operation_data(op, c);
            let description = json!(op.description);
            (
                guid(op.posting_id),
                op.occurred_at.unwrap_or(op.created_at),
                kind,
                model,
                description,
                json!(op.card),
                data,
            )
        }
        HistoryRow::Purchase(p) => {
            let kind = if version == Version::V1_2 {
                "PurchaseData"
            } else {
                "Purchase"
            };
            let description = if p.entry.is_refund {
                "Возврат покупки"
            } else {
                "Покупка"
            };
            let data = purchase_data(p, c);
            // Its own range of ids, apart from the postings'.
            let id = format!("00000000-0000-0000-0001-{:012x}", p.entry_id);
            (
                id,
                p.created_at,
                kind,
                "HistoryPurchaseDataModel",
                json!(description),
                Value::Null,
                data,
            )
        }
        // Said as a reward that arrived, the accrual's own words in its data.
        HistoryRow::Activation(a) => (
            format!("00000000-0000-0000-0002-{:012x}", a.lot_id),
            a.activated_at,
            "RewardData",
            "HistoryRewardDataModel",
            json!("Активация бонусов"),
            json!(a.card),
            json!({"offerExternalId": null, "rewardType": "Bonus", "description": a.description,
                   "amount": money(a.amount, c)}),
        ),
    };
    let mut row = json!({
        "id": id,
        "dateTime": crate::format::time(time),
        "type": kind,
        "userId": member_id,
        "identity": identity,
        "description": description,
        "location": null,
        "partnerId": null,
        "brandId": null,
        "brand": null,
        "data": data,
    });
    // A batch row's merchant, as the place it names.
    if let HistoryRow::Operation(Operation { place: Some(place), .. }) = history_row {
        row["location"] = json!({"id": null, "description": place, "latitude": null, "longitude": null,
                                 "city": null, "street": null, "house": null, "building": null});
    }
    // As Loymax: a purchase made at a shop is described by the shop's address.
    if let Some(location) = shop.map(|m| merchant_json(m, "")["location"].clone()) {
        row["description"] = location["description"].clone();
        row["location"] = location;
        row["partnerId"] = json!(guid(shop.map_or(0, |m| m.id)));
    }
    if version == Version::V1_2 {
        row["data"]["$type"] = json!(format!("Loymax.History.UI.Model.{model}, Loymax.History.UI.Model"));
        row["historyVersion"] = json!("V2");
        row["userUid"] = json!(guid(member_id));
    }
    row
}

/// A purchase row's data: what was bought (or refunded), the bonuses that left the
/// member (the bonus payment; on a refund, the accrual taken back) and those it got.
fn purchase_data(p: &PurchaseRecord, c: &Currency) -> Value {
    let PurchaseEntry {
        is_refund,
        items,
        amount: total,
        withdrawn,
        rewards,
        cheque_number,
    } = &p.entry;
    let items: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({"positionId": i.goods.position, "itemId": i.goods.goods_id, "description": item_description(i),
                   "count": quantity(i.quantity), "unit": null, "commonCode": null, "amount": amount(i.amount, c)})
        })
        .collect();
    let withdraws: Vec<Value> = (*withdrawn > 0)
        .then(|| {
            let (kind, text) = match is_refund {
                false => ("Bonus", "Оплата бонусами"),
                true => ("Withdraw", "Возврат начисленных бонусов"),
            };
            json!({"withdrawType": kind, "description": text, "amount": money(-withdrawn, c)})
        })
        .into_iter()
        .collect();
    let rewards: Vec<Value> = rewards
        .iter()
        .map(|r| {
            let (kind, text) = match (r.discount, is_refund) {
                (true, _) => ("Discount", "Скидка"),
                (false, true) => ("Bonus", "Возврат оплаты бонусами"),
                (false, false) => ("Bonus", "Начисление за покупку"),
            };
            json!({"offerExternalId": r.offer_id, "rewardType": kind, "description": text, "amount": money(r.amount, c)})
        })
        .collect();
    json!({
        "externalPurchaseId": p.purchase_key,
        "chequeItems": items,
        "withdraws": withdraws,
        "rewards": rewards,
        "isRefund": is_refund,
        "chequeNumber": cheque_number.as_deref().unwrap_or(&p.purchase_key),
        "amount": money(*total, c),
    })
}

/// The line's name as the till printed it, else the goods' catalogue name, else its
/// id or barcode, else the line's position.
fn item_description(item: &EntryItem) -> String {
    let goods = &item.goods;
    let known = goods
        .name
        .clone()
        .or_else(|| item.name.clone())
        .or_else(|| goods.goods_id.clone())
        .or_else(|| goods.barcode.clone());
    known.unwrap_or_else(|| format!("Позиция {}", goods.position))
}

/// A batch row's data says which of the four batch types posted it.
fn operation_data(op: &Operation, c: &Currency) -> (&'static str, &'static str, Value) {
    let money = money(op.amount, c);
    let description = op.batch.map(|b| b.default_description());
    match op.kind {
        PostingKind::Accrual => (
            "RewardData",
            "HistoryRewardDataModel",
            json!({"offerExternalId": null, "rewardType": "Bonus", "description": description, "amount": money}),
        ),
        // Paying with points (a captured hold) is `Bonus`; other write-offs are `Withdraw`.
        kind => {
            let withdraw_type = if kind == PostingKind::HoldCapture {
                "Bonus"
            } else {
                "Withdraw"
            };
            (
                "WithdrawData",
                "HistoryWithdrawDataModel",
                json!({"withdrawType": withdraw_type, "description": description, "amount": money}),
            )
        }
    }
}

pub async fn history(
    State(state): State<AppState>,
    member: Member,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Answer {
    let v = member.version;
    let (from, to) = match date_range(&pairs) {
        Ok(range) => range,
        Err(key) => return Answer::invalid(v, key, "Неверный формат даты."),
    };
    let count = match param(&pairs, "filter.count").map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if (0..=MAX_COUNT).contains(&n) => Some(n),
        Some(_) => return Answer::invalid(v, "filter.count", format!("Ожидается число от 0 до {MAX_COUNT}.")),
    };
    let offset = match param(&pairs, "filter.from").map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) if n >= 0 => n,
        Some(_) => return Answer::invalid(v, "filter.from", "Ожидается неотрицательное число."),
    };
    let card_id = match param(&pairs, "filter.cardId").map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Answer::invalid(v, "filter.cardId", "Ожидается идентификатор карты."),
    };
    let (kinds, purchases, activations) = match param(&pairs, "filter.historyItemType").map(kinds_of) {
        None => (Operation::KINDS.to_vec(), true, true),
        Some(Some(asked)) => asked,
        Some(None) => {
            return Answer::invalid(
                v,
                "filter.historyItemType",
                "Допустимо: All, Purchase, RewardData, WithdrawData.",
            )
        }
    };
    // The documented rules (v1, v1.1): no toDate → nothing; toDate alone → the count
    // only. v1.2 clients send no toDate unless the user picked one (the PHP SDK never
    // does): there it means "until now".
    let to = match (to, v) {
        (Some(to), _) => to,
        (None, Version::V1_2) => state.store.now(),
        (None, _) => return Answer::success(v, json!({"allCount": 0, "rows": []})),
    };
    let (program, member_id) = (member.owner.program_id, member.owner.member_id);
    let query = HistoryQuery {
        member_id,
        card_id,
        from,
        to: Some(to),
        kinds,
        purchases,
        activations,
        offset,
        count: count.unwrap_or(0),
    };
    let result = async {
        let (total, found) = state.store.member_history(program, &query).await?;
        let currencies = state.store.currencies(program).await?;
        let shops = shops_of(&state, program, &found).await?;
        let rows: Vec<Value> = found
            .iter()
            .filter_map(|r| {
                let c = currencies.iter().find(|c| c.id == r.currency_id())?;
                let shop = match r {
                    HistoryRow::Purchase(p) => shops.get(&p.device_id).and_then(Option::as_ref),
                    HistoryRow::Operation(_) | HistoryRow::Activation(_) => None,
                };
                Some(row(v, member_id, r, c, shop))
            })
            .collect();
        Ok::<_, accrue_store::StoreError>(json!({"allCount": total, "rows": rows}))
    };
    match result.await {
        Ok(data) => Answer::success(v, data),
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}

/// The shop members see (with an address) of each device the purchases among `rows`
/// were made at; nothing is read when there are none.
async fn shops_of(
    state: &AppState,
    program: i64,
    rows: &[HistoryRow],
) -> Result<BTreeMap<i64, Option<Merchant>>, accrue_store::StoreError> {
    let mut shops = BTreeMap::new();
    let devices: Vec<i64> = rows
        .iter()
        .filter_map(|r| match r {
            HistoryRow::Purchase(p) => Some(p.device_id),
            HistoryRow::Operation(_) | HistoryRow::Activation(_) => None,
        })
        .collect();
    if devices.is_empty() {
        return Ok(shops);
    }
    let listed = state.store.listed_merchants(program).await?;
    for device in devices {
        if let std::collections::btree_map::Entry::Vacant(slot) = shops.entry(device) {
            let merchant_id = state.store.device(program, device).await?.merchant_id;
            slot.insert(listed.iter().find(|m| m.id == merchant_id).cloned());
        }
    }
    Ok(shops)
}

/// `GET History/AggregateWithdrawRewardPurchase`: per currency, what the member bought
/// for, was written off and received, within `filter.fromDate`/`filter.toDate`;
/// `filter.historyItemType` keeps one of the three lists (`purchaseCount` stays).
pub async fn aggregate_withdraw_reward_purchase(
    State(state): State<AppState>,
    member: Member,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Answer {
    let v = member.version;
    let (from, to) = match date_range(&pairs) {
        Ok(range) => range,
        Err(key) => return Answer::invalid(v, key, "Неверный формат даты."),
    };
    let kept = match param(&pairs, "filter.historyItemType")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("all") => [true; 3],
        Some("purchase" | "purchasedata") => [true, false, false],
        Some("withdrawdata") => [false, true, false],
        Some("rewarddata") => [false, false, true],
        Some(_) => {
            return Answer::invalid(
                v,
                "filter.historyItemType",
                "Допустимо: All, Purchase, RewardData, WithdrawData.",
            )
        }
    };
    let (program, member_id) = (member.owner.program_id, member.owner.member_id);
    let result = async {
        let Totals { sums, purchase_count } = totals(&state.store, program, member_id, from, to).await?;
        let currencies = state.store.currencies(program).await?;
        let list = |keep: bool, pick: fn(&Sums) -> i64| -> Vec<Value> {
            let with_currency = sums
                .iter()
                .filter_map(|(id, s)| Some((currencies.iter().find(|c| c.id == *id)?, s)));
            with_currency
                .filter(|(_, s)| keep && pick(s) != 0)
                .map(|(c, s)| json!({"amount": money(pick(s), c)}))
                .collect()
        };
        Ok::<_, accrue_store::StoreError>(json!({
            "purchaseAmount": list(kept[0], |s| s.purchases),
            "withdraws": list(kept[1], |s| s.withdraws),
            "rewards": list(kept[2], |s| s.rewards),
            "purchaseCount": purchase_count,
        }))
    };
    match result.await {
        Ok(data) => Answer::success(v, data),
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}
