//! Every effect: discounts, bonus rates, the bonus payment share, messages.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::fixtures::*;
use crate::offers::*;

fn on_milk() -> Value {
    json!([{"type": "goods", "ids": ["milk"]}])
}

fn three_lines() -> Cheque {
    cheque(vec![
        line(1, "milk", 1005),
        line(2, "bread", 1005),
        line(3, "tea", 1005),
    ])
}

fn price(effects: Value, conditions: Value, cheque: &Cheque) -> Calculation {
    let offer = offer(json!({"id": "o", "name": "o", "conditions": conditions, "effects": effects}));
    Setup::member().price(&[offer], cheque)
}

#[test]
fn percent_on_lines_rounds_each_line_half_up() {
    // 10 % of 10.05 is 1.005 → 1.01 on every line.
    let calculation = price(json!([percent_off(10)]), json!([]), &three_lines());
    assert_eq!(amounts(&calculation), [904, 904, 904]);
    assert_eq!(calculation.total_discount, 303);
}

#[test]
fn percent_on_the_cheque_rounds_the_total_then_spreads_it() {
    // 10 % of 30.15 is 3.015 → 3.02, spread 101 + 101 + 100.
    let effect = json!([{"type": "discount_percent", "percent": 10, "target": "cheque"}]);
    let calculation = price(effect, json!([]), &three_lines());
    assert_eq!(amounts(&calculation), [904, 904, 905]);
    assert_eq!(calculation.applied[0].discount, 302);
}

#[test]
fn target_lines_versus_cheque_with_a_selector() {
    // 50 % of 10.05 = 5.025 → 5.03 off.
    let lines = json!([{"type": "discount_percent", "percent": 50}]);
    assert_eq!(amounts(&price(lines, on_milk(), &three_lines())), [502, 1005, 1005]);
    let whole = json!([{"type": "discount_percent", "percent": 50, "target": "cheque"}]);
    assert_eq!(amounts(&price(whole, on_milk(), &three_lines())), [502, 502, 503]);
}

#[test]
fn fixed_discount_is_spread_and_never_exceeds_the_lines() {
    let cheque = cheque(vec![line(1, "milk", 3000), line(2, "bread", 1000)]);
    let fixed = |amount: i64| json!([{"type": "discount_fixed", "amount": amount}]);
    assert_eq!(amounts(&price(fixed(1000), json!([]), &cheque)), [2250, 750]);
    let calculation = price(fixed(1_000_000), json!([]), &cheque);
    assert_eq!(amounts(&calculation), [0, 0]);
    assert_eq!(calculation.total_discount, 4000);
    assert_eq!(amounts(&price(fixed(500), on_milk(), &cheque)), [2500, 1000]);
}

#[test]
fn the_minimum_line_amount_is_kept() {
    let setup = Setup {
        min_line_amount: 100,
        ..Setup::default()
    };
    let offer = offer_with("o", json!([]), json!({"type": "discount_percent", "percent": 100}));
    let calculation = setup.price(&[offer], &cheque(vec![line(1, "milk", 1000), line(2, "gum", 50)]));
    assert_eq!(amounts(&calculation), [100, 50]);
    assert_eq!(calculation.max_bonus_payment, 0);
}

#[test]
fn bonus_percent_sets_rates_on_target_lines() {
    let effects = json!([{"type": "bonus_percent", "percent": "2.5"}, {"type": "bonus_percent", "percent": 1, "target": "cheque"}]);
    let calculation = price(effects, on_milk(), &three_lines());
    let rates: Vec<Vec<Decimal>> = calculation
        .lines
        .iter()
        .map(|l| l.bonus_rates.iter().map(|r| r.percent).collect())
        .collect();
    assert_eq!(
        rates,
        [
            vec![Decimal::new(25, 1), Decimal::ONE],
            vec![Decimal::ONE],
            vec![Decimal::ONE]
        ]
    );
    let accrued = accrual(&calculation, 0).unwrap();
    // 3.5 % of 10.05 = 0.35175 → 0.35; 1 % of 10.05 = 0.1005 → 0.10.
    assert_eq!(
        accrued.lines.iter().map(|l| l.accrued).collect::<Vec<_>>(),
        [35, 10, 10]
    );
}

#[test]
fn bonus_fixed_is_once_per_purchase() {
    let calculation = price(
        json!([{"type": "bonus_fixed", "amount": 10000}]),
        json!([]),
        &three_lines(),
    );
    assert_eq!(calculation.applied[0].bonus_fixed, 10000);
    let accrued = accrual(&calculation, 0).unwrap();
    assert_eq!(accrued.total, 10000);
    assert_eq!(
        accrued.lines.iter().map(|l| l.accrued).collect::<Vec<_>>(),
        [3334, 3333, 3333]
    );
}

#[test]
fn multipliers_scale_the_percentage_accrual_of_all_offers() {
    let base = offer_with("base", json!([]), json!({"type": "bonus_percent", "percent": 5}));
    let double = offer_with(
        "double-milk",
        on_milk(),
        json!({"type": "bonus_multiplier", "factor": 2}),
    );
    let triple = offer_with(
        "triple-all",
        json!([]),
        json!({"type": "bonus_multiplier", "factor": 3, "target": "cheque"}),
    );
    let cheque = cheque(vec![line(1, "milk", 10000), line(2, "bread", 10000)]);
    let calculation = Setup::default().price(&[base.clone(), double.clone()], &cheque);
    assert_eq!(
        accrual(&calculation, 0)
            .unwrap()
            .lines
            .iter()
            .map(|l| l.accrued)
            .collect::<Vec<_>>(),
        [1000, 500]
    );
    // ×2 and ×3 add their extras: 5 + 5 + 10 = 20 % on milk, 15 % on bread.
    let calculation = Setup::default().price(&[base, double, triple], &cheque);
    let accrued = accrual(&calculation, 0).unwrap();
    assert_eq!(
        accrued.lines.iter().map(|l| l.accrued).collect::<Vec<_>>(),
        [2000, 1500]
    );
    let by_offer: Vec<(&str, i64)> = accrued
        .usage
        .iter()
        .map(|u| (u.offer_id.as_str(), u.usage.bonus))
        .collect();
    assert_eq!(by_offer, [("base", 1000), ("double-milk", 500), ("triple-all", 2000)]);
}

#[test]
fn max_bonus_payment_by_line_rounded_down_and_default_from_context() {
    let effects = json!([{"type": "max_bonus_payment", "percent": 33}]);
    let calculation = price(effects, on_milk(), &three_lines());
    // 33 % of 10.05 = 3.3165 → 3.31; the others keep the default, 100 %.
    assert_eq!(
        calculation
            .lines
            .iter()
            .map(|l| l.max_bonus_payment)
            .collect::<Vec<_>>(),
        [331, 1005, 1005]
    );
    let setup = Setup {
        default_max_bonus_percent: Decimal::ZERO,
        ..Setup::default()
    };
    assert_eq!(setup.price(&[], &three_lines()).max_bonus_payment, 0);
}

#[test]
fn the_higher_priority_offer_sets_the_bonus_payment_share() {
    let general =
        offer(json!({"id": "general", "name": "g", "effects": [{"type": "max_bonus_payment", "percent": 50}]}));
    let promo = offer(
        json!({"id": "promo", "name": "p", "priority": 10, "conditions": on_milk(),
        "effects": [{"type": "max_bonus_payment", "percent": 100}]}),
    );
    let calculation = Setup::default().price(&[general, promo], &three_lines());
    assert_eq!(
        calculation
            .lines
            .iter()
            .map(|l| l.max_bonus_payment)
            .collect::<Vec<_>>(),
        [1005, 502, 502]
    );
}

#[test]
fn messages_in_offer_order() {
    let first = offer(json!({"id": "a", "name": "a", "priority": 5, "effects": [
        {"type": "cheque_message", "text": "Thank you!"}, {"type": "cashier_message", "text": "Offer the card"}]}));
    let second = offer(json!({"id": "b", "name": "b", "effects": [{"type": "cheque_message", "text": "See you"}]}));
    let calculation = Setup::default().price(&[second, first], &three_lines());
    assert_eq!(calculation.cheque_messages, ["Thank you!", "See you"]);
    assert_eq!(calculation.cashier_messages, ["Offer the card"]);
}

#[test]
fn an_offer_round_trips_through_json() {
    let original = offer(json!({"id": "o", "name": "o", "priority": 3, "exclusive": true,
        "conditions": [{"type": "period", "from": "2024-05-01T00:00:00"}, {"type": "time_of_day", "from": "09:00", "until": "18:00"},
                       {"type": "min_quantity", "quantity": 2.5}, {"type": "first_purchase"}],
        "effects": [{"type": "discount_percent", "percent": 12.5, "target": "cheque"}, {"type": "bonus_fixed", "amount": 100}],
        "caps": [{"type": "applications", "period": "day", "max": 1}]}));
    let text = serde_json::to_string(&original).unwrap();
    assert!(text.contains(r#""percent":12.5"#), "{text}");
    assert_eq!(serde_json::from_str::<Offer>(&text).unwrap(), original);
    let unknown = json!({"id": "o", "name": "o", "effects": [{"type": "bonus_fixed", "amount": 1, "extra": 1}]});
    assert!(serde_json::from_value::<Offer>(unknown).is_err());
    let unknown_type = json!({"id": "o", "name": "o", "effects": [{"type": "free_lunch"}]});
    assert!(serde_json::from_value::<Offer>(unknown_type).is_err());
}
