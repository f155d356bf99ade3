//! What a Loymax program shows to anyone, signed in or not: its shops (`Merchants`,
//! `Merchants/ByUids`) and offers (`Offer`, `Offer/{id}`, `Offer/{id}/merchants`), in the shapes the PHP SDK `15web/loymax-php` parses (its
//! recorded answers: a merchant's `location` with `city`, `scheduleModel` by weekday,
//! `additionalInfo`; coordinates as floats).

use super::{snapshot_scenarios, Call, Wire};
use reqwest::Method;
use serde_json::json;

snapshot_scenarios!(merchants, offers);

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

/// Offers: two shown (one at a shop, one for a period), one without a showcase, one over.
async fn offers(mut w: Wire) -> Wire {
    shops(&w).await;
    let offers = [
        json!({"name": "10 % на Тверской", "priority": 10,
               "conditions": [{"type": "merchant", "codes": ["tverskaya"]},
                              {"type": "period", "from": "2026-01-01T00:00:00"}],
               "effects": [{"type": "discount_percent", "percent": 10}],
               "showcase": {"title": "Скидка 10 %", "description": "Только на Тверской.",
                            "images": ["https://cdn.example/ten.png"]}}),
        json!({"name": "Весна", "conditions": [{"type": "period", "from": "2026-03-01T00:00:00", "until": "2100-06-01T00:00:00"}],
               "effects": [{"type": "bonus_percent", "percent": 5}],
               "showcase": {"title": "Весенние бонусы", "description": "5 % бонусами."}}),
        json!({"name": "Тихая", "effects": [{"type": "bonus_percent", "percent": 1}]}),
        json!({"name": "Прошла", "conditions": [{"type": "period", "until": "2020-01-01T00:00:00"}],
               "effects": [{"type": "bonus_percent", "percent": 7}],
               "showcase": {"title": "Прошлая", "description": ""}}),
    ];
    for (code, offer) in ["tverskaya-ten", "spring", "quiet", "past"].into_iter().zip(offers) {
        let (status, body) =
            w.s.admin(Method::PUT, &format!("/admin/v1/offers/{code}"), Some(offer))
                .await;
        assert_eq!(status, 200, "{body}");
    }
    w.record(
        "list",
        Call::get("/publicapi/v1.2/Offer?filter.type=All&filter.from=0&filter.count=10"),
    )
    .await;
    w.record("at_merchant", Call::get("/publicapi/v1.2/Offer?filter.merchantId=2"))
        .await;
    w.record(
        "personal_anonymous",
        Call::get("/publicapi/v1.2/Offer?filter.type=PersonalOffer"),
    )
    .await;
    w.record("one", Call::get("/publicapi/v1.2/Offer/2")).await;
    w.record("not_shown", Call::get("/publicapi/v1.2/Offer/3")).await;
    w.record("merchants_of_offer", Call::get("/publicapi/v1.2/Offer/1/merchants"))
        .await;
    w
}
