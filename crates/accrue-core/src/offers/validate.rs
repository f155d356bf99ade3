//! Checks an operator's offer before it is stored: every problem, each with its field path.

use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeSet;

use super::model::{Cap, Condition, Effect, Offer};
use super::rate::Rate;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// A path into the offer JSON, e.g. `effects[0].percent`.
    pub field: String,
    pub message: String,
}

const MAX_ID: usize = 64;
const MAX_TEXT: usize = 500;
const MAX_DESCRIPTION: usize = 5000;

/// Collects problems under one path prefix.
struct Problems {
    errors: Vec<FieldError>,
}

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    fn require(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.add(field, message);
        }
    }

    fn list(&mut self, list: &[String], field: &str) {
        self.require(!list.is_empty(), field, "must list at least one value");
        self.require(
            list.iter().all(|v| !v.trim().is_empty()),
            field,
            "values must not be empty",
        );
    }

    fn percent(&mut self, rate: Rate, field: &str, zero_allowed: bool) {
        let low_ok = if zero_allowed {
            rate.value() >= Decimal::ZERO
        } else {
            rate.value() > Decimal::ZERO
        };
        let message = if zero_allowed {
            "must be from 0 to 100"
        } else {
            "must be more than 0 and at most 100"
        };
        self.require(low_ok && rate.value() <= Decimal::ONE_HUNDRED, field, message);
    }

    fn positive(&mut self, amount: i64, field: &str) {
        self.require(amount > 0, field, "must be a positive amount in minor units");
    }

    fn text(&mut self, text: &str, field: &str) {
        self.require(!text.trim().is_empty(), field, "must not be empty");
        self.require(
            text.chars().count() <= MAX_TEXT,
            field,
            "must be at most 500 characters",
        );
    }
}

impl Offer {
    /// Every problem of the offer, or `Ok` when it can be stored.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut problems = Problems { errors: Vec::new() };
        let id_ok = !self.id.is_empty()
            && self.id.len() <= MAX_ID
            && self.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        problems.require(id_ok, "id", "must be 1 to 64 letters, digits, '-', '_' or '.'");
        problems.text(&self.name, "name");
        for (i, condition) in self.conditions.iter().enumerate() {
            check_condition(condition, &format!("conditions[{i}]"), &mut problems);
        }
        problems.require(!self.effects.is_empty(), "effects", "must have at least one effect");
        for (i, effect) in self.effects.iter().enumerate() {
            check_effect(effect, &format!("effects[{i}]"), &mut problems);
        }
        if let Some(showcase) = &self.showcase {
            problems.text(&showcase.title, "showcase.title");
            problems.require(
                showcase.description.chars().count() <= MAX_DESCRIPTION,
                "showcase.description",
                "must be at most 5000 characters",
            );
            for (i, image) in showcase.images.iter().enumerate() {
                let ok = (image.starts_with("https://") || image.starts_with("http://")) && image.len() <= 2000;
                problems.require(ok, &format!("showcase.images[{i}]"), "must be an http(s) address");
            }
        }
        let mut kinds = BTreeSet::new();
        for (i, cap) in self.caps.iter().enumerate() {
            let (kind, positive) = match *cap {
                Cap::Applications { max, .. } => ("applications", max > 0),
                Cap::Discount { max, .. } => ("discount", max > 0),
                Cap::Bonus { max, .. } => ("bonus", max > 0),
            };
            problems.require(positive, &format!("caps[{i}].max"), "must be more than 0");
            if !kinds.insert((kind, cap.period())) {
                problems.add(format!("caps[{i}]"), "repeats a cap of the same type and period");
            }
        }
        if problems.errors.is_empty() {
            Ok(())
        } else {
            Err(problems.errors)
        }
    }
}

/// Validates a program's whole set of offers: each offer, and that ids are unique.
pub fn validate_offers(offers: &[Offer]) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, offer) in offers.iter().enumerate() {
        if let Err(found) = offer.validate() {
            errors.extend(found.into_iter().map(|e| FieldError {
                field: format!("[{i}].{}", e.field),
                ..e
            }));
        }
        if !seen.insert(offer.id.as_str()) {
            errors.push(FieldError {
                field: format!("[{i}].id"),
                message: "another offer has this id".into(),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_condition(condition: &Condition, at: &str, problems: &mut Problems) {
    let field = |name: &str| format!("{at}.{name}");
    match condition {
        Condition::Period { from, until } => {
            problems.require(from.is_some() || until.is_some(), at, "needs `from`, `until` or both");
            if let (Some(from), Some(until)) = (from, until) {
                problems.require(from < until, &field("until"), "must be later than `from`");
            }
        }
        Condition::TimeOfDay { from, until } => {
            problems.require(from != until, &field("until"), "must differ from `from`")
        }
        Condition::Weekdays { days } => {
            problems.require(!days.is_empty(), &field("days"), "must list at least one day")
        }
        Condition::Goods { ids } => problems.list(ids, &field("ids")),
        Condition::Barcodes { barcodes } => problems.list(barcodes, &field("barcodes")),
        Condition::GoodsGroups { groups } => problems.list(groups, &field("groups")),
        Condition::BoughtTogether { ids } => {
            problems.list(ids, &field("ids"));
            problems.require(ids.len() >= 2, &field("ids"), "a set needs at least two goods");
        }
        Condition::MinQuantity { quantity } => problems.require(
            quantity.value() > Decimal::ZERO,
            &field("quantity"),
            "must be more than 0",
        ),
        Condition::MinAmount { amount } => problems.positive(*amount, &field("amount")),
        Condition::Coupon { numbers, series } if numbers.is_empty() => problems.list(series, &field("series")),
        Condition::Coupon { numbers, series } => {
            problems.list(numbers, &field("numbers"));
            if !series.is_empty() {
                problems.list(series, &field("series"));
            }
        }
        Condition::Segment { segments } => problems.list(segments, &field("segments")),
        Condition::Attribute { name, values } => {
            problems.require(!name.trim().is_empty(), &field("name"), "must not be empty");
            problems.list(values, &field("values"));
        }
        Condition::CardCategory { categories } => problems.list(categories, &field("categories")),
        Condition::FirstPurchase => {}
        Condition::Merchant { codes } | Condition::Location { codes } => problems.list(codes, &field("codes")),
    }
}

fn check_effect(effect: &Effect, at: &str, problems: &mut Problems) {
    let field = |name: &str| format!("{at}.{name}");
    match effect {
        Effect::DiscountPercent { percent, .. } | Effect::BonusPercent { percent, .. } => {
            problems.percent(*percent, &field("percent"), false)
        }
        Effect::MaxBonusPayment { percent, .. } => problems.percent(*percent, &field("percent"), true),
        Effect::DiscountFixed { amount, .. } | Effect::BonusFixed { amount } => {
            problems.positive(*amount, &field("amount"))
        }
        Effect::BonusMultiplier { factor, .. } => {
            let ok = factor.value() > Decimal::ONE && factor.value() <= Decimal::ONE_HUNDRED;
            problems.require(ok, &field("factor"), "must be more than 1 and at most 100");
        }
        Effect::ChequeMessage { text } | Effect::CashierMessage { text } => problems.text(text, &field("text")),
        Effect::IssueCoupon { series } => problems.text(series, &field("series")),
    }
}
