//! Lots: every credit to a wallet is a lot with an activation and an expiry date.
//! Spending consumes usable lots oldest first; releasing a reservation gives points
//! back to the lots it took them from, newest first.

use crate::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lot {
    pub id: i64,
    pub remaining: i64,
    pub activates_at: Millis,
    pub expires_at: Option<Millis>,
}

impl Lot {
    /// Usable now: activated and not expired.
    pub fn is_usable(&self, now: Millis) -> bool {
        self.activates_at <= now && self.expires_at.is_none_or(|e| e > now)
    }
}

/// How much to take from which lot.
pub type Allocation = Vec<(i64, i64)>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("only {usable} points are usable now")]
pub struct NotEnoughUsable {
    pub usable: i64,
}

/// Takes `amount` from the usable lots, oldest activation first. Lots must be given in
/// their age order (activation, then id).
pub fn allocate(lots: &[Lot], amount: i64, now: Millis) -> Result<Allocation, NotEnoughUsable> {
    let mut left = amount;
    let mut taken = Vec::new();
    for lot in lots.iter().filter(|l| l.remaining > 0 && l.is_usable(now)) {
        if left == 0 {
            break;
        }
        let take = left.min(lot.remaining);
        taken.push((lot.id, take));
        left -= take;
    }
    if left > 0 {
        return Err(NotEnoughUsable {
            usable: usable(lots, now),
        });
    }
    Ok(taken)
}

pub fn usable(lots: &[Lot], now: Millis) -> i64 {
    lots.iter().filter(|l| l.is_usable(now)).map(|l| l.remaining).sum()
}

/// Gives `amount` back to the lots of an earlier allocation, the last taken first, so
/// that what stays spent is the oldest.
pub fn release(taken: &[(i64, i64)], amount: i64) -> Allocation {
    let mut left = amount;
    let mut back = Vec::new();
    for &(lot, took) in taken.iter().rev() {
        if left == 0 {
            break;
        }
        let give = left.min(took);
        back.push((lot, give));
        left -= give;
    }
    back
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lot(id: i64, remaining: i64, activates_at: Millis, expires_at: Option<Millis>) -> Lot {
        Lot {
            id,
            remaining,
            activates_at,
            expires_at,
        }
    }

    #[test]
    fn spends_oldest_first_and_skips_unusable_lots() {
        let lots = [
            lot(1, 5, 0, Some(50)), // expired at 100
            lot(2, 3, 10, None),
            lot(3, 10, 200, None), // not active yet
            lot(4, 4, 20, Some(500)),
        ];
        assert_eq!(allocate(&lots, 5, 100), Ok(vec![(2, 3), (4, 2)]));
        assert_eq!(allocate(&lots, 8, 100), Err(NotEnoughUsable { usable: 7 }));
        assert_eq!(usable(&lots, 300), 17);
    }

    #[test]
    fn release_returns_newest_taken_first() {
        assert_eq!(release(&[(1, 3), (2, 4)], 5), vec![(2, 4), (1, 1)]);
        assert_eq!(release(&[(1, 3), (2, 4)], 7), vec![(2, 4), (1, 3)]);
    }

    proptest! {
        #[test]
        fn allocation_takes_exactly_the_amount_from_usable_lots(
            specs in proptest::collection::vec((0_i64..50, 0_i64..100, proptest::option::of(0_i64..200)), 0..10),
            amount in 1_i64..200,
            now in 0_i64..200,
        ) {
            let lots: Vec<Lot> = specs.iter().enumerate()
                .map(|(i, (r, a, e))| lot(i as i64, *r, *a, *e)).collect();
            match allocate(&lots, amount, now) {
                Ok(taken) => {
                    prop_assert_eq!(taken.iter().map(|t| t.1).sum::<i64>(), amount);
                    for (id, take) in &taken {
                        let l = lots[*id as usize];
                        prop_assert!(l.is_usable(now) && *take > 0 && *take <= l.remaining);
                    }
                    let released = release(&taken, amount);
                    prop_assert_eq!(released.iter().map(|t| t.1).sum::<i64>(), amount);
                }
                Err(e) => prop_assert!(e.usable < amount),
            }
        }
    }
}
