//! What confirmed purchases leave behind, over real HTTP on both backends: per-member
//! caps counted across purchases and periods (program-local time), offers chosen by the
//! member's segments, card category, attributes and first purchase, the member's history
//! with one row per purchase and refund, and random refund sequences that always bring the
//! balance back to where it was.

use crate::processing_support::*;
use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

on_both_backends!(
    caps_count_confirmed_purchases_per_local_period,
    offers_see_segments_card_category_and_first_purchase,
    history_shows_each_purchase_and_refund_as_one_row,
    history_names_goods_as_the_catalogue_did_at_confirm,
    any_refund_sequence_restores_the_balance,
);

/// Monday 2026-11-23 10:00 UTC, 13:00 in a program at UTC+3.
const MONDAY_10_UTC: i64 = 1_795_428_000_000;
const HOUR: i64 = 3_600_000;

fn cheque(amount: f64) -> Value {
    json!({"lines": [{"position": 1, "amount": amount, "quantity": 1, "price": amount, "discount": 0, "goodsId": "tea"}]})
}

fn body(operation_id: &str, cheque: Value) -> Value {
    json!({"operationId": operation_id, "cheque": cheque})
}

async fn settings(s: &TestServer, settings: Value) {
    let (status, answer) = s
        .admin(Method::PUT, "/admin/v1/processing/settings", Some(settings))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// Bonus then Confirm of a purchase of 100; the Bonus step's cheque.
async fn buy(s: &TestServer, token: &str, key: &str) -> Value {
    let bonus = call(
        s,
        token,
        &format!("/Purchases/{key}/Bonus"),
        body(&format!("{key}-b"), cheque(100.0)),
    )
    .await;
    assert_eq!(bonus["code"], "Ok", "{bonus}");
    let confirm = call(
        s,
        token,
        &format!("/Purchases/{key}/Confirm"),
        json!({"operationId": format!("{key}-c")}),
    )
    .await;
    assert_eq!(confirm["code"], "Ok", "{confirm}");
    bonus["cheque"].clone()
}

async fn total_of_calculation(s: &TestServer, token: &str, key: &str) -> f64 {
    let calc = call(
        s,
        token,
        &format!("/Purchases/{key}/Calculate"),
        body(&format!("{key}-calc"), cheque(100.0)),
    )
    .await;
    calc["cheque"]["totalAmount"].as_f64().unwrap()
}

async fn caps_count_confirmed_purchases_per_local_period(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    clock.store(MONDAY_10_UTC, Ordering::SeqCst);
    settings(&s, json!({"utc_offset_minutes": 180})).await;
    put_offer(
        &s,
        "daily-10",
        json!({"name": "10 % once a day", "effects": [{"type": "discount_percent", "percent": 10, "target": "cheque"}],
        "caps": [{"type": "applications", "period": "day", "max": 1}]}),
    )
    .await;
    put_offer(&s, "monthly-bonus", json!({"name": "10 % back, 15 a month", "effects": [{"type": "bonus_percent", "percent": 10, "target": "cheque"}],
        "caps": [{"type": "bonus", "period": "month", "max": 1500}]}))
    .await;
    let (member, till) = member_and_till(&s, "10").await;
    let t = member_token(&s, &till).await;

    // A canceled purchase uses nothing.
    let canceled = call(&s, &t, "/Purchases/c/Bonus", body("c-b", cheque(100.0))).await;
    assert_eq!(canceled["cheque"]["totalAmount"].as_f64(), Some(90.0));
    call(&s, &t, "/Purchases/c/Cancel", json!({"operationId": "c-x"})).await;

    let first = buy(&s, &t, "p1").await;
    assert_eq!(
        (first["totalAmount"].as_f64(), first["totalCashback"].as_f64()),
        (Some(90.0), Some(9.0)),
        "{first}"
    );
    assert_eq!(
        total_of_calculation(&s, &t, "p2").await,
        100.0,
        "the day's application is used"
    );
    let second = buy(&s, &t, "p2").await;
    assert_eq!(
        second["totalCashback"].as_f64(),
        Some(6.0),
        "10 % of 100 cut to the 15 − 9 left this month"
    );
    assert_eq!(balance(&s, member).await, 10.0 + 9.0 + 6.0);

    // 22:00 UTC is still Monday in UTC, but Tuesday 01:00 in the program's time.
    clock.fetch_add(12 * HOUR, Ordering::SeqCst);
    let t = member_token(&s, &till).await;
    settings(&s, json!({"utc_offset_minutes": 0})).await;
    assert_eq!(total_of_calculation(&s, &t, "p3").await, 100.0);
    settings(&s, json!({"utc_offset_minutes": 180})).await;
    assert_eq!(total_of_calculation(&s, &t, "p4").await, 90.0, "a new local day");
    let third = buy(&s, &t, "p4").await;
    assert_eq!(
        third["totalCashback"].as_f64(),
        Some(0.0),
        "the month's bonus is used up"
    );
}

async fn offers_see_segments_card_category_and_first_purchase(db: TestDb) {
    let s = TestServer::start(db).await;
    let offers = [
        (
            "vip",
            json!({"name": "VIP 20 %", "conditions": [{"type": "segment", "segments": ["vip"]}],
                       "effects": [{"type": "discount_percent", "percent": 20, "target": "cheque"}]}),
        ),
        (
            "gold",
            json!({"name": "Gold cards", "conditions": [{"type": "card_category", "categories": ["gold"]}],
                        "effects": [{"type": "cashier_message", "text": "Gold card"}]}),
        ),
        (
            "kazan",
            json!({"name": "Kazan", "conditions": [{"type": "attribute", "name": "city", "values": ["Kazan"]}],
                         "effects": [{"type": "cheque_message", "text": "Привет, Казань"}]}),
        ),
        (
            "welcome",
            json!({"name": "First purchase", "conditions": [{"type": "first_purchase"}],
                           "effects": [{"type": "bonus_fixed", "amount": 5000}]}),
        ),
    ];
    for (code, offer) in offers {
        put_offer(&s, code, offer).await;
    }
    let (member, till) = member_and_till(&s, "10").await;
    let t = member_token(&s, &till).await;
    let plain = call(&s, &t, "/Purchases/a/Calculate", body("a-1", cheque(100.0))).await;
    assert_eq!(plain["cheque"]["totalAmount"].as_f64(), Some(100.0));
    assert_eq!(
        (&plain["cashierMessage"], &plain["chequeMessage"]),
        (&Value::Null, &Value::Null)
    );

    let attributes = json!({"attributes": {"segments": ["regular", "vip"], "cardCategory": "gold", "city": "Kazan"}});
    let (status, updated) = s
        .admin(Method::PATCH, &format!("/admin/v1/members/{member}"), Some(attributes))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let known = call(&s, &t, "/Purchases/a/Calculate", body("a-2", cheque(100.0))).await;
    assert_eq!(known["cheque"]["totalAmount"].as_f64(), Some(80.0));
    assert_eq!(
        (known["cashierMessage"].as_str(), known["chequeMessage"].as_str()),
        (Some("Gold card"), Some("Привет, Казань"))
    );

    let first = buy(&s, &t, "a").await;
    assert_eq!(
        first["totalCashback"].as_f64(),
        Some(50.0),
        "the first purchase's bonus"
    );
    let second = buy(&s, &t, "b").await;
    assert_eq!(second["totalCashback"].as_f64(), Some(0.0), "only the first");

    let as_text = json!({"attributes": {"segments": "regular, vip"}});
    s.admin(Method::PATCH, &format!("/admin/v1/members/{member}"), Some(as_text))
        .await;
    let calc = call(&s, &t, "/Purchases/c/Calculate", body("c-1", cheque(100.0))).await;
    assert_eq!(
        calc["cheque"]["totalAmount"].as_f64(),
        Some(80.0),
        "segments as comma-separated text"
    );
}

/// The member's own token from the member API (password sign-in by phone).
async fn history(s: &TestServer, token: &str, version: &str, item_type: &str) -> Value {
    let path =
        format!("/{version}/History?filter.toDate=2100-01-01&filter.count=10&filter.historyItemType={item_type}");
    let (status, answer) = s.call(Method::GET, &path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["data"].clone()
}

async fn import_milk(s: &TestServer, name: &str) {
    let goods = json!({"goods": [{"goods_id": "0036961", "barcode": null, "name": name, "groups": []}]});
    let (status, body) = s.admin(Method::POST, "/admin/v1/goods/import", Some(goods)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A line the till sent without a name takes the catalogue's, as it was when the purchase
/// was confirmed: names are kept in memory, and an import is seen by the next Confirm.
async fn history_names_goods_as_the_catalogue_did_at_confirm(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = setup(&s, "100").await;
    let t = member_token(&s, &till).await;
    let mut unnamed = cheque_85();
    unnamed["lines"][0].as_object_mut().unwrap().remove("name");
    for (purchase, name) in [("n1", "Молоко 1 л"), ("n2", "Молоко 1 л"), ("n3", "Молоко 0,9 л")] {
        import_milk(&s, name).await;
        let body = |step: &str, extra: Value| {
            let mut body = request(&format!("{purchase}-{step}"), extra);
            body["cheque"] = unnamed.clone();
            body
        };
        let path = format!("/Purchases/{purchase}/Bonus/Payment");
        let paid = call(&s, &t, &path, body("pay", json!({"amount": 10}))).await;
        assert_eq!(paid["code"], "Ok", "{paid}");
        let path = format!("/Purchases/{purchase}/Confirm");
        let confirmed = call(&s, &t, &path, body("confirm", json!({}))).await;
        assert_eq!(confirmed["code"], "Ok", "{confirmed}");
    }
    let me = member_api_token(&s, member).await;
    let purchases = history(&s, &me, "publicapi/v1.2", "All").await;
    let names: Vec<&str> = purchases["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["type"] == "PurchaseData")
        .map(|row| row["data"]["chequeItems"][0]["description"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(names, ["Молоко 0,9 л", "Молоко 1 л", "Молоко 1 л"], "{purchases}");
}

async fn history_shows_each_purchase_and_refund_as_one_row(db: TestDb) {
    let s = TestServer::start(db).await;
    let goods =
        json!({"goods": [{"goods_id": "0036961", "barcode": "8765653477", "name": "Молоко 1 л", "groups": []}]});
    let (status, _) = s.admin(Method::POST, "/admin/v1/goods/import", Some(goods)).await;
    assert_eq!(status, StatusCode::OK);
    let (member, till) = setup(&s, "100").await;
    let t = member_token(&s, &till).await;
    let pay = call(
        &s,
        &t,
        "/Purchases/h1/Bonus/Payment",
        request("h-pay", json!({"amount": 36.5})),
    )
    .await;
    assert_eq!(pay["code"], "Ok", "{pay}");
    let pays = json!({"pays": [{"type": "Card", "amount": 40}, {"type": "Loymax", "amount": 36.5}]});
    call(&s, &t, "/Purchases/h1/Bonus", request("h-bonus", pays)).await;
    call(&s, &t, "/Purchases/h1/Confirm", json!({"operationId": "h-confirm"})).await;
    call(&s, &t, "/Purchases/h1/Refund", json!({"operationId": "h-refund"})).await;
    assert_eq!(balance(&s, member).await, 100.0);

    let me = member_api_token(&s, member).await;
    let all = history(&s, &me, "publicapi/v1.2", "All").await;
    assert_eq!(
        all["allCount"], 3,
        "the seed accrual, the purchase and its refund: {all}"
    );
    let rows = all["rows"].as_array().unwrap();
    let types: Vec<&str> = rows.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["PurchaseData", "PurchaseData", "RewardData"]);

    let (refund, purchase) = (&rows[0]["data"], &rows[1]["data"]);
    assert_eq!(
        purchase["$type"],
        "Loymax.History.UI.Model.HistoryPurchaseDataModel, Loymax.History.UI.Model"
    );
    assert_eq!(
        (&purchase["externalPurchaseId"], &purchase["isRefund"]),
        (&json!("h1"), &json!(false))
    );
    let item = &purchase["chequeItems"][0];
    assert_eq!(
        (
            item["description"].as_str(),
            item["count"].as_f64(),
            item["amount"].as_f64()
        ),
        (Some("Товар100"), Some(1.0), Some(76.5)),
        "the line's name as the till printed it, before the catalogue's"
    );
    assert_eq!(
        purchase["chequeNumber"], "string",
        "the cheque's number as the till sent it"
    );
    assert_eq!(purchase["amount"]["amount"].as_f64(), Some(76.5));
    let withdraw = &purchase["withdraws"][0];
    assert_eq!(
        (withdraw["withdrawType"].as_str(), withdraw["amount"]["amount"].as_f64()),
        (Some("Bonus"), Some(-36.5))
    );
    let rewards: Vec<(Option<&str>, Option<&str>, Option<f64>)> = purchase["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["offerExternalId"].as_str(),
                r["rewardType"].as_str(),
                r["amount"]["amount"].as_f64(),
            )
        })
        .collect();
    // The offer's 10 % off 85 as a discount, and its 5 % of the 40 paid with money.
    assert_eq!(
        rewards,
        [
            (Some("doc"), Some("Discount"), Some(8.5)),
            (Some("doc"), Some("Bonus"), Some(2.0))
        ]
    );
    assert_eq!(refund["isRefund"], true);
    assert_eq!(refund["chequeItems"][0]["amount"].as_f64(), Some(76.5));
    assert_eq!(
        refund["rewards"][0]["amount"]["amount"].as_f64(),
        Some(36.5),
        "the payment returned"
    );
    assert_eq!(
        refund["withdraws"][0]["amount"]["amount"].as_f64(),
        Some(-2.0),
        "the accrual taken back"
    );
    assert_ne!(rows[0]["id"], rows[1]["id"]);

    assert_eq!(history(&s, &me, "publicapi/v1.2", "Purchase").await["allCount"], 2);
    assert_eq!(
        history(&s, &me, "publicapi/v1.2", "RewardData").await["allCount"],
        1,
        "the purchase's accrual shows only inside its row"
    );
    assert_eq!(history(&s, &me, "publicapi/v1.2", "WithdrawData").await["allCount"], 0);
    let old = history(&s, &me, "api/v1.1", "All").await;
    assert_eq!(old["rows"][1]["type"], "Purchase", "v1.1 calls it Purchase");

    // Made at a shop without an address: no location. Once the shop has one, the rows
    // are described by it, as Loymax describes them.
    assert_eq!(
        (&rows[1]["location"], &rows[1]["description"]),
        (&Value::Null, &json!("Покупка"))
    );
    let address = json!({"profile": {"address": {"city": "Раменское", "city_prefix": "г.",
        "street": "Привокзальная площадь", "house": "1а", "latitude": 55.56528, "longitude": 38.227358}}});
    let (status, _) = s.admin(Method::PATCH, "/admin/v1/merchants/shop", Some(address)).await;
    assert_eq!(status, StatusCode::OK);
    let all = history(&s, &me, "publicapi/v1.2", "All").await;
    let purchase = &all["rows"][1];
    assert_eq!(purchase["description"], "г. Раменское, Привокзальная площадь, 1а");
    assert_eq!(purchase["location"]["description"], purchase["description"]);
    assert!(
        purchase["location"]["id"].is_i64() && purchase["partnerId"].is_string(),
        "{purchase}"
    );
    assert_eq!(all["rows"][2]["location"], Value::Null, "an accrual has no shop");
}

/// A small deterministic generator: the same cases on every run and backend.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Random purchases (1–3 lines, random bonus payments), each refunded in random parts by
/// quantity and by amount and then in full: the member ends where they began.
async fn any_refund_sequence_restores_the_balance(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = setup(&s, "1000").await;
    let t = member_token(&s, &till).await;
    let mut rng = Lcg(42);
    for case in 0..8 {
        let before = balance(&s, member).await;
        let lines: Vec<Value> = (1..=1 + rng.below(3))
            .map(|position| {
                let quantity = 1 + rng.below(3);
                let price = 100 + rng.below(10_000);
                let (price, amount) = (price as f64 / 100.0, (price * quantity) as f64 / 100.0);
                json!({"position": position, "quantity": quantity, "price": price, "amount": amount, "discount": 0})
            })
            .collect();
        let cheque = json!({"lines": lines});
        let key = format!("/Purchases/case-{case}");
        let op = |name: &str| format!("{case}-{name}");
        let calc = call(&s, &t, &format!("{key}/Calculate"), body(&op("calc"), cheque.clone())).await;
        let available = calc["availableAmount"]
            .as_f64()
            .unwrap_or_else(|| panic!("case {case}: {calc}"));
        let available = (available * 100.0).round() as u64;
        let paid = 1 + rng.below(available);
        let pay = json!({"operationId": op("pay"), "cheque": calc["cheque"], "amount": paid as f64 / 100.0});
        assert_eq!(call(&s, &t, &format!("{key}/Bonus/Payment"), pay).await["code"], "Ok");
        let bonus = call(
            &s,
            &t,
            &format!("{key}/Bonus"),
            body(&op("bonus"), calc["cheque"].clone()),
        )
        .await;
        call(&s, &t, &format!("{key}/Confirm"), json!({"operationId": op("confirm")})).await;
        assert_ne!(
            balance(&s, member).await,
            before,
            "case {case}: the purchase moved bonuses"
        );

        for (i, line) in bonus["cheque"]["lines"].as_array().unwrap().iter().enumerate() {
            let quantity = line["quantity"].as_f64().unwrap();
            let part = match rng.below(3) {
                0 if quantity > 1.0 => json!({"position": line["position"], "quantity": 1}),
                _ => {
                    let cents = (line["amount"].as_f64().unwrap() * 100.0).round() as u64;
                    json!({"position": line["position"], "amount": rng.below(cents) as f64 / 100.0})
                }
            };
            let partial = json!({"operationId": op(&format!("refund-{i}")), "cheque": {"lines": [part]}});
            let answer = call(&s, &t, &format!("{key}/Refund"), partial).await;
            assert_eq!(answer["code"], "Ok", "case {case}: {answer}");
        }
        let rest = call(
            &s,
            &t,
            &format!("{key}/Refund"),
            json!({"operationId": op("refund-rest")}),
        )
        .await;
        assert_eq!(rest["code"], "Ok", "case {case}: {rest}");
        let after = balance(&s, member).await;
        assert!(
            (after - before).abs() < 0.001,
            "case {case}: {before} before, {after} after"
        );
    }
}
