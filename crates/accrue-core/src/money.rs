//! Amounts: integers in minor units at the edge of the system, decimals only when
//! parsing and rendering.

use rust_decimal::Decimal;
use std::str::FromStr;

/// The largest number of decimal places a currency may have.
pub const MAX_SCALE: u32 = 6;

/// The largest single amount Accrue takes from outside, in minor units: 10^15 (ten
/// trillion at two decimals). A thousand of them still sum far inside `i64`.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be a decimal number, got {0:?}")]
    NotANumber(String),
    #[error("amount must be greater than zero")]
    NotPositive,
    #[error("amount has more than {scale} decimal places")]
    TooPrecise { scale: u32 },
    #[error("amount is too large")]
    TooLarge,
}

/// Converts a decimal amount into minor units of a currency with `scale` decimals.
/// Rejects zero, negatives, amounts finer than the currency allows and amounts over
/// [`MAX_AMOUNT`].
pub fn to_minor(amount: Decimal, scale: u32) -> Result<i64, AmountError> {
    if amount <= Decimal::ZERO {
        return Err(AmountError::NotPositive);
    }
    let normalized = amount.normalize();
    if normalized.scale() > scale {
        return Err(AmountError::TooPrecise { scale });
    }
    let factor = Decimal::from(10_i64.pow(scale));
    let minor = normalized.checked_mul(factor).ok_or(AmountError::TooLarge)?;
    i64::try_from(minor.mantissa() / 10_i128.pow(minor.scale()))
        .ok()
        .filter(|minor| *minor <= MAX_AMOUNT)
        .ok_or(AmountError::TooLarge)
}

/// The longest text read as an amount, in bytes.
pub const MAX_AMOUNT_TEXT: usize = 64;

/// Parses text such as `"76.5"` or `"100.00"` into minor units.
pub fn parse_minor(text: &str, scale: u32) -> Result<i64, AmountError> {
    if text.len() > MAX_AMOUNT_TEXT {
        return Err(AmountError::NotANumber(text.chars().take(MAX_AMOUNT_TEXT).collect()));
    }
    let amount = Decimal::from_str(text.trim()).map_err(|_| AmountError::NotANumber(text.into()))?;
    to_minor(amount, scale)
}

/// Renders minor units as a decimal with exactly `scale` places: `1250, 2 → "12.50"`.
pub fn to_decimal(minor: i64, scale: u32) -> Decimal {
    Decimal::from_i128_with_scale(minor as i128, scale)
}

pub fn format_minor(minor: i64, scale: u32) -> String {
    to_decimal(minor, scale).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documents_amounts() {
        assert_eq!(parse_minor("76.5", 2), Ok(7650));
        assert_eq!(parse_minor("100.00", 2), Ok(10000));
        assert_eq!(parse_minor("10", 0), Ok(10));
        assert_eq!(parse_minor("1.500", 2), Ok(150));
    }

    #[test]
    fn rejects_bad_amounts() {
        assert_eq!(parse_minor("0", 2), Err(AmountError::NotPositive));
        assert_eq!(parse_minor("-1", 2), Err(AmountError::NotPositive));
        assert_eq!(parse_minor("1.001", 2), Err(AmountError::TooPrecise { scale: 2 }));
        assert_eq!(parse_minor("0.5", 0), Err(AmountError::TooPrecise { scale: 0 }));
        assert!(matches!(parse_minor("ten", 2), Err(AmountError::NotANumber(_))));
        assert_eq!(parse_minor("100000000000000000000", 2), Err(AmountError::TooLarge));
        assert_eq!(parse_minor("92233720368547758.07", 2), Err(AmountError::TooLarge));
        assert_eq!(parse_minor("10000000000000", 2), Ok(MAX_AMOUNT));
        assert_eq!(parse_minor("10000000000000.01", 2), Err(AmountError::TooLarge));
    }

    #[test]
    fn formats_with_the_currency_scale() {
        assert_eq!(format_minor(1250, 2), "12.50");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(7, 0), "7");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(minor in 1_i64..=MAX_AMOUNT, scale in 0_u32..=MAX_SCALE) {
            prop_assert_eq!(parse_minor(&format_minor(minor, scale), scale), Ok(minor));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}", scale in 0_u32..=MAX_SCALE) {
            let _ = parse_minor(&text, scale);
        }
    }
}
