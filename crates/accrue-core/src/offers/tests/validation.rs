//! `validate`: every problem of an offer, each with its field path.

use serde_json::json;

use super::fixtures::*;
use crate::offers::*;

fn fields(offer_json: serde_json::Value) -> Vec<String> {
    match offer(offer_json).validate() {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.field).collect(),
    }
}

#[test]
fn a_good_offer_passes() {
    let good = json!({"id": "spring-10", "name": "Spring", "conditions": [{"type": "weekdays", "days": ["monday"]}],
        "effects": [{"type": "discount_percent", "percent": 10}], "caps": [{"type": "applications", "period": "day", "max": 1}]});
    assert_eq!(fields(good), Vec::<String>::new());
}

#[test]
fn reports_every_bad_field() {
    let bad = json!({"id": "has space", "name": " ",
        "conditions": [
            {"type": "period"},
            {"type": "period", "from": "2024-06-01T00:00:00", "until": "2024-05-01T00:00:00"},
            {"type": "time_of_day", "from": "10:00", "until": "10:00"},
            {"type": "weekdays", "days": []},
            {"type": "goods", "ids": []},
            {"type": "barcodes", "barcodes": [""]},
            {"type": "bought_together", "ids": ["milk"]},
            {"type": "min_quantity", "quantity": 0},
            {"type": "min_amount", "amount": -1},
            {"type": "attribute", "name": "", "values": ["x"]}
        ],
        "effects": [
            {"type": "discount_percent", "percent": 0},
            {"type": "bonus_percent", "percent": 101},
            {"type": "max_bonus_payment", "percent": -1},
            {"type": "discount_fixed", "amount": 0},
            {"type": "bonus_multiplier", "factor": 1},
            {"type": "cheque_message", "text": ""}
        ],
        "caps": [{"type": "bonus", "period": "day", "max": 0}, {"type": "bonus", "period": "day", "max": 5}]});
    assert_eq!(
        fields(bad),
        [
            "id",
            "name",
            "conditions[0]",
            "conditions[1].until",
            "conditions[2].until",
            "conditions[3].days",
            "conditions[4].ids",
            "conditions[5].barcodes",
            "conditions[6].ids",
            "conditions[7].quantity",
            "conditions[8].amount",
            "conditions[9].name",
            "effects[0].percent",
            "effects[1].percent",
            "effects[2].percent",
            "effects[3].amount",
            "effects[4].factor",
            "effects[5].text",
            "caps[0].max",
            "caps[1]",
        ]
    );
}

#[test]
fn an_offer_needs_an_effect() {
    assert_eq!(fields(json!({"id": "o", "name": "o", "effects": []})), ["effects"]);
}

#[test]
fn messages_are_readable() {
    let errors = offer(json!({"id": "o", "name": "o", "effects": [{"type": "discount_percent", "percent": 150}]}))
        .validate()
        .unwrap_err();
    assert_eq!(errors[0].message, "must be more than 0 and at most 100");
}

#[test]
fn a_program_needs_unique_ids() {
    let one = offer_with("same", json!([]), percent_off(5));
    let errors = validate_offers(&[one.clone(), one]).unwrap_err();
    assert_eq!(
        errors,
        [FieldError {
            field: "[1].id".into(),
            message: "another offer has this id".into()
        }]
    );
    let bad = offer_with("", json!([]), percent_off(5));
    assert_eq!(validate_offers(&[bad]).unwrap_err()[0].field, "[0].id");
}

#[test]
fn a_showcase_needs_a_title_and_web_pictures() {
    let with = |showcase: serde_json::Value| {
        fields(
            json!({"id": "o", "name": "O", "effects": [{"type": "bonus_percent", "percent": 5}], "showcase": showcase}),
        )
    };
    assert!(with(json!({"title": "Бонусы", "description": "", "images": ["https://cdn.example/a.png"]})).is_empty());
    assert_eq!(
        with(json!({"title": " ", "description": "x".repeat(5001), "images": ["ftp://a", "javascript:x"]})),
        [
            "showcase.title",
            "showcase.description",
            "showcase.images[0]",
            "showcase.images[1]"
        ]
    );
}
