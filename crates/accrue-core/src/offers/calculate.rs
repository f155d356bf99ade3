//! Pricing a cheque: offers in priority order change line amounts, set bonus rates and the
//! share payable with bonuses.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::accrual::accrual;
use super::caps::Allowance;
use super::context::{Cheque, Context, IssuedCoupon};
use super::matching::{matching_lines, ChequeFacts};
use super::model::{Condition, Effect, Offer, Target};
use super::rounding::{distribute, percent_floor, percent_half_up};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calculation {
    /// In the order of the cheque's lines.
    pub lines: Vec<LineResult>,
    pub total_amount: i64,
    /// External (till) discounts plus the offers' discounts.
    pub total_discount: i64,
    /// The most this cheque may be paid with bonuses: the sum of the lines' limits, and no
    /// more than the member's balance when it is known.
    pub max_bonus_payment: i64,
    pub cheque_messages: Vec<String>,
    pub cashier_messages: Vec<String>,
    /// The offers that applied, in the order they ran.
    pub applied: Vec<Applied>,
    /// The issued coupons the applied offers used: the purchase's Confirm uses them up.
    #[serde(default)]
    pub coupons: Vec<String>,
    /// The series the applied offers issue a coupon of: Confirm issues them.
    #[serde(default)]
    pub coupons_to_issue: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineResult {
    pub position: u32,
    /// The line's goods and barcode as the till sent them, for its answer.
    #[serde(default)]
    pub goods_id: Option<String>,
    #[serde(default)]
    pub barcode: Option<String>,
    pub quantity: Decimal,
    /// After all discounts.
    pub amount: i64,
    /// All discounts of the line, the till's own included.
    pub discount: i64,
    /// The most of this line payable with bonuses (not reduced by the member's balance).
    pub max_bonus_payment: i64,
    /// Percentage accruals on what this line is paid with money.
    pub bonus_rates: Vec<BonusRate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BonusRate {
    /// Index into [`Calculation::applied`] of the offer that gives it.
    pub applied: usize,
    pub percent: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    pub offer_id: String,
    /// What this offer took off the cheque (after its caps).
    pub discount: i64,
    /// Fixed bonus this offer accrues on the purchase (before its bonus caps).
    pub bonus_fixed: i64,
    /// The most bonus this offer may still accrue under its caps; `None` when uncapped.
    pub bonus_limit: Option<i64>,
    /// What it would accrue if nothing were paid with bonuses: for display and `simulate`.
    pub projected_bonus: i64,
}

/// A multiplier waits until every offer has set its rates: it scales all of them.
struct Multiplier {
    applied: usize,
    factor: Decimal,
    lines: Vec<bool>,
}

/// The working state while offers run over a cheque.
struct Pricing<'c> {
    ctx: &'c Context<'c>,
    amounts: Vec<i64>,
    rates: Vec<Vec<BonusRate>>,
    max_bonus_percent: Vec<Option<Decimal>>,
    multipliers: Vec<Multiplier>,
    applied: Vec<Applied>,
    cheque_messages: Vec<String>,
    cashier_messages: Vec<String>,
    coupons_to_issue: Vec<String>,
}

/// Prices `cheque` with `offers`. Enabled offers run by priority (higher first, ties by id);
/// each that applies changes the line amounts left by those before it; an exclusive offer
/// that applies is the last to run.
pub fn calculate(offers: &[Offer], cheque: &Cheque, ctx: &Context) -> Calculation {
    let facts = ChequeFacts::new(cheque, ctx);
    let mut order: Vec<&Offer> = offers.iter().filter(|o| o.enabled).collect();
    order.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
    let lines = cheque.lines.len();
    let mut pricing = Pricing {
        ctx,
        amounts: cheque.lines.iter().map(|l| l.amount).collect(),
        rates: vec![Vec::new(); lines],
        max_bonus_percent: vec![None; lines],
        multipliers: Vec::new(),
        applied: Vec::new(),
        cheque_messages: Vec::new(),
        cashier_messages: Vec::new(),
        coupons_to_issue: Vec::new(),
    };
    for offer in order {
        let Some(allowance) = Allowance::of(offer, ctx) else {
            continue;
        };
        let Some(matched) = matching_lines(offer, &facts, ctx) else {
            continue;
        };
        pricing.apply(offer, &matched, allowance);
        if offer.exclusive {
            break;
        }
    }
    let mut calculation = pricing.finish(cheque);
    calculation.coupons = used_coupons(offers, &calculation.applied, ctx.coupons);
    calculation
}

/// The issued coupons whose series an applied offer's coupon condition names.
fn used_coupons(offers: &[Offer], applied: &[Applied], coupons: &[IssuedCoupon]) -> Vec<String> {
    let series_of_applied = applied
        .iter()
        .filter_map(|a| offers.iter().find(|o| o.id == a.offer_id))
        .flat_map(|o| &o.conditions)
        .filter_map(|c| match c {
            Condition::Coupon { series, .. } => Some(series),
            _ => None,
        })
        .flatten();
    let mut used: Vec<String> = series_of_applied
        .flat_map(|s| coupons.iter().filter(move |c| &c.series == s))
        .map(|c| c.number.clone())
        .collect();
    used.sort();
    used.dedup();
    used
}

impl Pricing<'_> {
    fn apply(&mut self, offer: &Offer, matched: &[bool], allowance: Allowance) {
        let index = self.applied.len();
        let mut discounts = vec![0; self.amounts.len()];
        let mut bonus_fixed = 0;
        let every_line = vec![true; matched.len()];
        for effect in &offer.effects {
            let target = |t: &Target| match t {
                Target::Lines => matched,
                Target::Cheque => every_line.as_slice(),
            };
            match effect {
                Effect::DiscountPercent { percent, target: t } => {
                    self.discount_percent(target(t), *t, percent.value(), &mut discounts)
                }
                Effect::DiscountFixed { amount, target: t } => self.discount_total(target(t), *amount, &mut discounts),
                Effect::BonusPercent { percent, target: t } => {
                    for (rates, _) in self.rates.iter_mut().zip(target(t)).filter(|(_, on)| **on) {
                        rates.push(BonusRate {
                            applied: index,
                            percent: percent.value(),
                        });
                    }
                }
                Effect::BonusFixed { amount } => bonus_fixed += amount,
                Effect::BonusMultiplier { factor, target: t } => self.multipliers.push(Multiplier {
                    applied: index,
                    factor: factor.value(),
                    lines: target(t).to_vec(),
                }),
                Effect::MaxBonusPayment { percent, target: t } => {
                    for (limit, _) in self.max_bonus_percent.iter_mut().zip(target(t)).filter(|(_, on)| **on) {
                        limit.get_or_insert(percent.value());
                    }
                }
                Effect::ChequeMessage { text } => self.cheque_messages.push(text.clone()),
                Effect::CashierMessage { text } => self.cashier_messages.push(text.clone()),
                Effect::IssueCoupon { series } => self.coupons_to_issue.push(series.clone()),
            }
        }
        self.cap_discount(&mut discounts, allowance.discount);
        self.applied.push(Applied {
            offer_id: offer.id.clone(),
            discount: discounts.iter().sum(),
            bonus_fixed,
            bonus_limit: allowance.bonus,
            projected_bonus: 0,
        });
    }

    /// What a line can still lose: down to the minimum line amount, never below zero.
    fn room(&self, line: usize) -> i64 {
        (self.amounts[line] - self.ctx.min_line_amount.max(0)).max(0)
    }

    fn take(&mut self, line: usize, discount: i64, discounts: &mut [i64]) {
        self.amounts[line] -= discount;
        discounts[line] += discount;
    }

    fn discount_percent(&mut self, on: &[bool], target: Target, percent: Decimal, discounts: &mut [i64]) {
        match target {
            Target::Lines => {
                for line in (0..on.len()).filter(|&i| on[i]) {
                    let discount = percent_half_up(self.amounts[line], percent).clamp(0, self.room(line));
                    self.take(line, discount, discounts);
                }
            }
            Target::Cheque => {
                let base: i64 = (0..on.len()).filter(|&i| on[i]).map(|i| self.amounts[i]).sum();
                self.discount_total(on, percent_half_up(base, percent), discounts);
            }
        }
    }

    /// Takes `total` off the lines `on`, spread by what each can still lose.
    fn discount_total(&mut self, on: &[bool], total: i64, discounts: &mut [i64]) {
        let rooms: Vec<i64> = (0..on.len()).map(|i| if on[i] { self.room(i) } else { 0 }).collect();
        let total = total.clamp(0, rooms.iter().sum());
        for (line, part) in distribute(total, &rooms).into_iter().enumerate() {
            self.take(line, part, discounts);
        }
    }

    /// Gives back what an offer took beyond its discount cap, keeping its spread.
    fn cap_discount(&mut self, discounts: &mut [i64], limit: Option<i64>) {
        let Some(limit) = limit else { return };
        if discounts.iter().sum::<i64>() <= limit {
            return;
        }
        for (line, kept) in distribute(limit, discounts).into_iter().enumerate() {
            self.amounts[line] += discounts[line] - kept;
            discounts[line] = kept;
        }
    }

    fn finish(mut self, cheque: &Cheque) -> Calculation {
        self.apply_multipliers();
        let lines: Vec<LineResult> = cheque
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let amount = self.amounts[i];
                let percent = self.max_bonus_percent[i].unwrap_or(self.ctx.default_max_bonus_percent);
                let payable = (amount - self.ctx.min_line_amount.max(0)).max(0);
                LineResult {
                    position: line.position,
                    goods_id: line.goods_id.clone(),
                    barcode: line.barcode.clone(),
                    quantity: line.quantity,
                    amount,
                    discount: line.discount + (line.amount - amount),
                    max_bonus_payment: percent_floor(amount, percent).clamp(0, payable),
                    bonus_rates: std::mem::take(&mut self.rates[i]),
                }
            })
            .collect();
        let payable: i64 = lines.iter().map(|l| l.max_bonus_payment).sum();
        let balance = self.ctx.member.and_then(|m| m.balance).map_or(i64::MAX, |b| b.max(0));
        let mut calculation = Calculation {
            total_amount: lines.iter().map(|l| l.amount).sum(),
            total_discount: lines.iter().map(|l| l.discount).sum(),
            max_bonus_payment: payable.min(balance),
            lines,
            cheque_messages: self.cheque_messages,
            cashier_messages: self.cashier_messages,
            applied: self.applied,
            coupons: Vec::new(),
            coupons_to_issue: self.coupons_to_issue,
        };
        if let Ok(projected) = accrual(&calculation, 0) {
            for (applied, recorded) in calculation.applied.iter_mut().zip(projected.usage) {
                applied.projected_bonus = recorded.usage.bonus;
            }
        }
        calculation
    }

    /// Each multiplier adds `(factor − 1) ×` the line's plain percentage rate as its own rate.
    fn apply_multipliers(&mut self) {
        for (line, rates) in self.rates.iter_mut().enumerate() {
            let base: Decimal = rates.iter().map(|r| r.percent).sum();
            for multiplier in self.multipliers.iter().filter(|m| m.lines[line]) {
                let extra = (multiplier.factor - Decimal::ONE) * base;
                if !extra.is_zero() {
                    rates.push(BonusRate {
                        applied: multiplier.applied,
                        percent: extra,
                    });
                }
            }
        }
    }
}
