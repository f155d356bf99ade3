//! What `calculate` is given besides the offers: the cheque and the facts around it.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDateTime, TimeZone};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::model::Period;
use crate::Millis;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Cheque {
    pub lines: Vec<Line>,
    pub coupons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Line {
    pub position: u32,
    pub goods_id: Option<String>,
    pub barcode: Option<String>,
    pub quantity: Decimal,
    /// Per unit, minor units.
    pub price: i64,
    /// The line amount after the till's own discount, minor units: the base of all offers.
    pub amount: i64,
    /// The till's own (external) discount, minor units.
    pub discount: i64,
}

/// What the program knows about the member making the purchase.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberFacts {
    pub segments: BTreeSet<String>,
    pub attributes: BTreeMap<String, String>,
    pub card_category: Option<String>,
    pub first_purchase: bool,
    /// Bonuses the member can spend now; caps the bonus payment when given.
    pub balance: Option<i64>,
}

impl MemberFacts {
    /// The facts kept in a member's attributes: each attribute as text (`attribute`
    /// conditions), `segments` as the member's segments (an array of texts, or one text of
    /// comma-separated names) and `cardCategory` as the category of the member's card.
    pub fn from_attributes(attributes: &serde_json::Map<String, serde_json::Value>) -> MemberFacts {
        use serde_json::Value;
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), String::from);
        let segments = match attributes.get("segments") {
            Some(Value::Array(items)) => items.iter().map(text).collect(),
            Some(Value::String(list)) => list.split(',').map(|s| s.trim().to_string()).collect(),
            _ => BTreeSet::new(),
        };
        MemberFacts {
            segments: segments.into_iter().filter(|s: &String| !s.is_empty()).collect(),
            attributes: attributes.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
            card_category: attributes.get("cardCategory").map(text).filter(|c| !c.is_empty()),
            first_purchase: false,
            balance: None,
        }
    }
}

/// Goods id → the codes of the groups it belongs to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalogue {
    groups: HashMap<String, BTreeSet<String>>,
}

impl Catalogue {
    pub fn add(&mut self, goods_id: impl Into<String>, group: impl Into<String>) {
        self.groups.entry(goods_id.into()).or_default().insert(group.into());
    }

    pub fn groups_of(&self, goods_id: &str) -> Option<&BTreeSet<String>> {
        self.groups.get(goods_id)
    }
}

/// How much of an offer a member has used in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub applications: u32,
    pub discount: i64,
    pub bonus: i64,
}

/// The member's usage so far per offer and cap period, each counted from
/// [`period_start`] of that period to now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UsageSoFar {
    by_offer: HashMap<(String, Period), Usage>,
}

impl UsageSoFar {
    pub fn set(&mut self, offer_id: impl Into<String>, period: Period, usage: Usage) {
        self.by_offer.insert((offer_id.into(), period), usage);
    }

    pub fn get(&self, offer_id: &str, period: Period) -> Usage {
        // The tuple key needs an owned String; caps are few, so this is cheap enough.
        self.by_offer
            .get(&(offer_id.to_owned(), period))
            .copied()
            .unwrap_or_default()
    }
}

/// A coupon the cheque presents that was issued to the member and is still valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCoupon {
    pub number: String,
    pub series: String,
}

pub struct Context<'a> {
    pub now: Millis,
    /// The program's offset from UTC: local dates, times, weekdays and cap periods use it.
    pub utc_offset_minutes: i32,
    /// Decimal places of the currency (amounts are already minor units; kept for rendering).
    pub scale: u32,
    pub member: Option<&'a MemberFacts>,
    pub merchant: Option<&'a str>,
    pub location: Option<&'a str>,
    pub catalogue: &'a Catalogue,
    pub usage: &'a UsageSoFar,
    /// The valid issued coupons among the cheque's.
    pub coupons: &'a [IssuedCoupon],
    /// Share of a line payable with bonuses when no applied offer sets one.
    pub default_max_bonus_percent: Decimal,
    /// No offer discounts a line below this amount (a line already below it keeps its amount),
    /// and bonuses cannot pay this part of a line either.
    pub min_line_amount: i64,
}

impl<'a> Context<'a> {
    /// An anonymous context at UTC with a 2-decimal currency, everything payable with
    /// bonuses unless an offer says otherwise, and lines allowed to go down to zero.
    pub fn new(now: Millis, catalogue: &'a Catalogue, usage: &'a UsageSoFar) -> Context<'a> {
        Context {
            now,
            utc_offset_minutes: 0,
            scale: 2,
            member: None,
            merchant: None,
            location: None,
            catalogue,
            usage,
            coupons: &[],
            default_max_bonus_percent: Decimal::ONE_HUNDRED,
            min_line_amount: 0,
        }
    }

    pub fn local_time(&self) -> NaiveDateTime {
        local_time(self.now, self.utc_offset_minutes)
    }
}

fn offset(utc_offset_minutes: i32) -> FixedOffset {
    FixedOffset::east_opt(utc_offset_minutes.saturating_mul(60)).unwrap_or(FixedOffset::east_opt(0).expect("UTC"))
}

/// The program-local time of `now`.
pub fn local_time(now: Millis, utc_offset_minutes: i32) -> NaiveDateTime {
    let utc = DateTime::from_timestamp_millis(now).unwrap_or_default();
    utc.with_timezone(&offset(utc_offset_minutes)).naive_local()
}

/// Where the current cap period began (program-local midnight of the day, of Monday, of
/// the 1st), as ms since the epoch; `None` for `ever`. The store sums a member's usage of
/// an offer from there to build [`UsageSoFar`].
pub fn period_start(period: Period, now: Millis, utc_offset_minutes: i32) -> Option<Millis> {
    let today = local_time(now, utc_offset_minutes).date();
    let first_day = match period {
        Period::Day => today,
        Period::Week => today - Duration::days(i64::from(today.weekday().num_days_from_monday())),
        Period::Month => today.with_day(1)?,
        Period::Ever => return None,
    };
    let start = offset(utc_offset_minutes)
        .from_local_datetime(&first_day.and_hms_opt(0, 0, 0)?)
        .single()?;
    Some(start.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::MemberFacts;
    use serde_json::json;

    #[test]
    fn member_facts_come_from_attributes() {
        let attributes = json!({"segments": ["vip", "", 7], "cardCategory": "gold", "age": 42});
        let facts = MemberFacts::from_attributes(attributes.as_object().unwrap());
        assert_eq!(facts.segments.iter().collect::<Vec<_>>(), ["7", "vip"]);
        assert_eq!(facts.card_category.as_deref(), Some("gold"));
        assert_eq!(facts.attributes["age"], "42");
        let listed = json!({"segments": " a, b ,,", "cardCategory": ""});
        let facts = MemberFacts::from_attributes(listed.as_object().unwrap());
        assert_eq!(facts.segments.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(facts.card_category, None);
    }
}
