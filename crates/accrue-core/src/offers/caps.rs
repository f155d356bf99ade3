//! Per-member caps: how much of an offer a member may still get in the current periods.

use super::context::Context;
use super::model::{Cap, Offer};

/// What is left under an offer's caps; `None` fields are uncapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allowance {
    pub discount: Option<i64>,
    pub bonus: Option<i64>,
}

impl Allowance {
    /// `None` when the offer may not apply at all: a cap is used up, or the offer has caps
    /// and the cheque is anonymous (there is nobody to count the usage against).
    pub fn of(offer: &Offer, ctx: &Context) -> Option<Allowance> {
        let mut allowance = Allowance {
            discount: None,
            bonus: None,
        };
        if offer.caps.is_empty() {
            return Some(allowance);
        }
        ctx.member?;
        for cap in &offer.caps {
            let used = ctx.usage.get(&offer.id, cap.period());
            match *cap {
                Cap::Applications { max, .. } => {
                    if used.applications >= max {
                        return None;
                    }
                }
                Cap::Discount { max, .. } => tighten(&mut allowance.discount, max - used.discount)?,
                Cap::Bonus { max, .. } => tighten(&mut allowance.bonus, max - used.bonus)?,
            }
        }
        Some(allowance)
    }
}

/// Keeps the smallest positive remainder; `None` when nothing remains.
fn tighten(limit: &mut Option<i64>, left: i64) -> Option<()> {
    if left <= 0 {
        return None;
    }
    *limit = Some(limit.map_or(left, |l| l.min(left)));
    Some(())
}
