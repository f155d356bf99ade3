//! Double-entry postings. Every operation is one posting whose entries sum to zero per
//! currency; entries are never changed, corrections are new postings.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an account is for. Every currency of a program has one account of each system
/// kind; a member has one wallet per currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// The member's points.
    Wallet,
    /// Where the program's points come from (the other side of every accrual).
    Issuance,
    /// Where spent points go.
    Redemption,
    /// Where expired points go.
    Expiry,
    /// Points reserved by open holds.
    Holding,
}

impl AccountKind {
    pub const SYSTEM: [AccountKind; 4] = [
        AccountKind::Issuance,
        AccountKind::Redemption,
        AccountKind::Expiry,
        AccountKind::Holding,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Wallet => "wallet",
            AccountKind::Issuance => "issuance",
            AccountKind::Redemption => "redemption",
            AccountKind::Expiry => "expiry",
            AccountKind::Holding => "holding",
        }
    }

    /// System accounts take writes from every member at once; their cached balance is
    /// spread over up to this many rows so concurrent postings do not queue on one row.
    pub fn balance_shards(self) -> i64 {
        match self {
            AccountKind::Wallet => 1,
            _ => 64,
        }
    }
}

/// The business meaning of a posting; history filters by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostingKind {
    Accrual,
    Withdrawal,
    HoldReserve,
    HoldCapture,
    HoldVoid,
    Expiry,
    /// Bonuses that paid for a refunded purchase come back (redemption → wallet).
    Refund,
    /// The accrual a refunded purchase earned is taken back (wallet → issuance).
    AccrualReversal,
}

impl PostingKind {
    pub const ALL: [PostingKind; 8] = [
        PostingKind::Accrual,
        PostingKind::Withdrawal,
        PostingKind::HoldReserve,
        PostingKind::HoldCapture,
        PostingKind::HoldVoid,
        PostingKind::Expiry,
        PostingKind::Refund,
        PostingKind::AccrualReversal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostingKind::Accrual => "accrual",
            PostingKind::Withdrawal => "withdrawal",
            PostingKind::HoldReserve => "hold_reserve",
            PostingKind::HoldCapture => "hold_capture",
            PostingKind::HoldVoid => "hold_void",
            PostingKind::Expiry => "expiry",
            PostingKind::Refund => "refund",
            PostingKind::AccrualReversal => "accrual_reversal",
        }
    }

    pub fn parse(text: &str) -> Option<PostingKind> {
        PostingKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One line of a posting: a signed amount on an account, in the account's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub account: i64,
    pub currency: i64,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    #[error("a posting needs at least two entries")]
    TooFewEntries,
    #[error("an entry of zero is not allowed")]
    ZeroEntry,
    #[error("entries of currency {currency} sum to {sum}, not zero")]
    Unbalanced { currency: i64, sum: i64 },
    #[error("amount overflows")]
    Overflow,
}

/// A validated set of entries, sorted by account so that every writer takes row locks
/// in the same order (no deadlocks between concurrent postings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    entries: Vec<Entry>,
}

impl Posting {
    pub fn new(mut entries: Vec<Entry>) -> Result<Posting, PostingError> {
        if entries.len() < 2 {
            return Err(PostingError::TooFewEntries);
        }
        let mut sums: BTreeMap<i64, i64> = BTreeMap::new();
        for e in &entries {
            if e.amount == 0 {
                return Err(PostingError::ZeroEntry);
            }
            let sum = sums.entry(e.currency).or_default();
            *sum = sum.checked_add(e.amount).ok_or(PostingError::Overflow)?;
        }
        if let Some((&currency, &sum)) = sums.iter().find(|(_, s)| **s != 0) {
            return Err(PostingError::Unbalanced { currency, sum });
        }
        entries.sort_by_key(|e| e.account);
        Ok(Posting { entries })
    }

    /// Moves `amount` from one account to another.
    pub fn transfer(currency: i64, from: i64, to: i64, amount: i64) -> Result<Posting, PostingError> {
        let negated = amount.checked_neg().ok_or(PostingError::Overflow)?;
        Posting::new(vec![
            Entry {
                account: from,
                currency,
                amount: negated,
            },
            Entry {
                account: to,
                currency,
                amount,
            },
        ])
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_transfer_balances() {
        let p = Posting::transfer(1, 20, 10, 500).unwrap();
        assert_eq!(
            p.entries()[0],
            Entry {
                account: 10,
                currency: 1,
                amount: 500
            }
        );
        assert_eq!(
            p.entries()[1],
            Entry {
                account: 20,
                currency: 1,
                amount: -500
            }
        );
    }

    #[test]
    fn unbalanced_and_degenerate_postings_are_refused() {
        let e = |account, currency, amount| Entry {
            account,
            currency,
            amount,
        };
        assert_eq!(Posting::new(vec![e(1, 1, 5)]), Err(PostingError::TooFewEntries));
        assert_eq!(Posting::new(vec![e(1, 1, 0), e(2, 1, 0)]), Err(PostingError::ZeroEntry));
        assert_eq!(
            Posting::new(vec![e(1, 1, 5), e(2, 2, -5)]),
            Err(PostingError::Unbalanced { currency: 1, sum: 5 })
        );
        assert_eq!(
            Posting::new(vec![e(1, 1, i64::MAX), e(2, 1, 1), e(3, 1, -1)]),
            Err(PostingError::Overflow)
        );
    }

    #[test]
    fn kinds_round_trip_through_text() {
        for kind in PostingKind::ALL {
            assert_eq!(PostingKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PostingKind::parse("bogus"), None);
    }

    proptest! {
        #[test]
        fn accepted_postings_sum_to_zero_per_currency(
            amounts in proptest::collection::vec((0_i64..3, -1000_i64..1000), 2..8)
        ) {
            let entries: Vec<Entry> = amounts.iter().enumerate()
                .map(|(i, (c, a))| Entry { account: i as i64, currency: *c, amount: *a })
                .collect();
            if let Ok(p) = Posting::new(entries) {
                for c in 0..3 {
                    let sum: i64 = p.entries().iter().filter(|e| e.currency == c).map(|e| e.amount).sum();
                    prop_assert_eq!(sum, 0);
                }
                prop_assert!(p.entries().windows(2).all(|w| w[0].account <= w[1].account));
            }
        }
    }
}
