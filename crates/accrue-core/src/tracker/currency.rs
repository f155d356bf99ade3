//! Currencies of affiliate payouts and their amounts. Tracker amounts are kept in
//! millionths of the currency unit ("micros"), whatever the currency: payouts often
//! carry more decimals than the currency's coins (`0.125` USD), and one scale keeps
//! sums simple.

use crate::money::{to_decimal, to_minor, AmountError};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Decimal places of a stored amount.
pub const SCALE: u32 = 6;

/// ISO 4217 codes in use, plus the crypto units affiliate networks pay in.
const CODES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN \
BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD \
GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR \
LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP \
PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL THB TJS TMT TND TOP TRY \
TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL BTC ETH USDT USDC";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("unknown currency {0:?}; use an ISO 4217 code such as USD")]
    Unknown(String),
}

/// The currency code in upper case, if it is one we know (`usd` → `USD`).
pub fn normalize(code: &str) -> Result<String, CurrencyError> {
    let upper = code.trim().to_ascii_uppercase();
    if !upper.is_empty() && CODES.split(' ').any(|c| c == upper) {
        Ok(upper)
    } else {
        Err(CurrencyError::Unknown(code.to_string()))
    }
}

/// Parses a payout such as `"76.5"` into micros. Zero is allowed (a registration with
/// a zero cost, say); negatives, text and more than six decimals are not.
pub fn parse_amount(text: &str) -> Result<i64, AmountError> {
    if text.len() > crate::money::MAX_AMOUNT_TEXT {
        return Err(AmountError::NotANumber(
            text.chars().take(crate::money::MAX_AMOUNT_TEXT).collect(),
        ));
    }
    let trimmed = text.trim();
    let amount = Decimal::from_str(trimmed).map_err(|_| AmountError::NotANumber(text.into()))?;
    if amount.is_zero() {
        return Ok(0);
    }
    to_minor(amount, SCALE)
}

/// Micros as a decimal without trailing zeros beyond two places: `12_500_000` → `"12.50"`.
pub fn format_amount(micros: i64) -> String {
    let mut value = to_decimal(micros, SCALE).normalize();
    if value.scale() < 2 {
        value.rescale(2);
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn currencies_are_known_in_any_case() {
        assert_eq!(normalize("usd"), Ok("USD".into()));
        assert_eq!(normalize(" Eur "), Ok("EUR".into()));
        assert_eq!(normalize("USDT"), Ok("USDT".into()));
        assert!(normalize("XYZ").is_err());
        assert!(normalize("").is_err());
        assert!(normalize("US").is_err());
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("76.5"), Ok(76_500_000));
        assert_eq!(parse_amount("100.00"), Ok(100_000_000));
        assert_eq!(parse_amount("0"), Ok(0));
        assert_eq!(parse_amount("0.000001"), Ok(1));
        assert!(parse_amount("0.0000001").is_err());
        assert!(parse_amount("-5").is_err());
        assert!(parse_amount("{amount}").is_err());
        assert!(parse_amount("12,50").is_err());
        assert_eq!(format_amount(12_500_000), "12.50");
        assert_eq!(format_amount(100_000_000), "100.00");
        assert_eq!(format_amount(125_000), "0.125");
        assert_eq!(format_amount(0), "0.00");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(micros in 0_i64..=crate::money::MAX_AMOUNT) {
            prop_assert_eq!(parse_amount(&format_amount(micros)), Ok(micros));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = parse_amount(&text);
        }
    }
}
