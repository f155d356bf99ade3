//! The use cases every face calls: price a cheque, run a purchase, register a member,
//! post points. A face parses its wire format, authenticates, calls one function here
//! and renders what it returns; it never calls the offers engine, builds a posting or
//! writes SQL. Outcomes and refusals here are face-neutral
//! ([`accrue_core::purchase::Rejection`], [`accrue_store::StoreError`]); each face says
//! them in its own codes and words.
//!
//! What happens after a confirmed purchase, a refund or a finished registration is open
//! to other features through the store's hooks ([`accrue_store::hooks`]), which run in
//! the same transaction.

pub mod batch;
pub mod events;
pub mod exports;
pub mod history;
pub mod integra;
pub mod operators;
pub mod orders;
pub mod postings;
pub mod pricing;
pub mod profiles;
pub mod purchases;
pub mod referral;
pub mod registration;
pub mod showcase;
pub mod status;
pub mod vk_collector;
