//! Bonus accrual for what a priced cheque was paid with money.

use serde::{Deserialize, Serialize};

use super::calculate::Calculation;
use super::context::Usage;
use super::rounding::{distribute, percent_half_up};
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accrual {
    /// In the order of the calculation's lines.
    pub lines: Vec<LineAccrual>,
    pub bonus_paid: i64,
    /// The bonuses accrued for the purchase.
    pub total: i64,
    /// Per applied offer, in the calculation's order: the usage to record for its caps when
    /// the purchase is confirmed (one application, its discount, the bonus it accrued).
    pub usage: Vec<OfferUsage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineAccrual {
    pub position: u32,
    pub quantity: Decimal,
    /// The line amount after discounts.
    pub amount: i64,
    /// The part of the bonus payment that fell on this line.
    pub bonus_paid: i64,
    /// `amount − bonus_paid`: the accrual base.
    pub paid_with_money: i64,
    pub accrued: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferUsage {
    pub offer_id: String,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccrualError {
    #[error("the bonus payment {paid} is more than the {payable} this cheque may be paid with bonuses")]
    BonusPaymentTooLarge { paid: i64, payable: i64 },
    #[error("the bonus payment cannot be negative")]
    NegativeBonusPayment,
}

/// The bonus payment is spread over the lines in proportion to their `max_bonus_payment`
/// (so no line pays more with bonuses than it may); each line then accrues each of its
/// rates on what it was paid with money, rounded half up per line and offer. Fixed bonuses
/// are spread over the lines by money paid (by amount if nothing was). An offer's accrual
/// beyond its bonus cap is cut back, keeping its spread.
///
/// `bonus_paid` may not exceed the sum of the lines' `max_bonus_payment` (the member's
/// balance is not checked here: at the Bonus step it is already reserved).
pub fn accrual(calculation: &Calculation, bonus_paid: i64) -> Result<Accrual, AccrualError> {
    let limits: Vec<i64> = calculation.lines.iter().map(|l| l.max_bonus_payment).collect();
    let payable: i64 = limits.iter().sum();
    if bonus_paid < 0 {
        return Err(AccrualError::NegativeBonusPayment);
    }
    if bonus_paid > payable {
        return Err(AccrualError::BonusPaymentTooLarge {
            paid: bonus_paid,
            payable,
        });
    }
    let paid_by_line = distribute(bonus_paid, &limits);
    let money: Vec<i64> = calculation
        .lines
        .iter()
        .zip(&paid_by_line)
        .map(|(l, b)| l.amount - b)
        .collect();

    // by_offer[offer][line]: the accrual of each applied offer on each line.
    let mut by_offer = vec![vec![0_i64; money.len()]; calculation.applied.len()];
    for (line, result) in calculation.lines.iter().enumerate() {
        for rate in &result.bonus_rates {
            by_offer[rate.applied][line] += percent_half_up(money[line], rate.percent).max(0);
        }
    }
    let fixed_weights = if money.iter().any(|&m| m > 0) {
        money.clone()
    } else {
        calculation.lines.iter().map(|l| l.amount).collect()
    };
    for (applied, accrued) in calculation.applied.iter().zip(by_offer.iter_mut()) {
        if applied.bonus_fixed > 0 {
            for (line, part) in distribute(applied.bonus_fixed, &fixed_weights).into_iter().enumerate() {
                accrued[line] += part;
            }
        }
        if let Some(limit) = applied.bonus_limit.filter(|&l| accrued.iter().sum::<i64>() > l) {
            *accrued = distribute(limit, accrued);
        }
    }

    let lines: Vec<LineAccrual> = calculation
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| LineAccrual {
            position: l.position,
            quantity: l.quantity,
            amount: l.amount,
            bonus_paid: paid_by_line[i],
            paid_with_money: money[i],
            accrued: by_offer.iter().map(|o| o[i]).sum(),
        })
        .collect();
    let usage = calculation
        .applied
        .iter()
        .zip(&by_offer)
        .map(|(applied, accrued)| OfferUsage {
            offer_id: applied.offer_id.clone(),
            usage: Usage {
                applications: 1,
                discount: applied.discount,
                bonus: accrued.iter().sum(),
            },
        })
        .collect();
    Ok(Accrual {
        total: lines.iter().map(|l| l.accrued).sum(),
        lines,
        bonus_paid,
        usage,
    })
}
