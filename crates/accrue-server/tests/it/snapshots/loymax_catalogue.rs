//! What a Loymax program shows to anyone, signed in or not: its shops (`Merchants`,
//! `Merchants/ByUids`), in the shapes the PHP SDK `15web/loymax-php` parses (its
//! recorded answers: a merchant's `location` with `city`, `scheduleModel` by weekday,
//! `additionalInfo`; coordinates as floats).

use super::{snapshot_scenarios, Call, Wire};
use reqwest::Method;
use serde_json::json;

snapshot_scenarios!(merchants);

/// Two shops with addresses (one archived, in the same city) and a web shop without one.
pub async fn shops(w: &Wire) {
    let shops = [
        json!({"code": "tverskaya", "name": "Маркет на Тверской", "profile": {
            "description": "У метро", "brand": "Маркет",
            "address": {"city": "Москва", "city_prefix": "г.", "street": "Тверская", "house": "1",
                        "latitude": 55.757, "longitude": 37.613},
            "schedule": {"mon": [{"from": "10:00", "to": "19:00"}], "fri": [{"from": "10:00", "to": "19:00"}]},
            "additional_info": [{"name": "Town", "value": "Москва"}]}}),
        json!({"code": "arbat", "name": "Маркет на Арбате", "profile": {
            "address": {"city": "Москва", "city_prefix": "г.", "street": "Арбат", "house": "12", "office": "3",
                        "description": "Вход со двора", "latitude": 55.75, "longitude": 37.59},
            "archived": true}}),
        json!({"code": "web", "name": "Интернет-магазин"}),
    ];
    for shop in shops {
        let (status, body) = w.s.admin(Method::POST, "/admin/v1/merchants", Some(shop)).await;
        assert_eq!(status, 201, "{body}");
    }
}

async fn merchants(mut w: Wire) -> Wire {
    shops(&w).await;
    // Anonymous, as the SDK calls it: every shop with an address, the web shop left out.
    w.record("all", Call::get("/publicapi/v1.2/Merchants?from=0&count=10"))
        .await;
    w.record("by_id", Call::get("/publicapi/v1.2/Merchants?merchantsIds%5B0%5D=2"))
        .await;
    w.record(
        "by_uid",
        Call::get("/publicapi/v1.2/Merchants/ByUids?merchantsUids%5B0%5D=tverskaya&from=0&count=10"),
    )
    .await;
    w.record("second_page", Call::get("/publicapi/v1.2/Merchants?from=1&count=1"))
        .await;
    w.record("bad_count", Call::get("/publicapi/v1.2/Merchants?count=-1"))
        .await;
    w
}
