//! Shapes the admin API renders and the conversions at its edge: decimal amounts and
//! RFC 3339 times in, minor units and milliseconds inside.

pub use crate::format::time;
use crate::ApiError;
use accrue_core::money;
use accrue_core::Millis;
use accrue_store::Currency;
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
        let text = match self {
            Amount::Text(t) => t.clone(),
            Amount::Number(n) => n.to_string(),
        };
        money::parse_minor(&text, currency.scale)
            .map_err(|e| ApiError::invalid(format!("amount: {e}")).with_details(serde_json::json!({"field": "amount"})))
    }
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
