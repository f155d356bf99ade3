//! Whether an offer's conditions hold for a cheque, and which lines it matches.

use chrono::{Datelike, NaiveTime};
use rust_decimal::Decimal;
use std::collections::BTreeSet;

use super::context::{Cheque, Context};
use super::model::{Condition, Offer, Weekday};

/// Facts about the cheque every offer looks at, computed once.
pub(crate) struct ChequeFacts<'c> {
    cheque: &'c Cheque,
    amount: i64,
    goods_ids: BTreeSet<&'c str>,
    local: chrono::NaiveDateTime,
}

impl<'c> ChequeFacts<'c> {
    pub(crate) fn new(cheque: &'c Cheque, ctx: &Context) -> ChequeFacts<'c> {
        ChequeFacts {
            cheque,
            amount: cheque.lines.iter().map(|l| l.amount).sum(),
            goods_ids: cheque.lines.iter().filter_map(|l| l.goods_id.as_deref()).collect(),
            local: ctx.local_time(),
        }
    }
}

/// The lines the offer matches when all its conditions hold, `None` when it does not apply.
pub(crate) fn matching_lines(offer: &Offer, facts: &ChequeFacts, ctx: &Context) -> Option<Vec<bool>> {
    if !offer
        .conditions
        .iter()
        .all(|c| c.selects_lines() || holds(c, facts, ctx))
    {
        return None;
    }
    let selectors: Vec<&Condition> = offer.conditions.iter().filter(|c| c.selects_lines()).collect();
    let lines = &facts.cheque.lines;
    let matched: Vec<bool> = (0..lines.len())
        .map(|i| selectors.iter().all(|c| selects(c, i, facts, ctx)))
        .collect();
    if !selectors.is_empty() && !matched.contains(&true) {
        return None;
    }
    let quantity_ok = offer.conditions.iter().all(|c| match c {
        Condition::MinQuantity { quantity } => {
            let held: Decimal = lines
                .iter()
                .zip(&matched)
                .filter(|(_, m)| **m)
                .map(|(l, _)| l.quantity)
                .sum();
            held >= quantity.value()
        }
        _ => true,
    });
    quantity_ok.then_some(matched)
}

fn holds(condition: &Condition, facts: &ChequeFacts, ctx: &Context) -> bool {
    let member = ctx.member;
    let has = |list: &[String], value: Option<&str>| value.is_some_and(|v| list.iter().any(|x| x == v));
    match condition {
        Condition::Period { from, until } => {
            from.is_none_or(|f| facts.local >= f) && until.is_none_or(|u| facts.local < u)
        }
        Condition::TimeOfDay { from, until } => in_time_window(facts.local.time(), *from, *until),
        Condition::Weekdays { days } => days.contains(&Weekday::of(facts.local.weekday())),
        Condition::MinAmount { amount } => facts.amount >= *amount,
        Condition::Coupon { numbers, series } => {
            facts.cheque.coupons.iter().any(|c| numbers.contains(c))
                || ctx.coupons.iter().any(|c| series.contains(&c.series))
        }
        Condition::Segment { segments } => member.is_some_and(|m| segments.iter().any(|s| m.segments.contains(s))),
        Condition::Attribute { name, values } => {
            member.is_some_and(|m| has(values, m.attributes.get(name).map(String::as_str)))
        }
        Condition::CardCategory { categories } => member.is_some_and(|m| has(categories, m.card_category.as_deref())),
        Condition::FirstPurchase => member.is_some_and(|m| m.first_purchase),
        Condition::Merchant { codes } => has(codes, ctx.merchant),
        Condition::Location { codes } => has(codes, ctx.location),
        // Checked with the lines.
        Condition::MinQuantity { .. }
        | Condition::Goods { .. }
        | Condition::Barcodes { .. }
        | Condition::GoodsGroups { .. }
        | Condition::BoughtTogether { .. } => true,
    }
}

fn in_time_window(time: NaiveTime, from: NaiveTime, until: NaiveTime) -> bool {
    if from <= until {
        from <= time && time < until
    } else {
        time >= from || time < until
    }
}

fn selects(condition: &Condition, index: usize, facts: &ChequeFacts, ctx: &Context) -> bool {
    let line = &facts.cheque.lines[index];
    let goods_id = line.goods_id.as_deref();
    let listed = |list: &[String], value: Option<&str>| value.is_some_and(|v| list.iter().any(|x| x == v));
    match condition {
        Condition::Goods { ids } => listed(ids, goods_id),
        Condition::Barcodes { barcodes } => listed(barcodes, line.barcode.as_deref()),
        Condition::GoodsGroups { groups } => goods_id
            .and_then(|id| ctx.catalogue.groups_of(id))
            .is_some_and(|of_line| groups.iter().any(|g| of_line.contains(g))),
        Condition::BoughtTogether { ids } => {
            listed(ids, goods_id) && ids.iter().all(|id| facts.goods_ids.contains(id.as_str()))
        }
        _ => true,
    }
}
