//! Coupons issued by the operator reach the member's app, make an offer apply at the
//! till for their owner only while valid, and are used up by Confirm.

use crate::processing_support::{call, cheque_85, member_and_till, member_api_token, member_token, put_offer};
use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(a_coupon_makes_its_offer_apply_once_for_its_owner);

fn priced(coupon: &str, operation: &str) -> Value {
    json!({"operationId": operation, "cheque": cheque_85(), "coupons": [{"number": coupon}]})
}

async fn coupons_of(s: &TestServer, member: i64) -> Value {
    s.admin(Method::GET, &format!("/admin/v1/members/{member}/coupons"), None)
        .await
        .1
}

async fn a_coupon_makes_its_offer_apply_once_for_its_owner(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = member_and_till(&s, "100").await;
    let series = json!({"code": "spring", "title": "Весенний купон", "description": "Скидка 20 % на чек"});
    assert_eq!(
        s.admin(Method::POST, "/admin/v1/coupon-series", Some(series)).await.0,
        StatusCode::CREATED
    );
    put_offer(
        &s,
        "spring-20",
        json!({"name": "20 % by coupon",
        "conditions": [{"type": "coupon", "series": ["spring"]}],
        "effects": [{"type": "discount_percent", "percent": 20, "target": "cheque"}]}),
    )
    .await;
    // Bad issues are refused and issue nothing.
    for (path, bad) in [
        (
            "/admin/v1/coupon-series/spring/issue",
            json!({"member_id": member, "count": 0}),
        ),
        ("/admin/v1/coupon-series/spring/issue", json!({"member_id": 999})),
        ("/admin/v1/coupon-series/autumn/issue", json!({"member_id": member})),
    ] {
        let (status, body) = s.admin(Method::POST, path, Some(bad.clone())).await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
    }
    assert_eq!(coupons_of(&s, member).await["items"], json!([]));
    let (status, issued) = s
        .admin(
            Method::POST,
            "/admin/v1/coupon-series/spring/issue",
            Some(json!({"member_id": member, "count": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let numbers: Vec<String> = issued["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["number"].as_str().unwrap().into())
        .collect();
    assert_eq!(numbers.len(), 2);
    assert!(numbers.iter().all(|n| n.len() == 12) && numbers[0] != numbers[1]);

    // The member's app lists them, and finds one by number.
    let app = member_api_token(&s, member).await;
    let (_, mine) = s
        .call(Method::GET, "/publicapi/v1.2/Coupons?from=0&count=10", Some(&app), None)
        .await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 2, "{mine}");
    assert_eq!(mine["data"][0]["couponState"], "Issued");
    let path = format!("/publicapi/v1.2/Coupons/number/{}", numbers[0]);
    let (_, one) = s.call(Method::GET, &path, Some(&app), None).await;
    assert_eq!(
        (one["data"]["code"].as_str(), &one["data"]["emissionTitle"]),
        (Some(numbers[0].as_str()), &json!("Весенний купон"))
    );

    // At the till: no coupon, an unknown one, or an anonymous cheque — no discount.
    let t = member_token(&s, &till).await;
    let no_coupon = call(
        &s,
        &t,
        "/Purchases/p0/Calculate",
        json!({"operationId": "c0", "cheque": cheque_85()}),
    )
    .await;
    assert_eq!(no_coupon["cheque"]["totalDiscount"], 15);
    let unknown = call(&s, &t, "/Purchases/p0/Calculate", priced("NOSUCHCOUPON", "c1")).await;
    assert_eq!(unknown["cheque"]["totalDiscount"], 15);
    // With the coupon: 20 % off the 85.
    let with = call(&s, &t, "/Purchases/p1/Calculate", priced(&numbers[0], "c2")).await;
    assert_eq!(with["cheque"]["totalDiscount"], 32);
    assert_eq!(with["cheque"]["totalAmount"], 68);
    // Bonus and Confirm use it up; the next purchase gets no discount with it.
    let mut bonus = priced(&numbers[0], "b1");
    bonus["pays"] = json!([{"type": "Card", "amount": 68}]);
    let answer = call(&s, &t, "/Purchases/p1/Bonus", bonus).await;
    assert_eq!(answer["code"], "Ok", "{answer}");
    let confirmed = call(&s, &t, "/Purchases/p1/Confirm", json!({"operationId": "f1"})).await;
    assert_eq!(confirmed["code"], "Ok", "{confirmed}");
    let (_, one) = s.call(Method::GET, &path, Some(&app), None).await;
    assert_eq!(one["data"]["couponState"], "Used", "{one}");
    let again = call(&s, &t, "/Purchases/p2/Calculate", priced(&numbers[0], "c3")).await;
    assert_eq!(again["cheque"]["totalDiscount"], 15);

    // A rejected coupon no longer works; the app can filter by state.
    let (status, rejected) = s
        .admin(Method::POST, &format!("/admin/v1/coupons/{}/reject", numbers[1]), None)
        .await;
    assert_eq!((status, &rejected["state"]), (StatusCode::OK, &json!("Rejected")));
    let after = call(&s, &t, "/Purchases/p3/Calculate", priced(&numbers[1], "c4")).await;
    assert_eq!(after["cheque"]["totalDiscount"], 15);
    let (_, used) = s
        .call(
            Method::GET,
            "/publicapi/v1.2/Coupons?couponListFilter.couponStates%5B0%5D=Used",
            Some(&app),
            None,
        )
        .await;
    assert_eq!(used["data"].as_array().unwrap().len(), 1);
    let (status, _) = s
        .admin(Method::POST, &format!("/admin/v1/coupons/{}/reject", numbers[1]), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a coupon is taken back once");

    // Another member cannot see it or use it.
    let (_, other) = s
        .admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"phone": "+79160000009"})),
        )
        .await;
    let (_, issued) = s
        .admin(
            Method::POST,
            "/admin/v1/coupon-series/spring/issue",
            Some(json!({"member_id": other["id"]})),
        )
        .await;
    let others = issued["items"][0]["number"].as_str().unwrap().to_string();
    let foreign = call(&s, &t, "/Purchases/p4/Calculate", priced(&others, "c5")).await;
    assert_eq!(foreign["cheque"]["totalDiscount"], 15);
    let (_, hidden) = s
        .call(
            Method::GET,
            &format!("/publicapi/v1.2/Coupons/number/{others}"),
            Some(&app),
            None,
        )
        .await;
    assert_eq!(
        hidden["result"]["message"],
        "Купон не найден или принадлежит другому клиенту."
    );

    // An offer that gives a coupon for a next purchase: Confirm issues it, once.
    put_offer(
        &s,
        "gift",
        json!({"name": "A coupon for purchases from 80",
        "conditions": [{"type": "min_amount", "amount": 8000}],
        "effects": [{"type": "issue_coupon", "series": "spring"}]}),
    )
    .await;
    let count = |coupons: &Value| coupons["items"].as_array().unwrap().len();
    let before = count(&coupons_of(&s, member).await);
    let bonus = json!({"operationId": "b6", "cheque": cheque_85(), "pays": [{"type": "Card", "amount": 76.5}]});
    call(
        &s,
        &t,
        "/Purchases/p6/Calculate",
        json!({"operationId": "c6", "cheque": cheque_85()}),
    )
    .await;
    assert_eq!(call(&s, &t, "/Purchases/p6/Bonus", bonus).await["code"], "Ok");
    for _ in 0..2 {
        let confirmed = call(&s, &t, "/Purchases/p6/Confirm", json!({"operationId": "f6"})).await;
        assert_eq!(confirmed["code"], "Ok", "a repeated Confirm is its replay");
    }
    let after = coupons_of(&s, member).await;
    assert_eq!(count(&after), before + 1, "{after}");
    assert_eq!(
        (&after["items"][0]["series"], &after["items"][0]["state"]),
        (&json!("spring"), &json!("Issued"))
    );
}
