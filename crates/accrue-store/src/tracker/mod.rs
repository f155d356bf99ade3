//! The affiliate tracker's persistence: integrations, custom fields, leads,
//! registration links, clicks, conversions and the postback log. The rules (event
//! classification, dedup keys, templates) are in `accrue_core::tracker`.

mod clicks;
mod integrations;
mod postbacks;
mod reports;

pub use clicks::{Click, ClickRecorded, Field, Lead, Link, NewClick, NewLink};
pub use integrations::{Integration, IntegrationUpdate, NewIntegration};
pub use postbacks::{Ingest, IngestOutcome, LogEntry, Outcome, PostbackFilter, PostbackRecord};
pub use reports::{ClickTotals, Conversion, ConversionTotals, LeadView, Settings, StatsFilter};

use crate::StoreError;

/// Parses a JSON column.
fn json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(text)?)
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}
