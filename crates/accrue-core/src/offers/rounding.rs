//! Integer money arithmetic: percentages rounded to minor units and proportional splits.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// `amount × percent / 100`, rounded half up (away from zero) to minor units.
pub fn percent_half_up(amount: i64, percent: Decimal) -> i64 {
    round(
        Decimal::from(amount) * percent / Decimal::ONE_HUNDRED,
        RoundingStrategy::MidpointAwayFromZero,
    )
}

/// `amount × percent / 100`, rounded down: used for limits, which must never be exceeded.
pub fn percent_floor(amount: i64, percent: Decimal) -> i64 {
    round(
        Decimal::from(amount) * percent / Decimal::ONE_HUNDRED,
        RoundingStrategy::ToNegativeInfinity,
    )
}

/// `amount × part / whole` rounded half up; `whole` must be positive.
pub fn share_half_up(amount: i64, part: Decimal, whole: Decimal) -> i64 {
    round(
        Decimal::from(amount) * part / whole,
        RoundingStrategy::MidpointAwayFromZero,
    )
}

fn round(value: Decimal, strategy: RoundingStrategy) -> i64 {
    value
        .round_dp_with_strategy(0, strategy)
        .to_i64()
        .unwrap_or(if value.is_sign_negative() { i64::MIN } else { i64::MAX })
}

/// Spreads `total` over `weights` proportionally by the largest remainder method: each
/// part is first rounded down, then the units left go one each to the largest remainders,
/// ties to the lowest index. Parts sum exactly to `total`; when `0 ≤ total ≤ sum(weights)`
/// none exceeds its weight. Negative weights count as zero; when all weights are zero the
/// split is equal. A negative `total` is spread like its absolute value, negated. With no
/// weights there is nowhere to put anything and the result is empty.
pub fn distribute(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    if total < 0 {
        return distribute(total.checked_neg().unwrap_or(i64::MAX), weights)
            .into_iter()
            .map(|p| -p)
            .collect();
    }
    let mut clean: Vec<i128> = weights.iter().map(|&w| i128::from(w.max(0))).collect();
    if clean.iter().all(|&w| w == 0) {
        clean.iter_mut().for_each(|w| *w = 1);
    }
    let sum: i128 = clean.iter().sum();
    let total = i128::from(total);
    let mut parts: Vec<i128> = clean.iter().map(|w| total * w / sum).collect();
    let left = total - parts.iter().sum::<i128>();
    let mut by_remainder: Vec<usize> = (0..clean.len()).collect();
    // Stable sort keeps the lowest index first among equal remainders.
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(total * clean[i] % sum));
    // Fewer units are left than there are parts, so each gets at most one.
    for &i in by_remainder.iter().take(left as usize) {
        parts[i] += 1;
    }
    parts.into_iter().map(|p| p as i64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_half_up_or_down() {
        assert_eq!(percent_half_up(8500, Decimal::TEN), 850);
        assert_eq!(percent_half_up(5, Decimal::TEN), 1); // 0.5 → 1
        assert_eq!(percent_half_up(4, Decimal::TEN), 0); // 0.4 → 0
        assert_eq!(percent_floor(7650, Decimal::from(50)), 3825);
        assert_eq!(percent_floor(19, Decimal::TEN), 1); // 1.9 → 1
    }

    #[test]
    fn distributes_by_largest_remainder_lowest_index_first() {
        assert_eq!(distribute(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(distribute(2, &[1, 1, 1]), vec![1, 1, 0]);
        assert_eq!(distribute(100, &[50, 30, 20]), vec![50, 30, 20]);
        assert_eq!(distribute(7, &[0, 5, 0]), vec![0, 7, 0]);
        assert_eq!(distribute(5, &[0, 0]), vec![3, 2]);
        assert_eq!(distribute(-10, &[1, 1, 1]), vec![-4, -3, -3]);
        assert_eq!(distribute(3, &[]), Vec::<i64>::new());
        assert_eq!(distribute(5, &[3, 1, 1]), vec![3, 1, 1]);
        assert_eq!(
            distribute(i64::MAX, &[i64::MAX, i64::MAX])
                .iter()
                .map(|&p| p as i128)
                .sum::<i128>(),
            i64::MAX as i128
        );
    }
}
