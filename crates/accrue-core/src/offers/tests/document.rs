//! "Покупка с использованием API": Calculate → Payment → Bonus, numbers exact.

use rust_decimal::Decimal;
use serde_json::json;

use super::fixtures::*;
use crate::money::parse_minor;
use crate::offers::*;

/// The configuration of `docs/offers.md`: 10 % off everything, at most 50 % of the
/// cheque payable with bonuses, and 5 % of what is paid with money back as bonuses.
fn program() -> Vec<Offer> {
    serde_json::from_value(json!([
        {"id": "ten-off", "name": "10 % off everything",
         "effects": [{"type": "discount_percent", "percent": 10}]},
        {"id": "half-with-bonuses", "name": "At most 50 % of a cheque with bonuses",
         "effects": [{"type": "max_bonus_payment", "percent": 50}]},
        {"id": "base-accrual", "name": "5 % back",
         "effects": [{"type": "bonus_percent", "percent": 5}]}
    ]))
    .unwrap()
}

/// The Calculate request's line: price 100, till discount 15, amount 85.
fn calculate_request() -> Cheque {
    let minor = |text| parse_minor(text, 2).unwrap();
    Cheque {
        lines: vec![Line {
            position: 1,
            goods_id: Some("0036961".into()),
            barcode: Some("8765653477".into()),
            quantity: Decimal::ONE,
            price: minor("100"),
            amount: minor("85"),
            discount: minor("15"),
        }],
        coupons: vec!["string".into()],
    }
}

#[test]
fn calculate_gives_the_documents_discount_and_available_bonus_amount() {
    let setup = Setup::member();
    let calculation = setup.price(&program(), &calculate_request());
    assert_eq!(calculation.total_amount, 7650); // totalAmount 76.5
    assert_eq!(calculation.total_discount, 2350); // totalDiscount 23.5 = 15 external + 8.5
    assert_eq!(calculation.max_bonus_payment, 3825); // availableBonusAmount 38.25
    let line = &calculation.lines[0];
    assert_eq!(
        (line.position, line.amount, line.discount, line.max_bonus_payment),
        (1, 7650, 2350, 3825)
    );
    // Equal priorities run in id order.
    assert_eq!(
        applied_ids(&calculation),
        ["base-accrual", "half-with-bonuses", "ten-off"]
    );
    assert_eq!(calculation.applied[2].discount, 850);
}

#[test]
fn payment_of_36_5_is_within_what_is_available_and_bonus_accrues_on_the_40_paid_by_card() {
    let calculation = Setup::member().price(&program(), &calculate_request());
    let paid = parse_minor("36.5", 2).unwrap();
    assert!(paid <= calculation.max_bonus_payment);
    // Bonus step: pays = Card 40 + Loymax 36.5; 5 % of the 40 paid with money is 2.
    let accrued = accrual(&calculation, paid).unwrap();
    assert_eq!(accrued.lines[0].bonus_paid, 3650);
    assert_eq!(accrued.lines[0].paid_with_money, 4000);
    assert_eq!(accrued.total, 200);
    assert_eq!(accrued.usage.iter().map(|u| u.usage.bonus).sum::<i64>(), 200);
    // Before any payment, the projection is 5 % of 76.5 = 3.825 → 3.83.
    assert_eq!(calculation.applied[0].projected_bonus, 383);
}

#[test]
fn more_than_available_is_refused() {
    let calculation = Setup::member().price(&program(), &calculate_request());
    assert_eq!(
        accrual(&calculation, 3826),
        Err(AccrualError::BonusPaymentTooLarge {
            paid: 3826,
            payable: 3825
        })
    );
}

#[test]
fn the_members_balance_caps_what_is_available() {
    let mut setup = Setup::member();
    setup.member.as_mut().unwrap().balance = Some(2000);
    let calculation = setup.price(&program(), &calculate_request());
    assert_eq!(calculation.max_bonus_payment, 2000);
    assert_eq!(calculation.lines[0].max_bonus_payment, 3825);
}

#[test]
fn anonymous_cheque_gets_the_same_discount() {
    let calculation = Setup::default().price(&program(), &calculate_request());
    assert_eq!((calculation.total_amount, calculation.total_discount), (7650, 2350));
}
