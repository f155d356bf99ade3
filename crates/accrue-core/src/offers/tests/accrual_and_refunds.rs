//! Accrual after a bonus payment, and refunds of some lines.

use rust_decimal::Decimal;
use serde_json::json;

use super::fixtures::*;
use crate::offers::*;

/// Two lines of 60.00 and 40.00, all payable with bonuses, 10 % back; 50.00 paid with bonuses.
fn purchase() -> Accrual {
    let back = offer_with("back", json!([]), json!({"type": "bonus_percent", "percent": 10}));
    let mut lines = vec![line(1, "milk", 6000), line(2, "tea", 4000)];
    lines[0].quantity = Decimal::from(3);
    let calculation = Setup::member().price(&[back], &cheque(lines));
    accrual(&calculation, 5000).unwrap()
}

#[test]
fn the_bonus_payment_is_spread_by_what_each_line_may_take() {
    let purchase = purchase();
    let spread: Vec<(i64, i64, i64)> = purchase
        .lines
        .iter()
        .map(|l| (l.bonus_paid, l.paid_with_money, l.accrued))
        .collect();
    assert_eq!(spread, [(3000, 3000, 300), (2000, 2000, 200)]);
    assert_eq!((purchase.bonus_paid, purchase.total), (5000, 500));
    assert_eq!(
        accrual(&Setup::default().price(&[], &cheque(vec![])), -1),
        Err(AccrualError::NegativeBonusPayment)
    );
}

fn refund(position: u32, part: RefundPart) -> RefundLine {
    RefundLine { position, part }
}

#[test]
fn a_refund_by_quantity_returns_its_share() {
    let purchase = purchase();
    let one = refund_share(
        &purchase,
        &[],
        &[refund(1, RefundPart::Quantity { quantity: Decimal::ONE })],
    )
    .unwrap();
    assert_eq!((one.bonus_returned, one.accrual_taken), (1000, 100));
    assert_eq!(one.lines[0].amount, 2000);
}

#[test]
fn partial_refunds_add_up_to_exactly_the_purchase() {
    let purchase = purchase();
    let thirds = |earlier: &[RefundShare]| {
        refund_share(&purchase, earlier, &[refund(2, RefundPart::Amount { amount: 1333 })]).unwrap()
    };
    let first = thirds(&[]);
    let second = thirds(std::slice::from_ref(&first));
    let rest = refund_share(
        &purchase,
        &[first.clone(), second.clone()],
        &[refund(2, RefundPart::Rest)],
    )
    .unwrap();
    assert_eq!(
        (first.bonus_returned, second.bonus_returned, rest.bonus_returned),
        (667, 666, 667)
    );
    assert_eq!(first.bonus_returned + second.bonus_returned + rest.bonus_returned, 2000);
    assert_eq!(first.accrual_taken + second.accrual_taken + rest.accrual_taken, 200);
    assert_eq!(rest.lines[0].amount, 1334);
    let earlier = [first, second, rest];
    let again = refund_share(&purchase, &earlier, &[refund(2, RefundPart::Amount { amount: 1 })]);
    assert_eq!(again, Err(RefundError::MoreThanRemains(2)));
    let nothing = refund_share(&purchase, &earlier, &[refund(2, RefundPart::Rest)]).unwrap();
    assert_eq!((nothing.bonus_returned, nothing.accrual_taken), (0, 0));
}

#[test]
fn refunds_that_cannot_be() {
    let purchase = purchase();
    assert_eq!(
        refund_share(&purchase, &[], &[refund(9, RefundPart::Rest)]),
        Err(RefundError::UnknownPosition(9))
    );
    let minus = RefundPart::Quantity {
        quantity: Decimal::NEGATIVE_ONE,
    };
    assert_eq!(
        refund_share(&purchase, &[], &[refund(1, minus)]),
        Err(RefundError::Negative(1))
    );
    let four = RefundPart::Quantity {
        quantity: Decimal::from(4),
    };
    assert_eq!(
        refund_share(&purchase, &[], &[refund(1, four)]),
        Err(RefundError::MoreThanRemains(1))
    );
}

#[test]
fn refund_parts_are_tagged_json() {
    let part: RefundPart = serde_json::from_value(json!({"type": "quantity", "quantity": "1.5"})).unwrap();
    assert_eq!(
        part,
        RefundPart::Quantity {
            quantity: Decimal::new(15, 1)
        }
    );
}
