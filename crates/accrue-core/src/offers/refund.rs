//! What a refund of some lines gives back and takes back, proportionally to the refunded
//! part of each line.
//!
//! Rounding is cumulative: after each refund a line's returned bonus is
//! `round_half_up(bonus_paid × refunded / bought)` in total, and this refund gives the
//! difference from what earlier refunds gave. So any sequence of partial refunds that ends
//! with the whole line refunded returns exactly its bonus payment and takes back exactly its
//! accrual, and no sequence ever exceeds them.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::accrual::{Accrual, LineAccrual};
use super::rounding::share_half_up;

/// How much of a line is refunded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RefundPart {
    Quantity {
        quantity: Decimal,
    },
    /// Minor units of the line amount after discounts.
    Amount {
        amount: i64,
    },
    /// Whatever earlier refunds left of the line.
    Rest,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RefundLine {
    pub position: u32,
    pub part: RefundPart,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RefundShare {
    pub lines: Vec<RefundedLine>,
    /// Bonuses to give back to the member: they paid for the refunded part.
    pub bonus_returned: i64,
    /// Accrued bonuses to take back: the refunded part earned them.
    pub accrual_taken: i64,
}

/// One line of one refund; quantity and amount are both filled whichever was asked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RefundedLine {
    pub position: u32,
    pub quantity: Decimal,
    pub amount: i64,
    pub bonus_returned: i64,
    pub accrual_taken: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("the purchase has no line at position {0}")]
    UnknownPosition(u32),
    #[error("line {0}: a refund cannot be negative")]
    Negative(u32),
    #[error("line {0}: more is refunded than remains of the purchase")]
    MoreThanRemains(u32),
}

/// Quantities derived from amounts are kept to this many decimal places.
const QUANTITY_DP: u32 = 6;

/// The share of `purchase` that `refund` gives back, given the `earlier` refunds of it.
pub fn refund_share(
    purchase: &Accrual,
    earlier: &[RefundShare],
    refund: &[RefundLine],
) -> Result<RefundShare, RefundError> {
    let mut so_far: HashMap<u32, RefundedLine> = HashMap::new();
    for line in earlier.iter().flat_map(|r| &r.lines) {
        so_far
            .entry(line.position)
            .or_insert_with(|| RefundedLine {
                position: line.position,
                ..Default::default()
            })
            .add(line);
    }
    let mut share = RefundShare::default();
    for asked in refund {
        let bought = purchase
            .lines
            .iter()
            .find(|l| l.position == asked.position)
            .ok_or(RefundError::UnknownPosition(asked.position))?;
        let before = so_far.entry(asked.position).or_insert_with(|| RefundedLine {
            position: asked.position,
            ..Default::default()
        });
        let step = refund_line(bought, before, asked.part)?;
        before.add(&step);
        share.bonus_returned += step.bonus_returned;
        share.accrual_taken += step.accrual_taken;
        share.lines.push(step);
    }
    Ok(share)
}

impl RefundedLine {
    fn add(&mut self, other: &RefundedLine) {
        self.quantity += other.quantity;
        self.amount += other.amount;
        self.bonus_returned += other.bonus_returned;
        self.accrual_taken += other.accrual_taken;
    }
}

fn refund_line(bought: &LineAccrual, before: &RefundedLine, part: RefundPart) -> Result<RefundedLine, RefundError> {
    let position = bought.position;
    let quantity_left = bought.quantity - before.quantity;
    let amount_left = bought.amount - before.amount;
    let (quantity, amount) = match part {
        RefundPart::Rest => (quantity_left, amount_left),
        RefundPart::Quantity { quantity } => {
            check(quantity >= Decimal::ZERO, quantity <= quantity_left, position)?;
            let after = before.quantity + quantity;
            let amount = amount_at(bought, after) - amount_at(bought, before.quantity);
            (quantity, amount.clamp(0, amount_left))
        }
        RefundPart::Amount { amount } => {
            check(amount >= 0, amount <= amount_left, position)?;
            let after = before.amount + amount;
            let quantity = quantity_at(bought, after) - quantity_at(bought, before.amount);
            (quantity.clamp(Decimal::ZERO, quantity_left.max(Decimal::ZERO)), amount)
        }
    };
    let progress_after = progress(bought, before.quantity + quantity, before.amount + amount);
    let bonus_after = scaled(bought.bonus_paid, progress_after);
    let accrual_after = scaled(bought.accrued, progress_after);
    Ok(RefundedLine {
        position,
        quantity,
        amount,
        bonus_returned: (bonus_after - before.bonus_returned).clamp(0, bought.bonus_paid - before.bonus_returned),
        accrual_taken: (accrual_after - before.accrual_taken).clamp(0, bought.accrued - before.accrual_taken),
    })
}

fn check(not_negative: bool, within: bool, position: u32) -> Result<(), RefundError> {
    match (not_negative, within) {
        (false, _) => Err(RefundError::Negative(position)),
        (_, false) => Err(RefundError::MoreThanRemains(position)),
        _ => Ok(()),
    }
}

/// The amount that corresponds to a refunded quantity, the whole amount at the whole quantity.
fn amount_at(bought: &LineAccrual, quantity: Decimal) -> i64 {
    if quantity >= bought.quantity || bought.quantity <= Decimal::ZERO {
        return bought.amount;
    }
    share_half_up(bought.amount, quantity, bought.quantity)
}

fn quantity_at(bought: &LineAccrual, amount: i64) -> Decimal {
    if amount >= bought.amount || bought.amount <= 0 {
        return bought.quantity;
    }
    (bought.quantity * Decimal::from(amount) / Decimal::from(bought.amount))
        .round_dp_with_strategy(QUANTITY_DP, RoundingStrategy::MidpointAwayFromZero)
}

/// The refunded part of the line as (part, whole): by amount, or by quantity for a line
/// that cost nothing; a line with neither is wholly refunded by any refund of it.
fn progress(bought: &LineAccrual, quantity: Decimal, amount: i64) -> (Decimal, Decimal) {
    if bought.amount > 0 {
        (Decimal::from(amount), Decimal::from(bought.amount))
    } else if bought.quantity > Decimal::ZERO {
        (quantity, bought.quantity)
    } else {
        (Decimal::ONE, Decimal::ONE)
    }
}

fn scaled(value: i64, (part, whole): (Decimal, Decimal)) -> i64 {
    if part >= whole {
        value
    } else {
        share_half_up(value, part, whole)
    }
}
