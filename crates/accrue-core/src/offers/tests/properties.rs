//! Random cheques and offer sets: the money invariants always hold.

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::fixtures::*;
use crate::offers::*;

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![Just(Target::Lines), Just(Target::Cheque)]
}

/// A percent with one decimal place, 0.1 to 100.
fn rate() -> impl Strategy<Value = Rate> {
    (1_i64..=1000).prop_map(|tenths| Rate(Decimal::new(tenths, 1)))
}

fn effect() -> impl Strategy<Value = Effect> {
    prop_oneof![
        (rate(), target()).prop_map(|(percent, target)| Effect::DiscountPercent { percent, target }),
        (1_i64..50_000, target()).prop_map(|(amount, target)| Effect::DiscountFixed { amount, target }),
        (rate(), target()).prop_map(|(percent, target)| Effect::BonusPercent { percent, target }),
        (1_i64..10_000).prop_map(|amount| Effect::BonusFixed { amount }),
        (2_i64..5, target()).prop_map(|(factor, target)| Effect::BonusMultiplier {
            factor: factor.into(),
            target
        }),
        (0_i64..=100, target()).prop_map(|(p, target)| Effect::MaxBonusPayment {
            percent: p.into(),
            target
        }),
    ]
}

fn goods() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec((0_u8..5).prop_map(|g| format!("g{g}")), 1..3)
}

fn condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        goods().prop_map(|ids| Condition::Goods { ids }),
        goods().prop_map(|ids| Condition::BoughtTogether { ids }),
        (1_i64..300_000).prop_map(|amount| Condition::MinAmount { amount }),
        (1_i64..6).prop_map(|q| Condition::MinQuantity { quantity: q.into() }),
    ]
}

/// A cap and how much of it the member has used.
fn cap() -> impl Strategy<Value = (Cap, Usage)> {
    prop_oneof![
        (1_u32..3, 0_u32..3).prop_map(|(max, used)| (
            Cap::Applications {
                period: Period::Day,
                max
            },
            Usage {
                applications: used,
                ..Usage::default()
            }
        )),
        (1_i64..50_000, 0_i64..30_000).prop_map(|(max, used)| (
            Cap::Discount {
                period: Period::Week,
                max
            },
            Usage {
                discount: used,
                ..Usage::default()
            }
        )),
        (1_i64..5_000, 0_i64..3_000).prop_map(|(max, used)| (
            Cap::Bonus {
                period: Period::Month,
                max
            },
            Usage {
                bonus: used,
                ..Usage::default()
            }
        )),
    ]
}

fn offers() -> impl Strategy<Value = Vec<(Offer, Option<Usage>)>> {
    let one = (
        -2_i32..3,
        prop::bool::weighted(0.2),
        prop::collection::vec(condition(), 0..3),
        prop::collection::vec(effect(), 1..4),
        prop::option::of(cap()),
    );
    prop::collection::vec(one, 0..6).prop_map(|offers| {
        offers
            .into_iter()
            .enumerate()
            .map(|(i, (priority, exclusive, conditions, effects, cap))| {
                let offer = Offer {
                    id: format!("o{i}"),
                    name: format!("offer {i}"),
                    priority,
                    exclusive,
                    enabled: true,
                    conditions,
                    effects,
                    caps: cap.iter().map(|(c, _)| c.clone()).collect(),
                    showcase: None,
                };
                (offer, cap.map(|(_, used)| used))
            })
            .collect()
    })
}

fn cheque_lines() -> impl Strategy<Value = Cheque> {
    let line = (0_u8..5, 0_i64..200_000, 0_i64..5_000, 1_i64..5);
    prop::collection::vec(line, 0..8).prop_map(|lines| Cheque {
        lines: lines
            .into_iter()
            .enumerate()
            .map(|(i, (goods, amount, discount, quantity))| Line {
                position: i as u32 + 1,
                goods_id: Some(format!("g{goods}")),
                barcode: None,
                quantity: Decimal::from(quantity),
                price: (amount + discount) / quantity,
                amount,
                discount,
            })
            .collect(),
        coupons: Vec::new(),
    })
}

fn setup_for(
    offers: &[(Offer, Option<Usage>)],
    balance: Option<i64>,
    min_line_amount: i64,
    default_share: i64,
) -> Setup {
    let mut setup = Setup::member();
    setup.member.as_mut().unwrap().balance = balance;
    setup.min_line_amount = min_line_amount;
    setup.default_max_bonus_percent = Decimal::from(default_share);
    for (offer, used) in offers {
        if let (Some(cap), Some(used)) = (offer.caps.first(), used) {
            setup.usage.set(offer.id.clone(), cap.period(), *used);
        }
    }
    setup
}

/// One step of a random refund: which line, by quantity or amount, and what share (‰) of
/// what remains.
type Step = (usize, bool, u32);

fn refund_step(purchase: &Accrual, earlier: &[RefundShare], (pick, by_quantity, per_mille): Step) -> RefundLine {
    let bought = &purchase.lines[pick % purchase.lines.len()];
    let done = earlier
        .iter()
        .flat_map(|r| &r.lines)
        .filter(|l| l.position == bought.position);
    let (quantity, amount) = done.fold((Decimal::ZERO, 0), |(q, a), l| (q + l.quantity, a + l.amount));
    let part = if by_quantity {
        let share = (bought.quantity - quantity) * Decimal::from(per_mille) / Decimal::from(1000);
        RefundPart::Quantity {
            quantity: share.round_dp_with_strategy(3, rust_decimal::RoundingStrategy::ToZero),
        }
    } else {
        RefundPart::Amount {
            amount: (bought.amount - amount) * i64::from(per_mille) / 1000,
        }
    };
    RefundLine {
        position: bought.position,
        part,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn calculations_keep_the_money_invariants(
        offers in offers(),
        cheque in cheque_lines(),
        balance in prop::option::of(0_i64..300_000),
        min_line_amount in prop_oneof![Just(0_i64), 1_i64..200],
        default_share in 0_i64..=100,
    ) {
        let setup = setup_for(&offers, balance, min_line_amount, default_share);
        let offers: Vec<Offer> = offers.into_iter().map(|(o, _)| o).collect();
        let calculation = setup.price(&offers, &cheque);

        prop_assert_eq!(calculation.lines.len(), cheque.lines.len());
        prop_assert_eq!(calculation.total_amount, calculation.lines.iter().map(|l| l.amount).sum::<i64>());
        prop_assert_eq!(calculation.total_discount, calculation.lines.iter().map(|l| l.discount).sum::<i64>());
        let sent: i64 = cheque.lines.iter().map(|l| l.amount + l.discount).sum();
        prop_assert_eq!(calculation.total_amount + calculation.total_discount, sent);
        let external: i64 = cheque.lines.iter().map(|l| l.discount).sum();
        prop_assert_eq!(calculation.applied.iter().map(|a| a.discount).sum::<i64>(), calculation.total_discount - external);
        for (input, result) in cheque.lines.iter().zip(&calculation.lines) {
            prop_assert!(result.amount >= input.amount.min(min_line_amount));
            prop_assert!(result.amount <= input.amount);
            prop_assert!(result.discount >= input.discount);
            prop_assert!(0 <= result.max_bonus_payment && result.max_bonus_payment <= result.amount);
        }
        prop_assert!(0 <= calculation.max_bonus_payment && calculation.max_bonus_payment <= calculation.total_amount);
        prop_assert!(calculation.max_bonus_payment <= balance.unwrap_or(i64::MAX));
        for applied in &calculation.applied {
            let offer = offers.iter().find(|o| o.id == applied.offer_id).unwrap();
            for cap in &offer.caps {
                if let Cap::Discount { max, period } = cap {
                    prop_assert!(applied.discount <= max - setup.usage.get(&offer.id, *period).discount);
                }
            }
        }
    }

    #[test]
    fn accrual_and_any_refunds_return_exactly_what_was_paid_and_earned(
        offers in offers(),
        cheque in cheque_lines(),
        paid_per_mille in 0_i64..=1000,
        steps in prop::collection::vec((0_usize..8, any::<bool>(), 0_u32..=1000), 0..8),
    ) {
        let setup = setup_for(&offers, None, 0, 100);
        let offers: Vec<Offer> = offers.into_iter().map(|(o, _)| o).collect();
        let calculation = setup.price(&offers, &cheque);
        let bonus_paid = calculation.max_bonus_payment * paid_per_mille / 1000;
        let purchase = accrual(&calculation, bonus_paid).unwrap();

        prop_assert_eq!(purchase.lines.iter().map(|l| l.bonus_paid).sum::<i64>(), bonus_paid);
        prop_assert_eq!(purchase.lines.iter().map(|l| l.accrued).sum::<i64>(), purchase.total);
        prop_assert_eq!(purchase.usage.iter().map(|u| u.usage.bonus).sum::<i64>(), purchase.total);
        for (line, result) in purchase.lines.iter().zip(&calculation.lines) {
            prop_assert!(0 <= line.bonus_paid && line.bonus_paid <= result.max_bonus_payment);
            prop_assert_eq!(line.paid_with_money, result.amount - line.bonus_paid);
            prop_assert!(line.accrued >= 0);
        }
        for (usage, applied) in purchase.usage.iter().zip(&calculation.applied) {
            prop_assert!(usage.usage.bonus <= applied.bonus_limit.unwrap_or(i64::MAX));
        }
        if purchase.lines.is_empty() {
            return Ok(());
        }

        let mut refunds: Vec<RefundShare> = Vec::new();
        for step in steps {
            let asked = refund_step(&purchase, &refunds, step);
            refunds.push(refund_share(&purchase, &refunds, &[asked]).unwrap());
            for bought in &purchase.lines {
                let done: Vec<&RefundedLine> =
                    refunds.iter().flat_map(|r| &r.lines).filter(|l| l.position == bought.position).collect();
                prop_assert!(done.iter().map(|l| l.bonus_returned).sum::<i64>() <= bought.bonus_paid);
                prop_assert!(done.iter().map(|l| l.accrual_taken).sum::<i64>() <= bought.accrued);
                prop_assert!(done.iter().map(|l| l.amount).sum::<i64>() <= bought.amount);
                prop_assert!(done.iter().map(|l| l.quantity).sum::<Decimal>() <= bought.quantity);
            }
        }
        let rest: Vec<RefundLine> =
            purchase.lines.iter().map(|l| RefundLine { position: l.position, part: RefundPart::Rest }).collect();
        refunds.push(refund_share(&purchase, &refunds, &rest).unwrap());
        prop_assert_eq!(refunds.iter().map(|r| r.bonus_returned).sum::<i64>(), purchase.bonus_paid);
        prop_assert_eq!(refunds.iter().map(|r| r.accrual_taken).sum::<i64>(), purchase.total);
    }

    #[test]
    fn distribute_sums_exactly_and_respects_weights(
        weights in prop::collection::vec(0_i64..1_000_000_000, 1..12),
        per_mille in 0_i64..=1000,
    ) {
        let sum: i64 = weights.iter().sum();
        let total = sum / 1000 * per_mille;
        let parts = distribute(total, &weights);
        prop_assert_eq!(parts.iter().sum::<i64>(), total);
        for (part, weight) in parts.iter().zip(&weights) {
            prop_assert!(0 <= *part && part <= weight);
        }
    }

    #[test]
    fn distribute_sums_exactly_whatever_the_input(
        weights in prop::collection::vec(any::<i64>(), 1..12),
        total in -1_000_000_000_000_i64..1_000_000_000_000,
    ) {
        prop_assert_eq!(distribute(total, &weights).iter().sum::<i64>(), total);
    }
}
