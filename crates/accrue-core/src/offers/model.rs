//! Offers as typed data: what the admin API stores and returns as JSON.

use chrono::{NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use super::rate::Rate;

/// One offer of a program. Amounts are in minor units of the program's currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    pub id: String,
    pub name: String,
    /// Higher runs first; ties run in `id` order.
    #[serde(default)]
    pub priority: i32,
    /// Once an exclusive offer applies, no offer after it (lower priority) is considered.
    #[serde(default)]
    pub exclusive: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// All must hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub effects: Vec<Effect>,
    /// Per-member limits; an offer with caps never applies to an anonymous cheque.
    #[serde(default)]
    pub caps: Vec<Cap>,
    /// How members' apps present the offer; an offer without one is not shown to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub showcase: Option<Showcase>,
}

/// The offer as members read about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Showcase {
    pub title: String,
    pub description: String,
    /// Picture addresses (`https://…`), the first the main one.
    #[serde(default)]
    pub images: Vec<String>,
}

impl Offer {
    /// The window of the offer's `period` condition, if it has one.
    pub fn period(&self) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
        let found = self.conditions.iter().find_map(|c| match c {
            Condition::Period { from, until } => Some((*from, *until)),
            _ => None,
        });
        found.unwrap_or_default()
    }

    /// The goods its `goods` conditions name.
    pub fn goods_ids(&self) -> impl Iterator<Item = &String> {
        self.conditions.iter().flat_map(|c| match c {
            Condition::Goods { ids } => &ids[..],
            _ => &[],
        })
    }

    /// The merchants the offer is limited to; `None` when it holds at every merchant.
    pub fn merchant_codes(&self) -> Option<&[String]> {
        self.conditions.iter().find_map(|c| match c {
            Condition::Merchant { codes } => Some(&codes[..]),
            _ => None,
        })
    }
}

fn yes() -> bool {
    true
}

/// Conditions. Those marked *line selector* also choose the offer's matching lines: a line
/// matches when it satisfies every line selector of the offer; without selectors every
/// line matches. An offer whose selectors match no line does not apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Program-local date and time window, `until` exclusive.
    Period {
        #[serde(default)]
        from: Option<NaiveDateTime>,
        #[serde(default)]
        until: Option<NaiveDateTime>,
    },
    /// Program-local time of day, `until` exclusive; `from > until` wraps past midnight.
    TimeOfDay { from: NaiveTime, until: NaiveTime },
    /// Program-local day of the week.
    Weekdays { days: Vec<Weekday> },
    /// Line selector: the line's goods id is one of these.
    Goods { ids: Vec<String> },
    /// Line selector: the line's barcode is one of these.
    Barcodes { barcodes: Vec<String> },
    /// Line selector: the line's goods belong (by the catalogue) to one of these groups.
    GoodsGroups { groups: Vec<String> },
    /// Line selector: every one of these goods ids is on the cheque; lines of the set match.
    BoughtTogether { ids: Vec<String> },
    /// The matching lines hold at least this quantity in total.
    MinQuantity { quantity: Rate },
    /// The cheque amount as sent by the till (after its own discounts) is at least this.
    MinAmount { amount: i64 },
    /// The cheque carries one of these coupon numbers (codes anyone may enter), or a
    /// coupon of one of these series issued to the member and still valid (used up by
    /// the purchase's Confirm).
    Coupon {
        #[serde(default)]
        numbers: Vec<String>,
        #[serde(default)]
        series: Vec<String>,
    },
    /// The member belongs to one of these segments.
    Segment { segments: Vec<String> },
    /// The member's attribute `name` has one of these values.
    Attribute { name: String, values: Vec<String> },
    /// The member's card is of one of these categories.
    CardCategory { categories: Vec<String> },
    /// This is the member's first purchase.
    FirstPurchase,
    /// The purchase is made at one of these merchants.
    Merchant { codes: Vec<String> },
    /// The purchase is made at one of these locations (shops, tills, sites).
    Location { codes: Vec<String> },
}

impl Condition {
    pub fn selects_lines(&self) -> bool {
        matches!(
            self,
            Condition::Goods { .. }
                | Condition::Barcodes { .. }
                | Condition::GoodsGroups { .. }
                | Condition::BoughtTogether { .. }
        )
    }
}

/// Which lines an effect works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The offer's matching lines.
    #[default]
    Lines,
    /// Every line of the cheque.
    Cheque,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Effect {
    /// `lines`: each line's discount rounded half up; `cheque`: the total rounded half up,
    /// then spread over the lines by largest remainder.
    DiscountPercent {
        percent: Rate,
        #[serde(default)]
        target: Target,
    },
    /// This much off the target lines together, spread by largest remainder.
    DiscountFixed {
        amount: i64,
        #[serde(default)]
        target: Target,
    },
    /// Accrues this percent of what the target lines were paid with money.
    BonusPercent {
        percent: Rate,
        #[serde(default)]
        target: Target,
    },
    /// Accrues this fixed amount once per purchase.
    BonusFixed {
        amount: i64,
    },
    /// Multiplies the percentage accrual of the target lines (from all applied offers):
    /// factor 2 doubles it. Several multipliers add their extra: ×2 and ×3 give ×4.
    BonusMultiplier {
        factor: Rate,
        #[serde(default)]
        target: Target,
    },
    /// At most this percent of each target line may be paid with bonuses. The highest
    /// priority offer that sets it for a line decides.
    MaxBonusPayment {
        percent: Rate,
        #[serde(default)]
        target: Target,
    },
    ChequeMessage {
        text: String,
    },
    CashierMessage {
        text: String,
    },
    /// The purchase's Confirm issues the member a coupon of this series (for a next
    /// purchase); nothing for an anonymous cheque.
    IssueCoupon {
        series: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Cap {
    /// At most `max` purchases with this offer per period.
    Applications { period: Period, max: u32 },
    /// At most `max` discount from this offer per period.
    Discount { period: Period, max: i64 },
    /// At most `max` bonuses accrued by this offer per period.
    Bonus { period: Period, max: i64 },
}

impl Cap {
    pub fn period(&self) -> Period {
        match self {
            Cap::Applications { period, .. } | Cap::Discount { period, .. } | Cap::Bonus { period, .. } => *period,
        }
    }
}

/// Calendar periods in program-local time; weeks start on Monday; `ever` never resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
    Ever,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub fn of(day: chrono::Weekday) -> Weekday {
        match day {
            chrono::Weekday::Mon => Weekday::Monday,
            chrono::Weekday::Tue => Weekday::Tuesday,
            chrono::Weekday::Wed => Weekday::Wednesday,
            chrono::Weekday::Thu => Weekday::Thursday,
            chrono::Weekday::Fri => Weekday::Friday,
            chrono::Weekday::Sat => Weekday::Saturday,
            chrono::Weekday::Sun => Weekday::Sunday,
        }
    }
}
