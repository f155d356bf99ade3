//! Loymax purchase processing (loymax-api.txt "Покупка с использованием API": Calculate,
//! Payment, Bonus, Confirm; loymax-v1.2-clients.md "Processing results" and its error
//! codes): the document's purchase with its numbers, the other methods, every refusal a
//! till meets, and the device's sign-in.

use super::{snapshot_scenarios, Call, Wire};
use crate::processing_support::{cheque_85, member_api_token, member_token, request, setup, Till, BASE};
use serde_json::{json, Value};

snapshot_scenarios!(the_documents_purchase, refunds_and_cancels, refusals, device_sign_in);

fn processing(token: &str, path: &str, body: Value) -> Call {
    Call::post(format!("{BASE}{path}")).token(token).json(body)
}

fn device_token(till: &Till, identifier: Option<&str>) -> Call {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", till.client_id.as_str()),
        ("client_secret", till.secret.as_str()),
    ];
    form.extend(identifier.map(|i| ("identifier", i)));
    Call::post("/authorizationService/token").form(&form)
}

/// The document's requests, in its order, with its numbers: "10 % off everything, at
/// most 50 % payable with bonuses", 5 % accrued on what is paid with money.
async fn the_documents_purchase(mut w: Wire) -> Wire {
    let (_, till) = setup(&w.s, "100").await;
    let token = w.record("device_token", device_token(&till, Some("2000001"))).await;
    let t = token["access_token"].as_str().expect("token").to_string();
    let p = "/Purchases/ef59dc2a";
    let calculate = request("ef59dc2ada294aa285fdbc1e1e05d377", json!({}));
    w.record("calculate", processing(&t, &format!("{p}/Calculate"), calculate))
        .await;
    let available = request("ef59dc2ada294aa285fdbc1e1e05d376", json!({}));
    let available = processing(&t, &format!("{p}/Bonus/Available"), available);
    w.record("bonus_available", available).await;
    let payment = request(
        "ef59dc2ada294aa285fdb1e1e05d378",
        json!({"amount": 36.5, "pinCode": "string"}),
    );
    w.record(
        "bonus_payment",
        processing(&t, &format!("{p}/Bonus/Payment"), payment.clone()),
    )
    .await;
    w.record(
        "bonus_payment_repeated",
        processing(&t, &format!("{p}/Bonus/Payment"), payment),
    )
    .await;
    let mut cheque = cheque_85();
    cheque["lines"][0] = json!({"position": 1, "amount": 76.5, "goodsId": "0036961", "barcode": "8765653477",
        "quantity": 1, "cashback": 0, "name": "string", "price": 0, "correction": 0});
    let pays = json!({"cheque": cheque, "pays": [{"type": "Card", "amount": 40, "details": "string"},
                                                 {"type": "Loymax", "amount": 36.5, "details": "string"}]});
    let bonus = request("ef59dc2ada294aa285fdb1e1e05d379", pays);
    w.record("bonus", processing(&t, &format!("{p}/Bonus"), bonus)).await;
    let confirm =
        json!({"operationId": "ef59dc2ada294aa285fdb1e1e05d380", "operationDate": "2019-04-09T07:24:26.628Z"});
    w.record("confirm", processing(&t, &format!("{p}/Confirm"), confirm))
        .await;
    let balance = processing(&t, "/Balance", json!({"operationId": "balance-1"}));
    w.record("balance", balance).await;
    w
}

/// Processing calls in order: `(answer name, or None to send without keeping the
/// answer, path, body)`.
async fn steps(w: &mut Wire, token: &str, steps: Vec<(Option<&str>, &str, Value)>) {
    for (name, path, body) in steps {
        let call = processing(token, path, body);
        match name {
            Some(name) => {
                w.record(name, call).await;
            }
            None => {
                let (status, answer) = w.send(call).await;
                assert_eq!((status, &answer["data"][0]["code"]), (200, &json!("Ok")), "{answer}");
            }
        }
    }
}

async fn refunds_and_cancels(mut w: Wire) -> Wire {
    let (member, till) = setup(&w.s, "100").await;
    let t = member_token(&w.s, &till).await;
    let one_line = |quantity: f64| json!({"lines": [{"position": 1, "quantity": quantity}]});
    let (r, c) = ("/Purchases/r", "/Purchases/c");
    steps(
        &mut w,
        &t,
        vec![
            (
                None,
                &format!("{r}/Bonus/Payment"),
                request("r1", json!({"amount": 36.5})),
            ),
            (None, &format!("{r}/Bonus"), request("r2", json!({}))),
            (None, &format!("{r}/Confirm"), json!({"operationId": "r3"})),
            (
                Some("refund_part"),
                &format!("{r}/Refund"),
                json!({"operationId": "r4", "cheque": one_line(0.5)}),
            ),
            (
                Some("refund_rest"),
                &format!("{r}/Refund"),
                json!({"operationId": "r5"}),
            ),
            (
                Some("refund_beyond"),
                &format!("{r}/Refund"),
                json!({"operationId": "r6", "cheque": one_line(1.0)}),
            ),
            (None, &format!("{c}/Bonus/Payment"), request("c1", json!({"amount": 5}))),
            (
                Some("cancel_operation"),
                &format!("{c}/Operations/c1/Cancel"),
                json!({"operationId": "c2"}),
            ),
            (
                Some("cancel_unknown_operation"),
                &format!("{c}/Operations/zzz/Cancel"),
                json!({"operationId": "c3"}),
            ),
            (Some("cancel"), &format!("{c}/Cancel"), json!({"operationId": "c4"})),
            (
                Some("confirm_canceled"),
                &format!("{c}/Confirm"),
                json!({"operationId": "c5"}),
            ),
        ],
    )
    .await;
    // The purchase and its refunds as the member's history shows them (loymax-api.txt
    // "History", the Purchase row).
    let me = member_api_token(&w.s, member).await;
    let purchases = "History?filter.toDate=2100-01-01&filter.count=10&filter.historyItemType=Purchase";
    w.record("history_v1_1", Call::get(format!("/api/v1.1/{purchases}")).token(&me))
        .await;
    w.record(
        "history_v1_2",
        Call::get(format!("/publicapi/v1.2/{purchases}")).token(&me),
    )
    .await;
    w
}

async fn refusals(mut w: Wire) -> Wire {
    let (_, till) = setup(&w.s, "20").await;
    let t = member_token(&w.s, &till).await;
    let pay = |op: &str, amount: f64| request(op, json!({ "amount": amount }));
    let op = |id: &str| json!({ "operationId": id });
    let mut other_cheque = json!({"operationId": "a8", "cheque": cheque_85()});
    other_cheque["cheque"]["lines"][0]["amount"] = json!(80);
    let (payment, a) = ("/Purchases/a/Bonus/Payment", "/Purchases/a");
    steps(
        &mut w,
        &t,
        vec![
            (Some("large_payment_amount"), payment, pay("a1", 38.26)),
            (Some("not_enough_money"), payment, pay("a2", 30.0)),
            (None, payment, pay("a3", 10.0)),
            (Some("not_unique_operation_id"), payment, pay("a3", 11.0)),
            (Some("purchase_not_found"), "/Purchases/none/Confirm", op("a4")),
            (None, &format!("{a}/Bonus"), request("a5", json!({}))),
            (Some("incorrect_operation_order"), payment, pay("a6", 1.0)),
            (Some("refund_before_confirm"), &format!("{a}/Refund"), op("a7")),
            (Some("different_cheque"), &format!("{a}/Confirm"), other_cheque),
            (None, &format!("{a}/Confirm"), op("a9")),
            (Some("operation_is_confirmed"), &format!("{a}/Confirm"), op("a10")),
        ],
    )
    .await;

    let calculate = format!("{BASE}/Purchases/d/Calculate");
    w.record("no_body", Call::post(&calculate).token(&t)).await;
    let malformed = Call::post(&calculate).token(&t).raw("application/json", "{not json");
    w.record("malformed_body", malformed).await;
    w.record("no_token", Call::post(&calculate).json(request("d1", json!({}))))
        .await;
    w
}

async fn device_sign_in(mut w: Wire) -> Wire {
    let (_, till) = setup(&w.s, "10").await;
    let wrong = Till {
        client_id: till.client_id.clone(),
        secret: "nope".into(),
    };
    w.record("wrong_secret", device_token(&wrong, None)).await;
    w.record("unknown_card", device_token(&till, Some("9999999"))).await;
    let anonymous = w.record("anonymous_token", device_token(&till, None)).await;
    let t = anonymous["access_token"].as_str().expect("token").to_string();
    w.record(
        "anonymous_calculate",
        processing(&t, "/Purchases/x/Calculate", request("x1", json!({}))),
    )
    .await;
    w.record(
        "anonymous_payment",
        processing(&t, "/Purchases/x/Bonus/Payment", request("x2", json!({"amount": 1}))),
    )
    .await;
    let form = Call::post(format!("{BASE}/Purchases/x/Calculate")).token(&t).form(&[
        ("operationId", "x3"),
        ("cheque.lines[0].amount", "85"),
        ("cheque.lines[0].discount", "15"),
        ("cheque.lines[0].price", "100"),
    ]);
    w.record("calculate_form_body", form).await;
    // A till that names itself gets its name back.
    let mut named = request("x4", json!({}));
    named["deviceLogicalId"] = json!("till-7");
    w.record("named_till_calculate", processing(&t, "/Purchases/y/Calculate", named))
        .await;
    w
}
