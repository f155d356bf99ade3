//! Tests of the offers engine. `fixtures` builds offers from JSON, as the admin API would.

mod accrual_and_refunds;
mod conditions;
mod document;
mod effects;
mod fixtures;
mod properties;
mod stacking_and_caps;
mod validation;
