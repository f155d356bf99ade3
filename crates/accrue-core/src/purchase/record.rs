//! What a purchase keeps of its pricing, and what a member's history shows of it.

use serde::{Deserialize, Serialize};

use crate::offers::{Accrual, Calculation, OfferUsage, RefundShare, Usage};
use rust_decimal::Decimal;

/// The pricing a purchase keeps from Payment or Bonus, for Confirm and Refund.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricedCheque {
    pub calculation: Calculation,
    /// Set by Bonus; none while only paid with bonuses.
    pub accrual: Option<Accrual>,
    /// What each line sold, in the order of the calculation's lines.
    #[serde(default)]
    pub goods: Vec<Goods>,
    /// The cheque's number as the till printed it.
    #[serde(default)]
    pub number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Goods {
    pub position: u32,
    pub goods_id: Option<String>,
    pub barcode: Option<String>,
    /// The line's name as the till printed it.
    #[serde(default)]
    pub name: Option<String>,
}

impl PricedCheque {
    /// What the confirmed purchase counts against each applied offer's caps. `accrued` is
    /// false when the accrual was never set or was canceled: then no offer gave bonuses.
    pub fn usage(&self, accrued: bool) -> Vec<OfferUsage> {
        match &self.accrual {
            Some(a) if accrued => a.usage.clone(),
            _ => self
                .calculation
                .applied
                .iter()
                .map(|applied| OfferUsage {
                    offer_id: applied.offer_id.clone(),
                    usage: Usage {
                        applications: 1,
                        discount: applied.discount,
                        bonus: 0,
                    },
                })
                .collect(),
        }
    }

    fn goods_at(&self, position: u32) -> Goods {
        let found = self.goods.iter().find(|g| g.position == position);
        found.cloned().unwrap_or(Goods {
            position,
            ..Goods::default()
        })
    }
}

/// A member's history entry for a confirmed purchase or for one refund of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseEntry {
    pub is_refund: bool,
    pub items: Vec<EntryItem>,
    /// The cheque total, or the refunded part of it.
    pub amount: i64,
    /// Bonuses that left the member: the bonus payment, or the accrual taken back.
    pub withdrawn: i64,
    /// Bonuses the member got: per offer accrued, or (offer `None`) the payment returned.
    pub rewards: Vec<EntryReward>,
    /// The cheque's number as the till printed it.
    #[serde(default)]
    pub cheque_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryItem {
    pub goods: Goods,
    /// The goods' name in the catalogue when it has one.
    pub name: Option<String>,
    pub quantity: Decimal,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryReward {
    pub offer_id: Option<String>,
    pub amount: i64,
    /// A discount the offer gave off the cheque (money), not bonuses.
    #[serde(default)]
    pub discount: bool,
}

impl PurchaseEntry {
    /// The entry of a confirmed purchase that was paid `bonus_paid` with bonuses and
    /// accrued `accrued`.
    pub fn purchase(cheque: &PricedCheque, bonus_paid: i64, accrued: i64) -> PurchaseEntry {
        let calc = &cheque.calculation;
        let items = calc.lines.iter().map(|l| EntryItem {
            goods: cheque.goods_at(l.position),
            name: None,
            quantity: l.quantity,
            amount: l.amount,
        });
        let rewards = match &cheque.accrual {
            Some(a) if accrued == a.total => a
                .usage
                .iter()
                .filter(|u| u.usage.bonus > 0)
                .map(|u| EntryReward {
                    offer_id: Some(u.offer_id.clone()),
                    amount: u.usage.bonus,
                    discount: false,
                })
                .collect(),
            _ => reward(None, accrued),
        };
        let discounts = calc.applied.iter().filter(|a| a.discount > 0).map(|a| EntryReward {
            offer_id: Some(a.offer_id.clone()),
            amount: a.discount,
            discount: true,
        });
        PurchaseEntry {
            is_refund: false,
            items: items.collect(),
            amount: calc.total_amount,
            withdrawn: bonus_paid,
            rewards: discounts.chain(rewards).collect(),
            cheque_number: cheque.number.clone(),
        }
    }

    /// The entry of one refund: the lines it refunded, the bonus payment it returned and
    /// the accrual it actually took back.
    pub fn refund(cheque: &PricedCheque, share: &RefundShare, taken_back: i64) -> PurchaseEntry {
        let items = share.lines.iter().map(|l| EntryItem {
            goods: cheque.goods_at(l.position),
            name: None,
            quantity: l.quantity,
            amount: l.amount,
        });
        PurchaseEntry {
            is_refund: true,
            items: items.collect(),
            amount: share.lines.iter().map(|l| l.amount).sum(),
            withdrawn: taken_back,
            rewards: reward(None, share.bonus_returned),
            cheque_number: cheque.number.clone(),
        }
    }

    /// The goods ids of the items, to look their names up.
    pub fn goods_ids(&self) -> Vec<String> {
        self.items.iter().filter_map(|i| i.goods.goods_id.clone()).collect()
    }
}

fn reward(offer_id: Option<String>, amount: i64) -> Vec<EntryReward> {
    if amount > 0 {
        vec![EntryReward {
            offer_id,
            amount,
            discount: false,
        }]
    } else {
        Vec::new()
    }
}
