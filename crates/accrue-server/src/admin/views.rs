//! Shapes the admin API renders and the conversions at its edge: decimal amounts and
//! RFC 3339 times in, minor units and milliseconds inside.

pub use crate::format::time;
use crate::ApiError;
use accrue_core::money;
use accrue_core::Millis;
use accrue_store::{ChosenLimits, Currency};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A decimal amount, as a JSON string (`"12.50"`, exact) or number (`12.5`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Amount {
    Text(String),
    Number(serde_json::Number),
}

impl Amount {
    pub fn to_minor(&self, currency: &Currency) -> Result<i64, ApiError> {
        self.minor_at(currency.scale, "amount")
    }

    /// Minor units at `scale` decimals; errors name `field`.
    pub fn minor_at(&self, scale: u32, field: &str) -> Result<i64, ApiError> {
        let text = match self {
            Amount::Text(t) => t.clone(),
            Amount::Number(n) => n.to_string(),
        };
        money::parse_minor(&text, scale)
            .map_err(|e| ApiError::invalid(format!("{field}: {e}")).with_details(serde_json::json!({"field": field})))
    }
}

/// A currency's bounds as decimals; absent or null is the built-in default
/// (10 000 000 000.00 an operation and 10 000 000 000 000.00 a balance at two decimals).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsInput {
    /// The largest single accrual, withdrawal or hold.
    #[schema(value_type = Option<String>)]
    pub max_operation: Option<Amount>,
    /// The largest balance an accrual may bring a wallet to.
    #[schema(value_type = Option<String>)]
    pub max_balance: Option<Amount>,
}

impl LimitsInput {
    pub fn chosen(&self, scale: u32) -> Result<ChosenLimits, ApiError> {
        let minor = |a: &Option<Amount>, field| a.as_ref().map(|a| a.minor_at(scale, field)).transpose();
        Ok(ChosenLimits {
            max_operation: minor(&self.max_operation, "max_operation")?,
            max_balance: minor(&self.max_balance, "max_balance")?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LimitsView {
    pub max_operation: String,
    pub max_balance: String,
}

/// Money (a cheque's amounts, in kopecks or cents) with two decimals.
pub fn money(minor: i64) -> String {
    rust_decimal::Decimal::new(minor, 2).to_string()
}

pub fn decimal(minor: i64, currency: &Currency) -> String {
    money::format_minor(minor, currency.scale)
}

pub fn millis(t: &DateTime<FixedOffset>) -> Millis {
    t.timestamp_millis()
}

/// The Loymax `nameCases` of a currency.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameCases {
    #[serde(default)]
    pub nominative: String,
    #[serde(default)]
    pub genitive: String,
    #[serde(default)]
    pub plural: String,
    #[serde(default)]
    pub abbreviation: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyView {
    pub id: i64,
    pub code: String,
    pub scale: u32,
    pub description: String,
    pub name_cases: NameCases,
    pub is_default: bool,
    pub limits: LimitsView,
}

impl From<&Currency> for CurrencyView {
    fn from(c: &Currency) -> Self {
        CurrencyView {
            id: c.id,
            code: c.code.clone(),
            scale: c.scale,
            description: c.description.clone(),
            name_cases: NameCases {
                nominative: c.name_nominative.clone(),
                genitive: c.name_genitive.clone(),
                plural: c.name_plural.clone(),
                abbreviation: c.abbreviation.clone(),
            },
            is_default: c.is_default,
            limits: LimitsView {
                max_operation: decimal(c.limits.max_operation, c),
                max_balance: decimal(c.limits.max_balance, c),
            },
        }
    }
}

/// A list answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// Finds the currency a call names (the default one when it names none).
pub fn pick_currency<'a>(currencies: &'a [Currency], code: Option<&str>) -> Result<&'a Currency, ApiError> {
    match code {
        Some(code) => currencies.iter().find(|c| c.code == code),
        None => currencies.iter().find(|c| c.is_default),
    }
    .ok_or_else(|| ApiError::not_found(format!("currency {} not found", code.unwrap_or("(default)"))))
}
