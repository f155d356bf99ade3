//! The store's behaviour suites, in one test binary (each suite a module), so the
//! crate's tests link once.

mod common;
mod confirmations;
mod face_bindings;
mod ledger;
mod ledger_properties;
mod member_auth;
mod outbox;
mod schema;
