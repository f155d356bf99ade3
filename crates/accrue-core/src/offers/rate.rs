//! Decimal numbers in offer JSON (percents, factors, quantities), written as `10`, `10.5` or `"10.5"`.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rate(pub Decimal);

impl Rate {
    pub fn value(self) -> Decimal {
        self.0
    }
}

impl From<i64> for Rate {
    fn from(value: i64) -> Rate {
        Rate(Decimal::from(value))
    }
}

impl FromStr for Rate {
    type Err = rust_decimal::Error;
    fn from_str(text: &str) -> Result<Rate, Self::Err> {
        Decimal::from_str(text.trim()).map(Rate)
    }
}

/// A JSON number when it survives the trip through `f64` unchanged, otherwise a string.
impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(integer) = self.0.fract().is_zero().then(|| self.0.to_i64()).flatten() {
            return serializer.serialize_i64(integer);
        }
        let exact = self
            .0
            .to_f64()
            .filter(|f| Decimal::from_str(&f.to_string()).ok() == Some(self.0.normalize()));
        match exact {
            Some(f) => serializer.serialize_f64(f),
            None => serializer.serialize_str(&self.0.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Rate, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Integer(i64),
            Float(f64),
            Text(String),
        }
        let parsed = match Written::deserialize(deserializer)? {
            Written::Integer(i) => Ok(Decimal::from(i)),
            // Shortest round-trip text of the float, so 10.1 stays 10.1.
            Written::Float(f) => Decimal::from_str(&f.to_string()),
            Written::Text(s) => Decimal::from_str(s.trim()),
        };
        parsed
            .map(Rate)
            .map_err(|_| de::Error::custom("expected a decimal number such as 10 or 12.5"))
    }
}
