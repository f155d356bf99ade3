//! Every condition, holding and not.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::fixtures::*;
use crate::offers::*;

fn two_lines() -> Cheque {
    cheque(vec![line(1, "milk", 10000), line(2, "bread", 5000)])
}

/// The amounts after a 10 % offer with these conditions, or `None` when it does not apply.
fn ten_off(setup: &Setup, conditions: Value, cheque: &Cheque) -> Option<Vec<i64>> {
    let calculation = setup.price(&[offer_with("o", conditions, percent_off(10))], cheque);
    (!calculation.applied.is_empty()).then(|| amounts(&calculation))
}

fn holds(setup: &Setup, condition: Value) -> bool {
    ten_off(setup, json!([condition]), &two_lines()).is_some()
}

fn at(local: &str, utc_offset_minutes: i32) -> Setup {
    let local = local.parse::<chrono::NaiveDateTime>().unwrap();
    let now = local.and_utc().timestamp_millis() - i64::from(utc_offset_minutes) * 60_000;
    Setup {
        now,
        utc_offset_minutes,
        ..Setup::member()
    }
}

#[test]
fn no_conditions_apply_to_every_line() {
    assert_eq!(
        ten_off(&Setup::default(), json!([]), &two_lines()),
        Some(vec![9000, 4500])
    );
}

#[test]
fn period_uses_program_local_time_until_exclusive() {
    let window = json!({"type": "period", "from": "2024-05-01T00:00:00", "until": "2024-06-01T00:00:00"});
    assert!(holds(&at("2024-05-01T00:00:00", 180), window.clone()));
    assert!(!holds(&at("2024-06-01T00:00:00", 180), window.clone()));
    assert!(!holds(&at("2024-04-30T23:59:59", 180), window));
    // 2024-05-31 22:00 UTC is already June 1st in UTC+3.
    let utc = NaiveDate::from_ymd_opt(2024, 5, 31)
        .unwrap()
        .and_hms_opt(22, 0, 0)
        .unwrap();
    let setup = Setup {
        now: utc.and_utc().timestamp_millis(),
        utc_offset_minutes: 180,
        ..Setup::default()
    };
    assert!(!holds(
        &setup,
        json!({"type": "period", "until": "2024-06-01T00:00:00"})
    ));
    assert!(holds(&setup, json!({"type": "period", "from": "2024-06-01T00:00:00"})));
}

#[test]
fn time_of_day_with_and_without_wrapping_midnight() {
    let morning = json!({"type": "time_of_day", "from": "09:00:00", "until": "12:00:00"});
    assert!(holds(&at("2024-05-15T09:00:00", 0), morning.clone()));
    assert!(!holds(&at("2024-05-15T12:00:00", 0), morning));
    let night = json!({"type": "time_of_day", "from": "22:00", "until": "06:00"});
    assert!(holds(&at("2024-05-15T23:30:00", 0), night.clone()));
    assert!(holds(&at("2024-05-15T05:59:00", 0), night.clone()));
    assert!(!holds(&at("2024-05-15T06:00:00", 0), night));
}

#[test]
fn weekdays_in_program_local_time() {
    let weekend = json!({"type": "weekdays", "days": ["saturday", "sunday"]});
    assert!(holds(&at("2024-05-18T10:00:00", 0), weekend.clone())); // Saturday
    assert!(!holds(&at("2024-05-17T23:00:00", 0), weekend.clone())); // Friday
    assert!(holds(&at("2024-05-18T01:00:00", 300), weekend)); // Friday 20:00 UTC
}

#[test]
fn goods_barcodes_and_groups_select_lines() {
    let setup = {
        let mut setup = Setup::default();
        setup.catalogue.add("milk", "dairy");
        setup
    };
    let goods = json!([{"type": "goods", "ids": ["bread"]}]);
    assert_eq!(ten_off(&setup, goods, &two_lines()), Some(vec![10000, 4500]));
    let barcodes = json!([{"type": "barcodes", "barcodes": ["bar-milk"]}]);
    assert_eq!(ten_off(&setup, barcodes, &two_lines()), Some(vec![9000, 5000]));
    let groups = json!([{"type": "goods_groups", "groups": ["dairy", "meat"]}]);
    assert_eq!(ten_off(&setup, groups, &two_lines()), Some(vec![9000, 5000]));
    assert_eq!(
        ten_off(&setup, json!([{"type": "goods", "ids": ["tea"]}]), &two_lines()),
        None
    );
    // Selectors intersect: dairy and not listed → nothing matches.
    let both = json!([{"type": "goods_groups", "groups": ["dairy"]}, {"type": "goods", "ids": ["bread"]}]);
    assert_eq!(ten_off(&setup, both, &two_lines()), None);
}

#[test]
fn bought_together_needs_the_whole_set_and_selects_its_lines() {
    let set = json!([{"type": "bought_together", "ids": ["milk", "bread"]}]);
    let with_tea = cheque(vec![
        line(1, "milk", 10000),
        line(2, "bread", 5000),
        line(3, "tea", 3000),
    ]);
    assert_eq!(
        ten_off(&Setup::default(), set.clone(), &with_tea),
        Some(vec![9000, 4500, 3000])
    );
    let only_milk = cheque(vec![line(1, "milk", 10000), line(3, "tea", 3000)]);
    assert_eq!(ten_off(&Setup::default(), set, &only_milk), None);
}

#[test]
fn min_quantity_counts_matching_lines() {
    let mut bulk = two_lines();
    bulk.lines[0].quantity = Decimal::from(3);
    let three_milk = json!([{"type": "goods", "ids": ["milk"]}, {"type": "min_quantity", "quantity": 3}]);
    assert!(ten_off(&Setup::default(), three_milk.clone(), &bulk).is_some());
    assert!(ten_off(&Setup::default(), three_milk, &two_lines()).is_none());
    let any_two = json!([{"type": "min_quantity", "quantity": "1.5"}]);
    assert!(ten_off(&Setup::default(), any_two, &two_lines()).is_some());
}

#[test]
fn min_amount_looks_at_the_cheque_as_sent() {
    assert!(holds(&Setup::default(), json!({"type": "min_amount", "amount": 15000})));
    assert!(!holds(
        &Setup::default(),
        json!({"type": "min_amount", "amount": 15001})
    ));
}

#[test]
fn coupon_on_the_cheque() {
    let condition = json!([{"type": "coupon", "numbers": ["SPRING"]}]);
    let mut with_coupon = two_lines();
    with_coupon.coupons = vec!["SPRING".into()];
    assert!(ten_off(&Setup::default(), condition.clone(), &with_coupon).is_some());
    assert!(ten_off(&Setup::default(), condition, &two_lines()).is_none());
}

#[test]
fn issued_coupons_of_a_series_are_used_by_the_offers_that_name_it() {
    let setup = Setup::default();
    let series = [
        IssuedCoupon {
            number: "C-1".into(),
            series: "spring".into(),
        },
        IssuedCoupon {
            number: "C-2".into(),
            series: "autumn".into(),
        },
    ];
    let ctx = Context {
        coupons: &series,
        ..setup.ctx()
    };
    let spring = offer_with("o", json!([{"type": "coupon", "series": ["spring"]}]), percent_off(10));
    let calculation = calculate(std::slice::from_ref(&spring), &two_lines(), &ctx);
    assert_eq!(applied_ids(&calculation), ["o"]);
    assert_eq!(calculation.coupons, ["C-1"], "only the coupon the offer named is used");
    // Without a valid coupon of the series the offer does not apply; a code anyone may
    // enter is not used up.
    assert!(setup.price(&[spring], &two_lines()).applied.is_empty());
    let code = offer_with("o", json!([{"type": "coupon", "numbers": ["C-1"]}]), percent_off(10));
    let mut with_code = two_lines();
    with_code.coupons = vec!["C-1".into()];
    let calculation = calculate(&[code], &with_code, &ctx);
    assert_eq!((applied_ids(&calculation), calculation.coupons.len()), (vec!["o"], 0));
}

#[test]
fn member_facts_segments_attributes_category_first_purchase() {
    let mut setup = Setup::member();
    let member = setup.member.as_mut().unwrap();
    member.segments.insert("vip".into());
    member.attributes.insert("city".into(), "Kazan".into());
    member.card_category = Some("gold".into());
    member.first_purchase = true;
    let conditions = [
        json!({"type": "segment", "segments": ["vip", "staff"]}),
        json!({"type": "attribute", "name": "city", "values": ["Kazan"]}),
        json!({"type": "card_category", "categories": ["gold"]}),
        json!({"type": "first_purchase"}),
    ];
    for condition in &conditions {
        assert!(holds(&setup, condition.clone()), "{condition}");
        assert!(!holds(&Setup::member(), condition.clone()), "{condition}");
        assert!(!holds(&Setup::default(), condition.clone()), "anonymous: {condition}");
    }
    assert!(!holds(
        &setup,
        json!({"type": "attribute", "name": "city", "values": ["Omsk"]})
    ));
}

#[test]
fn merchant_and_location() {
    let setup = Setup {
        merchant: Some("shop-1".into()),
        location: Some("till-7".into()),
        ..Setup::default()
    };
    assert!(holds(&setup, json!({"type": "merchant", "codes": ["shop-1"]})));
    assert!(!holds(&setup, json!({"type": "merchant", "codes": ["shop-2"]})));
    assert!(holds(&setup, json!({"type": "location", "codes": ["till-7"]})));
    assert!(!holds(
        &Setup::default(),
        json!({"type": "location", "codes": ["till-7"]})
    ));
}

#[test]
fn all_conditions_must_hold_and_disabled_offers_never_apply() {
    let setup = Setup {
        merchant: Some("shop-1".into()),
        ..Setup::default()
    };
    let both = json!([{"type": "merchant", "codes": ["shop-1"]}, {"type": "min_amount", "amount": 99999}]);
    assert!(ten_off(&setup, both, &two_lines()).is_none());
    let mut disabled = offer_with("o", json!([]), percent_off(10));
    disabled.enabled = false;
    assert!(setup.price(&[disabled], &two_lines()).applied.is_empty());
}
