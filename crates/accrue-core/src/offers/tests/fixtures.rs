use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::offers::*;
use crate::Millis;

/// 2024-05-15 12:00 UTC, a Wednesday.
pub const NOW: Millis = 1_715_774_400_000;

pub fn offer(value: Value) -> Offer {
    serde_json::from_value(value).expect("a valid offer JSON")
}

/// An offer with one effect and the given conditions.
pub fn offer_with(id: &str, conditions: Value, effect: Value) -> Offer {
    offer(json!({"id": id, "name": id, "conditions": conditions, "effects": [effect]}))
}

pub fn percent_off(percent: i64) -> Value {
    json!({"type": "discount_percent", "percent": percent})
}

pub fn line(position: u32, goods_id: &str, amount: i64) -> Line {
    Line {
        position,
        goods_id: Some(goods_id.into()),
        barcode: Some(format!("bar-{goods_id}")),
        quantity: Decimal::ONE,
        price: amount,
        amount,
        discount: 0,
    }
}

pub fn cheque(lines: Vec<Line>) -> Cheque {
    Cheque {
        lines,
        coupons: Vec::new(),
    }
}

/// Owns what a [`Context`] borrows.
pub struct Setup {
    pub now: Millis,
    pub utc_offset_minutes: i32,
    pub catalogue: Catalogue,
    pub usage: UsageSoFar,
    pub member: Option<MemberFacts>,
    pub merchant: Option<String>,
    pub location: Option<String>,
    pub default_max_bonus_percent: Decimal,
    pub min_line_amount: i64,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            now: NOW,
            utc_offset_minutes: 0,
            catalogue: Catalogue::default(),
            usage: UsageSoFar::default(),
            member: None,
            merchant: None,
            location: None,
            default_max_bonus_percent: Decimal::ONE_HUNDRED,
            min_line_amount: 0,
        }
    }
}

impl Setup {
    pub fn member() -> Setup {
        Setup {
            member: Some(MemberFacts::default()),
            ..Setup::default()
        }
    }

    pub fn ctx(&self) -> Context<'_> {
        Context {
            utc_offset_minutes: self.utc_offset_minutes,
            member: self.member.as_ref(),
            merchant: self.merchant.as_deref(),
            location: self.location.as_deref(),
            default_max_bonus_percent: self.default_max_bonus_percent,
            min_line_amount: self.min_line_amount,
            ..Context::new(self.now, &self.catalogue, &self.usage)
        }
    }

    pub fn price(&self, offers: &[Offer], cheque: &Cheque) -> Calculation {
        calculate(offers, cheque, &self.ctx())
    }
}

pub fn applied_ids(calculation: &Calculation) -> Vec<&str> {
    calculation.applied.iter().map(|a| a.offer_id.as_str()).collect()
}

pub fn amounts(calculation: &Calculation) -> Vec<i64> {
    calculation.lines.iter().map(|l| l.amount).collect()
}
