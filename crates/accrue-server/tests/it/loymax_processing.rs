//! Loymax purchase processing over real HTTP on both backends: the document's Calculate,
//! Payment, Bonus and Confirm examples with "10 % off everything, at most 50 % payable with
//! bonuses", idempotency by operation id, the error codes, refunds, auto-cancel and
//! concurrent tills.

use crate::processing_support::*;
use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

on_both_backends!(
    the_documents_purchase_replays_with_its_numbers,
    operation_ids_make_calls_happen_once,
    the_flow_refuses_what_tills_must_not_do,
    refunds_give_back_and_take_back_proportionally,
    unconfirmed_purchases_are_canceled_automatically,
    concurrent_tills_never_overspend_one_member,
    devices_authenticate_and_anonymous_calculation_works,
    goods_groups_come_from_the_catalogue,
    the_cheque_sent_again_keeps_its_pricing,
);

async fn the_documents_purchase_replays_with_its_numbers(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = setup(&s, "100").await;
    let t = member_token(&s, &till).await;
    let p = "/Purchases/ef59dc2a/";

    let calc = call(
        &s,
        &t,
        &format!("{p}Calculate"),
        request("ef59dc2ada294aa285fdc1e1e05d377", json!({})),
    )
    .await;
    assert_eq!(calc["code"], "Ok");
    assert_eq!(
        (calc["availableAmount"].as_f64(), calc["availableBonusAmount"].as_f64()),
        (Some(38.25), Some(38.25))
    );
    let cheque = &calc["cheque"];
    assert_eq!(
        (cheque["totalAmount"].as_f64(), cheque["totalDiscount"].as_f64()),
        (Some(76.5), Some(23.5))
    );
    assert_eq!(cheque["totalCashback"].as_f64(), Some(0.0));
    let line = &cheque["lines"][0];
    assert_eq!(
        (
            line["amount"].as_f64(),
            line["discount"].as_f64(),
            line["position"].as_u64(),
            line["quantity"].as_f64()
        ),
        (Some(76.5), Some(23.5), Some(1), Some(1.0))
    );
    for field in [
        "transactionId",
        "deviceLogicalId",
        "operationId",
        "errorMessage",
        "cashierMessage",
        "chequeMessage",
    ] {
        assert!(calc.get(field).is_some(), "{field} in {calc}");
    }
    assert_eq!(balance(&s, member).await, 100.0, "Calculate writes nothing");

    let available = call(&s, &t, &format!("{p}Bonus/Available"), request("op-av", json!({}))).await;
    assert_eq!(available["amount"].as_f64(), Some(38.25));

    let pay = call(
        &s,
        &t,
        &format!("{p}Bonus/Payment"),
        request("op-pay", json!({"amount": 36.5, "pinCode": "string"})),
    )
    .await;
    assert_eq!(
        (
            pay["code"].as_str(),
            pay["amount"].as_f64(),
            pay["bonusAmount"].as_f64()
        ),
        (Some("Ok"), Some(36.5), Some(36.5))
    );
    assert_eq!(pay["cheque"]["lines"][0]["payAmount"].as_f64(), Some(36.5));
    assert_eq!(pay["cheque"]["totalAmount"].as_f64(), Some(76.5));
    assert_eq!(balance(&s, member).await, 63.5, "the payment is held");

    let mut bonus_cheque = cheque_85();
    bonus_cheque["lines"][0] = json!({"position": 1, "amount": 76.5, "goodsId": "0036961", "barcode": "8765653477",
        "quantity": 1, "cashback": 0, "name": "string", "price": 0, "correction": 0});
    let pays = json!({"cheque": bonus_cheque, "pays": [{"type": "Card", "amount": 40, "details": "string"},
                                                       {"type": "Loymax", "amount": 36.5, "details": "string"}]});
    let bonus = call(
        &s,
        &t,
        &format!("{p}Bonus"),
        request("ef59dc2ada294aa285fdb1e1e05d379", pays),
    )
    .await;
    assert_eq!(bonus["code"], "Ok");
    assert_eq!(bonus["cheque"]["totalAmount"].as_f64(), Some(76.5));
    // 5 % of the 40 paid with money.
    assert_eq!(bonus["cheque"]["totalCashback"].as_f64(), Some(2.0));

    let confirm = call(
        &s,
        &t,
        &format!("{p}Confirm"),
        json!({"operationId": "ef59dc2ada294aa285fdb1e1e05d380", "operationDate": "2019-04-09T07:24:26.628Z"}),
    )
    .await;
    assert_eq!(
        (confirm["code"].as_str(), &confirm["cheque"]),
        (Some("Ok"), &Value::Null)
    );
    assert_eq!(balance(&s, member).await, 65.5, "36.5 paid, 2 accrued");

    let balance_item = call(&s, &t, "/Balance", json!({})).await;
    assert_eq!(balance_item["amount"].as_f64(), Some(65.5));
    assert!(s
        .admin(Method::GET, "/admin/v1/outbox/messages?count=1", None)
        .await
        .0
        .is_success());
}

async fn operation_ids_make_calls_happen_once(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = setup(&s, "100").await;
    let t = member_token(&s, &till).await;
    let path = "/Purchases/p1/Bonus/Payment";
    let body = request("pay-1", json!({"amount": 10}));
    let first = call(&s, &t, path, body.clone()).await;
    let again = call(&s, &t, path, body).await;
    assert_eq!(first, again, "a repeat gets the same answer");
    assert_eq!(balance(&s, member).await, 90.0, "and holds once");
    let other = call(&s, &t, path, request("pay-1", json!({"amount": 11}))).await;
    assert_eq!(other["code"], "NotUniqueOperationID");
    assert_eq!(balance(&s, member).await, 90.0);

    // The same call from 8 tills at once posts once.
    let s = Arc::new(s);
    let body = request("pay-2", json!({"amount": 5}));
    let calls = (0..8).map(|_| ("/Purchases/p2/Bonus/Payment".to_string(), body.clone()));
    let answers = at_once(&s, &t, calls.collect()).await;
    assert!(answers.iter().all(|a| a["code"] == "Ok"), "{answers:?}");
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "one answer, one transactionId: {answers:?}"
    );
    assert_eq!(balance(&s, member).await, 85.0);
}

async fn the_flow_refuses_what_tills_must_not_do(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = setup(&s, "20").await;
    let t = member_token(&s, &till).await;
    let code = |v: &Value| v["code"].as_str().unwrap_or_default().to_string();
    let too_much = call(
        &s,
        &t,
        "/Purchases/a/Bonus/Payment",
        request("a1", json!({"amount": 38.26})),
    )
    .await;
    assert_eq!(code(&too_much), "LargePaymentAmount");
    let not_enough = call(
        &s,
        &t,
        "/Purchases/a/Bonus/Payment",
        request("a2", json!({"amount": 30})),
    )
    .await;
    assert_eq!(code(&not_enough), "NotEnoughMoney", "{not_enough}");
    assert!(not_enough["errorMessage"].is_string());
    let confirm_nothing = call(&s, &t, "/Purchases/none/Confirm", json!({"operationId": "a3"})).await;
    assert_eq!(code(&confirm_nothing), "PurchaseNotFound");
    assert_eq!(balance(&s, member).await, 20.0, "refusals change nothing");

    call(
        &s,
        &t,
        "/Purchases/b/Bonus/Payment",
        request("b1", json!({"amount": 10})),
    )
    .await;
    call(&s, &t, "/Purchases/b/Bonus", request("b2", json!({}))).await;
    let late_payment = call(
        &s,
        &t,
        "/Purchases/b/Bonus/Payment",
        request("b3", json!({"amount": 1})),
    )
    .await;
    assert_eq!(code(&late_payment), "IncorrectOperationOrder");
    let mut other_cheque = json!({"operationId": "b4", "cheque": cheque_85()});
    other_cheque["cheque"]["lines"][0]["amount"] = json!(80);
    let different = call(&s, &t, "/Purchases/b/Confirm", other_cheque).await;
    assert_eq!(code(&different), "DifferentCheque");
    let refund_open = call(&s, &t, "/Purchases/b/Refund", json!({"operationId": "b5"})).await;
    assert_eq!(code(&refund_open), "IncorrectOperationOrder");
    let cancel = call(&s, &t, "/Purchases/b/Cancel", json!({"operationId": "b6"})).await;
    assert_eq!(code(&cancel), "Ok");
    assert_eq!(balance(&s, member).await, 20.0, "the hold is voided");
    let confirm_canceled = call(&s, &t, "/Purchases/b/Confirm", json!({"operationId": "b7"})).await;
    assert_eq!(code(&confirm_canceled), "OperationIsCanceled");

    // One operation canceled: the payment's hold is voided, the purchase goes on.
    call(
        &s,
        &t,
        "/Purchases/c/Bonus/Payment",
        request("c1", json!({"amount": 5})),
    )
    .await;
    let undo = call(
        &s,
        &t,
        "/Purchases/c/Operations/c1/Cancel",
        json!({"operationId": "c2"}),
    )
    .await;
    assert_eq!(code(&undo), "Ok");
    assert_eq!(balance(&s, member).await, 20.0);
    let unknown = call(
        &s,
        &t,
        "/Purchases/c/Operations/zzz/Cancel",
        json!({"operationId": "c3"}),
    )
    .await;
    assert_eq!(code(&unknown), "OperationNotFound");
    call(&s, &t, "/Purchases/c/Confirm", json!({"operationId": "c4"})).await;
    let confirmed_twice = call(&s, &t, "/Purchases/c/Confirm", json!({"operationId": "c5"})).await;
    assert_eq!(code(&confirmed_twice), "OperationIsConfirmed");

    let (status, parse) = s
        .call(Method::POST, &format!("{BASE}/Purchases/d/Calculate"), Some(&t), None)
        .await;
    assert_eq!(
        (status, parse["data"][0]["code"].as_str()),
        (StatusCode::OK, Some("ParseError"))
    );
    let malformed = s
        .client
        .post(format!("{}{BASE}/Purchases/d/Calculate", s.base))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let malformed: Value = malformed.json().await.unwrap();
    assert_eq!(malformed["data"][0]["code"], "ParseError");
}

async fn refunds_give_back_and_take_back_proportionally(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = setup(&s, "100").await;
    let t = member_token(&s, &till).await;
    let two_lines = json!({"lines": [
        {"position": 1, "amount": 100, "quantity": 2, "price": 50, "discount": 0},
        {"position": 2, "amount": 100, "quantity": 1, "price": 100, "discount": 0}]});
    let body = |op: &str, extra: Value| {
        let mut b = json!({"operationId": op, "cheque": two_lines});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    // 180 after 10 %: up to 90 payable; pay 40, accrue 5 % of 140 = 7.
    call(&s, &t, "/Purchases/r/Bonus/Payment", body("r1", json!({"amount": 40}))).await;
    let bonus = call(&s, &t, "/Purchases/r/Bonus", body("r2", json!({}))).await;
    assert_eq!(bonus["cheque"]["totalCashback"].as_f64(), Some(7.0));
    call(&s, &t, "/Purchases/r/Confirm", json!({"operationId": "r3"})).await;
    assert_eq!(balance(&s, member).await, 67.0);

    let half = json!({"operationId": "r4", "cheque": {"lines": [{"position": 1, "quantity": 1}]}});
    let first = call(&s, &t, "/Purchases/r/Refund", half).await;
    assert_eq!(first["code"], "Ok", "{first}");
    assert_eq!(
        first["amount"].as_f64(),
        Some(10.0),
        "a quarter of the 40 paid with bonuses"
    );
    assert_eq!(balance(&s, member).await, 67.0 + 10.0 - 1.75);
    let rest = call(&s, &t, "/Purchases/r/Refund", json!({"operationId": "r5"})).await;
    assert_eq!(rest["code"], "Ok", "{rest}");
    assert_eq!(
        balance(&s, member).await,
        100.0,
        "everything refunded: back to before the purchase"
    );
    let beyond = call(
        &s,
        &t,
        "/Purchases/r/Refund",
        json!({"operationId": "r6", "cheque": {"lines": [{"position": 1, "quantity": 1}]}}),
    )
    .await;
    assert_eq!(beyond["code"], "BusinessError", "{beyond}");
    assert_eq!(balance(&s, member).await, 100.0);
}

async fn unconfirmed_purchases_are_canceled_automatically(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    let (member, till) = setup(&s, "100").await;
    let settings = json!({"auto_cancel_minutes": 30});
    let (status, _) = s
        .admin(Method::PUT, "/admin/v1/processing/settings", Some(settings))
        .await;
    assert_eq!(status, StatusCode::OK);
    let t = member_token(&s, &till).await;
    call(
        &s,
        &t,
        "/Purchases/late/Bonus/Payment",
        request("l1", json!({"amount": 30})),
    )
    .await;
    assert_eq!(balance(&s, member).await, 70.0);
    assert_eq!(s.store.cancel_due_purchases(10).await.unwrap().done, 0, "not yet");
    clock.fetch_add(31 * 60 * 1000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(s.store.cancel_due_purchases(10).await.unwrap().done, 1);
    assert_eq!(balance(&s, member).await, 100.0);
    let t = member_token(&s, &till).await;
    let confirm = call(&s, &t, "/Purchases/late/Confirm", json!({"operationId": "l2"})).await;
    assert_eq!(confirm["code"], "OperationIsCanceled");
}

async fn concurrent_tills_never_overspend_one_member(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = setup(&s, "50").await;
    let t = member_token(&s, &till).await;
    // 16 tills each pay 10 of a 50 balance on their own purchase.
    let s = Arc::new(s);
    let calls = (0..16).map(|i| {
        let body = request(&format!("hot-{i}"), json!({"amount": 10}));
        (format!("/Purchases/hot-{i}/Bonus/Payment"), body)
    });
    let answers = at_once(&s, &t, calls.collect()).await;
    let ok = answers.iter().filter(|a| a["code"] == "Ok").count();
    let refused = answers.iter().filter(|a| a["code"] == "NotEnoughMoney").count();
    assert_eq!((ok, refused), (5, 11), "{answers:?}");
    assert_eq!(balance(&s, member).await, 0.0);
}

async fn devices_authenticate_and_anonymous_calculation_works(db: TestDb) {
    let s = TestServer::start(db).await;
    let (_, till) = setup(&s, "10").await;
    let wrong = Till {
        client_id: till.client_id.clone(),
        secret: "nope".into(),
    };
    let (status, body) = token(&s, &wrong, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client"))
    );
    let (status, body) = token(&s, &till, Some("9999999")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("CardNotFound"))
    );
    let (status, anonymous) = token(&s, &till, None).await;
    assert_eq!(status, StatusCode::OK);
    let anonymous = anonymous["access_token"].as_str().unwrap();
    let calc = call(&s, anonymous, "/Purchases/x/Calculate", request("x1", json!({}))).await;
    assert_eq!(
        calc["cheque"]["totalAmount"].as_f64(),
        Some(76.5),
        "discounts apply without a member"
    );
    let pay = call(
        &s,
        anonymous,
        "/Purchases/x/Bonus/Payment",
        request("x2", json!({"amount": 1})),
    )
    .await;
    assert_eq!(pay["code"], "CardNotFound");

    // Form bodies as some shops send them.
    let form = [
        ("operationId", "x3"),
        ("cheque.lines[0].amount", "85"),
        ("cheque.lines[0].discount", "15"),
        ("cheque.lines[0].price", "100"),
    ];
    let response = s
        .client
        .post(format!("{}{BASE}/Purchases/x/Calculate", s.base))
        .bearer_auth(anonymous)
        .form(&form)
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["data"][0]["cheque"]["totalAmount"].as_f64(),
        Some(76.5),
        "{answer}"
    );

    let (status, _) = s
        .call(
            Method::POST,
            &format!("{BASE}/Purchases/x/Calculate"),
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, devices) = s.admin(Method::GET, "/admin/v1/devices", None).await;
    let id = devices["items"][0]["id"].as_i64().unwrap();
    assert!(
        devices["items"][0].get("client_secret").is_none(),
        "the secret is shown once"
    );
    s.admin(Method::POST, &format!("/admin/v1/devices/{id}/disable"), None)
        .await;
    let (status, _) = s
        .call(
            Method::POST,
            &format!("{BASE}/Purchases/x/Calculate"),
            Some(anonymous),
            Some(request("x4", json!({}))),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a disabled device's tokens stop working"
    );
}

async fn goods_groups_come_from_the_catalogue(db: TestDb) {
    let s = TestServer::start(db).await;
    let goods = json!({"goods": [{"goods_id": "milk", "barcode": null, "name": "Milk", "groups": ["dairy"]},
                                 {"goods_id": "bread", "barcode": null, "name": "Bread", "groups": ["bakery"]}]});
    let (status, imported) = s.admin(Method::POST, "/admin/v1/goods/import", Some(goods)).await;
    assert_eq!((status, &imported["imported"]), (StatusCode::OK, &json!(2)));
    let offer = json!({"id": "dairy", "name": "dairy 20 %", "conditions": [{"type": "goods_groups", "groups": ["dairy"]}],
                       "effects": [{"type": "discount_percent", "percent": 20}]});
    let line = |position: u32, goods: &str| json!({"position": position, "goods_id": goods, "barcode": null, "quantity": "1", "price": 1000, "amount": 1000, "discount": 0});
    let body = json!({"cheque": {"lines": [line(1, "milk"), line(2, "bread"), line(3, "unknown")], "coupons": []},
                      "offers": [offer]});
    let (status, priced) = s.admin(Method::POST, "/admin/v1/offers/simulate", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{priced}");
    let amounts: Vec<i64> = priced["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![800, 1000, 1000], "only the dairy line is discounted");
}

/// Payment and Bonus that send the cheque Calculate was sent keep Calculate's pricing,
/// even though the offers changed meanwhile; a changed cheque is priced afresh.
async fn the_cheque_sent_again_keeps_its_pricing(db: TestDb) {
    let s = TestServer::start(db).await;
    let (_, till) = setup(&s, "100").await;
    let t = member_token(&s, &till).await;
    let p = "/Purchases/kept/";
    let total = |answer: &Value| answer["cheque"]["totalAmount"].as_f64();
    let calc = call(&s, &t, &format!("{p}Calculate"), request("kept-0", json!({}))).await;
    assert_eq!(total(&calc), Some(76.5), "{calc}");

    let offer = json!({"name": "20 % off now", "effects": [
        {"type": "discount_percent", "percent": 20, "target": "cheque"},
        {"type": "max_bonus_payment", "percent": 50, "target": "cheque"},
        {"type": "bonus_percent", "percent": 5, "target": "cheque"}]});
    put_offer(&s, "doc", offer).await;
    let pay = call(
        &s,
        &t,
        &format!("{p}Bonus/Payment"),
        request("kept-1", json!({"amount": 10})),
    )
    .await;
    assert_eq!((pay["code"].as_str(), total(&pay)), (Some("Ok"), Some(76.5)), "{pay}");
    let bonus = call(&s, &t, &format!("{p}Bonus"), request("kept-2", json!({}))).await;
    assert_eq!(
        (bonus["code"].as_str(), total(&bonus)),
        (Some("Ok"), Some(76.5)),
        "{bonus}"
    );

    let mut changed = cheque_85();
    changed["lines"][0]["discount"] = json!(0);
    changed["lines"][0]["amount"] = json!(100);
    let calc = call(&s, &t, "/Purchases/changed/Calculate", request("changed-0", json!({}))).await;
    assert_eq!(total(&calc), Some(68.0), "a new purchase has the new offer: {calc}");
    let pay = call(
        &s,
        &t,
        "/Purchases/changed/Bonus/Payment",
        request("changed-1", json!({"amount": 10, "cheque": changed})),
    )
    .await;
    assert_eq!(
        (pay["code"].as_str(), total(&pay)),
        (Some("Ok"), Some(80.0)),
        "priced afresh: {pay}"
    );
}
