//! What the operator keeps about shops reaches member apps, and bad input changes nothing.

use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(merchant_profiles_are_kept_checked_and_shown);

async fn listed(s: &TestServer) -> Vec<Value> {
    let (status, body) = s.call(Method::GET, "/publicapi/v1.2/Merchants", None, None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("a list").clone()
}

fn address(city: &str, latitude: f64) -> Value {
    json!({"city": city, "street": "Ленина", "house": "5", "latitude": latitude, "longitude": 30.5})
}

async fn merchant_profiles_are_kept_checked_and_shown(db: TestDb) {
    let s = TestServer::start(db).await;
    let create = |code: &str, profile: Value| json!({"code": code, "name": "Магазин", "profile": profile});
    // Refused profiles create nothing.
    for bad in [
        json!({"address": address("Псков", 91.0)}),
        json!({"address": {"city": "Псков"}}),
        json!({"schedule": {"mon": [{"from": "21:00", "to": "09:00"}]}}),
        json!({"colour": "red"}),
    ] {
        let (status, body) = s
            .admin(Method::POST, "/admin/v1/merchants", Some(create("m1", bad.clone())))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, all) = s.admin(Method::GET, "/admin/v1/merchants", None).await;
    assert_eq!(all["items"], json!([]));

    // A shop without an address is the operator's, not the members'.
    let (status, _) = s
        .admin(Method::POST, "/admin/v1/merchants", Some(create("m1", json!({}))))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(listed(&s).await.is_empty());

    // Given an address it is listed; a second shop in the same city shares the city's id.
    let (status, m1) = s
        .admin(
            Method::PATCH,
            "/admin/v1/merchants/m1",
            Some(json!({"name": "Магазин у вокзала", "profile": {"address": address("Псков", 57.8)}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{m1}");
    assert_eq!(m1["profile"]["address"]["latitude"], 57.8);
    let (status, _) = s
        .admin(
            Method::POST,
            "/admin/v1/merchants",
            Some(create("m2", json!({"address": address("Псков", 57.9)}))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let shown = listed(&s).await;
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0]["title"], "Магазин у вокзала");
    assert_eq!(shown[0]["location"]["city"]["id"], shown[1]["location"]["city"]["id"]);
    assert_eq!(shown[0]["location"]["description"], "Псков, Ленина, 5");

    // A refused change leaves the shop as it was; an unknown shop is not found.
    let (status, _) = s
        .admin(
            Method::PATCH,
            "/admin/v1/merchants/m1",
            Some(json!({"profile": {"address": address("Псков", -100.0)}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .admin(Method::PATCH, "/admin/v1/merchants/nope", Some(json!({"name": "x"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .admin(Method::PATCH, "/admin/v1/merchants/m1", Some(json!({"name": " "})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(listed(&s).await, shown);

    // Moving a shop to another city gives it that city's id; removing its address
    // takes it off the members' list.
    s.admin(
        Method::PATCH,
        "/admin/v1/merchants/m2",
        Some(json!({"profile": {"address": address("Остров", 57.3)}})),
    )
    .await;
    let shown = listed(&s).await;
    assert_ne!(shown[0]["location"]["city"]["id"], shown[1]["location"]["city"]["id"]);
    s.admin(Method::PATCH, "/admin/v1/merchants/m1", Some(json!({"profile": {}})))
        .await;
    let shown = listed(&s).await;
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0]["uid"], "m2");
}

on_both_backends!(card_categories_reach_the_app_and_the_offers);

async fn card_categories_reach_the_app_and_the_offers(db: TestDb) {
    use crate::processing_support::{call, member_and_till, member_api_token, member_token, put_offer, request};
    let s = TestServer::start(db).await;
    let (member, till) = member_and_till(&s, "100").await;
    put_offer(
        &s,
        "gold-10",
        json!({"name": "10 % for gold cards",
        "conditions": [{"type": "card_category", "categories": ["gold"]}],
        "effects": [{"type": "discount_percent", "percent": 10, "target": "cheque"}]}),
    )
    .await;
    let t = member_token(&s, &till).await;
    let before = call(&s, &t, "/Purchases/g0/Calculate", request("g0", json!({}))).await;
    assert_eq!(before["cheque"]["totalDiscount"], 15, "no gold card yet");

    // Bad categories and imports into unknown ones change nothing.
    for bad in [
        json!({"code": "has space", "title": "x"}),
        json!({"code": "gold", "title": " "}),
    ] {
        let (status, _) = s
            .admin(Method::POST, "/admin/v1/card-categories", Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let gold = json!({"code": "gold", "title": "Золотая карта", "description": "Для постоянных покупателей"});
    assert_eq!(
        s.admin(Method::POST, "/admin/v1/card-categories", Some(gold.clone()))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        s.admin(Method::POST, "/admin/v1/card-categories", Some(gold)).await.0,
        StatusCode::CONFLICT
    );
    let unknown = json!({"numbers": ["3000001"], "category": "platinum"});
    assert_eq!(
        s.admin(Method::POST, "/admin/v1/cards/import", Some(unknown)).await.0,
        StatusCode::NOT_FOUND
    );
    let pool = json!({"numbers": ["3000001", "3000002"], "category": "gold"});
    let (status, imported) = s.admin(Method::POST, "/admin/v1/cards/import", Some(pool)).await;
    assert_eq!(
        (status, &imported["imported"]),
        (StatusCode::OK, &json!(2)),
        "{imported}"
    );
    let assign = json!({"number": "3000001"});
    let (status, _) = s
        .admin(Method::POST, &format!("/admin/v1/members/{member}/cards"), Some(assign))
        .await;
    assert!(status.is_success());

    // The app shows each card's category; offers see the gold card.
    let app = member_api_token(&s, member).await;
    let (_, cards) = s.call(Method::GET, "/publicapi/v1.2/Cards", Some(&app), None).await;
    let categories: Vec<(&Value, &Value, &Value)> = cards["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                &c["number"],
                &c["cardCategory"]["logicalName"],
                &c["cardCategory"]["cardCount"],
            )
        })
        .collect();
    assert_eq!(
        categories,
        [
            (&json!("2000001"), &json!("Plastic"), &json!(1)),
            (&json!("3000001"), &json!("gold"), &json!(1))
        ]
    );
    // Virtual cards get the category that says so.
    let digital = json!({"code": "digital", "title": "Виртуальная карта", "for_virtual": true});
    assert_eq!(
        s.admin(Method::POST, "/admin/v1/card-categories", Some(digital))
            .await
            .0,
        StatusCode::CREATED
    );
    let (_, emitted) = s
        .call(
            Method::PUT,
            "/publicapi/v1.2/Cards/EmitVirtual",
            Some(&app),
            Some(json!({})),
        )
        .await;
    assert_eq!(emitted["data"]["cardCategory"]["logicalName"], "digital", "{emitted}");
    let t = member_token(&s, &till).await;
    let after = call(&s, &t, "/Purchases/g1/Calculate", request("g1", json!({}))).await;
    assert_eq!(after["cheque"]["totalDiscount"], 23.5, "{after}");
}
